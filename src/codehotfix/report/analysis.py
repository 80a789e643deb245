"""The report's numbers: rates, intervals, paired tests and verdict sentences, computed once.

Everything the HTML and Markdown pages show comes from the dict ``analyze`` returns (also written as
report.json), so the two pages cannot disagree. The statistics are those of
``codehotfix.evaluation.stats``:

* greedy outcomes (one completion per case/problem): Wilson intervals for the rates and McNemar's
  exact test on the paired pass/fail (or fixed/not-fixed) outcomes of the same problems;
* sampled outcomes: a case's k samples are not independent of each other, so intervals and the
  paired test work on per-case rates — a percentile bootstrap over cases for intervals, Wilcoxon's
  signed-rank test plus a paired bootstrap interval for the change.
"""

from __future__ import annotations

import math
from statistics import median
from typing import Any

import numpy as np

from codehotfix.evaluation import stats
from codehotfix.report.collect import HumanEvalRun, RatesData, RunReport

__all__ = ["ALPHA", "PAPER", "analyze", "relative_change"]

ALPHA = 0.05
# Yang & Lo, "Hotfixing Large Language Models for Code" (arXiv 2408.05727): relative change of the
# fixed and buggy rates of their best hotfix, shown next to ours for reference.
PAPER = {"fixed_change_pct": 108.42, "buggy_change_pct": -50.47,
         "source": "Yang & Lo 2024, Hotfixing Large Language Models for Code (arXiv 2408.05727)"}


def relative_change(before: float | None, after: float | None) -> float | None:
    """(after − before) / before in percent; None where before is 0 (the paper's definition)."""
    if before is None or after is None or before == 0:
        return None
    return 100.0 * (after - before) / before


def _signed(x: float, spec: str = "+.1f") -> str:
    """A signed number with a true minus sign (U+2212), as in the verdict sentences."""
    return format(x, spec).replace("-", "\u2212")


def _pct(x: float | None) -> str:
    return "n/a (base rate 0)" if x is None else f"{_signed(x)}%"


def _verdict(p: float) -> str:
    return ("significant" if p < ALPHA else "not significant") + f" at {ALPHA:g}"


def _wilson(rate: float, n: int) -> list[float] | None:
    return list(stats.wilson_interval(round(rate * n), n)) if n > 0 else None


# ---------------------------------------------------------------- hotfix rates

def _rate_intervals(rates: RatesData) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("greedy", "sampled"):
        block: dict[str, Any] = {}
        for side, summary in (("before", rates.before), ("after", rates.after)):
            m = summary[mode]
            for label in ("fixed", "buggy"):
                key = f"{label}_{side}"
                per_case = [getattr(p, key) for p in rates.pairs or [] if getattr(p, key) is not None]
                if mode == "sampled" and per_case:
                    low, high = stats.bootstrap_mean_ci(per_case)
                    if low == high:  # every case had the same rate: resampling cannot show uncertainty
                        low, high = stats.wilson_interval(round(sum(per_case)), len(per_case))
                    block[key] = [low, high]
                    block["method"] = ("percentile bootstrap over cases (Wilson over cases where every case "
                                       "had the same rate)")
                else:
                    block[key] = _wilson(m[f"{label}_rate"], m["n"])
                    block.setdefault("method", "Wilson" if mode == "greedy" else
                                     "Wilson over completions (no per-case records: too narrow)")
        out[mode] = block
    return out


def _paired_rate_tests(rates: RatesData) -> dict[str, Any]:
    """McNemar on greedy fixed/buggy outcomes, Wilcoxon + bootstrap on per-case sampled rates."""
    pairs = rates.pairs or []
    tests: dict[str, Any] = {}
    greedy = [p for p in pairs if p.greedy_before is not None and p.greedy_after is not None]
    for label in ("fixed", "buggy"):
        if greedy:
            r = stats.mcnemar_exact([p.greedy_before == label for p in greedy],
                                    [p.greedy_after == label for p in greedy])
            diff = (r.gained - r.lost) / r.n
            tests[f"greedy_{label}"] = {"test": "McNemar exact", "cases": r.n, "gained": r.gained, "lost": r.lost,
                                        "difference": diff, "p_value": r.p_value,
                                        "sentence": f"greedy {label} line: {r.gained} cases gained, {r.lost} lost; "
                                                    f"McNemar {stats.format_p(r.p_value)}, {_verdict(r.p_value)}"}
        sampled = [p for p in pairs if getattr(p, f"{label}_before") is not None
                   and getattr(p, f"{label}_after") is not None]
        if sampled:
            b = [getattr(p, f"{label}_before") for p in sampled]
            a = [getattr(p, f"{label}_after") for p in sampled]
            w = stats.wilcoxon_paired(b, a)
            ci = stats.paired_bootstrap_ci(b, a)
            tests[f"sampled_{label}"] = {
                "test": "Wilcoxon signed-rank", "cases": len(sampled), "changed_cases": w.n_nonzero,
                "difference": w.mean_difference, "difference_ci95": list(ci), "p_value": w.p_value,
                "sentence": f"sampled {label} rate per case: mean change {_signed(100 * w.mean_difference)} points "
                            f"(95% CI {_signed(100 * ci[0])} to {_signed(100 * ci[1])}); "
                            f"Wilcoxon {stats.format_p(w.p_value)}, "
                            f"{_verdict(w.p_value)}"}
    return tests


