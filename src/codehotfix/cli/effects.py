"""``codehotfix locality | perplexity | variants | execfix``: side effects and generalization of a hotfix.

    codehotfix locality   [--prompts JSONL|DIR] [--model M] [--adapter DIR] [--limit N] [--device D] --json OUT
    codehotfix perplexity [--corpus JSONL|DIR]  [--model M] [--adapter DIR] [--limit N] --json OUT
    codehotfix variants CASES                  [--model M] [--adapter DIR] [--limit N] --json OUT
    codehotfix execfix CASES --allow-exec      [--model M] [--adapter DIR] [--limit N] --json OUT

Each loads the base model and the adapter once, measures base (adapter disabled) and hotfixed in
the same process, writes the full result as JSON (atomically) and prints a short summary. Without
``--adapter`` only the base is measured and the hotfixed fields are null. See docs/side-effects.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from codehotfix.cli import app
from codehotfix.cli import _options as opt
from codehotfix.cli._checks import at_least, finite


def _run(name: str, cfg: object, json_out: Path, model: Optional[str], adapter: Optional[Path],
         threads: Optional[int], device: str) -> None:
    """One api call, then the task's summary with where the full result went."""
    from codehotfix.api import side_effect

    result = side_effect(name, cfg, model=model, adapter=adapter, json_out=json_out, threads=threads, device=device)
    print(json.dumps({**result.summary(), "json": str(json_out)}, indent=2))


@app.command("locality")
def locality_cmd(
    json_out: Path = opt.json_out(), model: Optional[str] = opt.model(), adapter: Optional[Path] = opt.adapter(),
    limit: Optional[int] = opt.limit(),
    prompts: Optional[Path] = typer.Option(None, "--prompts", help="JSONL {id, prompt} or a folder of .py files "
                                                                   "(default: the built-in 64 prompts)."),
    max_new_tokens: Optional[int] = typer.Option(None, help="Greedy continuation budget per prompt "
                                                 "(default: the task's, 48)."),
    compare_lines: Optional[int] = typer.Option(None, help="Non-blank lines compared for 'unchanged' (default: 1)."),
    kl_positions: Optional[int] = typer.Option(None, help="Prompt positions (from its end) in the KL (default: 16)."),
    batch_size: Optional[int] = typer.Option(None, help="Prompts per forward pass (default: the task's, 8)."),
    threads: Optional[int] = opt.threads(), device: str = opt.device(),
) -> None:
    """Do unrelated completions stay the same? Greedy agreement and KL(base ‖ hotfixed)."""
    from codehotfix.evaluation.tasks import LocalityTaskConfig

    d = LocalityTaskConfig()
    cfg = LocalityTaskConfig(generation=d.generation.with_given(max_new_tokens=max_new_tokens, batch_size=batch_size),
                             compare_lines=d.compare_lines if compare_lines is None else compare_lines,
                             kl_positions=d.kl_positions if kl_positions is None else kl_positions,
                             prompts=str(prompts) if prompts else None, limit=limit)
    _run("locality", cfg, json_out, model, adapter, threads, device)


@app.command("perplexity")
def perplexity_cmd(
    json_out: Path = opt.json_out(), model: Optional[str] = opt.model(), adapter: Optional[Path] = opt.adapter(),
    limit: Optional[int] = opt.limit(),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="JSONL {id, text} or a folder of .py files "
                                                                 "(default: the built-in held-out code)."),
    max_tokens: Optional[int] = typer.Option(None, help="Window length; longer texts are split (default: 1024)."),
    batch_size: Optional[int] = typer.Option(None, help="Windows per forward pass (default: the task's, 4)."),
    seed: int = opt.seed(),
    threads: Optional[int] = opt.threads(), device: str = opt.device(),
) -> None:
    """Perplexity of held-out code, base vs hotfixed, with a paired bootstrap interval."""
    from codehotfix.evaluation.tasks import PerplexityTaskConfig

    d = PerplexityTaskConfig()
    cfg = PerplexityTaskConfig(generation=d.generation.with_given(batch_size=batch_size, seed=seed),
                               max_tokens=d.max_tokens if max_tokens is None else max_tokens,
                               corpus=str(corpus) if corpus else None, limit=limit)
    _run("perplexity", cfg, json_out, model, adapter, threads, device)


