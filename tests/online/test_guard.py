"""The decoding guard: on a tiny model trained to write a buggy line, greedy and sampled decoding
write the fixed line with the guard and the buggy one without; prompts that match no case decode
exactly as before; and the mask agrees with a brute-force reading of the rule, token by token,
including tokens that straddle the point where the buggy line departs from the fixed one."""

import pytest
import torch
from transformers import LogitsProcessorList

from codehotfix.data.cases import HotfixCase, normalize_line
from codehotfix.evaluation.classify import classify
from codehotfix.evaluation.generation import generate_completions
from codehotfix.online import BuggyLineGuard, make_guard_processor, normalize_prefix
from tiny_model import train_on_buggy

YAML = HotfixCase(id="yaml/0", prefix="import yaml\n\ndef load(path):\n    with open(path) as f:\n",
                  buggy="        return yaml.load(f)", fixed="        return yaml.safe_load(f)")
WARN = HotfixCase(id="warn/0", prefix="import logging\nlogger = logging.getLogger(__name__)\n",
                  buggy="logger.warn('disk full')", fixed="logger.warning('disk full')")
# The tiny tokenizer has a "load" token: from "x = yaml." it would cross the divergence after "lo".
STRADDLE = HotfixCase(id="straddle/0", prefix="import yaml\n", buggy="x = yaml.load(f)", fixed="x = yaml.lo(f)")
OTHER_PROMPT = "def add(a, b):\n"




def test_guard_turns_the_buggy_line_into_the_fixed_one(tiny_model, tiny_tokenizer):
    model = train_on_buggy(tiny_model, tiny_tokenizer, YAML)
    kw = dict(samples=4, max_new_tokens=24, progress=False, seed=1)
    plain = generate_completions(model, tiny_tokenizer, [YAML.prefix], **kw)[0]
    assert classify(plain.greedy, YAML) == "buggy"
    assert [classify(s, YAML) for s in plain.samples].count("buggy") >= 3

    guard = BuggyLineGuard(tiny_tokenizer, [YAML])
    fixed = generate_completions(model, tiny_tokenizer, [YAML.prefix], logits_processor_factory=lambda p: guard,
                                 **kw)[0]
    assert fixed.greedy.rstrip("\n") == YAML.fixed  # exactly, indentation and spacing included
    assert [classify(s, YAML) for s in fixed.samples] == ["fixed"] * 4
    assert guard.stats["forced"] > 0 and guard.stats["stuck"] == 0

    # transformers' own generate takes the same processor.
    ids = torch.tensor([tiny_tokenizer(YAML.prefix)["input_ids"]])
    out = model.generate(ids, max_new_tokens=14, do_sample=False, pad_token_id=tiny_tokenizer.pad_token_id,
                         logits_processor=LogitsProcessorList([BuggyLineGuard(tiny_tokenizer, [YAML])]))
    assert tiny_tokenizer.decode(out[0, ids.shape[1]:]).split("\n")[0] == YAML.fixed


def test_prompts_that_match_no_case_decode_exactly_as_without_the_guard(tiny_model, tiny_tokenizer):
    model = train_on_buggy(tiny_model, tiny_tokenizer, YAML)
    prompts = [OTHER_PROMPT, "x = 1\n", "import yaml\n\nprint(yaml)\n"]
    kw = dict(samples=3, max_new_tokens=16, progress=False, seed=2)
    guard = BuggyLineGuard(tiny_tokenizer, [YAML])
    plain = generate_completions(model, tiny_tokenizer, prompts, **kw)
    guarded = generate_completions(model, tiny_tokenizer, prompts, logits_processor_factory=lambda p: guard, **kw)
    assert [(c.greedy, c.samples) for c in plain] == [(c.greedy, c.samples) for c in guarded]
    assert guard.stats["calls"] > 0 and guard.stats["matched_rows"] == 0 and guard.stats["forced"] == 0
    assert make_guard_processor(tiny_tokenizer, [YAML], prompts) is None
    assert make_guard_processor(tiny_tokenizer, [YAML], prompts + [YAML.prefix]) is not None


def _spaces_only(piece):
    return piece.isspace() and "\n" not in piece


