"""The study's results table: one row per (method, loss), seeds pooled as mean ± sd, vs the base model.

Per cell (one seed) the metrics are the test-split rates of the hotfixed model — sampled and greedy,
fixed and buggy — their relative changes vs the base model ((after − before) / before, as the paper
reports them; undefined where the base rate is 0), the mean likelihood margin log p(fixed) −
log p(buggy), training time, peak memory and trainable parameters.

Rows are ranked by ``score`` = Δfixed − Δbuggy: the change of the sampled fixed rate minus the
change of the sampled buggy rate, in absolute rate points vs the base (so +0.25 means, e.g., five
more fixed and five fewer buggy completions in every forty). It rewards learning and unlearning
equally and stays defined when a base rate is 0. Ties are broken by the mean margin. Where a row
has several seeds its value is the mean over seeds and ± is the sample standard deviation (n − 1).

On the "seen" split the table also breaks every cell down by the kind of each test item
(``breakdown.py``): variant kind, and whether the judged line is the trained one.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from typing import Any, Sequence

from codehotfix.study.breakdown import breakdown, breakdown_markdown

__all__ = ["METRICS", "PAPER_REFERENCE", "relative_change", "cell_metrics", "mean_sd", "aggregate", "rank_rows",
           "margin_test", "build_table", "table_markdown", "format_pct"]

# Ranking metrics for rows and for the best-seeds rule: name → (metric key, +1 higher is better / −1 lower).
METRICS: dict[str, tuple[str, int]] = {
    "score": ("score", 1),
    "fixed_rate": ("fixed_sampled", 1),
    "buggy_rate": ("buggy_sampled", -1),
    "greedy_fixed_rate": ("fixed_greedy", 1),
    "margin": ("margin", 1),
}

# arXiv 2408.05727 (Zhou & Lo), abstract: the best hotfix raised fixed-code generation by up to
# 108.42% and lowered buggy-code generation by up to 50.47% (their data, model and metric).
PAPER_REFERENCE = {"label": "paper: best reported (arXiv 2408.05727)", "fixed_change_pct": 108.42,
                   "buggy_change_pct": -50.47}

_VALUES = ("fixed_sampled", "buggy_sampled", "fixed_greedy", "buggy_greedy", "margin", "prefers_fixed",
           "fixed_sampled_change_pct", "buggy_sampled_change_pct", "fixed_greedy_change_pct",
           "buggy_greedy_change_pct", "score", "train_seconds", "eval_seconds", "peak_rss_mb",
           "trainable_parameters")


def relative_change(before: float | None, after: float | None) -> float | None:
    """(after − before) / before in percent; None where undefined (a missing value or before = 0)."""
    if before is None or after is None or before == 0:
        return None
    return 100.0 * (after - before) / before


def _rates(summary: dict[str, Any]) -> dict[str, float | None]:
    return {"fixed_sampled": summary["sampled"]["fixed_rate"], "buggy_sampled": summary["sampled"]["buggy_rate"],
            "fixed_greedy": summary["greedy"]["fixed_rate"], "buggy_greedy": summary["greedy"]["buggy_rate"],
            "margin": summary["margin_mean"], "prefers_fixed": summary["prefers_fixed"]}


def cell_metrics(record: dict[str, Any], base_summary: dict[str, Any]) -> dict[str, Any]:
    """The table metrics of one cell record (see ``runner``) against the base evaluation summary."""
    after, before = _rates(record["summary"]), _rates(base_summary)
    out: dict[str, Any] = dict(after)
    for key in ("fixed_sampled", "buggy_sampled", "fixed_greedy", "buggy_greedy"):
        out[f"{key}_change_pct"] = relative_change(before[key], after[key])
    out["score"] = ((after["fixed_sampled"] - before["fixed_sampled"])
                    - (after["buggy_sampled"] - before["buggy_sampled"]))
    out["train_seconds"] = record["train"]["seconds"]
    out["eval_seconds"] = record["eval_seconds"]
    out["peak_rss_mb"] = record["memory"]["peak_rss_mb"]
    out["trainable_parameters"] = record["trainable_parameters"]
    return out


def mean_sd(values: Sequence[float | None]) -> dict[str, Any]:
    """{"mean", "sd", "n"} over the defined values; sd is the sample sd (n − 1), None below two values;
    mean is None when no value is defined."""
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return {"mean": statistics.fmean(vals) if vals else None,
            "sd": statistics.stdev(vals) if len(vals) >= 2 else None, "n": len(vals)}


def aggregate(records: Sequence[dict[str, Any]], base_summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Pools cell records by (method, loss): one row each, every metric as mean ± sd over seeds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[(record["method"], record["loss"])].append(record)
    rows = []
    for (method, loss), members in groups.items():
        members = sorted(members, key=lambda r: r["seed"])
        per_seed = [cell_metrics(r, base_summary) for r in members]
        rows.append({"method": method, "loss": loss, "seeds": [r["seed"] for r in members],
                     "cells": [r["cell_id"] for r in members],
                     **{key: mean_sd([m[key] for m in per_seed]) for key in _VALUES}})
    return rows


def _sort_key(row: dict[str, Any], metric: str) -> tuple:
    key, direction = METRICS[metric]
    value = row[key]["mean"]
    margin = row["margin"]["mean"]
    # Undefined values sort last; ties fall back to the margin, then to the names (deterministic).
    return (value is None, -direction * (value or 0.0), margin is None, -(margin or 0.0), row["method"], row["loss"])


def rank_rows(rows: Sequence[dict[str, Any]], metric: str = "score") -> list[dict[str, Any]]:
    """Rows sorted best first by ``metric`` (see ``METRICS``); each gets its 1-based ``rank``."""
    ranked = sorted(rows, key=lambda r: _sort_key(r, metric))
    return [{**row, "rank": i + 1} for i, row in enumerate(ranked)]


# How each ranking metric reads in the table's header.
_RANKED_BY = {
    "score": "score = Δfixed − Δbuggy (sampled rates, absolute change vs base; ties by margin)",
    "fixed_rate": "the sampled fixed rate (ties by margin)",
    "buggy_rate": "the sampled buggy rate, lowest first (ties by margin)",
    "greedy_fixed_rate": "the greedy fixed rate (ties by margin)",
    "margin": "the mean likelihood margin log p(fixed) − log p(buggy) over the test cases, in nats",
}


def margin_test(records: Sequence[dict[str, Any]], base_cases: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Did a row move the per-case margins? Each test case's margin is averaged over the row's seeds
    and paired with the base model's margin on that case: {"mean_change", "median_change", "p",
    "cases"}, p from a two-sided Wilcoxon signed-rank test. None without per-case margins."""
    from codehotfix.evaluation.stats import wilcoxon_paired

    base = {c["id"]: c["margin"] for c in base_cases if c.get("margin") is not None}
    per_case: dict[str, list[float]] = defaultdict(list)
    for record in records:
        for case in record.get("cases") or []:
            if case.get("margin") is not None and case["id"] in base:
                per_case[case["id"]].append(case["margin"])
    ids = sorted(per_case)
    if len(ids) < 2:
        return None
    before, after = [base[i] for i in ids], [statistics.fmean(per_case[i]) for i in ids]
    test = wilcoxon_paired(before, after)
    changes = [a - b for a, b in zip(after, before)]
    return {"mean_change": test.mean_difference, "median_change": statistics.median(changes),
            "p": test.p_value, "cases": len(ids)}


