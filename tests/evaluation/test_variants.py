"""Variants: consistent renames (checked by undoing them on the AST), meaning-preserving reformats,
re-wrapping, honest skips, determinism, and base/hotfixed rates on the tiny model."""

import ast
import json

import pytest

from codehotfix.cli import main
from codehotfix.config import EvalConfig
from codehotfix.data.cases import HotfixCase, normalize_line, write_cases
from codehotfix.evaluation.variants import make_variants, run_variants

TOTAL = HotfixCase(
    id="total/0",
    prefix="import os\n\n\ndef total(values, scale):\n    acc = 0\n    for v in values:\n",
    buggy="        acc += v * scale + len(os.sep)",
    fixed="        acc += abs(v) * scale + len(os.sep)",
    suffix="    key = 'k'\n    return sorted([acc], key=len), key\n")

CLASSY = HotfixCase(
    id="cfg/0",
    prefix='class Config:\n    limit = 3\n\n    def load(self, path):\n        with open(path) as handle:\n',
    buggy="            return yaml.load(handle)",
    fixed="            return yaml.safe_load(handle)",
    suffix="\n    def grow(self):\n        return self.limit + 1\n")

# libcst's scopes miss `j` in the comprehension's condition; the renaming must still be consistent.
GRID = HotfixCase(
    id="grid/0",
    prefix="def get_row(lst, x):\n",
    buggy="    coords = [(j, i) for i in range(len(lst)) for j in range(len(lst[i])) if lst[i][j] == x]",
    fixed="    coords = [(i, j) for i in range(len(lst)) for j in range(len(lst[i])) if lst[i][j] == x]",
    suffix="    return sorted(coords, key=lambda x: x[0])\n")

# A fragment cut mid-function: `except` without its `try` never parses, but it tokenizes.
FRAGMENT = HotfixCase(
    id="frag/0",
    prefix="        return cached\n    except KeyError:\n        result = compute(cached)\n",
    buggy="        result.sort(reversed=True)", fixed="        result.sort(reverse=True)",
    suffix="        return result\n")


def _program(case, line):
    return case.prefix + line + "\n" + case.suffix


class _Undo(ast.NodeTransformer):
    def __init__(self, mapping):
        self.back = {new: old for old, new in mapping.items()}

    def visit_Name(self, node):
        node.id = self.back.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.back.get(node.arg, node.arg)
        return node


@pytest.mark.parametrize("case", [TOTAL, CLASSY, GRID])
def test_rename_is_consistent_and_leaves_builtins_imports_and_attributes(case):
    (v,) = make_variants([case], kinds=("rename",), seed=3).cases
    info = v.source["variant"]
    assert v.id == f"{case.id}~rename" and info["kind"] == "rename"
    assert info["method"] == ("tokenize" if case is GRID else "libcst")
    assert normalize_line(v.buggy) != normalize_line(v.fixed)
    for which in ("fixed", "buggy"):
        original, renamed = _program(case, getattr(case, which)), _program(v, getattr(v, which))
        undone = _Undo(info["renames"]).visit(ast.parse(renamed))
        assert ast.dump(undone) == ast.dump(ast.parse(original))  # a consistent, reversible renaming
    assert set(info["renames"]).isdisjoint({"os", "abs", "len", "sorted", "open", "yaml", "self", "total",
                                            "Config", "load", "grow", "limit", "sep"})


def test_rename_details():
    (v,) = make_variants([TOTAL], kinds=("rename",), seed=0).cases
    names = v.source["variant"]["renames"]
    assert set(names) == {"values", "scale", "acc", "v"}  # `key` is also a keyword argument: kept
    assert v.source["variant"]["line_changed"] and "os.sep" in v.fixed and "abs(" in v.fixed
    assert v.fixed.startswith("        ") and f"{names['acc']} += abs({names['v']})" in v.fixed
    (c,) = make_variants([CLASSY], kinds=("rename",), seed=0).cases
    assert set(c.source["variant"]["renames"]) == {"path", "handle"}  # `limit` is a class attribute


def test_rename_falls_back_to_tokens_on_fragments():
    (v,) = make_variants([FRAGMENT], kinds=("rename",)).cases
    info = v.source["variant"]
    assert info["method"] == "tokenize" and set(info["renames"]) == {"result"}
    new = info["renames"]["result"]
    assert v.fixed == f"        {new}.sort(reverse=True)" and v.buggy == f"        {new}.sort(reversed=True)"
    assert f"{new} = compute(cached)" in v.prefix and v.suffix == f"        return {new}\n"


