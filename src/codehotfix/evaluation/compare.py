"""Before/after comparison of two eval results with an interval and a paired test on every number.

``compare(before, after)`` takes two ``codehotfix eval`` results (the dicts ``evaluate`` returns and
writes as JSON) on the same cases and returns, per completion event (``events.py``), one table row
per metric and mode:

  metric, mode, before (95% CI), after (95% CI), change, test, p, Holm-adjusted p, verdict

* greedy (one completion per case): Wilson intervals on the rates; McNemar's exact test on the
  per-case outcomes (``stats.mcnemar_exact``).
* sampled (k completions per case): a case's samples are not independent, so each case contributes
  its rate (count / k). The rate is the mean over cases, its interval a percentile bootstrap over
  cases (Wilson over cases where every case had the same rate); the paired test is the exact
  (Monte-Carlo above 16 changed cases) sign-flip permutation test on the per-case changes
  (``stats.sign_flip_test``).
* each event's table is one family: its p-values get Holm's step-down adjustment (``stats.holm``),
  and the verdict reads the adjusted p: "not significant" when it is >= 0.05.

Results written before the events existed still compare: their line event is read from the legacy
record fields (``greedy_label``, ``sample_labels``), without validity.

    from codehotfix.evaluation.compare import compare, comparison_markdown
    table = compare(read_json("base_eval.json"), read_json("hotfix_eval.json"))
    print(comparison_markdown(table))
"""

from __future__ import annotations

from typing import Any, Sequence

from codehotfix.evaluation import stats
from codehotfix.evaluation.events import EVENTS, METRICS

__all__ = ["ALPHA", "compare", "comparison_markdown", "format_change"]

ALPHA = 0.05


def _event_block(record: dict[str, Any], event: str) -> dict[str, Any] | None:
    """A record's judged completions of ``event``; the line event of an older result from its labels."""
    block = record.get("events", {}).get(event)
    if block is not None or event != "line" or "sample_labels" not in record:
        return block
    label = record.get("greedy_label")
    return {"greedy": {"label": label} if label is not None else None,
            "samples": [{"label": lab} for lab in record["sample_labels"]]}


def _outcome(event: str, metric: str, judged: dict | None) -> bool | None:
    if judged is None:
        return None
    try:
        value = METRICS[event][metric](judged)
    except KeyError:  # an older record without this field: the metric is undefined there
        return None
    return None if value is None else bool(value)


def _greedy_row(event: str, metric: str, pairs: Sequence[tuple[dict, dict]]) -> dict[str, Any] | None:
    both = [(_outcome(event, metric, b.get("greedy")), _outcome(event, metric, a.get("greedy"))) for b, a in pairs]
    both = [(x, y) for x, y in both if x is not None and y is not None]
    if not both:
        return None
    n = len(both)
    kb, ka = sum(x for x, _ in both), sum(y for _, y in both)
    r = stats.mcnemar_exact([x for x, _ in both], [y for _, y in both])
    return {"metric": metric, "mode": "greedy", "cases": n, "before": kb / n, "after": ka / n,
            "before_ci": list(stats.wilson_interval(kb, n)), "after_ci": list(stats.wilson_interval(ka, n)),
            "test": "McNemar exact", "detail": f"{r.gained} gained, {r.lost} lost", "p": r.p_value}


def _case_rate(event: str, metric: str, block: dict) -> float | None:
    values = [v for v in (_outcome(event, metric, s) for s in block.get("samples", [])) if v is not None]
    return sum(values) / len(values) if values else None


def _mean_ci(rates: list[float]) -> list[float]:
    low, high = stats.bootstrap_mean_ci(rates)
    if low == high:  # every case had the same rate: resampling cannot show uncertainty
        low, high = stats.wilson_interval(round(sum(rates)), len(rates))
    return [low, high]


def _sampled_row(event: str, metric: str, pairs: Sequence[tuple[dict, dict]]) -> dict[str, Any] | None:
    both = [(_case_rate(event, metric, b), _case_rate(event, metric, a)) for b, a in pairs]
    both = [(x, y) for x, y in both if x is not None and y is not None]
    if not both:
        return None
    rb, ra = [x for x, _ in both], [y for _, y in both]
    t = stats.sign_flip_test(rb, ra)
    exact = t.n_nonzero <= 16
    return {"metric": metric, "mode": "sampled", "cases": len(both), "before": sum(rb) / len(rb),
            "after": sum(ra) / len(ra), "before_ci": _mean_ci(rb), "after_ci": _mean_ci(ra),
            "test": "sign-flip permutation" + (" (exact)" if exact else " (Monte-Carlo)"),
            "detail": f"{t.n_nonzero} cases changed", "p": t.p_value}


