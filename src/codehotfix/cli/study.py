"""``codehotfix study CONFIG``: run (or resume) a grid of methods × losses × seeds into one table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from codehotfix.cli import app
from codehotfix.cli import _options as opt
from codehotfix.cli._checks import at_least, text_file


@app.command("study")
def study_cmd(
    config: Path = typer.Argument(..., callback=text_file, help="Study YAML (see configs/study/)."),
    out: Optional[Path] = opt.out_folder(required=False, what="The study (default: bench/results/study_<name>); "
                                         "finished cells in it are reused."),
    limit_cells: Optional[int] = typer.Option(None, "--limit-cells", callback=at_least(0),
                                              help="Run at most N new cells, then write the table."),
    overrides: Optional[List[str]] = typer.Argument(None, help="Study overrides: key.path=value … "
                                                    "(e.g. dataset.test_cases=8 overrides.training.epochs=1)"),
) -> None:
    """Train and evaluate every (method, loss, seed) cell of a study; write results.json and results.md."""
    from codehotfix.study import load_study, run_study

    spec = load_study(config, overrides or [])
    table = run_study(spec, out, limit_cells=limit_cells)
    best = table["best"]
    summary = {"study": spec.name, "out": table["out"], "cells_done": table["cells_done"],
               "pending": len(table["pending"]), "complete": table["complete"],
               "best": None if best is None else {
                   "method": best["method"], "loss": best["loss"], "seeds": best["seeds"],
                   "score": best["score"]["mean"], "fixed_sampled": best["fixed_sampled"]["mean"],
                   "buggy_sampled": best["buggy_sampled"]["mean"]},
               "results": [str(Path(table["out"]) / "results.json"), table["results_md"]]}
    print(json.dumps(summary, indent=2))
