"""The hotfixes of a sequence: groups from the pack and from a cases file, each with held-out contexts."""

import pytest

from codehotfix.data.cases import HotfixCase
from codehotfix.data.packs import load_pack
from codehotfix.errors import DataError
from codehotfix.sequence import collect_groups, groups_from_cases, groups_from_pack


def _case(i, repo):
    return HotfixCase(id=f"c{i}", prefix=f"def f{i}():\n", buggy="    return 1", fixed="    return 2",
                      source={"repo": repo})


def test_pack_topics_in_pack_order_with_disjoint_held_out_contexts():
    groups = groups_from_pack("default", limit=3, test_fraction=0.4, seed=0)
    order = list(dict.fromkeys(c.group for c in load_pack("default")))
    assert [g.name for g in groups] == order[:3]
    for g in groups:
        assert len(g.test) == 4 and len(g.train) == 6
        assert not {c.id for c in g.train} & {c.id for c in g.test}
        assert {c.group for c in g.train + g.test} == {g.name}


def test_a_groups_split_does_not_depend_on_the_other_groups():
    alone = groups_from_pack("default", topics=["is_none"], test_fraction=0.4, seed=0)[0]
    among = {g.name: g for g in groups_from_pack("default", limit=41, test_fraction=0.4, seed=0)}["is_none"]
    assert alone == among


def test_cases_grouped_by_repository_leave_out_a_group_without_a_held_out_context():
    cases = [_case(0, "a"), _case(1, "a"), _case(2, "b"), _case(3, "a"), _case(4, "c"), _case(5, "c")]
    groups = groups_from_cases(cases, by="source.repo", test_fraction=0.5, seed=1)
    assert [g.name for g in groups] == ["a", "c"]  # b has one case: nothing to hold out
    assert [len(g.train) + len(g.test) for g in groups] == [3, 2]
    assert groups_from_cases(cases, by="source.repo", names=["c"])[0].name == "c"
    with pytest.raises(DataError, match="zzz"):
        groups_from_cases(cases, by="source.repo", names=["zzz"])
    with pytest.raises(DataError, match="two or more"):
        groups_from_cases([_case(0, "a")], by="source.repo")


def test_group_size_keeps_a_seeded_sample_of_each_large_group_and_leaves_the_pack_whole():
    cases = [_case(i, "big") for i in range(30)] + [_case(100 + i, "small") for i in range(4)]
    groups = groups_from_cases(cases, by="source.repo", group_size=10, test_fraction=0.4, seed=3)
    assert [len(g.train) + len(g.test) for g in groups] == [10, 4]
    again = groups_from_cases(cases, by="source.repo", group_size=10, test_fraction=0.4, seed=3)
    assert again == groups  # same seed, same sample and split
    alone = groups_from_cases(cases[:30], by="source.repo", group_size=10, test_fraction=0.4, seed=3)
    assert alone[0] == groups[0]  # a group's sample does not depend on the other groups
    other = groups_from_cases(cases, by="source.repo", group_size=10, test_fraction=0.4, seed=4)
    assert {c.id for c in other[0].train + other[0].test} != {c.id for c in groups[0].train + groups[0].test}
    mixed = collect_groups("default", [cases], by="source.repo", group_size=5, limit=42, seed=0)
    assert [len(g.train) + len(g.test) for g in mixed[40:]] == [10, 5]  # a pack topic stays at its 10
    with pytest.raises(DataError, match="at least 2"):
        groups_from_cases(cases, by="source.repo", group_size=1)
