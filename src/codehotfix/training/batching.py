"""Turn hotfix cases into token tensors and score them with one forward pass.

Each case becomes two sequences that share the context: ``context + fixed line`` and
``context + buggy line`` (each line ends with its newline token, so the model also learns where the
line stops). The context is the prefix, truncated from the left to a token budget. Batches are padded
only to their longest sequence.

``score_batch`` runs the context once, then both lines on top of its key/value cache (the two
sequences share everything before the line, so this halves the work), and applies the output head
only where a loss needs it (the line tokens and the last context positions): with a 152k vocabulary,
[batch, seq, vocab] logits for every position would be most of the memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from codehotfix.data.cases import HotfixCase

__all__ = ["EncodedCase", "Batch", "Scores", "encode_case", "collate", "score_batch", "split_model",
           "reference_context_logprobs"]


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
    """Padded tensors for B cases, laid out so the shared context is computed once.

    The contexts are left-padded to a common width C, so every context ends at column C-1; the
    continuations (fixed and buggy line of each case, interleaved: row 2i fixed, row 2i+1 buggy) are
    right-padded to width L and run on top of the contexts' key/value cache.

    Shapes: ctx_ids/ctx_mask [B, C]; cont_ids/cont_mask [2B, L]; fixed_*/buggy_* [B, L];
    kl_mask [B, K] marks the last K context positions (each predicting the next context token).
    """

    ctx_ids: torch.Tensor
    ctx_mask: torch.Tensor
    cont_ids: torch.Tensor
    cont_mask: torch.Tensor
    buggy_div_mask: torch.Tensor
    kl_mask: torch.Tensor
    case_ids: list[str]

    @property
    def size(self) -> int:
        return len(self.case_ids)

    @property
    def fixed_tgt(self) -> torch.Tensor:
        return self.cont_ids[0::2]

    @property
    def fixed_mask(self) -> torch.Tensor:
        return self.cont_mask[0::2].bool()

    @property
    def buggy_tgt(self) -> torch.Tensor:
        return self.cont_ids[1::2]

    @property
    def buggy_mask(self) -> torch.Tensor:
        return self.cont_mask[1::2].bool()

    def num_tokens(self) -> int:
        return int(self.ctx_mask.sum() + self.cont_mask.sum())


def _pad(rows: Sequence[Sequence[int]], value: int, left: bool = False) -> torch.Tensor:
    width = max(1, max(len(r) for r in rows))
    if left:
        return torch.tensor([[value] * (width - len(r)) + list(r) for r in rows], dtype=torch.long)
    return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def collate(items: Sequence[EncodedCase], pad_id: int, kl_positions: int = 0) -> Batch:
    """Pads ``items`` into a Batch. ``kl_positions`` is how many trailing context positions a retain
    loss compares (0: none)."""
    ctx_ids = _pad([e.context for e in items], pad_id, left=True)
    ctx_mask = _pad([[1] * len(e.context) for e in items], 0, left=True)
    conts = [seq for e in items for seq in (e.fixed, e.buggy)]
    line_width = max(len(c) for c in conts)
    div = [[int(j >= e.diverge) for j in range(len(e.buggy))] + [0] * (line_width - len(e.buggy)) for e in items]
    width = ctx_ids.shape[1]
    # Column width-1 predicts the line's first token, so the compared context positions are the
    # K columns before it; a position whose next token is padding is not compared.
    k = min(kl_positions, width - 1)
    kl_mask = ctx_mask[:, width - 1 - k:width - 1] * ctx_mask[:, width - k:width] if k > 0 else \
        torch.zeros(len(items), 0, dtype=torch.long)
    return Batch(
        ctx_ids=ctx_ids,
        ctx_mask=ctx_mask,
        cont_ids=_pad(conts, pad_id),
        cont_mask=_pad([[1] * len(c) for c in conts], 0),
        buggy_div_mask=_pad(div, 0, left=False).bool(),
        kl_mask=kl_mask.bool(),
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


def _run_context(decoder: Any, batch: Batch, use_cache: bool) -> Any:
    positions = (batch.ctx_mask.cumsum(-1) - 1).clamp(min=0)
    return decoder(input_ids=batch.ctx_ids, attention_mask=batch.ctx_mask, position_ids=positions,
                   use_cache=use_cache)


def _kl_columns(batch: Batch) -> slice:
    width, k = batch.ctx_ids.shape[1], batch.kl_mask.shape[1]
    return slice(width - 1 - k, width - 1)


def score_batch(model: Any, batch: Batch, *, with_context: bool = False,
                reference: torch.Tensor | None = None) -> Scores:
    """Scores both lines of every case; the context runs once and both lines reuse its cache.

    Args:
        model: a causal LM, optionally PEFT-wrapped.
        batch: from ``collate``.
        with_context: also return log-distributions at the last K context positions (retain losses).
        reference: the base model's log-distributions at those positions ([B, K, V]; see
            ``reference_context_logprobs``), passed through to the objectives.
    """
    decoder, head = split_model(model)
    out = _run_context(decoder, batch, use_cache=True)
    h_ctx, cache = out.last_hidden_state, out.cache
    cache.batch_repeat_interleave(2)  # row i's context serves rows 2i (fixed) and 2i+1 (buggy)
    ctx_mask2 = batch.ctx_mask.repeat_interleave(2, dim=0)
    width = batch.cont_ids.shape[1]
    positions = ctx_mask2.sum(-1, keepdim=True) + torch.arange(width)
    h_cont = decoder(input_ids=batch.cont_ids, attention_mask=torch.cat([ctx_mask2, batch.cont_mask], -1),
                     position_ids=positions, cache=cache, use_cache=True).last_hidden_state
    # Token j of a line is predicted by the hidden state before it: the context's last column for
    # j = 0, the line's own column j-1 after that.
    h_pred = torch.cat([h_ctx[:, -1:].repeat_interleave(2, dim=0), h_cont[:, :-1]], dim=1)  # [2B, L, H]
    mask = batch.cont_mask.bool()
    logits = head(h_pred[mask]).float()  # only real line tokens: [N, V]
    token_logp = torch.log_softmax(logits, -1).gather(-1, batch.cont_ids[mask].unsqueeze(-1)).squeeze(-1)
    logp = torch.zeros(mask.shape, dtype=token_logp.dtype).masked_scatter(mask, token_logp)
    scores = Scores(logp[0::2], batch.fixed_mask, logp[1::2], batch.buggy_mask, batch.buggy_div_mask)
    if with_context and batch.kl_mask.shape[1] and batch.kl_mask.any():
        scores.ctx_logprobs = F.log_softmax(head(h_ctx[:, _kl_columns(batch)]).float(), dim=-1)
        scores.ctx_mask = batch.kl_mask
        scores.ref_ctx_logprobs = reference
    return scores


@torch.no_grad()
def reference_context_logprobs(model: Any, batch: Batch) -> torch.Tensor:
    """Context log-distributions of the base model (adapter disabled), [B, K, V].

    The frozen base model is the reference: the adapter is switched off, no second copy is loaded.
    """
    decoder, head = split_model(model)
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            h = _run_context(decoder, batch, use_cache=False).last_hidden_state
    else:
        h = _run_context(decoder, batch, use_cache=False).last_hidden_state
    return F.log_softmax(head(h[:, _kl_columns(batch)]).float(), dim=-1)
