"""How a completion is judged: the rule, in one place.

A completion is cut to its first line that has any non-whitespace character (a leading blank line is
just formatting). That line is compared with the case's fixed and buggy lines with all whitespace
removed (``normalize_line``): equal to the fixed line → ``fixed``; equal to the buggy line →
``buggy``; anything else → ``other``. Exact line equality is stricter than the paper's "contains the
line" rule, so a completion that writes the fixed line and then something more on the same line is
``other``, not ``fixed``.
"""

from __future__ import annotations

from codehotfix.data.cases import HotfixCase, normalize_line

__all__ = ["first_line", "classify", "LABELS"]

LABELS = ("fixed", "buggy", "other")


def first_line(text: str) -> str:
    """The first line of ``text`` that is not blank (without its newline); "" if there is none."""
    for line in text.split("\n"):
        if line.strip():
            return line
    return ""


def classify(completion: str, case: HotfixCase) -> str:
    """Returns "fixed", "buggy" or "other" for a raw completion of ``case.prefix``."""
    line = normalize_line(first_line(completion))
    if line == normalize_line(case.fixed):
        return "fixed"
    if line == normalize_line(case.buggy):
        return "buggy"
    return "other"
