"""The seen split's breakdown: which subset each test item falls in (its variant kind, whether its
judged line is the trained one), and each cell's paired numbers on every subset, on hand-built
records whose counts and p-values are known."""

import pytest

from codehotfix.data.cases import HotfixCase
from codehotfix.errors import DataError
from codehotfix.evaluation import stats
from codehotfix.evaluation.compare import compare
from codehotfix.evaluation.variants import make_variants
from codehotfix.study.breakdown import breakdown, breakdown_markdown, subsets
from codehotfix.study.data import variant_items

# Six test items of three training cases a, b, c. Exactly the trained lines: both reformats and the
# rename that left c's line alone; the wraps only re-indent; a's rename changed its line.
ITEMS = {
    "a~reformat": {"kind": "reformat", "same_line": True, "same_judged_line": True},
    "b~reformat": {"kind": "reformat", "same_line": True, "same_judged_line": True},
    "c~rename": {"kind": "rename", "same_line": True, "same_judged_line": True},
    "a~rename": {"kind": "rename", "same_line": False, "same_judged_line": False},
    "a~wrap": {"kind": "wrap", "same_line": False, "same_judged_line": True},
    "b~wrap": {"kind": "wrap", "same_line": False, "same_judged_line": True},
}
BASE = [{"id": i, "greedy_label": "buggy" if i == "a~wrap" else "other", "sample_labels": ["other", "buggy"],
         "margin": 0.0} for i in ITEMS]
# The hotfix writes the fixed line exactly where the line is the trained one, nowhere else.
FIXED_WHERE_TRAINED = {"cell_id": "lora--paper--s0--abc", "method": "lora", "loss": "paper", "seed": 0, "cases": [
    {"id": i, "greedy_label": "fixed" if item["same_line"] else "other",
     "sample_labels": ["fixed", "fixed"] if item["same_line"] else ["other", "other"],
     "margin": 2.0 if item["same_line"] else 0.0} for i, item in ITEMS.items()]}


def _subset(result, axis, value, cell=0):
    return next(s for s in result["cells"][cell]["subsets"] if (s["axis"], s["value"]) == (axis, value))


def _row(subset, metric, mode):
    return next(r for r in subset["events"]["line"]["rows"] if (r["metric"], r["mode"]) == (metric, mode))


def test_items_fall_in_the_subsets_of_their_kind_and_line():
    parts = {(axis, value): ids for axis, value, ids in subsets(ITEMS)}
    assert parts[("all", "all")] == sorted(ITEMS)
    assert {v: len(ids) for (a, v), ids in parts.items() if a == "kind"} == {"reformat": 2, "rename": 2, "wrap": 2}
    assert parts[("line", "same")] == ["a~reformat", "b~reformat", "c~rename"]
    assert parts[("line", "differs")] == ["a~rename", "a~wrap", "b~wrap"]
    assert parts[("judged_line", "differs")] == ["a~rename"]
    assert len(parts[("judged_line", "same")]) == 5
    for axis in ("kind", "line", "judged_line"):  # each axis partitions the whole set
        assert sorted(i for (a, _), ids in parts.items() if a == axis for i in ids) == sorted(ITEMS)


def test_each_subset_is_paired_with_the_base_on_its_own_items():
    result = breakdown([FIXED_WHERE_TRAINED], BASE, ITEMS)
    assert {(c["axis"], c["value"]): c["n"] for c in result["counts"]}[("line", "same")] == 3
    same, differs = _subset(result, "line", "same"), _subset(result, "line", "differs")
    greedy = _row(same, "fixed", "greedy")
    # 0 of 3 → 3 of 3: three gained, none lost; McNemar exact two-sided p = 2 · (1/2)^3.
    assert (same["n"], greedy["before"], greedy["after"]) == (3, 0.0, 1.0)
    assert greedy["p"] == pytest.approx(0.25) and greedy["detail"] == "3 gained, 0 lost"
    assert greedy["after_ci"] == pytest.approx(list(stats.wilson_interval(3, 3)))
    # Where the line differs the hotfix changed nothing it was judged on.
    assert _row(differs, "fixed", "greedy")["after"] == 0.0 and _row(differs, "fixed", "greedy")["p"] == 1.0
    # The one base greedy buggy completion (a~wrap) is gone: 1/3 → 0/3 there, 1/6 → 0/6 overall.
    assert _row(differs, "buggy", "greedy")["before"] == pytest.approx(1 / 3)
    assert _row(_subset(result, "all", "all"), "buggy", "greedy")["before"] == pytest.approx(1 / 6)
    # Sampled: two reformat items go 0 → 1 (exact sign-flip: 2 of the 4 sign patterns are as extreme).
    reformat = _row(_subset(result, "kind", "reformat"), "fixed", "sampled")
    assert (reformat["before"], reformat["after"], reformat["p"]) == (0.0, 1.0, pytest.approx(0.5))
    assert _row(_subset(result, "kind", "wrap"), "fixed", "sampled")["after"] == 0.0
    assert _row(_subset(result, "judged_line", "differs"), "buggy", "sampled")["after"] == 0.0
    assert _row(same, "margin", "likelihood")["change"] == pytest.approx(2.0)
    # The "all" subset is the whole test set's comparison, computed the same way.
    # (Sorted by id as the subsets are: the bootstrap intervals resample in case order.)
    in_order = {"cases": sorted(BASE, key=lambda c: c["id"])}
    assert _subset(result, "all", "all")["events"] == compare(in_order, FIXED_WHERE_TRAINED)["events"]


