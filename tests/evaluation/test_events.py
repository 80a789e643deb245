"""The three completion events: the split point, the direction rule, the window's contains rule."""

import pytest

from codehotfix.data.cases import HotfixCase, case_from_dict
from codehotfix.errors import DataError
from codehotfix.evaluation.events import (direction, judge_split, judge_window, metric_values, parse_events,
                                          split_point, split_prompts)
from codehotfix.evaluation.generation import encode_prompts
from codehotfix.scoring import encode_case
from codehotfix.evaluation.validity import ValidityCheck


def _case(buggy, fixed, prefix="", **kw):
    return HotfixCase(id="c", prefix=prefix, buggy=buggy, fixed=fixed, **kw)


def test_split_point_backs_off_to_a_token_boundary(tiny_tokenizer, tiny_cases):
    cuts = {c.id: split_point(tiny_tokenizer, c.prefix, c.buggy, c.fixed) for c in tiny_cases}
    # The lines part at "l"/"s" after "yaml."; the tiny BPE keeps "." a token of its own, so the cut
    # stays right before the parting word.
    assert cuts["yaml/0"] == (len("        return yaml."), True)
    # They part after "    if value " ("==" vs "is"): a prompt ending in a space would split the
    # token " is", so the cut backs off to before the space.
    assert cuts["none/0"] == (len("    if value"), True)
    # "(len(xs" then ")" vs " - 1": the tokenizer writes ")):" as one token, so no cut after ")".
    assert cuts["range/0"] == (len("    for i in range(len(xs"), True)
    # "warn" vs "warning": not inside the identifier, so back to before ".warn".
    assert cuts["warn/0"] == (len("logger."), True)


def test_split_prompt_is_a_token_prefix_of_the_whole_line(tiny_tokenizer, tiny_cases):
    for c in tiny_cases:
        cut, _ = split_point(tiny_tokenizer, c.prefix, c.buggy, c.fixed)
        for line in (c.buggy, c.fixed):
            whole = tiny_tokenizer(c.prefix + line)["input_ids"]
            part = tiny_tokenizer(c.prefix + line[:cut])["input_ids"]
            assert whole[:len(part)] == part


def test_split_prompt_keeps_the_contexts_left_cut(tiny_tokenizer, tiny_cases):
    """The split prompt is the context's window (the prefix's last max_context_tokens tokens) plus the
    shared start's tokens, whether or not the prefix fits the budget."""
    case = next(c for c in tiny_cases if c.id == "warn/0")  # unindented: "\n" stays a token of its own
    cut, _ = split_point(tiny_tokenizer, case.prefix, case.buggy, case.fixed)
    prefix_ids = tiny_tokenizer(case.prefix)["input_ids"]
    start_ids = tiny_tokenizer(case.prefix + case.fixed[:cut])["input_ids"][len(prefix_ids):]
    assert start_ids and tiny_tokenizer.decode(start_ids) == case.fixed[:cut] == "logger."
    for budget in (5, len(prefix_ids) - 1, len(prefix_ids), len(prefix_ids) + 1, 256):
        prompts, keep = split_prompts(tiny_tokenizer, [case], [cut], budget)
        assert prompts == [case.prefix + "logger."]
        (ids,) = encode_prompts(tiny_tokenizer, prompts, keep)
        assert ids == encode_case(tiny_tokenizer, case, budget).context + start_ids
    # A prefix within the budget keeps its whole prompt even where the start takes it past the budget
    # (cut to the budget on its own, the prompt would lose the context's first tokens).
    (ids,) = encode_prompts(tiny_tokenizer, *split_prompts(tiny_tokenizer, [case], [cut], len(prefix_ids)))
    assert len(ids) == len(prefix_ids) + len(start_ids)
    # An empty prefix: the prompt is the line's start alone (the start token when that is empty too).
    empty = _case("x = compute(a, b)", "x = compute(b, a)")
    assert split_point(tiny_tokenizer, "", empty.buggy, empty.fixed)[0] == len("x = compute(")
    assert encode_prompts(tiny_tokenizer, *split_prompts(tiny_tokenizer, [empty, empty], [12, 0], 8)) == [
        tiny_tokenizer("x = compute(")["input_ids"], [tiny_tokenizer.eos_token_id]]