def _margin_row(pairs: Sequence[tuple[dict, dict]]) -> dict[str, Any] | None:
    """The likelihood margin log p(fixed) − log p(buggy) per case, in nats: the mean before and after,
    bootstrap intervals over cases, and the same sign-flip test on the per-case changes."""
    both = [(b["margin"], a["margin"]) for b, a in pairs if b.get("margin") is not None and a.get("margin") is not None]
    if not both:
        return None
    mb, ma = [x for x, _ in both], [y for _, y in both]
    t = stats.sign_flip_test(mb, ma)
    return {"metric": "margin", "mode": "likelihood", "unit": "nats", "cases": len(both),
            "before": sum(mb) / len(mb), "after": sum(ma) / len(ma),
            "before_ci": list(stats.bootstrap_mean_ci(mb)), "after_ci": list(stats.bootstrap_mean_ci(ma)),
            "test": "sign-flip permutation" + (" (exact)" if t.n_nonzero <= 16 else " (Monte-Carlo)"),
            "detail": f"{t.n_nonzero} cases changed", "p": t.p_value}


def _verdict(row: dict[str, Any], alpha: float) -> str:
    if row["p_holm"] >= alpha:
        return "not significant"
    return "significant " + ("increase" if row["after"] > row["before"] else "decrease")


def _pairs(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[dict, dict]]:
    b = {r["id"]: r for r in before.get("cases", [])}
    a = {r["id"]: r for r in after.get("cases", [])}
    if set(b) != set(a):
        raise ValueError(f"before and after evaluate different cases: {len(set(b) - set(a))} only before, "
                         f"{len(set(a) - set(b))} only after (field 'cases[].id')")
    return [(b[i], a[i]) for i in b]


def compare(before: dict[str, Any], after: dict[str, Any], *, alpha: float = ALPHA) -> dict[str, Any]:
    """Per event, the before/after table of every metric (see the module docstring).

    Args:
        before, after: two eval results (``{"cases": [records], …}``) on the same case ids.
        alpha: significance level of the verdicts (on Holm-adjusted p-values).

    Returns:
        ``{"cases": n, "alpha": …, "events": {event: {"rows": [row, …]}}}``; a row holds metric, mode,
        cases, before, after, before_ci, after_ci (95%), change (after − before), change_pct (relative,
        None where before is 0), test, detail, p, p_holm and verdict. The line table also has a
        ``margin`` row (mode "likelihood", ``unit`` "nats"; the other rows are rates). Events and metrics without data
        on both sides are left out.

    Raises:
        ValueError: if the two results hold different case ids.
    """
    pairs = _pairs(before, after)
    out: dict[str, Any] = {"cases": len(pairs), "alpha": alpha, "events": {}}
    for event in EVENTS:
        blocks = [(_event_block(b, event), _event_block(a, event)) for b, a in pairs]
        blocks = [(b, a) for b, a in blocks if b is not None and a is not None]
        if not blocks:
            continue
        rows = []
        for mode, row_of in (("greedy", _greedy_row), ("sampled", _sampled_row)):
            rows += [r for r in (row_of(event, m, blocks) for m in METRICS[event]) if r is not None]
        margin = _margin_row(pairs) if event == "line" else None
        rows += [margin] if margin else []
        for row, p_holm in zip(rows, stats.holm([r["p"] for r in rows])):
            row["change"] = row["after"] - row["before"]
            row["change_pct"] = 100.0 * row["change"] / row["before"] if row["before"] else None
            row["p_holm"] = p_holm
            row["verdict"] = _verdict(row, alpha)
        out["events"][event] = {"rows": rows}
    return out


def format_change(row: dict[str, Any]) -> str:
    """A row's change: "+12.5 pts" for a rate, "+1.30 nats" for the margin."""
    return f"{row['change']:+.2f} nats" if row.get("unit") == "nats" else f"{100 * row['change']:+.1f} pts"


def _p(p: float) -> str:
    return stats.format_p(p).removeprefix("p=")


def _ci(ci: Sequence[float]) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def comparison_markdown(comparison: dict[str, Any]) -> str:
    """The tables of ``compare`` as Markdown, one per event, with a line saying how to read them."""
    lines = [f"Paired on {comparison['cases']} cases. Greedy: McNemar exact; sampled: per-case rates, "
             f"sign-flip permutation test. p adjusted by Holm within each event's table; "
             f"'not significant' where the adjusted p >= {comparison['alpha']:g}."]
    for event, table in comparison["events"].items():
        lines += ["", f"### Event: {event}", "",
                  "| metric | mode | before (95% CI) | after (95% CI) | change | test | p | Holm p | verdict |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in table["rows"]:
            lines.append(f"| {r['metric']} | {r['mode']} | {r['before']:.3f} {_ci(r['before_ci'])} | "
                         f"{r['after']:.3f} {_ci(r['after_ci'])} | {format_change(r)} | {r['test']} "
                         f"({r['detail']}) | {_p(r['p'])} | {_p(r['p_holm'])} | "
                         f"{r['verdict']} |")
    return "\n".join(lines) + "\n"
