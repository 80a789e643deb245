"""``codehotfix report RUN_DIR``: one self-contained HTML page (+ Markdown, + JSON numbers) for a run.

    codehotfix report runs/demo-final [--out DIR] [--force]

Regenerating a run's own report in place is always allowed; report files of another run in --out
are replaced only with --force (see docs/report.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from codehotfix.cli import app
from codehotfix.cli import _options as opt


@app.command("report")
def report_cmd(
    run_dir: Path = typer.Argument(..., help="Run folder (codehotfix demo --out, or the files of docs/report.md)."),
    out: Optional[Path] = opt.out_folder(required=False, what="report.html/.md/.json go here (default: RUN_DIR)."),
    force: bool = typer.Option(False, "--force", help="Replace report files that belong to another run."),
) -> None:
    """Write report.html (plots, verdict, significance), report.md and report.json for RUN_DIR."""
    from codehotfix.api import report
    from codehotfix.files import read_json

    paths = report(run_dir, out, force=force)
    numbers = read_json(paths.json)
    print(json.dumps({"html": str(paths.html), "markdown": str(paths.markdown), "json": str(paths.json),
                      "verdict": numbers["headlines"],
                      "missing": [m["section"] for m in numbers["missing"]]}, indent=2, ensure_ascii=False))
