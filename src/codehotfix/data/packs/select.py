"""Split a pack per topic, then choose the hotfix targets from the base model's results on the
training contexts only.

The order matters: a topic chosen because the base model gets its *held-out* contexts wrong would
start the before/after comparison from a biased "before" (regression to the mean makes it look
fixed afterwards even with no hotfix). So the split comes first, and the selection sees results of
training contexts only; ``select_topics`` raises if it is handed a held-out result.

    split = split_pack(load_pack("default"), test_fraction=0.4, seed=0)
    records = {...}                       # per training case: margin (and greedy label, buggy rate)
    selection = select_topics(split.train, records, TopicSelectionConfig())
    selection["targets"]                  # the topics to hotfix
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from codehotfix.data.cases import HotfixCase
from codehotfix.data.split import SplitResult

__all__ = ["TopicSelectionConfig", "split_pack", "case_wrong", "select_topics"]


@dataclass
class TopicSelectionConfig:
    """When is a topic a hotfix target.

    A training context counts as *wrong* when the base model writes the buggy line greedily, samples
    it at least once, or scores it no less likely than the fixed line by ``margin_below`` nats
    (margin = log p(fixed) − log p(buggy) < ``margin_below``). A topic is a target when at least
    ``min_wrong`` of its training contexts are wrong. With margins only (no generation) the first
    two signals are absent and only the margin decides.

    Attributes:
        margin_below: margin under which a context counts as wrong (0: the base prefers the buggy line).
        min_wrong: wrong training contexts a topic needs to be a target.
    """

    margin_below: float = 0.0
    min_wrong: int = 1

    def __post_init__(self) -> None:
        if self.min_wrong < 1:
            raise ValueError(f"TopicSelectionConfig.min_wrong: must be >= 1, got {self.min_wrong}")


def split_pack(cases: Sequence[HotfixCase], *, test_fraction: float, seed: int) -> SplitResult:
    """Holds out ``round(test_fraction × n)`` contexts of every topic (at least 1, at most n − 1).

    Each topic is shuffled with its own ``random.Random(f"{seed}:{topic}")``, so a topic's split
    depends only on its own case ids and the seed: adding a topic or a context to another topic
    leaves it unchanged. A topic with a single context goes to training.

    Raises:
        ValueError: ``test_fraction`` outside (0, 1) or duplicate ids.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"split_pack: test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    ids = [c.id for c in cases]
    if len(ids) != len(set(ids)):
        raise ValueError("split_pack: case ids must be unique")
    topics: dict[str, list[HotfixCase]] = defaultdict(list)
    for case in sorted(cases, key=lambda c: c.id):
        topics[case.group or case.id].append(case)
    test_ids: set[str] = set()
    for topic, members in topics.items():
        if len(members) < 2:
            continue
        n_test = min(max(round(test_fraction * len(members)), 1), len(members) - 1)
        shuffled = list(members)
        random.Random(f"{seed}:{topic}").shuffle(shuffled)
        test_ids.update(c.id for c in shuffled[:n_test])
    train = sorted((c for c in cases if c.id not in test_ids), key=lambda c: c.id)
    test = sorted((c for c in cases if c.id in test_ids), key=lambda c: c.id)
    summary = {"mode": "per_topic", "seed": seed, "test_fraction": test_fraction, "n_train": len(train),
               "n_test": len(test), "n_topics": len(topics)}
    return SplitResult(train, test, summary)


def case_wrong(record: Mapping[str, Any], cfg: TopicSelectionConfig) -> list[str]:
    """Why the base model gets one training context wrong ([] if it does not)."""
    reasons = []
    if record.get("greedy_label") == "buggy":
        reasons.append("greedy_buggy")
    if (record.get("buggy_rate") or 0.0) > 0.0:
        reasons.append("samples_buggy")
    if record.get("margin") is not None and record["margin"] < cfg.margin_below:
        reasons.append("prefers_buggy")
    return reasons


def select_topics(train: Sequence[HotfixCase], results: Mapping[str, Mapping[str, Any]],
                  cfg: TopicSelectionConfig | None = None) -> dict[str, Any]:
    """Chooses the target topics from base-model results on training contexts.

    Args:
        train: the training cases (every topic that may become a target).
        results: per training case id, its base-model record: ``margin`` (log p(fixed) − log
            p(buggy)) and optionally ``greedy_label`` and ``buggy_rate`` (as ``evaluate_cases``
            writes them).
        cfg: the rule (see ``TopicSelectionConfig``).

    Returns:
        {"rule": cfg as a dict, "targets": sorted target topics, "topics": per topic {train_cases,
        wrong, reasons, margin_mean, target}, "inputs": per case id {margin, greedy_label,
        buggy_rate, wrong}} — everything the choice was made from, for split.json.

    Raises:
        ValueError: ``results`` holds an id that is not a training case (a held-out result must
            never inform the choice), or lacks a training case's result.
    """
    cfg = cfg or TopicSelectionConfig()
    train_ids = {c.id for c in train}
    foreign = sorted(set(results) - train_ids)
    if foreign:
        raise ValueError(f"select_topics: results for {len(foreign)} case(s) outside the training split "
                         f"(e.g. {foreign[0]!r}); selection may only see training contexts")
    missing = sorted(train_ids - set(results))
    if missing:
        raise ValueError(f"select_topics: no base result for {len(missing)} training case(s) (e.g. {missing[0]!r})")
    inputs: dict[str, dict[str, Any]] = {}
    topics: dict[str, dict[str, Any]] = {}
    for case in sorted(train, key=lambda c: c.id):
        record = results[case.id]
        reasons = case_wrong(record, cfg)
        inputs[case.id] = {"margin": record.get("margin"), "greedy_label": record.get("greedy_label"),
                           "buggy_rate": record.get("buggy_rate"), "wrong": reasons}
        topic = topics.setdefault(case.group or case.id, {"train_cases": 0, "wrong": 0, "reasons": {}, "_m": []})
        topic["train_cases"] += 1
        topic["wrong"] += bool(reasons)
        for reason in reasons:
            topic["reasons"][reason] = topic["reasons"].get(reason, 0) + 1
        if record.get("margin") is not None:
            topic["_m"].append(record["margin"])
    for topic in topics.values():
        margins = topic.pop("_m")
        topic["margin_mean"] = round(sum(margins) / len(margins), 4) if margins else None
        topic["target"] = topic["wrong"] >= cfg.min_wrong
    targets = sorted(t for t, info in topics.items() if info["target"])
    return {"rule": asdict(cfg), "targets": targets, "topics": dict(sorted(topics.items())), "inputs": inputs}
