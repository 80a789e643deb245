"""Generalization: does a hotfix still hold on versions of its cases it never trained on?

``make_variants`` rewrites each Python case three ways (the registry ``VARIANT_KINDS``; ids
``<id>~<kind>``, ``source["variant"]`` says how):

- ``rename``: local identifiers (parameters, locals and module-level variables that are assigned in
  the snippet) get other names, consistently across prefix, buggy, fixed and suffix. Never renamed:
  builtins, keywords, imported names, function/class names, attributes, class-level names, names
  used as keyword arguments or declared ``global``/``nonlocal``, names inside f-strings, ``self``,
  ``cls`` and dunders. The snippet (prefix + line + suffix, with a ``pass`` added after a trailing
  block opener) is analysed with libcst's ScopeProvider, which renames exactly the bindings and their
  references; when it does not parse (a prefix cut mid-function), a token-level analysis with the
  ``tokenize`` module finds assigned names and renames their occurrences. A prefix cut inside a
  function is given ``if True:`` lines that open its indentation levels first, so many fragments
  still parse. A renaming is kept only when every scope's reads of unbound names (``symtable``) are
  unchanged, which catches references an analysis missed.
- ``reformat``: the context (prefix and suffix, never the judged line) changes layout but not
  meaning: quote style of simple strings swapped, single-line ``return``/assignment values
  parenthesised, a header comment, a blank line before compound statements. Where the snippet parses,
  each transform is kept only if the ``ast`` of both the fixed and the buggy program is unchanged.
- ``wrap``: the snippet moves into a different surrounding class or function (a fresh name, with
  unrelated statements above it), indented one level.

A case that cannot be varied is listed in ``Variants.skipped`` with its reason, never dropped
silently; non-Python cases are "not applicable". ``run_variants`` measures base (adapter disabled)
and hotfixed rates on each kind with ``evaluate_cases`` and compares them with ``compare``.

Usage::

    variants = make_variants(cases, kinds=("rename", "reformat", "wrap"), seed=0)
    result = run_variants(peft_model, tokenizer, cases, EvalConfig(samples=4))
    result["kinds"]["rename"]["comparison"]["greedy"]

CLI: ``codehotfix variants CASES --adapter DIR --json variants.json [--limit N]``.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import random
import re
import symtable
import time
import tokenize
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import libcst as cst
from libcst.metadata import ClassScope, GlobalScope, MetadataWrapper, PositionProvider, ScopeProvider

from codehotfix.data.cases import HotfixCase, validate_case
from codehotfix.errors import DataError
from codehotfix.registry import Registry

__all__ = ["VARIANT_KINDS", "VariantSkip", "Variants", "make_variants", "run_variants"]

_NEVER = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | {"self", "cls", "_"}
_POOL = ("value", "item", "entry", "amount", "element", "record", "current", "target", "buffer", "payload",
         "token", "node", "chunk", "limit", "offset", "marker", "piece", "sample", "score", "label", "cursor",
         "state", "slot", "member", "source", "extent", "handle", "unit", "measure", "figure")
_UNTOKENIZABLE = "does not parse or tokenize completely (it starts or ends inside a string or bracket)"
_ASSIGN_OPS = frozenset({"=", "+=", "-=", "*=", "/=", "//=", "%=", "**=", ">>=", "<<=", "&=", "^=", "|=", "@="})


class CannotVary(Exception):
    """A case that a variant kind cannot rewrite; the message is the reason reported."""


@dataclass(frozen=True)
class VariantSkip:
    id: str
    kind: str
    reason: str


@dataclass
class Variants:
    """The variant cases (every kind, in case order) and the cases each kind had to skip."""

    cases: list[HotfixCase] = field(default_factory=list)
    skipped: list[VariantSkip] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[HotfixCase]:
        return [c for c in self.cases if c.source.get("variant", {}).get("kind") == kind]


# --- the snippet as lines ------------------------------------------------------------------------------


@dataclass
class _Snippet:
    """prefix + line + suffix as one list of lines, the judged line at index ``at``."""

    before: list[str]
    after: list[str]

    @classmethod
    def of(cls, case: HotfixCase) -> "_Snippet":
        return cls(case.prefix.split("\n")[:-1] if case.prefix else [], case.suffix.split("\n"))

    def code(self, line: str) -> str:
        return "\n".join(self.before + [line] + self.after)

    def to_case(self, case: HotfixCase, kind: str, buggy: str, fixed: str, info: dict) -> HotfixCase:
        prefix = "".join(line + "\n" for line in self.before)
        variant = replace(case, id=f"{case.id}~{kind}", prefix=prefix, buggy=buggy, fixed=fixed,
                          suffix="\n".join(self.after), source={**case.source, "variant": {"kind": kind, "of": case.id, **info}})
        try:
            validate_case(variant, f"variant {variant.id}")
        except DataError as e:
            raise CannotVary(f"the variant is not a valid case: {e}") from None
        return variant


def _prepare(code: str) -> tuple[str, int]:
    """``code`` made complete enough to tokenize and often to parse, and how many lines were put
    before it.

    A prefix cut inside a function starts indented and later dedents to levels the tokenizer never
    saw; one ``if True:`` line per missing level (at that level) opens them. A trailing block opener
    (``if x:`` with nothing after it) gets an indented ``pass``. Positions in the result are the
    original ones shifted by the returned line count.
    """
    lines = code.split("\n")
    body = [l for l in lines if l.strip() and not l.lstrip().startswith("#")]
    openers: list[str] = []
    if body and body[0][0] in " \t":
        width = len(body[0]) - len(body[0].lstrip())
        levels = {l[:len(l) - len(l.lstrip())] for l in body if len(l) - len(l.lstrip()) < width} | {""}
        openers = [lvl + "if True:" for lvl in sorted(levels, key=len)]
    tail = body[-1:]
    text = "\n".join(openers + [code])
    if tail and tail[0].split("#")[0].rstrip().endswith(":"):
        indent = tail[0][:len(tail[0]) - len(tail[0].lstrip())]
        text = text.rstrip("\n") + "\n" + indent + "    pass\n"
    return text, len(openers)


def _tokens(code: str) -> list[tokenize.TokenInfo] | None:
    """Tokens of ``code`` at their positions in ``code``; None unless the whole (prepared) code
    tokenizes: a fragment that starts or ends inside a string or bracket would be read inside out."""
    text, shift = _prepare(code)
    out = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(text).readline):
            if t.start[0] > shift and t.type != tokenize.ENDMARKER:
                out.append(t._replace(start=(t.start[0] - shift, t.start[1]), end=(t.end[0] - shift, t.end[1])))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return out


def _ast_dump(code: str) -> str | None:
    try:
        return ast.dump(ast.parse(_prepare(code)[0]))
    except (SyntaxError, ValueError):
        return None


def _free_by_scope(code: str) -> list[frozenset[str]] | None:
    """Per scope (in source order), the names it reads that nothing in the snippet binds (unseen
    globals and builtins); None when the code does not parse (``symtable``).

    A consistent renaming leaves these sets unchanged; a reference the analysis missed would appear
    in its scope as a read of a name that is no longer bound.
    """
    try:
        top = symtable.symtable(_prepare(code)[0], "<snippet>", "exec")
    except (SyntaxError, ValueError):
        return None
    module_bound = {sym.get_name() for sym in top.get_symbols() if sym.is_local()}
    out, todo = [], [top]
    while todo:
        table = todo.pop(0)
        out.append(frozenset(sym.get_name() for sym in table.get_symbols()
                             if sym.is_referenced() and sym.is_global() and sym.get_name() not in module_bound))
        todo = table.get_children() + todo
    return out


def _identifiers(*codes: str) -> set[str]:
    return {t.string for code in codes for t in (_tokens(code) or []) if t.type == tokenize.NAME} | \
        {w for code in codes for w in re.findall(r"[A-Za-z_]\w*", code)}


# --- rename ---------------------------------------------------------------------------------------------

Positions = dict[str, set[tuple[int, int]]]  # name -> {(line 1-based, column)}


class _Declared(cst.CSTVisitor):
    """Names used as keyword arguments or declared global/nonlocal: renaming them is unsafe."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.names.add(node.keyword.value)

    def visit_Global(self, node: cst.Global) -> None:
        self.names |= {n.name.value for n in node.names}

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.names |= {n.name.value for n in node.names}


