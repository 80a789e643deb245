"""``codehotfix mine``: one-line bug fixes from git history or a diff, as hotfix cases (JSONL).

    codehotfix mine REPO… --out cases.jsonl [--since 2023-01-01] [--paths 'src/*.py'] [--max 500]
    codehotfix mine REPO --patch fix.diff --out cases.jsonl [--rev BASE]

Prints a JSON summary: the cases written and what happened to every commit. A run over a long
history can be stopped and started again: it resumes from ``<out>.state.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from codehotfix.cli import app
from codehotfix.cli import _options as opt
from codehotfix.cli._checks import at_least, input_file


@app.command("mine")
def mine(
    repos: List[Path] = typer.Argument(..., help="Local git repositories (with --patch: the one the diff applies to)."),
    out: Path = opt.out_cases(),
    since: Optional[str] = typer.Option(None, help="Only commits committed on or after this ISO date."),
    paths: List[str] = typer.Option([], "--paths", help="Glob the fixed file must match (repeatable; * crosses /)."),
    max_cases: Optional[int] = typer.Option(None, "--max", callback=at_least(1), help="Stop after this many cases."),
    patch: Optional[Path] = typer.Option(None, callback=input_file,
                                         help="Mine this unified diff instead of the history."),
    rev: str = typer.Option("HEAD", help="With --patch: the revision the diff was made against."),
    prefix_lines: int = typer.Option(60, help="Lines of the parent file kept before the buggy line."),
    suffix_lines: int = typer.Option(15, help="Lines of the fixed file kept after the fixed line."),
    language: List[str] = typer.Option(["python", "java", "javascript"], "--language", help="Languages to mine."),
    any_message: bool = typer.Option(False, help="Mine every commit, not only those whose message says fix."),
    include_tests: bool = typer.Option(False, help="Also mine fixes inside test files."),
    restart: bool = typer.Option(False, help="Ignore an existing output and state instead of resuming."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."
    ),
) -> None:
    """Mine one-line bug fixes from git history (or one diff) into hotfix cases (--out; a resume state
    file goes beside it)."""
    from codehotfix.data.cases import write_cases
    from codehotfix.data.miners import MinerConfig, mine_patch, mine_repos
    from codehotfix.data.miners.base import DEFAULT_FIX_PATTERN
    from codehotfix.errors import DataError

    cfg = MinerConfig(
        prefix_lines=prefix_lines, suffix_lines=suffix_lines, since=since, paths=tuple(paths), max_cases=max_cases,
        fix_pattern="" if any_message else DEFAULT_FIX_PATTERN, languages=tuple(language), include_tests=include_tests,
    )  # fmt: skip
    if patch is not None:
        if len(repos) != 1:
            raise DataError(f"--patch takes exactly one repository, got {len(repos)}")
        result = mine_patch(patch, repos[0], cfg, rev=rev)
        write_cases(out, result.cases)
    else:
        result = mine_repos(repos, cfg, out=out, restart=restart, progress=progress)
    typer.echo(json.dumps({"out": str(out), "cases": len(result.cases), **result.stats}))