@app.command("variants")
def variants_cmd(
    cases: Path = typer.Argument(..., help="Hotfix cases (the ones the hotfix trained on, typically)."),
    json_out: Path = opt.json_out(), model: Optional[str] = opt.model(), adapter: Optional[Path] = opt.adapter(),
    limit: Optional[int] = opt.limit(),
    fmt: str = opt.cases_format(),
    kinds: Optional[List[str]] = typer.Option(None, "--kind", help="Variant kinds (repeatable; default: "
                                                                   "rename, reformat, wrap)."),
    samples: int = opt.samples(),
    max_new_tokens: Optional[int] = typer.Option(None, help="Token budget per completion (default: 64)."),
    batch_size: Optional[int] = typer.Option(None, help="Prompts per generation batch (default: 8)."),
    seed: int = opt.seed(),
    original: bool = typer.Option(True, "--original/--no-original", help="Also measure the unmodified cases."),
    threads: Optional[int] = opt.threads(), device: str = opt.device(),
) -> None:
    """Fixed/buggy rates on renamed, reformatted and re-wrapped versions of the cases."""
    from codehotfix.evaluation.tasks import GenerationConfig, VariantsTaskConfig
    from codehotfix.evaluation.tasks.variants import DEFAULT_KINDS

    generation = GenerationConfig().with_given(samples=samples, max_new_tokens=max_new_tokens,
                                               batch_size=batch_size, seed=seed)
    cfg = VariantsTaskConfig(generation=generation, kinds=tuple(kinds or DEFAULT_KINDS), include_original=original,
                             cases=str(cases), fmt=fmt, limit=limit)
    _run("variants", cfg, json_out, model, adapter, threads, device)


@app.command("execfix")
def execfix_cmd(
    cases: Path = typer.Argument(..., help="Cases with tests, e.g. humanevalpack_python.jsonl (HumanEvalFix)."),
    json_out: Path = opt.json_out(), model: Optional[str] = opt.model(), adapter: Optional[Path] = opt.adapter(),
    limit: Optional[int] = opt.limit(),
    allow_exec: bool = opt.allow_exec(), allow_weak_isolation: bool = opt.allow_weak_isolation(),
    fmt: str = opt.cases_format(),
    samples: int = opt.samples(),
    max_new_tokens: Optional[int] = typer.Option(None, help="Token budget per completion (default: 64)."),
    batch_size: Optional[int] = typer.Option(None, help="Prompts per generation batch (default: 8)."),
    timeout: float = typer.Option(3.0, "--timeout", callback=finite, help="Seconds per program."),
    workers: Optional[int] = typer.Option(None, callback=at_least(1), help="Programs run in parallel (default: CPUs)."),
    seed: int = opt.seed(),
    threads: Optional[int] = opt.threads(), device: str = opt.device(),
) -> None:
    """Run each completed program with the task's tests: pass share base vs hotfixed, with McNemar."""
    from codehotfix.evaluation.execfix import ExecFixConfig
    from codehotfix.evaluation.tasks import ExecFixTaskConfig, GenerationConfig

    execution = ExecFixConfig(timeout_s=timeout, workers=workers, allow_exec=allow_exec,
                              allow_weak_isolation=allow_weak_isolation)
    generation = GenerationConfig().with_given(samples=samples, max_new_tokens=max_new_tokens,
                                               batch_size=batch_size, seed=seed)
    cfg = ExecFixTaskConfig(generation=generation, execution=execution, cases=str(cases), fmt=fmt, limit=limit)
    _run("execfix", cfg, json_out, model, adapter, threads, device)
