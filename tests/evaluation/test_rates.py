"""Aggregation and before/after comparison of rates."""

import pytest

from codehotfix.evaluation.rates import compare, summarize


def _rec(group, greedy, samples, margin):
    return {"group": group, "greedy_label": greedy, "sample_labels": samples, "margin": margin}


def test_summarize_pools_samples_and_groups():
    recs = [_rec("a", "buggy", ["buggy", "buggy", "fixed", "other"], -2.0),
            _rec("b", "fixed", ["fixed", "fixed", "fixed", "other"], 3.0)]
    s = summarize(recs)
    assert s["greedy"] == {"fixed_rate": 0.5, "buggy_rate": 0.5, "other_rate": 0.0, "n": 2}
    assert s["sampled"]["fixed_rate"] == 0.5 and s["sampled"]["buggy_rate"] == 0.25 and s["sampled"]["n"] == 8
    assert s["margin_mean"] == 0.5 and s["prefers_fixed"] == 0.5
    assert s["by_group"]["a"]["sampled"]["buggy_rate"] == 0.5


def test_compare_relative_changes_and_undefined_base():
    before = summarize([_rec("a", "buggy", ["buggy", "buggy", "fixed", "other"], -1.0)])
    after = summarize([_rec("a", "fixed", ["fixed", "fixed", "buggy", "other"], 2.0)])
    c = compare(before, after)
    assert c["sampled"]["fixed_change_pct"] == pytest.approx(100.0)
    assert c["sampled"]["buggy_change_pct"] == pytest.approx(-50.0)
    # Greedy fixed rate goes 0 → 1: a relative change is undefined, reported as None.
    assert c["greedy"]["fixed_change_pct"] is None
    assert (c["margin_before"], c["margin_after"]) == (-1.0, 2.0)
