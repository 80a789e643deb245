"""One context pass per case serves the whole evaluation: margins, line/window and split completions.

An evaluation asks three things of each held-out context: the likelihood of both lines (the
margin), a completion of the context (the line and window events) and a completion of the context
plus the lines' shared start (the split event). Run separately, each re-reads the context: three
prefills of ~80 tokens for ~15 tokens of decoding each, and on a CPU the prefills were most of the
evaluation's time (docs/speed.md). Here the contexts of a batch run once through the decoder; the
margins score both lines on one copy of the key/value cache, the completions decode from another,
and the split prompts feed only their few extra tokens on a third.

Contexts are prefilled in batches sorted by length: for a greedy evaluation, cut where lengths
jump (``scoring.forward.line_groups``, at most ``batch_size`` each), else ``batch_size`` each. Their
greedy completions are then decoded together, up to ``DECODE_ROWS`` prompts in one batch
(``generation.concat_prefilled``): decoding a batch on a CPU costs a fixed time per step for
reading the weights, and batches decoded one after another each paid it again in their tails, where
a few long rows run on alone. Sampled completions keep one decode per batch and its seed
(``seed + batch index``), so their draws are those of ``generate_completions``. Greedy tokens do not
depend on the batching (tests check it in float32; in bfloat16, rounding differs with the batch's
shape and can flip a near-tie). The lines of the margins and the split prompts' extra tokens run
in groups of similar length on the context's cache (``line_groups`` again). A split prompt keeps its
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
from typing import TYPE_CHECKING, Callable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from codehotfix.config import EvalConfig
from codehotfix.data.cases import HotfixCase
from codehotfix.evaluation.backends import hf_complete
from codehotfix.evaluation.events import split_prompts
from codehotfix.evaluation.generation import (Completions, Prefilled, StopRule, complete_batch, concat_prefilled,
                                              encode_prompts, special_token_ids)
from codehotfix.models.compat import cache_kwargs, cache_of, cache_rows
from codehotfix.models.loading import model_device
from codehotfix.scoring import collate, encode_case, pad_rows, split_model
from codehotfix.scoring.forward import CALL_TOKENS, line_groups, run_context, score_on_context

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


# Prompts decoded in one batch at most, when they are joined across context batches: enough for the
# window and split prompts of the demo's ~120 held-out contexts (greedy) to decode at once; the
# per-step logits of 256 rows of a 152k vocabulary take ~150 MB in float32.
DECODE_ROWS = 256


def _copy(state: Prefilled) -> Prefilled:
    """A state to decode from that leaves ``state`` as it is (decoding consumes its cache)."""
    return Prefilled(state.model, copy.deepcopy(state.cache), state.logits.clone(), state.mask, state.next_pos,
                     state.ids)


@dataclass
class _Part:
    """Prompts of one context batch waiting to be decoded: their cases (``idx``), what they complete
    (``kind``: "first", the context; "split", the split prompt) and their prefilled state."""

    kind: str
    idx: list[int]
    state: Prefilled


def _decode_group(model: nn.Module, tokenizer: PreTrainedTokenizerBase, group: list[_Part],
                  rules: dict[str, StopRule], pad_id: int, cfg: EvalConfig, *, seed: int,
                  on_finished: Callable[[int], None]) -> list[tuple[str, int, Completions]]:
    """Completions of the prompts of several prefilled parts, decoded as one batch
    (``concat_prefilled``), each prompt stopping by its kind's rule; each part on its own where
    their caches cannot be joined. Returns (kind, case index, completions) triples."""
    joined = concat_prefilled([part.state for part in group], pad_id) if len(group) > 1 else None
    if joined is not None or len(group) == 1:
        state = joined or group[0].state
        keys = [(part.kind, i) for part in group for i in part.idx]
        prompt_rules = [rules[kind] for kind, _ in keys]
        # ``complete_batch`` decodes once per pass (greedy, then samples), and a pass consumes its
        # state. The state is the group's own (joined here, or the part's, made for it), so the last
        # pass takes it as it is and only earlier passes need a copy: a greedy evaluation copies none.
        passes = [int(cfg.greedy) + int(cfg.samples > 0)]

        def source() -> Prefilled:
            passes[0] -= 1
            return _copy(state) if passes[0] > 0 else state

        done = complete_batch(model, tokenizer, source, greedy=cfg.greedy, samples=cfg.samples,
                              seed=seed, top_p=cfg.top_p, temperature=cfg.temperature,
                              max_new_tokens=max(r.max_new_tokens for r in prompt_rules), rules=prompt_rules,
                              on_finished=on_finished)
        return [(kind, i, comp) for (kind, i), comp in zip(keys, done)]
    return [triple for k, part in enumerate(group)
            for triple in _decode_group(model, tokenizer, [part], rules, pad_id, cfg, seed=seed + k,
                                        on_finished=on_finished)]


def _split_state(model: nn.Module, decoder: nn.Module, head: nn.Module, base: Prefilled, rows: list[int],
                 tails: list[list[int]], pad_id: int) -> Prefilled:
    """The split prompts of ``rows`` (batch rows) as a prefilled state: a copy of the context cache
    with each row's extra tokens ``tails`` fed on top, right-padded (the padding is masked, and each
    row's next position counts only its real tokens)."""
    sel = torch.tensor(rows, device=base.logits.device)
    cache = cache_rows(base.cache, sel)  # only these rows: a context batch may give several split parts
    if cache is None:  # a cache kind cache_rows does not rebuild
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
    rules = {"split": StopRule(cfg.max_new_tokens), "first": StopRule(
        window_max_tokens or 2 * cfg.max_new_tokens, first_line_only=False, max_lines=window_lines)
        if window else StopRule(cfg.max_new_tokens)}
    tails: list[list[int] | None] = [None] * len(cases)
    if split_cuts is not None:
        prompts, keep = split_prompts(tokenizer, cases, split_cuts, cfg.max_context_tokens)
        for i, (ids, enc) in enumerate(zip(encode_prompts(tokenizer, prompts, keep), encoded)):
            n = len(enc.context)
            tails[i] = ids[n:] if ids[:n] == enc.context else None
    completions: list[Completions] = [Completions() for _ in cases]
    split: list[Completions] | None = [Completions() for _ in cases] if split_cuts is not None else None
    margins: list[tuple[float, float]] = [(0.0, 0.0)] * len(cases)
    rows_per_prompt = int(cfg.greedy) + cfg.samples
    shared = sum(t is not None for t in tails) if split_cuts is not None else 0
    bar = tqdm(total=len(cases), desc="eval: context passes (margins)", unit="prompt", disable=not progress,
               dynamic_ncols=True)
    decoded = tqdm(total=(len(cases) + shared) * rows_per_prompt, desc="eval: completions", unit="row",
                   disable=not progress, dynamic_ncols=True)
    # Contexts are prefilled in batches of similar length; greedy completions wait in one queue,
    # context and split prompts alike, and are decoded together (``_decode_group``), up to
    # DECODE_ROWS prompts at a time. Sampled rows are already many per batch (batch × samples), and
    # keeping each batch's decode, kind by kind, with its seed (``seed + batch index``) keeps their
    # draws those of ``generate_completions``.
    group_prompts = DECODE_ROWS if cfg.samples == 0 else cfg.batch_size
    pending: dict[str, list[_Part]] = {}
    group_seed: dict[str, int] = {}
    results = {"first": completions, "split": split}

    def flush(queue: str) -> None:
        if pending.get(queue):
            for kind, i, comp in _decode_group(model, tokenizer, pending.pop(queue), rules, pad_id, cfg,
                                               seed=group_seed[queue], on_finished=decoded.update):
                results[kind][i] = comp

    def add(part: _Part, b: int) -> None:
        queue = "all" if cfg.samples == 0 else part.kind
        if sum(len(p.idx) for p in pending.get(queue, [])) + len(part.idx) > group_prompts:
            flush(queue)
        if not pending.get(queue):
            group_seed[queue] = cfg.seed + b  # a group's seed is its first batch's
        pending.setdefault(queue, []).append(part)

    if cfg.samples == 0:
        # Greedy: the prefill batches no longer decide the decoding batches, so contexts are cut into
        # batches of similar length (at most batch_size), as lines are; each batch costs a few calls
        # (context, lines, split prompts), hence the dearer call.
        batches = [[order[j] for j in g] for g in line_groups([len(encoded[i].context) for i in order],
                                                               4 * CALL_TOKENS, max_rows=cfg.batch_size)]
    else:  # sampled rows keep the batches (and seeds) of generate_completions
        batches = [order[start:start + cfg.batch_size] for start in range(0, len(order), cfg.batch_size)]
    for b, idx in enumerate(batches):
        batch = collate([encoded[i] for i in idx], pad_id, device=device)
        out = run_context(decoder, batch, use_cache=True)
        h_ctx, cache = out.last_hidden_state, cache_of(out)
        base = Prefilled(model, cache, head(h_ctx[:, -1]).float(), batch.ctx_mask, batch.ctx_mask.sum(-1),
                         batch.ctx_ids)
        add(_Part("first", idx, _copy(base)), b)
        if split is not None:
            rows = [r for r, i in enumerate(idx) if tails[i] is not None]
            # Greedy: the split prompts' extra tokens run in groups of similar length (they join one
            # decode anyway); sampled: as one part, whose rows and order the draws depend on.
            groups = line_groups([len(tails[idx[r]]) for r in rows]) if cfg.samples == 0 else [range(len(rows))]
            for g in groups:
                part = [rows[j] for j in g]
                if part:
                    add(_Part("split", [idx[r] for r in part],
                              _split_state(model, decoder, head, base, part, [tails[idx[r]] for r in part], pad_id)), b)
        # Last, since scoring consumes the cache (it grows by the lines).
        scores = score_on_context(decoder, head, batch, h_ctx, cache)
        for i, pair in zip(idx, zip(scores.fixed_logp.sum(-1).tolist(), scores.buggy_logp.sum(-1).tolist())):
            margins[i] = pair
        bar.update(len(idx))
    bar.close()
    for queue in list(pending):
        flush(queue)
    decoded.close()
    if split is not None and shared < len(cases):
        # Split prompts whose tokens do not extend their context's: completed on their own.
        rest = [i for i, t in enumerate(tails) if t is None]
        done = hf_complete(model, tokenizer, [prompts[i] for i in rest], cfg, progress=progress,
                           desc="eval: split event (rest)", max_context_tokens=[keep[i] for i in rest])
        for i, comp in zip(rest, done):
            split[i] = comp
    return OnePass(completions, split, margins, shared)