def test_cells_are_listed_by_method_loss_seed_and_a_missing_item_is_named():
    seed1 = {**FIXED_WHERE_TRAINED, "cell_id": "lora--paper--s1--def", "seed": 1}
    default = {**FIXED_WHERE_TRAINED, "cell_id": "lora--default--s0--ghi", "loss": "default"}
    result = breakdown([seed1, FIXED_WHERE_TRAINED, default], BASE, ITEMS)
    assert [(c["loss"], c["seed"]) for c in result["cells"]] == [("default", 0), ("paper", 0), ("paper", 1)]
    short = {**FIXED_WHERE_TRAINED, "cases": FIXED_WHERE_TRAINED["cases"][1:]}
    with pytest.raises(ValueError, match="test item a~reformat has no per-case result in the cell"):
        breakdown([short], BASE, ITEMS)


def test_markdown_row_per_cell_and_subset():
    md = breakdown_markdown(breakdown([FIXED_WHERE_TRAINED], BASE, ITEMS))
    rows = [line for line in md.splitlines() if line.startswith("| lora / paper / s0 |")]
    assert len(rows) == 1 + 3 + 2 + 2  # all, three kinds, line same/differs, judged line same/differs
    same = next(r for r in rows if "| line: same |" in r)
    low, high = stats.wilson_interval(3, 3)
    assert f"| 3 | 0/3 → 3/3 [{low:.2f}, {high:.2f}], p=0.25 |" in same
    assert "0.000 → 1.000" in same and "+2.00 (" in same
    assert "kind reformat: 2" in md and "line same: 3" in md and "judged_line differs: 1" in md


def test_variant_items_compare_the_judged_lines_with_the_training_case():
    trained = HotfixCase(id="t", prefix="def f(x):\n", buggy="    return x + 1", fixed="    return x - 1")

    def variant(kind, buggy, fixed):
        return HotfixCase(id=f"t~{kind}", prefix="# new\n" + trained.prefix, buggy=buggy, fixed=fixed,
                          source={"variant": {"kind": kind, "of": "t"}})

    items = variant_items([trained], [variant("reformat", trained.buggy, trained.fixed),
                                      variant("wrap", "    " + trained.buggy, "    " + trained.fixed),
                                      variant("rename", "    return y + 1", "    return y - 1")])
    assert {i: (v["kind"], v["same_line"], v["same_judged_line"]) for i, v in items.items()} == {
        "t~reformat": ("reformat", True, True), "t~wrap": ("wrap", False, True), "t~rename": ("rename", False, False)}
    stray = HotfixCase(id="u~wrap", prefix="", buggy="a", fixed="b", source={"variant": {"kind": "wrap", "of": "u"}})
    with pytest.raises(DataError, match="test case u~wrap: source.variant must name"):
        variant_items([trained], [stray])


def test_make_variants_record_their_kind_and_reformat_keeps_the_trained_line():
    cases = [HotfixCase(id=f"c{i}", prefix=f"def f{i}(x, y):\n    z = 'a'\n", buggy=f"    return x {op} y",
                        fixed=f"    return y {op} x") for i, op in enumerate(["+", "-", "*"])]
    made = make_variants(cases, seed=0)
    items = variant_items(cases, made.cases)
    assert {v["kind"] for v in items.values()} == {"rename", "reformat", "wrap"}
    assert all(v["same_line"] for v in items.values() if v["kind"] == "reformat")
    assert all(v["same_judged_line"] and not v["same_line"] for v in items.values() if v["kind"] == "wrap")
    # x and y are parameters, so the rename rewrites the judged line too.
    assert not any(v["same_judged_line"] for v in items.values() if v["kind"] == "rename")
