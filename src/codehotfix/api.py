"""The Python API that the CLI calls: ``train``, ``evaluate``, ``run`` (split → eval → train → eval →
side effects → report, resumable) and ``report``.

Each function validates its inputs before loading a model, writes its results atomically, and
returns the same dict it writes as JSON, so a notebook or a test gets exactly what the CLI prints.
"""

from __future__ import annotations

import json
import logging
import platform
import random
import shutil
import time
import warnings
from dataclasses import asdict, dataclass
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

__all__ = ["train", "evaluate", "run", "load_hotfixed", "train_on_model", "seed_everything", "cases_checksum",
           "library_versions", "machine_info", "MANIFEST", "RunOptions", "RUN_PHASES"]

MANIFEST = "hotfix.json"
logger = logging.getLogger(__name__)


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
                   progress: bool = True, restart: bool = False, tracker: Any = None) -> tuple[Any, dict[str, Any]]:
    """Attaches a fresh adapter to ``loaded.model``, trains it, saves it to ``out_dir`` with its
    manifest and model card, and returns (peft_model, manifest). In a distributed run (``accelerate
    launch``) every process trains and only the main process writes. ``restart`` discards an
    interrupted run's checkpoint in ``out_dir`` instead of resuming it. ``tracker`` (from
    ``codehotfix.tracking.make_tracker``) also receives the per-step curves."""
    from codehotfix.deploy.card import base_model_reference, write_card
    from codehotfix.training.loop import train_adapter

    out_dir = Path(out_dir)
    base_ref = base_model_reference(loaded.model_id)
    logger.info("training on %d cases → %s", len(cases), out_dir)
    seed_everything(cfg.seed)
    t0 = time.time()
    model = build_adapter(loaded.model, cfg.adapter)
    trainable, total = trainable_parameters(model)
    result = train_adapter(model, loaded.tokenizer, cases, cfg, checkpoint_dir=out_dir / ".checkpoint",
                           progress=progress, restart=restart)
    manifest = {
        "format": "codehotfix-hotfix/1",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        # A local model is recorded by absolute path: "tiny" means nothing once the hotfix is copied.
        "base_model": base_ref if Path(base_ref).is_absolute() else loaded.model_id,
        "base_model_ref": base_ref,
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
    # PEFT records the path the base was loaded from, as given ("tiny"); name it as the card does.
    for peft_cfg in (getattr(model, "peft_config", None) or {}).values():
        peft_cfg.base_model_name_or_path = base_ref
    # adapter_config.json + adapter_model.safetensors (PEFT format); a sharded run hands its gathered weights.
    save_trained(model, out_dir, state_dict=result.adapter_state)  # refuses NaN/inf weights
    atomic_write_text(out_dir / "train_log.jsonl", "".join(json.dumps(h) + "\n" for h in result.history))
    write_card(out_dir, manifest)  # replaces PEFT's empty template; `run` rewrites it with the measured numbers
    write_json(out_dir / MANIFEST, manifest)
    if tracker is not None:
        tracker.log_history(result.history)
    shutil.rmtree(out_dir / ".checkpoint", ignore_errors=True)
    return model, manifest


def train(cases: Sequence[HotfixCase] | str | Path, out_dir: str | Path, *, model: str | None = None,
          config: HotfixConfig | str | Path | None = None, overrides: Sequence[str] = (), fmt: str = "auto",
          force: bool = False, progress: bool = True, device: str | None = "auto",
          restart: bool = False, report_to: str = "none", threads: int | None = None) -> dict[str, Any]:
    """Trains a hotfix on ``cases`` and writes it to ``out_dir``; returns the manifest.

    ``device``: "auto" (a GPU if any; under ``accelerate launch`` this process's GPU), "cpu", "cuda:N".
    ``restart``: discard an interrupted run's checkpoint in ``out_dir`` unread instead of resuming it.
    ``report_to``: "none" or "tensorboard" (loss curves in ``out_dir/tensorboard``; needs the ``track`` extra).
    ``threads``: torch CPU threads for this process; None takes ``training.threads`` from the config. Kept
    out of the config so that resuming with other threads still matches the checkpoint.

    Raises:
        CodehotfixError: ``out_dir`` already holds a finished hotfix (pass ``force=True`` to replace it),
            or the cases/config/model are invalid.
    """
    out = check_output(out_dir, "folder", "out_dir")  # fails now, not after loading and training
    cfg = _as_config(config, overrides)
    case_list = _as_cases(cases, fmt)
    if (out / MANIFEST).exists() and not force:
        raise CodehotfixError(f"{out}: already holds a hotfix ({MANIFEST}); choose another folder or pass --force")
    from codehotfix.tracking import make_tracker
    from codehotfix.training.distributed import launch_device

    tracker = make_tracker(report_to, out / "tensorboard")  # a missing extra fails before the model loads
    if device in (None, "auto"):
        device = launch_device() or "auto"
    loaded = load_model(model, dtype=cfg.training.dtype, threads=threads or cfg.training.threads, device=device)
    try:
        _, manifest = train_on_model(loaded, case_list, cfg, out, progress=progress, restart=restart,
                                     tracker=tracker)
    finally:
        if tracker is not None:
            tracker.close()
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


# ---------------------------------------------------------------- run: the whole pipeline in one folder

RUN_LEDGER = "run.json"
# Each phase and the file (or folder) it leaves in the run folder: the names report/collect.py reads.
RUN_PHASES = {"split": "split.json", "base_eval": "base_eval.json", "humaneval_base": "humaneval_base.json",
              "train": "hotfix", "hotfix_eval": "hotfix_eval.json", "humaneval_hotfix": "humaneval_hotfix.json",
              "locality": "locality.json", "perplexity": "perplexity.json"}
# Rebuilt from the phases' outputs; --restart removes them too, so nothing of the old run survives.
_RUN_DERIVED = ("report.html", "report.md", "report.json", "tensorboard")


@dataclass
class RunOptions:
    """What ``run`` does beyond the hotfix config (each field is a ``codehotfix run`` flag).

    Attributes:
        test_fraction: share of cases held out for the before/after evaluation.
        split_by: what must not straddle the split (``group``, ``source.repo`` …; see ``split_cases``).
        split_mode: ``grouped`` (held-out groups unseen in training), ``within`` or ``random``.
        humaneval: HumanEval problems to run base and hotfixed (0: skip); needs ``allow_exec``.
        allow_exec: permit running generated code (HumanEval) in the sandbox.
        locality: measure unrelated-prompt locality (built-in prompts).
        perplexity: measure held-out-code perplexity (built-in corpus).
        side_effect_limit: only the first N locality prompts / perplexity texts (None: all).
        report: write report.html/.md/.json and fill the hotfix's model card in.
        report_to: "none" or "tensorboard" (run_dir/tensorboard; the ``track`` extra).
    """

    test_fraction: float = 0.25
    split_by: str = "group"
    split_mode: str = "grouped"
    humaneval: int = 0
    allow_exec: bool = False
    locality: bool = False
    perplexity: bool = False
    side_effect_limit: int | None = None
    report: bool = True
    report_to: str = "none"

    def __post_init__(self) -> None:
        from codehotfix.errors import ConfigError

        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"test_fraction must be between 0 and 1, got {self.test_fraction}")
        if self.humaneval < 0:
            raise ConfigError(f"humaneval must be >= 0 problems, got {self.humaneval}")
        if self.humaneval and not self.allow_exec:
            raise ConfigError("--humaneval runs model-generated code: pass --allow-exec to permit it (in the sandbox)")