def _attribute_names(code: str) -> set[str]:
    return set(re.findall(r"\.\s*([A-Za-z_]\w*)", code))


def _unseen_class_binding(code: str, name: str, row: int) -> bool:
    """For a name bound outside every visible def/class of a fragment that starts indented: True when
    it may be a class attribute, i.e. it is also read as ``x.name`` or bound at the indentation of
    a ``def ...(self`` (a class body whose ``class`` line was cut off)."""
    lines = code.split("\n")
    line = lines[row - 1] if 0 < row <= len(lines) else ""
    width = len(line) - len(line.lstrip())
    methods = {len(m.group(1)) for m in re.finditer(r"(?m)^([ \t]*)(?:async\s+)?def\s+\w+\s*\(\s*(?:self|cls)\b", code)}
    return name in _attribute_names(code) or width in methods


def _scope_names(code: str) -> Positions | None:
    """Renameable names and the positions of their bindings and references (libcst scopes);
    None when the code does not parse."""
    text, shift = _prepare(code)
    try:
        wrapper = MetadataWrapper(cst.parse_module(text))
    except cst.ParserSyntaxError:
        return None
    scopes, pos = wrapper.resolve(ScopeProvider), wrapper.resolve(PositionProvider)
    declared = _Declared()
    wrapper.module.visit(declared)
    bad, found = set(declared.names), defaultdict(set)
    for scope in {s for s in scopes.values() if s is not None}:
        for a in scope.assignments:
            node = a.node.name if isinstance(a.node, cst.Param) else a.node
            if not isinstance(a, cst.metadata.Assignment) or not isinstance(node, cst.Name) \
                    or isinstance(scope, ClassScope):
                bad.add(a.name)  # imports, def/class names, class attributes
                continue
            if shift and isinstance(scope, GlobalScope) and _unseen_class_binding(code, a.name, pos[node].start.line - shift):
                bad.add(a.name)
                continue
            found[a.name].add((pos[node].start.line - shift, pos[node].start.column))
            for ref in a.references:
                if isinstance(ref.node, cst.Name):
                    found[a.name].add((pos[ref.node].start.line - shift, pos[ref.node].start.column))
                else:
                    bad.add(a.name)  # e.g. a string annotation
    return {n: p for n, p in found.items() if n not in bad and n not in _NEVER and not n.startswith("__")}


