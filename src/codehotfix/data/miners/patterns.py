"""Labels a one-line change with the kind of fix it is ("changed operator", "added argument", …).

The vocabulary is the one of the shared pysstubs_mined data (itself after ManySStuBs4J's patterns),
so mined cases and pysstubs cases can be counted side by side: see ``PATTERNS``.

Python lines are parsed on their own (wrapped so that ``if x:``, ``elif x:`` or ``except E:`` parse)
and the two trees are walked in parallel to the smallest differing node; the label comes from that
node and the fields on the way down to it, tried in the order of ``_classify_ast``. Lines that do not
parse alone (one physical line of a longer statement) and Java/JavaScript lines are labelled from
their token difference instead (``_classify_tokens``).

Usage: ``classify("if a > 0:", "if a >= 0:", "python")`` → ``"changed operator"``.
"""

from __future__ import annotations

import ast

from codehotfix.data.miners.langs import Token, tokenize_line

__all__ = ["PATTERNS", "classify"]

PATTERNS = (
    "changed operator", "changed unary operator", "changed condition", "changed condition (added clause)",
    "changed condition (removed clause)", "changed function name", "added argument", "removed argument",
    "swapped operands/arguments", "changed argument", "added method call/attribute",
    "removed method call/attribute", "changed boolean literal", "changed numeral", "changed string literal",
    "changed literal", "changed identifier", "changed return value", "other",
)  # fmt: skip

# Wrappers that make a lone line parse; the first one under which both lines parse is used.
_WRAPPERS = ("{}", "{}\n  pass", "if 1:\n  pass\n{}\n  pass", "try:\n  pass\n{}\n  pass", "f({})", "[{}]", "{{{}}}")
_SEQUENCES = (ast.Call, ast.Tuple, ast.List, ast.Set, ast.arguments, ast.ClassDef)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_CONDITIONS = ((ast.If, "test"), (ast.While, "test"), (ast.IfExp, "test"), (ast.Assert, "test"))


def classify(buggy: str, fixed: str, language: str = "python") -> str:
    """The pattern label of replacing ``buggy`` by ``fixed`` (one of ``PATTERNS``)."""
    if language == "python":
        trees = _parse_pair(buggy.strip(), fixed.strip())
        if trees is not None:
            label = _classify_ast(*trees)
            if label is not None:
                return label
    return _classify_tokens(buggy, fixed, language)


def _parse_pair(a: str, b: str) -> tuple[ast.AST, ast.AST] | None:
    for wrapper in _WRAPPERS:
        try:
            return ast.parse(wrapper.format(a)), ast.parse(wrapper.format(b))
        except (SyntaxError, ValueError):
            continue
    return None


def _dump(node: object) -> str:
    if isinstance(node, list):
        return "[" + ", ".join(map(_dump, node)) + "]"
    return ast.dump(node) if isinstance(node, ast.AST) else repr(node)


def _first_diff(a: object, b: object, path: list) -> tuple[object, object, list] | None:
    """The smallest differing pair of subtrees and the (node_a, node_b, field) steps down to it."""
    if _dump(a) == _dump(b):
        return None
    if isinstance(a, list) and isinstance(b, list):
        diffs = [i for i, (x, y) in enumerate(zip(a, b)) if _dump(x) != _dump(y)]
        if len(a) == len(b) and len(diffs) == 1:
            return _first_diff(a[diffs[0]], b[diffs[0]], path)
        return a, b, path
    if not (isinstance(a, ast.AST) and type(a) is type(b)):
        return a, b, path
    fields = [f for f in a._fields if _dump(getattr(a, f, None)) != _dump(getattr(b, f, None))]
    if len(fields) == 1 and isinstance(getattr(a, fields[0]), (ast.AST, list)):
        return _first_diff(getattr(a, fields[0]), getattr(b, fields[0]), path + [(a, b, fields[0])])
    return a, b, path


def _wraps(outer: object, inner: object) -> bool:
    """True when ``outer`` is ``inner`` followed by more attributes or method calls (``x`` → ``x.y()``)."""
    if isinstance(outer, ast.Call):
        outer = outer.func
    if not isinstance(outer, ast.Attribute):
        return False
    return _dump(outer.value) == _dump(inner) or _wraps(outer.value, inner)


def _classify_ast(ta: ast.AST, tb: ast.AST) -> str | None:
    found = _first_diff(ta, tb, [])
    if found is None:
        return None
    a, b, path = found
    fields = [(type(na), f) for na, _, f in path]
    if isinstance(a, ast.unaryop) or _unary_wrap(a, b) or _unary_wrap(b, a):
        return "changed unary operator"
    if isinstance(a, (ast.operator, ast.cmpop, ast.boolop)):
        return "changed operator"
    if fields and fields[-1] == (ast.Call, "func"):
        return "changed function name"
    if isinstance(a, ast.Call) and isinstance(b, ast.Call) and _dump(a.func) == _dump(b.func):
        return _argument_label(a.args + a.keywords, b.args + b.keywords)
    if fields and fields[-1][0] in _SEQUENCES and isinstance(a, list):
        return _argument_label(a, b)
    if isinstance(a, _FUNCTIONS) and type(a) is type(b) and a.name != b.name:
        return "changed function name"
    if _wraps(b, a):
        return "added method call/attribute"
    if _wraps(a, b):
        return "removed method call/attribute"
    if isinstance(a, ast.Constant) and isinstance(b, ast.Constant):
        return _literal_label(a.value, b.value)
    if type(a) is type(b) and isinstance(a, (ast.Name, ast.Attribute, ast.arg, ast.alias)):
        return "changed identifier"
    cond = [i for i, step in enumerate(fields) if step in _CONDITIONS]
    if cond:
        na, nb, _ = path[cond[-1]]
        return _condition_label(na.test, nb.test)
    if isinstance(a, (ast.BinOp, ast.Compare)) and type(a) is type(b) and _swapped(a, b):
        return "swapped operands/arguments"
    if any(f in ("args", "keywords") and t is ast.Call for t, f in fields):
        return "changed argument"
    if any(step == (ast.Return, "value") for step in fields):
        return "changed return value"
    return "other"


