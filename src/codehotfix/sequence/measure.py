"""What a sequence measures after a step: efficacy per hotfix (``split`` event), HumanEval, locality.

Efficacy of a hotfix is read on its held-out contexts with the ``split`` completion event
(``evaluation.events``): the prompt runs up to where the buggy and fixed lines part, and a case
counts as fixed when the completed line is exactly the fixed one. Per case that is the greedy
completion's outcome (0/1), or the share of sampled completions when the run samples only. Per
hotfix the rate comes with a Wilson interval (greedy: a proportion of cases) or a bootstrap interval
over cases (sampled); a set of hotfixes pools its cases (bootstrap over cases).

The HumanEval and locality parts wrap ``evaluation.humaneval.run_humaneval`` and
``evaluation.locality.run_locality`` as ``codehotfix run`` calls them; every measurement here runs
on the model as it is (the step's adapters active).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from codehotfix.config import EvalConfig
from codehotfix.data.cases import HotfixCase
from codehotfix.evaluation import stats
from codehotfix.evaluation.rates import evaluate_cases
from codehotfix.models.loading import LoadedModel

__all__ = ["EVENTS", "efficacy_eval", "case_efficacy", "rate_block", "per_hotfix", "humaneval_run",
           "humaneval_change", "locality_run"]

# The events a sequence judges: line (always on; its margin is kept) and split (the efficacy).
EVENTS = ["line", "split"]


def efficacy_eval(loaded: LoadedModel, cases: Sequence[HotfixCase], eval_cfg: EvalConfig, *,
                  progress: bool) -> dict[str, Any]:
    """``evaluate_cases`` on ``cases`` with the line and split events (the window is not needed)."""
    cfg = dataclasses.replace(eval_cfg, events=list(EVENTS))
    return evaluate_cases(loaded.model, loaded.tokenizer, cases, cfg, progress=progress)


def case_efficacy(record: Mapping[str, Any]) -> float | None:
    """One case's split-event efficacy: its greedy outcome (1.0 fixed, 0.0 not), else the share of
    its samples that wrote the fixed line; None where the record has no split event."""
    block = record.get("events", {}).get("split")
    if block is None:
        return None
    if block.get("greedy") is not None:
        return 1.0 if block["greedy"]["label"] == "fixed" else 0.0
    samples = block.get("samples") or []
    return sum(s["label"] == "fixed" for s in samples) / len(samples) if samples else None


def rate_block(values: Sequence[float]) -> dict[str, Any] | None:
    """Mean of per-case efficacies with a 95% interval: Wilson where every value is 0 or 1, else a
    percentile bootstrap over cases (Wilson over the rounded count where all cases are equal)."""
    if not values:
        return None
    n, mean = len(values), sum(values) / len(values)
    if all(v in (0.0, 1.0) for v in values):
        ci = stats.wilson_interval(int(sum(values)), n)
    else:
        ci = stats.bootstrap_mean_ci(values)
        if ci[0] == ci[1]:
            ci = stats.wilson_interval(round(sum(values)), n)
    return {"rate": round(mean, 4), "n": n, "ci": [round(ci[0], 4), round(ci[1], 4)]}


def per_hotfix(result: Mapping[str, Any], members: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Per hotfix (``members``: case id → hotfix name), its efficacy block and mean margin (nats)."""
    values: dict[str, list[float]] = {}
    margins: dict[str, list[float]] = {}
    for record in result["cases"]:
        name = members.get(record["id"])
        value = case_efficacy(record)
        if name is None or value is None:
            continue
        values.setdefault(name, []).append(value)
        margins.setdefault(name, []).append(record["margin"])
    return {name: {**rate_block(v), "margin_mean": round(sum(margins[name]) / len(margins[name]), 4)}
            for name, v in values.items()}


def humaneval_run(loaded: LoadedModel, problems: int, seed: int, adapter_tag: str | None) -> dict[str, Any]:
    """HumanEval's first ``problems`` problems, greedy, as ``codehotfix run --humaneval`` runs them.

    ``adapter_tag`` identifies the active adapters (part of the generation cache key: two different
    adapter sets must never share cached completions); None for the base model.
    """
    from codehotfix.evaluation.generation import make_generator
    from codehotfix.evaluation.humaneval import HumanEvalConfig, run_humaneval

    cfg = HumanEvalConfig(limit=problems, max_new_tokens=384, batch_size=8, seed=seed, allow_exec=True)
    generate = make_generator(loaded.model, loaded.tokenizer, batch_size=cfg.batch_size)
    result = run_humaneval(generate, cfg, model_checksum=loaded.checksum, adapter_checksum=adapter_tag).to_dict()
    return {"pass_at_k": result["pass_at_k"], "pass_at_1_ci": result["pass_at_1_ci"],
            "passed": {t["task_id"]: t["statuses"][0] == "passed" for t in result["tasks"]}}


def humaneval_change(base: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Greedy pass@1 before and after on the same problems, with McNemar's exact test."""
    ids = sorted(set(base["passed"]) & set(after["passed"]))
    before_ok, after_ok = [base["passed"][i] for i in ids], [after["passed"][i] for i in ids]
    test = stats.mcnemar_exact(before_ok, after_ok)
    return {"problems": len(ids), "before": sum(before_ok) / len(ids) if ids else None,
            "after": sum(after_ok) / len(ids) if ids else None, "gained": test.gained, "lost": test.lost,
            "p": test.p_value}


def locality_run(loaded: LoadedModel, prompts: int, *, progress: bool) -> dict[str, Any]:
    """Locality of the active adapters against the base on the first ``prompts`` built-in prompts,
    with a Wilson interval on the unchanged fraction; per-prompt records kept."""
    from codehotfix.evaluation.locality import load_prompts, run_locality

    result = run_locality(loaded.model, loaded.tokenizer, load_prompts(None, limit=prompts), progress=progress)
    unchanged = [bool(r["unchanged"]) for r in result["records"]]
    ci = stats.wilson_interval(sum(unchanged), len(unchanged)) if unchanged else None
    return {"unchanged_fraction": result["unchanged_fraction"], "unchanged_ci": list(ci) if ci else None,
            "mean_kl": result["mean_kl"], "prompts": result["prompts"],
            "records": [{k: r[k] for k in ("id", "unchanged", "kl")} for r in result["records"]]}
