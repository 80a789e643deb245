"""bench/study/compare_cells.py: a study's rows against its reference row, paired per (seed, case).

The study folder is written by hand in the record format run_study writes (tests/bench/test_curve_table.py
builds one for real), with outcomes set so that every count, McNemar p and Holm p is known.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "study"))

from compare_cells import compare_cells, main  # noqa: E402
from codehotfix.evaluation import stats  # noqa: E402

N = 10  # test cases


def _case(i: int, fixed: bool, valid: bool = True) -> dict:
    split = {"label": "fixed" if fixed else "other", "toward": "fixed" if fixed else "buggy", "valid": valid}
    return {"id": f"c{i}", "greedy_label": split["label"],
            "events": {"line": {"greedy": {"label": split["label"], "valid": valid}}, "split": {"greedy": split}}}


def _cell(method: str, loss: str, seed: int, fixed: set[int], seconds: float, base_eval: str = "base_eval-a.json",
          invalid: frozenset = frozenset()) -> dict:
    return {"method": method, "loss": loss, "seed": seed, "base_eval": base_eval, "train": {"seconds": seconds},
            "trainable_parameters": 1000 if method == "lora" else 300, "machine": {"cpu": "test cpu"},
            "cases": [_case(i, i in fixed, i not in invalid) for i in range(N)]}


@pytest.fixture()
def study(tmp_path):
    (tmp_path / "cells").mkdir()
    (tmp_path / "study.json").write_text(json.dumps({"base_eval": "base_eval-a.json"}))
    (tmp_path / "base_eval-a.json").write_text(json.dumps({"cases": [_case(i, i < 2) for i in range(N)]}))
    cells = [_cell("lora", "demo", s, set(range(8)), 100.0 + s) for s in (0, 1)]
    cells += [_cell("lora_top8", "demo", s, set(range(8)), 60.0 + s) for s in (0, 1)]  # the same effect, cheaper
    # Only 2 of the reference's 8 fixed cases at either seed: 12 lost, 0 gained; case 9 stops parsing.
    cells += [_cell("lora", "no_corpus", s, {0, 1}, 80.0, invalid=frozenset({9})) for s in (0, 1)]
    cells += [_cell("lora_top8", "no_corpus", 0, set(range(8)), 50.0)]  # seed 0 only
    cells += [_cell("lora", "demo", 0, set(), 1.0, base_eval="base_eval-old.json")]  # another setting: left out
    for i, c in enumerate(cells):
        (tmp_path / "cells" / f"{i}.json").write_text(json.dumps(c))
    return tmp_path


def test_rows_are_paired_with_the_reference_per_seed_and_case(study):
    table = compare_cells(study, "lora/demo")
    rows = {(r["row"], r["event"], r["outcome"]): r for r in table["rows"]}
    same = rows[("lora_top8/demo", "split", "fixed")]
    assert (same["pairs"], same["gained"], same["lost"], same["p"], same["verdict"]) == \
        (20, 0, 0, 1.0, "not significantly different")
    assert same["reference"]["count"] == same["candidate"]["count"] == 16 and same["base"]["count"] == 4
    worse = rows[("lora/no_corpus", "split", "fixed")]
    assert (worse["pairs"], worse["gained"], worse["lost"]) == (20, 0, 12)
    assert worse["p"] == pytest.approx(2 * 0.5 ** 12) and worse["verdict"] == "lower"
    assert rows[("lora/no_corpus", "split", "valid")]["lost"] == 2  # case 9 at both seeds
    one_seed = rows[("lora_top8/no_corpus", "split", "fixed")]
    assert one_seed["seeds"] == [0] and one_seed["pairs"] == 10  # only the seed both rows have
    # One Holm family over every test of the table.
    ps = [r["p"] for r in table["rows"]]
    assert [r["p_holm"] for r in table["rows"]] == pytest.approx(stats.holm(ps))
    assert len(table["rows"]) == 3 * 6
    cost = table["costs"]["lora_top8/demo"]
    assert cost["ratio"] == {"median": pytest.approx((60 / 100 + 61 / 101) / 2), "min": pytest.approx(0.6),
                             "max": pytest.approx(61 / 101)}
    assert cost["trainable_parameters"] == 300 and table["reference_seeds"] == [0, 1]


def test_the_script_writes_json_and_markdown_and_names_a_missing_reference(study, capsys):
    assert main([str(study), "--reference", "lora/demo"]) == 0
    md = (study / "compare.md").read_text()
    assert "| lora/no_corpus | 0,1 | split | exact fixed | 4/20 [0.08, 0.42] | 16/20" in md and "lower" in md
    assert json.loads((study / "compare.json").read_text())["reference"] == "lora/demo"
    assert main([str(study), "--reference", "dora/demo"]) == 2
    assert "no cell of the reference row 'dora/demo'" in capsys.readouterr().err


def test_every_row_is_tested_against_the_base_model_seed_by_seed(study):
    table = compare_cells(study, "lora/demo")
    tests = {(t["row"], t["seed"], t["event"], t["outcome"]): t for t in table["against_base"]}
    # The reference row is there too: 8 fixed against the base's 2 at each seed, 6 gained, none lost.
    ref = tests[("lora/demo", 0, "split", "fixed")]
    assert (ref["pairs"], ref["gained"], ref["lost"], ref["p"]) == (N, 6, 0, pytest.approx(2 * 0.5 ** 6))
    assert ref["base"]["count"] == 2 and ref["candidate"]["count"] == 8
    same = tests[("lora/no_corpus", 1, "split", "fixed")]  # exactly the base's cases
    assert (same["gained"], same["lost"], same["p"], same["verdict"]) == (0, 0, 1.0, "not significantly different")
    assert {k[:2] for k in tests} == {("lora/demo", 0), ("lora/demo", 1), ("lora_top8/demo", 0), ("lora_top8/demo", 1),
                                      ("lora/no_corpus", 0), ("lora/no_corpus", 1), ("lora_top8/no_corpus", 0)}
    # Its own Holm family: the reference comparison's adjusted p values are those of its rows alone.
    ps = [t["p"] for t in table["against_base"]]
    assert [t["p_holm"] for t in table["against_base"]] == pytest.approx(stats.holm(ps))
    assert [r["p_holm"] for r in table["rows"]] == pytest.approx(stats.holm([r["p"] for r in table["rows"]]))


def test_outcomes_can_be_chosen_and_a_wrong_one_is_named(study, capsys):
    for path in sorted((study / "cells").glob("*.json")):  # lora/no_corpus loops in case 3
        cell = json.loads(path.read_text())
        for case in cell["cases"]:
            looped = cell["loss"] == "no_corpus" and case["id"] == "c3"
            case["events"]["window"] = {"greedy": {"label": "other", "hit_budget": looped}}
        path.write_text(json.dumps(cell))
    base = json.loads((study / "base_eval-a.json").read_text())
    for case in base["cases"]:
        case["events"]["window"] = {"greedy": {"label": "other", "hit_budget": False}}
    (study / "base_eval-a.json").write_text(json.dumps(base))
    assert main([str(study), "--reference", "lora/demo", "--outcomes", "split:toward_fixed,window:hit_budget"]) == 0
    table = json.loads((study / "compare.json").read_text())
    assert table["outcomes"] == [["split", "toward_fixed"], ["window", "hit_budget"]]
    loops = [r for r in table["rows"] if r["row"] == "lora/no_corpus" and r["event"] == "window"][0]
    assert (loops["reference"]["count"], loops["candidate"]["count"], loops["gained"], loops["lost"]) == (0, 2, 2, 0)
    assert len(table["rows"]) == 3 * 2
    assert "| lora/no_corpus | 0 | window | used its whole budget | 0/10 [0.00, 0.28] | 1/10" in \
        (study / "compare.md").read_text()
    assert main([str(study), "--reference", "lora/demo", "--outcomes", "window:loops"]) == 2
    assert "'window:loops' is not event:outcome" in capsys.readouterr().err
