"""Edit rules: what a fix case changes, stated without its context, so it can reach new code.

A context-matched case (``matching.py``) recognises *the same code*; an edit rule recognises *the
same bug*: ``yaml.`` followed by ``load(`` should be ``safe_load(``, whatever the function, file or
variable around it. ``derive_rules(cases)`` builds the rules from the buggy and fixed lines alone:

1. Both lines are cut into code tokens (``code_tokens``: string literals, names/numbers, common
   multi-character operators, single symbols; whitespace dropped; a quote that never closes falls
   back to single characters for the rest of the line).
2. ``difflib.SequenceMatcher`` on the two token lists gives the changed region: from the first to
   the last differing token. If a shared *name* sits inside that region (``archive = tempfile.mktemp(``
   → ``fd, archive = tempfile.mkstemp(``; ``md5(salt + pw)`` → ``pbkdf2_hmac(…, pw, salt, …)``) the
   fix moves context identifiers around and cannot be written without them: rejected.
3. The region is widened by the shared token after it when that is a symbol (``load`` → ``load(``,
   ``utcnow(`` → ``utcnow()``), or by any one shared token for a pure insertion/deletion
   (``collections.`` + ``Mapping`` → ``abc.Mapping``). These are the *buggy span* B and *fixed span* F.
4. The *anchor* is the shared tokens just before the region, walking back until one name is taken
   (``yaml.``, ``datetime.``, ``self.``, ``dtype=``), at most ``max_anchor_tokens`` tokens. A name is
   taken only where it reads as an API name (followed by ``.``, ``(`` or a keyword ``=``); a name
   followed by anything else (``value ==``, ``xs)``), a string or a number is a value that varies
   between contexts, so the walk stops before it.
5. The rule's *key* is the longest name in the anchor, or B's first token when the anchor has no
   name. A key shorter than ``min_name_len`` characters (``(``, ``-``, ``f``) is too generic: the
   rule would fire on unrelated code, so it is rejected with that reason. Rejections are returned
   in ``RuleSet.rejected`` (case id, reason), never dropped silently.
6. Token boundaries: the anchor's symbols after its name move into both spans, so the stored anchor
   ends on a name (``yaml`` + ``.load(`` → ``.safe_load(``, divergence 1). Real BPE vocabularies glue
   a symbol to the letters after it (Qwen: ``' Image'``, ``'.A'``, ``'NT'``): a line then never ends
   at ``Image.``, but it does end at ``Image``, since pre-tokenizers split a name from what follows
   it. An anchor of symbols only (``.`` of ``w.isAlive()``) becomes empty: the span may start right
   after any name, closing bracket or quote.
7. Rules with the same spans and language are merged; their anchors become alternatives
   (``logger`` / ``log`` / ``LOGGER`` for ``.warn(`` → ``.warning(``), so a new context using any of
   the seen names is reached.

Everything is compared in normalized form (whitespace removed outside string literals), like the
classifier and the guard; the raw spans are kept for messages and for where the fix has spaces.
"""

from __future__ import annotations

import difflib
import keyword
import re
from dataclasses import dataclass, field
from typing import Sequence

from codehotfix.data.cases import HotfixCase

__all__ = ["EditRule", "RuleSet", "anchor_ends", "anchor_patterns", "code_tokens", "derive_rule", "derive_rules",
           "find_anchor_end", "relevant_rules"]

_TOKEN = re.compile(r"""(?P<s>[rRbBfFuU]{0,2}(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'))"""
                    r"|(?P<w>\w+)"
                    r"|(?P<o>==|!=|<=|>=|\*\*=?|//=?|->|:=|[-+*/%&|^@]=|<<|>>|&&|\|\||::|\.\.\.)"
                    r"|(?P<c>\S)")
_NAME = re.compile(r"[^\W\d]\w*")
_OPEN, _CLOSE = "([{", ")]}"


