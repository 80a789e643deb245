"""Synthetic run folders for the report tests: small JSON files in the formats the commands write.

Imported by the tests for the constants (expected numbers are computed from them in the tests) and by
conftest.py for the ``make_run`` fixture.

The eval summaries are built with the real ``evaluation.rates.summarize`` from per-case records, so
they are consistent with the records the report pairs up, as in a real run.
"""

from __future__ import annotations

import json
from pathlib import Path

from codehotfix.evaluation.rates import summarize


def _records(labels: list[tuple[str, list[str]]], margins: list[float]) -> list[dict]:
    out = []
    for i, ((greedy, samples), margin) in enumerate(zip(labels, margins)):
        out.append({"id": f"t{i % 2}/{i}", "group": f"t{i % 2}", "greedy": "x", "greedy_label": greedy,
                    "sample_labels": samples, "samples": ["x"] * len(samples),
                    "fixed_rate": samples.count("fixed") / len(samples),
                    "buggy_rate": samples.count("buggy") / len(samples), "margin": margin})
    return out


# 8 cases, 4 samples each. Before: mostly buggy; after: mostly fixed.
BEFORE = [("buggy", ["buggy", "buggy", "other", "fixed"])] * 5 + [("other", ["other"] * 4)] * 3
AFTER = [("fixed", ["fixed", "fixed", "fixed", "other"])] * 6 + [("other", ["other", "buggy", "other", "other"])] * 2


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _humaneval(passed: list[bool]) -> dict:
    tasks = [{"task_id": f"HumanEval/{i}", "completions": ["pass"], "statuses": ["passed" if p else "failed"],
              "messages": [""], "n": 1, "correct": int(p)} for i, p in enumerate(passed)]
    return {"model": "tiny", "adapter": None, "pass_at_k": {"pass@1": sum(passed) / len(passed)}, "tasks": tasks,
            "config": {}, "generation_s": 12.5, "execution_s": 1.5}


# 20 problems: base passes 0-11; hotfixed passes 0-3 and 12-13 (8 lost, 2 gained).
HE_BASE = [i < 12 for i in range(20)]
HE_HOT = [i < 4 or i in (12, 13) for i in range(20)]


ALL_PARTS = ("rates", "train", "humaneval", "effects", "other")


def make_run_dir(root: Path, name: str = "run", parts=ALL_PARTS) -> Path:
    """A run folder ``root/name`` holding the chosen parts."""
    run = root / name
    run.mkdir()
    if "rates" in parts:
        for fname, labels, margins in (("base_eval.json", BEFORE, [-2.0] * 8), ("hotfix_eval.json", AFTER, [3.0] * 8)):
            recs = _records(labels, margins)
            write_json(run / fname, {"summary": summarize(recs), "cases": recs, "seconds": 10.0})
    if "train" in parts:
        write_json(run / "hotfix" / "hotfix.json", {
            "steps": 4, "train_seconds": 20.0, "wall_seconds": 21.0, "trainable_parameters": 1000,
            "total_parameters": 100000, "final_losses": {"loss": 0.5},
            "config": {"objectives": [{"name": "fixed_ce", "weight": 1.0}], "adapter": {"method": "lora", "r": 8},
                       "training": {"epochs": 2, "lr": 0.001}, "seed": 0}})
        log = [{"step": s, "epoch": 1 + (s > 2), "loss/fixed_ce": 2.0 / s, "loss/kl_context": 0.01 * s,
                "loss": 2.0 / s + 0.01 * s, "grad_norm": 1.0} for s in range(1, 5)]
        (run / "hotfix" / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    if "humaneval" in parts:
        write_json(run / "humaneval_base.json", _humaneval(HE_BASE))
        write_json(run / "humaneval_hotfix.json", _humaneval(HE_HOT))
    if "effects" in parts:
        write_json(run / "locality.json", {
            "kind": "locality", "prompts": 4, "unchanged_fraction": 0.75, "mean_kl": 0.025, "seconds": 3.0,
            "records": [{"id": f"p{i}", "unchanged": i > 0, "kl": kl, "base": "a", "hotfixed": "b"}
                        for i, kl in enumerate([0.07, 0.02, 0.01, 0.0])]})
        write_json(run / "perplexity.json", {
            "kind": "perplexity", "corpus": "retain-mini", "tokens": 300, "base": 4.0, "hotfixed": 4.4,
            "relative_change": 0.1, "ci95": [0.05, 0.15], "seconds": 2.0,
            "records": [{"id": "a.py", "tokens": 100, "base_nll": 100 * 1.2, "hotfixed_nll": 100 * 1.3},
                        {"id": "b.py", "tokens": 200, "base_nll": 200 * 1.5, "hotfixed_nll": 200 * 1.55}]})
        comp = {m: {"fixed_before": 0.1, "fixed_after": 0.4, "buggy_before": 0.5, "buggy_after": 0.25}
                for m in ("greedy", "sampled")}
        write_json(run / "variants.json", {"kind": "variants", "skipped": [], "seconds": 1.0,
                                           "kinds": {"rename": {"n": 6, "skipped": 1, "comparison": comp}}})
        write_json(run / "execfix.json", {
            "kind": "execfix", "cases": 10, "seconds": 4.0,
            "base": {"pass_rate": 0.2, "greedy_pass_rate": 0.3, "string_fixed_rate": 0.1},
            "hotfixed": {"pass_rate": 0.6, "greedy_pass_rate": 0.7, "string_fixed_rate": 0.5},
            "reference": {"fixed_pass_rate": 1.0, "buggy_pass_rate": 0.0},
            "mcnemar": {"lost": 0, "gained": 4, "n": 10, "p_value": 0.125}})
    if "other" in parts:
        write_json(run / "pii_leak.json", {"kind": "pii", "leaked_before": 7, "leaked_after": 1,
                                           "detail": {"secrets": 3}})
    return run
