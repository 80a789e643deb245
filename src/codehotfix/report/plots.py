"""The report's figures, drawn with matplotlib and returned as base64 PNG ``data:`` URIs.

Figures are built with ``matplotlib.figure.Figure`` (the Agg canvas, no pyplot): no global state, no
display needed, safe in a server. Embedding them as data URIs keeps report.html one self-contained
file. Every function takes the numbers from ``analysis.analyze`` (plus raw records where a figure
needs them) and returns ``None`` when it has nothing to draw.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from codehotfix.evaluation.stats import format_p
from codehotfix.report.collect import RunReport

__all__ = ["Plot", "make_plots"]

BEFORE, AFTER = "#9aa5b1", "#2b6cb0"
Plot = dict[str, str]  # {"title", "uri", "alt"}


def _fig(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    fig.set_facecolor("white")
    return fig


def _uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _err(value: float, ci: Sequence[float] | None) -> tuple[float, float]:
    if not ci:
        return 0.0, 0.0
    return max(0.0, value - ci[0]), max(0.0, ci[1] - value)


def _paired_bars(ax: Any, labels: list[str], before: list[float], after: list[float],
                 ci_before: list | None = None, ci_after: list | None = None, *, names=("before", "after")) -> None:
    """Two bars per label (before, after) with optional 95% error bars and value labels."""
    width = 0.38
    xs = range(len(labels))
    for offset, values, cis, color, name in ((-width / 2, before, ci_before, BEFORE, names[0]),
                                             (width / 2, after, ci_after, AFTER, names[1])):
        errs = [_err(v, c) for v, c in zip(values, cis)] if cis else None
        yerr = ([e[0] for e in errs], [e[1] for e in errs]) if errs else None
        ax.bar([x + offset for x in xs], values, width, color=color, label=name, yerr=yerr,
               capsize=4, error_kw={"elinewidth": 1, "ecolor": "#333"})
        for x, v, c in zip(xs, values, cis or [None] * len(values)):  # label above the whisker, not on it
            ax.annotate(f"{v:.3f}", (x + offset, max(v, c[1] if c else v)), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(xs), labels)
    ax.spines[["top", "right"]].set_visible(False)


def _rates_overall(n: dict[str, Any]) -> Plot | None:
    r = n.get("rates")
    if not r:
        return None
    fig = _fig(9, 3.6)
    axes = fig.subplots(1, 2, sharey=True)
    top = 0.0
    for ax, mode in zip(axes, ("greedy", "sampled")):
        c, ci = r["comparison"][mode], r["intervals"][mode]
        before = [c["fixed_before"], c["buggy_before"]]
        after = [c["fixed_after"], c["buggy_after"]]
        _paired_bars(ax, ["fixed line", "buggy line"], before, after,
                     [ci["fixed_before"], ci["buggy_before"]], [ci["fixed_after"], ci["buggy_after"]])
        highs = [x[1] for x in (ci["fixed_before"], ci["buggy_before"], ci["fixed_after"], ci["buggy_after"]) if x]
        top = max(top, *highs, *before, *after)
        ax.set_title(f"{mode} (n={c['n_before']} completions)", fontsize=10)
    axes[0].set_ylabel("share of completions")
    axes[0].set_ylim(0, min(1.05, top * 1.2 + 0.02))
    axes[1].legend(loc="upper right", fontsize=9, frameon=False)
    fig.suptitle(f"Fixed and buggy rates before/after the hotfix (95% intervals: greedy Wilson, sampled "
                 f"{'bootstrap over cases' if r['paired'] else 'Wilson'})", fontsize=10)
    return {"title": "Fixed/buggy rates, overall", "uri": _uri(fig),
            "alt": "bar chart of fixed and buggy rates before and after, greedy and sampled"}


def _rates_by_group(n: dict[str, Any]) -> Plot | None:
    r = n.get("rates")
    if not r or not r["groups"]:
        return None
    groups = sorted(r["groups"])
    height = max(2.5, 0.32 * len(groups) + 1.2)
    fig = _fig(9, height)
    axes = fig.subplots(1, 2, sharey=True)
    ys = range(len(groups))
    h = 0.38
    for ax, label in zip(axes, ("fixed", "buggy")):
        for offset, side, color in ((-h / 2, "before", BEFORE), (h / 2, "after", AFTER)):
            ax.barh([y + offset for y in ys], [r["groups"][g][f"sampled_{label}_{side}"] for g in groups], h,
                    color=color, label=side)
        ax.set_title(f"sampled {label}-line rate", fontsize=10)
        ax.set_xlabel("share of completions")
        largest = max(r["groups"][g][f"sampled_{label}_{s}"] for g in groups for s in ("before", "after"))
        ax.set_xlim(0, max(0.05, largest * 1.1))
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x", color="#e5e5e5")
        ax.set_axisbelow(True)
    axes[0].set_yticks(list(ys), groups, fontsize=8)
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2, fontsize=9, frameon=False)
    return {"title": "Rates per topic/pattern", "uri": _uri(fig),
            "alt": "horizontal bars of fixed and buggy rates per group before and after"}


def _humaneval(n: dict[str, Any]) -> Plot | None:
    h = n.get("humaneval")
    if not h:
        return None
    sides = [(name, h[name]) for name in ("base", "hotfixed") if h.get(name)]
    keys = sorted({k for _, s in sides for k in s["pass_at_k"]}, key=lambda k: int(k.split("@")[1]))
    fig = _fig(3 + 1.5 * len(keys), 3.2)
    ax = fig.subplots()
    width = 0.8 / len(sides)
    top = 0.0
    for i, (name, s) in enumerate(sides):
        vals = [(s["pass_at_k"].get(k) or {}).get("value") or 0.0 for k in keys]
        cis = [(s["pass_at_k"].get(k) or {}).get("ci95") for k in keys]
        errs = [_err(v, c) for v, c in zip(vals, cis)]
        xs = [x + (i - (len(sides) - 1) / 2) * width for x in range(len(keys))]
        ax.bar(xs, vals, width, color=BEFORE if name == "base" else AFTER, label=name,
               yerr=([e[0] for e in errs], [e[1] for e in errs]), capsize=4,
               error_kw={"elinewidth": 1, "ecolor": "#333"})
        for x, v, c in zip(xs, vals, cis):
            top = max(top, c[1] if c else v)
            ax.annotate(f"{v:.3f}", (x, c[1] if c else v), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(keys)), keys)
    ax.set_ylim(0, min(1.05, top * 1.3 + 0.02))
    ax.set_ylabel("pass rate")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=9, frameon=False)
    problems = sides[0][1]["problems"]
    title = f"HumanEval ({problems} problems, 95% intervals)"
    if h.get("paired"):
        title += f"\n{h['paired']['test']} {format_p(h['paired']['p_value'])}"
    ax.set_title(title, fontsize=10)
    return {"title": "HumanEval pass@k", "uri": _uri(fig), "alt": "bars of HumanEval pass@k base and hotfixed"}


def _locality(report: RunReport, n: dict[str, Any]) -> Plot | None:
    data = report.parts.get("locality")
    kls = [r["kl"] for r in data.get("records", [])] if isinstance(data, dict) else []
    if not kls:
        return None
    fig = _fig(6.5, 3.2)
    ax = fig.subplots()
    positive = [k for k in kls if k > 0]
    if positive and max(positive) / min(positive) > 100:  # spans decades: log-spaced bins read better
        lo, hi = math.log10(min(positive)), math.log10(max(positive))
        bins = [10 ** (lo + (hi - lo) * i / 30) for i in range(31)]
        ax.set_xscale("log")
        ax.hist(positive, bins=bins, color=AFTER)
        zeros = len(kls) - len(positive)
        ax.set_xlabel("KL(base ‖ hotfixed) per prompt, nats (log scale)"
                      + (f"; {zeros} prompts with KL=0 not shown" if zeros else ""))
    else:
        ax.hist(kls, bins=30, color=AFTER)
        ax.set_xlabel("KL(base ‖ hotfixed) per prompt, nats")
    ax.axvline(n["locality"]["mean_kl"], color="#c53030", linestyle="--", label=f"mean {n['locality']['mean_kl']:.3g}")
    ax.set_ylabel("prompts")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=9, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return {"title": "Locality: KL on unrelated prompts", "uri": _uri(fig), "alt": "histogram of per-prompt KL"}


def _perplexity(n: dict[str, Any], limit: int = 25) -> Plot | None:
    p = n.get("perplexity")
    if not p or not p["files"]:
        return None
    files = sorted(p["files"], key=lambda f: -f["tokens"])[:limit]
    fig = _fig(9, max(2.5, 0.3 * len(files) + 1.2))
    ax = fig.subplots()
    h = 0.38
    ys = range(len(files))
    ax.barh([y - h / 2 for y in ys], [f["base"] for f in files], h, color=BEFORE, label="base")
    ax.barh([y + h / 2 for y in ys], [f["hotfixed"] for f in files], h, color=AFTER, label="hotfixed")
    ax.set_yticks(list(ys), [f"{f['id']} ({f['tokens']} tok)" for f in files], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("perplexity (lower is better)")
    ax.legend(fontsize=9, frameon=False, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    more = f" (largest {limit} of {len(p['files'])})" if len(p["files"]) > limit else ""
    ax.set_title(f"Perplexity per file{more}", fontsize=10)
    return {"title": "Perplexity per file", "uri": _uri(fig), "alt": "perplexity per file, base and hotfixed"}


def _train(report: RunReport) -> Plot | None:
    if not report.train or not report.train.steps:
        return None
    steps = report.train.steps
    keys = ["loss"] + sorted({k for s in steps for k in s if k.startswith("loss/")}) + ["grad_norm"]
    keys = [k for k in keys if any(k in s for s in steps)]
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = _fig(9, 2.4 * rows + 0.4)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    epochs = [s.get("epoch") for s in steps]
    boundaries = [steps[i]["step"] - 0.5 for i in range(1, len(steps)) if epochs[i] != epochs[i - 1]]
    for ax, key in zip(axes.flat, keys):
        pts = [(s["step"], s[key]) for s in steps if key in s]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=AFTER, marker="o", markersize=2.5, linewidth=1.2)
        for b in boundaries:
            ax.axvline(b, color="#d0d0d0", linewidth=0.8, zorder=0)
        ax.set_title(key.replace("loss/", "term: ") if key != "loss" else "total loss (weighted sum)", fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[-1]:
        ax.set_xlabel("step", fontsize=9)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    fig.suptitle("Training curves (unweighted terms; grey lines mark epochs)", fontsize=10)
    return {"title": "Training loss curves", "uri": _uri(fig), "alt": "per-step loss of each objective term"}


def _time(n: dict[str, Any]) -> Plot | None:
    phases = {k: v for k, v in n["time"]["phases"].items() if k != "total" and v > 0}
    if not phases:
        return None
    names = list(phases)
    fig = _fig(9, max(1.8, 0.35 * len(names) + 1.0))
    ax = fig.subplots()
    bars = ax.barh(range(len(names)), [phases[k] for k in names], color=AFTER)
    ax.bar_label(bars, labels=[_duration(phases[k]) for k in names], padding=3, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_xlim(0, max(phases.values()) * 1.15)
    ax.spines[["top", "right"]].set_visible(False)
    return {"title": "Time per phase", "uri": _uri(fig), "alt": "seconds per phase"}


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def make_plots(report: RunReport, numbers: dict[str, Any]) -> dict[str, Plot]:
    """Every figure that has data, by section name."""
    candidates = {
        "rates_overall": lambda: _rates_overall(numbers),
        "rates_by_group": lambda: _rates_by_group(numbers),
        "humaneval": lambda: _humaneval(numbers),
        "locality": lambda: _locality(report, numbers),
        "perplexity": lambda: _perplexity(numbers),
        "train": lambda: _train(report),
        "time": lambda: _time(numbers),
    }
    out = {}
    for name, make in candidates.items():
        plot = make()
        if plot is not None:
            out[name] = plot
    return out
