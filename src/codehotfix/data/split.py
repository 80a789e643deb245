"""Deterministic train/test splits of hotfix cases.

Three modes, chosen by what the test set should measure:

- ``grouped``: whole groups go to one side, so no group (repository, project, task) is on both.
  Measures transfer to unseen groups (cross-repo evaluation). A case whose key is None is a group
  of its own.
- ``within``: every group with two or more cases keeps at least one case on each side, so the test
  set holds other contexts of bugs seen in training (the built-in pack uses this). Groups of one
  case, including cases whose key is None, go to train: in test they would be unseen bugs.
- ``random``: each case on its own; groups may straddle the split.

A split depends only on the cases' ids, keys and the seed, never on the input order: cases are
sorted by id, then shuffled with ``random.Random(seed)``. Each side is returned sorted by id.

Usage::

    train, test = split_cases(cases, test_fraction=0.2, seed=0, mode="grouped")
    result = split_cases(cases, test_fraction=0.2, seed=0); result.summary["n_test"]
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterator, Sequence

from codehotfix.data.cases import HotfixCase

__all__ = ["SplitResult", "split_cases", "MODES"]

MODES = ("grouped", "within", "random")
_FIELD_KEYS = ("group", "language", "id")


@dataclass(frozen=True)
class SplitResult:
    """The two sides of a split and a summary of it; unpacks as ``train, test``.

    Attributes:
        train: training cases, sorted by id.
        test: test cases, sorted by id.
        summary: mode, by, seed, requested and actual test fraction, case and group counts, and
            ``groups_on_both_sides`` (0 in grouped mode; every multi-case group in within mode).
    """

    train: list[HotfixCase]
    test: list[HotfixCase]
    summary: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[list[HotfixCase]]:
        return iter((self.train, self.test))


def split_cases(
    cases: Sequence[HotfixCase],
    *,
    test_fraction: float,
    seed: int,
    by: str = "group",
    mode: str = "grouped",
) -> SplitResult:
    """Splits ``cases`` into train and test.

    Args:
        cases: the cases; ids must be unique.
        test_fraction: the share of cases wanted in test, strictly between 0 and 1. Grouped mode
            gets as close as whole groups allow; within mode as close as keeping every multi-case
            group on both sides allows. Each side gets at least one case.
        seed: seeds the shuffle; the same seed and cases give the same split.
        by: what a group is: a case field (``group``, ``language``, ``id``) or a metadata key as
            ``source.<key>`` (``source.repo``, ``source.pattern``).
        mode: ``grouped``, ``within`` or ``random`` (see the module docstring).

    Returns:
        A ``SplitResult``; ``train, test = split_cases(...)`` also works.

    Raises:
        ValueError: a bad argument, duplicate ids, or cases that cannot be split that way (fewer
            than two cases, one group only in grouped mode, no multi-case group in within mode).
    """
    _check_args(cases, test_fraction, seed, by, mode)
    ordered = sorted(cases, key=lambda c: c.id)
    for a, b in zip(ordered, ordered[1:]):
        if a.id == b.id:
            raise ValueError(f"split_cases: duplicate case id {a.id!r}; ids must be unique")
    rng = random.Random(seed)
    keys = {c.id: _key(c, by) for c in ordered}
    target = min(max(round(test_fraction * len(ordered)), 1), len(ordered) - 1)
    if mode == "random":
        shuffled = list(ordered)
        rng.shuffle(shuffled)
        test_ids = {c.id for c in shuffled[:target]}
    else:
        groups: dict[Hashable, list[HotfixCase]] = defaultdict(list)
        for case in ordered:
            groups[keys[case.id]].append(case)
        if mode == "grouped":
            test_ids = _pick_grouped(groups, target, rng)
        else:
            test_ids = _pick_within(groups, target, test_fraction, rng)
    train = [c for c in ordered if c.id not in test_ids]
    test = [c for c in ordered if c.id in test_ids]
    assert train and test, "every mode leaves at least one case on each side"
    return SplitResult(train, test, _summary(train, test, keys, by, mode, seed, test_fraction))


def _check_args(cases: Sequence[HotfixCase], test_fraction: float, seed: int, by: str, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"split_cases: mode must be one of {', '.join(MODES)}; got {mode!r}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)):
        raise ValueError(f"split_cases: test_fraction must be a number, got {test_fraction!r}")
    if not (0.0 < test_fraction < 1.0):
        raise ValueError(
            f"split_cases: test_fraction must be strictly between 0 and 1, got {test_fraction!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"split_cases: seed must be an int, got {seed!r}")
    if by not in _FIELD_KEYS and not (by.startswith("source.") and len(by) > len("source.")):
        raise ValueError(
            f"split_cases: by must be one of {', '.join(_FIELD_KEYS)} or 'source.<key>'; got {by!r}"
        )
    if len(cases) < 2:
        raise ValueError(f"split_cases: need at least 2 cases to split, got {len(cases)}")
    bad = [type(c).__name__ for c in cases if not isinstance(c, HotfixCase)]
    if bad:
        raise ValueError(f"split_cases: cases must be HotfixCase objects, got {bad[0]}")


def _key(case: HotfixCase, by: str) -> Hashable:
    """The case's group key; a missing key makes the case a group of its own."""
    value = case.source.get(by[len("source."):]) if by.startswith("source.") else getattr(case, by)
    if value is None:
        return ("<no key>", case.id)
    return value if isinstance(value, Hashable) else repr(value)