def _token_names(code: str) -> Positions | None:
    """The token-level fallback: names assigned in the snippet (targets before ``=``, ``for`` and
    ``as`` targets, ``def``/``lambda`` parameters, walrus) and every occurrence that is not an
    attribute or a keyword argument; None when the code does not tokenize completely."""
    all_toks = _tokens(code)
    if all_toks is None:
        return None
    toks = [t for t in all_toks if t.type not in (tokenize.COMMENT, tokenize.NL)]
    indented = _prepare(code)[1] > 0
    assigned, bad, found = set(), set(), defaultdict(set)
    stack: list[str] = []  # bracket kinds: "call", "def", "group"
    blocks: list[str] = []  # indented blocks: "def", "class" or "other" (including ones we cannot see)
    line_start, line_kw, last_kw, header = 0, None, None, None  # header: "def"/"lambda"/"for" target part
    for k, t in enumerate(toks):
        prev = toks[k - 1] if k else None
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        if t.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            if t.type == tokenize.NEWLINE:
                last_kw = line_kw
            elif t.type == tokenize.INDENT:
                blocks.append(last_kw if last_kw in ("def", "class") else "other")
            elif blocks:
                blocks.pop()
            line_start, line_kw, header = k + 1, None, None
            continue
        if k == line_start and t.type == tokenize.NAME and keyword.iskeyword(t.string):
            line_kw = "def" if t.string == "async" and nxt is not None and nxt.string == "def" else t.string
        if t.type == tokenize.STRING and re.match(r"(?i)[rbu]*f", t.string):
            bad |= set(re.findall(r"[A-Za-z_]\w*", t.string))
        if t.type == tokenize.OP:
            if t.string in "([{":
                kind = "def" if header == "def" and not stack else \
                    "call" if t.string == "(" and prev is not None and (prev.string in ")]" or (
                        prev.type == tokenize.NAME and not keyword.iskeyword(prev.string))) else "group"
                stack.append(kind)
            elif t.string in ")]}" and stack:
                stack.pop()
            elif t.string == ":" and header == "lambda":
                header = None
            continue
        if t.type != tokenize.NAME:
            continue
        if t.string in ("def", "lambda", "for") and (prev is None or prev.string != "."):
            header = t.string
            continue
        if t.string == "in" and header == "for":
            header = None
        if keyword.iskeyword(t.string) or (prev is not None and prev.string == "."):
            continue
        if line_kw in ("import", "from", "global", "nonlocal") or (prev is not None and prev.string in ("def", "class")):
            bad.add(t.string)
            continue
        if stack and stack[-1] == "call" and nxt is not None and nxt.string == "=" and prev.string in "(,":
            bad.add(t.string)  # a keyword argument's name
            continue
        found[t.string].add(t.start)
        plain = nxt is None or nxt.string not in (".", "[", "(")
        owner = next((b for b in reversed(blocks) if b != "other"), None)
        statement_level = not stack and (k == line_start or header == "for")
        if statement_level and owner == "class":
            bad.add(t.string)  # a class attribute (read elsewhere as self.name)
            continue
        if statement_level and owner is None and indented and _unseen_class_binding(code, t.string, t.start[0]):
            bad.add(t.string)
            continue
        if header == "for" and plain:
            assigned.add(t.string)
        elif stack and stack[-1] == "def" and prev.string in ("(", ",", "*", "**"):
            assigned.add(t.string)
        elif header == "lambda" and prev.string in ("lambda", ",", "*", "**"):
            assigned.add(t.string)
        elif (prev is not None and prev.string == "as") or (nxt is not None and nxt.string == ":="):
            assigned.add(t.string)
        elif not stack and plain and line_kw is None:
            rest = [u.string for u in toks[k + 1:] if u.type != tokenize.NEWLINE][:64]
            ops = [s for s in rest if s in _ASSIGN_OPS or s in ("==", "(", "[")]
            if ops and ops[0] in _ASSIGN_OPS or (k == line_start and nxt is not None and nxt.string == ":"):
                assigned.add(t.string)
    return {n: found[n] for n in assigned - bad if n not in _NEVER and not n.startswith("__")}


