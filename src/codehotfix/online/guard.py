"""The decoding-time guard: a ``transformers.LogitsProcessor`` that steers a known buggy line to its fix.

    from codehotfix.online.guard import make_guard_processor
    guard = make_guard_processor(tokenizer, cases, prompts)      # None when no prompt matches
    model.generate(..., logits_processor=LogitsProcessorList([guard]))

    codehotfix eval cases.jsonl --guard fixes.jsonl --json out.json

What it does, per row and step. The row's text is split at its last newline: before it is the
*context*, after it the *current line*. The cases whose context matches (``matching.py``, the rule
the prompt hotfix uses too) are looked up once per distinct context. The current line is normalized
like the classifier does (whitespace dropped outside string literals) and compared with each
matching case's normalized buggy line B and fixed line F, which agree on their first D characters:

* if the line so far is a prefix of the common part B[:D] and some vocabulary token would carry it
  past D along B (it is *about to* depart onto the buggy line), or
* if the line is already past D on the fixed line (a prefix of F longer than D),

then every token that does not continue F is masked (score −inf): a token is kept when the line plus
its text (normalized) is still a prefix of F, or ends the line exactly where F ends. So a matching
context can never produce the buggy line, and a line the model writes differently before the
divergence (``x = yaml.dump(...)``) is left alone.

Token boundaries need not align with D: all checks work on decoded, normalized text, so a token such
as ``".load"`` that straddles the divergence point counts as departing onto B, and ``".safe"`` as
continuing F. The state of the normalizer (inside a string literal or not) is carried across tokens.

Rows are identified by their content, not their position: the guard holds no per-row state, so it
works with ``model.generate`` and with ``generation.sample_lines`` dropping finished rows alike, and
later lines of a multi-line completion are matched against their own context.

Cost. Once per tokenizer: the vocabulary is decoded (one string per token) and, per normalizer
state actually reached (at most five), indexed by normalized text (one pass over the vocabulary).
Per step: one boolean gather over ``input_ids`` [rows, seq] to find each row's last newline and one
hash of the context ids per row; nothing more for rows whose context matches no case (and
``make_guard_processor`` returns no processor at all when no prompt matches). A matching row adds
the decoding of its current line and O(len(line)) dictionary look-ups per matching case.

Edit mode (``MatchConfig(mode="edit")``): no context look-up; each row's current line is searched
for the anchors of the edit rules derived from the cases (``edits.py``) and the rule is applied at
its divergence point (``_edit_decision``; docs/online-hotfix.md, "Edit rules"). Rule anchors end on a
name and the spans start with the symbol after it, since BPE tokens glue that symbol to the letters
after it ('.A' of ``Image.ANTIALIAS``). A line without any rule's anchor name costs the decoding of
the line and one substring test per rule (plus one regex scan per rule with an empty anchor).

Limits: decoding single tokens is exact for byte-level BPE (Qwen, GPT-2, Llama 3); a SentencePiece
tokenizer may drop a token's leading space, which only matters inside string literals. Tokens
holding part of a multi-byte character never count as continuing F (a fixed line with non-ASCII text
may then find no allowed token; the guard then leaves the row alone and counts it in
``stats["stuck"]``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from transformers import LogitsProcessor

from codehotfix.data.cases import HotfixCase
from codehotfix.online.edits import EditRule, anchor_ends, anchor_patterns, derive_rules, relevant_rules
from codehotfix.online.matching import MatchConfig, case_tail_keys, match_cases

__all__ = ["BuggyLineGuard", "GuardConfig", "make_guard_processor", "normalize_prefix"]


def normalize_prefix(text: str, state: str = "") -> tuple[str, bool, str]:
    """Normalizes a piece of a line like ``normalize_line``, incrementally.

    Whitespace outside string literals is dropped; inside ``'…'`` or ``"…"`` (with backslash
    escapes) it is kept. Unlike ``normalize_line``'s regex this works on unfinished lines, carrying
    the "inside a string" state from one piece to the next; on a complete line whose quotes pair up
    both give the same text.

    Args:
        text: the piece to normalize; it is cut at its first newline.
        state: "" outside a string, the open quote character inside one, plus a backslash when an
            escape is pending (the state returned by the previous piece).

    Returns:
        (normalized text before the first newline, whether a newline was reached, state after it).
    """
    quote, escaped = state[:1], state[1:] == "\\"
    out = []
    for ch in text:
        if ch == "\n":
            return "".join(out), True, ""
        if quote:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif not ch.isspace():
            out.append(ch)
            if ch in "'\"":
                quote = ch
    return "".join(out), False, quote + ("\\" if escaped else "")


class _Vocab:
    """The tokenizer's vocabulary as text, indexed for prefix look-ups (built once per tokenizer)."""

    def __init__(self, tokenizer: Any) -> None:
        n = len(tokenizer)
        special = set(tokenizer.all_special_ids)
        self.pieces = tokenizer.batch_decode([[i] for i in range(n)])
        self.usable = [i not in special for i in range(n)]
        self.has_newline = torch.tensor([("\n" in p) and ok for p, ok in zip(self.pieces, self.usable)])
        self.eos = sorted({t for t in (tokenizer.eos_token_id,) if t is not None})
        self._index: dict[str, tuple[dict[str, list[int]], dict[str, list[int]]]] = {}

    def index(self, state: str) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """(tokens without a newline, tokens with one), each keyed by their normalized text (the part
        before the newline) when read from normalizer ``state``."""
        if state not in self._index:
            plain: dict[str, list[int]] = {}
            newline: dict[str, list[int]] = {}
            for i, (piece, ok) in enumerate(zip(self.pieces, self.usable)):
                if not ok or "\ufffd" in piece:
                    continue
                norm, nl, _ = normalize_prefix(piece, state)
                (newline if nl else plain).setdefault(norm, []).append(i)
            self._index[state] = (plain, newline)
        return self._index[state]


