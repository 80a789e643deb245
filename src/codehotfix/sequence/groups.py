"""The hotfixes of a sequence: each one a group of cases, split into training and held-out contexts.

A sequence applies hotfix 1, then 2, … N; each hotfix is one group of cases (a pack topic, a
repository's mined bugs, a privacy batch). Retention is measured on each group's *held-out*
contexts, so every group is split on its own (``split_pack``: per group, ``round(test_fraction × n)``
contexts held out, at least one, with a seed per group), and a group of one case, which cannot be
held out, is left out of the sequence with a warning.

    groups = groups_from_pack("default", limit=10, test_fraction=0.4, seed=0)
    groups = groups_from_cases(read_cases("mined.jsonl"), by="source.repo")
"""

from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass
from typing import Sequence

from codehotfix.data.cases import HotfixCase
from codehotfix.data.packs import load_pack, split_pack
from codehotfix.errors import DataError

__all__ = ["HotfixGroup", "groups_from_pack", "groups_from_cases", "collect_groups", "group_key"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HotfixGroup:
    """One hotfix of the sequence.

    Attributes:
        name: the group's key (topic, repository …); the retention matrix's column.
        train: the cases its hotfix trains on.
        test: its held-out contexts, never trained on by any strategy.
    """

    name: str
    train: tuple[HotfixCase, ...]
    test: tuple[HotfixCase, ...]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "train": [c.id for c in self.train], "test": [c.id for c in self.test]}


def group_key(case: HotfixCase, by: str) -> str | None:
    """The case's group under ``by``: a case field (``group``, ``language``) or ``source.<key>``."""
    if by.startswith("source."):
        value = case.source.get(by[len("source."):]) if isinstance(case.source, dict) else None
    elif by in ("group", "language"):
        value = getattr(case, by)
    else:
        raise ValueError(f"group by {by!r}: use group, language or source.<key> (e.g. source.repo)")
    return None if value is None else str(value)


def _split_groups(cases: Sequence[HotfixCase], order: Sequence[str], test_fraction: float,
                  seed: int) -> list[HotfixGroup]:
    """Per group, held-out contexts by ``split_pack`` (each group's split depends only on its own
    cases and the seed, so adding a group leaves the others as they were)."""
    split = split_pack(cases, test_fraction=test_fraction, seed=seed)
    groups = []
    for name in order:
        train = tuple(c for c in split.train if c.group == name)
        test = tuple(c for c in split.test if c.group == name)
        if not test:
            logger.warning("sequence: group %r has %d case(s) and no held-out context; left out", name, len(train))
            continue
        groups.append(HotfixGroup(name, train, test))
    return groups


def _capped(cases: Sequence[HotfixCase], size: int, seed: int) -> list[HotfixCase]:
    """At most ``size`` cases of each group, a seeded sample per group (input order kept): a group's
    sample depends only on its own cases, its name and the seed, like its split."""
    by_group: dict[str, list[HotfixCase]] = {}
    for c in cases:
        by_group.setdefault(c.group, []).append(c)
    kept: set[str] = set()
    for name, members in by_group.items():
        if len(members) > size:
            pool = sorted(c.id for c in members)
            kept.update(random.Random(f"{seed}:group-size:{name}").sample(pool, size))
            logger.info("sequence: group %r keeps %d of its %d cases (group size %d)", name, size, len(members), size)
        else:
            kept.update(c.id for c in members)
    return [c for c in cases if c.id in kept]


def groups_from_cases(cases: Sequence[HotfixCase], *, by: str = "group", test_fraction: float = 0.4,
                      seed: int = 0, names: Sequence[str] | None = None,
                      limit: int | None = None, group_size: int | None = None) -> list[HotfixGroup]:
    """The sequence's hotfixes from a cases file, one per value of ``by``, in order of first appearance.

    Args:
        cases: the cases (ids unique).
        by: what makes a group: ``group``, ``language`` or ``source.<key>`` (``source.repo`` for mined cases).
        test_fraction: share of each group's contexts held out.
        seed: seeds each group's split.
        names: only these groups, in this order.
        limit: only the first ``limit`` groups (after ``names``).
        group_size: keep at most this many cases of each group (a seeded sample, before the split), so
            a hotfix from a large group (a mined repository's hundreds of fixes) costs what a pack
            topic costs.

    Raises:
        DataError: no group with a held-out context, or a name in ``names`` that no case has.
    """
    keyed = []
    for c in cases:
        key = group_key(c, by)
        if key is None:
            logger.warning("sequence: case %r has no %s; left out", c.id, by)
            continue
        keyed.append(dataclasses.replace(c, group=key))
    if group_size is not None:
        if group_size < 2:
            raise DataError(f"group size {group_size}: a group needs at least 2 cases (one to hold out)")
        keyed = _capped(keyed, group_size, seed)
    order = list(dict.fromkeys(c.group for c in keyed))
    if names:
        missing = [n for n in names if n not in order]
        if missing:
            raise DataError(f"no cases of group(s) {', '.join(missing)} (by {by}); groups: {', '.join(order[:20])}")
        order = list(names)
    groups = _split_groups([c for c in keyed if c.group in order], order, test_fraction, seed)
    groups = groups[:limit] if limit is not None else groups
    if not groups:
        raise DataError(f"no group (by {by}) has two or more cases: nothing can be held out")
    return groups


def groups_from_pack(pack: str = "default", *, topics: Sequence[str] | None = None, limit: int | None = None,
                     test_fraction: float = 0.4, seed: int = 0) -> list[HotfixGroup]:
    """The sequence's hotfixes from a built-in pack: one per topic, in the pack's order (or ``topics``')."""
    return groups_from_cases(load_pack(pack), by="group", test_fraction=test_fraction, seed=seed, names=topics,
                             limit=limit)


def collect_groups(pack: str | None, case_sets: Sequence[Sequence[HotfixCase]], *, by: str = "group",
                   names: Sequence[str] | None = None, limit: int | None = None, test_fraction: float = 0.4,
                   seed: int = 0, group_size: int | None = None) -> list[HotfixGroup]:
    """The pack's topics (unless ``pack`` is None), then each case set's groups, as one sequence: how
    N grows past a pack's topics (e.g. the 41 topics plus mined repositories). ``group_size`` caps the
    case sets' groups (``groups_from_cases``); the pack's topics stay whole.

    Raises:
        DataError: two sources share a group name (rename one), or ``names`` lists an unknown group.
    """
    groups = groups_from_pack(pack, test_fraction=test_fraction, seed=seed) if pack else []
    for cases in case_sets:
        groups += groups_from_cases(cases, by=by, test_fraction=test_fraction, seed=seed, group_size=group_size)
    seen: set[str] = set()
    for g in groups:
        if g.name in seen:
            raise DataError(f"group {g.name!r} comes from two sources; give the cases other group names")
        seen.add(g.name)
    if names:
        by_name = {g.name: g for g in groups}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DataError(f"no group {', '.join(missing)}; groups: {', '.join(list(by_name)[:20])}")
        groups = [by_name[n] for n in names]
    if not groups:
        raise DataError("no hotfix groups: give --pack or --cases")
    return groups[:limit] if limit is not None else groups
