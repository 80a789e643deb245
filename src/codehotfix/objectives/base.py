"""What every objective shares: its config, its output, and the registry that names it.

An objective maps ``Scores`` (see ``codehotfix.scoring``) to a scalar loss plus float
metrics. It declares its family — learn (raise the fixed line), unlearn (lower the buggy line) or
retain (stay close to the original model) — and what it needs scored beyond the two lines, so the
loop computes nothing the configured mix does not use:

- ``needs_context``: base and hotfixed next-token distributions at the last context positions;
- ``needs_suffix``: log-probs of the first suffix tokens after the fixed line (its ``suffix_tokens``);
- ``needs_suffix_distributions``: base and hotfixed next-token distributions at those suffix
  positions (with ``needs_suffix``, which sets how many);
- ``needs_context_tokens``: log-probs of the context's own tokens (whole-snippet losses);
- ``needs_reference``: the base model's log-probs of the fixed and buggy lines (adapter off);
- ``needs_retain``: a batch from a retain corpus, with the base model's distributions on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from codehotfix.errors import ConfigError
from codehotfix.registry import Registry

if TYPE_CHECKING:  # annotations only: importing scoring at run time would load transformers with the config
    from codehotfix.scoring import Scores

__all__ = ["LossOutput", "Objective", "ObjectiveConfig", "OBJECTIVES", "masked_mean", "sequence_mean",
           "sequence_sum"]


@dataclass
class LossOutput:
    loss: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


class Objective:
    """Base class: subclasses set ``family``, the ``needs_*`` flags and ``params`` (name → default),
    and implement ``__call__``; ``check`` validates the params (raise ConfigError)."""

    family: ClassVar[str] = ""
    needs_context: ClassVar[bool] = False
    needs_suffix: ClassVar[bool] = False
    needs_suffix_distributions: ClassVar[bool] = False
    needs_context_tokens: ClassVar[bool] = False
    needs_reference: ClassVar[bool] = False
    needs_retain: ClassVar[bool] = False
    params: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.params)
        if unknown:
            allowed = ", ".join(sorted(self.params)) or "(none)"
            raise ConfigError(f"{type(self).__name__}: unknown param(s) {sorted(unknown)}; allowed: {allowed}")
        for key, default in self.params.items():
            setattr(self, key, params.get(key, default))
        self.check()

    def check(self) -> None:
        """Raises ConfigError for invalid params (subclasses override)."""

    def _integers(self, label: str, *names: str, minimum: int = 1) -> None:
        """ConfigError unless each param in ``names`` is an integer (not a bool) of at least ``minimum``."""
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"{label}: param {name} must be an integer >= {minimum}, got {value!r}")

    def _positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{type(self).__name__}: param {name} must be a number > 0, got {value!r}")

    def __call__(self, scores: Scores) -> LossOutput:  # pragma: no cover - interface
        raise NotImplementedError


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


@dataclass
class ObjectiveConfig:
    """One weighted term of the hotfix loss; the name and params are checked when the config is built,
    before any model loads.

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
        if self.name not in OBJECTIVES:
            raise ConfigError(f"objective {self.name!r}: unknown name; valid: {', '.join(OBJECTIVES.names())}")
        OBJECTIVES.get(self.name)(**self.params)  # raises ConfigError on unknown or invalid params


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the positions where ``mask`` is true (0 if none)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def sequence_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-row mean over masked positions: [B, L] → [B]."""
    mask = mask.to(values.dtype)
    return (values * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)


def sequence_sum(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-row sum over masked positions: [B, L] → [B] (a sequence log-prob from token log-probs)."""
    return (values * mask.to(values.dtype)).sum(-1)
