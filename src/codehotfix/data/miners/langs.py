"""What the miners know about languages: file extensions, test paths and a small code tokenizer.

Python is analysed with ``ast`` (see ``filters`` and ``patterns``). Java and JavaScript are analysed
at the token level with the regex tokenizer below: it knows their comments, strings, numbers,
identifiers and operators, which is enough to tell a comment-only or whitespace-only edit from a
code edit and to label the change. It is not a parser: a token-identical check stands in for the
AST-identical check, and labels that need the tree (clause added to a condition spread over several
lines) come out as "other" more often than for Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = ["LANGUAGES", "Token", "language_of", "is_test_path", "tokenize_line"]

# Extension → language name used in HotfixCase.language.
LANGUAGES: dict[str, str] = {
    ".py": "python",
    ".java": "java",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
}


def language_of(path: str) -> str | None:
    """The language of a file from its extension, or None if the miners do not handle it."""
    return LANGUAGES.get(PurePosixPath(path).suffix.lower())


_TEST_DIRS = {"test", "tests", "testing", "__tests__", "spec", "specs"}


def is_test_path(path: str) -> bool:
    """True for files that are tests by the usual conventions of the three languages.

    ``tests/…``, ``test_x.py``, ``x_test.py``, ``conftest.py``, ``FooTest.java``, ``foo.test.js``,
    ``foo.spec.js``, ``src/test/java/…``.
    """
    p = PurePosixPath(path)
    if any(part.lower() in _TEST_DIRS for part in p.parts[:-1]):
        return True
    name, stem = p.name.lower(), p.stem
    if name.startswith("test_") or stem.lower().endswith("_test") or name == "conftest.py":
        return True
    if p.suffix == ".java" and (stem.endswith("Test") or stem.endswith("Tests") or stem.startswith("Test")):
        return True
    return ".test." in name or ".spec." in name


@dataclass(frozen=True)
class Token:
    kind: str  # "name", "number", "string", "op", "comment"
    text: str


_NUMBER = r"0[xX][0-9a-fA-F_]+[lLnN]?|0[bB][01_]+[lLnN]?|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJlLfFdDnN]?"
_NAME = r"[^\W\d]\w*|\$[\w$]*"
# Longest operators first so ``>>>=`` is one token, not ``>>`` then ``>=``.
_OPS = sorted(
    """>>>= >>> <<= >>= **= //= ... === !== ?? ?. ++ -- -> => :: := == != <= >= && || << >> ** //
    += -= *= /= %= &= |= ^= @= ( ) [ ] { } , ; : . + - * / % & | ^ ~ ! ? < > = @""".split(),
    key=len,
    reverse=True,
)
_OP = "|".join(re.escape(o) for o in _OPS)
_PY_STRING = (
    r"""[rRbBfFuU]{0,2}(?:'''[\s\S]*?(?:'''|$)|\"\"\"[\s\S]*?(?:\"\"\"|$)|'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?)"""
)
_C_STRING = r"""'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?|`(?:\\.|[^`\\])*`?"""
_PATTERNS = {
    "python": re.compile(
        rf"(?P<comment>#[^\n]*)|(?P<string>{_PY_STRING})|(?P<number>{_NUMBER})|(?P<name>{_NAME})|(?P<op>{_OP})"
    ),
    "c": re.compile(
        rf"(?P<comment>//[^\n]*|/\*[\s\S]*?(?:\*/|$))|(?P<string>{_C_STRING})|(?P<number>{_NUMBER})"
        rf"|(?P<name>{_NAME})|(?P<op>{_OP})"
    ),
}


def tokenize_line(text: str, language: str, keep_comments: bool = False) -> list[Token]:
    """Splits code into tokens; unknown characters become one-character "op" tokens.

    Works on any fragment (a line inside an unclosed bracket, half a string), which is why the
    miners use it rather than ``tokenize`` for single lines.

    Args:
        text: the code.
        language: "python", "java" or "javascript".
        keep_comments: keep comment tokens (dropped by default).
    """
    rx = _PATTERNS["python" if language == "python" else "c"]
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        m = rx.match(text, pos)
        if m is None or m.end() == pos:
            tokens.append(Token("op", text[pos]))
            pos += 1
            continue
        kind = m.lastgroup or "op"
        if kind != "comment" or keep_comments:
            tokens.append(Token(kind, m.group()))
        pos = m.end()
    return tokens