def _unary_wrap(outer: object, inner: object) -> bool:
    return isinstance(outer, ast.UnaryOp) and _dump(outer.operand) == _dump(inner)


def _condition_label(a: ast.expr, b: ast.expr) -> str:
    def clauses(e: ast.expr) -> list[str]:
        return [_dump(v) for v in e.values] if isinstance(e, ast.BoolOp) else [_dump(e)]

    ca, cb = clauses(a), clauses(b)
    if len(cb) > len(ca) and all(c in cb for c in ca):
        return "changed condition (added clause)"
    if len(ca) > len(cb) and all(c in ca for c in cb):
        return "changed condition (removed clause)"
    return "changed condition"


def _argument_label(a: list, b: list) -> str:
    if len(b) > len(a):
        return "added argument"
    if len(b) < len(a):
        return "removed argument"
    if sorted(map(_dump, a)) == sorted(map(_dump, b)):
        return "swapped operands/arguments"
    return "changed argument"


def _literal_label(a: object, b: object) -> str:
    if isinstance(a, bool) or isinstance(b, bool):
        return "changed boolean literal"
    if isinstance(a, (int, float, complex)) and isinstance(b, (int, float, complex)):
        return "changed numeral"
    if isinstance(a, (str, bytes)) and isinstance(b, (str, bytes)):
        return "changed string literal"
    return "changed literal"


def _swapped(a: ast.AST, b: ast.AST) -> bool:
    if isinstance(a, ast.BinOp):
        return _dump(a.left) == _dump(b.right) and _dump(a.right) == _dump(b.left)
    return (
        len(a.comparators) == 1
        and _dump(a.left) == _dump(b.comparators[0])
        and _dump(b.left) == _dump(a.comparators[0])
    )


_BOOLEANS = {"true", "false", "True", "False", "None", "null", "undefined"}
_CONDITION_WORDS = {"if", "while", "elif", "assert"}
_CLAUSE_OPS = {"&&", "||", "and", "or"}


def _classify_tokens(buggy: str, fixed: str, language: str) -> str:
    ta, tb = tokenize_line(buggy, language), tokenize_line(fixed, language)
    i = 0
    while i < min(len(ta), len(tb)) and ta[i] == tb[i]:
        i += 1
    j = 0
    while j < min(len(ta), len(tb)) - i and ta[-1 - j] == tb[-1 - j]:
        j += 1
    da, db = ta[i : len(ta) - j], tb[i : len(tb) - j]
    in_condition = any(t.text in _CONDITION_WORDS for t in ta[: min(i, 3)])
    after = tb[len(tb) - j] if j else None
    if len(da) == 1 and len(db) == 1:
        label = _token_pair_label(da[0], db[0], after)
        if label is not None:
            return label
    if {t.text for t in da + db} <= {"!", "not", "-", "~"}:
        return "changed unary operator"
    if in_condition and _is_clause(db) and not da:
        return "changed condition (added clause)"
    if in_condition and _is_clause(da) and not db:
        return "changed condition (removed clause)"
    if not da and db and db[0].text == "." or not da and db[-1:] and db[-1].text == ".":
        return "added method call/attribute"
    if not db and da and da[0].text == "." or not db and da[-1:] and da[-1].text == ".":
        return "removed method call/attribute"
    if not da and (db[:1] + db[-1:]) and "," in (db[0].text, db[-1].text):
        return "added argument"
    if not db and (da[:1] + da[-1:]) and "," in (da[0].text, da[-1].text):
        return "removed argument"
    if in_condition:
        return "changed condition"
    if ta and ta[0].text == "return":
        return "changed return value"
    if ta[:i] and any(t.text == "(" for t in ta[:i]):
        return "changed argument"
    return "other"


def _token_pair_label(a: Token, b: Token, after: Token | None) -> str | None:
    if a.kind == b.kind == "op":
        return "changed operator"
    if a.text in _BOOLEANS and b.text in _BOOLEANS:
        return "changed boolean literal"
    if a.kind == b.kind == "number":
        return "changed numeral"
    if a.kind == b.kind == "string":
        return "changed string literal"
    if a.kind == b.kind == "name":
        return "changed function name" if after is not None and after.text == "(" else "changed identifier"
    return None


def _is_clause(tokens: list[Token]) -> bool:
    return len(tokens) >= 2 and (tokens[0].text in _CLAUSE_OPS or tokens[-1].text in _CLAUSE_OPS)
