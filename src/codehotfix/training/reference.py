"""The original model's outputs that retain and preference losses compare with, computed once per
case and reused every epoch (the original model never changes during training).

For an adapter the original model is the same model with the adapter switched off, so no second copy
is loaded. Full fine-tuning has no adapter to switch off: ``frozen_copy`` keeps a frozen copy of the
base (twice the weight memory), made only when an objective needs it.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import torch

from codehotfix.models.loading import model_device
from codehotfix.scoring import (Batch, base_model_view, reference_context_logprobs, reference_line_logprobs,
                                score_packed, split_model)

__all__ = ["CaseReference", "frozen_copy"]


def frozen_copy(model: Any) -> Any:
    """A frozen, eval-mode deep copy of ``model`` (taken before training changes it)."""
    ref = copy.deepcopy(model)
    ref.requires_grad_(False)
    return ref.eval()


class CaseReference:
    """Per-case cache of the original model's context distributions, line log-probs and top-k
    distributions after the fixed line.

    Args:
        model: the model being trained.
        ref_model: a frozen copy of the original model, or None to switch the adapter off instead.
    """

    def __init__(self, model: Any, ref_model: Any | None = None) -> None:
        self.model, self.ref_model = model, ref_model
        self._context: dict[str, torch.Tensor] = {}
        self._lines: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._suffix: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def prime(self, states: Mapping[str, torch.Tensor]) -> int:
        """Fills the context cache from the base model's hidden states at each case's compared
        positions (``scoring.line_logprobs_with_states``), so training skips its own pass of the base
        model over those contexts; returns how many cases it filled. The output head turns them into
        the same log-distributions ``context`` would store, with any adapter off, one case at a time
        (a case's [K, vocabulary] float32 logits are ~20 MB; all of them at once would be GBs). The
        caller checks that the states belong to the same context tokens and K."""
        filled = 0
        with base_model_view(self.model, self.ref_model) as base:
            head = split_model(base)[1]
            weight = head.weight
            for cid, h in states.items():
                if cid not in self._context:
                    logits = head(h.to(device=weight.device, dtype=weight.dtype)).float()
                    self._context[cid] = torch.log_softmax(logits, dim=-1).to(torch.bfloat16)
                    filled += 1
        return filled

    def context(self, batch: Batch) -> torch.Tensor:
        """[B, K, V] base log-distributions at the last context positions; stored in bfloat16 to halve
        their memory."""
        cache, k = self._context, batch.kl_mask.shape[1]
        if any(cid not in cache for cid in batch.case_ids):
            fresh = reference_context_logprobs(self.model, batch, self.ref_model)
            for i, cid in enumerate(batch.case_ids):
                # Only the compared (trailing) positions: K shrinks in a batch of short contexts, so
                # a case can meet another K in another batch.
                cache.setdefault(cid, fresh[i, k - int(batch.kl_mask[i].sum()):].to(torch.bfloat16))
        # Left-pad each case to the batch's K; the padded positions are masked out by kl_mask.
        return torch.stack([torch.nn.functional.pad(cache[c], (0, 0, k - cache[c].shape[0], 0))
                            for c in batch.case_ids]).float()

    def lines(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """([B, L], [B, L]) base token log-probs of the fixed and buggy lines (float32: a few tokens)."""
        if any(cid not in self._lines for cid in batch.case_ids):
            fixed, buggy = reference_line_logprobs(self.model, batch, self.ref_model)
            for i, cid in enumerate(batch.case_ids):
                n_f, n_b = int(batch.fixed_mask[i].sum()), int(batch.buggy_mask[i].sum())
                self._lines.setdefault(cid, (fixed[i, :n_f].clone(), buggy[i, :n_b].clone()))
        width = batch.cont_ids.shape[1]
        pad = lambda t: torch.nn.functional.pad(t, (0, width - t.shape[0]))  # noqa: E731
        return (torch.stack([pad(self._lines[c][0]) for c in batch.case_ids]),
                torch.stack([pad(self._lines[c][1]) for c in batch.case_ids]))

    def suffix(self, batch: Batch, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """([N, k], [N, k]) the base model's ``top_k`` log-probs and their token ids at the batch's N
        real suffix positions, in ``suffix_mask``'s row-major order (what ``Scores.suffix_logprobs``
        holds for the trained model). Only the top k are kept: a case's 32 full distributions would be
        ~20 MB, and the KL against them is ``topk_kl``'s coarsened one, as for kl_corpus."""
        mask = batch.suffix_mask
        if mask is None:
            empty = torch.zeros(0, top_k, device=batch.device)
            return empty, empty.long()
        counts = mask.sum(-1).tolist()
        if any(cid not in self._suffix for cid in batch.case_ids):
            with torch.no_grad(), base_model_view(self.model, self.ref_model) as base:
                dists = score_packed(base, batch.to(model_device(base)), with_suffix=True).suffix_logprobs
            top = dists.topk(min(top_k, dists.shape[-1]), dim=-1)
            for cid, logp, index in zip(batch.case_ids, top.values.split(counts), top.indices.split(counts)):
                self._suffix.setdefault(cid, (logp.clone(), index.clone()))
        return (torch.cat([self._suffix[c][0] for c in batch.case_ids]).to(batch.device),
                torch.cat([self._suffix[c][1] for c in batch.case_ids]).to(batch.device))
