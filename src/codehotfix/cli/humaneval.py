"""``codehotfix humaneval``: HumanEval pass@k of a model, with or without a hotfix, executed in the sandbox.

    codehotfix humaneval --allow-exec --json he.json [--model M] [--adapter DIR] [--limit N]
                         [--samples n --temperature t --k 1 --k 10] [--exclude HumanEval/3 …]

Generations are cached by (model checksum, adapter checksum, prompt, decoding settings), so a re-run
or an interrupted run only generates what is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from codehotfix.cli import app
from codehotfix.cli._checks import at_least, finite, output_file


@app.command("humaneval")
def humaneval_cmd(
    json_out: Path = typer.Option(..., "--json", callback=output_file, help="Where to write the results (JSON)."),
    allow_exec: bool = typer.Option(False, "--allow-exec", help="Required: run generated code in the sandbox."),
    allow_weak_isolation: bool = typer.Option(
        False, "--allow-weak-isolation", help="Run generated code even without root/namespaces (weak sandbox)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Base model (see `codehotfix train`)."),
    adapter: Optional[Path] = typer.Option(None, "--adapter", "-a", help="A hotfix folder to apply."),
    limit: Optional[int] = typer.Option(None, "--limit", callback=at_least(1), help="Only the first N problems."),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Task ids to leave out (repeatable)."),
    samples: int = typer.Option(1, "--samples", "-n", help="Completions per problem."),
    temperature: float = typer.Option(0.0, callback=finite, help="0 means greedy."),
    k: Optional[List[int]] = typer.Option(None, "--k", help="pass@k values to report (repeatable; default 1)."),
    max_new_tokens: int = typer.Option(384, help="Token budget per completion."),
    batch_size: int = typer.Option(8, help="Prompts per generation batch."),
    seed: int = typer.Option(0, help="Sampling seed."),
    threads: Optional[int] = typer.Option(None, callback=at_least(1), help="Torch threads (default: all cores)."),
    device: str = typer.Option("auto", "--device", help="Where the model runs: auto, cpu, cuda, cuda:N."),
) -> None:
    """Measure HumanEval pass@k (generated code runs only in the sandbox, and only with --allow-exec)."""
    from codehotfix.api import load_hotfixed
    from codehotfix.evaluation.generation import make_generator
    from codehotfix.evaluation.humaneval import HumanEvalConfig, run_humaneval
    from codehotfix.files import sha256_file, write_json

    # Validate (including --allow-exec) before a model loads.
    cfg = HumanEvalConfig(limit=limit, exclude=tuple(exclude or ()), samples=samples, temperature=temperature,
                          max_new_tokens=max_new_tokens, k=tuple(k or (1,)), seed=seed, batch_size=batch_size,
                          allow_exec=allow_exec, allow_weak_isolation=allow_weak_isolation)
    loaded = load_hotfixed(model, adapter, threads=threads, device=device)
    adapter_sum = sha256_file(Path(adapter) / "adapter_model.safetensors") if adapter else None
    result = run_humaneval(make_generator(loaded.model, loaded.tokenizer, batch_size=batch_size), cfg,
                           model_checksum=loaded.checksum, adapter_checksum=adapter_sum)
    data = {"model": loaded.model_id, "model_checksum": loaded.checksum,
            "adapter": str(adapter) if adapter else None, **result.to_dict()}
    write_json(json_out, data)
    print(json.dumps({"pass_at_k": result.pass_at_k, "problems": len(result.tasks),
                      "generation_s": round(result.generation_s, 1), "execution_s": round(result.execution_s, 1),
                      "cached_prompts": result.cached_prompts, "json": str(json_out)}, indent=2))