def _apply_renames(code: str, mapping: dict[str, str], positions: Positions) -> list[str]:
    lines = code.split("\n")
    edits = sorted(((r, c, old) for old in mapping for r, c in positions.get(old, ())), reverse=True)
    for row, col, old in edits:
        line = lines[row - 1]
        if line[col:col + len(old)] != old:
            raise CannotVary(f"internal: {old!r} not found at line {row}, column {col}")
        lines[row - 1] = line[:col] + mapping[old] + line[col + len(old):]
    return lines


def _fresh_names(old: Sequence[str], taken: set[str], rng: random.Random) -> dict[str, str]:
    pool = [w for w in _POOL if w not in taken]
    rng.shuffle(pool)
    out = {}
    for i, name in enumerate(sorted(old)):
        new = pool[i] if i < len(pool) else f"{_POOL[i % len(_POOL)]}_{i}"
        out[name] = new
    return out


def _rename(case: HotfixCase, snip: _Snippet, rng: random.Random) -> HotfixCase:
    at = len(snip.before)
    code_f, code_b = snip.code(case.fixed), snip.code(case.buggy)
    taken = _identifiers(code_f, code_b) | _NEVER
    attempts = [("libcst", _scope_names), ("tokenize", _token_names)]
    last = _UNTOKENIZABLE
    for method, analyse in attempts:
        pf, pb = analyse(code_f), analyse(code_b)
        if pf is None or pb is None:
            continue
        last = "no local identifiers to rename"
        mapping = _fresh_names(sorted(set(pf) & set(pb)), taken, rng)
        if not mapping:
            continue
        lf, lb = _apply_renames(code_f, mapping, pf), _apply_renames(code_b, mapping, pb)
        if lf[:at] + lf[at + 1:] != lb[:at] + lb[at + 1:]:
            last = f"{method}: the buggy and fixed versions rename the context differently"
            continue
        if method == "libcst" and _ast_dump("\n".join(lf)) is None:
            last = "libcst: the renamed code does not parse"
            continue
        if _free_by_scope("\n".join(lf)) != _free_by_scope(code_f) or _free_by_scope("\n".join(lb)) != _free_by_scope(code_b):
            last = f"{method}: the renaming missed a reference (a scope's unbound reads changed)"
            continue
        out = _Snippet(lf[:at], lf[at + 1:])
        info = {"method": method, "renames": mapping, "line_changed": lf[at] != case.fixed or lb[at] != case.buggy}
        return out.to_case(case, "rename", lb[at], lf[at], info)
    raise CannotVary(last)


