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

from typing import Any

from codehotfix.evaluation.tasks import in_report_order
from codehotfix.evaluation.tasks.sections import ALPHA, PAPER, relative_change
from codehotfix.report.collect import RunReport

__all__ = ["ALPHA", "PAPER", "analyze", "relative_change"]


# ---------------------------------------------------------------- training

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
        "other": [{"file": k.path.name, "kind": k.kind, "fields": _flat(k.data)} for k in report.other],
        "time": {"phases": {k: v for k, v in report.times.items() if k != "total"},
                 "total": sum(v for k, v in report.times.items() if k != "total")},
    }
    tasks = in_report_order()
    numbers = {task.name: task.analyze(report.parts.get(task.name)) for task in tasks}
    train = _train(report)
    headlines = [h for task in tasks for h in task.headlines(numbers[task.name])]
    if train and train.get("headline"):
        headlines.append(train["headline"])
    return {**out, **numbers, "train": train, "headlines": headlines}
