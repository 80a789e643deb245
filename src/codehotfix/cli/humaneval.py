"""``codehotfix humaneval``: HumanEval pass@k of a model, with or without a hotfix, executed in the sandbox.

    codehotfix humaneval --allow-exec --json he.json [--model M] [--adapter DIR] [--limit N]
                         [--samples n --temperature t --pass-k 1 --pass-k 10] [--exclude HumanEval/3 …]

Generations are cached by (model checksum, adapter checksum, prompt, decoding settings), so a re-run
or an interrupted run only generates what is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from codehotfix.cli import app
from codehotfix.cli import _options as opt
from codehotfix.cli._checks import finite


@app.command("humaneval")
def humaneval_cmd(
    json_out: Path = opt.json_out(),
    allow_exec: bool = opt.allow_exec(),
    allow_weak_isolation: bool = opt.allow_weak_isolation(),
    model: Optional[str] = opt.model(),
    adapter: Optional[Path] = opt.adapter(),
    limit: Optional[int] = opt.limit(),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Task ids to leave out (repeatable)."),
    samples: int = opt.samples(default=opt.DEFAULT_EXCEPTIONS[("humaneval", "--samples")][0], low=1),
    temperature: float = typer.Option(0.0, callback=finite, help="0 means greedy."),
    k: Optional[List[int]] = opt.pass_k(),
    max_new_tokens: Optional[int] = typer.Option(None, help="Token budget per completion (default: the task's, "
                                                 "384)."),
    batch_size: Optional[int] = typer.Option(None, help="Prompts per generation batch (default: the task's, 8)."),
    seed: int = opt.seed(),
    threads: Optional[int] = opt.threads(),
    device: str = opt.device(),
    old_n: Optional[int] = opt.deprecated("-n", "--samples/-k"),
    old_k: Optional[List[int]] = opt.deprecated("--k", "--pass-k"),
) -> None:
    """Measure HumanEval pass@k (generated code runs only in the sandbox, and only with --allow-exec)."""
    samples = opt.prefer(samples, old_n, new_default=opt.DEFAULT_EXCEPTIONS[("humaneval", "--samples")][0])
    k = opt.prefer(k, old_k)
    from codehotfix.api import humaneval
    from codehotfix.evaluation.tasks import HumanEvalTaskConfig

    # Validate (including --allow-exec) before a model loads.
    generation = HumanEvalTaskConfig(allow_exec=True).generation.with_given(
        samples=samples, temperature=temperature, max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed)
    cfg = HumanEvalTaskConfig(generation=generation, limit=limit, exclude=tuple(exclude or ()), k=tuple(k or (1,)),
                              allow_exec=allow_exec, allow_weak_isolation=allow_weak_isolation)
    result = humaneval(cfg, model=model, adapter=adapter, json_out=json_out, threads=threads, device=device)
    print(json.dumps({**result.summary(), "json": str(json_out)}, indent=2))