def _fingerprint(obj: Any) -> str:
    return sha256_text(json.dumps(obj, sort_keys=True, default=str))


class _Ledger:
    """run.json: the run's fingerprint and, per finished phase, the fingerprint it ran under.

    A phase counts as done only when its output exists *and* the ledger records it under the same
    fingerprint; its output is written (atomically) before the ledger entry, so an interrupted phase
    is redone, never half-reused.
    """

    def __init__(self, out: Path, fingerprint: str, settings: dict[str, Any], restart: bool) -> None:
        self.path, self.out = out / RUN_LEDGER, out
        present = [name for name in RUN_PHASES.values() if (out / name).exists()]
        if restart:
            for name in present + [d for d in _RUN_DERIVED if (out / d).exists()]:
                shutil.rmtree(out / name) if (out / name).is_dir() else (out / name).unlink()
            self.path.unlink(missing_ok=True)
        elif not self.path.exists() and present:
            raise CodehotfixError(f"{out} holds {', '.join(present)} not written by `codehotfix run`; pass --restart "
                                  "to replace them or choose a new --out")
        self.data = read_json(self.path) if self.path.exists() else {"fingerprint": fingerprint, "phases": {}}
        if self.data["fingerprint"] != fingerprint:
            raise CodehotfixError(f"{out} holds a run with other cases, model or config (run.json fingerprint "
                                  f"{self.data['fingerprint'][:12]}… ≠ {fingerprint[:12]}…); pass --restart to redo "
                                  "it or choose a new --out")
        self.data["settings"] = settings
        write_json(self.path, self.data)

    def done(self, phase: str, fp: str) -> bool:
        entry = self.data["phases"].get(phase)
        if not (self.out / RUN_PHASES[phase]).exists() or entry is None:
            return False
        if entry["fingerprint"] != fp:
            raise CodehotfixError(f"{self.out / RUN_PHASES[phase]} was made with other settings than this run's "
                                  f"(phase {phase!r}); pass --restart to redo the run or choose a new --out")
        return True

    def record(self, phase: str, fp: str, seconds: float) -> None:
        self.data["phases"][phase] = {"fingerprint": fp, "seconds": seconds, "file": RUN_PHASES[phase]}
        write_json(self.path, self.data)


