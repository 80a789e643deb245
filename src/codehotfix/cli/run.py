"""``codehotfix run CASES --out RUN_DIR``: the whole pipeline in one resumable folder (``api.run``).

    codehotfix run my_cases.jsonl --out runs/my-fix                       # split, eval, train, eval, report
    codehotfix run my_cases.jsonl --out runs/my-fix --humaneval 20 --allow-exec --locality --perplexity
    codehotfix run my_cases.jsonl --out runs/my-fix --restart             # discard and redo
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from codehotfix.cli import _options as opt
from codehotfix.cli import app
from codehotfix.cli._checks import at_least


@app.command("run")
def run_cmd(
    cases: Path = typer.Argument(..., help="Hotfix cases (codehotfix JSONL, or a known dataset format)."),
    out: Path = opt.out_folder(what="The run; an existing one of the same run resumes."),
    model: Optional[str] = opt.model(),
    config: Optional[Path] = opt.config(),
    fmt: str = opt.cases_format(),
    test_fraction: float = typer.Option(0.25, "--test-fraction", help="Share of cases held out for evaluation."),
    split_by: str = typer.Option("group", "--split-by", help="What must not straddle the split: group, "
                                 "language, id, source.<key>."),
    split_mode: str = typer.Option("grouped", "--split-mode", help="grouped (held-out groups unseen), within, random."),
    humaneval: int = typer.Option(0, "--humaneval", help="HumanEval problems, base and hotfixed (0: skip; "
                                  "needs --allow-exec)."),
    allow_exec: bool = opt.allow_exec(),
    allow_weak_isolation: bool = opt.allow_weak_isolation(),
    locality: bool = typer.Option(False, "--locality", help="Measure locality on unrelated prompts."),
    perplexity: bool = typer.Option(False, "--perplexity", help="Measure perplexity of held-out code."),
    side_effect_limit: Optional[int] = typer.Option(None, "--side-effect-limit", callback=at_least(1),
                                                    help="Only the first N locality prompts / perplexity texts."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html and fill the model card."),
    report_to: str = opt.report_to(),
    restart: bool = typer.Option(False, "--restart", help="Delete this folder's run results and start over."),
    device: str = opt.device(),
    threads: Optional[int] = opt.threads(),
    overrides: Optional[List[str]] = typer.Argument(None, help="Config overrides: key.path=value …"),
) -> None:
    """Split CASES, evaluate the base, train a hotfix, evaluate it, measure side effects, write report.html."""
    from codehotfix.api import RunOptions, run

    opts = RunOptions(test_fraction=test_fraction, split_by=split_by, split_mode=split_mode, humaneval=humaneval,
                      allow_exec=allow_exec, allow_weak_isolation=allow_weak_isolation, locality=locality,
                      perplexity=perplexity, side_effect_limit=side_effect_limit, report=report, report_to=report_to)
    result = run(cases, out, model=model, config=config, overrides=overrides or [], fmt=fmt, options=opts,
                 restart=restart, device=device, threads=threads)
    print(json.dumps(result, indent=2))
