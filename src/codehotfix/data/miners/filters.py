"""Decides whether a one-line replacement is a code fix worth a case, from the two whole files.

A change is dropped, with the reason as a short string that the miners count, when it is:

    whitespace     the lines differ only in whitespace
    comment        the lines differ only in comments, or one side is only a comment
    syntax         (Python) the parent or the fixed file does not parse with this Python's ``ast``
    ast-identical  (Python) the two files have the same AST (quote style, parentheses, ``\\``)
    import         the line is (part of) an import, or a Java ``package`` line
    docstring      (Python) the line is in a docstring or another bare string statement

Python uses ``ast`` on both files; Java and JavaScript use the tokenizer of ``langs`` (token-identical
stands in for AST-identical). Also returns whether the line is a complete statement on its own.
"""

from __future__ import annotations

import ast

from codehotfix.data.cases import normalize_line
from codehotfix.data.miners.langs import tokenize_line

__all__ = ["check_change", "REASONS"]

REASONS = ("whitespace", "comment", "syntax", "ast-identical", "import", "docstring")

_BRACKETS = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


def check_change(
    language: str, parent_text: str, fixed_text: str, line: int, buggy: str, fixed: str
) -> tuple[str | None, bool]:
    """Checks the replacement of line ``line`` (1-based) of ``parent_text`` by ``fixed``.

    Args:
        language: "python", "java" or "javascript".
        parent_text, fixed_text: the whole file before and after the change.
        line: the line number, the same in both files (a one-line replacement shifts nothing).
        buggy, fixed: the two lines, without their newlines.

    Returns:
        (reason the change is dropped or None, whether the line is a complete statement).
    """
    if normalize_line(buggy) == normalize_line(fixed):
        return "whitespace", False
    ta, tb = tokenize_line(buggy, language), tokenize_line(fixed, language)
    if ta == tb or not ta or not tb:
        return "comment", False
    if language != "python":
        if ta[0].text in ("import", "package") or tb[0].text in ("import", "package"):
            return "import", False
        if any(t.text == "require" for t in ta + tb) and ta[0].text in ("const", "let", "var"):
            return "import", False
        body = ta[1 if ta[0].text == "}" else 0 : -1 if ta[-1].text == "{" else None]  # "} else {"
        return None, bool(body) and _balanced(body) and ta[-1].text in (";", "{", "}")
    try:
        tree_a, tree_b = ast.parse(parent_text), ast.parse(fixed_text)
    except (SyntaxError, ValueError):
        return "syntax", False
    if ast.dump(tree_a) == ast.dump(tree_b):
        return "ast-identical", False
    for tree in (tree_a, tree_b):
        stmt = _statement_at(tree, line)
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            return "import", False
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            return "docstring", False
    stmt = _statement_at(tree_a, line)
    return None, _complete(stmt, line, ta)


def _statement_at(tree: ast.AST, line: int) -> ast.stmt | None:
    """The innermost statement whose lines (decorators included) contain ``line``."""
    best, best_span = None, None
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        end = node.end_lineno or node.lineno
        if start <= line <= end and (best_span is None or end - start <= best_span):
            best, best_span = node, end - start
    return best


def _balanced(tokens: list) -> bool:
    return sum(_BRACKETS.get(t.text, 0) for t in tokens if t.kind == "op") == 0


def _complete(stmt: ast.stmt | None, line: int, tokens: list) -> bool:
    """True when the line holds a whole simple statement or the whole header of a compound one."""
    if stmt is None or stmt.lineno != line or not _balanced(tokens):
        return False
    if hasattr(stmt, "body"):  # compound: the header must end on this line
        return tokens[-1].text == ":"
    return stmt.end_lineno == line