def _pick_grouped(groups: dict, target: int, rng: random.Random) -> set[str]:
    """Walks the groups in seeded order, sending one to test whenever that moves the test count
    closer to ``target``; both sides keep at least one group."""
    if len(groups) < 2:
        raise ValueError(f"split_cases: grouped mode needs at least 2 groups, got {len(groups)}")
    order = sorted(groups, key=repr)
    rng.shuffle(order)
    chosen: list[Hashable] = []
    n_test = 0
    for key in order:
        size = len(groups[key])
        if abs(n_test + size - target) < abs(n_test - target):
            chosen.append(key)
            n_test += size
    # Both sides need a group: add the one, or drop the one, that lands nearest the target.
    if not chosen:
        chosen = [min(order, key=lambda k: abs(len(groups[k]) - target))]
    elif len(chosen) == len(order):
        chosen.remove(min(chosen, key=lambda k: abs(n_test - len(groups[k]) - target)))
    return {c.id for key in chosen for c in groups[key]}


def _pick_within(groups: dict, target: int, test_fraction: float, rng: random.Random) -> set[str]:
    """Gives each multi-case group between 1 and size-1 test cases, apportioned so that the total
    is as close to ``target`` as those bounds allow (largest remainder, seeded tie-break)."""
    multi = sorted((k for k, members in groups.items() if len(members) >= 2), key=repr)
    if not multi:
        raise ValueError("split_cases: within mode needs at least one group with 2 or more cases")
    rng.shuffle(multi)
    ideal = {k: test_fraction * len(groups[k]) for k in multi}
    quota = {k: min(max(math.floor(ideal[k]), 1), len(groups[k]) - 1) for k in multi}
    low, high = len(multi), sum(len(groups[k]) - 1 for k in multi)
    goal = min(max(target, low), high)
    # max() returns the first of equal keys, so ties follow the seeded order of ``multi``.
    while sum(quota.values()) < goal:
        k = max((k for k in multi if quota[k] < len(groups[k]) - 1), key=lambda k: ideal[k] - quota[k])
        quota[k] += 1
    while sum(quota.values()) > goal:
        k = max((k for k in multi if quota[k] > 1), key=lambda k: quota[k] - ideal[k])
        quota[k] -= 1
    test_ids: set[str] = set()
    for k in multi:
        members = list(groups[k])
        rng.shuffle(members)
        test_ids.update(c.id for c in members[: quota[k]])
    return test_ids


def _summary(train, test, keys, by, mode, seed, test_fraction) -> dict[str, Any]:
    train_keys = {keys[c.id] for c in train}
    test_keys = {keys[c.id] for c in test}
    n = len(train) + len(test)
    return {
        "mode": mode,
        "by": by,
        "seed": seed,
        "test_fraction": test_fraction,
        "actual_test_fraction": len(test) / n,
        "n_cases": n,
        "n_train": len(train),
        "n_test": len(test),
        "n_groups": len(train_keys | test_keys),
        "groups_on_both_sides": len(train_keys & test_keys),
        "groups_only_in_train": len(train_keys - test_keys),
        "groups_only_in_test": len(test_keys - train_keys),
    }