# --- reformat -------------------------------------------------------------------------------------------


def _logical_starts(toks: list[tokenize.TokenInfo]) -> list[tokenize.TokenInfo]:
    """The first token of every logical line."""
    out, fresh = [], True
    for t in toks:
        if t.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            fresh = True
        elif t.type not in (tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER) and fresh:
            out.append(t)
            fresh = False
    return out


def _swap_quotes(lines: list[str], at: int) -> tuple[list[str], int]:
    lines = list(lines)
    for t in reversed(_tokens("\n".join(lines)) or []):
        m = re.fullmatch(r"([rRbBuUfF]*)(['\"])([^'\"\\\n]*)\2", t.string) if t.type == tokenize.STRING else None
        if m and t.start[0] == t.end[0] and t.start[0] - 1 != at:
            q = "'" if m.group(2) == '"' else '"'
            row, line = t.start[0] - 1, lines[t.start[0] - 1]
            lines[row] = line[:t.start[1]] + m.group(1) + q + m.group(3) + q + line[t.end[1]:]
    return lines, at


def _parenthesize(lines: list[str], at: int) -> tuple[list[str], int]:
    """``return x + 1`` → ``return (x + 1)`` and ``y = f(x)`` → ``y = (f(x))`` on single-line statements."""
    lines, toks = list(lines), _tokens("\n".join(lines)) or []
    for first in reversed(_logical_starts(toks)):
        row = first.start[0]
        line_toks = [t for t in toks if t.start[0] == row and t.type not in (tokenize.NL, tokenize.INDENT, tokenize.DEDENT)]
        if row - 1 == at or any(t.type == tokenize.COMMENT or t.string == ";" for t in line_toks):
            continue
        if not line_toks or line_toks[-1].type != tokenize.NEWLINE or line_toks[0] is not first:
            continue  # continues on another line
        body = line_toks[:-1]
        if first.string == "return" and len(body) > 1:
            expr = body[1:]
        elif first.type == tokenize.NAME and not keyword.iskeyword(first.string) and len(body) > 2 \
                and body[1].string == "=" and not any(t.string in _ASSIGN_OPS for t in body[2:]):
            expr = body[2:]
        else:
            continue
        if len(expr) == 1 or expr[0].string == "(" and expr[-1].string == ")" or any(t.string == "yield" for t in expr):
            continue
        line = lines[row - 1]
        s, e = expr[0].start[1], expr[-1].end[1]
        lines[row - 1] = line[:s] + "(" + line[s:e] + ")" + line[e:]
    return lines, at


def _header_comment(lines: list[str], at: int) -> tuple[list[str], int]:
    pos = 1 if lines and lines[0].startswith("#!") else 0
    if pos > at:
        return lines, at
    return lines[:pos] + ["# -*- coding: utf-8 -*-"] + lines[pos:], at + 1


def _blank_lines(lines: list[str], at: int) -> tuple[list[str], int]:
    """A blank line before every ``if``/``for``/``while``/``with``/``try``/``return`` statement."""
    rows = [t.start[0] - 1 for t in _logical_starts(_tokens("\n".join(lines)) or [])
            if t.string in ("if", "for", "while", "with", "try", "return")]
    out_lines, new_at = list(lines), at
    for row in sorted(rows, reverse=True):
        previous = lines[row - 1].strip() if row else ""
        if row and previous and not previous.startswith(("@", "#")):
            out_lines.insert(row, "")
            new_at += row <= at
    return out_lines, new_at


_REFORMATS: tuple[tuple[str, Callable[[list[str], int], tuple[list[str], int]]], ...] = (
    ("quotes", _swap_quotes), ("parens", _parenthesize), ("header_comment", _header_comment),
    ("blank_lines", _blank_lines))


