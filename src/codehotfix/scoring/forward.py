"""Shared-prefix scoring: one forward pass gives the token log-probs of both lines of every case.

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

import math
import warnings
from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from codehotfix.models.adapters import is_prompt_learning
from codehotfix.models.compat import cache_kwargs, cache_of, cache_rows
from codehotfix.models.loading import model_device
from codehotfix.scoring.batch import Batch, pad_rows
from codehotfix.scoring.scores import Scores

if TYPE_CHECKING:
    from transformers.modeling_outputs import BaseModelOutputWithPast

__all__ = ["split_model", "score_batch", "score_shared_prefix", "score_on_context", "score_packed", "run_context",
           "kl_columns", "pack_rows", "line_groups"]


def split_model(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """Returns (decoder, output head) of a causal LM, PEFT-wrapped or not.

    LoRA layers are injected in place, so calling the inner decoder still applies the adapter, and
    ``disable_adapter()`` on the PEFT model still turns it off.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = getattr(base, base.base_model_prefix)
    return decoder, base.get_output_embeddings()


def run_context(decoder: nn.Module, batch: Batch, use_cache: bool) -> BaseModelOutputWithPast:
    """The decoder on the batch's left-padded contexts (positions count real tokens only)."""
    positions = (batch.ctx_mask.cumsum(-1) - 1).clamp(min=0)
    return decoder(input_ids=batch.ctx_ids, attention_mask=batch.ctx_mask, position_ids=positions,
                   use_cache=use_cache)


def kl_columns(batch: Batch) -> slice:
    """The context columns a retain loss compares: the K before the last one (see ``collate``)."""
    width, k = batch.ctx_ids.shape[1], batch.kl_mask.shape[1]
    return slice(width - 1 - k, width - 1)


# Rows of hidden states the output head turns into logits at once when no gradient is kept: 2,048
# rows × 151,936 vocabulary entries is ~1.2 GB in float32. An evaluation batch of ordinary lines
# stays under it (one product, as before); a case whose "line" is thousands of tokens (a generated
# table, a long string literal) is scored in slices instead of asking for tens of GB at once.
HEAD_ROWS = 2048


