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
    device = model_device(model)
    out: list[tuple[float, float]] = []
    for start in tqdm(range(0, len(encoded), batch_size), desc="scoring lines", disable=not progress):
        batch = collate(encoded[start:start + batch_size], tokenizer.pad_token_id, device=device)
        scores = score_batch(model, batch)
        out += list(zip(scores.fixed_logp.sum(-1).tolist(), scores.buggy_logp.sum(-1).tolist()))
    return out
