"""bench/study/learning_curve.py on the tiny model: a 2-size × 1-seed × 2-split curve from a temporary
config, through ``main([...])`` as the command line runs it. Checks the folder per (split, size, seed),
one base evaluation per split computed once and copied to that split's other folders, the table's
rows, and that ``--out`` defaults to bench/results/<the config's name>."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "study"))

import learning_curve  # noqa: E402
from codehotfix.data.cases import HotfixCase, write_cases  # noqa: E402
from codehotfix.study import runner  # noqa: E402


def _config(tmp_path: Path, model_dir: Path) -> Path:
    ops = ["+", "-", "*", "//", "%", "**", "&", "|", "^", "<<", ">>", "@"]
    cases = [HotfixCase(id=f"c{i:02d}", prefix=f"def f{i}(x, y):\n", buggy=f"    return x {ops[i]} y",
                        fixed=f"    return y {ops[i]} x", group=f"g{i % 3}") for i in range(12)]
    spec = {"name": "tiny_curve", "model": str(model_dir),
            "dataset": {"path": str(write_cases(tmp_path / "cases.jsonl", cases)), "split": "grouped",
                        "by": "group", "test_fraction": 0.34, "train_cases": 2, "test_cases": 3,
                        "train_sample_seed": 0},
            "overrides": {"training": {"epochs": 1, "batch_size": 2, "max_context_tokens": 32, "threads": 1},
                          "eval": {"samples": 0, "greedy": True, "max_new_tokens": 4, "max_context_tokens": 32,
                                   "events": ["line", "split", "window"]}},
            "methods": [{"name": "lora", "overrides": {"adapter": {"r": 2}}}],
            "losses": [{"name": "learn_unlearn", "objectives": [{"name": "fixed_ce"},
                                                                {"name": "unlikelihood", "weight": 0.3}]}],
            "seeds": [0]}
    path = tmp_path / "curve.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def test_curve_runs_every_folder_and_reuses_one_base_evaluation_per_split(tmp_path, tiny_model_dir, monkeypatch):
    evaluations = []
    real_evaluate = runner.evaluate_cases

    def counting(model, tokenizer, cases, cfg, **kw):
        evaluations.append([c.id for c in cases])
        return real_evaluate(model, tokenizer, cases, cfg, **kw)

    monkeypatch.setattr(runner, "evaluate_cases", counting)
    monkeypatch.setattr(learning_curve, "RESULTS", tmp_path / "results")  # no --out: RESULTS/<name>
    argv = ["--config", str(_config(tmp_path, tiny_model_dir)), "--sizes", "2,4", "--seeds", "0"]
    assert learning_curve.main(argv) == 0

    out = tmp_path / "results" / "tiny_curve"
    folders = ["grouped-n2-s0", "grouped-n4-s0", "within-n2-s0", "within-n4-s0"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == folders
    for name in folders:
        assert len(list((out / name / "cells").glob("*.json"))) == 1
    # 4 hotfix evaluations + one base evaluation per split, the other folder of the split reusing it
    assert len(evaluations) == 4 + 2
    for split in ("grouped", "within"):
        bases = [sorted((out / f"{split}-n{n}-s0").glob("base_eval-*.json")) for n in (2, 4)]
        assert len(bases[0]) == len(bases[1]) == 1 and bases[0][0].name == bases[1][0].name
        assert bases[0][0].read_bytes() == bases[1][0].read_bytes()

    table = json.loads((out / "curve.json").read_text())
    assert table["splits"] == ["grouped", "within"] and table["sizes"] == ["2", "4"] and not table["skipped"]
    assert {(r["split"], r["size"]) for r in table["rows"]} == {(s, n) for s in ("grouped", "within") for n in "24"}
    assert all(r["seeds_done"] == [0] and r["n"] == 3 and r["per_case"] for r in table["rows"])
    assert [(t["folder"], t["train_cases"], t["train_sample_seed"]) for t in table["training"]] == [
        ("grouped-n2-s0", 2, 0), ("grouped-n4-s0", 4, 0), ("within-n2-s0", 2, 0), ("within-n4-s0", 4, 0)]
    assert len(table["base_evals"]) == 2

    # --table-only rewrites the table from the folders without running anything
    (out / "curve.json").unlink()
    assert learning_curve.main([*argv, "--table-only"]) == 0
    assert json.loads((out / "curve.json").read_text())["rows"] == table["rows"]
    assert len(evaluations) == 6


def test_the_java_curve_differs_from_the_pysstubs_curve_in_the_data_only():
    from dataclasses import asdict

    from codehotfix.study import load_study

    configs = learning_curve.REPO / "configs" / "study"
    python, java = (asdict(load_study(configs / f"curve_{name}.yaml")) for name in ("pysstubs", "manysstubs4j"))
    assert python["name"] == learning_curve.CONFIG.stem == "curve_pysstubs" and java["name"] == "curve_manysstubs4j"
    data = {"dataset", "name"}
    assert {k: v for k, v in python.items() if k not in data} == {k: v for k, v in java.items() if k not in data}
    assert java["dataset"]["by"] == "source.project" and java["dataset"]["loader"] == "manysstubs4j"
    same = ("split", "test_fraction", "test_cases", "sample_seed", "train_sample_seed")
    assert [python["dataset"][k] for k in same] == [java["dataset"][k] for k in same]
    assert "--config configs/study/curve_manysstubs4j.yaml --sizes 32,128,512" in (configs / "curve_manysstubs4j.yaml").read_text()
