"""Retain objectives: keep everything but the hotfixed line as the original model had it.

kl_context — KL(p_base ‖ p_hotfixed) of the next-token distributions at the last context positions
    of each case, averaged over positions (the paper's retain term, Yang & Lo, arXiv 2408.05727).
    p_base comes from the same model with the adapter disabled, so no second copy is loaded.
    Param ``positions`` (default 32) is how many trailing context positions are compared.
"""

from __future__ import annotations

from codehotfix.objectives.base import OBJECTIVES, LossOutput, Objective, masked_mean


@OBJECTIVES.register("kl_context")
class KLContextObjective(Objective):
    """Shapes: scores.ctx_logprobs, ref_ctx_logprobs [B, K, V]; ctx_mask [B, K]."""

    family = "retain"
    needs_context = True
    params = {"positions": 32}

    def __call__(self, scores) -> LossOutput:
        if scores.ctx_logprobs is None or scores.ref_ctx_logprobs is None:
            zero = scores.fixed_logp.sum() * 0.0
            return LossOutput(zero, {"kl": 0.0})
        ref = scores.ref_ctx_logprobs
        kl = (ref.exp() * (ref - scores.ctx_logprobs)).sum(-1)  # [B, K]
        loss = masked_mean(kl, scores.ctx_mask)
        return LossOutput(loss, {"kl": float(loss.detach())})

