"""One context pass per case serves the whole evaluation: margins, line/window and split completions.

An evaluation asks three things of each held-out context: the likelihood of both lines (the
margin), a completion of the context (the line and window events) and a completion of the context
plus the lines' shared start (the split event). Run separately, each re-reads the context: three
prefills of ~80 tokens for ~15 tokens of decoding each, and on a CPU the prefills were most of the
evaluation's time (docs/speed.md). Here the contexts of a batch run once through the decoder; the
margins score both lines on one copy of the key/value cache, the completions decode from another,
and the split prompts feed only their few extra tokens on a third.

The batches are the ones ``line_logprobs`` and ``generate_completions`` form (contexts sorted by
length, ``batch_size`` each, seeds ``seed + batch index``), so margins and line/window completions
are the same computations as before, only without the repeated prefill. A split prompt keeps its
context's left cut (``events.split_prompts``: the context's tokens plus the shared start's, also for
contexts longer than ``max_context_tokens``), so it shares the pass whenever its tokens start with the
context's tokens (the usual case: ``split_point`` cuts where the tokens align). The others (an empty
prefix, or a tokenizer that glues the prefix's last newline to the line's indentation) are completed
on their own, from the same tokens the separate path uses.

Not for prompt-learning adapters (their virtual tokens are added in the PEFT forward), logits
processors (they identify rows by their token ids) or other backends: ``rates.evaluate_cases``
takes the separate path for those.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from codehotfix.config import EvalConfig
from codehotfix.data.cases import HotfixCase
from codehotfix.evaluation.backends import hf_complete
from codehotfix.evaluation.events import split_prompts
from codehotfix.evaluation.generation import Completions, Prefilled, complete_batch, encode_prompts, special_token_ids
from codehotfix.models.compat import cache_kwargs, cache_of
from codehotfix.models.loading import model_device
from codehotfix.scoring import collate, encode_case, pad_rows, split_model
from codehotfix.scoring.forward import run_context, score_on_context

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["OnePass", "evaluate_one_pass"]


@dataclass
class OnePass:
    """Per case, in input order: ``completions`` of the context (window completions when a window was
    asked for, else first lines), ``split`` completions (None when no cuts were given), ``margins``
    (log p(fixed line), log p(buggy line)), and how many split prompts shared the context pass."""

    completions: list[Completions]
    split: list[Completions] | None
    margins: list[tuple[float, float]]
    split_shared: int = 0


def _split_state(model: nn.Module, decoder: nn.Module, head: nn.Module, base: Prefilled, rows: list[int],
                 tails: list[list[int]], pad_id: int) -> Prefilled:
    """The split prompts of ``rows`` (batch rows) as a prefilled state: a copy of the context cache
    with each row's extra tokens ``tails`` fed on top, right-padded (the padding is masked, and each
    row's next position counts only its real tokens)."""
    sel = torch.tensor(rows, device=base.logits.device)
    cache = copy.deepcopy(base.cache)
    cache.batch_select_indices(sel)
    mask, next_pos, logits, ids = base.mask[sel], base.next_pos[sel], base.logits[sel].clone(), base.ids[sel]
    width = max(len(t) for t in tails)
    if width:
        dev = mask.device
        tail_ids = pad_rows(tails, pad_id, device=dev)
        tail_mask = pad_rows([[1] * len(t) for t in tails], 0, device=dev)
        hidden = decoder(input_ids=tail_ids, attention_mask=torch.cat([mask, tail_mask], -1),
                         position_ids=next_pos.unsqueeze(-1) + torch.arange(width, device=dev),
                         **cache_kwargs(cache), use_cache=True).last_hidden_state
        lengths = tail_mask.sum(-1)
        fed = lengths > 0
        if fed.any():
            last = hidden[fed, lengths[fed] - 1]  # the hidden state after each row's last real token
            logits[fed] = head(last).float()
        mask, next_pos, ids = torch.cat([mask, tail_mask], -1), next_pos + lengths, torch.cat([ids, tail_ids], -1)
    return Prefilled(model, cache, logits, mask, next_pos, ids)


