"""What a sequence run does beyond the hotfix config: strategies, schedule, replay, side effects.

Every field is a ``codehotfix sequence`` flag; the hotfix config (adapter, objectives, training,
eval) is the usual ``HotfixConfig`` and applies to every hotfix the sequence trains.
"""

from __future__ import annotations

from dataclasses import dataclass

from codehotfix.errors import ConfigError

__all__ = ["SequenceConfig", "STRATEGY_NAMES"]

# stacked: one adapter per hotfix, all active (their exact sum); merged_cat / merged_svd: the same
# adapters compacted into one by PEFT's add_weighted_adapter, as the registry's merge modes do
# (cat: the exact sum at rank Σr; svd: re-factorised at the largest single rank); continual: one
# adapter trained further on each hotfix with replay; retrained: from scratch on the union (the bound).
STRATEGY_NAMES = ("stacked", "merged_cat", "merged_svd", "continual", "retrained")


@dataclass
class SequenceConfig:
    """How the sequence runs and what it measures.

    Attributes:
        strategies: which of ``STRATEGY_NAMES`` to run (cat is the exact sum, so by default only svd
            stands for "merged": merged_cat differs from stacked by float rounding only).
        measure_every: measure after every this-many steps (and always after the last); training
            still happens at every step. Sizes a long sequence to the machine.
        replay: continual only: training cases of each earlier hotfix replayed with the new one.
        replay_budget: continual only: at most this many replayed cases per step (a seeded sample of
            the ``replay``-per-hotfix draw), so a step's training cost stops growing with the number
            of earlier hotfixes: without it, step k trains on its own cases plus ``replay`` × (k − 1),
            and the continual strategy costs O(N²) over N steps. None: no cap.
        humaneval: HumanEval problems run at the base and after the last step (0: skip); needs
            ``allow_exec``.
        allow_exec: permit running generated code (HumanEval) in the sandbox.
        locality: locality prompts measured after the last step (0: skip).
        side_effects_every_step: also measure HumanEval/locality at every measured step.
    """

    strategies: tuple[str, ...] = ("stacked", "merged_svd", "continual", "retrained")
    measure_every: int = 1
    replay: int = 2
    replay_budget: int | None = None
    humaneval: int = 0
    allow_exec: bool = False
    locality: int = 0
    side_effects_every_step: bool = False

    def __post_init__(self) -> None:
        self.strategies = tuple(self.strategies)
        errors = []
        unknown = [s for s in self.strategies if s not in STRATEGY_NAMES]
        if unknown or not self.strategies:
            errors.append(f"strategies: {', '.join(unknown) or '(none)'} not valid; choose from "
                          f"{', '.join(STRATEGY_NAMES)}")
        if len(set(self.strategies)) != len(self.strategies):
            errors.append(f"strategies: {list(self.strategies)} names one twice")
        for name in ("measure_every",):
            if getattr(self, name) < 1:
                errors.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("replay", "humaneval", "locality"):
            if getattr(self, name) < 0:
                errors.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.replay_budget is not None and self.replay_budget < 1:
            errors.append(f"replay_budget must be >= 1 (or unset for no cap), got {self.replay_budget}")
        if self.humaneval and not self.allow_exec:
            errors.append("humaneval runs model-generated code: pass --allow-exec to permit it (in the sandbox)")
        if errors:
            raise ConfigError("; ".join(errors))

    def measured(self, step: int, total: int) -> bool:
        """Whether step ``step`` (1-based) of ``total`` is measured."""
        return step % self.measure_every == 0 or step == total
