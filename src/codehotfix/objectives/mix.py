"""The weighted sum of objectives that training minimises, logging each term, and what the mix needs
scored (the union of its terms' ``needs_*`` flags, for terms with a weight above 0)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch

from codehotfix.errors import ConfigError
from codehotfix.objectives.base import OBJECTIVES, LossOutput, Objective, ObjectiveConfig

if TYPE_CHECKING:  # annotations only: importing scoring at run time would load transformers with the config
    from codehotfix.scoring import Scores

__all__ = ["ObjectiveMix", "build_objectives"]


@dataclass
class ObjectiveMix:
    """Objectives and their weights; the properties tell the loop what to compute for them."""

    terms: list[tuple[str, float, Objective]]

    def _active(self) -> list[Objective]:
        return [obj for _, w, obj in self.terms if w > 0]

    @property
    def needs_context(self) -> bool:
        return any(obj.needs_context for obj in self._active())

    @property
    def needs_suffix_distributions(self) -> bool:
        """Full distributions after the fixed line, the base model's top-k beside them (kl_suffix)."""
        return any(obj.needs_suffix_distributions for obj in self._active())

    def suffix_top_k(self) -> int:
        """How many of the base model's likeliest tokens the suffix reference keeps per position."""
        return max((obj.top_k for obj in self._active() if obj.needs_suffix_distributions), default=0)

    @property
    def needs_reference(self) -> bool:
        """The base model's log-probs of the two lines (NPO, DPO)."""
        return any(obj.needs_reference for obj in self._active())

    @property
    def needs_base_model(self) -> bool:
        """Anything that compares with the original model (a frozen copy for full fine-tuning)."""
        return any(o.needs_context or o.needs_reference or o.needs_retain or o.needs_suffix_distributions
                   for o in self._active())

    def kl_positions(self) -> int:
        return max((getattr(obj, "positions", 0) for obj in self._active() if obj.needs_context), default=0)

    def suffix_tokens(self) -> int:
        """How many suffix tokens to score after the fixed line (0: the snippet path is off)."""
        return max((obj.suffix_tokens for obj in self._active() if obj.needs_suffix), default=0)

    @property
    def needs_snippet(self) -> bool:
        """Score the context's own tokens too (the whole-snippet loss); suffix tokens alone need only
        ``suffix_tokens()``: they ride on the fixed line's row."""
        return any(obj.needs_context_tokens for obj in self._active())

    def retain_objective(self) -> Objective | None:
        """The one retain-corpus objective, if any (two would need two corpora per step)."""
        found = [obj for obj in self._active() if obj.needs_retain]
        return found[0] if found else None

    def __call__(self, scores: Scores) -> LossOutput:
        total = None
        metrics: dict[str, float] = {}
        for name, weight, obj in self.terms:
            if weight == 0:
                continue
            out = obj(scores)
            total = weight * out.loss if total is None else total + weight * out.loss
            metrics[f"loss/{name}"] = float(out.loss.detach())
            metrics.update(out.metrics)
        if total is None:
            total = torch.zeros((), requires_grad=True)
        metrics["loss"] = float(total.detach())
        return LossOutput(total, metrics)


def build_objectives(configs: Sequence[ObjectiveConfig]) -> ObjectiveMix:
    """Builds each configured objective from the registry.

    Raises:
        KeyError: unknown objective name (lists the valid ones).
        ConfigError: unknown or invalid objective params, or more than one retain-corpus objective.
    """
    mix = ObjectiveMix([(c.name, c.weight, OBJECTIVES.get(c.name)(**c.params)) for c in configs])
    if sum(1 for obj in mix._active() if obj.needs_retain) > 1:
        raise ConfigError("objectives: at most one retain-corpus objective (kl_corpus) per run")
    return mix
