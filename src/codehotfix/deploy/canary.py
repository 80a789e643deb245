"""Canary check: does the served model actually show a hotfix's effect?

A LoRA adapter can load "successfully" and change nothing: target modules that match no layer,
state-dict keys that match no parameter (the B matrices stay zero), adapter layers left disabled.
Generation then looks normal and the bug stays. The canary scores a few of the hotfix's own cases
with ``scoring.line_logprobs`` twice, with the adapters switched off (the base) and on, and
asks that the margin log p(fixed) − log p(buggy) rise by at least ``min_delta`` nats on at least
``min_fraction`` of them. An adapter that is not applied shows a change of ~0 and is refused.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from codehotfix.data.cases import HotfixCase
from codehotfix.errors import CodehotfixError, ConfigError

if TYPE_CHECKING:  # annotations only: the registry commands import deploy without torch
    from torch import nn
    from transformers import PreTrainedTokenizerBase

__all__ = ["CanaryConfig", "CanaryResult", "CanaryFailed", "margins", "run_canary"]


@dataclass
class CanaryConfig:
    """When a hotfix counts as applied.

    Attributes:
        min_delta: the margin must rise by at least this many nats on a case for it to pass. A trained
            hotfix moves the margin by tens of nats; an adapter that is not applied by ~0.
        min_fraction: share of canary cases that must pass (0.6: most of them).
        max_context_tokens: prefix tokens kept (from the right), as in evaluation.
        batch_size: cases per forward pass.
    """

    min_delta: float = 1.0
    min_fraction: float = 0.6
    max_context_tokens: int = 256
    batch_size: int = 8

    def __post_init__(self) -> None:
        errors = []
        if self.min_delta <= 0:
            errors.append(f"canary.min_delta must be > 0, got {self.min_delta}")
        if not 0 < self.min_fraction <= 1:
            errors.append(f"canary.min_fraction must be in (0, 1], got {self.min_fraction}")
        if self.max_context_tokens < 1 or self.batch_size < 1:
            errors.append("canary.max_context_tokens and canary.batch_size must be >= 1")
        if errors:
            raise ConfigError("; ".join(errors))


@dataclass
class CanaryResult:
    """Per-case margins with the adapters off (base) and on, and the verdict."""

    passed: bool
    fraction: float
    cases: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CanaryFailed(CodehotfixError):
    """A hotfix's canaries do not show its effect; ``result`` holds the per-case margins."""

    def __init__(self, message: str, result: CanaryResult) -> None:
        super().__init__(message)
        self.result = result


def margins(model: nn.Module, tokenizer: PreTrainedTokenizerBase, cases: Sequence[HotfixCase], cfg: CanaryConfig) -> list[float]:
    """log p(fixed) − log p(buggy) per case under the model's current adapter state."""
    from codehotfix.scoring import line_logprobs  # lazy: the registry commands import deploy without torch

    pairs = line_logprobs(model, tokenizer, cases, max_context_tokens=cfg.max_context_tokens,
                          batch_size=cfg.batch_size)
    return [f - b for f, b in pairs]


def run_canary(model: nn.Module, tokenizer: PreTrainedTokenizerBase, cases: Sequence[HotfixCase],
               cfg: CanaryConfig | None = None, *, base_margins: Sequence[float] | None = None) -> CanaryResult:
    """Scores ``cases`` with the model's active adapters against the base (adapters disabled).

    Args:
        model: a PEFT model with the adapter(s) to check active; a plain model has no adapter and fails.
        tokenizer: its tokenizer.
        cases: the hotfix's canary cases.
        cfg: thresholds.
        base_margins: margins of the base, if already known (they depend only on the base weights).

    Returns:
        The result; ``passed`` is False when too few cases moved by ``min_delta``.
    """
    cfg = cfg or CanaryConfig()
    t0 = time.time()
    if base_margins is None:
        from codehotfix.scoring import adapters_disabled  # lazy, as in ``margins``

        with adapters_disabled(model):
            base_margins = margins(model, tokenizer, cases, cfg)
    hot = margins(model, tokenizer, cases, cfg)
    rows = []
    for case, b, h in zip(cases, base_margins, hot):
        rows.append({"id": case.id, "base_margin": round(b, 4), "hotfix_margin": round(h, 4),
                     "delta": round(h - b, 4), "passed": (h - b) >= cfg.min_delta})
    fraction = sum(r["passed"] for r in rows) / len(rows) if rows else 0.0
    return CanaryResult(passed=bool(rows) and fraction >= cfg.min_fraction, fraction=round(fraction, 4),
                        cases=rows, config=asdict(cfg), seconds=round(time.time() - t0, 3))
