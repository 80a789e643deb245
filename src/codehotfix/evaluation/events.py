"""The three completion events: where a completion starts and how it is judged.

A hotfix changes what the model writes at one line, but *where* generation starts decides what can
be seen. Each event is one prompt and one judging rule (docs/evaluation.md has the worked examples):

``line``    prompt = the case's prefix; the completion's first non-blank line is compared with the
            fixed and buggy lines, whitespace-normalised (``classify.classify``): fixed / buggy / other.
``split``   prompt = the prefix plus the start the buggy and fixed lines share, cut back so that no
            token is split (``split_point``); its tokens start where the context's do
            (``split_prompts``). The completion finishes the line (up to its first newline). The
            completed line (shared start + completion) is exact fixed / exact buggy / other, and
            ``direction`` says which line it continues toward at the parting point.
``window``  prompt = the prefix; up to ``WINDOW_LINES`` lines / ``window_tokens`` (128 at the default
            64-token line budget) are written
            and the window is judged by whether it *contains* the fixed or the buggy line (the paper's
            rule, whitespace-normalised) and, where a case defines them, by its regex patterns
            (``source.patterns``, see ``data/cases.py``).

The line and split events also judge validity (``validity.py``): does the completed line, put
between the prefix and the suffix, still parse. A window is judged by what it contains, not by the
position of a line, so it has no validity.

    from codehotfix.evaluation.events import split_point, judge_split
    c = split_point(tokenizer, case.prefix, case.buggy, case.fixed)
    judge_split(case, c, completion)   # {"text": …, "label": "fixed", "toward": "fixed", "valid": True}
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

from codehotfix.data.cases import HotfixCase, normalize_line
from codehotfix.evaluation.classify import classify, first_line
from codehotfix.evaluation.validity import ValidityCheck

__all__ = ["EVENTS", "WINDOW_LINES", "window_tokens", "METRICS", "parse_events", "common_prefix_length",
           "split_point", "split_prompts", "direction", "judge_line", "judge_split", "judge_window", "metric_values"]

# The events this module judges. config.EVAL_EVENTS (the names eval.events accepts) must list the same:
# config cannot import this module (evaluation imports config), and this module does not import config,
# which pulls in the models and torch. tests/evaluation/test_events.py checks that the two agree.
EVENTS = ("line", "split", "window")
# The window: long enough for a model that opens a block or writes a comment first to reach the line
# (5 lines), short enough that a window rarely runs into code the suffix already holds.
WINDOW_LINES = 5


def window_tokens(max_new_tokens: int) -> int:
    """The window's token budget: twice the per-line budget, so 128 at the default 64. Tied to it so a
    quick run with a small budget (tests, smoke checks) keeps its window small too."""
    return 2 * max_new_tokens


def parse_events(spec: str | Sequence[str]) -> list[str]:
    """Validated event names, in ``EVENTS`` order, from "line,split" or a list; "line" is always in
    (the result's legacy fields are its numbers).

    Raises:
        ValueError: naming an unknown event and the valid ones.
    """
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    unknown = [n for n in names if n not in EVENTS]
    if unknown:
        raise ValueError(f"unknown event(s) {', '.join(map(repr, unknown))}; valid: {', '.join(EVENTS)}")
    return [e for e in EVENTS if e in names or e == "line"]


def common_prefix_length(a: str, b: str) -> int:
    """Number of leading characters ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _boundary(line: str, c: int) -> bool:
    """A cut before ``line[c]`` that is not inside an identifier or number."""
    return c == 0 or c >= len(line) or not (_word(line[c - 1]) and _word(line[c]))


def _tokens_align(tokenizer: Any, prefix: str, line: str, c: int) -> bool:
    """Whether the prompt ``prefix + line[:c]`` tokenizes to a prefix of ``prefix + line``'s tokens: then
    the model sees at the cut exactly the tokens it would see there in the whole line."""
    whole = tokenizer(prefix + line, add_special_tokens=False)["input_ids"]
    part = tokenizer(prefix + line[:c], add_special_tokens=False)["input_ids"] if prefix + line[:c] else []
    return whole[:len(part)] == part


def split_point(tokenizer: Any, prefix: str, buggy: str, fixed: str) -> tuple[int, bool]:
    """Where the ``split`` prompt cuts the line: (number of characters of the shared start kept, whether
    the cut is token-aligned).

    The cut is the largest ``c`` at or before the first character where ``buggy`` and ``fixed`` differ
    such that, in both lines, ``c`` is not inside an identifier or number and ``prefix + line[:c]``
    tokenizes to a prefix of ``prefix + line``'s tokens (``_tokens_align``). A byte-level BPE glues a
    space and a dot to the word after them (" yaml", ".load"), so the cut usually lands before the
    whitespace or punctuation that precedes the parting word. When no cut passes, c = 0 (the prompt is
    the prefix, as in ``line``) and the second value says the check failed there too.
    """
    d = common_prefix_length(buggy, fixed)
    for c in range(d, -1, -1):
        if not (_boundary(buggy, c) and _boundary(fixed, c)):
            continue
        if _tokens_align(tokenizer, prefix, buggy, c) and _tokens_align(tokenizer, prefix, fixed, c):
            return c, True
    return 0, False


def split_prompts(tokenizer: Any, cases: Sequence[HotfixCase], cuts: Sequence[int],
                  max_context_tokens: int) -> tuple[list[str], list[int]]:
    """The ``split`` prompts (``prefix + fixed[:cut]``) and, per prompt, how many of its last tokens it
    keeps.

    A prompt keeps what the context keeps (the prefix's last ``max_context_tokens`` tokens) plus every
    token the shared start adds: of the tokens of ``prefix + fixed[:cut]`` it drops, on the left,
    exactly as many as the context drops from the prefix's. Cutting the prompt to ``max_context_tokens``
    on its own would start it a few tokens later than its context whenever the prefix is longer than the
    budget, and then its tokens could not extend the context's (the one pass, ``onepass.py``, feeds a
    split prompt as its context's tokens plus a few more). With this rule they do wherever the
    tokenizer does not glue the prefix's last token to the line's first, so long contexts share the
    pass too, and both evaluation paths complete the same tokens. A prefix within the budget keeps all
    of its prompt, even when the shared start takes the prompt past the budget.
    """
    prompts, keep = [], []
    for case, cut in zip(cases, cuts):
        prompt = case.prefix + case.fixed[:cut]
        n_prefix = len(tokenizer(case.prefix, add_special_tokens=False)["input_ids"]) if case.prefix else 0
        n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else 0
        prompts.append(prompt)
        keep.append(n_prompt - max(0, n_prefix - max_context_tokens))
    return prompts, keep


def direction(completed: str, case: HotfixCase) -> str | None:
    """Which line a completed line continues toward at the point where the two lines part: "fixed",
    "buggy" or None (neither).

    On whitespace-normalised lines F (fixed), B (buggy) and C (completed): an exact match decides;
    otherwise let p be where F and B part. C goes toward F when it agrees with F over more characters
    from p on than with B (so when C[p] is F's character there); toward B symmetrically; a tie —
    C leaves both lines at or before p — is neither.
    """
    f, b, c = normalize_line(case.fixed), normalize_line(case.buggy), normalize_line(completed)
    if c == f:
        return "fixed"
    if c == b:
        return "buggy"
    p = common_prefix_length(f, b)
    if c[:p] != f[:p]:
        return None
    lf, lb = common_prefix_length(c[p:], f[p:]), common_prefix_length(c[p:], b[p:])
    return "fixed" if lf > lb else "buggy" if lb > lf else None


def judge_line(case: HotfixCase, completion: str, check: ValidityCheck) -> dict[str, Any]:
    """The ``line`` event's verdict on one completion of the prefix."""
    line = first_line(completion)
    return {"text": line, "label": classify(completion, case), "valid": check.valid(line)}


def judge_split(case: HotfixCase, cut: int, completion: str, check: ValidityCheck) -> dict[str, Any]:
    """The ``split`` event's verdict on one completion of ``prefix + line[:cut]``.

    The completion finishes the line, so it is read up to its first newline (a newline straight away
    leaves the shared start as the whole line); the shared start is taken from the fixed line (both
    lines have it).
    """
    line = case.fixed[:cut] + completion.split("\n", 1)[0]
    norm = normalize_line(line)
    label = ("fixed" if norm == normalize_line(case.fixed) else "buggy" if norm == normalize_line(case.buggy)
             else "other")
    return {"text": line, "label": label, "toward": direction(line, case), "valid": check.valid(line)}


def _patterns(case: HotfixCase) -> dict[str, str]:
    pats = case.source.get("patterns") if isinstance(case.source, dict) else None
    return {k: v for k, v in (pats or {}).items() if k in ("fixed", "buggy") and isinstance(v, str)}


def judge_window(case: HotfixCase, completion: str) -> dict[str, Any]:
    """The ``window`` event's verdict on a multi-line completion of the prefix.

    A window line *contains* the fixed (buggy) line when the whitespace-normalised line is a
    substring of it. When one of the two lines contains the other (``x = f(a)`` / ``x = f(a) or []``),
    a window line holding both counts as the longer, more specific one. ``label`` is the first of the
    two the window writes ("other" if neither). ``pattern_fixed``/``pattern_buggy`` are
    ``re.search(..., re.MULTILINE)`` on the window text, None where the case has no such pattern.
    """
    f, b = normalize_line(case.fixed), normalize_line(case.buggy)
    label, contains = None, {"fixed": False, "buggy": False}
    for raw in completion.split("\n"):
        norm = normalize_line(raw)
        hit_f, hit_b = f in norm, b in norm
        if not (hit_f or hit_b):
            continue
        hit = ("fixed" if len(f) >= len(b) else "buggy") if hit_f and hit_b else "fixed" if hit_f else "buggy"
        contains[hit] = True
        label = label or hit
    pats = _patterns(case)
    out = {"text": completion, "label": label or "other", "contains_fixed": contains["fixed"],
           "contains_buggy": contains["buggy"]}
    for side in ("fixed", "buggy"):
        out[f"pattern_{side}"] = (re.search(pats[side], completion, re.MULTILINE) is not None
                                  if side in pats else None)
    return out


def _label(name: str) -> Callable[[dict], bool | None]:
    return lambda j: j["label"] == name


def _fixed_valid(j: dict) -> bool | None:
    return None if j.get("valid") is None else (j["label"] == "fixed" and j["valid"])


def _key(name: str, value: Any = True) -> Callable[[dict], bool | None]:
    return lambda j: None if j.get(name) is None else j[name] == value


# The numbers each event reports: name → the judged completion's outcome (None: not defined for it).
_LABELS = {"fixed": _label("fixed"), "buggy": _label("buggy"), "other": _label("other")}
# ``hit_budget`` (set by ``rates._judge_all`` where token ids are known): the completion used its whole
# token budget, still writing when cut off; a looping model shows here first.
METRICS: dict[str, dict[str, Callable[[dict], bool | None]]] = {
    "line": {**_LABELS, "valid": _key("valid"), "fixed_valid": _fixed_valid, "hit_budget": _key("hit_budget")},
    "split": {**_LABELS, "toward_fixed": lambda j: j["toward"] == "fixed",
              "toward_buggy": lambda j: j["toward"] == "buggy", "valid": _key("valid"), "fixed_valid": _fixed_valid,
              "hit_budget": _key("hit_budget")},
    "window": {**_LABELS, "contains_fixed": _key("contains_fixed"), "contains_buggy": _key("contains_buggy"),
               "pattern_fixed": _key("pattern_fixed"), "pattern_buggy": _key("pattern_buggy"),
               "hit_budget": _key("hit_budget")},
}


def metric_values(event: str, judged: Sequence[dict]) -> dict[str, list[bool]]:
    """Per metric of ``event``, the defined outcomes (True/False) among ``judged`` completions."""
    out: dict[str, list[bool]] = {}
    for name, fn in METRICS[event].items():
        out[name] = [bool(v) for v in (fn(j) for j in judged) if v is not None]
    return out
