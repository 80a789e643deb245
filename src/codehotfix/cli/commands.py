"""``codehotfix train | eval | demo``: thin wrappers over ``codehotfix.api`` and the demo recipe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from codehotfix.cli import app
from codehotfix.cli import _options as opt
from codehotfix.cli._checks import at_least, finite


@app.command("train")
def train_cmd(
    cases: Path = typer.Argument(..., help="Hotfix cases (codehotfix JSONL, or a known dataset format)."),
    out: Path = opt.out_folder(what="The adapter and its hotfix.json manifest go here."),
    model: Optional[str] = opt.model(),
    config: Optional[Path] = opt.config(),
    fmt: str = opt.cases_format(),
    force: bool = typer.Option(False, "--force", help="Replace a finished hotfix already in --out."),
    restart: bool = typer.Option(False, "--restart", help="Discard an interrupted run's checkpoint in --out "
                                                          "unread and train from the start."),
    device: str = opt.device(),
    threads: Optional[int] = opt.threads(),
    report_to: str = opt.report_to(),
    overrides: Optional[List[str]] = typer.Argument(None, help="Config overrides: key.path=value …"),
) -> None:
    """Train a hotfix adapter on CASES and write it to --out (multi-GPU: see docs/scale-out.md)."""
    from codehotfix.api import train

    manifest = train(cases, out, model=model, config=config, overrides=overrides or [], fmt=fmt, force=force,
                     device=device, restart=restart, report_to=report_to, threads=threads)
    keep = ("base_model", "cases", "trainable_parameters", "train_seconds", "steps", "final_losses")
    print(json.dumps({"hotfix": str(out), **{k: manifest[k] for k in keep}}, indent=2))


@app.command("eval")
def eval_cmd(
    cases: Path = typer.Argument(..., help="Hotfix cases to measure."),
    json_out: Path = opt.json_out(),
    model: Optional[str] = opt.model(),
    adapter: Optional[Path] = opt.adapter(),
    fmt: str = opt.cases_format(),
    limit: Optional[int] = opt.limit(),
    samples: int = opt.samples(),
    top_p: float = typer.Option(0.95, callback=finite, help="Nucleus sampling threshold."),
    temperature: float = typer.Option(1.0, callback=finite, help="Sampling temperature."),
    max_new_tokens: int = typer.Option(64, callback=at_least(1), help="Token budget per completion."),
    batch_size: int = typer.Option(8, callback=at_least(1), help="Prompts per generation batch."),
    max_context_tokens: int = typer.Option(256, callback=at_least(1), help="Prefix tokens kept (from the right)."),
    seed: int = opt.seed(),
    events: str = typer.Option("line,split,window", "--events", help="Completion events to judge "
                               "(docs/evaluation.md): line (always), split (from where the buggy and fixed "
                               "lines part), window (5 lines, 'contains' + case patterns)."),
    threads: Optional[int] = opt.threads(),
    device: str = opt.device(),
    backend: str = typer.Option("hf", "--backend", help="Generation backend: hf (transformers) or vllm "
                                "(pip install vllm, CUDA only)."),
    online: Optional[Path] = typer.Option(None, "--online", help="Online hotfix (no training): fix cases "
                                          "(JSONL) whose matching prompts get a steering comment."),
    online_template: str = typer.Option("hint", "--online-template", help="Comment template: hint, warning."),
    guard: Optional[Path] = typer.Option(None, "--guard", help="Decoding guard (no training): fix cases (JSONL) "
                                         "whose buggy line is steered to the fixed one in matching contexts."),
    match_threshold: float = typer.Option(0.8, "--match-threshold", callback=finite,
                                          help="Online/guard: minimum similarity of the prompt's last code "
                                          "lines to a fix case's (0-1)."),
    match_lines: int = typer.Option(4, "--match-lines", callback=at_least(1),
                                    help="Online/guard: code lines compared."),
    match_mode: str = typer.Option("context", "--match", help="Online/guard matching: 'context' (the prompt's "
                                   "last lines resemble a fix case's) or 'edit' (a context-free edit rule per "
                                   "case, e.g. yaml.load( -> yaml.safe_load(; reaches new code)."),
) -> None:
    """Measure how often the model writes each case's fixed line, buggy line, or something else."""
    from codehotfix.api import EvalHotfix, EvalOptions, evaluate
    from codehotfix.config import EvalConfig
    from codehotfix.evaluation.tasks import TASKS
    from codehotfix.online import MatchConfig

    cfg = EvalConfig(samples=samples, top_p=top_p, temperature=temperature, max_new_tokens=max_new_tokens,
                     batch_size=batch_size, max_context_tokens=max_context_tokens, seed=seed, backend=backend,
                     events=[e.strip() for e in events.split(",") if e.strip()])
    options = EvalOptions(fmt=fmt, limit=limit, json_out=json_out, threads=threads, device=device)
    match = MatchConfig(mode=match_mode, tail_lines=match_lines, threshold=match_threshold)
    hotfix = EvalHotfix.from_sources(online=online, online_template=online_template, guard=guard, match=match)
    result = evaluate(cases, model=model, adapter=adapter, eval_config=cfg, options=options, hotfix=hotfix)
    summary = TASKS.get("rates").summary(result)
    print(json.dumps({"cases": summary.pop("cases"), "hotfix": result["hotfix"]["kind"], **summary,
                      "json": str(json_out)}, indent=2))


@app.command("demo")
def demo_cmd(
    out: Optional[Path] = opt.out_folder(required=False, what="The run (default: runs/demo-<time>); "
                                         "an existing one resumes (one with other settings is refused)."),
    model: Optional[str] = opt.model(),
    config: Optional[Path] = opt.config(),
    topics: Optional[List[str]] = typer.Option(None, "--topic", help="Pack topics to use (repeatable; default: the topics the default model gets wrong; 'all': every topic)."),
    device: str = opt.device(),
    threads: Optional[int] = opt.threads(),
    recompute_base: bool = typer.Option(False, "--recompute-base", help="Compute the base model's target selection "
                                        "and evaluation even when the model's store holds them from an earlier demo "
                                        "(same weights, inputs, settings, machine and code)."),
    overrides: Optional[List[str]] = typer.Argument(None, help="Config overrides: key.path=value …"),
) -> None:
    """Base eval → train → eval again on the built-in pack; prints the before/after table."""
    from datetime import datetime

    from codehotfix.recipes.demo import DemoOptions, run_demo, summary_markdown

    if out is None:
        out = Path("runs") / f"demo-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    opts = DemoOptions(out=out, model=model, config=str(config) if config else None, topics=topics or None,
                       overrides=overrides or [], device=device, threads=threads, reuse_base=not recompute_base)
    summary = run_demo(opts)
    print(summary_markdown(summary))
    print(f"results: {out}/summary.json, {out}/summary.md")
