"""Unlearn objectives: make the model stop writing the buggy line, without wrecking it.

unlikelihood — −mean_t log(1 − p(buggy_t)) over the buggy tokens from the first token where the buggy
    line departs from the fixed one (Welleck et al. 2019, "Neural text generation with unlikelihood
    training"). Bounded below by 0 and fading as p → 0, so it cannot run away like gradient ascent.
    Tokens the two lines share (indentation, ``yaml.``) are left out: pushing them down would fight
    the learn term. Param ``from_divergence`` (default true) switches that off. Param ``span``:
    "to_end" (default, the published results) penalizes every buggy token from the divergence to the
    end of the line; "differing" stops where the token suffix both lines share begins, so in
    ``yaml.load(fh)`` → ``yaml.safe_load(fh)`` only ``load`` is pushed down, not ``(fh)`` and the
    newline — pushing those down taught a real hotfix to write ``yaml.safe_load(fl)``.
penalize — the paper's bounded form 0.7·CE_fixed + 0.3·CE_fixed / (2·CE_buggy + eps), per sequence
    (Yang & Lo, arXiv 2408.05727). It falls as the fixed line gets likelier and as the buggy one
    gets unlikelier, and is bounded because CE_buggy sits in the denominator.
gradient_ascent — −CE_buggy (i.e. raise the buggy line's cross-entropy); unbounded, the paper's
    plain unlearning baseline. Use with a small weight.
npo — negative preference optimisation (Zhang et al. 2024, "Negative Preference Optimization: From
    Catastrophic Collapse to Effective Unlearning", arXiv 2404.05868): DPO with only a rejected answer,
    (2/β)·log(1 + (π_θ(y_buggy|x) / π_ref(y_buggy|x))^β). Its gradient is gradient ascent's times a
    weight 2·σ(β·log-ratio) that fades once the buggy line is less likely than under the base model,
    so it slows down where gradient ascent collapses. π_ref is the base model (adapter off).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from codehotfix.errors import ConfigError
from codehotfix.objectives.base import OBJECTIVES, LossOutput, Objective, masked_mean, sequence_mean, sequence_sum

if TYPE_CHECKING:  # annotations only: importing scoring at run time would load transformers with the config
    from codehotfix.scoring import Scores

__all__ = ["UnlikelihoodObjective", "PenalizeObjective", "GradientAscentObjective", "NPOObjective", "SPANS"]

SPANS = ("to_end", "differing")


def _check_span(objective: Objective) -> None:
    name = type(objective).__name__
    if objective.span not in SPANS:
        raise ConfigError(f"{name}: param span must be one of {', '.join(SPANS)}, got {objective.span!r}")
    if objective.span == "differing" and not objective.from_divergence:
        raise ConfigError(f"{name}: param span 'differing' counts from the divergence; it needs from_divergence: true")


def _buggy_span(objective: Objective, scores: Scores) -> torch.Tensor:
    """The buggy tokens an unlearn term pushes down: [B, L] bool (see the module docstring)."""
    if not objective.from_divergence:
        return scores.buggy_mask
    if objective.span == "to_end":
        return scores.buggy_div_mask & scores.buggy_mask
    if scores.buggy_diff_mask is None:
        raise ValueError(f"{type(objective).__name__}: span 'differing' needs Scores.buggy_diff_mask "
                         "(scoring.collate builds it)")
    return scores.buggy_diff_mask & scores.buggy_mask


@OBJECTIVES.register("unlikelihood")
class UnlikelihoodObjective(Objective):
    """Params: from_divergence (default true), span ("to_end" default, or "differing").
    Shapes: scores.buggy_logp, buggy_mask, buggy_div_mask, buggy_diff_mask [B, L]."""

    family = "unlearn"
    params = {"from_divergence": True, "span": "to_end"}

    def check(self) -> None:
        _check_span(self)

    def __call__(self, scores: Scores) -> LossOutput:
        mask = _buggy_span(self, scores)
        # log(1 - p) computed from log p without cancellation: log1p(-exp(logp)), p clamped below 1.
        p = scores.buggy_logp.exp().clamp(max=1.0 - 1e-6)
        loss = masked_mean(-torch.log1p(-p), mask)
        return LossOutput(loss, {"unlikelihood": float(loss.detach()), "p_buggy_tok": float(masked_mean(p, mask).detach())})


@OBJECTIVES.register("penalize")
class PenalizeObjective(Objective):
    """0.7·CE_f + 0.3·CE_f/(2·CE_b + eps), averaged over the batch; CE per sequence, token-mean.

    Params: eps (default 1e-6), learn_share (the 0.7; default 0.7). Shapes: *_logp, *_mask [B, L].
    """

    family = "unlearn"
    params = {"eps": 1e-6, "learn_share": 0.7}

    def check(self) -> None:
        self._positive("eps")
        if not 0.0 <= self.learn_share <= 1.0:
            from codehotfix.errors import ConfigError

            raise ConfigError(f"penalize: param learn_share must be in [0, 1], got {self.learn_share!r}")

    def __call__(self, scores: Scores) -> LossOutput:
        ce_f = -sequence_mean(scores.fixed_logp, scores.fixed_mask)
        ce_b = -sequence_mean(scores.buggy_logp, scores.buggy_mask)
        share = self.learn_share
        loss = (share * ce_f + (1.0 - share) * ce_f / (2.0 * ce_b + self.eps)).mean()
        return LossOutput(loss, {"penalize": float(loss.detach()), "ce_buggy": float(ce_b.mean().detach())})


@OBJECTIVES.register("gradient_ascent")
class GradientAscentObjective(Objective):
    """−CE_buggy over all buggy tokens (unbounded: the loss decreases without limit)."""

    family = "unlearn"

    def __call__(self, scores: Scores) -> LossOutput:
        ce_b = -masked_mean(scores.buggy_logp, scores.buggy_mask)
        return LossOutput(-ce_b, {"ce_buggy": float(ce_b.detach())})


@OBJECTIVES.register("npo")
class NPOObjective(Objective):
    """L = mean_i (2/β)·log(1 + exp(β·(log π_θ(y_i) − log π_ref(y_i)))) = −(2/β)·logσ(−β·Δ_i).

    log π(y) is the buggy line's sequence log-prob (sum over its tokens; by default only the tokens
    from where it departs from the fixed line, as for unlikelihood — the shared tokens are the fixed
    line's too). As β → 0 the loss tends to gradient ascent on the sequence log-prob (plus a constant).

    Params: beta (default 0.1, the paper's), from_divergence (default true), span ("to_end" default,
    or "differing": as for unlikelihood).
    Shapes: scores.buggy_logp, ref_buggy_logp, buggy_mask, buggy_div_mask, buggy_diff_mask [B, L].
    """

    family = "unlearn"
    needs_reference = True
    params = {"beta": 0.1, "from_divergence": True, "span": "to_end"}

    def check(self) -> None:
        self._positive("beta")
        _check_span(self)

    def __call__(self, scores: Scores) -> LossOutput:
        mask = _buggy_span(self, scores)
        log_ratio = sequence_sum(scores.buggy_logp, mask) - sequence_sum(scores.ref_buggy_logp, mask)  # [B]
        loss = (-2.0 / self.beta * F.logsigmoid(-self.beta * log_ratio)).mean()
        return LossOutput(loss, {"npo": float(loss.detach()), "npo_log_ratio": float(log_ratio.mean().detach())})
