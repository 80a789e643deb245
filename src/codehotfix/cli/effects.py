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
from typing import Any, List, Optional

import typer

from codehotfix.cli import app
from codehotfix.cli import _options as opt
from codehotfix.cli._checks import at_least, finite


def _load(model: Optional[str], adapter: Optional[Path], threads: Optional[int], seed: int, device: str) -> Any:
    from codehotfix.api import load_hotfixed, seed_everything

    seed_everything(seed)
    return load_hotfixed(model, adapter, threads=threads, device=device)


def _write(json_out: Path, loaded: Any, adapter: Optional[Path], result: dict, summary: dict) -> None:
    """Writes the result with the model and adapter it describes, then prints the summary."""
    from codehotfix.api import library_versions
    from codehotfix.files import write_json

    data = {**result, "model": loaded.model_id, "model_checksum": loaded.checksum,
            "adapter": str(adapter) if adapter else None, "versions": library_versions()}
    write_json(json_out, data)
    print(json.dumps({**summary, "json": str(json_out)}, indent=2))


def _pick(result: dict, *keys: str) -> dict:
    return {k: result[k] for k in keys}


def _cases(path: Path, fmt: str, limit: Optional[int]) -> list:
    from codehotfix.data.loaders import load_cases

    cases = load_cases(path, fmt)
    return cases[:limit] if limit is not None else cases


@app.command("locality")
def locality_cmd(
    json_out: Path = opt.json_out(), model: Optional[str] = opt.model(), adapter: Optional[Path] = opt.adapter(),
    limit: Optional[int] = opt.limit(),
    prompts: Optional[Path] = typer.Option(None, "--prompts", help="JSONL {id, prompt} or a folder of .py files "
                                                                   "(default: the built-in 64 prompts)."),
    max_new_tokens: int = typer.Option(48, help="Greedy continuation budget per prompt."),
    compare_lines: int = typer.Option(1, help="Non-blank lines compared for 'unchanged'."),
    kl_positions: int = typer.Option(16, help="Prompt positions (from its end) in the KL."),
    batch_size: int = typer.Option(8, help="Prompts per forward pass."),
    threads: Optional[int] = opt.threads(), device: str = opt.device(),
) -> None:
    """Do unrelated completions stay the same? Greedy agreement and KL(base ‖ hotfixed)."""
    from codehotfix.evaluation.locality import LocalityConfig, load_prompts, run_locality

    LocalityConfig(max_new_tokens=max_new_tokens, compare_lines=compare_lines, kl_positions=kl_positions,
                   batch_size=batch_size)  # validate before the model loads
    items = load_prompts(prompts, limit=limit)
    loaded = _load(model, adapter, threads, 0, device)
    result = run_locality(loaded.model, loaded.tokenizer, items, max_new_tokens=max_new_tokens,
                          compare_lines=compare_lines, kl_positions=kl_positions, batch_size=batch_size)
    result["prompts_source"] = str(prompts) if prompts else "builtin:locality"
    _write(json_out, loaded, adapter, result, _pick(result, "prompts", "unchanged_fraction",
                                                    "unchanged_fraction_full", "mean_kl", "seconds"))


@app.command("perplexity")
def perplexity_cmd(
    json_out: Path = opt.json_out(), model: Optional[str] = opt.model(), adapter: Optional[Path] = opt.adapter(),
    limit: Optional[int] = opt.limit(),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="JSONL {id, text} or a folder of .py files "
                                                                 "(default: the built-in held-out code)."),
    max_tokens: int = typer.Option(1024, help="Window length; longer texts are split."),
    batch_size: int = typer.Option(4, help="Windows per forward pass."),
    seed: int = opt.seed(),
    threads: Optional[int] = opt.threads(), device: str = opt.device(),
) -> None:
    """Perplexity of held-out code, base vs hotfixed, with a paired bootstrap interval."""
    from codehotfix.evaluation.perplexity import PerplexityConfig, load_corpus, run_perplexity

    PerplexityConfig(max_tokens=max_tokens, batch_size=batch_size, seed=seed)
    name, texts = load_corpus(corpus, limit=limit)
    loaded = _load(model, adapter, threads, seed, device)
    result = run_perplexity(loaded.model, loaded.tokenizer, texts, corpus=name, max_tokens=max_tokens,
                            batch_size=batch_size, seed=seed)
    _write(json_out, loaded, adapter, result, _pick(result, "corpus", "tokens", "base", "hotfixed",
                                                    "relative_change", "ci95", "seconds"))


