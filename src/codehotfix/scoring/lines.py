"""Line log-probs of whole case lists: log p(fixed line | prefix) and log p(buggy line | prefix).

The margin between the two is what evaluation reports per case, and what the canary and the demo's
case selection compare before and after a hotfix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from codehotfix.data.cases import HotfixCase
from codehotfix.models.compat import cache_of
from codehotfix.models.loading import model_device
from codehotfix.scoring.batch import collate
from codehotfix.scoring.encoding import encode_case
from codehotfix.scoring.forward import kl_columns, run_context, score_batch, score_on_context, split_model

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["line_logprobs", "line_logprobs_with_states"]


@torch.no_grad()
def line_logprobs(model: nn.Module, tokenizer: PreTrainedTokenizerBase, cases: Sequence[HotfixCase], *,
                  max_context_tokens: int = 256, batch_size: int = 8,
                  progress: bool = False) -> list[tuple[float, float]]:
    """Returns (log p(fixed line), log p(buggy line)) per case, each summed over the line's tokens."""
    return _score_lines(model, tokenizer, cases, max_context_tokens=max_context_tokens, batch_size=batch_size,
                        progress=progress, positions=0)[0]


@torch.no_grad()
def line_logprobs_with_states(model: nn.Module, tokenizer: PreTrainedTokenizerBase, cases: Sequence[HotfixCase], *,
                              positions: int, max_context_tokens: int = 256, batch_size: int = 8,
                              progress: bool = False) -> tuple[list[tuple[float, float]], dict[str, torch.Tensor]]:
    """``line_logprobs`` of a model without an adapter, and per case id the decoder's hidden states
    [k, hidden] at the context positions a retain loss compares with ``positions`` K (the k = min(K,
    context tokens − 1) before the last; see ``collate``), in the model's dtype.

    Those states are what training's ``kl_context`` reference computes again from the same context
    tokens (``training.reference.CaseReference.prime``): a caller that has just scored the training
    contexts with the base model (the demo's target selection) hands them over instead of a second
    pass over every context, about 1.8 s of every training step of the default pack on a 2-core CPU
    (docs/speed.md).

    Raises:
        ValueError: the model carries an adapter (its states would not be the base model's).
    """
    if hasattr(model, "peft_config"):
        raise ValueError("line_logprobs_with_states: the model carries an adapter; the states must be the base "
                         "model's (score before attaching one)")
    return _score_lines(model, tokenizer, cases, max_context_tokens=max_context_tokens, batch_size=batch_size,
                        progress=progress, positions=positions)


def _score_lines(model: nn.Module, tokenizer: PreTrainedTokenizerBase, cases: Sequence[HotfixCase], *,
                 max_context_tokens: int, batch_size: int, progress: bool,
                 positions: int) -> tuple[list[tuple[float, float]], dict[str, torch.Tensor]]:
    encoded = [encode_case(tokenizer, c, max_context_tokens) for c in cases]
    # Batches of similar length: contexts of 4 to 115 tokens padded to their batch's longest cost ~2x
    # the work at 32 a batch. Results come back in input order.
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i].context), i))
    device = model_device(model)
    out: list[tuple[float, float]] = [(0.0, 0.0)] * len(encoded)
    states: dict[str, torch.Tensor] = {}
    for start in tqdm(range(0, len(order), batch_size), desc="scoring lines", disable=not progress):
        idx = order[start:start + batch_size]
        batch = collate([encoded[i] for i in idx], tokenizer.pad_token_id, positions, device=device)
        if positions:
            decoder, head = split_model(model)
            ctx = run_context(decoder, batch, use_cache=True)
            h = ctx.last_hidden_state
            cols = h[:, kl_columns(batch)]
            for r, i in enumerate(idx):  # the compared positions are the trailing ones of the K columns
                k = int(batch.kl_mask[r].sum())
                states[cases[i].id] = cols[r, cols.shape[1] - k:].clone()
            scores = score_on_context(decoder, head, batch, h, cache_of(ctx))
        else:
            scores = score_batch(model, batch)
        for i, pair in zip(idx, zip(scores.fixed_logp.sum(-1).tolist(), scores.buggy_logp.sum(-1).tolist())):
            out[i] = pair
    return out, states
