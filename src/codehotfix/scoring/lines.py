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
from codehotfix.models.loading import model_device
from codehotfix.scoring.batch import collate
from codehotfix.scoring.encoding import encode_case
from codehotfix.scoring.forward import score_batch

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["line_logprobs"]


@torch.no_grad()
def line_logprobs(model: nn.Module, tokenizer: PreTrainedTokenizerBase, cases: Sequence[HotfixCase], *,
                  max_context_tokens: int = 256, batch_size: int = 8,
                  progress: bool = False) -> list[tuple[float, float]]:
    """Returns (log p(fixed line), log p(buggy line)) per case, each summed over the line's tokens."""
    encoded = [encode_case(tokenizer, c, max_context_tokens) for c in cases]
    # Batches of similar length: contexts of 4 to 115 tokens padded to their batch's longest cost ~2x
    # the work at 32 a batch. Results come back in input order.
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i].context), i))
    device = model_device(model)
    out: list[tuple[float, float]] = [(0.0, 0.0)] * len(encoded)
    for start in tqdm(range(0, len(order), batch_size), desc="scoring lines", disable=not progress):
        idx = order[start:start + batch_size]
        batch = collate([encoded[i] for i in idx], tokenizer.pad_token_id, device=device)
        scores = score_batch(model, batch)
        for i, pair in zip(idx, zip(scores.fixed_logp.sum(-1).tolist(), scores.buggy_logp.sum(-1).tolist())):
            out[i] = pair
    return out
