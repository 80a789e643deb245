"""Learn objectives: make the model write the fixed line.

fixed_ce — cross-entropy of the fixed line's tokens (including its newline) given the context,
averaged over tokens. The paper's "learn" loss on the fixed line (Yang & Lo, arXiv 2408.05727).
"""

from __future__ import annotations

from codehotfix.objectives.base import OBJECTIVES, LossOutput, Objective, masked_mean


@OBJECTIVES.register("fixed_ce")
class FixedLineCEObjective(Objective):
    """CE = −mean_t log p(fixed_t | context, fixed_<t). Shapes: scores.fixed_logp [B, L]."""

    family = "learn"

    def __call__(self, scores) -> LossOutput:
        ce = -masked_mean(scores.fixed_logp, scores.fixed_mask)
        return LossOutput(ce, {"ce_fixed": float(ce.detach())})