def test_direction_at_the_parting_point():
    case = _case("        return yaml.load(f)", "        return yaml.safe_load(f)")
    assert direction("        return yaml.safe_load(f)", case) == "fixed"
    assert direction("return yaml.safe_load(stream)", case) == "fixed"  # "s" where the lines part
    assert direction("        return yaml.load(stream)", case) == "buggy"
    assert direction("        return yaml.dump(f)", case) is None  # neither line's character
    assert direction("        return json.load(f)", case) is None  # left both before they part
    # One line extends the other: ending where the buggy line ends is the buggy line.
    ext = _case("x = f(a)", "x = f(a) or []")
    assert direction("x = f(a)", ext) == "buggy"
    assert direction("x = f(a) or {}", ext) == "fixed"
    assert direction("x = f(a) and b", ext) is None


def test_judge_split_completes_the_shared_start():
    case = _case("    if value == None:", "    if value is None:", prefix="def check(value):\n")
    check = ValidityCheck.for_case(case)
    cut = len("    if value")
    fixed = judge_split(case, cut, " is None:\n        return 0\n", check)
    assert fixed == {"text": "    if value is None:", "label": "fixed", "toward": "fixed", "valid": True}
    other = judge_split(case, cut, " is not None:", check)
    assert (other["label"], other["toward"], other["valid"]) == ("other", "fixed", True)
    broken = judge_split(case, cut, " == None", check)  # no colon: toward the bug, and not valid
    assert (broken["label"], broken["toward"], broken["valid"]) == ("other", "buggy", False)
    assert judge_split(case, cut, "\n", check)["text"] == "    if value"


def test_window_contains_and_patterns():
    case = _case("x = f(a)", "x = f(a) or []", source={"patterns": {"fixed": r"or \[\]$"}})
    j = judge_window(case, "y = 1\n  x=f(a) or []\nx = f(a)\n")
    # A line holding both counts as the longer (fixed) line; the buggy line comes after it.
    assert (j["label"], j["contains_fixed"], j["contains_buggy"]) == ("fixed", True, True)
    assert (j["pattern_fixed"], j["pattern_buggy"]) == (True, None)
    j = judge_window(case, "print(x)\n")
    assert (j["label"], j["contains_fixed"], j["contains_buggy"], j["pattern_fixed"]) == ("other", False, False,
                                                                                         False)


def test_metric_values_skip_undefined():
    judged = [{"label": "fixed", "valid": True}, {"label": "other", "valid": None}, {"label": "buggy",
                                                                                     "valid": False}]
    v = metric_values("line", judged)
    assert v["fixed"] == [True, False, False]
    assert v["valid"] == [True, False] and v["fixed_valid"] == [True, False]


def test_parse_events():
    assert parse_events("window, split") == ["line", "split", "window"]
    assert parse_events(["line"]) == ["line"]
    with pytest.raises(ValueError, match="valid: line, split, window"):
        parse_events("lines")


def test_case_patterns_are_validated():
    base = {"id": "a", "prefix": "", "buggy": "x = 1", "fixed": "x = 2"}
    assert case_from_dict({**base, "source": {"patterns": {"buggy": r"x = 1"}}}, "f:1").source["patterns"]
    with pytest.raises(DataError, match="source.patterns.fixed"):
        case_from_dict({**base, "source": {"patterns": {"fixed": "("}}}, "f:1")
    with pytest.raises(DataError, match="keys 'fixed' and/or 'buggy'"):
        case_from_dict({**base, "source": {"patterns": {"good": "x"}}}, "f:1")


def test_config_accepts_exactly_the_events_this_module_judges():
    from codehotfix.config import EVAL_EVENTS
    from codehotfix.evaluation.events import EVENTS, METRICS

    assert tuple(EVAL_EVENTS) == tuple(EVENTS) == tuple(METRICS)