def test_reformat_changes_layout_not_meaning():
    (v,) = make_variants([TOTAL], kinds=("reformat",)).cases
    info = v.source["variant"]
    assert len(info["transforms"]) >= 2 and info["verified_by_ast"] and v.prefix != TOTAL.prefix
    assert (v.buggy, v.fixed) == (TOTAL.buggy, TOTAL.fixed)
    for which in ("fixed", "buggy"):
        assert ast.dump(ast.parse(_program(v, getattr(v, which)))) == \
            ast.dump(ast.parse(_program(TOTAL, getattr(TOTAL, which))))
    assert "key = \"k\"" in v.suffix and "return (sorted([acc], key=len), key)" in v.suffix


def test_wrap_moves_the_snippet_into_a_new_container():
    (v,) = make_variants([TOTAL], kinds=("wrap",), seed=1).cases
    info = v.source["variant"]
    assert info["container"] in ("class", "function") and info["name"] not in TOTAL.prefix
    assert v.prefix.startswith(("class ", "def ")) and v.fixed == "    " + TOTAL.fixed
    tree = ast.parse(_program(v, v.fixed))
    assert len(tree.body) == 1 and tree.body[0].name == info["name"]


def test_skips_are_reported_with_reasons_and_variants_are_deterministic():
    java = HotfixCase(id="j/0", prefix="int x = 1;\n", buggy="x++;", fixed="x--;", language="java")
    in_string = HotfixCase(id="s/0", prefix="    still inside a docstring\n    '''\n", buggy="    a = 1", fixed="    a = 2")
    out = make_variants([java, in_string, TOTAL], seed=0)
    reasons = {(s.id, s.kind): s.reason for s in out.skipped}
    assert all(reasons[("j/0", k)].startswith("not applicable") for k in ("rename", "reformat", "wrap"))
    assert all("tokenize" in reasons[("s/0", k)] for k in ("rename", "reformat", "wrap"))
    assert len(out.cases) == 3 and [c.id for c in out.cases] == ["total/0~rename", "total/0~reformat", "total/0~wrap"]
    again = make_variants([java, in_string, TOTAL], seed=0)
    assert [c.to_dict() for c in again.cases] == [c.to_dict() for c in out.cases]
    other = make_variants([TOTAL], kinds=("rename",), seed=7).cases[0]
    assert other.source["variant"]["renames"] != out.cases[0].source["variant"]["renames"]
    with pytest.raises(KeyError, match="valid: reformat, rename, wrap"):
        make_variants([TOTAL], kinds=("shuffle",))


def test_run_variants_zero_lora_equals_base(tiny_model, tiny_tokenizer, tiny_cases):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"])).eval()
    cfg = EvalConfig(samples=2, max_new_tokens=6)
    result = run_variants(model, tiny_tokenizer, tiny_cases + [TOTAL], cfg, progress=False)
    assert set(result["kinds"]) == {"rename", "reformat", "wrap"} and result["original"]["n"] == 5
    for kind, block in result["kinds"].items():
        assert block["n"] + block["skipped"] == 5
        assert block["base"] == block["hotfixed"]  # a zero LoRA is the base model
        assert block["comparison"]["greedy"]["fixed_before"] == block["comparison"]["greedy"]["fixed_after"]
    assert {s["kind"] for s in result["skipped"]} <= {"rename", "reformat", "wrap"}


def test_cli_variants(tmp_path, tiny_model_dir, tiny_cases, capsys):
    cases = write_cases(tmp_path / "cases.jsonl", tiny_cases + [TOTAL])
    out = tmp_path / "variants.json"
    main(["variants", str(cases), "--model", str(tiny_model_dir), "--kind", "rename", "-k", "1",
          "--max-new-tokens", "4", "--no-original", "--json", str(out)])
    data = json.loads(out.read_text())
    assert data["kind"] == "variants" and list(data["kinds"]) == ["rename"] and data["original"] is None
    block = data["kinds"]["rename"]
    assert block["hotfixed"] is None and block["base"]["greedy"]["n"] == block["n"]
    assert block["n"] + block["skipped"] == 5 and len(data["skipped"]) == block["skipped"]
