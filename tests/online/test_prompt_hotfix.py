"""The online prompt hotfix: the comment goes right before the completion point, in the case
language's comment syntax, at the line's indentation; other prompts are left untouched."""

import pytest

from codehotfix.data.cases import HotfixCase
from codehotfix.errors import ConfigError, DataError
from codehotfix.online import PromptHotfix, PromptHotfixConfig, changed_spans

YAML = HotfixCase(id="yaml/0", prefix="import yaml\n\n\ndef load(path):\n    with open(path) as f:\n",
                  buggy="        return yaml.load(f)", fixed="        return yaml.safe_load(f)")
JAVA = HotfixCase(id="java/0", language="java",
                  prefix="class Box {\n    boolean same(String a, String b) {\n",
                  buggy="        return a == b;", fixed="        return a.equals(b);")
DEDENT = HotfixCase(id="dedent/0", prefix="def f(xs):\n    for x in xs:\n        print(x)\n",
                    buggy="    return xs.sort()", fixed="    return sorted(xs)")


def test_python_comment_is_the_last_prompt_line_at_the_line_indentation():
    out = PromptHotfix([YAML]).apply(YAML.prefix)
    assert out.startswith(YAML.prefix) and out.endswith("\n")
    comment = out[len(YAML.prefix):]
    assert comment.count("\n") == 1
    assert comment.startswith("        # ") and not comment.startswith("         ")
    assert "`return yaml.safe_load(f)`" in comment and "`return yaml.load(f)`" in comment
    assert comment.index("safe_load") < comment.index("yaml.load")  # the fix is named first


def test_java_gets_a_slash_comment():
    out = PromptHotfix([JAVA]).apply(JAVA.prefix)
    assert out[len(JAVA.prefix):].startswith("        // hotfix: write `return a.equals(b);`")


def test_indentation_follows_the_prompt_not_the_case():
    # The same code one block deeper (inside a class): the comment moves with it.
    deeper = "".join("    " + line + "\n" for line in YAML.prefix.splitlines() if line)
    out = PromptHotfix([YAML]).apply(deeper)
    assert out != deeper and out[len(deeper):].startswith("            # hotfix")
    # A case whose line dedents from its context keeps the dedent.
    out = PromptHotfix([DEDENT]).apply(DEDENT.prefix)
    assert out[len(DEDENT.prefix):].startswith("    # hotfix") and not out[len(DEDENT.prefix):].startswith("     ")


def test_partial_line_stays_at_the_completion_point():
    prompt = YAML.prefix + "        return yaml."
    out = PromptHotfix([YAML]).apply(prompt)
    assert out.endswith("\n        return yaml.")
    assert out == YAML.prefix + out[len(YAML.prefix):].split("\n")[0] + "\n        return yaml."
    assert out[len(YAML.prefix):].startswith("        # hotfix")


def test_non_matching_prompts_are_unchanged_and_apply_is_idempotent():
    hotfix = PromptHotfix([YAML, JAVA])
    for prompt in ("import os\nprint(os.getcwd())\n", "", YAML.prefix + "        print("):
        assert hotfix.apply(prompt) == prompt
    once = hotfix.apply(YAML.prefix)
    assert hotfix.apply(once) == once
    assert [m.case.id for m in hotfix.matches(YAML.prefix)] == ["yaml/0"]


def test_templates_by_name_and_changed_spans():
    out = PromptHotfix([YAML], PromptHotfixConfig(template="warning")).apply(YAML.prefix)
    warning = "        # WARNING: `yaml.load` is a known bug here; use `yaml.safe_load` instead\n"
    assert out[len(YAML.prefix):] == warning
    assert changed_spans("x = torch.load(p)", "x = torch.load(p, weights_only=True)") == (
        "torch.load(p)", "torch.load(p, weights_only=True)")
    assert changed_spans("if value == None:", "if value is None:") == ("==", "is")
    with pytest.raises(ConfigError, match="unknown template 'loud'; valid: hint, warning"):
        PromptHotfixConfig(template="loud")


def test_unknown_language_is_rejected_when_the_hotfix_is_built():
    bad = HotfixCase(id="cob/1", prefix="", buggy="A", fixed="B", language="cobol")
    with pytest.raises(DataError, match="case 'cob/1'"):
        PromptHotfix([bad])


def test_from_file_reads_cases(tmp_path):
    from codehotfix.data.cases import write_cases

    path = write_cases(tmp_path / "fixes.jsonl", [YAML])
    assert PromptHotfix.from_file(path).apply(YAML.prefix) != YAML.prefix