def _reformat(case: HotfixCase, snip: _Snippet, rng: random.Random) -> HotfixCase:
    at = len(snip.before)
    if _tokens(snip.code(case.fixed)) is None or _tokens(snip.code(case.buggy)) is None:
        raise CannotVary(_UNTOKENIZABLE)
    lines = snip.before + [case.fixed] + snip.after
    ref_f, ref_b = _ast_dump(snip.code(case.fixed)), _ast_dump(snip.code(case.buggy))
    applied, rejected = [], []
    for name, transform in _REFORMATS:
        new, new_at = transform(lines, at)
        if new == lines:
            continue
        def program(line: str) -> str:
            return "\n".join(new[:new_at] + [line] + new[new_at + 1:])

        same_f = ref_f is None or _ast_dump(program(case.fixed)) == ref_f
        same_b = ref_b is None or _ast_dump(program(case.buggy)) == ref_b
        if same_f and same_b:
            lines, at = new, new_at
            applied.append(name)
        else:
            rejected.append(name)
    if not applied:
        raise CannotVary("nothing to reformat" + (f" (changed the meaning: {', '.join(rejected)})" if rejected else ""))
    out = _Snippet(lines[:at], lines[at + 1:])
    return out.to_case(case, "reformat", case.buggy, case.fixed,
                       {"transforms": applied, "rejected": rejected, "verified_by_ast": ref_f is not None})


# --- wrap -----------------------------------------------------------------------------------------------

_CLASSES = ("ReportBuilder", "SessionManager", "CacheLayer", "TaskRunner", "MetricsCollector", "ImportJob")
_FUNCS = ("run_pipeline", "handle_request", "process_batch", "main_task", "sync_records", "build_index")
_VARS = (("retries", "3"), ("timeout", "30.0"), ("names", "[]"), ("settings", "{'debug': False}"),
         ("verbose", "True"), ("started", "None"))


def _wrap(case: HotfixCase, snip: _Snippet, rng: random.Random) -> HotfixCase:
    at = len(snip.before)
    code_f = snip.code(case.fixed)
    if "__future__" in code_f:
        raise CannotVary("has a __future__ import, which must stay at the top of the file")
    toks = _tokens(code_f)
    if toks is None:
        raise CannotVary(_UNTOKENIZABLE)
    first = next((l for l in code_f.split("\n") if l.strip() and not l.lstrip().startswith("#")), "")
    if first[:1] in (" ", "\t"):
        raise CannotVary("the snippet starts inside a block (its first line is indented): there is no "
                         "surrounding code to replace")
    taken = _identifiers(code_f, snip.code(case.buggy))
    names = [(n, v) for n, v in _VARS if n not in taken]
    rng.shuffle(names)
    if rng.random() < 0.5:
        cls = rng.choice([c for c in _CLASSES if c not in taken] or ["WrappedSnippet"])
        (attr, val), *_ = names or [("_unused", "0")]
        header = [f"class {cls}:", f'    """Holds the {attr} setting and the code below."""', "",
                  f"    {attr} = {val}", "", f"    def get_{attr}(self):", f"        return self.{attr}", ""]
        how = {"container": "class", "name": cls}
    else:
        func = rng.choice([f for f in _FUNCS if f not in taken] or ["wrapped_snippet"])
        header = [f"def {func}():"] + [f"    {n} = {v}" for n, v in names[:2]] + [""]
        how = {"container": "function", "name": func}
    # Continuation lines of a string that does not start its statement keep their indentation, so
    # the string's value is unchanged; everything else moves one level in.
    keep = set()
    starts = {id(t) for t in _logical_starts(toks)}
    for t in toks:
        if t.type == tokenize.STRING and t.end[0] > t.start[0] and id(t) not in starts:
            keep |= set(range(t.start[0], t.end[0]))  # 0-based rows after the first
    lines = snip.before + [case.fixed] + snip.after
    moved = [l if (i in keep or not l.strip()) else "    " + l for i, l in enumerate(lines)]
    out = _Snippet(header + moved[:at], moved[at + 1:])
    if _ast_dump(code_f) is not None and _ast_dump(out.code("    " + case.fixed)) is None:
        raise CannotVary("the wrapped code does not parse")
    return out.to_case(case, "wrap", "    " + case.buggy, "    " + case.fixed, how)


