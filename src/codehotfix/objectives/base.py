"""What every objective shares: its config, its output, and the registry that names it.

An objective maps ``Scores`` (see ``codehotfix.training.batching``) to a scalar loss plus float
metrics. It declares its family — learn (raise the fixed line), unlearn (lower the buggy line) or
retain (stay close to the original model) — and whether it needs the context distributions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from codehotfix.errors import ConfigError
from codehotfix.registry import Registry

__all__ = ["LossOutput", "Objective", "ObjectiveConfig", "OBJECTIVES", "masked_mean", "sequence_mean"]


@dataclass
class LossOutput:
    loss: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class ObjectiveConfig:
    """One weighted term of the hotfix loss.

    Attributes:
        name: registry name (see ``OBJECTIVES.names()``).
        weight: multiplier in the weighted sum; 0 disables the term.
        params: the objective's own knobs (each objective documents them).
    """

    name: str
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ConfigError(f"objective {self.name!r}: weight must be >= 0, got {self.weight}")


class Objective:
    """Base class: subclasses set ``family``/``needs_context`` and implement ``__call__``."""

    family: ClassVar[str] = ""
    needs_context: ClassVar[bool] = False
    params: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.params)
        if unknown:
            allowed = ", ".join(sorted(self.params)) or "(none)"
            raise ConfigError(f"{type(self).__name__}: unknown param(s) {sorted(unknown)}; allowed: {allowed}")
        for key, default in self.params.items():
            setattr(self, key, params.get(key, default))

    def __call__(self, scores: Any) -> LossOutput:  # pragma: no cover - interface
        raise NotImplementedError


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the positions where ``mask`` is true (0 if none)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def sequence_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-row mean over masked positions: [B, L] → [B]."""
    mask = mask.to(values.dtype)
    return (values * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