@torch.no_grad()
def evaluate_one_pass(model: nn.Module, tokenizer: PreTrainedTokenizerBase, cases: Sequence[HotfixCase],
                      cfg: EvalConfig, *, window: bool, split_cuts: Sequence[int] | None = None,
                      window_lines: int = 5, window_max_tokens: int | None = None,
                      progress: bool = True) -> OnePass:
    """Margins and completions of every case from one pass over each context (see the module doc).

    Args:
        cases: the cases as scored (prefix already rewritten, if the caller rewrites prompts).
        cfg: samples, greedy, top_p, temperature, max_new_tokens, batch_size, max_context_tokens, seed.
        window: complete up to ``window_lines`` lines / ``window_max_tokens`` tokens (the window
            event; its first lines are the line event's) instead of the first line only.
        split_cuts: per case, how many characters of the fixed line the split prompt keeps (None: no
            split event); its tokens are cut on the left as ``events.split_prompts`` says.
    """
    pad_id, _ = special_token_ids(tokenizer)
    device = model_device(model)
    decoder, head = split_model(model)
    encoded = [encode_case(tokenizer, c, cfg.max_context_tokens) for c in cases]
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i].context), i))
    lines = dict(top_p=cfg.top_p, temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens,
                 first_line_only=True, max_lines=None)
    first = dict(lines, first_line_only=False, max_lines=window_lines,
                 max_new_tokens=window_max_tokens or 2 * cfg.max_new_tokens) if window else lines
    tails: list[list[int] | None] = [None] * len(cases)
    if split_cuts is not None:
        prompts, keep = split_prompts(tokenizer, cases, split_cuts, cfg.max_context_tokens)
        for i, (ids, enc) in enumerate(zip(encode_prompts(tokenizer, prompts, keep), encoded)):
            n = len(enc.context)
            tails[i] = ids[n:] if ids[:n] == enc.context else None
    completions: list[Completions] = [Completions() for _ in cases]
    split: list[Completions] | None = [Completions() for _ in cases] if split_cuts is not None else None
    margins: list[tuple[float, float]] = [(0.0, 0.0)] * len(cases)
    bar = tqdm(total=len(cases), desc="eval: one pass (margins, completions, split)", unit="prompt",
               disable=not progress, dynamic_ncols=True)
    for b, start in enumerate(range(0, len(order), cfg.batch_size)):
        idx = order[start:start + cfg.batch_size]
        batch = collate([encoded[i] for i in idx], pad_id, device=device)
        out = run_context(decoder, batch, use_cache=True)
        h_ctx, cache = out.last_hidden_state, cache_of(out)
        base = Prefilled(model, cache, head(h_ctx[:, -1]).float(), batch.ctx_mask, batch.ctx_mask.sum(-1),
                         batch.ctx_ids)

        def fresh(state: Prefilled = base) -> Prefilled:
            return Prefilled(model, copy.deepcopy(state.cache), state.logits.clone(), state.mask, state.next_pos,
                             state.ids)

        for i, comp in zip(idx, complete_batch(model, tokenizer, fresh, greedy=cfg.greedy, samples=cfg.samples,
                                               seed=cfg.seed + b, **first)):
            completions[i] = comp
        if split is not None:
            rows = [r for r, i in enumerate(idx) if tails[i] is not None]
            if rows:
                state = _split_state(model, decoder, head, base, rows, [tails[idx[r]] for r in rows], pad_id)
                done = complete_batch(model, tokenizer, lambda s=state: fresh(s), greedy=cfg.greedy,
                                      samples=cfg.samples, seed=cfg.seed + b, **lines)
                for r, comp in zip(rows, done):
                    split[idx[r]] = comp
        # Last, since scoring consumes the cache (it grows by the lines).
        scores = score_on_context(decoder, head, batch, h_ctx, cache)
        for i, pair in zip(idx, zip(scores.fixed_logp.sum(-1).tolist(), scores.buggy_logp.sum(-1).tolist())):
            margins[i] = pair
        bar.update(len(idx))
    bar.close()
    shared = sum(t is not None for t in tails) if split_cuts is not None else 0
    if split is not None and shared < len(cases):
        # Split prompts whose tokens do not extend their context's: completed on their own.
        rest = [i for i, t in enumerate(tails) if t is None]
        done = hf_complete(model, tokenizer, [prompts[i] for i in rest], cfg, progress=progress,
                           desc="eval: split event (rest)", max_context_tokens=[keep[i] for i in rest])
        for i, comp in zip(rest, done):
            split[i] = comp
    return OnePass(completions, split, margins, shared)
