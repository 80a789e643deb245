"""Retention from per-step results, checked against hand-computed numbers, and the per-case efficacy rule."""

from codehotfix.sequence.measure import case_efficacy, per_hotfix, rate_block
from codehotfix.sequence.retention import build_retention, retention_markdown, retention_table


def _block(rate, n=4):
    return {"rate": rate, "n": n, "ci": [0.0, 1.0]}


STEPS = [
    {"step": 1, "per_hotfix": {"a": _block(1.0)}, "overall": _block(1.0), "base_overall": _block(0.0)},
    {"step": 2, "per_hotfix": {"a": _block(0.5), "b": _block(1.0)}, "overall": _block(0.75),
     "base_overall": _block(0.25)},
]
BASE = {"a": _block(0.0), "b": _block(0.5)}


def test_retention_is_the_share_of_each_hotfixs_own_gain_left():
    t = retention_table(["a", "b"], BASE, list(reversed(STEPS)))  # any order in, step order out
    assert t["steps"] == [1, 2]
    assert t["matrix"] == [[1.0, None], [0.5, 1.0]]
    # a: (0.5 - 0) / (1 - 0); b: (1 - 0.5) / (1 - 0.5)
    assert t["retention"] == [[1.0, None], [0.5, 1.0]]
    last = t["curve"][-1]
    assert (last["mean_retention"], last["min_retention"], last["above_base"]) == (0.75, 0.5, 2)
    assert last["efficacy"] == 0.75 and last["base"] == 0.25


def test_retention_is_undefined_for_a_hotfix_that_gained_nothing():
    steps = [{"step": 1, "per_hotfix": {"a": _block(0.0)}, "overall": _block(0.0)}]
    t = retention_table(["a"], {"a": _block(0.0)}, steps)
    assert t["retention"] == [[None]] and t["curve"][0]["mean_retention"] is None


def test_own_efficacy_is_read_at_the_first_measured_step_after_the_hotfix():
    # measure_every=2: hotfix a (step 1) is first measured at step 2.
    steps = [{"step": 2, "per_hotfix": {"a": _block(0.5), "b": _block(1.0)}, "overall": _block(0.75)},
             {"step": 4, "per_hotfix": {"a": _block(0.25), "b": _block(0.5), "c": _block(1.0), "d": _block(1.0)},
              "overall": _block(0.7)}]
    t = retention_table(["a", "b", "c", "d"], {n: _block(0.0) for n in "abcd"}, steps)
    assert t["retention"][1][:2] == [0.5, 0.5]


def test_markdown_holds_every_strategys_curve_and_matrix():
    table = build_retention(["a", "b"], BASE, {"stacked": STEPS, "continual": STEPS[:1]})
    md = retention_markdown(table)
    assert "## stacked" in md and "## continual" in md
    assert "| stacked | 2 | 75 [0, 100] | 25 | 75 | 50 | not run | not run |" in md
    assert "| 2 | 50 | 100 |" in md


def _record(cid, greedy=None, samples=(), margin=0.0):
    split = {"greedy": {"label": greedy} if greedy else None, "samples": [{"label": s} for s in samples]}
    return {"id": cid, "margin": margin, "events": {"split": split}}


def test_case_efficacy_reads_the_greedy_outcome_else_the_sampled_share():
    assert case_efficacy(_record("x", greedy="fixed", samples=["buggy"])) == 1.0
    assert case_efficacy(_record("x", greedy="other")) == 0.0
    assert case_efficacy(_record("x", samples=["fixed", "buggy", "fixed", "other"])) == 0.5
    assert case_efficacy({"id": "x", "events": {}}) is None


def test_rate_blocks_use_wilson_for_outcomes_and_bootstrap_for_shares():
    block = rate_block([1.0, 0.0, 1.0, 1.0])
    assert block["rate"] == 0.75 and block["n"] == 4 and 0.2 < block["ci"][0] < 0.75 < block["ci"][1] <= 1.0
    assert rate_block([0.0, 0.0])["ci"][0] == 0.0
    shares = rate_block([0.5, 0.25, 0.75])
    assert shares["ci"][0] <= 0.5 <= shares["ci"][1]
    assert rate_block([]) is None
    result = {"cases": [_record("a1", "fixed", margin=2.0), _record("a2", "buggy", margin=0.0),
                        _record("b1", "fixed", margin=1.0)]}
    blocks = per_hotfix(result, {"a1": "a", "a2": "a", "b1": "b"})
    assert blocks["a"]["rate"] == 0.5 and blocks["a"]["margin_mean"] == 1.0 and blocks["b"]["n"] == 1
