"""Edit rules (match="edit"): rules derived from buggy/fixed lines alone, on hand-written pairs from
the default pack's topics, including the ones rejected as too generic; the guard fixes the bug in a
context no case has seen and leaves code without an anchor alone; the prompt hotfix steers on the
anchor's name; ``codehotfix eval --match edit`` records the mode and the rules."""

import json

import pytest
import torch

from codehotfix.data.cases import HotfixCase, normalize_line, write_cases
from codehotfix.errors import ConfigError
from codehotfix.evaluation.generation import generate_completions
from codehotfix.online import (BuggyLineGuard, GuardConfig, MatchConfig, PromptHotfix, PromptHotfixConfig,
                               derive_rule, derive_rules)
from tiny_model import train_on_buggy


def _case(buggy, fixed, cid="c", prefix=""):
    return HotfixCase(id=cid, prefix=prefix, buggy=buggy, fixed=fixed)


EDIT = MatchConfig(mode="edit")
YAML = HotfixCase(id="yaml/0", prefix="import yaml\n\ndef load(path):\n    with open(path) as f:\n",
                  buggy="        return yaml.load(f)", fixed="        return yaml.safe_load(f)")
# Never seen by the case: other imports, a class, other names, and the assignment instead of return.
NEW_CONTEXT = ("import os\nimport yaml\n\nclass Settings:\n    def read(self, name):\n"
               "        text = open(name).read()\n        items = yaml.")


@pytest.mark.parametrize("buggy, fixed, anchor, b, f", [
    # The anchor ends on its name; the symbols after it start both spans (a BPE token may glue them
    # to the letters after: Qwen writes ``Image.ANTIALIAS`` as ' Image', '.A', 'NT', …).
    ("        return yaml.load(f)", "        return yaml.safe_load(f)", "yaml", ".load(", ".safe_load("),
    ("settings = yaml.load(fh)", "settings = yaml.safe_load(fh)", "yaml", ".load(", ".safe_load("),
    ("now = datetime.utcnow()", "now = datetime.now(timezone.utc)", "datetime", ".utcnow()",
     ".now(timezone.utc)"),
    ("self.assertEquals(result, 3)", "self.assertEqual(result, 3)", "self", ".assertEquals(", ".assertEqual("),
    ("x = numpy.asarray(v, dtype=numpy.float)", "x = numpy.asarray(v, dtype=float)", "dtype", "=numpy.float",
     "=float"),
    ("t0 = time.clock()", "t0 = time.perf_counter()", "time", ".clock(", ".perf_counter("),
    ("img = img.resize(SIZE, Image.ANTIALIAS)", "img = img.resize(SIZE, Image.LANCZOS)", "Image", ".ANTIALIAS)",
     ".LANCZOS)"),
    ("if not w.isAlive():", "if not w.is_alive():", "", ".isAlive(", ".is_alive("),  # ``w`` varies: dropped
])
def test_rule_is_the_anchored_minimal_edit_without_context_names(buggy, fixed, anchor, b, f):
    rule = derive_rule(_case(buggy, fixed))
    assert not isinstance(rule, str), rule
    assert (rule.anchor_texts, rule.buggy, rule.fixed) == ((anchor,), b, f)


@pytest.mark.parametrize("buggy, fixed, reason", [
    ("if value == None:", "if value is None:", "too generic: the buggy span `==`"),
    ("for i in range(len(xs) - 1):", "for i in range(len(xs)):", "literal values (1)"),
    ("r = requests.get(url)", "r = requests.get(url, timeout=10)", "too generic: the buggy span `)`"),
    ("def f(a, items=[]):", "def f(a, items=None):", "too generic: the buggy span `[])`"),
    ("p = tempfile.mktemp()", "fd, p = tempfile.mkstemp()", "moves context names (p"),
    ("h = md5(salt + pw)", "h = pbkdf2(pw, salt)", "moves context names"),
    ("total = count / n", "total = count // n", "the buggy span `/` holds no name"),
    ("y = a.ab(x)", "y = a.cd(x)", "no name of >= 3 characters"),
    # decided at ``np``, which also starts correct code (``dtype=np.float32``)
    ("x = np.asarray(v, dtype=np.float)", "x = np.asarray(v, dtype=float)", "starts with the short name `np`"),
])
def test_too_generic_or_context_bound_edits_are_rejected_with_a_reason(buggy, fixed, reason):
    rule = derive_rule(_case(buggy, fixed))
    assert isinstance(rule, str) and reason in rule
    result = derive_rules([_case(buggy, fixed, "bad"), YAML])
    assert [r.case_ids for r in result.rules] == [("yaml/0",)]
    assert result.rejected[0]["case"] == "bad" and reason in result.rejected[0]["reason"]


