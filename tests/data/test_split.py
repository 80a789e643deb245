"""Tests for the deterministic train/test splits (codehotfix.data.split)."""

from __future__ import annotations

import random

import pytest

from codehotfix.data.cases import HotfixCase
from codehotfix.data.split import SplitResult, split_cases

SIZES = {"alpha": 6, "beta": 5, "gamma": 4, "delta": 3, "eps": 2, "zeta": 1, "eta": 1}


def _case(i: int, group: str | None, **source) -> HotfixCase:
    return HotfixCase(id=f"c{i:03d}", prefix="", buggy=f"x = {i}", fixed=f"x = {i + 1000}", group=group,
                      source=source)


def _cases() -> list[HotfixCase]:
    """22 cases in 7 groups (two of them singletons) plus 2 cases without a group: 24 in all."""
    cases, i = [], 0
    for group, size in SIZES.items():
        for _ in range(size):
            cases.append(_case(i, group, repo=f"org/{group}"))
            i += 1
    cases += [_case(i, None), _case(i + 1, None)]
    return cases


def _ids(cases) -> list[str]:
    return [c.id for c in cases]


@pytest.mark.parametrize("mode", ["grouped", "within", "random"])
def test_split_is_a_partition_sorted_by_id(mode):
    cases = _cases()
    result = split_cases(cases, test_fraction=0.25, seed=0, mode=mode)
    assert isinstance(result, SplitResult)
    train, test = result
    assert sorted(_ids(train) + _ids(test)) == _ids(cases)
    assert not set(_ids(train)) & set(_ids(test))
    assert _ids(train) == sorted(_ids(train)) and _ids(test) == sorted(_ids(test))
    assert result.summary["n_train"] == len(train) and result.summary["n_test"] == len(test)


@pytest.mark.parametrize("mode", ["grouped", "within", "random"])
def test_split_is_deterministic_and_independent_of_input_order(mode):
    cases = _cases()
    first = split_cases(cases, test_fraction=0.3, seed=7, mode=mode)
    shuffled = list(cases)
    random.Random(123).shuffle(shuffled)
    again = split_cases(shuffled, test_fraction=0.3, seed=7, mode=mode)
    assert (_ids(again.train), _ids(again.test)) == (_ids(first.train), _ids(first.test))
    assert again.summary == first.summary
    others = {tuple(_ids(split_cases(cases, test_fraction=0.3, seed=s, mode=mode).test)) for s in range(10)}
    assert len(others) > 1, "the seed must change the split"


def test_random_mode_puts_exactly_the_rounded_fraction_in_test():
    cases = _cases()
    for fraction, n_test in [(0.25, 6), (0.1, 2), (0.5, 12), (0.01, 1), (0.99, 23)]:
        result = split_cases(cases, test_fraction=fraction, seed=1, mode="random")
        assert (len(result.train), len(result.test)) == (24 - n_test, n_test)


@pytest.mark.parametrize("seed", range(20))
def test_grouped_mode_never_puts_a_group_on_both_sides(seed):
    result = split_cases(_cases(), test_fraction=0.3, seed=seed, mode="grouped")
    train_groups = {c.group for c in result.train if c.group is not None}
    test_groups = {c.group for c in result.test if c.group is not None}
    assert not train_groups & test_groups
    assert result.summary["groups_on_both_sides"] == 0
    # The two group-less cases count as two groups of their own.
    assert result.summary["n_groups"] == len(SIZES) + 2
    assert result.summary["groups_only_in_train"] + result.summary["groups_only_in_test"] == len(SIZES) + 2


def test_grouped_mode_hits_the_target_when_groups_allow():
    cases = [_case(i, f"g{i // 2}") for i in range(20)]  # ten groups of two
    result = split_cases(cases, test_fraction=0.2, seed=3, mode="grouped")
    assert len(result.test) == 4
    assert result.summary["groups_only_in_test"] == 2


def test_grouped_mode_keeps_one_group_on_each_side():
    cases = [_case(i, "big") for i in range(9)] + [_case(9, "small")]
    for seed in range(5):
        result = split_cases(cases, test_fraction=0.9, seed=seed, mode="grouped")
        assert ({c.group for c in result.train}, {c.group for c in result.test}) == ({"small"}, {"big"})
        result = split_cases(cases, test_fraction=0.01, seed=seed, mode="grouped")
        assert ({c.group for c in result.train}, {c.group for c in result.test}) == ({"big"}, {"small"})


