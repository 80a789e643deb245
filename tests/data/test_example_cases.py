"""Tests for examples/user_cases.jsonl, the README's "your own cases" file: it loads through the loader
``codehotfix run`` uses, holds six idioms in six distinct contexts each, both variants of every case are
Python in their context, and ``--split-mode within`` puts every idiom on both sides of the split."""

from __future__ import annotations

import ast
import re
import warnings
from collections import defaultdict
from pathlib import Path

import pytest

from codehotfix.api import RunOptions
from codehotfix.config import HotfixConfig
from codehotfix.data.cases import HotfixCase, normalize_line
from codehotfix.data.loaders import load_cases
from codehotfix.data.split import split_cases
from codehotfix.evaluation.events import common_prefix_length
from codehotfix.evaluation.validity import ValidityCheck

CASES_FILE = Path(__file__).resolve().parents[2] / "examples" / "user_cases.jsonl"
GROUPS, CONTEXTS = 6, 6
KINDS = {"outdated_api", "security"}

# What the fixed line uses that no prefix may already show: a prefix that already uses the fixed API
# would let the model copy it from the context instead of knowing it.
FIXED_API = {
    "tarfile_extract_filter": re.compile(r"filter\s*="),
    "numpy_tobytes": re.compile(r"tobytes"),
    # A raw-string literal: r"…", rb'…' and so on, not the r of a word such as `or "x"`.
    "regex_raw_string": re.compile(r"(?<!\w)[rR][bB]?['\"]"),
    "open_encoding": re.compile(r"encoding\s*="),
    "asyncio_running_loop": re.compile(r"get_running_loop"),
    "hashlib_sha256": re.compile(r"sha256"),
}


@pytest.fixture(scope="module")
def cases() -> list[HotfixCase]:
    # "auto" is `codehotfix run`'s default --format: the file must be recognised as codehotfix JSONL.
    return load_cases(CASES_FILE, "auto")


def _by_group(cases: list[HotfixCase]) -> dict[str, list[HotfixCase]]:
    groups: dict[str, list[HotfixCase]] = defaultdict(list)
    for case in cases:
        groups[case.group].append(case)
    return groups


def test_six_groups_of_six_with_unique_ids(cases):
    groups = _by_group(cases)
    assert sorted(groups) == sorted(FIXED_API), "a group was added or renamed: update FIXED_API"
    assert {g: len(cs) for g, cs in groups.items()} == {g: CONTEXTS for g in FIXED_API}
    assert len(groups) == GROUPS
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    assert {c.id for c in cases} == {f"{g}/{n}" for g in groups for n in range(CONTEXTS)}


def test_metadata(cases):
    bad = [c.id for c in cases if c.language != "python" or c.source.get("topic") != c.group
           or c.source.get("kind") not in KINDS or len(c.source.get("why", "")) < 40]
    assert not bad, f"language, source.topic, source.kind in {sorted(KINDS)} or source.why wrong: {bad}"


def test_both_variants_parse_in_their_context(cases):
    bad = []
    for c in cases:
        for name, line in (("buggy", c.buggy), ("fixed", c.fixed)):
            try:
                with warnings.catch_warnings():
                    # The buggy regex lines are invalid string escapes on purpose: they warn, and parse.
                    warnings.simplefilter("ignore")
                    ast.parse(c.prefix + line + "\n" + c.suffix)
            except SyntaxError as e:
                bad.append(f"{c.id} ({name}): {e.msg} at line {e.lineno}")
    assert not bad, "\n".join(bad)
    # The evaluation's validity check then judges completions in the whole file, its strictest mode.
    assert {ValidityCheck.for_case(c).method for c in cases} == {"file"}
    assert all(ValidityCheck.for_case(c).valid(c.buggy) for c in cases)


def test_lines_differ_and_share_a_start(cases):
    bad = []
    for c in cases:
        if normalize_line(c.buggy) == normalize_line(c.fixed):
            bad.append(f"{c.id}: buggy and fixed are the same line")
        indent = len(c.fixed) - len(c.fixed.lstrip())
        if len(c.buggy) - len(c.buggy.lstrip()) != indent:
            bad.append(f"{c.id}: buggy and fixed are indented differently")
        # The split event prompts with the start both lines share; it must be more than the indent.
        if common_prefix_length(c.buggy, c.fixed) <= indent:
            bad.append(f"{c.id}: the lines share no code before they part")
    assert not bad, "\n".join(bad)


def test_contexts_are_distinct_and_do_not_give_the_fix_away(cases):
    bad = []
    for group, members in _by_group(cases).items():
        last_lines = {c.prefix.rstrip("\n").splitlines()[-1].strip() for c in members}
        if len(last_lines) < len(members):
            bad.append(f"{group}: two contexts end on the same line")
        if len({c.buggy.strip() for c in members}) < len(members):
            bad.append(f"{group}: two contexts have the same buggy line")
        for c in members:
            prefix_lines = c.prefix.count("\n")
            if not (8 <= prefix_lines <= 25 and 2 <= c.suffix.count("\n") <= 6):
                bad.append(f"{c.id}: prefix of {prefix_lines} lines, suffix of {c.suffix.count(chr(10))}")
            if FIXED_API[group].search(c.prefix):
                bad.append(f"{c.id}: the prefix already uses {FIXED_API[group].pattern!r}")
            if normalize_line(c.fixed) in normalize_line(c.prefix):
                bad.append(f"{c.id}: the prefix already holds the fixed line")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("seed", [HotfixConfig().seed, 1, 2])
def test_within_split_puts_every_group_on_both_sides(cases, seed):
    # The split `codehotfix run examples/user_cases.jsonl --split-mode within` makes: run's defaults
    # for the fraction and the key, the config's seed (and two more seeds: it must not be luck).
    opts = RunOptions(split_mode="within")
    train, test = split_cases(cases, test_fraction=opts.test_fraction, seed=seed, by=opts.split_by,
                              mode=opts.split_mode)
    train_groups, test_groups = {c.group for c in train}, {c.group for c in test}
    assert train_groups == test_groups == set(FIXED_API)
    assert len(test) == round(opts.test_fraction * len(cases))
