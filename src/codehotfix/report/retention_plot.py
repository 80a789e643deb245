"""The retention curves of a sequence (``retention.json``) as one PNG: efficacy over the number of
hotfixes applied, one line per strategy with its 95% interval as a band, and the base model's
efficacy on the same held-out contexts.

    codehotfix sequence … writes retention.png beside retention.md when matplotlib is installed
    (the ``report`` extra); ``draw_retention(table)`` returns the figure for a caller to inspect.

Each point pools the held-out contexts of hotfixes 1..k, so a curve that falls means earlier
hotfixes stopped working (or the new ones never did); the matrix in retention.md says which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from codehotfix.files import atomic_path

__all__ = ["draw_retention", "write_retention_png"]

# One colour per strategy, stable across runs so two figures can be read side by side.
COLORS = {"stacked": "#c05621", "merged_cat": "#dd6b20", "merged_svd": "#b7791f", "continual": "#2b6cb0",
          "retrained": "#2f855a"}


def draw_retention(table: Mapping[str, Any]) -> Figure | None:
    """The figure of ``table`` (``sequence.retention.build_retention``'s result), or None when no
    strategy has a measured step yet. The base line is the base model's pooled efficacy at each step."""
    strategies = {name: t for name, t in table["strategies"].items() if t["curve"]}
    if not strategies:
        return None
    fig = Figure(figsize=(6.4, 3.8), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    base_points: dict[int, float] = {}
    for name, t in strategies.items():
        steps = [c["step"] for c in t["curve"]]
        rates = [100 * c["efficacy"] for c in t["curve"]]
        color = COLORS.get(name)
        ax.plot(steps, rates, marker="o", color=color, label=name)
        if all(c["ci"] for c in t["curve"]):
            low, high = [100 * c["ci"][0] for c in t["curve"]], [100 * c["ci"][1] for c in t["curve"]]
            ax.fill_between(steps, low, high, color=color, alpha=0.15, linewidth=0)
            # Whiskers too: a run measured at one step so far has no band to see.
            ax.errorbar(steps, rates, yerr=([r - lo for r, lo in zip(rates, low)], [hi - r for r, hi in zip(rates, high)]),
                        fmt="none", ecolor=color, capsize=3, linewidth=1)
        base_points.update({c["step"]: 100 * c["base"] for c in t["curve"] if c["base"] is not None})
    if base_points:
        steps = sorted(base_points)
        ax.plot(steps, [base_points[k] for k in steps], linestyle="--", marker="x", color="#4a5568", label="base model")
    ax.set_xlabel("hotfixes applied (held-out contexts of hotfixes 1..k pooled)")
    ax.set_ylabel("exact fixed line, % [95% CI]")
    ax.set_ylim(0, 100)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if not table.get("complete", True):
        ax.set_title("in progress: the steps measured so far", fontsize=9)
    return fig


def write_retention_png(table: Mapping[str, Any], path: str | Path) -> Path | None:
    """Draws ``table`` into ``path`` (written atomically); None, writing nothing, when there is nothing to draw."""
    fig = draw_retention(table)
    if fig is None:
        return None
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", facecolor="white")
    return Path(path)
