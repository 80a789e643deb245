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
    max_new_tokens: int = typer.Option(384, help="Token budget per completion."),
    batch_size: int = typer.Option(8, help="Prompts per generation batch."),
    seed: int = opt.seed(),
    threads: Optional[int] = opt.threads(),
    device: str = opt.device(),
    old_n: Optional[int] = opt.deprecated("-n", "--samples/-k"),
    old_k: Optional[List[int]] = opt.deprecated("--k", "--pass-k"),
) -> None:
    """Measure HumanEval pass@k (generated code runs only in the sandbox, and only with --allow-exec)."""
    samples = opt.prefer(samples, old_n, new_default=opt.DEFAULT_EXCEPTIONS[("humaneval", "--samples")][0])
    k = opt.prefer(k, old_k)
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