class _RunState:
    """The run's inputs and its one model, loaded on first need (a finished run reloads nothing)."""

    def __init__(self, out: Path, cfg: HotfixConfig, split: Any, model: str | None, device: str | None,
                 progress: bool, tracker: Any, threads: int | None = None) -> None:
        self.out, self.cfg, self.split, self.model_spec, self.device = out, cfg, split, model, device
        self.threads = threads
        self.progress, self.tracker, self._loaded = progress, tracker, None

    @property
    def hotfix_dir(self) -> Path:
        return self.out / RUN_PHASES["train"]

    def loaded(self, hotfixed: bool = False) -> LoadedModel:
        """The model, with the run's adapter attached when ``hotfixed`` (it stays attached afterwards;
        base measurements switch it off with ``base_view``)."""
        if self._loaded is None:
            tc = self.cfg.training
            self._loaded = load_model(self.model_spec, dtype=tc.dtype, threads=self.threads or tc.threads,
                                      device=self.device)
        if hotfixed and not hasattr(self._loaded.model, "peft_config"):
            from codehotfix.models.adapters import load_trained

            self._loaded.model = load_trained(self._loaded.model, self.hotfix_dir).to(self._loaded.device)
            self._loaded.model.eval()
        return self._loaded

    def base_view(self) -> Any:
        """A context in which the model answers as the base (adapter off, if one is attached)."""
        from codehotfix.evaluation.locality import base_model

        return base_model(self.loaded().model)

    def stamp(self, result: dict[str, Any], adapter: Path | None) -> dict[str, Any]:
        loaded = self.loaded()
        return {**result, "model": loaded.model_id, "model_checksum": loaded.checksum,
                "adapter": str(adapter) if adapter else None, "versions": library_versions()}


def _phase_split(st: _RunState) -> dict[str, float]:
    write_json(st.out / RUN_PHASES["split"], {"seed": st.cfg.seed, "train": [c.id for c in st.split.train],
                                              "test": [c.id for c in st.split.test], "summary": st.split.summary})
    return {}