def code_tokens(line: str) -> list[tuple[str, int, int]]:
    """(token, start, end) of each code token of ``line``; whitespace is not a token."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(line)]


def _is_name(tok: str) -> bool:
    return bool(_NAME.fullmatch(tok))


def _is_symbol(tok: str) -> bool:
    return not (tok[:1].isalnum() or tok[:1] == "_" or tok[-1:] in "'\"")


@dataclass(frozen=True)
class EditRule:
    """A context-free edit: after one of ``anchors``, write ``fixed`` instead of ``buggy``.

    Attributes:
        anchors: alternative anchors, each a tuple of code tokens ending on a name (``("yaml",)``),
            or empty: B then follows any name, closing bracket or quote (module docstring, step 6).
        buggy: normalized buggy span B, starting with the anchor's trailing symbols (``.load(``).
        fixed: normalized fixed span F (``.safe_load(``).
        buggy_text: B as written in the case (for messages).
        fixed_text: F as written in the case (its spaces are where the guard lets spaces through).
        keys: per anchor, text that must be in the line for it to be present (its longest name; ""
            for an empty anchor): one substring search skips lines without it.
        language: the cases' language.
        case_ids: the cases the rule was derived from.
    """

    anchors: tuple[tuple[str, ...], ...]
    buggy: str
    fixed: str
    buggy_text: str
    fixed_text: str
    keys: tuple[str, ...]
    language: str = "python"
    case_ids: tuple[str, ...] = ()

    @property
    def diverge(self) -> int:
        """D: characters B and F share at their start; the guard decides at anchor + B[:D]."""
        d = 0
        while d < min(len(self.buggy), len(self.fixed)) and self.buggy[d] == self.fixed[d]:
            d += 1
        return d

    @property
    def anchor_texts(self) -> tuple[str, ...]:
        return tuple("".join(a) for a in self.anchors)

    def describe(self) -> str:
        """``yaml.load(`` → ``yaml.safe_load(`` (first anchor), for comments and reports."""
        a = self.anchor_texts[0] if self.anchors else ""
        return f"{a}{self.buggy_text} -> {a}{self.fixed_text}"

    def to_dict(self) -> dict:
        return {"anchors": list(self.anchor_texts), "buggy": self.buggy_text, "fixed": self.fixed_text,
                "language": self.language, "cases": list(self.case_ids)}


@dataclass
class RuleSet:
    """The rules derived from a set of cases and the cases that gave none (with the reason)."""

    rules: list[EditRule] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)

    def info(self) -> dict:
        return {"rules": [r.to_dict() for r in self.rules], "rejected": list(self.rejected)}


def _anchor(tokens: list[str], end: int, max_tokens: int) -> tuple[str, ...]:
    """The shared tokens before ``tokens[end]`` that pin the edit down (module docstring, step 4)."""
    out: list[str] = []
    k = end - 1
    while k >= 0 and len(out) < max_tokens:
        tok, after = tokens[k], tokens[k + 1] if k + 1 < len(tokens) else ""
        if _is_name(tok):
            if keyword.iskeyword(tok) or not (after in (".", "(", "=")):
                break
            out.insert(0, tok)
            break
        if not _is_symbol(tok):  # a string or number literal: a value
            break
        out.insert(0, tok)
        k -= 1
    while out and out[0] in _CLOSE:  # ``)`` / ``]`` close a value the anchor does not hold
        out.pop(0)
    return tuple(out)


def derive_rule(case: HotfixCase, *, min_name_len: int = 3, max_anchor_tokens: int = 4) -> EditRule | str:
    """The edit rule of one case, or the reason it has none (module docstring, steps 1-5)."""
    b, f = code_tokens(case.buggy), code_tokens(case.fixed)
    tb, tf = [t for t, _, _ in b], [t for t, _, _ in f]
    ops = difflib.SequenceMatcher(None, tb, tf, autojunk=False).get_opcodes()
    changed = [op for op in ops if op[0] != "equal"]
    if not changed:
        return "the buggy and fixed lines have the same code tokens"
    i1, i2, j1, j2 = changed[0][1], changed[-1][2], changed[0][3], changed[-1][4]
    moved = [t for op in ops if op[0] == "equal" and i1 <= op[1] and op[2] <= i2 for t in tb[op[1]:op[2]]
             if _is_name(t) and not keyword.iskeyword(t)]
    if moved:
        return (f"the fix moves context names ({', '.join(dict.fromkeys(moved))}) across the edit; "
                "it cannot be written without them")
    if i2 < len(tb) and (i1 == i2 or j1 == j2 or _is_symbol(tb[i2])):
        i2, j2 = i2 + 1, j2 + 1
    elif i1 == i2 or j1 == j2:  # pure insertion/deletion at the end of the line: take the token before
        i1, j1 = i1 - 1, j1 - 1
    if i1 < 0 or i1 == i2:
        return "the buggy side of the edit is empty"
    span = tb[i1:i2]
    literals = [t for t in span if not _is_symbol(t) and not _is_name(t)]
    if literals:
        return (f"the buggy span `{''.join(span)}` holds literal values ({', '.join(literals[:3])}) that vary "
                "between contexts")
    if not any(_is_name(t) and not keyword.iskeyword(t) and len(t) >= min_name_len for t in span):
        return f"too generic: the buggy span `{''.join(span)}` holds no name of >= {min_name_len} characters"
    if _is_name(span[0]) and len(span[0]) < min_name_len:
        # The guard decides at the span's first token: a short name there (``np`` of ``np.float``)
        # also starts correct code (``np.float32``).
        return (f"too generic: the buggy span `{''.join(span)}` starts with the short name `{span[0]}`, "
                f"which also starts correct code")
    anchor = _anchor(tb, i1, max_anchor_tokens)
    first = tb[i1] if _is_name(tb[i1]) and not keyword.iskeyword(tb[i1]) else ""
    names = [t for t in anchor if _is_name(t)]
    if names and len(max(names, key=len)) < min_name_len and len(first) >= min_name_len:
        # ``w.isAlive()``: a short object name is a variable; the method name pins the edit down.
        anchor = tuple(t for t in anchor if not _is_name(t))
        names = []
    if not anchor:
        return ("too generic: nothing before the edit pins it down (it follows a value or starts the "
                f"line): `{''.join(tb[i1:i2])}`")
    key = max(names + [first], key=len)
    if len(key) < min_name_len:
        shown = "".join(anchor) + "".join(tb[i1:i2])
        return (f"too generic: `{shown}` has no name of >= {min_name_len} characters to anchor it "
                f"(the tokens before the edit are values that vary between contexts)")
    # Step 6: the symbols after the anchor's name start both spans (a token may glue them to B's letters).
    keep = max((k + 1 for k, t in enumerate(anchor) if _is_name(t)), default=0)
    lead = len(anchor) - keep
    bs, fs = i1 - lead, j1 - lead
    buggy_text = case.buggy[b[bs][1]:b[i2 - 1][2]]
    fixed_text = case.fixed[f[fs][1]:f[j2 - 1][2]] if j2 > fs else ""
    return EditRule(anchors=(anchor[:keep],), buggy="".join(tb[bs:i2]), fixed="".join(tf[fs:j2]),
                    buggy_text=buggy_text, fixed_text=fixed_text, keys=(max(names, key=len) if names else "",),
                    language=(case.language or "python").lower(), case_ids=(case.id,))


def derive_rules(cases: Sequence[HotfixCase], *, min_name_len: int = 3, max_anchor_tokens: int = 4) -> RuleSet:
    """The merged edit rules of ``cases`` (module docstring), in first-seen order, plus rejections."""
    merged: dict[tuple[str, str, str], EditRule] = {}
    out = RuleSet()
    for case in cases:
        rule = derive_rule(case, min_name_len=min_name_len, max_anchor_tokens=max_anchor_tokens)
        if isinstance(rule, str):
            out.rejected.append({"case": case.id, "buggy": case.buggy.strip(), "fixed": case.fixed.strip(),
                                 "reason": rule})
            continue
        k = (rule.buggy, rule.fixed, rule.language)
        old = merged.get(k)
        if old is None:
            merged[k] = rule
        elif rule.anchors[0] in old.anchors:
            merged[k] = _replace(old, case_ids=old.case_ids + rule.case_ids)
        else:
            merged[k] = _replace(old, anchors=old.anchors + rule.anchors, keys=old.keys + rule.keys,
                                 case_ids=old.case_ids + rule.case_ids)
    # Two rules that start the same way after the same anchor would steer to two different fixes
    # (``datetime.`` + ``utcnow()`` → ``now(timezone.utc)`` or ``now(dt.timezone.utc)``): the one
    # more cases agree on is kept.
    rules = sorted(merged.values(), key=lambda r: -len(r.case_ids))
    for rule in rules:
        rival = next((r for r in out.rules if r.buggy == rule.buggy and r.language == rule.language
                      and set(r.anchors) & set(rule.anchors)), None)
        if rival is None:
            out.rules.append(rule)
        else:
            out.rejected.extend({"case": c, "buggy": rule.buggy_text, "fixed": rule.fixed_text,
                                 "reason": f"conflicts with the rule `{rival.describe()}` of more cases"}
                                for c in rule.case_ids)
    order = {c.id: i for i, c in enumerate(cases)}
    out.rules.sort(key=lambda r: order[r.case_ids[0]])
    return out


def _replace(rule: EditRule, **changes) -> EditRule:
    from dataclasses import replace

    return replace(rule, **changes)


def anchor_ends(line: str, rule: EditRule, compiled: Sequence[re.Pattern]) -> list[int]:
    """Where ``rule``'s anchors occur in ``line`` (raw text): their end positions, ascending.

    The key name is looked for first (one substring search), so lines without it cost nearly nothing.
    An empty anchor's "occurrences" are the places B could start: after a name, closing bracket or
    quote, where B's first character or the end of the line follows.
    """
    ends: set[int] = set()
    for key, pattern in zip(rule.keys, compiled):
        if key not in line:
            continue
        ends.update(m.end() for m in pattern.finditer(line))
    return sorted(ends)


def find_anchor_end(line: str, rule: EditRule, compiled: Sequence[re.Pattern]) -> int | None:
    """Where the last occurrence of one of ``rule``'s anchors ends in ``line`` (raw text), or None."""
    ends = anchor_ends(line, rule, compiled)
    return ends[-1] if ends else None


def anchor_patterns(rule: EditRule) -> list[re.Pattern]:
    """One regex per anchor: its tokens with optional whitespace between, not glued to a name on the
    left nor on the right (``myyaml``, ``ImageOps`` are not ``yaml``, ``Image``). An empty anchor
    matches where B may start (``anchor_ends``)."""
    out = []
    for anchor in rule.anchors:
        if not anchor:
            first = re.escape(rule.buggy[:1])
            out.append(re.compile(rf"""(?<=[\w)\]}}'"])(?=\s*(?:{first}|$))"""))
            continue
        left = r"(?<!\w)" if _is_name(anchor[0][:1] or "-") or anchor[0][:1] == "_" else ""
        right = r"(?!\w)" if _is_name(anchor[-1]) else ""
        out.append(re.compile(left + r"\s*".join(re.escape(t) for t in anchor) + right))
    return out


_IMPORT = re.compile(r"^\s*(?:import|from|#include|require|use|using)\b|\brequire\(|^\s*const\s.*=\s*require")


def relevant_rules(prompt: str, rules: Sequence[EditRule], tail_lines: int) -> list[EditRule]:
    """The rules a prompt is about to need: a rule's anchor name (its ``keys``, e.g. ``yaml``)
    appears as a whole word in one of the prompt's last ``tail_lines`` code lines or in an import
    line anywhere (``import yaml``). Empty anchors (``.isAlive(``) use the buggy span's first name
    instead. This is what the edit-mode prompt hotfix steers on."""
    from codehotfix.online.matching import code_tail

    lines = prompt.split("\n")
    recent = "\n".join(code_tail(prompt, tail_lines))
    imports = "\n".join(line for line in lines if _IMPORT.search(line))
    out = []
    for rule in rules:
        span_name = next((t for t, _, _ in code_tokens(rule.buggy) if _is_name(t)), rule.buggy)
        names = [k if _is_name(k) else span_name for k in rule.keys]
        if any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text) for n in names for text in (recent, imports)):
            out.append(rule)
    return out
