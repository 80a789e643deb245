"""Turn hotfix cases into token tensors and score them with one forward pass.

Each case becomes two sequences that share the context: ``context + fixed line`` and
``context + buggy line`` (each line ends with its newline token, so the model also learns where the
line stops). The context is the prefix, truncated from the left to a token budget. Batches are padded
only to their longest sequence. Only when an objective scores the whole snippet (``snippet_ce``) does
the fixed row go on into the first tokens of the suffix.

``score_batch`` runs the context once, then both lines on top of its key/value cache (the two
sequences share everything before the line, so this halves the work), and applies the output head
only where a loss needs it (the line tokens and the last context positions): with a 152k vocabulary,
[batch, seq, vocab] logits for every position would be most of the memory.

Prompt-learning adapters (prefix/prompt tuning) put virtual tokens in front of the input inside the
PEFT forward, which the fast path bypasses; for them ``score_batch`` runs each ``context + line`` row
through the PEFT forward instead (right-padded, so every real token keeps the position it has in an
unpadded forward) and picks the same log-probs out of the logits.
"""

from __future__ import annotations

import dataclasses
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F

from codehotfix.data.cases import HotfixCase
from codehotfix.models.adapters import is_prompt_learning
from codehotfix.models.compat import cache_kwargs, cache_of
from codehotfix.models.loading import model_device

__all__ = ["EncodedCase", "Batch", "Scores", "encode_case", "collate", "score_batch", "split_model",
           "base_model_view", "reference_context_logprobs", "reference_line_logprobs"]


@dataclass
class EncodedCase:
    """Token ids of one case. ``diverge`` is the index of the first buggy token that differs from
    the fixed line's tokens (tokens before it are shared by both lines, e.g. indentation).
    ``suffix`` holds the first suffix tokens, only when a whole-snippet objective asked for them."""

    case_id: str
    context: list[int]
    fixed: list[int]
    buggy: list[int]
    diverge: int
    suffix: list[int] = field(default_factory=list)


def encode_case(tokenizer: Any, case: HotfixCase, max_context_tokens: int, suffix_tokens: int = 0) -> EncodedCase:
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
    return EncodedCase(case.id, context, fixed, buggy, min(diverge, len(buggy) - 1), suffix)


@dataclass
class Batch:
    """Padded tensors for B cases, laid out so the shared context is computed once.

    The contexts are left-padded to a common width C, so every context ends at column C-1; the
    continuations (fixed and buggy line of each case, interleaved: row 2i fixed, row 2i+1 buggy) are
    right-padded to width L and run on top of the contexts' key/value cache. When the cases carry a
    suffix, the fixed row continues with it and ``suffix_mask`` marks those columns.

    Shapes: ctx_ids/ctx_mask [B, C]; cont_ids/cont_mask [2B, L]; fixed_*/buggy_*/suffix_mask [B, L];
    kl_mask [B, K] marks the last K context positions (each predicting the next context token).
    """

    ctx_ids: torch.Tensor
    ctx_mask: torch.Tensor
    cont_ids: torch.Tensor
    cont_mask: torch.Tensor
    buggy_div_mask: torch.Tensor
    kl_mask: torch.Tensor
    case_ids: list[str]
    suffix_mask: torch.Tensor | None = None

    @property
    def size(self) -> int:
        return len(self.case_ids)

    @property
    def fixed_tgt(self) -> torch.Tensor:
        return self.cont_ids[0::2]

    @property
    def fixed_mask(self) -> torch.Tensor:
        mask = self.cont_mask[0::2].bool()
        return mask if self.suffix_mask is None else mask & ~self.suffix_mask

    @property
    def buggy_tgt(self) -> torch.Tensor:
        return self.cont_ids[1::2]

    @property
    def buggy_mask(self) -> torch.Tensor:
        return self.cont_mask[1::2].bool()

    def num_tokens(self) -> int:
        return int(self.ctx_mask.sum() + self.cont_mask.sum())

    @property
    def device(self) -> torch.device:
        return self.ctx_ids.device

    def to(self, device: torch.device | str) -> "Batch":
        """This batch with every tensor on ``device`` (itself when already there)."""
        device = torch.device(device)
        if self.device == device:
            return self
        moved = {f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                 if isinstance(getattr(self, f.name), torch.Tensor)}
        return dataclasses.replace(self, **moved)


