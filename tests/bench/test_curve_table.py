"""bench/study/curve_table.py: the learning curve's table over (split, size, seed) study folders.

One real tiny study folder gives the record format run_study writes; the other folders are copies of
it whose per-case outcomes are set by hand, so every rate, McNemar count, pooled p and Holm p below
is known (the sign-flip p-values are counted by hand in the comments).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "study"))

from curve_table import write_curve_table  # noqa: E402
from codehotfix.data.cases import HotfixCase, write_cases  # noqa: E402
from codehotfix.evaluation import stats  # noqa: E402
from codehotfix.models.loading import LoadedModel  # noqa: E402
from codehotfix.study import load_study, run_study  # noqa: E402
from tiny_model import build_tiny_model  # noqa: E402

N = 12  # test cases per split


@pytest.fixture(scope="module")
def real_folder(tmp_path_factory, tiny_tokenizer):
    """One finished study folder from run_study on the tiny model: greedy only, events line/split/window."""
    tmp = tmp_path_factory.mktemp("curve-real")
    ops = ["+", "-", "*", "//", "%", "**", "&", "|", "^"]
    cases = [HotfixCase(id=f"c{i}", prefix=f"def f{i}(x, y):\n", buggy=f"    return x {ops[i]} y",
                        fixed=f"    return y {ops[i]} x", group=f"g{i % 3}") for i in range(9)]
    spec = {"name": "tiny", "dataset": {"path": str(write_cases(tmp / "cases.jsonl", cases)), "split": "grouped",
                                        "test_fraction": 0.34, "train_cases": 4, "train_sample_seed": 0},
            "overrides": {"training": {"epochs": 1, "batch_size": 4, "max_context_tokens": 32},
                          "eval": {"samples": 0, "greedy": True, "max_new_tokens": 6, "max_context_tokens": 32,
                                   "events": ["line", "split", "window"]}},
            "methods": [{"name": "lora", "overrides": {"adapter": {"r": 2}}}],
            "losses": [{"name": "learn", "objectives": [{"name": "fixed_ce"}]}], "seeds": [0]}
    (tmp / "study.yaml").write_text(json.dumps(spec))
    loaded = LoadedModel(build_tiny_model(len(tiny_tokenizer)), tiny_tokenizer, "tiny", "tiny-checksum", "")
    run_study(load_study(tmp / "study.yaml"), tmp / "out", loaded=loaded, progress=False, log=lambda _: None)
    return tmp / "out"


def _case(case_id, line="other", split="other", toward=None):
    """A per-case record as evaluate_cases writes it (labels only), with its events' greedy verdicts."""
    return {"id": case_id, "group": "g", "greedy_label": line, "sample_labels": [], "margin": 0.0,
            "events": {"line": {"greedy": {"label": line, "valid": True}, "samples": []},
                       "split": {"greedy": {"label": split, "toward": toward, "valid": True}, "samples": []},
                       "window": {"greedy": {"label": "other", "contains_fixed": False, "contains_buggy": False},
                                  "samples": []}}}


def _folder(out, name, template, base_cases, cell_cases, *, fingerprint="fp"):
    """A copy of the real folder as ``out/name`` holding these per-case records (base and cell)."""
    target = out / name
    shutil.copytree(template, target)
    cell_path = next((target / "cells").glob("*.json"))
    cell = json.loads(cell_path.read_text())
    base_path = target / cell["base_eval"]
    base = json.loads(base_path.read_text())
    base.update(cases=base_cases, fingerprint=fingerprint)
    base_path.write_text(json.dumps(base))
    cell.update(cases=cell_cases, seed=int(name.rsplit("-s", 1)[1]))
    cell_path.write_text(json.dumps(cell))


def _grouped_base():
    # Line: fixed at t0, t1. Split: exactly buggy (so toward the bug) at t0..t7.
    return [_case(f"t{i}", line="fixed" if i < 2 else "other", split="buggy" if i < 8 else "other",
                  toward="buggy" if i < 8 else None) for i in range(N)]


def _grouped_seed(fixed_at):
    # Line fixed at ``fixed_at``; split: every case leaves the bug and goes toward the fix (not exactly).
    return [_case(f"t{i}", line="fixed" if i in fixed_at else "other", toward="fixed") for i in range(N)]