def test_identical_rules_merge_and_anchor_names_become_alternatives():
    cases = [_case("settings = yaml.load(fh)", "settings = yaml.safe_load(fh)", "a"),
             _case("return yaml.load(text)", "return yaml.safe_load(text)", "b"),
             _case("logger.warn('x %s', y)", "logger.warning('x %s', y)", "c"),
             _case("self.log.warn(msg)", "self.log.warning(msg)", "d")]
    rules = derive_rules(cases).rules
    assert [(r.anchor_texts, r.buggy, r.case_ids) for r in rules] == [
        (("yaml",), ".load(", ("a", "b")), (("logger", "log"), ".warn(", ("c", "d"))]


def test_conflicting_fixes_keep_the_majority_and_report_the_other():
    cases = [_case("a = datetime.utcnow()", "a = datetime.now(timezone.utc)", "a"),
             _case("b = datetime.utcnow()", "b = datetime.now(timezone.utc)", "b"),
             _case("c = dt.datetime.utcnow()", "c = dt.datetime.now(dt.timezone.utc)", "c")]
    result = derive_rules(cases)
    assert [r.fixed for r in result.rules] == [".now(timezone.utc)"]
    assert result.rejected[0]["case"] == "c" and "conflicts" in result.rejected[0]["reason"]


def test_default_pack_rules_do_not_carry_a_case_variable_nor_fire_on_correct_pack_code():
    from codehotfix.data.packs import load_pack

    cases = load_pack("default")
    result = derive_rules(cases)
    assert len(result.rules) + len({r["case"] for r in result.rejected}) >= 22  # every case accounted for
    used = {c for r in result.rules for c in r.case_ids} | {r["case"] for r in result.rejected}
    assert used == {c.id for c in cases}
    for rule in result.rules:
        for cid in rule.case_ids:  # the rule text is found in every case it came from
            case = next(c for c in cases if c.id == cid)
            assert any("".join(a) + rule.buggy in "".join(case.buggy.split()) for a in rule.anchors)
    correct = {normalize_line(line) for c in cases for line in [*c.prefix.split("\n"), c.fixed] if line.strip()}
    assert not [(r.describe(), line) for r in result.rules for a in r.anchors for line in correct
                if "".join(a) + r.buggy in line]




def test_guard_fixes_the_bug_in_a_context_no_case_has_seen(tiny_model, tiny_tokenizer):
    model = train_on_buggy(tiny_model, tiny_tokenizer, YAML)
    kw = dict(samples=4, max_new_tokens=12, progress=False, seed=1)
    plain = generate_completions(model, tiny_tokenizer, [NEW_CONTEXT], **kw)[0]
    assert plain.greedy.startswith("load(") and sum(s.startswith("load(") for s in plain.samples) >= 3

    context_guard = BuggyLineGuard(tiny_tokenizer, [YAML])  # the existing mode does not reach it
    assert not context_guard.matches_any([NEW_CONTEXT])
    guard = BuggyLineGuard(tiny_tokenizer, [YAML], GuardConfig(match=EDIT))
    fixed = generate_completions(model, tiny_tokenizer, [NEW_CONTEXT], logits_processor_factory=lambda p: guard,
                                 **kw)[0]
    assert fixed.greedy.startswith("safe_load(")
    assert all(s.startswith("safe_load(") for s in fixed.samples), fixed.samples
    assert guard.stats["forced"] > 0 and guard.stats["stuck"] == 0


def test_code_without_an_anchor_decodes_exactly_as_without_the_guard(tiny_model, tiny_tokenizer):
    # The untrained model: one trained on the bug writes ``yaml.load`` after any prompt, and the guard
    # rightly acts on generated anchors too.
    model = tiny_model
    prompts = ["def add(a, b):\n", "x = 1\n", "import json\n\ndata = json."]
    kw = dict(samples=3, max_new_tokens=16, progress=False, seed=2)
    guard = BuggyLineGuard(tiny_tokenizer, [YAML], GuardConfig(match=EDIT))
    plain = generate_completions(model, tiny_tokenizer, prompts, **kw)
    guarded = generate_completions(model, tiny_tokenizer, prompts, logits_processor_factory=lambda p: guard, **kw)
    assert not any("yaml." in line for c in plain for line in [c.greedy, *c.samples])
    assert [(c.greedy, c.samples) for c in plain] == [(c.greedy, c.samples) for c in guarded]
    assert guard.stats["calls"] > 0 and guard.stats["forced"] == guard.stats["banned"] == 0


def _allowed(guard, tokenizer, text, top=None):
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    scores = torch.zeros(1, len(tokenizer))
    if top is not None:
        scores[0, top] = 1.0
    kept = torch.isfinite(guard(ids, scores)[0]).nonzero().flatten().tolist()
    return {tokenizer.decode([i]) for i in kept}, len(kept)


