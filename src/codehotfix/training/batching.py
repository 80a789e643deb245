"""Turn hotfix cases into token tensors and score them with one forward pass.

Each case becomes two sequences that share the context: ``context + fixed line`` and
``context + buggy line`` (each line ends with its newline token, so the model also learns where the
line stops). The context is the prefix, truncated from the left to a token budget. Batches are padded
only to their longest sequence.

``score_batch`` runs the decoder once over both sequences and applies the output head only at the
positions a loss needs (the line tokens and the last context positions), which avoids computing
[batch, seq, vocab] logits for every position: with a 152k vocabulary that is most of the memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from codehotfix.data.cases import HotfixCase

__all__ = ["EncodedCase", "Batch", "Scores", "encode_case", "collate", "score_batch", "split_model"]


@dataclass
class EncodedCase:
    """Token ids of one case. ``diverge`` is the index of the first buggy token that differs from
    the fixed line's tokens (tokens before it are shared by both lines, e.g. indentation)."""

    case_id: str
    context: list[int]
    fixed: list[int]
    buggy: list[int]
    diverge: int


def encode_case(tokenizer: Any, case: HotfixCase, max_context_tokens: int) -> EncodedCase:
    """Tokenizes ``case``; the context keeps its last ``max_context_tokens`` tokens.

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
    return EncodedCase(case.id, context, fixed, buggy, min(diverge, len(buggy) - 1))


@dataclass
class Batch:
    """Padded tensors for B cases (2B sequences: rows [0, B) fixed, rows [B, 2B) buggy).

    Shapes: input_ids/attention_mask [2B, T]; *_pos/*_tgt/*_mask [B, L*]; ctx_pos/ctx_mask [B, K].
    A position p holds the logits that predict token p + 1.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    fixed_pos: torch.Tensor
    fixed_tgt: torch.Tensor
    fixed_mask: torch.Tensor
    buggy_pos: torch.Tensor
    buggy_tgt: torch.Tensor
    buggy_mask: torch.Tensor
    buggy_div_mask: torch.Tensor
    ctx_pos: torch.Tensor
    ctx_mask: torch.Tensor
    context_len: torch.Tensor
    case_ids: list[str]

    @property
    def size(self) -> int:
        return len(self.case_ids)

    def num_tokens(self) -> int:
        return int(self.attention_mask.sum())


def _pad(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    width = max(1, max(len(r) for r in rows))
    return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def collate(items: Sequence[EncodedCase], pad_id: int, kl_positions: int = 0) -> Batch:
    """Pads ``items`` into a Batch. ``kl_positions`` is how many trailing context positions to keep
    for a retain loss (0 keeps none)."""
    seqs = [e.context + e.fixed for e in items] + [e.context + e.buggy for e in items]
    ids = _pad(seqs, pad_id)
    mask = _pad([[1] * len(s) for s in seqs], 0)
    fixed_pos, fixed_tgt, buggy_pos, buggy_tgt, div, ctx_pos = [], [], [], [], [], []
    for e in items:
        c = len(e.context)
        fixed_pos.append([c - 1 + j for j in range(len(e.fixed))])
        fixed_tgt.append(e.fixed)
        buggy_pos.append([c - 1 + j for j in range(len(e.buggy))])
        buggy_tgt.append(e.buggy)
        div.append([int(j >= e.diverge) for j in range(len(e.buggy))])
        # Positions 0 .. c-2 predict context tokens; c-1 predicts the line and is not "context".
        ctx_pos.append(list(range(max(0, c - 1 - kl_positions), c - 1)) if kl_positions else [])
    return Batch(
        input_ids=ids,
        attention_mask=mask,
        fixed_pos=_pad(fixed_pos, 0),
        fixed_tgt=_pad(fixed_tgt, pad_id),
        fixed_mask=_pad([[1] * len(p) for p in fixed_pos], 0).bool(),
        buggy_pos=_pad(buggy_pos, 0),
        buggy_tgt=_pad(buggy_tgt, pad_id),
        buggy_mask=_pad([[1] * len(p) for p in buggy_pos], 0).bool(),
        buggy_div_mask=_pad(div, 0).bool(),
        ctx_pos=_pad(ctx_pos, 0),
        ctx_mask=_pad([[1] * len(p) for p in ctx_pos], 0).bool(),
        context_len=torch.tensor([len(e.context) for e in items]),
        case_ids=[e.case_id for e in items],
    )


@dataclass
class Scores:
    """What the objectives consume. Shapes: *_logp [B, L] (log-prob of each target token, 0 where
    masked); ctx_logprobs/ref_ctx_logprobs [B, K, V] full log-distributions at context positions."""

    fixed_logp: torch.Tensor
    fixed_mask: torch.Tensor
    buggy_logp: torch.Tensor
    buggy_mask: torch.Tensor
    buggy_div_mask: torch.Tensor
    ctx_logprobs: torch.Tensor | None = None
    ctx_mask: torch.Tensor | None = None
    ref_ctx_logprobs: torch.Tensor | None = None


def split_model(model: Any) -> tuple[Any, Any]:
    """Returns (decoder, output head) of a causal LM, PEFT-wrapped or not.

    LoRA layers are injected in place, so calling the inner decoder still applies the adapter, and
    ``disable_adapter()`` on the PEFT model still turns it off.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = getattr(base, base.base_model_prefix)
    return decoder, base.get_output_embeddings()


def _gather_logp(hidden: torch.Tensor, head: Any, pos: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    rows = torch.arange(hidden.shape[0]).unsqueeze(1)
    logits = head(hidden[rows, pos]).float()  # [B, L, V]
    return torch.log_softmax(logits, dim=-1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)


def _ctx_logprobs(hidden: torch.Tensor, head: Any, pos: torch.Tensor) -> torch.Tensor:
    rows = torch.arange(hidden.shape[0]).unsqueeze(1)
    return F.log_softmax(head(hidden[rows, pos]).float(), dim=-1)


def score_batch(model: Any, batch: Batch, *, with_context: bool = False, with_reference: bool = False) -> Scores:
    """One forward pass over a batch; returns per-token log-probs of both lines (and, if asked,
    the context distributions with the adapter on and off).

    Args:
        model: a causal LM, optionally PEFT-wrapped.
        batch: from ``collate``.
        with_context: also return log-distributions at ``batch.ctx_pos`` (for retain losses).
        with_reference: also return them with the adapter disabled, under no_grad (the frozen
            base model is the reference: no second copy is loaded).
    """
    decoder, head = split_model(model)
    b = batch.size
    hidden = decoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    fixed_logp = _gather_logp(hidden[:b], head, batch.fixed_pos, batch.fixed_tgt) * batch.fixed_mask
    buggy_logp = _gather_logp(hidden[b:], head, batch.buggy_pos, batch.buggy_tgt) * batch.buggy_mask
    scores = Scores(fixed_logp, batch.fixed_mask, buggy_logp, batch.buggy_mask, batch.buggy_div_mask)
    if with_context and batch.ctx_pos.shape[1] and batch.ctx_mask.any():
        scores.ctx_logprobs = _ctx_logprobs(hidden[:b], head, batch.ctx_pos)
        scores.ctx_mask = batch.ctx_mask
        if with_reference:
            scores.ref_ctx_logprobs = reference_context_logprobs(model, batch)
    return scores


@torch.no_grad()
def reference_context_logprobs(model: Any, batch: Batch) -> torch.Tensor:
    """Context log-distributions of the base model (adapter disabled), [B, K, V]."""
    decoder, head = split_model(model)
    b, width = batch.size, int(batch.context_len.max())
    ids, mask = batch.input_ids[:b, :width], batch.attention_mask[:b, :width]
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
    else:
        hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
    return _ctx_logprobs(hidden, head, batch.ctx_pos)