def _rates(rates: RatesData) -> dict[str, Any]:
    comparison: dict[str, Any] = {}
    for mode in ("greedy", "sampled"):
        b, a = rates.before[mode], rates.after[mode]
        comparison[mode] = {"n_before": b["n"], "n_after": a["n"]}
        for label in ("fixed", "buggy"):
            before, after = b[f"{label}_rate"], a[f"{label}_rate"]
            comparison[mode].update({f"{label}_before": before, f"{label}_after": after,
                                     f"{label}_change_pct": relative_change(before, after)})
    comparison["margin_before"] = rates.before.get("margin_mean")
    comparison["margin_after"] = rates.after.get("margin_mean")
    groups = {}
    for g, (b, a) in rates.groups.items():
        groups[g] = {"cases": b.get("cases"), "margin_before": b.get("margin_mean"),
                     "margin_after": a.get("margin_mean")}
        for mode in ("greedy", "sampled"):
            for label in ("fixed", "buggy"):
                groups[g][f"{mode}_{label}_before"] = b[mode][f"{label}_rate"]
                groups[g][f"{mode}_{label}_after"] = a[mode][f"{label}_rate"]
    headlines = []
    for mode in ("sampled", "greedy"):
        c = comparison[mode]
        headlines.append(f"{mode.capitalize()} fixed rate {_pct(c['fixed_change_pct'])} "
                         f"({c['fixed_before']:.3f}→{c['fixed_after']:.3f}), buggy {_pct(c['buggy_change_pct'])} "
                         f"({c['buggy_before']:.3f}→{c['buggy_after']:.3f}) on {rates.before['cases']} cases")
    return {"sources": rates.sources, "cases": rates.before.get("cases"), "comparison": comparison,
            "intervals": _rate_intervals(rates), "tests": _paired_rate_tests(rates), "groups": groups,
            "headlines": headlines, "paired": rates.pairs is not None, "events": _events(rates)}


def _events(rates: RatesData) -> dict[str, Any] | None:
    """Per completion event, every metric before/after with its interval, paired test and Holm-adjusted p
    (``evaluation.compare``); from the eval files when present, else as summary.json stored it."""
    from codehotfix.evaluation.compare import compare

    return compare(*rates.results) if rates.results else rates.events


# ---------------------------------------------------------------- HumanEval

def _he_run(run: HumanEvalRun) -> dict[str, Any]:
    counts = list(run.tasks.values())
    greedy = all(n == 1 for n, _, _ in counts)
    out: dict[str, Any] = {"file": run.path.name, "model": run.model, "adapter": run.adapter, "problems": len(counts),
                           "samples_per_problem": sorted({n for n, _, _ in counts}), "pass_at_k": {}}
    for key in run.pass_at_k:
        k = int(key.split("@")[1])
        value = stats.mean_pass_at_k([(n, c) for n, c, _ in counts], k)
        if value is None:
            ci = None
        elif greedy:
            ci = list(stats.wilson_interval(sum(c for _, c, _ in counts), len(counts)))
        else:
            ci = list(stats.bootstrap_mean_ci([stats.pass_at_k(n, c, k) for n, c, _ in counts]))
        out["pass_at_k"][key] = {"value": value, "ci95": ci, "correct": sum(c for _, c, _ in counts)}
    return out


