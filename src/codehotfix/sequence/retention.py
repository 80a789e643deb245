"""The retention matrix (step × hotfix) and the curves over N, from the per-step results.

For strategy s, measured step k and hotfix j ≤ k, the cell is hotfix j's split-event efficacy on its
held-out contexts after step k (``measure.case_efficacy``). Its *retention* is the share of the
hotfix's own gain that is left:

    retention(k, j) = (efficacy(k, j) − base(j)) / (efficacy(own, j) − base(j))

where ``own`` is the first measured step at or after j (step j itself when every step is measured)
and ``base`` the base model's efficacy; it is undefined (None) where the hotfix gained nothing at
its own step. A curve point is the pooled efficacy of hotfixes 1..k (with its bootstrap/Wilson
interval over their cases), the mean and minimum retention, and how many hotfixes are still above
their base.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

__all__ = ["retention_table", "build_retention", "retention_markdown"]


def _gain_kept(rate: float | None, base: float | None, own: float | None) -> float | None:
    if rate is None or base is None or own is None or own - base <= 0:
        return None
    return round((rate - base) / (own - base), 4)


def retention_table(names: Sequence[str], base: Mapping[str, Mapping[str, Any]],
                    steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One strategy's matrix, retention and curve from its step results (any order).

    Args:
        names: the hotfixes in sequence order.
        base: per hotfix, the base model's efficacy block (``{"rate", …}``).
        steps: step results: ``{"step", "per_hotfix": {name: {"rate", "ci", "n"}}, "overall": {…}}``.
    """
    steps = sorted(steps, key=lambda d: d["step"])
    own: dict[str, float] = {}
    matrix, intervals, kept, curve = [], [], [], []
    for doc in steps:
        k, cells = doc["step"], doc["per_hotfix"]
        for name in names[:k]:
            if name not in own and name in cells:
                own[name] = cells[name]["rate"]
        row = [cells[n]["rate"] if i < k and n in cells else None for i, n in enumerate(names)]
        matrix.append(row)
        intervals.append([cells[n]["ci"] if i < k and n in cells else None for i, n in enumerate(names)])
        ret = [_gain_kept(row[i], base.get(n, {}).get("rate"), own.get(n)) if i < k else None
               for i, n in enumerate(names)]
        kept.append(ret)
        defined = [r for r in ret if r is not None]
        above = sum(1 for i, n in enumerate(names[:k]) if row[i] is not None and n in base and row[i] > base[n]["rate"])
        curve.append({"step": k, "hotfixes": k, "efficacy": doc["overall"]["rate"], "ci": doc["overall"]["ci"],
                      "base": doc.get("base_overall", {}).get("rate"),
                      "mean_retention": round(sum(defined) / len(defined), 4) if defined else None,
                      "min_retention": min(defined) if defined else None, "above_base": above})
    return {"steps": [d["step"] for d in steps], "matrix": matrix, "ci": intervals, "retention": kept,
            "curve": curve}


def build_retention(names: Sequence[str], base: Mapping[str, Mapping[str, Any]],
                    by_strategy: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """Every strategy's table plus, per strategy, its last measured step's side effects."""
    out: dict[str, Any] = {"hotfixes": list(names), "base": {n: base[n] for n in names if n in base},
                           "strategies": {}}
    for strategy, steps in by_strategy.items():
        table = retention_table(names, base, steps)
        last = max(steps, key=lambda d: d["step"]) if steps else {}
        table["last_step"] = {"step": last.get("step"), "humaneval": last.get("humaneval"),
                              "locality": last.get("locality")}
        out["strategies"][strategy] = table
    return out


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}"


def _ci(ci: Sequence[float] | None) -> str:
    return "" if not ci else f" [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]"


def _side_effects(last: Mapping[str, Any]) -> tuple[str, str]:
    he, loc = last.get("humaneval"), last.get("locality")
    he_text = "not run"
    if he and he.get("change"):
        c = he["change"]
        he_text = f"{_pct(c['before'])} → {_pct(c['after'])} (p={c['p']:.3g}, {c['problems']} problems)"
    loc_text = "not run" if not loc else f"{_pct(loc['unchanged_fraction'])}{_ci(loc['unchanged_ci'])}"
    return he_text, loc_text


def retention_markdown(table: Mapping[str, Any]) -> str:
    """The curves per strategy, a last-step summary and each strategy's matrix, as Markdown (%)."""
    names = table["hotfixes"]
    progress = [] if table.get("complete", True) else [
        "**In progress**: the steps measured so far; the run has more to measure (run the same command again).", ""]
    lines = [*progress, "Efficacy: split event, exact fixed line, % of held-out contexts [95% CI]. Retention: share of "
             "each hotfix's own gain over the base still there (mean / min over hotfixes so far).", "",
             "## After the last step", "",
             "| strategy | step | efficacy | base | mean retention | min retention | HumanEval pass@1 | locality unchanged |",
             "|---|---|---|---|---|---|---|---|"]
    for strategy, t in table["strategies"].items():
        if not t["curve"]:
            continue
        c = t["curve"][-1]
        he, loc = _side_effects(t["last_step"])
        lines.append(f"| {strategy} | {c['step']} | {_pct(c['efficacy'])}{_ci(c['ci'])} | {_pct(c['base'])} | "
                     f"{_pct(c['mean_retention'])} | {_pct(c['min_retention'])} | {he} | {loc} |")
    for strategy, t in table["strategies"].items():
        lines += ["", f"## {strategy}", "", "| step | efficacy | mean retention | min retention | above base |",
                  "|---|---|---|---|---|"]
        lines += [f"| {c['step']} | {_pct(c['efficacy'])}{_ci(c['ci'])} | {_pct(c['mean_retention'])} | "
                  f"{_pct(c['min_retention'])} | {c['above_base']}/{c['hotfixes']} |" for c in t["curve"]]
        lines += ["", "Matrix (rows: step; columns: hotfix 1..N; efficacy %):", "",
                  "| step | " + " | ".join(str(i + 1) for i in range(len(names))) + " |",
                  "|---" * (len(names) + 1) + "|"]
        lines += [f"| {k} | " + " | ".join(_pct(v) for v in row) + " |" for k, row in zip(t["steps"], t["matrix"])]
    lines += ["", "Hotfixes: " + ", ".join(f"{i + 1} {n}" for i, n in enumerate(names))]
    return "\n".join(lines) + "\n"
