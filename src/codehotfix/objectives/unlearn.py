"""Unlearn objectives: make the model stop writing the buggy line, without wrecking it.

unlikelihood — −mean_t log(1 − p(buggy_t)) over the buggy tokens from the first token where the buggy
    line departs from the fixed one (Welleck et al. 2019, "Neural text generation with unlikelihood
    training"). Bounded below by 0 and fading as p → 0, so it cannot run away like gradient ascent.
    Tokens the two lines share (indentation, ``yaml.``) are left out: pushing them down would fight
    the learn term. Param ``from_divergence`` (default true) switches that off.
penalize — the paper's bounded form 0.7·CE_fixed + 0.3·CE_fixed / (2·CE_buggy + eps), per sequence
    (Yang & Lo, arXiv 2408.05727). It falls as the fixed line gets likelier and as the buggy one
    gets unlikelier, and is bounded because CE_buggy sits in the denominator.
gradient_ascent — −CE_buggy (i.e. raise the buggy line's cross-entropy); unbounded, the paper's
    plain unlearning baseline. Use with a small weight.
"""

from __future__ import annotations

import torch

from codehotfix.objectives.base import OBJECTIVES, LossOutput, Objective, masked_mean, sequence_mean


@OBJECTIVES.register("unlikelihood")
class UnlikelihoodObjective(Objective):
    """Shapes: scores.buggy_logp, buggy_mask, buggy_div_mask [B, L]."""

    family = "unlearn"
    params = {"from_divergence": True}

    def __call__(self, scores) -> LossOutput:
        mask = scores.buggy_div_mask if self.from_divergence else scores.buggy_mask
        # log(1 - p) computed from log p without cancellation: log1p(-exp(logp)), p clamped below 1.
        p = scores.buggy_logp.exp().clamp(max=1.0 - 1e-6)
        loss = masked_mean(-torch.log1p(-p), mask & scores.buggy_mask)
        return LossOutput(loss, {"unlikelihood": float(loss.detach()), "p_buggy_tok": float(masked_mean(p, mask).detach())})


@OBJECTIVES.register("penalize")
class PenalizeObjective(Objective):
    """0.7·CE_f + 0.3·CE_f/(2·CE_b + eps), averaged over the batch; CE per sequence, token-mean."""

    family = "unlearn"
    params = {"eps": 1e-6, "learn_share": 0.7}

    def __call__(self, scores) -> LossOutput:
        ce_f = -sequence_mean(scores.fixed_logp, scores.fixed_mask)
        ce_b = -sequence_mean(scores.buggy_logp, scores.buggy_mask)
        share = self.learn_share
        loss = (share * ce_f + (1.0 - share) * ce_f / (2.0 * ce_b + self.eps)).mean()
        return LossOutput(loss, {"penalize": float(loss.detach()), "ce_buggy": float(ce_b.mean().detach())})


@OBJECTIVES.register("gradient_ascent")
class GradientAscentObjective(Objective):
    """−CE_buggy over all buggy tokens (unbounded: the loss decreases without limit)."""

    family = "unlearn"

    def __call__(self, scores) -> LossOutput:
        ce_b = -masked_mean(scores.buggy_logp, scores.buggy_mask)
        return LossOutput(-ce_b, {"ce_buggy": float(ce_b.detach())})
