"""Hotfix cases as token ids: the context, the fixed and the buggy line, and where the lines part.

Each case becomes two sequences that share the context: ``context + fixed line`` and ``context +
buggy line`` (each line ends with its newline token, so the model also learns where the line
stops). The context is the prefix, truncated from the left to a token budget. Only when an objective
scores the suffix (``snippet_ce``, ``suffix_ce``) does the case also carry the first tokens of its suffix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codehotfix.data.cases import HotfixCase
from codehotfix.errors import DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["EncodedCase", "encode_case", "LINE_TOKEN_LIMIT", "within_line_limit"]

logger = logging.getLogger(__name__)

# Training and evaluation leave out a case whose fixed or buggy line is longer than this many
# tokens, say which, and record it. Why: mined fixes include generated "lines" such as a
# 58,000-character string literal (one ManySStuBs4J fix in Guava), and a batch holding one needs
# logits and activations of rows × line tokens (× the 152k vocabulary for the logits): a training
# process was killed for memory on a 24 GB machine. Real single-line fixes are far shorter (the
# longest of the other 512-fix Java samples: about 520 characters a line).
LINE_TOKEN_LIMIT = 256


@dataclass
class EncodedCase:
    """Token ids of one case. ``diverge`` is the index of the first buggy token that differs from
    the fixed line's tokens (tokens before it are shared by both lines, e.g. indentation).
    ``converge`` is the index of the first buggy token of the token suffix both lines share
    (``(fh)`` and the newline in ``yaml.load(fh)`` → ``yaml.safe_load(fh)``); it is at least
    ``diverge + 1``, so ``buggy[diverge:converge]`` — the tokens only the buggy line has — is never
    empty. ``suffix`` holds the first suffix tokens, only when an objective that scores them asked."""

    case_id: str
    context: list[int]
    fixed: list[int]
    buggy: list[int]
    diverge: int
    converge: int
    suffix: list[int] = field(default_factory=list)


def encode_case(tokenizer: PreTrainedTokenizerBase, case: HotfixCase, max_context_tokens: int,
                suffix_tokens: int = 0) -> EncodedCase:
    """Tokenizes ``case``; the context keeps its last ``max_context_tokens`` tokens and the suffix its
    first ``suffix_tokens`` (0: no suffix).

    Context and lines are tokenized separately and concatenated, exactly as the model sees them at
    generation time (prompt tokens, then generated tokens).
    """
    context = tokenizer(case.prefix, add_special_tokens=False)["input_ids"] if case.prefix else []
    context = context[-max_context_tokens:] if max_context_tokens > 0 else context
    if not context:
        # Nothing would predict the line's first token; start from the model's start/end token.
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        context = [start]
    fixed = tokenizer(case.fixed + "\n", add_special_tokens=False)["input_ids"]
    buggy = tokenizer(case.buggy + "\n", add_special_tokens=False)["input_ids"]
    diverge = 0
    while diverge < min(len(fixed), len(buggy)) and fixed[diverge] == buggy[diverge]:
        diverge += 1
    suffix = []
    if suffix_tokens > 0 and case.suffix:
        suffix = tokenizer(case.suffix, add_special_tokens=False)["input_ids"][:suffix_tokens]
    diverge_at = min(diverge, len(buggy) - 1)
    return EncodedCase(case.id, context, fixed, buggy, diverge_at, _converge(fixed, buggy, diverge, diverge_at), suffix)


def _converge(fixed: list[int], buggy: list[int], diverge: int, diverge_at: int) -> int:
    """Where the token suffix ``fixed`` and ``buggy`` share starts, as an index into ``buggy``.

    The shared suffix may not reach back into the shared prefix (``diverge`` tokens). For buggy
    ``f(a, b)`` and fixed ``f(a)`` the lines share ``f(a`` at the start and ``)`` plus the newline at
    the end, and the buggy line's own tokens ``, b`` lie between. For buggy ``f(a)`` and fixed
    ``f(a, b)`` nothing lies between (the buggy line is the fixed one cut short); the one token at
    ``diverge_at``, the ``)`` where the buggy line ends early, is kept.
    """
    room = min(len(fixed), len(buggy)) - diverge
    shared = 0
    while shared < room and fixed[-1 - shared] == buggy[-1 - shared]:
        shared += 1
    return max(diverge_at + 1, len(buggy) - shared)


def within_line_limit(encoded: list[EncodedCase], what: str) -> tuple[list[EncodedCase], list[dict[str, Any]]]:
    """The cases whose lines fit ``LINE_TOKEN_LIMIT``, and a record of the others (logged as a
    warning that names them; ``what`` says who leaves them out, e.g. "training").

    Raises:
        DataError: no case fits.
    """
    keep, long = [], []
    for e in encoded:
        (long if max(len(e.fixed), len(e.buggy)) > LINE_TOKEN_LIMIT else keep).append(e)
    left_out = [{"id": e.case_id, "fixed_tokens": len(e.fixed), "buggy_tokens": len(e.buggy)} for e in long]
    if left_out:
        named = ", ".join(f"{e.case_id} ({max(len(e.fixed), len(e.buggy))} tokens)" for e in long[:5])
        more = f" and {len(left_out) - 5} more" if len(left_out) > 5 else ""
        if not keep:
            raise DataError(f"{what}: every case has a line over {LINE_TOKEN_LIMIT} tokens: {named}{more}")
        logger.warning("%s leaves out %d of %d cases, whose fixed or buggy line is over %d tokens: %s%s",
                       what, len(left_out), len(encoded), LINE_TOKEN_LIMIT, named, more)
    return keep, left_out
