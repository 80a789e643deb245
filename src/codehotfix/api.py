"""The Python API that the CLI calls: ``train``, ``evaluate`` and ``demo``.

Each function validates its inputs before loading a model, writes its results atomically, and
returns the same dict it writes as JSON, so a notebook or a test gets exactly what the CLI prints.
"""

from __future__ import annotations

import json
import platform
import random
import shutil
import time
import warnings
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from codehotfix.config import EvalConfig, HotfixConfig, load_config
from codehotfix.data.cases import HotfixCase
from codehotfix.data.loaders import load_cases
from codehotfix.errors import CodehotfixError, ConfigError, DataError
from codehotfix.files import atomic_write_text, check_output, read_json, sha256_text, write_json
from codehotfix.models.adapters import build_adapter, save_trained, trainable_parameters
from codehotfix.models.loading import LoadedModel, load_model

__all__ = ["train", "evaluate", "load_hotfixed", "train_on_model", "seed_everything", "cases_checksum",
           "library_versions", "machine_info", "MANIFEST"]

MANIFEST = "hotfix.json"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cases_checksum(cases: Sequence[HotfixCase]) -> str:
    return sha256_text(json.dumps([c.to_dict() for c in cases], sort_keys=True))


# CPU features that decide how fast (and through which kernels) bf16 runs on a CPU: without
# avx512_bf16/amx_bf16 torch emulates bf16 matmuls in fp32, so timings and even greedy ties can differ.
_CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def machine_info(model: Any = None, cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, Any]:
    """What the numbers were computed on: CPU model and its bf16/AMX flags (from ``cpuinfo``; all false
    where the file is absent, e.g. macOS), torch's thread count and default dtype, and the dtype of
    ``model``'s weights."""
    flags: set[str] = set()
    cpu = platform.processor() or None
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "flags" and not flags:
                flags = set(value.split())
            elif key.strip() == "model name" and value.strip():
                cpu = value.strip()
    except OSError:
        pass
    dtype = None
    if model is not None:
        dtype = str(next((p.dtype for p in model.parameters()), getattr(model, "dtype", None)))
    return {"cpu": cpu, "machine": platform.machine(), "cpu_flags": {f: f in flags for f in _CPU_FLAGS},
            "torch_threads": torch.get_num_threads(), "torch_default_dtype": str(torch.get_default_dtype()),
            "model_dtype": dtype,
            "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def library_versions() -> dict[str, str]:
    import peft
    import transformers

    from importlib.metadata import PackageNotFoundError, version

    try:
        own = version("codehotfix")
    except PackageNotFoundError:
        own = "unknown"
    return {"codehotfix": own, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__}


def _as_config(config: HotfixConfig | str | Path | None, overrides: Sequence[str]) -> HotfixConfig:
    if isinstance(config, HotfixConfig):
        return load_config(None, overrides, base=config) if overrides else config
    return load_config(config, overrides)


def _as_cases(cases: Sequence[HotfixCase] | str | Path, fmt: str) -> list[HotfixCase]:
    if isinstance(cases, (str, Path)):
        return load_cases(cases, fmt)
    cases = list(cases)
    if not cases:
        raise DataError("no cases given")
    return cases


def train_on_model(loaded: LoadedModel, cases: Sequence[HotfixCase], cfg: HotfixConfig, out_dir: str | Path, *,
                   progress: bool = True, restart: bool = False) -> tuple[Any, dict[str, Any]]:
    """Attaches a fresh adapter to ``loaded.model``, trains it, saves it to ``out_dir`` with its
    manifest, and returns (peft_model, manifest). In a distributed run (``accelerate launch``) every
    process trains and only the main process writes. ``restart`` discards an interrupted run's
    checkpoint in ``out_dir`` instead of resuming it."""
    from codehotfix.training.loop import train_adapter

    out_dir = Path(out_dir)
    seed_everything(cfg.seed)
    t0 = time.time()
    model = build_adapter(loaded.model, cfg.adapter)
    trainable, total = trainable_parameters(model)
    result = train_adapter(model, loaded.tokenizer, cases, cfg, checkpoint_dir=out_dir / ".checkpoint",
                           progress=progress, restart=restart)
    manifest = {
        "format": "codehotfix-hotfix/1",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "base_model": loaded.model_id,
        "base_model_checksum": loaded.checksum,
        "cases": len(cases),
        "cases_checksum": cases_checksum(cases),
        "case_ids": [c.id for c in cases],
        "seed": cfg.seed,
        "config": asdict(cfg),
        "trainable_parameters": trainable,
        "total_parameters": total,
        "train_seconds": result.seconds,
        "wall_seconds": round(time.time() - t0, 2),
        "steps": result.steps,
        "tokens": result.tokens,
        "resumed_from_epoch": result.resumed_from_epoch,
        "final_losses": result.final_metrics,
        "device": loaded.device,
        "processes": result.processes,
        "accelerate": result.accelerate,
        "versions": library_versions(),
        "machine": machine_info(model),
    }
    if not result.is_main_process:
        return model, manifest
    # adapter_config.json + adapter_model.safetensors (PEFT format); a sharded run hands its gathered weights.
    save_trained(model, out_dir, state_dict=result.adapter_state)  # refuses NaN/inf weights
    atomic_write_text(out_dir / "train_log.jsonl", "".join(json.dumps(h) + "\n" for h in result.history))
    write_json(out_dir / MANIFEST, manifest)
    shutil.rmtree(out_dir / ".checkpoint", ignore_errors=True)
    return model, manifest


def train(cases: Sequence[HotfixCase] | str | Path, out_dir: str | Path, *, model: str | None = None,
          config: HotfixConfig | str | Path | None = None, overrides: Sequence[str] = (), fmt: str = "auto",
          force: bool = False, progress: bool = True, device: str | None = "auto",
          restart: bool = False) -> dict[str, Any]:
    """Trains a hotfix on ``cases`` and writes it to ``out_dir``; returns the manifest.

    ``device``: "auto" (a GPU if any; under ``accelerate launch`` this process's GPU), "cpu", "cuda:N".
    ``restart``: discard an interrupted run's checkpoint in ``out_dir`` unread instead of resuming it.

    Raises:
        CodehotfixError: ``out_dir`` already holds a finished hotfix (pass ``force=True`` to replace it),
            or the cases/config/model are invalid.
    """
    out = check_output(out_dir, "folder", "out_dir")  # fails now, not after loading and training
    cfg = _as_config(config, overrides)
    case_list = _as_cases(cases, fmt)
    if (out / MANIFEST).exists() and not force:
        raise CodehotfixError(f"{out}: already holds a hotfix ({MANIFEST}); choose another folder or pass --force")
    from codehotfix.training.distributed import launch_device

    if device in (None, "auto"):
        device = launch_device() or "auto"
    loaded = load_model(model, dtype=cfg.training.dtype, threads=cfg.training.threads, device=device)
    _, manifest = train_on_model(loaded, case_list, cfg, out, progress=progress, restart=restart)
    return manifest


def load_hotfixed(model: str | None = None, adapter: str | Path | None = None, *, dtype: str = "auto",
                  threads: int | None = None, device: str | None = "auto") -> LoadedModel:
    """Loads the base model on ``device`` and, if given, a hotfix adapter on top of it (warns on a
    base mismatch)."""
    if adapter is not None:  # checked before the model loads, not after
        adapter = Path(adapter)
        if not (adapter / "adapter_config.json").exists() and not any(adapter.glob("model*.safetensors")):
            raise CodehotfixError(f"{adapter}: not a hotfix folder (no adapter_config.json or model.safetensors)")
    loaded = load_model(model, dtype=dtype, threads=threads, device=device)
    if adapter is None:
        return loaded
    from codehotfix.models.adapters import load_trained

    manifest_path = adapter / MANIFEST
    if manifest_path.exists():
        trained_on = read_json(manifest_path).get("base_model_checksum")
        if trained_on and trained_on != loaded.checksum:
            warnings.warn(f"{adapter} was trained on base weights {trained_on[:12]}…, not on the loaded "
                          f"model {loaded.checksum[:12]}…; its effect may not carry over", stacklevel=2)
    loaded.model = load_trained(loaded.model, adapter).to(loaded.device)  # adapter weights next to the base
    loaded.model.eval()
    return loaded


def evaluate(cases: Sequence[HotfixCase] | str | Path, *, model: str | None = None,
             adapter: str | Path | None = None, eval_config: EvalConfig | None = None, fmt: str = "auto",
             limit: int | None = None, json_out: str | Path | None = None, loaded: LoadedModel | None = None,
             progress: bool = True, threads: int | None = None, dtype: str = "auto", device: str | None = "auto",
             online: Any = None, online_template: str = "hint", guard: Any = None, match: Any = None,
             prompt_transform: Any = None, logits_processor_factory: Any = None) -> dict[str, Any]:
    """Measures fixed/buggy rates and margins of a model (optionally with a hotfix) on ``cases``.

    A hotfix is any mix of: a trained ``adapter``; an ``online`` prompt hotfix (fix cases — a path or
    a list — or a ``PromptHotfix``) with its ``online_template``; a decoding ``guard`` (fix cases or
    a ``BuggyLineGuard``). ``match`` (a ``MatchConfig``) sets the matching rule of both online kinds.
    ``prompt_transform`` / ``logits_processor_factory`` plug in custom ones (see ``evaluate_cases``).
    The result records what was evaluated as ``hotfix``: ``{"kind": "trained" | "online" | "guard" |
    "none" (or e.g. "trained+guard"), "parts": [one dict per part]}``, and per case whether the
    online hotfix changed its prompt (``prompt_changed``) and whether the guard watched it
    (``guard_matched``).

    ``device`` places the model ("auto", "cpu", "cuda:N"); ``eval_config.backend`` picks the generation
    backend ("hf", or "vllm" on a CUDA machine with vLLM installed; see docs/scale-out.md).

    Returns the result dict (also written to ``json_out`` if given).
    """
    from codehotfix.evaluation.backends import build_backend, require_backend
    from codehotfix.evaluation.rates import evaluate_cases
    from codehotfix.online import BuggyLineGuard, GuardConfig, MatchConfig, PromptHotfix, PromptHotfixConfig

    # Everything that can be wrong with the inputs fails here, before a model loads.
    if json_out is not None:
        check_output(json_out, "file", "json_out")
    if limit is not None and (isinstance(limit, bool) or limit < 1):
        # A negative limit would slice from the end (-1 kept 3 of 4 cases) and 0 would keep none.
        raise ConfigError(f"limit must be >= 1 (or None for every case), got {limit}")
    case_list = _as_cases(cases, fmt)
    if limit is not None:
        case_list = case_list[:limit]
    cfg = eval_config or EvalConfig()
    require_backend(cfg.backend)
    match = match or MatchConfig()
    prompt_hotfix = online if isinstance(online, PromptHotfix) or online is None else PromptHotfix(
        _as_cases(online, "auto"), PromptHotfixConfig(template=online_template, match=match))
    guard_cases = None if guard is None or isinstance(guard, BuggyLineGuard) else _as_cases(guard, "auto")
    if loaded is None:
        loaded = load_hotfixed(model, adapter, dtype=dtype, threads=threads, device=device)
    guard_proc = guard if isinstance(guard, BuggyLineGuard) or guard is None else BuggyLineGuard(
        loaded.tokenizer, guard_cases, GuardConfig(match=match))

    transform = prompt_transform
    if prompt_hotfix is not None:
        transform = prompt_hotfix.apply if prompt_transform is None else (
            lambda p: prompt_transform(prompt_hotfix.apply(p)))

    def factory(prompts: Sequence[str]) -> Any:
        procs = [guard_proc] if guard_proc is not None and guard_proc.matches_any(prompts) else []
        extra = logits_processor_factory(prompts) if logits_processor_factory is not None else None
        procs += list(extra) if isinstance(extra, (list, tuple)) else [extra] if extra is not None else []
        return procs or None

    use_factory = guard_proc is not None or logits_processor_factory is not None
    backend = build_backend(cfg.backend, loaded, adapter)
    result = evaluate_cases(loaded.model, loaded.tokenizer, case_list, cfg, progress=progress,
                            prompt_transform=transform, logits_processor_factory=factory if use_factory else None,
                            backend=backend)
    parts: list[dict[str, Any]] = []
    if adapter:
        parts.append({"kind": "trained", "adapter": str(adapter)})
    for kind, part, source in (("online", prompt_hotfix, online), ("guard", guard_proc, guard)):
        if part is None:
            continue
        info = {**part.info(), "source": str(source) if isinstance(source, (str, Path)) else None,
                "cases_checksum": cases_checksum(part.cases)}
        if kind == "online":
            info["prompts_changed"] = sum(r["prompt_changed"] for r in result["cases"])
        else:
            for rec, case in zip(result["cases"], case_list):
                rec["guard_matched"] = bool(guard_proc.matching_cases(transform(case.prefix) if transform
                                                                      else case.prefix))
            info["prompts_matched"] = sum(r["guard_matched"] for r in result["cases"])
        parts.append(info)
    if prompt_transform is not None or logits_processor_factory is not None:
        parts.append({"kind": "custom"})
    hotfix = {"kind": "+".join(p["kind"] for p in parts) or "none", "parts": parts}
    result = {"model": loaded.model_id, "model_checksum": loaded.checksum, "device": loaded.device,
              "adapter": str(adapter) if adapter else None, "hotfix": hotfix, "versions": library_versions(),
              "machine": machine_info(loaded.model), **result}
    if json_out:
        write_json(json_out, result)
    return result


def report(run_dir: str | Path, out: str | Path | None = None, *, force: bool = False):
    """Writes report.html/.md/.json for a run folder (see docs/report.md)."""
    from codehotfix.report import build_report

    return build_report(run_dir, out, force=force)