def _phase_eval(st: _RunState, hotfixed: bool) -> dict[str, float]:
    name = "hotfix_eval" if hotfixed else "base_eval"
    loaded = st.loaded(hotfixed)
    if hotfixed:
        result = evaluate(st.split.test, loaded=loaded, eval_config=st.cfg.eval, adapter=st.hotfix_dir,
                          progress=st.progress)
    else:
        with st.base_view():
            result = evaluate(st.split.test, loaded=loaded, eval_config=st.cfg.eval, progress=st.progress)
    write_json(st.out / RUN_PHASES[name], result)
    s = result["summary"]
    return {f"{m}/{k}": s[m][k] for m in ("greedy", "sampled") for k in ("fixed_rate", "buggy_rate")}


def _phase_train(st: _RunState) -> dict[str, float]:
    loaded = st.loaded()
    model, _ = train_on_model(loaded, st.split.train, st.cfg, st.hotfix_dir, progress=st.progress,
                              tracker=st.tracker)
    loaded.model = model
    return {}


def _phase_humaneval(st: _RunState, problems: int, hotfixed: bool) -> dict[str, float]:
    from codehotfix.evaluation.generation import make_generator
    from codehotfix.evaluation.humaneval import HumanEvalConfig, run_humaneval
    from codehotfix.files import sha256_file

    # The CLI's defaults (greedy, 384 tokens): the numbers match `codehotfix humaneval --limit N`.
    cfg = HumanEvalConfig(limit=problems, max_new_tokens=384, batch_size=8, seed=st.cfg.seed, allow_exec=True)
    loaded = st.loaded(hotfixed)
    adapter = st.hotfix_dir if hotfixed else None
    adapter_sum = sha256_file(adapter / "adapter_model.safetensors") if adapter else None
    generate = make_generator(loaded.model, loaded.tokenizer, batch_size=cfg.batch_size)
    if hotfixed:
        result = run_humaneval(generate, cfg, model_checksum=loaded.checksum, adapter_checksum=adapter_sum)
    else:
        with st.base_view():
            result = run_humaneval(generate, cfg, model_checksum=loaded.checksum, adapter_checksum=None)
    name = "humaneval_hotfix" if hotfixed else "humaneval_base"
    write_json(st.out / RUN_PHASES[name], {k: v for k, v in st.stamp(result.to_dict(), adapter).items()
                                           if k != "versions"})
    return {k: v for k, v in result.pass_at_k.items() if v is not None}


def _phase_side_effect(st: _RunState, kind: str, limit: int | None) -> dict[str, float]:
    loaded = st.loaded(hotfixed=True)  # locality and perplexity switch the adapter off for the base side
    if kind == "locality":
        from codehotfix.evaluation.locality import load_prompts, run_locality

        result = run_locality(loaded.model, loaded.tokenizer, load_prompts(None, limit=limit), progress=st.progress)
        result["prompts_source"] = "builtin:locality"
        scalars = {"unchanged_fraction": result["unchanged_fraction"], "mean_kl": result["mean_kl"]}
    else:
        from codehotfix.evaluation.perplexity import load_corpus, run_perplexity

        name, texts = load_corpus(None, limit=limit)
        result = run_perplexity(loaded.model, loaded.tokenizer, texts, corpus=name, seed=st.cfg.seed,
                                progress=st.progress)
        scalars = {"base": result["base"], "hotfixed": result["hotfixed"]}
    write_json(st.out / RUN_PHASES[kind], st.stamp(result, st.hotfix_dir))
    return scalars


def _run_phases(st: _RunState, opts: RunOptions) -> list[tuple[str, Any, Any]]:
    """(phase, settings that change its output beyond the run's fingerprint, function) in run order."""
    lim = opts.side_effect_limit
    phases = [("split", None, lambda: _phase_split(st)), ("base_eval", None, lambda: _phase_eval(st, False))]
    if opts.humaneval:
        phases.append(("humaneval_base", opts.humaneval, lambda: _phase_humaneval(st, opts.humaneval, False)))
    phases += [("train", None, lambda: _phase_train(st)), ("hotfix_eval", None, lambda: _phase_eval(st, True))]
    if opts.humaneval:
        phases.append(("humaneval_hotfix", opts.humaneval, lambda: _phase_humaneval(st, opts.humaneval, True)))
    if opts.locality:
        phases.append(("locality", lim, lambda: _phase_side_effect(st, "locality", lim)))
    if opts.perplexity:
        phases.append(("perplexity", lim, lambda: _phase_side_effect(st, "perplexity", lim)))
    return phases