def _token_logp(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits.float(), -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def _head_logp(head: nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) of each row of ``hidden`` [N, H] under the output head: [N]. With gradients the
    logits are kept for the backward pass anyway, so it is one product; without, ``HEAD_ROWS`` rows
    at a time bound the memory."""
    if torch.is_grad_enabled() or hidden.shape[0] <= HEAD_ROWS:
        return _token_logp(head(hidden), targets)
    return torch.cat([_token_logp(head(hidden[i:i + HEAD_ROWS]), targets[i:i + HEAD_ROWS])
                      for i in range(0, hidden.shape[0], HEAD_ROWS)])


def _scores_from_line_logp(batch: Batch, logp: torch.Tensor) -> Scores:
    """Splits [2B, L] line log-probs into the fixed/buggy (and suffix) views of ``Scores``."""
    fixed = logp[0::2]
    scores = Scores(fixed, batch.fixed_mask, logp[1::2], batch.buggy_mask, batch.buggy_div_mask,
                    buggy_diff_mask=batch.buggy_diff_mask)
    if batch.suffix_mask is not None:
        scores.fixed_logp = fixed.masked_fill(batch.suffix_mask, 0.0)
        scores.suffix_logp = fixed.masked_fill(~batch.suffix_mask, 0.0)
        scores.suffix_mask = batch.suffix_mask
    return scores


def score_batch(model: nn.Module, batch: Batch, *, with_context: bool = False,
                reference: torch.Tensor | None = None, with_snippet: bool = False, with_suffix: bool = False,
                pack: bool = False) -> Scores:
    """Scores both lines of every case; the context runs once and both lines reuse its cache.

    Args:
        model: a causal LM, optionally PEFT-wrapped.
        batch: from ``collate``.
        with_context: also return log-distributions at the last K context positions (retain losses).
        reference: the base model's log-distributions at those positions ([B, K, V]; see
            ``reference_context_logprobs``), passed through to the objectives.
        with_snippet: also return the context tokens' log-probs (whole-snippet losses).
        with_suffix: also return the full log-distributions at the suffix positions after the fixed
            line (``Scores.suffix_logprobs``, the ``kl_suffix`` retain loss).
        pack: one pass over packed rows instead of the padded layout (``score_packed``); same
            scores up to rounding. Prompt-learning adapters keep their own path either way.
    """
    score = _score_through_forward if is_prompt_learning(model) else score_packed if pack else score_shared_prefix
    batch = batch.to(model_device(model))  # a no-op when the caller collated on the model's device
    scores = score(model, batch, with_context=with_context, with_snippet=with_snippet, with_suffix=with_suffix)
    if scores.ctx_logprobs is not None:
        scores.ref_ctx_logprobs = reference
    return scores


def score_shared_prefix(model: nn.Module, batch: Batch, *, with_context: bool = False,
                        with_snippet: bool = False, with_suffix: bool = False) -> Scores:
    """The fast path: the context once, both lines on its key/value cache, the head only where needed.

    Called directly (not through ``score_batch``) it scores with the inner decoder even for a
    prompt-learning model, which is then the base model.
    """
    decoder, head = split_model(model)
    out = run_context(decoder, batch, use_cache=True)
    return score_on_context(decoder, head, batch, out.last_hidden_state, cache_of(out), with_context=with_context,
                            with_snippet=with_snippet, with_suffix=with_suffix)


def score_on_context(decoder: nn.Module, head: nn.Module, batch: Batch, h_ctx: torch.Tensor, cache: object, *,
                     with_context: bool = False, with_snippet: bool = False, with_suffix: bool = False) -> Scores:
    """``score_shared_prefix`` after ``run_context``: both lines on the contexts' key/value ``cache``
    (consumed: it grows by the lines) and hidden states ``h_ctx``. The evaluation calls it on a copy
    of a cache its generations also start from, so one context pass serves both."""
    cache.batch_repeat_interleave(2)  # row i's context serves rows 2i (fixed) and 2i+1 (buggy)
    ctx_mask2 = batch.ctx_mask.repeat_interleave(2, dim=0)
    width = batch.cont_ids.shape[1]
    positions = ctx_mask2.sum(-1, keepdim=True) + torch.arange(width, device=batch.device)
    lengths = batch.cont_mask.sum(-1).tolist()
    groups = line_groups(lengths) if not torch.is_grad_enabled() else [list(range(len(lengths)))]
    subsets = [cache_rows(cache, torch.tensor(g, device=batch.device)) for g in groups] if len(groups) > 1 else None
    if subsets is None or any(c is None for c in subsets):
        h_cont = decoder(input_ids=batch.cont_ids, attention_mask=torch.cat([ctx_mask2, batch.cont_mask], -1),
                         position_ids=positions, **cache_kwargs(cache), use_cache=True).last_hidden_state
    else:
        h_cont = None
        for rows, sub in zip(groups, subsets):
            w = max(lengths[r] for r in rows)
            sel = torch.tensor(rows, device=batch.device)
            h = decoder(input_ids=batch.cont_ids[sel, :w],
                        attention_mask=torch.cat([ctx_mask2[sel], batch.cont_mask[sel, :w]], -1),
                        position_ids=positions[sel, :w], **cache_kwargs(sub), use_cache=True).last_hidden_state
            if h_cont is None:
                h_cont = h.new_zeros(len(lengths), width, h.shape[-1])
            h_cont[sel, :w] = h
    return _scores_from_hidden(head, batch, h_ctx, h_cont, with_context=with_context, with_snippet=with_snippet,
                               with_suffix=with_suffix)


# What one more forward call costs beside its tokens, in token positions: on the 2-core CPU a call
# spends ~60 ms reading the weights, about what 25 positions of the 0.5B model cost (docs/speed.md).
CALL_TOKENS = 32


def line_groups(lengths: Sequence[int], call_tokens: int = CALL_TOKENS, max_rows: int | None = None) -> list[list[int]]:
    """Rows of ``lengths`` (tokens, each row padded to its group's longest) grouped so that padded
    positions plus ``call_tokens`` per group are fewest, at most ``max_rows`` rows a group: the rows
    sorted by length, cut where an exact search over the cut points says. Lines of one evaluation
    batch run from 3 to ~40 tokens; padded to the longest, 60% of the positions scored were padding
    (docs/speed.md). The evaluation groups its contexts and split prompts the same way."""
    order = sorted(range(len(lengths)), key=lambda r: (lengths[r], r))
    n = len(order)
    best, cut = [0] + [math.inf] * n, [0] * (n + 1)
    for j in range(1, n + 1):  # best[j]: cheapest grouping of the j shortest rows
        for i in range(max(0, j - max_rows) if max_rows else 0, j):
            cost = best[i] + (j - i) * lengths[order[j - 1]] + call_tokens
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], n
    while j > 0:
        groups.append(sorted(order[cut[j]:j]))
        j = cut[j]
    return groups[::-1]


def _scores_from_hidden(head: nn.Module, batch: Batch, h_ctx: torch.Tensor, h_cont: torch.Tensor, *,
                        with_context: bool, with_snippet: bool, with_suffix: bool = False) -> Scores:
    """``Scores`` from the decoder's hidden states in the batch's padded layout: ``h_ctx`` [B, C, H]
    (left-padded contexts) and ``h_cont`` [2B, L, H] (the lines, right-padded). What the padding
    columns hold does not matter: every loss reads real tokens only."""
    # Token j of a line is predicted by the hidden state before it: the context's last column for
    # j = 0, the line's own column j-1 after that.
    h_pred = torch.cat([h_ctx[:, -1:].repeat_interleave(2, dim=0), h_cont[:, :-1]], dim=1)  # [2B, L, H]
    mask = batch.cont_mask.bool()
    token_logp = _head_logp(head, h_pred[mask], batch.cont_ids[mask])  # only real line tokens: [N]
    logp = torch.zeros(mask.shape, dtype=token_logp.dtype, device=mask.device).masked_scatter(mask, token_logp)
    scores = _scores_from_line_logp(batch, logp)
    if with_snippet:
        ctx_mask = batch.ctx_mask[:, :-1].bool()  # left padding: a real column is followed by a real one
        ctx_logp = _head_logp(head, h_ctx[:, :-1][ctx_mask], batch.ctx_ids[:, 1:][ctx_mask])
        scores.ctx_token_logp = torch.zeros(ctx_mask.shape, dtype=ctx_logp.dtype,
                                            device=ctx_mask.device).masked_scatter(ctx_mask, ctx_logp)
        scores.ctx_token_mask = ctx_mask
    if with_context and batch.kl_mask.shape[1] and batch.kl_mask.any():
        scores.ctx_logprobs = F.log_softmax(head(h_ctx[:, kl_columns(batch)]).float(), dim=-1)
        scores.ctx_mask = batch.kl_mask
    if with_suffix and batch.suffix_mask is not None:
        # The states that predict each suffix token (the fixed row's, even rows), in suffix_mask's order.
        scores.suffix_logprobs = F.log_softmax(head(h_pred[0::2][batch.suffix_mask]).float(), dim=-1)
    return scores


# Packed rows hold about this many tokens each. Attention inside a row is dense, so its cost per
# token grows with the row: at a few hundred tokens it is a few percent of the matrix products of the
# default model, while padding wasted about 40% of the tokens of a pack batch (docs/speed.md, "Packed
# training batches").
PACK_ROW_TOKENS = 384


def pack_rows(lengths: Sequence[int], row_tokens: int = PACK_ROW_TOKENS) -> list[list[int]]:
    """Groups items of ``lengths`` into ``ceil(total / row_tokens)`` rows (at most one per item) of
    nearly equal length, the longest item first into the shortest row; returns each row's item
    indices. Every row is padded to the longest, so rows of equal length waste least."""
    n_rows = min(len(lengths), max(1, math.ceil(sum(lengths) / row_tokens)))
    rows: list[list[int]] = [[] for _ in range(n_rows)]
    filled = [0] * n_rows
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        r = min(range(n_rows), key=filled.__getitem__)
        rows[r].append(i)
        filled[r] += lengths[i]
    return [row for row in rows if row]


def score_packed(model: nn.Module, batch: Batch, *, with_context: bool = False, with_snippet: bool = False,
                 with_suffix: bool = False, row_tokens: int = PACK_ROW_TOKENS) -> Scores:
    """The same scores as ``score_shared_prefix`` from one decoder pass over packed rows, no padding.

    Each case becomes one segment ``context, fixed line (+ suffix), buggy line``: both lines take the
    positions after the context and attend to it, never to each other, through a block mask (a 4-D
    mask the model uses as given). Segments are dealt into rows of about ``row_tokens``
    (``pack_rows``). The padded layout of ``score_shared_prefix`` spends compute on padding to the
    longest context and the longest line of the batch (about 40% of a pack batch's positions); this
    pass spends it only on real tokens and on attention inside a row. Not for prompt-learning adapters (``score_batch``
    keeps them on their own path).
    """
    decoder, head = split_model(model)
    dev = batch.device
    n_ctx = batch.ctx_mask.sum(-1).tolist()
    n_cont = batch.cont_mask.sum(-1).tolist()  # row 2i fixed (+ suffix), 2i+1 buggy
    width_c, width_l = batch.ctx_ids.shape[1], batch.cont_ids.shape[1]
    seg_len = [n_ctx[i] + n_cont[2 * i] + n_cont[2 * i + 1] for i in range(batch.size)]
    rows = pack_rows(seg_len, row_tokens)
    width = max(sum(seg_len[i] for i in row) for row in rows)
    # The layout is bookkeeping on the host (explicit device: the default device may be another one).
    host = torch.device("cpu")
    ids = torch.zeros(len(rows), width, dtype=torch.long, device=host)
    pos = torch.zeros(len(rows), width, dtype=torch.long, device=host)
    case = torch.full((len(rows), width), -1, dtype=torch.long, device=host)  # -1: padding
    part = torch.zeros(len(rows), width, dtype=torch.long, device=host)  # 0 context, 1 fixed, 2 buggy
    # Where each padded-layout token lives in the packed rows (flat index row * width + column);
    # padding points at 0, read but never used by a loss.
    ctx_at = torch.zeros(batch.size, width_c, dtype=torch.long, device=host)
    cont_at = torch.zeros(2 * batch.size, width_l, dtype=torch.long, device=host)
    ctx_ids, cont_ids = batch.ctx_ids.cpu(), batch.cont_ids.cpu()
    for r, row in enumerate(rows):
        col = 0
        for i in row:
            n = n_ctx[i]
            pieces = [(0, ctx_ids[i, width_c - n:], 0), (1, cont_ids[2 * i, :n_cont[2 * i]], n),
                      (2, cont_ids[2 * i + 1, :n_cont[2 * i + 1]], n)]
            for kind, tokens, first in pieces:
                k = len(tokens)
                span = slice(col, col + k)
                ids[r, span], case[r, span], part[r, span] = tokens, i, kind
                pos[r, span] = torch.arange(first, first + k, device=host)
                flat = r * width + torch.arange(col, col + k, device=host)
                if kind == 0:
                    ctx_at[i, width_c - k:] = flat
                else:
                    cont_at[2 * i + kind - 1, :k] = flat
                col += k
    # Query q sees key k when both are tokens of one case, k is not after q, and k is context or
    # the same line as q; padding sees itself only (a row with no key would give NaN).
    same = (case[:, :, None] == case[:, None, :]) & (case[:, :, None] >= 0)
    context_or_same_line = (part[:, None, :] == 0) | (part[:, None, :] == part[:, :, None])
    seen = same & (pos[:, None, :] <= pos[:, :, None]) & context_or_same_line
    seen |= torch.eye(width, dtype=torch.bool, device=host)
    dtype = next(decoder.parameters()).dtype
    # Additive form: every attention implementation (eager adds the mask, SDPA accepts either) reads it.
    mask = torch.zeros(seen.shape, dtype=dtype, device=host).masked_fill(~seen, torch.finfo(dtype).min)[:, None]
    hidden = decoder(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev),
                     use_cache=False).last_hidden_state
    flat = hidden.reshape(-1, hidden.shape[-1])
    h_ctx = flat[ctx_at.to(dev)]  # [B, C, H]
    h_cont = flat[cont_at.to(dev)]  # [2B, L, H]
    return _scores_from_hidden(head, batch, h_ctx, h_cont, with_context=with_context, with_snippet=with_snippet,
                               with_suffix=with_suffix)


def _score_through_forward(model: nn.Module, batch: Batch, *, with_context: bool = False,
                           with_snippet: bool = False, with_suffix: bool = False) -> Scores:
    """The prompt-learning path: every ``context + line`` row goes through the PEFT forward on its
    own (right-padded, no position ids, as in an unpadded forward) and the same log-probs are picked
    out of its logits. The context runs twice per case, so this path is slower."""
    n_ctx = batch.ctx_mask.sum(-1).repeat_interleave(2)  # [2B] context length of each row
    width_c = batch.ctx_ids.shape[1]
    rows = [batch.ctx_ids[r // 2, width_c - int(n_ctx[r]):].tolist() + batch.cont_ids[r][batch.cont_mask[r].bool()].tolist()
            for r in range(2 * batch.size)]
    dev = batch.device
    ids, attn = pad_rows(rows, 0, device=dev), pad_rows([[1] * len(r) for r in rows], 0, device=dev)  # pad id: masked
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
    line_dists = at(line_cols)  # [2B, L, V]
    logp = line_dists.gather(-1, batch.cont_ids.unsqueeze(-1)).squeeze(-1)
    scores = _scores_from_line_logp(batch, logp.masked_fill(~batch.cont_mask.bool(), 0.0))
    if with_suffix and batch.suffix_mask is not None:
        scores.suffix_logprobs = line_dists[0::2][batch.suffix_mask]
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