def _humaneval(base: HumanEvalRun | None, hot: HumanEvalRun | None) -> dict[str, Any] | None:
    if base is None and hot is None:
        return None
    out: dict[str, Any] = {"base": _he_run(base) if base else None, "hotfixed": _he_run(hot) if hot else None}
    if not (base and hot):
        return out
    if set(base.tasks) != set(hot.tasks):
        from codehotfix.errors import DataError

        raise DataError(f"{base.path} and {hot.path} cover different HumanEval problems (field 'tasks[].task_id'): "
                        f"{len(base.tasks)} vs {len(hot.tasks)}; run both with the same --limit/--exclude")
    ids = list(base.tasks)
    greedy = all(base.tasks[t][0] == 1 and hot.tasks[t][0] == 1 for t in ids)
    b_rate = [base.tasks[t][1] / base.tasks[t][0] for t in ids]
    a_rate = [hot.tasks[t][1] / hot.tasks[t][0] for t in ids]
    ci = stats.paired_bootstrap_ci(b_rate, a_rate)
    diff = float(np.mean(a_rate) - np.mean(b_rate))
    pa, pb = float(np.mean(b_rate)), float(np.mean(a_rate))
    if greedy:
        r = stats.mcnemar_exact([base.tasks[t][2] for t in ids], [hot.tasks[t][2] for t in ids])
        test = {"test": "McNemar exact", "lost": r.lost, "gained": r.gained, "p_value": r.p_value}
        detail = f"{r.lost} problems lost, {r.gained} gained; McNemar exact {stats.format_p(r.p_value)}"
    else:
        w = stats.wilcoxon_paired(b_rate, a_rate)
        test = {"test": "Wilcoxon signed-rank", "changed_problems": w.n_nonzero, "p_value": w.p_value}
        detail = f"{w.n_nonzero} problems changed; Wilcoxon {stats.format_p(w.p_value)}"
    test.update(problems=len(ids), difference=diff, difference_ci95=list(ci))
    out["paired"] = test
    out["headline"] = (f"HumanEval pass@1 {pa:.3f}→{pb:.3f} ({_signed(100 * diff)} points, 95% CI "
                       f"{_signed(100 * ci[0])} to {_signed(100 * ci[1])}; {detail}): {_verdict(test['p_value'])}")
    return out


# ---------------------------------------------------------------- side effects and training

def _locality(d: dict[str, Any]) -> dict[str, Any]:
    kls = [r["kl"] for r in d.get("records", [])]
    unchanged = sum(r["unchanged"] for r in d.get("records", []))
    n = len(kls) or d["prompts"]
    count = unchanged if kls else round(d["unchanged_fraction"] * n)
    ci = list(stats.wilson_interval(count, n)) if n else None
    out = {"prompts": d["prompts"], "unchanged_fraction": d["unchanged_fraction"], "unchanged_ci95": ci,
           "mean_kl": d["mean_kl"], "median_kl": median(kls) if kls else None,
           "p95_kl": float(np.quantile(kls, 0.95)) if kls else None, "max_kl": max(kls) if kls else None}
    ci_text = f" (95% CI {100 * ci[0]:.1f}–{100 * ci[1]:.1f}%)" if ci else ""
    out["headline"] = (f"Locality: {100 * d['unchanged_fraction']:.1f}% of {d['prompts']} unrelated prompts "
                       f"unchanged{ci_text}, mean KL {d['mean_kl']:.4g} nats")
    return out


def _perplexity(d: dict[str, Any]) -> dict[str, Any]:
    records = d.get("records", [])
    files = [{"id": r["id"], "tokens": r["tokens"], "base": math.exp(r["base_nll"] / r["tokens"]),
              "hotfixed": math.exp(r["hotfixed_nll"] / r["tokens"])} for r in records if r["tokens"] > 0]
    note = None
    if files:
        tokens = sum(r["tokens"] for r in records)
        pooled = math.exp(sum(r["base_nll"] for r in records) / tokens)
        if not math.isclose(pooled, d["base"], rel_tol=0.01):
            note = (f"the per-file records give a pooled base perplexity of {pooled:.3g}, not {d['base']:.3g}: "
                    "check that base_nll is the summed NLL (nats) over the record's tokens")
    ci = d.get("ci95")
    ci_text = f" (95% CI {_signed(100 * ci[0])}% to {_signed(100 * ci[1])}%)" if ci else ""
    return {"corpus": d.get("corpus"), "tokens": d.get("tokens"), "base": d["base"], "hotfixed": d["hotfixed"],
            "relative_change": d["relative_change"], "ci95": ci, "files": files, "note": note,
            "headline": (f"Perplexity on {d.get('corpus') or 'held-out code'}: "
                         f"{d['base']:.3f}→{d['hotfixed']:.3f} "
                         f"({_signed(100 * d['relative_change'])}%{ci_text})")}


