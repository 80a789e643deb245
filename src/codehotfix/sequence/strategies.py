"""The four ways of applying hotfix after hotfix, each registered in ``STRATEGIES``.

A strategy answers one question: after step k, which adapter folders are on the model, and how are
they combined (an ``activate`` mode of ``deploy.activation``)? Adapters are trained on first need by
the ``Trainer`` handed in, into folders shared between strategies where they coincide:

    single/<k>-<name>/      hotfix k alone, on its own training cases (stacked and merged use these)
    continual/<k>-<name>/   continual's adapter after step k (step 1 is single/1: nothing to replay yet)
    retrained/<k>-<name>/   a fresh adapter on the union of steps 1..k (step 1 is single/1 too)

stacked: every single adapter active (their exact sum, ΔW = Σ Bᵢ Aᵢ); merged_cat / merged_svd: the
same adapters compacted into one by PEFT's ``add_weighted_adapter`` (cat: the exact sum at rank Σ rᵢ;
svd: re-factorised at the largest single rank, an approximation that must lose something as N
grows); continual: one adapter trained further at each step on the new cases plus ``replay`` cases
of each earlier hotfix, with the config's retain terms; retrained: one adapter trained from scratch
on the union (the upper bound: no interference across steps, at N times the training cost).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from codehotfix.registry import Registry

__all__ = ["Strategy", "Trainer", "STRATEGIES"]


class Trainer(Protocol):
    """Trains (or reuses) the adapters a strategy asks for; ``sequence.runner`` provides it."""

    def single(self, step: int) -> Path: ...

    def continual(self, step: int) -> Path: ...

    def retrained(self, step: int) -> Path: ...


@dataclass(frozen=True)
class Strategy:
    """One strategy: the adapters active after step k (1-based) and how they are combined."""

    name: str
    mode: str
    adapters: Callable[[Trainer, int], list[Path]]


STRATEGIES: Registry[Strategy] = Registry("sequence strategy")


def _register(strategy: Strategy) -> None:
    STRATEGIES.register(strategy.name)(strategy)


def _every_single(trainer: Trainer, step: int) -> list[Path]:
    return [trainer.single(j) for j in range(1, step + 1)]


_register(Strategy("stacked", "stack", _every_single))
_register(Strategy("merged_cat", "merge_cat", _every_single))
_register(Strategy("merged_svd", "merge_svd", _every_single))
_register(Strategy("continual", "stack", lambda trainer, step: [trainer.continual(step)]))
_register(Strategy("retrained", "stack", lambda trainer, step: [trainer.retrained(step)]))