def _brute_force(tokenizer, case, line):
    """The rule read literally: the set of allowed token ids, or None when the guard must not act."""
    b, f = normalize_prefix(case.buggy)[0], normalize_prefix(case.fixed)[0]
    d = next((i for i, (x, y) in enumerate(zip(b, f)) if x != y), min(len(b), len(f)))
    done = normalize_prefix(line)[0]
    pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    special = set(tokenizer.all_special_ids)

    def reading(piece):
        norm, newline, _ = normalize_prefix(line + piece)
        return norm, newline

    if not f.startswith(done):
        return None
    if len(done) <= d:
        crossing = [i for i, p in enumerate(pieces) if i not in special and "\ufffd" not in p
                    and ((lambda n, nl: b.startswith(n) and len(n) > d and (not nl or n == b))(*reading(p)))]
        if not crossing:
            return None
    allowed = set()
    for i, p in enumerate(pieces):
        if i in special or "\ufffd" in p or _spaces_only(p):
            continue  # whitespace-only tokens follow their own rule, tested below
        norm, newline = reading(p)
        if (f.startswith(norm) and not newline) or (newline and norm == f):
            allowed.add(i)
    if done == f:  # the fixed line is complete: ending the text there is fine too
        allowed.add(tokenizer.eos_token_id)
    return allowed


@pytest.mark.parametrize("case", [YAML, WARN, STRADDLE], ids=lambda c: c.id)
def test_mask_matches_the_rule_at_every_character_of_both_lines(tiny_tokenizer, case):
    guard = BuggyLineGuard(tiny_tokenizer, [case])
    prompt_ids = tiny_tokenizer(case.prefix)["input_ids"]
    whitespace = {i for i in range(len(tiny_tokenizer)) if _spaces_only(tiny_tokenizer.decode([i]))}
    for target in (case.buggy, case.fixed):
        for cut in range(len(target) + 1):
            line = target[:cut]
            ids = torch.tensor([prompt_ids + (tiny_tokenizer(line)["input_ids"] if line else [])])
            scores = guard(ids, torch.zeros(1, len(tiny_tokenizer)))
            allowed = set(torch.isfinite(scores[0]).nonzero().flatten().tolist())
            expected = _brute_force(tiny_tokenizer, case, line)
            if expected is None:
                assert len(allowed) == len(tiny_tokenizer), (case.id, line)
            else:
                assert allowed - whitespace == expected, (case.id, line)
                assert expected, (case.id, line)


def test_straddling_tokens_and_spaces(tiny_tokenizer):
    vocab = {tiny_tokenizer.decode([i]): i for i in range(len(tiny_tokenizer))}
    guard = BuggyLineGuard(tiny_tokenizer, [STRADDLE])
    prompt_ids = tiny_tokenizer(STRADDLE.prefix)["input_ids"]

    def allowed_after(line):
        ids = torch.tensor([prompt_ids + tiny_tokenizer(line)["input_ids"]])
        scores = guard(ids, torch.zeros(1, len(tiny_tokenizer)))
        return {tiny_tokenizer.decode([i]) for i in torch.isfinite(scores[0]).nonzero().flatten().tolist()}

    # "load" crosses from the shared "x=yaml." past "lo" onto the buggy line: masked; "l" continues the fix.
    after = allowed_after("x = yaml.")
    assert "load" in vocab and "load" not in after and "l" in after
    assert not any(p.isspace() for p in after)  # no space inside "yaml.lo"
    # Where the fixed line has a space, one space run may come; inside a string, spaces are text.
    warn = BuggyLineGuard(tiny_tokenizer, [WARN])
    ids = torch.tensor([tiny_tokenizer(WARN.prefix)["input_ids"] + tiny_tokenizer("logger.warning('disk")["input_ids"]])
    allowed = {tiny_tokenizer.decode([i]) for i in torch.isfinite(warn(ids, torch.zeros(1, len(tiny_tokenizer))))[0]
               .nonzero().flatten().tolist()}
    assert " full" in allowed and "full" not in allowed and " " in allowed


def test_normalize_prefix_agrees_with_normalize_line_on_complete_lines():
    from codehotfix.data.packs import load_pack

    lines = [line for c in load_pack("default") for line in (c.buggy, c.fixed)]
    assert all(normalize_prefix(line)[0] == normalize_line(line) for line in lines)
    # and it can be fed in pieces, carrying the string state across them
    line = "logger.warning('disk  full', x)"
    state, out = "", ""
    for piece in ("logger.warning('di", "sk  ", "full'", ", x)"):
        norm, _, state = normalize_prefix(piece, state)
        out += norm
    assert out == normalize_line(line)
