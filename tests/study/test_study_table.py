"""The results table on hand-made cell records: relative changes, mean ± sd, ranking, markdown."""

import math

import pytest

from codehotfix.study.table import (
    PAPER_REFERENCE,
    aggregate,
    build_table,
    format_pct,
    margin_test,
    mean_sd,
    rank_rows,
    relative_change,
    table_markdown,
)


def _summary(fixed, buggy, greedy_fixed=0.0, greedy_buggy=0.0, margin=0.0):
    return {"cases": 10, "sampled": {"fixed_rate": fixed, "buggy_rate": buggy},
            "greedy": {"fixed_rate": greedy_fixed, "buggy_rate": greedy_buggy},
            "margin_mean": margin, "prefers_fixed": 0.5}


def _record(method, loss, seed, fixed, buggy, margin=0.0, seconds=10.0, rss=1000.0, params=4096):
    return {"cell_id": f"{method}--{loss}--s{seed}--0123456789", "method": method, "loss": loss, "seed": seed,
            "summary": _summary(fixed, buggy, greedy_fixed=fixed, greedy_buggy=buggy, margin=margin),
            "train": {"seconds": seconds}, "eval_seconds": 5.0, "memory": {"peak_rss_mb": rss},
            "trainable_parameters": params}


BASE = _summary(0.20, 0.40, greedy_fixed=0.0, greedy_buggy=0.5, margin=-1.0)


def test_relative_change_and_its_undefined_cases():
    assert relative_change(0.2, 0.3) == pytest.approx(50.0)
    assert relative_change(0.4, 0.1) == pytest.approx(-75.0)
    assert relative_change(0.0, 0.3) is None and relative_change(None, 0.1) is None
    assert relative_change(0.5, 0.5) == 0.0


def test_mean_and_sample_sd():
    stat = mean_sd([0.1, 0.2, 0.6])
    assert stat["mean"] == pytest.approx(0.3) and stat["n"] == 3
    assert stat["sd"] == pytest.approx(math.sqrt(((0.2) ** 2 + 0.1 ** 2 + 0.3 ** 2) / 2))  # n − 1
    assert mean_sd([0.7]) == {"mean": 0.7, "sd": None, "n": 1}
    assert mean_sd([None, None]) == {"mean": None, "sd": None, "n": 0}
    assert mean_sd([None, 2.0, 4.0])["mean"] == 3.0


def test_rows_pool_seeds_with_per_seed_relative_changes():
    records = [_record("lora", "learn", 0, 0.30, 0.20, margin=1.0),
               _record("lora", "learn", 1, 0.50, 0.10, margin=3.0, seconds=14.0),
               _record("ia3", "learn", 0, 0.20, 0.40, margin=-0.5)]
    rows = {(r["method"], r["loss"]): r for r in aggregate(records, BASE)}
    lora = rows[("lora", "learn")]
    assert lora["seeds"] == [0, 1] and lora["fixed_sampled"]["mean"] == pytest.approx(0.40)
    # Per seed: fixed +50% and +150% → mean +100%, sd 70.71; buggy −50% and −75% → −62.5%.
    assert lora["fixed_sampled_change_pct"]["mean"] == pytest.approx(100.0)
    assert lora["fixed_sampled_change_pct"]["sd"] == pytest.approx(math.sqrt(2 * 50.0 ** 2))
    assert lora["buggy_sampled_change_pct"]["mean"] == pytest.approx(-62.5)
    # Score per seed: (0.30−0.20) − (0.20−0.40) = 0.30 and (0.50−0.20) − (0.10−0.40) = 0.60.
    assert lora["score"]["mean"] == pytest.approx(0.45) and lora["score"]["sd"] == pytest.approx(math.sqrt(0.045))
    assert lora["train_seconds"]["mean"] == 12.0 and lora["trainable_parameters"]["mean"] == 4096
    # Greedy fixed was 0 in the base: its relative change is undefined, not infinite.
    assert lora["fixed_greedy_change_pct"]["mean"] is None
    ia3 = rows[("ia3", "learn")]
    assert ia3["score"]["mean"] == pytest.approx(0.0) and ia3["score"]["sd"] is None


