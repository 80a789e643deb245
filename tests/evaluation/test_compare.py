"""Before/after tables: intervals, paired tests, Holm, verdicts, on hand-built results."""

import pytest

from codehotfix.evaluation.compare import compare, comparison_markdown


def _rec(i, greedy, samples, split=None):
    rec = {"id": f"c{i}", "greedy_label": greedy, "sample_labels": samples}
    if split is not None:
        rec["events"] = {"split": {"greedy": {"label": split, "toward": split if split != "other" else None,
                                              "valid": True},
                                   "samples": []}}
    return rec


def test_mcnemar_on_a_known_table_and_holm():
    # 10 cases: greedy fixed 2 → 9 (7 gained, 0 lost): McNemar p = 2 × 0.5^7 = 0.015625.
    before = {"cases": [_rec(i, "fixed" if i < 2 else "buggy", ["buggy", "buggy"]) for i in range(10)]}
    after = {"cases": [_rec(i, "fixed" if i < 9 else "buggy", ["buggy", "fixed"]) for i in range(10)]}
    table = compare(before, after)
    rows = {(r["mode"], r["metric"]): r for r in table["events"]["line"]["rows"]}
    fixed = rows[("greedy", "fixed")]
    assert (fixed["before"], fixed["after"], fixed["p"]) == (0.2, 0.9, pytest.approx(0.015625))
    assert fixed["detail"] == "7 gained, 0 lost" and fixed["change"] == pytest.approx(0.7)
    assert fixed["before_ci"] == pytest.approx([0.0567, 0.5098], abs=1e-3)  # Wilson 2/10
    # Sampled fixed 0 → 0.5 in every case: 10 equal changes, exact sign-flip p = 2/2^10.
    sampled = rows[("sampled", "fixed")]
    assert sampled["p"] == pytest.approx(2 / 1024) and sampled["test"] == "sign-flip permutation (exact)"
    # Six rows in the line table (fixed/buggy/other × greedy/sampled); greedy "other" never changes.
    assert len(rows) == 6 and rows[("greedy", "other")]["p"] == 1.0
    # Raw p: sampled fixed and buggy 2/1024, greedy fixed and buggy 1/64, "other" 1 and 1. Holm: the two
    # smallest × 6 and × 5 → 0.0117; the greedy pair × 4 = 0.0625 and × 3 = 0.047, kept monotone → 0.0625.
    assert sampled["p_holm"] == pytest.approx(6 * 2 / 1024)
    assert fixed["p_holm"] == pytest.approx(0.0625) and rows[("greedy", "buggy")]["p_holm"] == pytest.approx(0.0625)
    assert fixed["verdict"] == "not significant"  # p = 0.016 raw, 0.0625 after Holm
    assert sampled["verdict"] == "significant increase"
    assert "validity" not in str(rows)  # legacy records carry no validity: no such rows


def test_events_section_and_markdown():
    before = {"cases": [_rec(i, "buggy", [], split="buggy") for i in range(10)]}
    after = {"cases": [_rec(i, "buggy", [], split="fixed") for i in range(10)]}
    table = compare(before, after)
    split = {r["metric"]: r for r in table["events"]["split"]["rows"]}
    assert split["toward_fixed"]["p"] == pytest.approx(2 * 0.5 ** 10)
    # Seven greedy rows, five of them with p = 2/1024: Holm multiplies the smallest by 7 → 0.0137.
    assert len(split) == 7 and split["toward_fixed"]["p_holm"] == pytest.approx(7 * 2 / 1024)
    assert split["toward_fixed"]["verdict"] == "significant increase"
    assert split["buggy"]["verdict"] == "significant decrease"
    assert split["valid"]["verdict"] == "not significant" and split["valid"]["change_pct"] == 0.0
    md = comparison_markdown(table)
    assert "### Event: split" in md and "| toward_fixed | greedy | 0.000 [0.00, 0.28] | 1.000 [0.72, 1.00]" in md


def test_different_cases_are_refused():
    with pytest.raises(ValueError, match="different cases"):
        compare({"cases": [_rec(0, "fixed", [])]}, {"cases": [_rec(1, "fixed", [])]})


def test_margin_row_in_the_line_table():
    before = {"cases": [{**_rec(i, "buggy", []), "margin": m} for i, m in enumerate([-1.0, -2.0, -1.0, 0.0])]}
    after = {"cases": [{**_rec(i, "buggy", []), "margin": m} for i, m in enumerate([1.0, 0.0, 1.0, 2.0])]}
    table = compare(before, after)
    margin = [r for r in table["events"]["line"]["rows"] if r["metric"] == "margin"][0]
    # Every case up by 2 nats: of the 16 sign patterns only ++++ and −−−− reach |sum| 8 → p = 2/16.
    assert (margin["before"], margin["after"], margin["change"]) == (-1.0, 1.0, 2.0)
    assert margin["p"] == pytest.approx(0.125) and margin["verdict"] == "not significant"
    assert "| margin | likelihood | -1.000" in comparison_markdown(table) and "+2.00 nats" in comparison_markdown(table)