VARIANT_KINDS: Registry[Callable[[HotfixCase, _Snippet, random.Random], HotfixCase]] = Registry("variant kind")
VARIANT_KINDS.register("rename")(_rename)
VARIANT_KINDS.register("reformat")(_reformat)
VARIANT_KINDS.register("wrap")(_wrap)


def make_variants(cases: Sequence[HotfixCase], kinds: Sequence[str] = ("rename", "reformat", "wrap"),
                  seed: int = 0) -> Variants:
    """Rewrites every Python case with every kind; deterministic for a seed.

    Returns:
        ``Variants``: the new cases (ids ``<id>~<kind>``) and a ``VariantSkip`` for each case a kind
        could not rewrite (non-Python cases: "not applicable").

    Raises:
        KeyError: an unknown kind (the message lists the valid ones).
    """
    builders = {kind: VARIANT_KINDS.get(kind) for kind in kinds}
    out = Variants()
    for case in cases:
        for kind, build in builders.items():
            if case.language.lower() != "python":
                out.skipped.append(VariantSkip(case.id, kind, f"not applicable: language is {case.language}"))
                continue
            try:
                out.cases.append(build(case, _Snippet.of(case), random.Random(f"{seed}|{case.id}|{kind}")))
            except CannotVary as e:
                out.skipped.append(VariantSkip(case.id, kind, str(e)))
    return out


def run_variants(model: Any, tokenizer: Any, cases: Sequence[HotfixCase], eval_cfg: Any = None, *,
                 kinds: Sequence[str] = ("rename", "reformat", "wrap"), seed: int = 0,
                 include_original: bool = True, progress: bool = True) -> dict[str, Any]:
    """Fixed/buggy rates of the base (adapter disabled) and the hotfixed model on each variant kind.

    Returns:
        {"kind": "variants", "kinds": {kind: {"n", "skipped", "base", "hotfixed", "comparison",
        "cases"}}, "original": {same for the unmodified cases} or None, "skipped": [{"id", "kind",
        "reason"}], "seed", "seconds"}; "base"/"hotfixed" are ``summarize`` blocks, "comparison" is
        ``compare(base, hotfixed)``; with no adapter the hotfixed fields are None.
    """
    from codehotfix.config import EvalConfig
    from codehotfix.evaluation.locality import base_model, has_adapter
    from codehotfix.evaluation.rates import compare, evaluate_cases

    cfg = eval_cfg or EvalConfig()
    t0 = time.time()
    variants = make_variants(cases, kinds, seed)
    adapted = has_adapter(model)

    def measure(subset: list[HotfixCase], skipped: int) -> dict[str, Any]:
        block: dict[str, Any] = {"n": len(subset), "skipped": skipped, "base": None, "hotfixed": None,
                                 "comparison": None, "cases": []}
        if not subset:
            return block
        with base_model(model):
            base = evaluate_cases(model, tokenizer, subset, cfg, progress=progress)
        hot = evaluate_cases(model, tokenizer, subset, cfg, progress=progress) if adapted else None
        block.update(base=base["summary"], hotfixed=hot["summary"] if hot else None,
                     comparison=compare(base["summary"], hot["summary"]) if hot else None)
        for i, rec in enumerate(base["cases"]):
            h = hot["cases"][i] if hot else {}
            block["cases"].append({"id": rec["id"], "base_greedy": rec["greedy_label"],
                                   "hotfixed_greedy": h.get("greedy_label"), "base_margin": rec["margin"],
                                   "hotfixed_margin": h.get("margin")})
        return block

    result = {"kind": "variants", "kinds": {}, "original": None,
              "skipped": [{"id": s.id, "kind": s.kind, "reason": s.reason} for s in variants.skipped]}
    for kind in kinds:
        result["kinds"][kind] = measure(variants.of_kind(kind), sum(s.kind == kind for s in variants.skipped))
    if include_original:
        result["original"] = measure(list(cases), 0)
    return {**result, "seed": seed, "config": dict(cfg.__dict__), "seconds": round(time.time() - t0, 2)}