@functools.lru_cache(maxsize=4)
def _vocab(tokenizer: Any) -> _Vocab:
    return _Vocab(tokenizer)


@dataclass
class GuardConfig:
    """Knobs of the guard.

    Attributes:
        match: the matching rule shared with the prompt hotfix (``MatchConfig``).
        max_cached_contexts: distinct contexts whose matches are remembered (then the memo is cleared).
    """

    match: MatchConfig = field(default_factory=MatchConfig)
    max_cached_contexts: int = 4096

    def __post_init__(self) -> None:
        from codehotfix.errors import ConfigError

        if isinstance(self.match, dict):
            self.match = MatchConfig(**self.match)
        if self.max_cached_contexts < 1:
            raise ConfigError(f"guard.max_cached_contexts must be >= 1, got {self.max_cached_contexts}")


@dataclass(frozen=True)
class _Pattern:
    """A matching case in normalized form: buggy B, fixed F, and D = length of their common start."""

    case_id: str
    buggy: str
    fixed: str
    diverge: int
    indent: int  # characters of indentation of the raw fixed line
    gaps: frozenset[int]  # positions in ``fixed`` where the raw fixed line has spaces (outside strings)

    @classmethod
    def of(cls, case: HotfixCase) -> "_Pattern":
        b, f = normalize_prefix(case.buggy)[0], normalize_prefix(case.fixed)[0]
        d = 0
        while d < min(len(b), len(f)) and b[d] == f[d]:
            d += 1
        gaps, state, done = set(), "", ""
        for ch in case.fixed:
            if ch.isspace() and not state and done:
                gaps.add(len(done))
            piece, _, state = normalize_prefix(ch, state)
            done += piece
        return cls(case.id, b, f, d, len(case.fixed) - len(case.fixed.lstrip()), frozenset(gaps))


