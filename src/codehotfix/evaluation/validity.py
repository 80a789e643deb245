"""Is a completed line valid code where it stands? Judged against the fixed line as a control.

A case's prefix and suffix are often windows cut out of a file, so "prefix + line + suffix parses"
can fail for every line, the fixed one included. The rule therefore uses the fixed line as a
control: the checks below are tried from strictest to loosest, the first one the *fixed* line passes
is the case's check, and a completed line is valid iff it passes that same check. If the fixed line
passes none, validity is undefined (None) for that case.

Python (``ast.parse``; nothing is executed):
  1. ``file``      prefix + line + newline + suffix parses;
  2. ``line``      the line alone parses, dedented, with a ``pass`` body if it opens a block and a
                   dummy ``if``/``try`` header if it continues one (``elif``, ``else``, ``except``,
                   ``finally``);
  3. ``brackets``  see below.
Java, JavaScript and anything else (tree-sitter is not installed; a cheap check instead):
  ``brackets`` — scanning prefix + line + suffix, with string/char literals and comments skipped,
  no closing bracket meets an opening bracket of another kind, and the brackets left open (and the
  closers left unmatched) at the end are exactly those the fixed line leaves. So a window cut in the
  middle of a class is fine as long as the completion does not change its balance.

    check = ValidityCheck.for_case(case)
    check.valid("    if value is None:")   # True, check.method == "file"
"""

from __future__ import annotations

import ast
import textwrap
import warnings
from dataclasses import dataclass
from typing import Callable

from codehotfix.data.cases import HotfixCase

__all__ = ["ValidityCheck", "python_parses", "python_line_parses", "bracket_state"]

_PAIRS = {")": "(", "]": "[", "}": "{"}
_CONTINUES = {"elif": "if True:\n    pass\n", "else": "if True:\n    pass\n", "except": "try:\n    pass\n",
              "finally": "try:\n    pass\n"}


def python_parses(source: str) -> bool:
    """Whether ``source`` is syntactically valid Python (``ast.parse``)."""
    try:
        with warnings.catch_warnings():  # invalid escape sequences warn; they are not our concern here
            warnings.simplefilter("ignore")
            ast.parse(source)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def python_line_parses(line: str) -> bool:
    """Whether one line parses on its own as a statement (check 2 above)."""
    text = line.strip()
    if not text:
        return False
    head = text.split(None, 1)[0].rstrip(":")
    body = "\n    pass" if text.rstrip().endswith(":") else ""
    return python_parses(_CONTINUES.get(head, "") + text + body + "\n")


def bracket_state(text: str, language: str) -> tuple[tuple[str, ...], int] | None:
    """(brackets still open, closers with nothing to close) after scanning ``text``; None on a closer of
    the wrong kind or a string literal left open at the end of a line (Python/Java/JS line rules)."""
    comment = "#" if language == "python" else "//"
    quotes = "'\"" + ("`" if language == "javascript" else "")
    stack: list[str] = []
    unmatched, i, n = 0, 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith(comment, i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif language != "python" and text.startswith("/*", i):
            i = text.find("*/", i + 2)
            i = n if i < 0 else i + 2
        elif ch in quotes:
            triple = language == "python" and text.startswith(ch * 3, i)
            end = _string_end(text, i, ch * 3 if triple else ch, multiline=triple or ch == "`")
            if end is None:
                return None
            i = end
        else:
            if ch in "([{":
                stack.append(ch)
            elif ch in _PAIRS:
                if not stack:
                    unmatched += 1  # closes something opened before the window began
                elif stack.pop() != _PAIRS[ch]:
                    return None
            i += 1
    return tuple(stack), unmatched


def _string_end(text: str, start: int, quote: str, multiline: bool) -> int | None:
    """Index just past the literal opened at ``start``; None if a one-line literal meets a newline."""
    i = start + len(quote)
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(quote, i):
            return i + len(quote)
        if text[i] == "\n" and not multiline:
            return None
        i += 1
    # A triple-quoted string still open where a truncated suffix ends; the control decides.
    return len(text) if multiline else None


@dataclass(frozen=True)
class ValidityCheck:
    """The validity check of one case (see the module docstring): ``method`` is "file", "line",
    "brackets" or None (undefined: the fixed line passes no check)."""

    case: HotfixCase
    method: str | None

    @classmethod
    def for_case(cls, case: HotfixCase) -> "ValidityCheck":
        for method in _methods(case.language):
            if _CHECKS[method](case, case.fixed):
                return cls(case, method)
        return cls(case, None)

    def valid(self, line: str) -> bool | None:
        """Whether ``line`` in place of the buggy line passes the case's check; None if undefined."""
        if self.method is None:
            return None
        return _CHECKS[self.method](self.case, line)


def _methods(language: str) -> tuple[str, ...]:
    return ("file", "line", "brackets") if language == "python" else ("brackets",)


def _in_file(case: HotfixCase, line: str) -> str:
    return case.prefix + line + "\n" + case.suffix


def _brackets_like_fixed(case: HotfixCase, line: str) -> bool:
    state = bracket_state(_in_file(case, line), case.language)
    return state is not None and state == bracket_state(_in_file(case, case.fixed), case.language)


_CHECKS: dict[str, Callable[[HotfixCase, str], bool]] = {
    "file": lambda case, line: python_parses(_in_file(case, line)),
    "line": lambda case, line: python_line_parses(line),
    "brackets": _brackets_like_fixed,
}