def _pad(rows: Sequence[Sequence[int]], value: int, left: bool = False,
         device: torch.device | str = "cpu") -> torch.Tensor:
    width = max(1, max(len(r) for r in rows))
    if left:
        return torch.tensor([[value] * (width - len(r)) + list(r) for r in rows], dtype=torch.long, device=device)
    return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows], dtype=torch.long, device=device)


def collate(items: Sequence[EncodedCase], pad_id: int, kl_positions: int = 0,
            device: torch.device | str = "cpu") -> Batch:
    """Pads ``items`` into a Batch on ``device``. ``kl_positions`` is how many trailing context
    positions a retain loss compares (0: none)."""
    ctx_ids = _pad([e.context for e in items], pad_id, left=True, device=device)
    ctx_mask = _pad([[1] * len(e.context) for e in items], 0, left=True, device=device)
    conts = [seq for e in items for seq in (e.fixed + e.suffix, e.buggy)]
    line_width = max(len(c) for c in conts)
    div = [[int(j >= e.diverge) for j in range(len(e.buggy))] + [0] * (line_width - len(e.buggy)) for e in items]
    suffix_mask = None
    if any(e.suffix for e in items):
        suffix_mask = _pad([[0] * len(e.fixed) + [1] * len(e.suffix) for e in items], 0, device=device)
        suffix_mask = F.pad(suffix_mask, (0, line_width - suffix_mask.shape[1])).bool()
    width = ctx_ids.shape[1]
    # Column width-1 predicts the line's first token, so the compared context positions are the
    # K columns before it; a position whose next token is padding is not compared.
    k = min(kl_positions, width - 1)
    kl_mask = ctx_mask[:, width - 1 - k:width - 1] * ctx_mask[:, width - k:width] if k > 0 else \
        torch.zeros(len(items), 0, dtype=torch.long, device=device)
    return Batch(
        ctx_ids=ctx_ids,
        ctx_mask=ctx_mask,
        cont_ids=_pad(conts, pad_id, device=device),
        cont_mask=_pad([[1] * len(c) for c in conts], 0, device=device),
        buggy_div_mask=_pad(div, 0, left=False, device=device).bool(),
        kl_mask=kl_mask.bool(),
        case_ids=[e.case_id for e in items],
        suffix_mask=suffix_mask,
    )


@dataclass
class Scores:
    """What the objectives consume; optional fields are None unless an objective needs them.

    Shapes: fixed_logp/buggy_logp/suffix_logp [B, L] (log-prob of each target token, 0 where masked);
    ctx_token_logp [B, C-1] (column c: the context token after column c, given the context up to c);
    ctx_logprobs/ref_ctx_logprobs [B, K, V] full log-distributions at the last context positions;
    ref_fixed_logp/ref_buggy_logp [B, L] the base model's token log-probs of the two lines;
    retain_logprobs [R, T, V], retain_mask [R, T], ref_retain_logp/ref_retain_index [R, T, k] for a
    retain-corpus batch (see ``codehotfix.training.retain``).
    """

    fixed_logp: torch.Tensor
    fixed_mask: torch.Tensor
    buggy_logp: torch.Tensor
    buggy_mask: torch.Tensor
    buggy_div_mask: torch.Tensor
    ctx_logprobs: torch.Tensor | None = None
    ctx_mask: torch.Tensor | None = None
    ref_ctx_logprobs: torch.Tensor | None = None
    suffix_logp: torch.Tensor | None = None
    suffix_mask: torch.Tensor | None = None
    ctx_token_logp: torch.Tensor | None = None
    ctx_token_mask: torch.Tensor | None = None
    ref_fixed_logp: torch.Tensor | None = None
    ref_buggy_logp: torch.Tensor | None = None
    retain_logprobs: torch.Tensor | None = None
    retain_mask: torch.Tensor | None = None
    ref_retain_logp: torch.Tensor | None = None
    ref_retain_index: torch.Tensor | None = None


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