def _variants(d: dict[str, Any]) -> dict[str, Any]:
    rows = {}
    for name, v in d["kinds"].items():
        rows[name] = {"n": v["n"], "skipped": v.get("skipped")}
        for mode in ("greedy", "sampled"):
            c = v["comparison"][mode]
            for label in ("fixed", "buggy"):
                rows[name][f"{mode}_{label}_before"] = c[f"{label}_before"]
                rows[name][f"{mode}_{label}_after"] = c[f"{label}_after"]
                rows[name][f"{mode}_{label}_change_pct"] = relative_change(c[f"{label}_before"], c[f"{label}_after"])
    return {"kinds": rows, "skipped": len(d.get("skipped") or [])}


def _execfix(d: dict[str, Any]) -> dict[str, Any]:
    out = {"cases": d["cases"], "base": d["base"], "hotfixed": d["hotfixed"], "reference": d.get("reference"),
           "mcnemar": d.get("mcnemar")}
    b, a = d["base"].get("greedy_pass_rate"), d["hotfixed"].get("greedy_pass_rate")
    if b is not None and a is not None:
        text = f"Executed fixes: greedy pass rate {b:.3f}→{a:.3f} on {d['cases']} cases"
        mc = d.get("mcnemar") or {}
        if isinstance(mc.get("p_value"), (int, float)):
            text += f", McNemar {stats.format_p(mc['p_value'])}: {_verdict(mc['p_value'])}"
        out["headline"] = text
    return out


def _train(report: RunReport) -> dict[str, Any] | None:
    if report.train is None:
        return None
    m, steps = report.train.manifest, report.train.steps
    terms = sorted({k for s in steps for k in s if k.startswith("loss/")})
    first_last = {k: (steps[0].get(k), steps[-1].get(k)) for k in ["loss", *terms] if steps}
    out = {"steps": m["steps"], "train_seconds": m["train_seconds"], "tokens": m.get("tokens"),
           "trainable_parameters": m.get("trainable_parameters"), "total_parameters": m.get("total_parameters"),
           "final_losses": m.get("final_losses"), "terms": terms, "first_last": first_last,
           "logged_steps": len(steps)}
    text = f"Training: {m['steps']} steps in {m['train_seconds']:.0f} s"
    tp, total = m.get("trainable_parameters"), m.get("total_parameters")
    if tp and total:
        text += f", {_count(tp)} trainable parameters ({100 * tp / total:.2f}% of {_count(total)})"
    if first_last.get("loss") and None not in first_last["loss"]:
        text += f"; loss {first_last['loss'][0]:.3f}→{first_last['loss'][1]:.3f}"
    out["headline"] = text
    return out


def _count(x: int) -> str:
    """4399104 → '4.4 M', 1000 → '1,000'."""
    return f"{x / 1e6:.1f} M" if x >= 1e6 else f"{x:,}"


def _flat(obj: Any, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """Scalars of a nested dict as dotted keys (lists shown by their length)."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth < 2:
            out.update(_flat(v, key + ".", depth + 1))
        elif isinstance(v, list):
            out[key] = f"[{len(v)} items]"
        else:
            out[key] = v if not isinstance(v, dict) else "{…}"
    return out


def analyze(report: RunReport) -> dict[str, Any]:
    """All numbers of the report as one JSON-ready dict (also saved as report.json)."""
    out: dict[str, Any] = {
        "format": "codehotfix-report/1", "run_dir": str(report.run_dir), "inputs": report.inputs,
        "run": report.run_info, "missing": [m.__dict__ | {"files": list(m.files)} for m in report.missing],
        "alpha": ALPHA, "paper": PAPER,
        "rates": _rates(report.rates) if report.rates else None,
        "humaneval": _humaneval(report.humaneval_base, report.humaneval_hotfix),
        "train": _train(report),
        "locality": _locality(report.kinds["locality"].data) if "locality" in report.kinds else None,
        "perplexity": _perplexity(report.kinds["perplexity"].data) if "perplexity" in report.kinds else None,
        "variants": _variants(report.kinds["variants"].data) if "variants" in report.kinds else None,
        "execfix": _execfix(report.kinds["execfix"].data) if "execfix" in report.kinds else None,
        "other": [{"file": k.path.name, "kind": k.kind, "fields": _flat(k.data)} for k in report.other],
        "time": {"phases": {k: v for k, v in report.times.items() if k != "total"},
                 "total": sum(v for k, v in report.times.items() if k != "total")},
    }
    headlines = list(out["rates"]["headlines"]) if out["rates"] else []
    if out["rates"]:
        headlines += [t["sentence"] for t in out["rates"]["tests"].values()]
    for key in ("humaneval", "locality", "perplexity", "execfix", "train"):
        if out[key] and out[key].get("headline"):
            headlines.append(out[key]["headline"])
    out["headlines"] = headlines
    return out
