"""``build_report``: collect a run folder's results, compute the numbers, draw, write three files.

    from codehotfix.report import build_report
    paths = build_report("runs/demo-final")           # runs/demo-final/report.{html,md,json}
    paths = build_report("runs/x", out_dir="/tmp/r")   # elsewhere

Overwriting: a report is a derived file, so regenerating the report *of the same run folder* in the
same place is always allowed (results may have been added since). Report files that belong to
another run folder — or that report.json does not identify — are user files, replaced only with
``force=True``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from codehotfix.errors import CodehotfixError
from codehotfix.files import atomic_write_text, write_json
from codehotfix.report.analysis import analyze
from codehotfix.report.collect import REPORT_FILES, collect
from codehotfix.report.plots import make_plots
from codehotfix.report.render import build_sections, render_html, render_markdown

__all__ = ["ReportPaths", "build_report"]


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    markdown: Path
    json: Path


def _check_overwrite(out_dir: Path, run_dir: Path, force: bool) -> None:
    existing = [out_dir / name for name in REPORT_FILES if (out_dir / name).exists()]
    if not existing or force:
        return
    owner = None
    try:
        owner = json.loads((out_dir / "report.json").read_text(encoding="utf-8")).get("run_dir")
    except (OSError, ValueError, AttributeError):
        pass
    if owner != str(run_dir):
        whose = f"the report of {owner}" if owner else "files not written by codehotfix report for this run"
        raise CodehotfixError(f"{out_dir} already holds {', '.join(p.name for p in existing)} ({whose}); "
                              "pass --force (force=True) to replace them")


def build_report(run_dir: str | Path, out_dir: str | Path | None = None, *, force: bool = False) -> ReportPaths:
    """Writes report.html (self-contained, with figures), report.md and report.json for ``run_dir``.

    Args:
        run_dir: the run folder (see docs/report.md for what it may contain; every part is optional).
        out_dir: where to write (default: ``run_dir``).
        force: replace report files that belong to another run.

    Returns:
        The three paths.

    Raises:
        FileNotFoundError: if ``run_dir`` does not exist.
        DataError: if an input file is malformed (names the file and the field).
        CodehotfixError: if ``out_dir`` holds another run's report and ``force`` is False.
    """
    report = collect(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir)
    _check_overwrite(out, report.run_dir, force)
    numbers = analyze(report)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    numbers["created"] = created
    title = report.run_dir.name
    sections = build_sections(numbers)
    plots = make_plots(report, numbers)
    paths = ReportPaths(out / "report.html", out / "report.md", out / "report.json")
    # report.json last: it marks the set as this run's (see _check_overwrite).
    atomic_write_text(paths.html, render_html(numbers, sections, plots, title=title, created=created))
    atomic_write_text(paths.markdown, render_markdown(numbers, sections, title=title, created=created))
    write_json(paths.json, numbers)
    return paths