@pytest.mark.parametrize("seed", range(20))
def test_within_mode_puts_every_multi_case_group_on_both_sides(seed):
    result = split_cases(_cases(), test_fraction=0.25, seed=seed, mode="within")
    for group, size in SIZES.items():
        n_train = sum(c.group == group for c in result.train)
        n_test = sum(c.group == group for c in result.test)
        if size >= 2:
            assert n_train >= 1 and n_test >= 1, group
        else:
            assert (n_train, n_test) == (1, 0), group
    assert all(c.group is not None for c in result.test), "group-less cases are singletons: train only"
    assert len(result.test) == 6  # round(0.25 * 24), reachable within the bounds [5, 15]
    assert result.summary["groups_on_both_sides"] == 5
    assert result.summary["groups_only_in_test"] == 0


def test_within_mode_clamps_to_what_the_groups_allow():
    cases = _cases()
    # Five multi-case groups need at least five test cases, and leave at most 15 (20 - 5).
    assert len(split_cases(cases, test_fraction=0.05, seed=0, mode="within").test) == 5
    assert len(split_cases(cases, test_fraction=0.95, seed=0, mode="within").test) == 15


def test_by_source_key_and_language():
    cases = _cases()
    result = split_cases(cases, test_fraction=0.3, seed=2, by="source.repo", mode="grouped")
    assert not {c.source.get("repo") for c in result.train if c.source} & {
        c.source.get("repo") for c in result.test if c.source
    }
    assert result.summary["by"] == "source.repo"
    mixed = [_case(i, None) for i in range(4)] + [
        HotfixCase(id=f"j{i}", prefix="", buggy="a", fixed="b", language="java") for i in range(4)
    ]
    result = split_cases(mixed, test_fraction=0.5, seed=0, by="language", mode="grouped")
    assert {c.language for c in result.train} != {c.language for c in result.test}
    assert len({c.language for c in result.test}) == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"test_fraction": 0.0}, "test_fraction must be strictly between 0 and 1, got 0.0"),
        ({"test_fraction": 1}, "test_fraction must be strictly between 0 and 1, got 1"),
        ({"test_fraction": float("nan")}, "test_fraction must be strictly between 0 and 1, got nan"),
        ({"test_fraction": True}, "test_fraction must be a number, got True"),
        ({"test_fraction": "0.2"}, "test_fraction must be a number, got '0.2'"),
        ({"seed": 1.0}, "seed must be an int, got 1.0"),
        ({"seed": None}, "seed must be an int, got None"),
        ({"mode": "stratified"}, "mode must be one of grouped, within, random; got 'stratified'"),
        ({"by": "repo"}, "by must be one of group, language, id or 'source.<key>'; got 'repo'"),
        ({"by": "source."}, "by must be one of group, language, id or 'source.<key>'; got 'source.'"),
    ],
)
def test_bad_arguments_raise_value_errors(kwargs, message):
    args = {"test_fraction": 0.2, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        split_cases(_cases(), **args)


def test_cases_that_cannot_be_split_raise_value_errors():
    with pytest.raises(ValueError, match="need at least 2 cases to split, got 1"):
        split_cases([_case(0, "g")], test_fraction=0.5, seed=0)
    with pytest.raises(ValueError, match="duplicate case id 'c000'"):
        split_cases([_case(0, "g"), _case(0, "h")], test_fraction=0.5, seed=0)
    with pytest.raises(ValueError, match="grouped mode needs at least 2 groups, got 1"):
        split_cases([_case(0, "g"), _case(1, "g")], test_fraction=0.5, seed=0)
    with pytest.raises(ValueError, match="within mode needs at least one group with 2 or more cases"):
        split_cases([_case(0, "g"), _case(1, "h"), _case(2, None)], test_fraction=0.5, seed=0, mode="within")
    with pytest.raises(ValueError, match="cases must be HotfixCase objects, got dict"):
        split_cases([_case(0, "g"), {"id": "x"}], test_fraction=0.5, seed=0)  # type: ignore[list-item]
