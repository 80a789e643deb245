"""The building blocks of a report section, and the number formats every section shares.

A task turns its numbers into a ``Section`` (sentences, tables, figure names); ``codehotfix.report``
renders the same sections as HTML and Markdown, so a number in report.md is exactly the number in
report.html. They live here, below ``report``, because each task builds its own section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from codehotfix.evaluation import stats

__all__ = ["Table", "Section", "ALPHA", "PAPER", "relative_change", "signed", "verdict", "wilson",
           "fmt_rate", "fmt_change", "fmt_ci", "fmt_value"]

ALPHA = 0.05
# Yang & Lo, "Hotfixing Large Language Models for Code" (arXiv 2408.05727): relative change of the
# fixed and buggy rates of their best hotfix, shown next to ours for reference.
PAPER = {"fixed_change_pct": 108.42, "buggy_change_pct": -50.47,
         "source": "Yang & Lo 2024, Hotfixing Large Language Models for Code (arXiv 2408.05727)"}


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Section:
    """One part of the report: blocks in reading order — ``("p", sentence)``, ``("table", Table)``,
    ``("plot", figure name)`` — and ``missing``: absent inputs, as sentences saying how to make them."""

    id: str
    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, table: Table) -> None:
        self.blocks.append(("table", table))

    def plot(self, name: str) -> None:
        self.blocks.append(("plot", name))


def relative_change(before: float | None, after: float | None) -> float | None:
    """(after − before) / before in percent; None where before is 0 (the paper's definition)."""
    if before is None or after is None or before == 0:
        return None
    return 100.0 * (after - before) / before


def signed(x: float, spec: str = "+.1f") -> str:
    """A signed number with a true minus sign (U+2212), as in the verdict sentences."""
    return format(x, spec).replace("-", "\u2212")


def verdict(p: float) -> str:
    return ("significant" if p < ALPHA else "not significant") + f" at {ALPHA:g}"


def wilson(rate: float, n: int) -> list[float] | None:
    return list(stats.wilson_interval(round(rate * n), n)) if n > 0 else None


def fmt_rate(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def fmt_change(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:+.{digits}f}%".replace("-", "\u2212")


def fmt_ci(ci: Sequence[float] | None, digits: int = 3) -> str:
    return "n/a" if not ci else f"{ci[0]:.{digits}f}–{ci[1]:.{digits}f}"


def fmt_value(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)