def test_ranking_by_score_then_margin_and_other_metrics():
    records = [_record("a", "x", 0, 0.30, 0.30, margin=0.0),   # score 0.10 + 0.10 = 0.20
               _record("b", "x", 0, 0.25, 0.25, margin=5.0),   # score 0.05 + 0.15 = 0.20, larger margin
               _record("c", "x", 0, 0.60, 0.40, margin=9.0)]   # score 0.40
    ranked = rank_rows(aggregate(records, BASE))
    assert [(r["method"], r["rank"]) for r in ranked] == [("c", 1), ("b", 2), ("a", 3)]
    assert [r["method"] for r in rank_rows(aggregate(records, BASE), "buggy_rate")] == ["b", "a", "c"]
    # The table can be ranked by another metric; its header says which.
    table = build_table([_record("a", "x", 0, 0.60, 0.10, margin=1.0), _record("b", "x", 0, 0.20, 0.40, margin=3.0)],
                        BASE, study={"name": "t"}, metric="margin")
    assert table["ranked_by"] == "margin" and table["best"]["method"] == "b"
    assert "Ranked by the mean likelihood margin" in table_markdown(table)
    assert build_table([_record("a", "x", 0, 0.60, 0.10, margin=1.0)], BASE,
                       study={"name": "t"})["ranked_by"] == "score"


def test_markdown_has_base_best_and_paper_rows():
    records = [_record("lora", "learn", 0, 0.30, 0.20), _record("lora", "learn", 1, 0.50, 0.10),
               _record("ia3", "learn", 0, 0.10, 0.60)]
    table = build_table(records, BASE, study={"name": "t", "model": "m", "losses": {
        "learn": [{"name": "fixed_ce", "weight": 1.0}]}, "methods": {"lora": {}, "ia3": {"training": {"lr": 0.02}}}},
        pending=["x--y--s2--abc"])
    assert table["best"]["method"] == "lora" and table["cells_done"] == 3 and table["reference"] == PAPER_REFERENCE
    md = table_markdown(table)
    best = next(line for line in md.splitlines() if line.startswith("| **1**"))
    assert "**lora**" in best and "**+100.0±70.7%**" in best and "**−62.5±17.7%**" in best
    worst = next(line for line in md.splitlines() if line.startswith("| 2 |"))
    assert "| ia3 | learn | 0 | 0.100 | −50.0% | 0.600 | +50.0% |" in worst
    assert "| – | base model | – | – | 0.200 | | 0.400 |" in md
    assert "+108.42%" in md and "−50.47%" in md
    assert "Pending cells (1): x--y--s2--abc" in md and "`learn` = 1·fixed_ce" in md
    assert '`ia3` {"training": {"lr": 0.02}}' in md


def test_format_pct():
    assert format_pct(12.345) == "+12.3%" and format_pct(-50.47, 2) == "−50.47%"
    assert format_pct({"mean": 5.0, "sd": 1.25}) == "+5.0±1.2%" and format_pct(None) == "n/a"


def test_margin_test_pairs_cases_and_averages_seeds():
    base = [{"id": f"c{i}", "margin": 0.0} for i in range(6)]
    # Seed 0 and seed 1 average to +1, +2, … +6 per case: every case moved up.
    seed0 = dict(_record("lora", "x", 0, 0.2, 0.4), cases=[{"id": f"c{i}", "margin": float(i)} for i in range(6)])
    seed1 = dict(_record("lora", "x", 1, 0.2, 0.4), cases=[{"id": f"c{i}", "margin": float(i + 2)} for i in range(6)])
    test = margin_test([seed0, seed1], base)
    assert test["cases"] == 6 and test["mean_change"] == pytest.approx(3.5) and test["median_change"] == pytest.approx(3.5)
    assert test["p"] == pytest.approx(0.03125)  # exact two-sided signed-rank p for 6 of 6 positive: 2 / 2**6
    # Half up, half down by the same amounts: no evidence of a shift.
    mixed = dict(_record("lora", "y", 0, 0.2, 0.4), cases=[{"id": f"c{i}", "margin": (1.0 if i % 2 else -1.0) * (i // 2 + 1)}
                                                          for i in range(6)])
    assert margin_test([mixed], base)["p"] == pytest.approx(1.0)
    assert margin_test([_record("lora", "z", 0, 0.2, 0.4)], base) is None  # no per-case margins
    table = build_table([seed0, seed1], BASE, study={"name": "t"}, base_cases=base)
    assert table["rows"][0]["margin_test"]["p"] == pytest.approx(0.03125)
    assert "+3.50 (p=0.031)" in table_markdown(table)
