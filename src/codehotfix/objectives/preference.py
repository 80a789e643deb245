"""Pairwise preference objectives on (chosen = fixed line, rejected = buggy line) for the same context.

They learn and unlearn at once: each raises the fixed line relative to the buggy one. TRL implements
these losses only as methods of its trainers (``DPOTrainer._compute_loss``, ``CPOTrainer.cpo_loss``,
``ORPOTrainer.odds_ratio_loss``), which cannot be called without building a trainer, so the formulas
are written out here and ``tests/objectives/test_preference.py`` checks them against TRL's code on
the same log-probs.

dpo — Rafailov et al. 2023, "Direct Preference Optimization" (arXiv 2305.18290):
    −logσ(β·[(log π_θ(y_w) − log π_ref(y_w)) − (log π_θ(y_l) − log π_ref(y_l))]), sequence log-probs
    summed over each line's tokens; π_ref = the base model (adapter off). Tokens the two lines share
    cancel exactly (same context, same tokens in both terms).
simpo — Meng et al. 2024, "SimPO: Simple Preference Optimization with a Reference-Free Reward"
    (arXiv 2405.14734): −logσ(β·(mean log π_θ(y_w) − mean log π_θ(y_l)) − γ), token-mean log-probs,
    no reference model.
orpo — Hong et al. 2024, "ORPO: Monolithic Preference Optimization without Reference Model"
    (arXiv 2403.07691): −logσ(log odds(y_w) − log odds(y_l)), odds(y) = P(y)/(1 − P(y)) with P the
    token-mean probability. This is only ORPO's odds-ratio term: ORPO proper is ``fixed_ce`` plus this
    term with weight λ (TRL's ``beta``, 0.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from codehotfix.objectives.base import OBJECTIVES, LossOutput, Objective, sequence_mean, sequence_sum

if TYPE_CHECKING:  # annotations only: importing scoring at run time would load transformers with the config
    from codehotfix.scoring import Scores

__all__ = ["DPOObjective", "SimPOObjective", "ORPOObjective", "log1mexp"]


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 − exp(x)) for x < 0 without cancellation (Mächler 2012: switch at −log 2)."""
    return torch.where(x < -0.6931471805599453, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


def _margin_metrics(name: str, loss: torch.Tensor, chosen: torch.Tensor, rejected: torch.Tensor) -> dict[str, float]:
    return {name: float(loss.detach()), f"{name}_accuracy": float((chosen > rejected).float().mean()),
            f"{name}_margin": float((chosen - rejected).mean().detach())}


@OBJECTIVES.register("dpo")
class DPOObjective(Objective):
    """Params: beta (default 0.1, TRL's default). Shapes: scores.{fixed,buggy}_logp, ref_{fixed,buggy}_logp,
    {fixed,buggy}_mask [B, L]; the loss is the batch mean."""

    family = "unlearn"
    needs_reference = True
    params = {"beta": 0.1}

    def check(self) -> None:
        self._positive("beta")

    def __call__(self, scores: Scores) -> LossOutput:
        chosen = sequence_sum(scores.fixed_logp, scores.fixed_mask) - sequence_sum(scores.ref_fixed_logp, scores.fixed_mask)
        rejected = sequence_sum(scores.buggy_logp, scores.buggy_mask) - sequence_sum(scores.ref_buggy_logp, scores.buggy_mask)
        loss = -F.logsigmoid(self.beta * (chosen - rejected)).mean()
        return LossOutput(loss, _margin_metrics("dpo", loss, chosen, rejected))


@OBJECTIVES.register("simpo")
class SimPOObjective(Objective):
    """Params: beta (default 2.0) and gamma (target reward margin, default 0.5), SimPO's ranges
    (TRL's ``simpo_gamma`` default is 0.5). Shapes: scores.{fixed,buggy}_logp/_mask [B, L]."""

    family = "unlearn"
    params = {"beta": 2.0, "gamma": 0.5}

    def check(self) -> None:
        self._positive("beta")
        if isinstance(self.gamma, bool) or not isinstance(self.gamma, (int, float)) or self.gamma < 0:
            from codehotfix.errors import ConfigError

            raise ConfigError(f"simpo: param gamma must be a number >= 0, got {self.gamma!r}")

    def __call__(self, scores: Scores) -> LossOutput:
        chosen = sequence_mean(scores.fixed_logp, scores.fixed_mask)
        rejected = sequence_mean(scores.buggy_logp, scores.buggy_mask)
        loss = -F.logsigmoid(self.beta * (chosen - rejected) - self.gamma).mean()
        return LossOutput(loss, _margin_metrics("simpo", loss, chosen, rejected))


@OBJECTIVES.register("orpo")
class ORPOObjective(Objective):
    """No params (its weight is ORPO's λ). Shapes: scores.{fixed,buggy}_logp/_mask [B, L]."""

    family = "unlearn"

    def __call__(self, scores: Scores) -> LossOutput:
        chosen = sequence_mean(scores.fixed_logp, scores.fixed_mask)
        rejected = sequence_mean(scores.buggy_logp, scores.buggy_mask)
        # A line with every token at probability 1 would have infinite odds; keep log P just below 0.
        chosen, rejected = chosen.clamp(max=-1e-6), rejected.clamp(max=-1e-6)
        log_odds = (chosen - rejected) - (log1mexp(chosen) - log1mexp(rejected))
        loss = -F.logsigmoid(log_odds).mean()
        return LossOutput(loss, _margin_metrics("orpo", loss, log_odds, torch.zeros_like(log_odds)))