@pytest.fixture(scope="module")
def curve(real_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("curve")
    base = _grouped_base()
    _folder(out, "grouped-n4-s0", real_folder, base, _grouped_seed(range(0, 8)))   # gains t2..t7
    _folder(out, "grouped-n4-s1", real_folder, base, _grouped_seed(range(1, 6)))   # gains t2..t5, loses t0
    # size "all", seed 0 only (the others not run): only the line changes, t2..t7 gained.
    _folder(out, "grouped-nall-s0", real_folder, base,
            [{**c, "greedy_label": "fixed" if i < 8 else c["greedy_label"],
              "events": {**c["events"], "line": {"greedy": {"label": "fixed" if i < 8 else c["greedy_label"],
                                                            "valid": True}, "samples": []}}}
             for i, c in enumerate(base)])
    within_base = [_case(f"w{i}") for i in range(N)]
    within_seed = [_case(f"w{i}", line="fixed" if i < 11 else "other") for i in range(N)]
    _folder(out, "within-n4-s0", real_folder, within_base, within_seed, fingerprint="fp-within")
    _folder(out, "within-n4-s1", real_folder, within_base, within_seed, fingerprint="fp-within")
    (out / "within-nall-s0").mkdir()  # started, no finished cell yet; within-n4-s2 does not exist at all
    return out, write_curve_table(out)


def _row(table, split, size, event, outcome):
    return next(r for r in table["rows"] if (r["split"], r["size"], r["event"], r["outcome"])
                == (split, size, event, outcome))


def test_rates_mcnemar_and_pooled_test_on_hand_built_outcomes(curve):
    _, table = curve
    row = _row(table, "grouped", "4", "line", "fixed")
    assert row["per_case"] and row["n"] == N and row["seeds_done"] == [0, 1]
    assert row["base"] == {"count": 2, "n": N, "rate": 2 / N, "ci": list(stats.wilson_interval(2, N))}
    s0, s1 = row["seeds"]
    assert (s0["count"], s0["gained"], s0["lost"]) == (8, 6, 0) and s0["p"] == pytest.approx(2 / 2 ** 6)
    assert (s1["count"], s1["gained"], s1["lost"]) == (5, 4, 1) and s1["p"] == pytest.approx(12 / 32)
    assert s0["ci"] == list(stats.wilson_interval(8, N))
    assert row["mean_rate"] == pytest.approx(6.5 / N) and row["mean_change"] == pytest.approx(4.5 / N)
    # Per case, seeds fixed − 2 × base: t0 −1, t2..t5 +2, t6 t7 +1, others 0; |sum| = 9 of 11 in 8 of
    # the 2^7 sign patterns.
    assert row["pooled"]["changed_cases"] == 7 and row["pooled"]["p"] == pytest.approx(8 / 128)
    # Δ mean's interval: a bootstrap over the cases of exactly those per-case changes (0.5 per seed).
    changes = [-1 / 2] + [1.0] * 4 + [0.5] * 2 + [0.0] * (N - 7)
    assert sorted(row["case_changes"]) == sorted(changes)
    low, high = row["pooled"]["change_ci"]
    assert low < row["mean_change"] < high and low > 0  # 6 of 7 changed cases rise
    assert [low, high] == pytest.approx(list(stats.bootstrap_mean_ci(row["case_changes"])))
    toward = _row(table, "grouped", "4", "split", "toward_fixed")["pooled"]["change_ci"]
    assert toward == pytest.approx([1.0, 1.0])  # every case moved toward the fix at both seeds
    # The split event's direction and exact labels on the same cases.
    toward_fix, toward_bug = (_row(table, "grouped", "4", "split", m) for m in ("toward_fixed", "toward_buggy"))
    assert (toward_fix["base"]["count"], [s["count"] for s in toward_fix["seeds"]]) == (0, [N, N])
    assert [(s["gained"], s["lost"]) for s in toward_fix["seeds"]] == [(N, 0), (N, 0)]
    assert toward_fix["pooled"]["p"] == pytest.approx(2 / 2 ** 12)
    assert toward_bug["pooled"]["p"] == pytest.approx(2 / 2 ** 8) and toward_bug["mean_change"] == pytest.approx(-8 / N)
    assert _row(table, "grouped", "4", "split", "buggy")["pooled"]["p"] == pytest.approx(2 / 2 ** 8)
    assert _row(table, "grouped", "4", "split", "fixed_valid")["mean_rate"] == 0.0
    assert _row(table, "grouped", "4", "line", "fixed_valid")["seeds"][0]["count"] == 8  # every line parses


def test_holm_over_every_pooled_test_and_not_significant_wording(curve):
    _, table = curve
    pooled = [r for r in table["rows"] if r["pooled"]]
    assert len(pooled) == 30  # 10 outcomes × (grouped n4, grouped all, within n4)
    m = len(pooled)
    smallest = _row(table, "grouped", "4", "split", "toward_fixed")["pooled"]
    assert smallest["p_holm"] == pytest.approx(m * 2 / 2 ** 12) and smallest["verdict"] == "significant increase"
    second = _row(table, "within", "4", "line", "fixed")["pooled"]
    assert second["p"] == pytest.approx(2 / 2 ** 11) and second["p_holm"] == pytest.approx((m - 1) * 2 / 2 ** 11)
    # Every line parses, so the line's fixed-and-valid rows repeat its fixed rows (within n4 is 2nd and
    # 3rd). The split's exact-buggy and toward-bug rows (4th, 5th): raw p 0.0078 < 0.05, Holm's
    # (m − 3) × p = 0.21: not significant.
    bug = _row(table, "grouped", "4", "split", "toward_buggy")["pooled"]
    assert bug["p"] < 0.05 and bug["p_holm"] == pytest.approx((m - 3) * 2 / 2 ** 8)
    assert bug["verdict"] == "not significant"
    all_size = _row(table, "grouped", "all", "line", "fixed")
    assert all_size["seeds_done"] == [0] and all_size["pooled"]["p"] == pytest.approx(2 / 2 ** 6)
    assert all_size["pooled"]["verdict"] == "not significant"
    md = table["markdown"]
    assert "| toward bug | grouped | 4 | 12 |" in md and re.search(r"\| −0\.667 \[−\d\.\d{3}, −\d\.\d{3}\] \| 0\.0078 \| 0\.21 \| not significant \|", md)
    assert "s1: 0.417 [0.193, 0.680] +4/−1 p=0.38" in md and "+11/−0 p<0.001" in md


def test_grouped_vs_within_permutation_test(curve):
    _, table = curve
    assert {r["size"] for r in table["between_splits"]} == {"4"}  # no finished within folder at size all
    tests = {(r["event"], r["outcome"]): r for r in table["between_splits"]}
    line = tests[("line", "fixed")]
    assert line["grouped"]["mean_change"] == pytest.approx(4.5 / N)
    assert line["within"]["mean_change"] == pytest.approx(11 / N)
    assert line["difference"] == pytest.approx(6.5 / N) and line["p"] < 0.05
    direction = tests[("split", "toward_fixed")]
    assert direction["difference"] == pytest.approx(-1.0) and direction["p"] < 0.001
    assert tests[("window", "contains_fixed")]["p"] == 1.0
    assert [r["p_holm"] for r in table["between_splits"]] == stats.holm([r["p"] for r in table["between_splits"]])
    assert direction["verdict"] == "significant: within < grouped"
    assert line["p_holm"] >= 0.05 and line["verdict"] == "not significant"


def test_files_training_records_and_skipped_folders(curve):
    out, table = curve
    written = json.loads((out / "curve.json").read_text())
    assert "markdown" not in written and written["rows"] == json.loads(json.dumps(table["rows"]))
    assert (out / "curve.md").read_text() == table["markdown"]
    assert table["skipped"] == [{"folder": "within-nall-s0", "reason": "no finished cell"}]
    assert table["sizes"] == ["4", "all"] and table["splits"] == ["grouped", "within"]
    assert [t["folder"] for t in table["training"]] == ["grouped-n4-s0", "grouped-n4-s1", "grouped-nall-s0",
                                                         "within-n4-s0", "within-n4-s1"]
    t = table["training"][0]
    assert t["train_cases"] == 4 and t["steps"] == 1 and t["train_seconds"] >= 0 and t["eval_seconds"] >= 0
    assert table["machine"]["cpu"] and table["machine"]["cpu_count"] >= 1


def test_records_as_run_study_writes_them_pair_every_event(real_folder, tmp_path):
    # run_study keeps each case's judged events, so the split and window rows get paired tests too.
    for name in ("grouped-n4-s0", "grouped-n4-s1"):
        shutil.copytree(real_folder, tmp_path / name)
        cell_path = next((tmp_path / name / "cells").glob("*.json"))
        cell_path.write_text(json.dumps({**json.loads(cell_path.read_text()), "seed": int(name[-1])}))
    table = write_curve_table(tmp_path)
    line = _row(table, "grouped", "4", "line", "fixed")
    assert line["per_case"] and line["pooled"]["p"] == 1.0  # same model, same outcomes
    split = _row(table, "grouped", "4", "split", "toward_fixed")
    assert split["per_case"] and split["pooled"]["p"] == 1.0 and split["n"] == 3
    window = _row(table, "grouped", "4", "window", "contains_fixed")
    assert window["per_case"] and window["pooled"] is not None


def test_records_without_per_case_events_fall_back_to_summaries(real_folder, tmp_path):
    # Records written before the runner kept events (e.g. older studies): split and window rows come
    # from the summaries' counts, with no paired test, and say so.
    for name in ("grouped-n4-s0", "grouped-n4-s1"):
        shutil.copytree(real_folder, tmp_path / name)
        for path in [*(tmp_path / name / "cells").glob("*.json"), *(tmp_path / name).glob("base_eval-*.json")]:
            record = json.loads(path.read_text())
            record["cases"] = [{k: v for k, v in c.items() if k != "events"} for c in record["cases"]]
            if path.parent.name == "cells":
                record["seed"] = int(name[-1])
            path.write_text(json.dumps(record))
    table = write_curve_table(tmp_path)
    assert _row(table, "grouped", "4", "line", "fixed")["per_case"]
    split = _row(table, "grouped", "4", "split", "toward_fixed")
    assert not split["per_case"] and split["pooled"] is None and split["n"] == 3
    assert "| – | – | no per-case outcomes recorded |" in table["markdown"]


def test_seeds_of_one_size_must_share_the_base_evaluation(real_folder, tmp_path):
    _folder(tmp_path, "grouped-n4-s0", real_folder, _grouped_base(), _grouped_seed(()), fingerprint="a")
    _folder(tmp_path, "grouped-n4-s1", real_folder, _grouped_base(), _grouped_seed(()), fingerprint="b")
    with pytest.raises(ValueError, match="grouped n4 folders have different base evaluations"):
        write_curve_table(tmp_path)
    assert not (tmp_path / "curve.json").exists()