def run(cases: Sequence[HotfixCase] | str | Path, out_dir: str | Path, *, model: str | None = None,
        config: HotfixConfig | str | Path | None = None, overrides: Sequence[str] = (), fmt: str = "auto",
        options: RunOptions | None = None, restart: bool = False, progress: bool = True,
        device: str | None = "auto", threads: int | None = None) -> dict[str, Any]:
    """Split → base eval → train → eval → side effects → report.html, in one resumable run folder.

    Files (the names ``codehotfix report`` reads): split.json, base_eval.json, [humaneval_base.json],
    hotfix/ (adapter, hotfix.json, train_log.jsonl, README.md model card), hotfix_eval.json,
    [humaneval_hotfix.json], [locality.json], [perplexity.json], report.{html,md,json}, and run.json
    (the ledger). A rerun skips every phase whose output exists and was made under the same
    fingerprint (cases, model, config, split and that phase's settings), so an interrupted run
    resumes and adding ``--locality`` later runs only that; the report and card are always rebuilt.

    Returns:
        {"run_dir", "phases": {phase: "ran" | "reused"}, "hotfix", "report", "headlines", "seconds"}.

    Raises:
        CodehotfixError: ``out_dir`` holds another run (or files ``run`` did not write): pass
            ``restart=True`` or choose another folder; or a bad option, case file or config.
    """
    from codehotfix.data.split import split_cases
    from codehotfix.deploy.card import base_model_reference, write_card
    from codehotfix.extras import require_extra
    from codehotfix.tracking import make_tracker

    cfg, opts, case_list = _as_config(config, overrides), options or RunOptions(), _as_cases(cases, fmt)
    if opts.report:
        require_extra("report", "the run's report.html (or pass --no-report)")
    try:
        split = split_cases(case_list, test_fraction=opts.test_fraction, seed=cfg.seed, by=opts.split_by,
                            mode=opts.split_mode)
    except ValueError as e:
        raise DataError(f"cannot split the cases: {e}") from None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    core = {"cases": cases_checksum(case_list), "model": base_model_reference(model), "config": asdict(cfg),
            "split": [opts.test_fraction, opts.split_by, opts.split_mode]}
    ledger = _Ledger(out, _fingerprint(core), {**asdict(opts), "model": model, "cases": str(cases)
                                               if isinstance(cases, (str, Path)) else None}, restart)
    tracker = make_tracker(opts.report_to, out / "tensorboard")
    st = _RunState(out, cfg, split, model, device, progress, tracker, threads=threads)
    t_all, status = time.time(), {}
    try:
        for name, extra, fn in _run_phases(st, opts):
            fp = _fingerprint([core, name, extra])
            if ledger.done(name, fp):
                logger.info("%s: reusing %s", name, out / RUN_PHASES[name])
                status[name] = "reused"
                continue
            logger.info("%s …", name)
            t0 = time.time()
            scalars = fn()
            ledger.record(name, fp, round(time.time() - t0, 2))
            status[name] = "ran"
            if tracker is not None and scalars:
                tracker.log_scalars(f"eval/{name}", scalars)
    finally:
        if tracker is not None:
            tracker.close()
    result = {"run_dir": str(out), "phases": status, "hotfix": str(st.hotfix_dir), "report": None, "headlines": []}
    if opts.report:
        paths = report(out)
        numbers = read_json(paths.json)
        write_card(st.hotfix_dir, read_json(st.hotfix_dir / MANIFEST), numbers)
        result.update(report=str(paths.html), headlines=numbers.get("headlines", []))
    result["seconds"] = round(time.time() - t_all, 2)
    return result
