"""A study's train and test cases: load, sample, split — deterministically, before any model loads.

Order: load the file; if ``limit`` is set, sample that many cases; split (``grouped``/``within``/
``random`` via ``split_cases``); then sample ``train_cases`` from the training side and
``test_cases`` from the test side. Sampling happens after the split so that the split itself (which
repositories are held out) does not depend on the sample sizes. Every sample sorts by id first,
then draws with ``random.Random(sample_seed)``, so it depends only on the ids and the seed.

The "seen" split measures the paper's setting — the bug was trained on, the context is new: train
on a sample of the cases, test on variants of exactly those cases made by
``codehotfix.evaluation.variants.make_variants`` (renamed identifiers, reformatting, wrapping).
Each test item is recorded with its kind and whether its judged lines are the trained ones
(``variant_items``): a reformat variant keeps the buggy and fixed lines character for character, so
it tests the trained line after a new context, not a new line; the results break down by both.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from codehotfix.data.cases import HotfixCase, normalize_line
from codehotfix.data.loaders import load_cases
from codehotfix.data.split import split_cases
from codehotfix.errors import ConfigError, DataError
from codehotfix.study.spec import DatasetSpec

__all__ = ["StudyData", "prepare_data", "sample_cases", "variant_items"]


@dataclass
class StudyData:
    """The cases one study trains and tests on, and how they were chosen."""

    train: list[HotfixCase]
    test: list[HotfixCase]
    summary: dict[str, Any]


def sample_cases(cases: Sequence[HotfixCase], n: int | None, seed: int) -> list[HotfixCase]:
    """At most ``n`` cases drawn with ``random.Random(seed)`` from the cases sorted by id; returned
    sorted by id. ``n`` None (or >= len) keeps them all."""
    ordered = sorted(cases, key=lambda c: c.id)
    if n is None or n >= len(ordered):
        return ordered
    return sorted(random.Random(seed).sample(ordered, n), key=lambda c: c.id)


def _variants(train: Sequence[HotfixCase], kinds: Sequence[str], seed: int) -> tuple[list[HotfixCase], dict]:
    """New contexts of the training cases, and how many each kind had to skip (by reason)."""
    try:
        from codehotfix.evaluation.variants import make_variants
    except ImportError as e:
        raise ConfigError("dataset.split: 'seen' needs codehotfix.evaluation.variants.make_variants, "
                          f"which this installation lacks ({e})") from None
    made = make_variants(list(train), kinds=tuple(kinds), seed=seed)
    cases = list(getattr(made, "cases", made))  # a Variants result (cases + skipped) or a plain list
    skipped = Counter(f"{s.kind}: {s.reason}" for s in getattr(made, "skipped", []))
    return cases, dict(skipped.most_common())


def variant_items(train: Sequence[HotfixCase], test: Sequence[HotfixCase]) -> dict[str, dict[str, Any]]:
    """Per test id: the variant's ``kind`` (``source["variant"]["kind"]``), the training id it was
    made ``of``, ``same_line`` — its buggy and fixed lines are exactly its training case's (every
    reformat variant; a rename that touched only the context) — and ``same_judged_line``, the same
    after ``normalize_line``, the whitespace-free form the judge compares (a wrap variant only
    re-indents the line, so to the judge it is the trained line).

    Raises:
        DataError: a test case is not a variant of one of ``train`` (field ``source.variant``).
    """
    by_id = {c.id: c for c in train}
    items = {}
    for case in test:
        variant = case.source.get("variant") if isinstance(case.source, dict) else None
        of = by_id.get(variant.get("of")) if isinstance(variant, dict) else None
        if of is None or not variant.get("kind"):
            raise DataError(f"test case {case.id}: source.variant must name its kind and the training case it "
                            f"is made of; got {variant!r}")
        items[case.id] = {
            "kind": variant["kind"], "of": of.id,
            "same_line": case.buggy == of.buggy and case.fixed == of.fixed,
            "same_judged_line": (normalize_line(case.buggy) == normalize_line(of.buggy)
                                 and normalize_line(case.fixed) == normalize_line(of.fixed))}
    return items


def _line_counts(items: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per kind, how many test items keep the trained lines exactly, change only their whitespace, or
    change them."""
    out: dict[str, Counter] = {}
    for item in items.values():
        key = "same_line" if item["same_line"] else "whitespace_only" if item["same_judged_line"] else "new_line"
        out.setdefault(item["kind"], Counter())[key] += 1
    return {kind: {k: counts[k] for k in ("same_line", "whitespace_only", "new_line")}
            for kind, counts in sorted(out.items())}


def prepare_data(ds: DatasetSpec) -> StudyData:
    """Loads and splits the study's cases (see the module docstring).

    Raises:
        DataError: the file is missing or malformed, or a side of the split is empty.
        ConfigError: the split is impossible with these settings (e.g. one group in grouped mode).
    """
    cases = load_cases(ds.path, ds.loader)
    loaded = len(cases)
    cases = sample_cases(cases, ds.limit, ds.sample_seed)
    train_seed = ds.sample_seed if ds.train_sample_seed is None else ds.train_sample_seed
    if ds.split == "seen":
        train = sample_cases(cases, ds.train_cases, train_seed)
        variants, skipped = _variants(train, ds.variants, ds.sample_seed)
        clash = {c.id for c in variants} & {c.id for c in train}
        if clash:
            raise DataError(f"make_variants returned ids that are training ids: {sorted(clash)[:3]}")
        test = sample_cases(variants, ds.test_cases, ds.sample_seed)
        items = variant_items(train, test)
        split_summary: dict[str, Any] = {
            "mode": "seen", "variant_kinds": list(ds.variants), "variants_made": len(variants),
            "variants_skipped": skipped,
            "test_kinds": dict(Counter(i["kind"] for i in items.values()).most_common()),
            "test_lines": _line_counts(items), "test_items": items}
    else:
        try:
            result = split_cases(cases, test_fraction=ds.test_fraction, seed=ds.split_seed, by=ds.by, mode=ds.split)
        except ValueError as e:
            raise ConfigError(f"dataset.split: {e}") from None
        train = sample_cases(result.train, ds.train_cases, train_seed)
        test = sample_cases(result.test, ds.test_cases, ds.sample_seed)
        split_summary = dict(result.summary)
    if not train or not test:
        raise DataError(f"{ds.path}: the {'training' if not train else 'test'} side is empty after sampling")
    return StudyData(train, test, {
        "path": str(ds.path), "loader": ds.loader, "train_sample_seed": train_seed, "loaded_cases": loaded, "after_limit": len(cases),
        "split": split_summary, "train_cases": len(train), "test_cases": len(test),
        "train_groups": dict(Counter(c.group or "(none)" for c in train).most_common()),
        "test_groups": dict(Counter(c.group or "(none)" for c in test).most_common()),
        "train_ids": [c.id for c in train], "test_ids": [c.id for c in test],
    })