def build_table(records: Sequence[dict[str, Any]], base_summary: dict[str, Any], *, study: dict[str, Any],
                pending: Sequence[str] = (), metric: str = "score",
                base_cases: Sequence[dict[str, Any]] = (),
                test_items: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The machine-readable results: base rates, rows ranked by ``metric`` (see ``METRICS``), the
    paper's reference, what is pending. With the base model's per-case results (``base_cases``)
    each row also gets ``margin_test`` (see ``margin_test``), and with the seen split's
    ``test_items`` (``data.variant_items``) the table gets ``breakdown`` (see ``breakdown.py``)."""
    rows = rank_rows(aggregate(records, base_summary), metric)
    if base_cases:
        for row in rows:
            members = [r for r in records if (r["method"], r["loss"]) == (row["method"], row["loss"])]
            row["margin_test"] = margin_test(members, base_cases)
    split = breakdown(records, base_cases, test_items) if base_cases and test_items else None
    return {
        "study": study,
        "ranked_by": metric,
        "score": "score = (fixed_after - fixed_base) - (buggy_after - buggy_base), sampled rates; "
                 "ties by mean margin; mean and sample sd (n-1) over seeds",
        "base": _rates(base_summary) | {"cases": base_summary["cases"]},
        "rows": rows,
        "best": rows[0] if rows else None,
        "reference": PAPER_REFERENCE,
        "cells_done": len(records),
        "pending": list(pending),
        **({"breakdown": split} if split else {}),
    }


def format_pct(stat: dict[str, Any] | float | None, digits: int = 1) -> str:
    """``+12.5%``, ``−50.0%`` (true minus sign), ``+12.5±3.1%`` with an sd, ``n/a`` where undefined."""
    mean, sd = (stat.get("mean"), stat.get("sd")) if isinstance(stat, dict) else (stat, None)
    if mean is None:
        return "n/a"
    text = f"{mean:+.{digits}f}".replace("-", "−")
    return f"{text}±{sd:.{digits}f}%" if sd is not None else f"{text}%"


def _num(stat: dict[str, Any], digits: int = 3) -> str:
    if stat["mean"] is None:
        return "n/a"
    text = f"{stat['mean']:.{digits}f}".replace("-", "−")
    return f"{text}±{stat['sd']:.{digits}f}" if stat["sd"] is not None else text


def _signed(stat: dict[str, Any]) -> str:
    if stat["mean"] is None:
        return "n/a"
    text = f"{stat['mean']:+.3f}".replace("-", "−")
    return f"{text}±{stat['sd']:.3f}" if stat["sd"] is not None else text


def _margin_change(test: dict[str, Any] | None) -> str:
    if not test:
        return "n/a"
    from codehotfix.evaluation.stats import format_p

    return f"{test['median_change']:+.2f} ({format_p(test['p'])})".replace("-", "−")


def _term(objective: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in sorted((objective.get("params") or {}).items()))
    return f"{objective['weight']:g}·{objective['name']}" + (f"({params})" if params else "")


def table_markdown(table: dict[str, Any]) -> str:
    """A short human summary of ``build_table``'s result: the ranked table, base and paper rows."""
    s, base = table["study"], table["base"]
    lines = [f"# Study `{s.get('name')}` — {s.get('model')}", "",
             f"{s.get('train_cases')} training cases, {s.get('test_cases')} test cases ({s.get('split')}); "
             f"{s.get('eval')}. {table['cells_done']} cells done, {len(table['pending'])} pending.", "",
             f"Ranked by {_RANKED_BY[table.get('ranked_by', 'score')]}. "
             "Values are mean±sd over seeds (sample sd) where a row has several seeds; Δ% is relative to "
             "the base model. Peak RSS: the process's resident memory, sampled every 0.1 s in a background "
             "thread during the cell (training + evaluation, base model included).", "",
             "Δ margin: the median per-case change of the margin vs the base model (each case's margin "
             "averaged over the row's seeds) and the two-sided Wilcoxon signed-rank p over the test cases.", "",
             "| rank | method | loss | seeds | fixed (sampled) | Δ fixed | buggy (sampled) | Δ buggy | "
             "greedy fixed | greedy buggy | margin | Δ margin (p) | score | train s | peak RSS MB | trainable params |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
             f"| – | base model | – | – | {base['fixed_sampled']:.3f} | | {base['buggy_sampled']:.3f} | | "
             f"{base['fixed_greedy']:.3f} | {base['buggy_greedy']:.3f} | "
             f"{_num(mean_sd([base['margin']]), 2)} | | | | | |"]
    for row in table["rows"]:
        cells = [str(row["rank"]), row["method"], row["loss"], ",".join(map(str, row["seeds"])),
                 _num(row["fixed_sampled"]), format_pct(row["fixed_sampled_change_pct"]),
                 _num(row["buggy_sampled"]), format_pct(row["buggy_sampled_change_pct"]),
                 _num(row["fixed_greedy"]), _num(row["buggy_greedy"]), _num(row["margin"], 2),
                 _margin_change(row.get("margin_test")), _signed(row["score"]),
                 _num(row["train_seconds"], 0), _num(row["peak_rss_mb"], 0),
                 f"{row['trainable_parameters']['mean']:,.0f}"]
        if row["rank"] == 1:
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    ref = table["reference"]
    lines.append(f"| ref | {ref['label']} | | | | {format_pct(ref['fixed_change_pct'], 2)} | | "
                 f"{format_pct(ref['buggy_change_pct'], 2)} | | | | | | | | |")
    if table["pending"]:
        lines += ["", f"Pending cells ({len(table['pending'])}): " + ", ".join(table["pending"])]
    losses, methods = s.get("losses") or {}, s.get("methods") or {}
    if s.get("config") or s.get("overrides"):
        lines += ["", f"Every cell: `{s.get('config') or 'defaults'}` + "
                      f"{json.dumps(s.get('overrides') or {}, sort_keys=True)}"]
    if losses:
        lines += ["", "Losses: " + "; ".join(
            f"`{name}` = " + " + ".join(_term(o) for o in objs) for name, objs in losses.items())]
    if methods:
        lines += ["", "Methods (hotfix-config overrides): " + "; ".join(
            f"`{name}` {json.dumps(ov, sort_keys=True) if ov else '(none)'}" for name, ov in methods.items())]
    if table.get("breakdown"):
        lines += ["", breakdown_markdown(table["breakdown"]).rstrip("\n")]
    return "\n".join(lines) + "\n"
