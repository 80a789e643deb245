"""Locality: greedy agreement and KL(base ‖ hotfixed) on unrelated prompts, with a zero-initialised
LoRA (must change nothing), a perturbed LoRA (must change something) and no adapter (base only)."""

import json
from pathlib import Path

import pytest
import torch
from tiny_model import lora, prefix_tuned

from codehotfix.cli import main
from codehotfix.errors import ConfigError, DataError
from codehotfix.evaluation.locality import (CodePrompt, _kl_per_prompt, LocalityConfig, cut_prompts, first_lines,
                                            load_prompts, run_locality)

CORPORA = Path(__file__).resolve().parents[2] / "src" / "codehotfix" / "data" / "corpora"
ALLOWED = {"collections/__init__.py", "functools.py", "dataclasses.py", "enum.py", "pathlib.py", "tokenize.py",
           "ast.py", "inspect.py", "typing.py", "random.py", "datetime.py", "shutil.py", "tempfile.py",
           "zipfile.py", "gzip.py", "base64.py", "ipaddress.py", "uuid.py", "logging/__init__.py", "http/client.py"}


def test_builtin_prompts_are_stdlib_cuts_with_licence():
    prompts = load_prompts()
    assert len(prompts) == 64 and len({p.id for p in prompts}) == 64
    for p in prompts:
        assert p.prompt.endswith("\n") and 6 <= p.prompt.count("\n") <= 25
        assert p.source["license"] == "PSF-2.0" and p.source["module"].removeprefix("Lib/") in ALLOWED
    size = sum((CORPORA / name).stat().st_size for name in ("locality.jsonl", "heldout_code.jsonl"))
    assert size < 150 * 1024


def test_cut_prompts_cuts_at_the_middle_statement_and_respects_max_lines():
    src = "import os\n\n\ndef f(a):\n    '''Doc\n    string.'''\n    b = a + 1\n    c = b * 2\n    d = c - 3\n    return d\n"
    (p,) = cut_prompts(src, path="m.py")
    # body: docstring, b, c, d, return -> middle (index 2) is "c = b * 2" on line 8
    assert p.id == "m.py:8" and p.source["reference_next_line"] == "    c = b * 2"
    assert p.prompt == "def f(a):\n    '''Doc\n    string.'''\n    b = a + 1\n"
    (short,) = cut_prompts(src, path="m.py", max_lines=2)
    assert short.prompt == "    b = a + 1\n"  # starts at a statement, never inside the docstring
    with pytest.raises(DataError, match=r"bad\.py:1: not valid Python"):
        cut_prompts("def (:\n", path="bad.py")


def test_user_prompts_from_jsonl_and_folder(tmp_path):
    good = tmp_path / "p.jsonl"
    good.write_text(json.dumps({"id": "a", "prompt": "x = 1\n"}) + "\n" + json.dumps({"id": "b", "prompt": "y\n"}) + "\n")
    assert [p.id for p in load_prompts(good)] == ["a", "b"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "prompt": "x\n"}) + "\n" + json.dumps({"id": "b", "text": "y"}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: missing required field 'prompt'"):
        load_prompts(bad)
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "m.py").write_text("def g(x):\n    y = x\n    z = y\n    return z\n")
    (p,) = load_prompts(tmp_path / "src")
    assert p.id == "pkg/m.py:3" and p.prompt == "def g(x):\n    y = x\n"


def test_zero_lora_changes_nothing(tiny_model, tiny_tokenizer):
    model = lora(tiny_model, perturb=False)
    result = run_locality(model, tiny_tokenizer, load_prompts(limit=6), max_new_tokens=8, progress=False)
    assert result["prompts"] == 6 and result["unchanged_fraction"] == 1.0
    assert result["unchanged_fraction_full"] == 1.0 and result["mean_kl"] < 1e-6
    assert all(r["base"] == r["hotfixed"] and r["kl_positions"] > 8 for r in result["records"])


def test_perturbed_lora_changes_completions_and_kl(tiny_model, tiny_tokenizer):
    model = lora(tiny_model, perturb=True)
    result = run_locality(model, tiny_tokenizer, load_prompts(limit=6), max_new_tokens=8, progress=False)
    assert result["mean_kl"] > 1e-3
    assert result["unchanged_fraction"] < 1.0
    changed = [r for r in result["records"] if not r["unchanged"]]
    assert all(first_lines(r["base"], 1) != first_lines(r["hotfixed"], 1) for r in changed)


def test_kl_matches_an_unbatched_computation(tiny_model, tiny_tokenizer):
    model = lora(tiny_model, perturb=True)
    prompts, conts = [[5, 6, 7, 8, 9, 10], [11, 12, 13]], [[20, 21], [30, 31, 32, 33]]
    got = _kl_per_prompt(model, tiny_tokenizer, prompts, conts, LocalityConfig(kl_positions=4), progress=False)
    for (kl, m), p, c in zip(got, prompts, conts):
        ids = torch.tensor([p + c])
        with torch.no_grad():
            hot = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
            with model.disable_adapter():
                base = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        n = min(4, len(p)) + len(c)
        expected = (base.exp() * (base - hot)).sum(-1)[-n:].mean()
        assert m == n and kl == pytest.approx(float(expected), rel=1e-4, abs=1e-6)


def test_no_adapter_reports_base_only(tiny_model, tiny_tokenizer):
    prompts = [CodePrompt("p", "def add(a, b):\n")]
    result = run_locality(tiny_model, tiny_tokenizer, prompts, max_new_tokens=4, progress=False)
    assert result["unchanged_fraction"] is None and result["mean_kl"] is None
    assert result["records"][0]["hotfixed"] is None and isinstance(result["records"][0]["base"], str)


def test_cli_locality_with_a_saved_zero_adapter(tmp_path, tiny_model_dir, tiny_tokenizer, capsys):
    from transformers import AutoModelForCausalLM

    lora(AutoModelForCausalLM.from_pretrained(tiny_model_dir), perturb=False).save_pretrained(tmp_path / "hf")
    out = tmp_path / "locality.json"
    main(["locality", "--model", str(tiny_model_dir), "--adapter", str(tmp_path / "hf"), "--limit", "3",
          "--max-new-tokens", "4", "--json", str(out)])
    data = json.loads(out.read_text())
    assert data["kind"] == "locality" and data["prompts"] == 3 and data["unchanged_fraction"] == 1.0
    assert data["adapter"] == str(tmp_path / "hf") and len(data["records"]) == 3
    assert set(data["records"][0]) >= {"id", "unchanged", "kl", "base", "hotfixed"}
    assert json.loads(capsys.readouterr().out)["unchanged_fraction"] == 1.0


def test_prefix_tuning_is_refused_rather_than_measured_as_the_base(tiny_model, tiny_tokenizer):
    with pytest.raises(ConfigError, match="prefix/prompt-tuning"):
        run_locality(prefix_tuned(tiny_model), tiny_tokenizer, [CodePrompt("p", "def add(a, b):\n")], progress=False)