def _token_logp(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits.float(), -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def _scores_from_line_logp(batch: Batch, logp: torch.Tensor) -> Scores:
    """Splits [2B, L] line log-probs into the fixed/buggy (and suffix) views of ``Scores``."""
    fixed = logp[0::2]
    scores = Scores(fixed, batch.fixed_mask, logp[1::2], batch.buggy_mask, batch.buggy_div_mask)
    if batch.suffix_mask is not None:
        scores.fixed_logp = fixed.masked_fill(batch.suffix_mask, 0.0)
        scores.suffix_logp = fixed.masked_fill(~batch.suffix_mask, 0.0)
        scores.suffix_mask = batch.suffix_mask
    return scores


def score_batch(model: Any, batch: Batch, *, with_context: bool = False,
                reference: torch.Tensor | None = None, with_snippet: bool = False) -> Scores:
    """Scores both lines of every case; the context runs once and both lines reuse its cache.

    Args:
        model: a causal LM, optionally PEFT-wrapped.
        batch: from ``collate``.
        with_context: also return log-distributions at the last K context positions (retain losses).
        reference: the base model's log-distributions at those positions ([B, K, V]; see
            ``reference_context_logprobs``), passed through to the objectives.
        with_snippet: also return the context tokens' log-probs (whole-snippet losses).
    """
    score = _score_through_forward if is_prompt_learning(model) else _score_shared_prefix
    batch = batch.to(model_device(model))  # a no-op when the caller collated on the model's device
    scores = score(model, batch, with_context=with_context, with_snippet=with_snippet)
    if scores.ctx_logprobs is not None:
        scores.ref_ctx_logprobs = reference
    return scores


def _score_shared_prefix(model: Any, batch: Batch, *, with_context: bool = False,
                         with_snippet: bool = False) -> Scores:
    """The fast path: the context once, both lines on its key/value cache, the head only where needed."""
    decoder, head = split_model(model)
    out = _run_context(decoder, batch, use_cache=True)
    h_ctx, cache = out.last_hidden_state, cache_of(out)
    cache.batch_repeat_interleave(2)  # row i's context serves rows 2i (fixed) and 2i+1 (buggy)
    ctx_mask2 = batch.ctx_mask.repeat_interleave(2, dim=0)
    width = batch.cont_ids.shape[1]
    positions = ctx_mask2.sum(-1, keepdim=True) + torch.arange(width, device=batch.device)
    h_cont = decoder(input_ids=batch.cont_ids, attention_mask=torch.cat([ctx_mask2, batch.cont_mask], -1),
                     position_ids=positions, **cache_kwargs(cache), use_cache=True).last_hidden_state
    # Token j of a line is predicted by the hidden state before it: the context's last column for
    # j = 0, the line's own column j-1 after that.
    h_pred = torch.cat([h_ctx[:, -1:].repeat_interleave(2, dim=0), h_cont[:, :-1]], dim=1)  # [2B, L, H]
    mask = batch.cont_mask.bool()
    token_logp = _token_logp(head(h_pred[mask]), batch.cont_ids[mask])  # only real line tokens: [N]
    logp = torch.zeros(mask.shape, dtype=token_logp.dtype, device=mask.device).masked_scatter(mask, token_logp)
    scores = _scores_from_line_logp(batch, logp)
    if with_snippet:
        ctx_mask = batch.ctx_mask[:, :-1].bool()  # left padding: a real column is followed by a real one
        ctx_logp = _token_logp(head(h_ctx[:, :-1][ctx_mask]), batch.ctx_ids[:, 1:][ctx_mask])
        scores.ctx_token_logp = torch.zeros(ctx_mask.shape, dtype=ctx_logp.dtype,
                                            device=ctx_mask.device).masked_scatter(ctx_mask, ctx_logp)
        scores.ctx_token_mask = ctx_mask
    if with_context and batch.kl_mask.shape[1] and batch.kl_mask.any():
        scores.ctx_logprobs = F.log_softmax(head(h_ctx[:, _kl_columns(batch)]).float(), dim=-1)
        scores.ctx_mask = batch.kl_mask
    return scores


def _score_through_forward(model: Any, batch: Batch, *, with_context: bool = False,
                           with_snippet: bool = False) -> Scores:
    """The prompt-learning path: every ``context + line`` row goes through the PEFT forward on its
    own (right-padded, no position ids, as in an unpadded forward) and the same log-probs are picked
    out of its logits. The context runs twice per case, so this path is slower."""
    n_ctx = batch.ctx_mask.sum(-1).repeat_interleave(2)  # [2B] context length of each row
    width_c = batch.ctx_ids.shape[1]
    rows = [batch.ctx_ids[r // 2, width_c - int(n_ctx[r]):].tolist() + batch.cont_ids[r][batch.cont_mask[r].bool()].tolist()
            for r in range(2 * batch.size)]
    dev = batch.device
    ids, attn = _pad(rows, 0, device=dev), _pad([[1] * len(r) for r in rows], 0, device=dev)  # pad id: masked
    k = batch.kl_mask.shape[1] if with_context else 0
    first = 0 if with_snippet else max(0, int(n_ctx.min()) - 1 - k)  # leftmost column any loss reads
    keep = ids.shape[1] - first
    with warnings.catch_warnings():
        # PEFT's prefix tuning still passes `past_key_values`, which transformers 5 renamed to `cache`.
        warnings.filterwarnings("ignore", message=".*past_key_values.*deprecated", category=FutureWarning)
        logits = model(input_ids=ids, attention_mask=attn, logits_to_keep=keep).logits[:, -keep:]
    logp_all = torch.log_softmax(logits.float(), -1)  # [2B, keep, V]; column c is input column first + c

    def at(cols: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:  # [R, P] input columns → [R, P, V]
        lp = logp_all[rows]
        idx = (cols - first).clamp(0, keep - 1)  # padding positions point anywhere; they are masked
        return lp.gather(1, idx.unsqueeze(-1).expand(-1, -1, lp.shape[-1]))

    line_cols = n_ctx.unsqueeze(1) - 1 + torch.arange(batch.cont_ids.shape[1], device=dev)  # token j ← column n-1+j
    logp = at(line_cols).gather(-1, batch.cont_ids.unsqueeze(-1)).squeeze(-1)
    scores = _scores_from_line_logp(batch, logp.masked_fill(~batch.cont_mask.bool(), 0.0))
    # Column c of a left-padded context holds raw token c - (C - n): shift maps padded → raw columns.
    fixed_rows, shift = slice(0, None, 2), width_c - n_ctx[0::2].unsqueeze(1)
    if with_snippet:
        ctx_mask = batch.ctx_mask[:, :-1].bool()
        lp = at(torch.arange(width_c - 1, device=dev) - shift, fixed_rows)
        ctx_logp = lp.gather(-1, batch.ctx_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        scores.ctx_token_logp, scores.ctx_token_mask = ctx_logp.masked_fill(~ctx_mask, 0.0), ctx_mask
    if with_context and k and batch.kl_mask.any():
        scores.ctx_logprobs = at(torch.arange(width_c - 1 - k, width_c - 1, device=dev) - shift, fixed_rows)
        scores.ctx_mask = batch.kl_mask
    return scores


@contextmanager
def base_model_view(model: Any, ref_model: Any | None = None) -> Iterator[Any]:
    """Yields the original model to compare with: ``ref_model`` if given (full fine-tuning keeps a
    frozen copy), else ``model`` with its adapter switched off (no second copy)."""
    if ref_model is not None:
        yield ref_model
    elif hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield model
    else:
        raise ValueError("a model without an adapter needs a frozen reference copy (ref_model)")


@torch.no_grad()
def reference_context_logprobs(model: Any, batch: Batch, ref_model: Any | None = None) -> torch.Tensor:
    """Context log-distributions of the base model (adapter disabled, or ``ref_model``), [B, K, V]."""
    with base_model_view(model, ref_model) as base:
        decoder, head = split_model(base)
        batch = batch.to(model_device(base))
        h = _run_context(decoder, batch, use_cache=False).last_hidden_state
    return F.log_softmax(head(h[:, _kl_columns(batch)]).float(), dim=-1)


@torch.no_grad()
def reference_line_logprobs(model: Any, batch: Batch, ref_model: Any | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The base model's token log-probs of the fixed and buggy lines, ([B, L], [B, L]).

    Always the fast path: with the adapter off it is the base model for every method (the inner
    decoder of a prompt-learning model never sees the virtual tokens).
    """
    with base_model_view(model, ref_model) as base:
        scores = _score_shared_prefix(base, batch.to(model_device(base)))
    return scores.fixed_logp, scores.buggy_logp