class BuggyLineGuard(LogitsProcessor):
    """Masks the tokens that would write a known buggy line in a matching context (module docstring).

    Args:
        tokenizer: the model's tokenizer (its vocabulary is decoded once, lazily).
        cases: the fix cases.
        config: matching rule and memo size.

    Attributes:
        stats: counters since construction: ``calls``, ``rows`` (row-steps seen), ``matched_rows``
            (row-steps whose context matched a case), ``forced`` (row-steps masked), ``stuck`` (row-steps
            where no token could continue the fixed line; left unmasked).
    """

    kind = "guard"

    def __init__(self, tokenizer: Any, cases: Sequence[HotfixCase], config: GuardConfig | None = None) -> None:
        self.tokenizer = tokenizer
        self.cases = list(cases)
        self.config = config or GuardConfig()
        self._keys = case_tail_keys(self.cases, self.config.match)
        self._patterns = {c.id: _Pattern.of(c) for c in self.cases}
        self._memo: dict[tuple[int, ...], list[_Pattern]] = {}
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._pad = pad
        self.stats = {"calls": 0, "rows": 0, "matched_rows": 0, "forced": 0, "stuck": 0}
        self.edit_mode = self.config.match.mode == "edit"
        self.rule_set = derive_rules(self.cases, min_name_len=self.config.match.min_name_len) if self.edit_mode \
            else None
        self.rules: list[EditRule] = self.rule_set.rules if self.rule_set else []
        self._anchor_res = [anchor_patterns(r) for r in self.rules]
        self._gaps = [_gaps(r.fixed_text) for r in self.rules]
        self._forced: set[tuple[int, ...]] = set()  # edit mode: row ids at which a fix was forced
        if self.edit_mode:
            self.stats["banned"] = 0

    @classmethod
    def from_file(cls, tokenizer: Any, path: str | os.PathLike, config: GuardConfig | None = None,
                  fmt: str = "auto") -> "BuggyLineGuard":
        from codehotfix.data.loaders import load_cases

        return cls(tokenizer, load_cases(path, fmt), config)

    def matching_cases(self, context: str) -> list[HotfixCase]:
        """The cases the guard watches for after ``context`` (text up to the completion point).

        In edit mode: the cases of the rules relevant to ``context`` (``edits.relevant_rules``); the
        guard itself watches every line for every rule, this only reports where one is expected."""
        if self.edit_mode:
            ids = {i for r in relevant_rules(context, self.rules, self.config.match.tail_lines) for i in r.case_ids}
            return [c for c in self.cases if c.id in ids]
        return [m.case for m in match_cases(context, self.cases, self.config.match, case_keys=self._keys)]

    def matches_any(self, prompts: Sequence[str]) -> bool:
        """Whether the guard can act on these prompts' completions: any prompt's context matches a
        case (context mode), or any rule exists (edit mode: an anchor may appear in generated text)."""
        if self.edit_mode:
            return bool(self.rules)
        return any(self.matching_cases(p) for p in prompts)

    def _patterns_for(self, context_ids: tuple[int, ...]) -> list[_Pattern]:
        found = self._memo.get(context_ids)
        if found is None:
            if len(self._memo) >= self.config.max_cached_contexts:
                self._memo.clear()
            text = self.tokenizer.decode(list(context_ids), skip_special_tokens=True)
            found = [self._patterns[c.id] for c in self.matching_cases(text)]
            self._memo[context_ids] = found
        return found

    def _allowed(self, line: str, patterns: Sequence[_Pattern]) -> list[int] | None:
        """Token ids that keep the current ``line`` on the fixed line, or None if no pattern applies."""
        vocab = _vocab(self.tokenizer)
        done, _, state = normalize_prefix(line)
        plain, newline = vocab.index(state)
        for p in patterns:
            on_fixed = p.fixed.startswith(done)
            if not on_fixed:
                continue
            if len(done) <= p.diverge and not self._about_to_diverge(done, p, plain, newline):
                continue
            rest = p.fixed[len(done):]
            ids = [i for n in range(1, len(rest) + 1) for i in plain.get(rest[:n], ())]
            ids += self._spaces(line, state, p, plain.get("", ()), vocab)
            ids += newline.get(rest, [])
            if not rest:
                ids += vocab.eos
            return ids
        return None

    @staticmethod
    def _spaces(line: str, state: str, p: _Pattern, candidates: Sequence[int], vocab: _Vocab) -> list[int]:
        """The whitespace-only tokens allowed now. Normalization ignores them, so without a rule a forced
        row could scatter spaces anywhere (``yaml.   safe``) or write them until its budget runs out.
        They may bring the indentation up to the fixed line's, and otherwise go only where the fixed
        line has a space, one run at a time."""
        if state:  # inside a string literal spaces are text, never in this bucket
            return []
        if not line.strip():
            return [i for i in candidates if len(line) + len(vocab.pieces[i]) <= p.indent]
        done = normalize_prefix(line)[0]
        return list(candidates) if len(done) in p.gaps and not line[-1].isspace() else []

    @staticmethod
    def _about_to_diverge(done: str, p: _Pattern, plain: dict, newline: dict) -> bool:
        """Whether one token could carry the line from ``done`` past the divergence point along B."""
        rest = p.buggy[len(done):]
        if rest in newline:  # finishes the buggy line and ends it
            return True
        return any(rest[:n] in plain for n in range(p.diverge - len(done) + 1, len(rest) + 1))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Masks, row by row, the tokens that would leave the fixed line (see the module docstring).

        Args:
            input_ids: [rows, seq] prompt and generated tokens of the rows still running (left-padded).
            scores: [rows, vocab] next-token scores.

        Returns:
            The scores, with −inf for masked tokens ([rows, vocab]).
        """
        self.stats["calls"] += 1
        self.stats["rows"] += input_ids.shape[0]
        if not self.cases:
            return scores
        vocab = _vocab(self.tokenizer)
        has_nl = vocab.has_newline.to(input_ids.device)
        if int(input_ids.max()) >= len(has_nl):
            has_nl = torch.cat([has_nl, torch.zeros(int(input_ids.max()) + 1 - len(has_nl), dtype=torch.bool, device=input_ids.device)])
        nl = has_nl[input_ids]
        seq = input_ids.shape[1]
        last = torch.where(nl.any(-1), seq - 1 - nl.flip(-1).int().argmax(-1), torch.full_like(input_ids[:, 0], -1))
        out = scores
        for r, (row, cut) in enumerate(zip(input_ids.tolist(), last.tolist())):
            start = 0
            while start <= cut and row[start] == self._pad:
                start += 1
            if self.edit_mode:
                out = self._edit_row(r, row[start:], row[max(cut, start):], scores, out)
                continue
            patterns = self._patterns_for(tuple(row[start:cut + 1]))
            if not patterns:
                continue
            self.stats["matched_rows"] += 1
            text = self.tokenizer.decode(row[max(cut, start):], skip_special_tokens=True)
            line = text[text.rfind("\n") + 1:]
            allowed = self._allowed(line, patterns)
            if allowed is None:
                continue
            allowed = [i for i in allowed if i < scores.shape[-1]]
            if not allowed:
                self.stats["stuck"] += 1
                continue
            if out is scores:
                out = scores.clone()
            keep = torch.tensor(allowed, dtype=torch.long, device=out.device)
            masked = torch.full_like(out[r], float("-inf"))
            masked[keep] = out[r, keep]
            out[r] = masked
            self.stats["forced"] += 1
        return out

    def _edit_row(self, r: int, ids: list[int], line_ids: list[int], scores: torch.Tensor,
                  out: torch.Tensor) -> torch.Tensor:
        """Edit mode, one row: force or ban per the rules whose anchor ends the current line."""
        text = self.tokenizer.decode(line_ids, skip_special_tokens=True)
        line = text[text.rfind("\n") + 1:]
        decision = self._edit_decision(line, ids, int(scores[r].argmax()))
        if decision is None:
            return out
        kind, tokens = decision
        tokens = [i for i in tokens if i < scores.shape[-1]]
        self.stats["matched_rows"] += 1
        if kind == "force" and not tokens:
            self.stats["stuck"] += 1
            return out
        if out is scores:
            out = scores.clone()
        keep = torch.tensor(tokens, dtype=torch.long, device=out.device)
        if kind == "force":
            masked = torch.full_like(out[r], float("-inf"))
            masked[keep] = out[r, keep]
            out[r] = masked
            self.stats["forced"] += 1
            self._remember(tuple(ids))
        else:
            out[r, keep] = float("-inf")
            self.stats["banned"] += 1
        return out

    def _edit_decision(self, line: str, ids: list[int], top: int) -> tuple[str, list[int]] | None:
        """("force", tokens that continue a fixed span) or ("ban", tokens that write a buggy span), or None.

        At a rule's divergence point (the line ends with anchor + B[:k], k <= D) the tokens that carry
        the line past D along B are the buggy ones: with ``force="always"``, or when ``top`` (the
        model's most likely token) is one of them, only tokens continuing F are kept; otherwise just
        the buggy ones are masked. Once the line is on F (past the anchor), the fix is kept on course
        only if the guard forced it (the row's ids then extend ids remembered at the forced step),
        before D too (a sampled lone "." of a forced ".LANCZOS" must not become ``Image.,``); a line
        the model wrote on its own (``yaml.safe_dump``) is left alone.

        Rule anchors end on a name (``edits.py``, step 6), so a token that glues the anchor's symbol
        to the span's letters (Qwen's '.A' of ``Image.ANTIALIAS``) is read from the name's end:
        '.ANTIALIAS' crosses D along B, '.L' / '.LANCZOS' continue F."""
        vocab = _vocab(self.tokenizer)
        _, _, state = normalize_prefix(line)
        plain, newline = vocab.index(state)
        force: list[int] = []
        ban: list[int] = []
        for rule, res, gaps in zip(self.rules, self._anchor_res, self._gaps):
            d, b, f = rule.diverge, rule.buggy, rule.fixed
            done = self._after_anchor(line, rule, res)
            if done is None:
                continue
            if done and len(done) < len(f) and f.startswith(done) and self._was_forced(ids, len(f) + 4):
                # a fix the guard forced is kept on course, also before D (a lone "." of ".LANCZOS")
                force += self._continue_fixed(line, done, f, gaps, plain, newline, vocab, state)
            elif len(done) <= d and b.startswith(done):
                rest = b[len(done):]
                crossing = [i for n in range(d - len(done) + 1, len(rest) + 1) for i in plain.get(rest[:n], ())]
                crossing += newline.get(rest, [])
                if not crossing:
                    continue
                if self.config.match.force == "always" or top in crossing:
                    force += self._continue_fixed(line, done, f, gaps, plain, newline, vocab, state)
                else:
                    ban += crossing
        if force:
            return "force", sorted(set(force))
        return ("ban", sorted(set(ban))) if ban else None

    @staticmethod
    def _after_anchor(line: str, rule: EditRule, res: Sequence[Any]) -> str | None:
        """The normalized text after the last anchor occurrence from which the line is still on B or
        F (so ``datetime.now(datetime`` inside a forced F does not hide the outer anchor), or None."""
        limit = max(len(rule.buggy), len(rule.fixed))
        for end in reversed(anchor_ends(line, rule, res)):
            done = normalize_prefix(line[end:])[0]
            if rule.buggy.startswith(done) or rule.fixed.startswith(done):
                return done
            if len(done) > limit:  # earlier occurrences only have more text after them
                return None
        return None

    @staticmethod
    def _continue_fixed(line: str, done: str, f: str, gaps: frozenset[int], plain: dict, newline: dict,
                        vocab: _Vocab, state: str) -> list[int]:
        """Tokens after which the text after the anchor is still a prefix of F (or ends the line with F);
        whitespace-only tokens only where F has a space."""
        rest = f[len(done):]
        ids = [i for n in range(1, len(rest) + 1) for i in plain.get(rest[:n], ())]
        ids += newline.get(rest, [])
        space_ok = len(done) in gaps and bool(line) and not line[-1].isspace()
        if space_ok:
            ids += plain.get("", [])
        elif not state:  # normalization drops spaces: a token " afe" would read as "afe" and split a name
            ids = [i for i in ids if not vocab.pieces[i][:1].isspace()]
        return ids

    def _remember(self, ids: tuple[int, ...]) -> None:
        if len(self._forced) >= self.config.max_cached_contexts:
            self._forced.clear()
        self._forced.add(ids)

    def _was_forced(self, ids: list[int], max_back: int) -> bool:
        """Whether the guard forced a fix at an earlier step of this row (at most ``max_back`` tokens ago)."""
        if not self._forced:
            return False
        return any(tuple(ids[:j]) in self._forced for j in range(len(ids) - 1, max(len(ids) - 1 - max_back, 0), -1))

    def info(self) -> dict:
        """What to record next to results: kind, number of cases, matching rule and counters (edit
        mode: the rules in use and the cases that gave none, with the reason)."""
        info = {"kind": self.kind, "cases": len(self.cases), "match": asdict(self.config.match),
                "stats": dict(self.stats)}
        if self.rule_set is not None:
            info.update(self.rule_set.info())
        return info


def _gaps(fixed_text: str) -> frozenset[int]:
    """Positions in the normalized fixed span where the raw one has a space outside strings."""
    gaps, state, done = set(), "", ""
    for ch in fixed_text:
        if ch.isspace() and not state and done:
            gaps.add(len(done))
        piece, _, state = normalize_prefix(ch, state)
        done += piece
    return frozenset(gaps)


def make_guard_processor(tokenizer: Any, cases: Sequence[HotfixCase], prompts: Sequence[str] | None = None,
                         config: GuardConfig | None = None) -> BuggyLineGuard | None:
    """A guard for ``cases``, or None when none of ``prompts`` matches a case (then decoding costs nothing extra).

    Pass ``prompts=None`` for multi-line generation, where a later line may match even if the prompt
    does not.
    """
    guard = BuggyLineGuard(tokenizer, cases, config)
    if prompts is not None and not guard.matches_any(prompts):
        return None
    return guard