def test_heading_forces_only_when_the_model_heads_for_the_bug(tiny_tokenizer):
    vocab = {tiny_tokenizer.decode([i]): i for i in range(len(tiny_tokenizer))}
    assert "load" in vocab and "saf" in vocab
    guard = BuggyLineGuard(tiny_tokenizer, [YAML], GuardConfig(match=EDIT))
    everything = len(tiny_tokenizer)
    # Heading for ``load``: only the fix may follow (``s``, ``safe`` …), never a space inside the name.
    forced, n = _allowed(guard, tiny_tokenizer, "z = yaml.", vocab["load"])
    assert "saf" in forced and "load" not in forced and not any(p[:1].isspace() for p in forced)
    assert n < 10
    n_forced = n
    # Heading elsewhere: only the buggy tokens are masked, the rest (``yaml.dump``) stays possible.
    banned, n = _allowed(guard, tiny_tokenizer, "z = yaml.", vocab["saf"])
    assert "load" not in banned and "l" not in banned and "lo" not in banned and "saf" in banned
    assert everything - 10 < n < everything
    # ``yaml.safe_`` written by the model itself is not forced on (it may become ``safe_dump``); a
    # fresh guard, since this one forced after the same ids ("z = yaml.") above and so would continue.
    assert _allowed(guard, tiny_tokenizer, "z = yaml.safe_", vocab["load"])[1] < 10
    guard = BuggyLineGuard(tiny_tokenizer, [YAML], GuardConfig(match=EDIT))
    assert _allowed(guard, tiny_tokenizer, "z = yaml.safe_", vocab["load"])[1] == everything
    # A name that merely ends with the anchor's (``myyaml.``) is not the anchor.
    assert _allowed(guard, tiny_tokenizer, "z = myyaml.", vocab["load"])[1] == everything
    always = BuggyLineGuard(tiny_tokenizer, [YAML], GuardConfig(match=MatchConfig(mode="edit", force="always")))
    assert _allowed(always, tiny_tokenizer, "z = yaml.", vocab["saf"]) == (forced, n_forced)


def test_prompt_hotfix_steers_where_the_anchor_name_is_in_the_prompt():
    hotfix = PromptHotfix([YAML], PromptHotfixConfig(template="warning", match=EDIT))
    out = hotfix.apply("import yaml\n\ndef parse(blob):\n")
    assert out.endswith("    # WARNING: `yaml.load` is a known bug here; use `yaml.safe_load` instead\n")
    assert hotfix.apply(NEW_CONTEXT) != NEW_CONTEXT  # ``yaml`` is in the recent lines and the imports
    for prompt in ("import json\n\ndef parse(blob):\n", "x = 'yaml_file'\n"):  # no whole-word ``yaml``
        assert hotfix.apply(prompt) == prompt
    assert PromptHotfix([YAML]).apply(NEW_CONTEXT) == NEW_CONTEXT  # context mode: no match
    assert hotfix.info()["match"]["mode"] == "edit" and hotfix.info()["rules"][0]["fixed"] == ".safe_load("


def test_mode_is_validated():
    with pytest.raises(ConfigError, match="match.mode must be one of context, edit"):
        MatchConfig(mode="fuzzy")
    with pytest.raises(ConfigError, match="match.force"):
        MatchConfig(force="sometimes")


def test_eval_match_edit_is_recorded_in_the_hotfix_parts(tmp_path, tiny_model_dir, tiny_cases, capsys):
    from codehotfix.cli import main

    cases = write_cases(tmp_path / "cases.jsonl", tiny_cases)
    fixes = write_cases(tmp_path / "fixes.jsonl", tiny_cases)
    main(["eval", str(cases), "--model", str(tiny_model_dir), "--guard", str(fixes), "--online", str(fixes),
          "--match", "edit", "-k", "1", "--max-new-tokens", "4", "--json", str(tmp_path / "out.json")])
    capsys.readouterr()
    parts = json.loads((tmp_path / "out.json").read_text())["hotfix"]["parts"]
    assert [p["kind"] for p in parts] == ["online", "guard"]
    for part in parts:
        assert part["match"]["mode"] == "edit"
        assert {r["fixed"] for r in part["rules"]} == {".safe_load(", ".warning("}
        assert {r["case"] for r in part["rejected"]} == {"none/0", "range/0"}
    with pytest.raises(SystemExit) as e:
        main(["eval", str(cases), "--model", "/nonexistent", "--guard", str(fixes), "--match", "fuzzy",
              "--json", str(tmp_path / "x.json")])
    assert e.value.code == 2 and "match.mode" in capsys.readouterr().err
