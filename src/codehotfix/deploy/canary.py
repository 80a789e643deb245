"""Canary check: does the served model actually show a hotfix's effect?

A LoRA adapter can load "successfully" and change nothing: target modules that match no layer,
state-dict keys that match no parameter (the B matrices stay zero), adapter layers left disabled.
Generation then looks normal and the bug stays. The canary scores a few of the hotfix's own cases
with ``scoring.line_logprobs`` twice, with the adapters switched off (the base) and on, and
asks that the margin log p(fixed) − log p(buggy) rise by at least ``min_delta`` nats on at least
``min_fraction`` of them. An adapter that is not applied shows a change of ~0 and is refused.

A margin that rises says the fixed line became likelier than the buggy one, not that the model now
writes it: a real hotfix raised the margin of ``yaml.load(fh)`` → ``yaml.safe_load(fh)`` and the
served model then wrote ``yaml.safe_load(fl)``. With ``min_greedy_fixed`` > 0 the canary also
completes each case's prefix greedily with the candidate adapters on (the ``line`` event's generator,
``evaluation.backends.hf_complete``) and judges the line with ``evaluation.classify`` (fixed / buggy
/ other); the share written exactly as the fixed line must reach ``min_greedy_fixed``.
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

__all__ = ["CanaryConfig", "CanaryResult", "CanaryFailed", "margins", "greedy_lines", "run_canary"]

# Generation budget beyond the fixed line's own tokens: a line tokenizes a little differently after
# its prefix, and a completion that writes the fixed line and goes on must show that it goes on
# (it is then "other", not "fixed").
_EXTRA_TOKENS = 8


@dataclass
class CanaryConfig:
    """When a hotfix counts as applied.

    Attributes:
        min_delta: the margin must rise by at least this many nats on a case for it to pass. A trained
            hotfix moves the margin by tens of nats; an adapter that is not applied by ~0.
        min_fraction: share of canary cases that must pass (0.6: most of them).
        max_context_tokens: prefix tokens kept (from the right), as in evaluation.
        batch_size: cases per forward pass.
        min_greedy_fixed: share of canary cases whose greedy completion (adapters on) must be exactly
            the fixed line; 0 (default) skips the generation. ``codehotfix watch`` asks 1.0.
    """

    min_delta: float = 1.0
    min_fraction: float = 0.6
    max_context_tokens: int = 256
    batch_size: int = 8
    min_greedy_fixed: float = 0.0

    def __post_init__(self) -> None:
        errors = []
        if self.min_delta <= 0:
            errors.append(f"canary.min_delta must be > 0, got {self.min_delta}")
        if not 0 < self.min_fraction <= 1:
            errors.append(f"canary.min_fraction must be in (0, 1], got {self.min_fraction}")
        if not 0 <= self.min_greedy_fixed <= 1:
            errors.append(f"canary.min_greedy_fixed must be in [0, 1], got {self.min_greedy_fixed}")
        if self.max_context_tokens < 1 or self.batch_size < 1:
            errors.append("canary.max_context_tokens and canary.batch_size must be >= 1")
        if errors:
            raise ConfigError("; ".join(errors))


@dataclass
class CanaryResult:
    """Per-case margins with the adapters off (base) and on, and the verdict.

    ``fraction``: share of cases whose margin rose by ``min_delta``. ``greedy_fixed``: share whose
    greedy completion is the fixed line (None when ``min_greedy_fixed`` is 0 and nothing was
    generated); each case row then holds its completion (``greedy``) and label (``greedy_label``).
    ``reasons`` says why a canary failed, one line per check.
    """

    passed: bool
    fraction: float
    cases: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    greedy_fixed: float | None = None
    reasons: list[str] = field(default_factory=list)

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


def greedy_lines(model: nn.Module, tokenizer: PreTrainedTokenizerBase, cases: Sequence[HotfixCase],
                 cfg: CanaryConfig) -> list[tuple[str, str]]:
    """(first line of the greedy completion, its label "fixed" / "buggy" / "other") per case, under
    the model's current adapter state; as ``codehotfix eval``'s line event completes and judges."""
    from codehotfix.config import EvalConfig  # lazy, as in ``margins``
    from codehotfix.evaluation.backends import hf_complete
    from codehotfix.evaluation.classify import classify, first_line

    if not cases:
        return []
    budget = max(len(tokenizer(c.fixed + "\n", add_special_tokens=False)["input_ids"]) for c in cases)
    gen = EvalConfig(samples=0, greedy=True, max_new_tokens=budget + _EXTRA_TOKENS, batch_size=cfg.batch_size,
                     max_context_tokens=cfg.max_context_tokens)
    done = hf_complete(model, tokenizer, [c.prefix for c in cases], gen, progress=False, desc="canary: greedy")
    return [(first_line(comp.greedy or ""), classify(comp.greedy or "", case)) for case, comp in zip(cases, done)]


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
        The result; ``passed`` is False when too few cases moved by ``min_delta`` or, with
        ``min_greedy_fixed`` > 0, too few greedy completions are the fixed line.
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
    reasons = []
    if not rows:
        reasons.append("no canary cases")
    elif fraction < cfg.min_fraction:
        reasons.append(f"shows no effect ({fraction:.0%} of cases rose by >= {cfg.min_delta} nats; "
                       f"{cfg.min_fraction:.0%} needed)")
    greedy_fixed = None
    if cfg.min_greedy_fixed > 0 and rows:
        for row, (line, label) in zip(rows, greedy_lines(model, tokenizer, cases, cfg)):
            row.update(greedy=line, greedy_label=label)
        greedy_fixed = sum(r["greedy_label"] == "fixed" for r in rows) / len(rows)
        if greedy_fixed < cfg.min_greedy_fixed:
            wrong = next(r for r in rows if r["greedy_label"] != "fixed")
            reasons.append(f"greedy completion is the fixed line on {greedy_fixed:.0%} of cases "
                           f"({cfg.min_greedy_fixed:.0%} needed; {wrong['id']} wrote {wrong['greedy']!r})")
        greedy_fixed = round(greedy_fixed, 4)
    return CanaryResult(passed=not reasons, fraction=round(fraction, 4), cases=rows, config=asdict(cfg),
                        seconds=round(time.time() - t0, 3), greedy_fixed=greedy_fixed, reasons=reasons)