@app.command("variants")
def variants_cmd(
    cases: Path = typer.Argument(..., help="Hotfix cases (the ones the hotfix trained on, typically)."),
    json_out: Path = opt.json_out(), model: Optional[str] = opt.model(), adapter: Optional[Path] = opt.adapter(),
    limit: Optional[int] = opt.limit(),
    fmt: str = opt.cases_format(),
    kinds: Optional[List[str]] = typer.Option(None, "--kind", help="Variant kinds (repeatable; default: "
                                                                   "rename, reformat, wrap)."),
    samples: int = opt.samples(),
    max_new_tokens: int = typer.Option(64, help="Token budget per completion."),
    batch_size: int = typer.Option(8, help="Prompts per generation batch."),
    seed: int = opt.seed(),
    original: bool = typer.Option(True, "--original/--no-original", help="Also measure the unmodified cases."),
    threads: Optional[int] = opt.threads(), device: str = opt.device(),
) -> None:
    """Fixed/buggy rates on renamed, reformatted and re-wrapped versions of the cases."""
    from codehotfix.config import EvalConfig
    from codehotfix.evaluation.variants import VARIANT_KINDS, run_variants

    chosen = tuple(kinds or ("rename", "reformat", "wrap"))
    for kind in chosen:
        VARIANT_KINDS.get(kind)  # unknown kinds fail before the model loads
    cfg = EvalConfig(samples=samples, max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed)
    case_list = _cases(cases, fmt, limit)
    loaded = _load(model, adapter, threads, seed, device)
    result = run_variants(loaded.model, loaded.tokenizer, case_list, cfg, kinds=chosen, seed=seed,
                          include_original=original)
    summary = {k: {"n": b["n"], "skipped": b["skipped"],
                   "greedy": b["comparison"]["greedy"] if b["comparison"] else b["base"] and b["base"]["greedy"]}
               for k, b in result["kinds"].items()}
    _write(json_out, loaded, adapter, result, {"kinds": summary, "seconds": result["seconds"]})


@app.command("execfix")
def execfix_cmd(
    cases: Path = typer.Argument(..., help="Cases with tests, e.g. humanevalpack_python.jsonl (HumanEvalFix)."),
    json_out: Path = opt.json_out(), model: Optional[str] = opt.model(), adapter: Optional[Path] = opt.adapter(),
    limit: Optional[int] = opt.limit(),
    allow_exec: bool = opt.allow_exec(), allow_weak_isolation: bool = opt.allow_weak_isolation(),
    fmt: str = opt.cases_format(),
    samples: int = opt.samples(),
    max_new_tokens: int = typer.Option(64, help="Token budget per completion."),
    batch_size: int = typer.Option(8, help="Prompts per generation batch."),
    timeout: float = typer.Option(3.0, "--timeout", callback=finite, help="Seconds per program."),
    workers: Optional[int] = typer.Option(None, callback=at_least(1), help="Programs run in parallel (default: CPUs)."),
    seed: int = opt.seed(),
    threads: Optional[int] = opt.threads(), device: str = opt.device(),
) -> None:
    """Run each completed program with the task's tests: pass share base vs hotfixed, with McNemar."""
    from codehotfix.config import EvalConfig
    from codehotfix.evaluation.execfix import ExecFixConfig, run_execfix

    exec_cfg = ExecFixConfig(timeout_s=timeout, workers=workers, allow_exec=allow_exec,
                             allow_weak_isolation=allow_weak_isolation)
    cfg = EvalConfig(samples=samples, max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed)
    case_list = _cases(cases, fmt, limit)
    loaded = _load(model, adapter, threads, seed, device)
    result = run_execfix(loaded.model, loaded.tokenizer, case_list, cfg, exec_cfg)
    _write(json_out, loaded, adapter, result, _pick(result, "cases", "base", "hotfixed", "reference", "mcnemar",
                                                    "seconds"))
