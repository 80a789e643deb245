"""``codehotfix hotfix add|list|show|enable|disable|rollback|export-vllm|compact``: the hotfix registry.

Thin wrappers over ``codehotfix.deploy`` (HotfixStore, export_vllm) and, for ``enable --model``,
``codehotfix.serve.engine.HotfixEngine`` (which runs the canary before the registry changes). A running
server applies registry edits made here on ``POST /admin/sync``; change a live server through its
admin API instead (docs/serving.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from codehotfix.cli import _options as opt
from codehotfix.cli import app

hotfix_app = typer.Typer(help="Manage the hotfix registry (versions, enabled set, rollback, vLLM export).",
                         no_args_is_help=True, **opt.SUBAPP)
app.add_typer(hotfix_app, name="hotfix")


def _store(path: Path, create: bool = False):
    from codehotfix.deploy.store import HotfixStore

    return HotfixStore(path, create=create)


def _print(obj: object) -> None:
    print(json.dumps(obj, indent=2, default=str))


@hotfix_app.command("add")
def add_cmd(
    source: Path = typer.Argument(..., help="A hotfix folder written by `codehotfix train`."),
    registry: Path = opt.registry(),
    name: Optional[str] = typer.Option(None, "--name", help="Registry name (default: the folder's name)."),
    version: Optional[str] = typer.Option(None, "--version", help="Version label (default: v<N+1>)."),
    canaries: Optional[Path] = typer.Option(None, "--canaries", help="Cases file for the canary check "
                                            "(default: the file hotfix.json's \"canaries\" names)."),
    canary_count: int = typer.Option(5, "--canary-count", help="Canary cases kept (the first N)."),
    evals: Optional[List[Path]] = typer.Option(None, "--eval", help="Result JSON to keep with it (repeatable)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing version with the same label."),
) -> None:
    """Copy a hotfix into the registry as a new version (not enabled)."""
    entry = _store(registry, create=True).add(source, name=name, version=version, canaries=canaries,
                                              canary_count=canary_count, evals=evals or [], force=force)
    _print(entry.summary())


@hotfix_app.command("list")
def list_cmd(registry: Path = opt.registry()) -> None:
    """Every stored version, with the enabled ones marked."""
    store = _store(registry)
    _print({"registry": str(store.root), "enabled": store.enabled(), "hotfixes": store.listing()})


@hotfix_app.command("show")
def show_cmd(
    name: str = typer.Argument(..., help="Hotfix name."),
    version: Optional[str] = typer.Option(None, "--version", help="Version (default: the latest)."),
    registry: Path = opt.registry(),
) -> None:
    """One entry: its record, manifest summary, canary cases and kept evaluations."""
    store = _store(registry)
    entry = store.entry(name, version)
    manifest = entry.manifest
    keep = ("base_model", "cases", "case_ids", "steps", "train_seconds", "final_losses", "created")
    _print({**entry.summary(), "enabled": store.enabled().get(name) == entry.version,
            "versions": store.versions(name), "manifest": {k: manifest[k] for k in keep if k in manifest},
            "canary_ids": [c.id for c in entry.canaries()], "evals": entry.evals()})


@hotfix_app.command("enable")
def enable_cmd(
    name: str = typer.Argument(..., help="Hotfix name."),
    version: Optional[str] = typer.Option(None, "--version", help="Version (default: the latest)."),
    registry: Path = opt.registry(),
    model: Optional[str] = opt.model(),
    canary: bool = opt.canary(),
    mode: str = typer.Option("stack", "--mode", help="How enabled hotfixes combine: stack, merge_cat, …"),
    dtype: str = typer.Option("auto", help="Model dtype."),
    threads: Optional[int] = opt.threads(),
    device: str = opt.device(),
) -> None:
    """Enable a hotfix version; with --model its canary (run on that base model) must show its effect first."""
    from codehotfix.errors import CodehotfixError

    store = _store(registry)
    if not canary:
        _print({"history": store.enable(name, version, note="canary skipped (--no-canary)"),
                "enabled": store.enabled()})
        return
    if model is None:
        raise CodehotfixError("enable runs the hotfix's canary on the base model: pass --model M "
                              "(or --no-canary to skip the check)")
    from codehotfix.models.loading import load_model
    from codehotfix.serve.engine import EngineConfig, HotfixEngine

    loaded = load_model(model, dtype=dtype, threads=threads, device=device)
    engine = HotfixEngine(loaded, store, EngineConfig(mode=mode))
    result = engine.enable(name, version)
    _print({"enabled": result["hotfix_versions"],
            "canary": {n: {"passed": c["passed"], "fraction": c["fraction"]} for n, c in result["canary"].items()}})


@hotfix_app.command("disable")
def disable_cmd(
    name: str = typer.Argument(..., help="Hotfix name."),
    registry: Path = opt.registry(),
) -> None:
    """Stop serving a hotfix (any version)."""
    store = _store(registry)
    _print({"history": store.disable(name), "enabled": store.enabled()})


@hotfix_app.command("rollback")
def rollback_cmd(
    name: Optional[str] = typer.Argument(None, help="Only this hotfix (default: undo the latest change)."),
    registry: Path = opt.registry(),
) -> None:
    """Restore the enabled set before the latest change (of NAME, if given)."""
    store = _store(registry)
    _print({"history": store.rollback(name), "enabled": store.enabled()})


@hotfix_app.command("export-vllm")
def export_vllm_cmd(
    name: str = typer.Argument(..., help="Hotfix name in the registry, or a hotfix folder."),
    out: Path = opt.out_folder(what="The export (the path given to `vllm serve --lora-modules`)."),
    version: Optional[str] = typer.Option(None, "--version", help="Version (default: the latest)."),
    registry: Path = opt.registry(),
    base_model: Optional[str] = typer.Option(None, "--base-model", help="What `vllm serve` loads (hub id or path)."),
    model_type: Optional[str] = typer.Option(None, "--model-type", help="Base config.json model_type (qwen2, llama, …)."),
    max_lora_rank: Optional[int] = typer.Option(None, "--max-lora-rank", help="The server's --max-lora-rank."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty export folder."),
) -> None:
    """Check a hotfix against vLLM's LoRA rules and write it in the layout `vllm serve --lora-modules` loads."""
    from codehotfix.deploy.vllm import export_vllm

    source = Path(name)
    lora_name = source.name
    if not source.is_dir():
        entry = _store(registry).entry(name, version)
        source, lora_name = entry.path, f"{entry.name}-{entry.version}"
    report = export_vllm(source, out, name=lora_name, base_model=base_model, model_type=model_type,
                         max_lora_rank=max_lora_rank, force=force)
    _print({"out": str(out), "warnings": report["warnings"], "max_lora_rank": report["max_lora_rank"],
            "command": report["command"]})


@hotfix_app.command("compact")
def compact_cmd(
    registry: Path = opt.registry(),
    model: Optional[str] = opt.model(),
    drop: Optional[str] = typer.Option(None, "--drop", help="Rebuild without this constituent (its rollback)."),
    combination: str = typer.Option("cat", "--combination", help="cat (exact sum, rank Σr) or svd (lower rank)."),
    locality: int = typer.Option(16, "--locality", help="Locality prompts of the side-effect gate (0: no gate)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Build and verify only; store and switch nothing."),
    dtype: str = typer.Option("auto", help="Model dtype."),
    threads: Optional[int] = opt.threads(),
    device: str = opt.device(),
) -> None:
    """Merge the enabled hotfixes into one adapter; switch to it once every constituent's canary and the
    side-effect gate pass (docs/sequence.md). A running server applies it on POST /admin/sync."""
    from codehotfix.deploy.compaction import CompactionConfig, compact
    from codehotfix.models.loading import load_model

    store = _store(registry)
    loaded = load_model(model, dtype=dtype, threads=threads, device=device)
    _print(compact(loaded, store, CompactionConfig(combination=combination, locality_prompts=locality),
                   drop=drop, dry_run=dry_run))
