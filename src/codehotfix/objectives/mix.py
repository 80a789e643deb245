"""The weighted sum of objectives that training minimises, logging each term."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from codehotfix.objectives.base import OBJECTIVES, LossOutput, Objective, ObjectiveConfig

__all__ = ["ObjectiveMix", "build_objectives"]


@dataclass
class ObjectiveMix:
    """Objectives and their weights; ``needs_context`` tells the loop to compute context scores."""

    terms: list[tuple[str, float, Objective]]

    @property
    def needs_context(self) -> bool:
        return any(obj.needs_context and w > 0 for _, w, obj in self.terms)

    def kl_positions(self) -> int:
        return max((getattr(obj, "positions", 0) for _, w, obj in self.terms if obj.needs_context and w > 0),
                   default=0)

    def __call__(self, scores) -> LossOutput:
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
        ConfigError: unknown objective params.
    """
    return ObjectiveMix([(c.name, c.weight, OBJECTIVES.get(c.name)(**c.params)) for c in configs])
