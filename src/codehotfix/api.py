"""The Python API that the CLI calls, and the only orchestrator: ``train``, ``evaluate``, ``run``
(split → eval → train → eval → side effects → report, resumable), ``report``, one function per
evaluation task (``humaneval``, ``side_effect`` for locality / perplexity / variants / execfix,
``run_task`` for any registered task) and ``leak``.

Only this module loads a model with its adapter (``load_hotfixed``), seeds, stamps results with the
model and library versions, and writes them. Each function validates its inputs before loading a
model, writes its results atomically, and returns what it writes, so a notebook or a test gets
exactly what the CLI prints.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from codehotfix.config import EvalConfig, HotfixConfig, fingerprint_view, load_config
from codehotfix.data.cases import HotfixCase
from codehotfix.data.loaders import load_cases
from codehotfix.errors import CodehotfixError, ConfigError, DataError
from codehotfix.files import atomic_write_text, check_output, read_json, sha256_text, write_json
from codehotfix.models.adapters import build_adapter, save_trained, trainable_parameters
from codehotfix.models.loading import LoadedModel, derived_folder, load_model
from codehotfix.models.provenance import cases_checksum, library_versions, machine_info, seed_everything

if TYPE_CHECKING:
    from codehotfix.evaluation.tasks import TaskResult
    from codehotfix.online import BuggyLineGuard, MatchConfig, PromptHotfix
    from codehotfix.privacy.leak import LeakRun
    from codehotfix.report import ReportPaths
    from codehotfix.tracking import TensorBoardTracker

__all__ = ["train", "evaluate", "run", "report", "load_hotfixed", "train_on_model", "run_task", "humaneval",
           "side_effect", "leak", "EvalOptions", "EvalHotfix", "seed_everything", "cases_checksum",
           "library_versions", "machine_info", "MANIFEST", "RunOptions", "RUN_PHASES"]

MANIFEST = "hotfix.json"
logger = logging.getLogger(__name__)


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


def _manifest(loaded: LoadedModel, cases: Sequence[HotfixCase], cfg: HotfixConfig, model: Any, result: Any,
              base_ref: str, t0: float) -> dict[str, Any]:
    """hotfix.json: what was trained on what, with which settings, and how long it took."""
    trainable, total = trainable_parameters(model)
    return {
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
        "left_out": result.left_out,  # cases with a line too long to train on (scoring.encoding.LINE_TOKEN_LIMIT)
        # cases whose kl_context reference came from base states handed over (the demo's selection pass)
        "reference_from_states": result.reference_from_states,
        # kl_corpus reference: snippets read from the model's store (earlier runs) or computed in this one
        "retain_reference": result.retain_reference,
        "final_losses": result.final_metrics,
        "device": loaded.device,
        "processes": result.processes,
        "accelerate": result.accelerate,
        "versions": library_versions(),
        "machine": machine_info(model),
    }


def train_on_model(loaded: LoadedModel, cases: Sequence[HotfixCase], cfg: HotfixConfig, out_dir: str | Path, *,
                   progress: bool = True, restart: bool = False,
                   tracker: TensorBoardTracker | None = None,
                   reference_states: Mapping[str, Any] | None = None,
                   reuse_reference: bool = True) -> tuple[Any, dict[str, Any]]:
    """Attaches a fresh adapter to ``loaded.model``, trains it, saves it to ``out_dir`` with its
    manifest and model card, and returns (peft_model, manifest). In a distributed run (``accelerate
    launch``) every process trains and only the main process writes. ``restart`` discards an
    interrupted run's checkpoint in ``out_dir`` instead of resuming it. ``tracker`` (from
    ``codehotfix.tracking.make_tracker``) also receives the per-step curves. ``reference_states``:
    the base model's context states of the cases (``scoring.line_logprobs_with_states``), so the
    kl_context reference needs no pass of its own (``training.loop.train_adapter``). ``reuse_reference``:
    keep kl_corpus's base-model reference in the model's cache folder and read what earlier runs kept
    there (``models.loading.derived_folder``); benchmarks that compare training times turn it off."""
    from codehotfix.deploy.card import base_model_reference, write_card
    from codehotfix.training.loop import train_adapter

    out_dir = Path(out_dir)
    base_ref = base_model_reference(loaded.model_id)
    logger.info("training on %d cases → %s", len(cases), out_dir)
    seed_everything(cfg.seed)
    t0 = time.time()
    model = build_adapter(loaded.model, cfg.adapter)
    result = train_adapter(model, loaded.tokenizer, cases, cfg, checkpoint_dir=out_dir / ".checkpoint",
                           progress=progress, restart=restart, reference_states=reference_states,
                           retain_store=derived_folder(loaded) if reuse_reference else None)
    manifest = _manifest(loaded, cases, cfg, model, result, base_ref, t0)
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




# ---------------------------------------------------------------- evaluate: fixed/buggy rates of cases

LogitsProcessorFactory = Callable[[Sequence[str]], Any]


@dataclass
class EvalOptions:
    """How ``evaluate`` reads the cases and where it runs (the generation settings are ``EvalConfig``).

    Attributes:
        fmt: the cases file's format ("auto" guesses).
        limit: only the first N cases (None: every case).
        json_out: also write the result here.
        progress: show progress bars.
        threads, dtype, device: how the model loads ("auto", "cpu", "cuda:N").
    """

    fmt: str = "auto"
    limit: int | None = None
    json_out: str | Path | None = None
    progress: bool = True
    threads: int | None = None
    dtype: str = "auto"
    device: str | None = "auto"

    def __post_init__(self) -> None:
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            # A negative limit would slice from the end (-1 kept 3 of 4 cases) and 0 would keep none.
            raise ConfigError(f"limit must be >= 1 (or None for every case), got {self.limit}")


@dataclass
class EvalHotfix:
    """The hotfixes that need no training, evaluated on top of the model (and its adapter, if any).

    Attributes:
        online: a prompt hotfix (``codehotfix.online.PromptHotfix``), and the file it came from.
        guard_cases: fix cases for a decoding guard (built on the loaded tokenizer), or a built
            ``guard``; ``guard_source`` the file they came from. ``match`` sets the guard's matching.
        prompt_transform / logits_processor_factory: custom ones (see ``evaluate_cases``).
    """

    online: PromptHotfix | None = None
    online_source: str | None = None
    guard: BuggyLineGuard | None = None
    guard_cases: list[HotfixCase] | None = None
    guard_source: str | None = None
    match: MatchConfig | None = None
    prompt_transform: Callable[[str], str] | None = None
    logits_processor_factory: LogitsProcessorFactory | None = None

    @classmethod
    def from_sources(cls, *, online: PromptHotfix | Sequence[HotfixCase] | str | Path | None = None,
                     online_template: str = "hint", guard: BuggyLineGuard | Sequence[HotfixCase] | str | Path | None
                     = None, match: MatchConfig | None = None, prompt_transform: Callable[[str], str] | None = None,
                     logits_processor_factory: LogitsProcessorFactory | None = None) -> EvalHotfix:
        """The one place a hotfix given as a file, a case list or a built object is normalised."""
        from codehotfix.online import BuggyLineGuard, MatchConfig, PromptHotfix, PromptHotfixConfig

        match = match or MatchConfig()
        hotfix = cls(match=match, prompt_transform=prompt_transform, logits_processor_factory=logits_processor_factory)
        if isinstance(online, PromptHotfix):
            hotfix.online = online
        elif online is not None:
            hotfix.online = PromptHotfix(_as_cases(online, "auto"), PromptHotfixConfig(template=online_template,
                                                                                        match=match))
            hotfix.online_source = str(online) if isinstance(online, (str, Path)) else None
        if isinstance(guard, BuggyLineGuard):
            hotfix.guard = guard
        elif guard is not None:
            hotfix.guard_cases = _as_cases(guard, "auto")
            hotfix.guard_source = str(guard) if isinstance(guard, (str, Path)) else None
        return hotfix

    def transform(self) -> Callable[[str], str] | None:
        """The prompt rewrite: the online hotfix's, then the custom one."""
        online, custom = self.online, self.prompt_transform
        if online is None:
            return custom
        return online.apply if custom is None else (lambda p: custom(online.apply(p)))

    def factory(self, guard: BuggyLineGuard | None) -> LogitsProcessorFactory | None:
        """Per generation batch, the guard (where it matches a prompt) plus the custom processors."""
        custom = self.logits_processor_factory
        if guard is None and custom is None:
            return None

        def factory(prompts: Sequence[str]) -> Any:
            procs = [guard] if guard is not None and guard.matches_any(prompts) else []
            extra = custom(prompts) if custom is not None else None
            procs += list(extra) if isinstance(extra, (list, tuple)) else [extra] if extra is not None else []
            return procs or None

        return factory


_EVAL_OPTION_NAMES = {f.name for f in fields(EvalOptions)}
_EVAL_HOTFIX_NAMES = {"online", "online_template", "guard", "match", "prompt_transform", "logits_processor_factory"}


def _legacy_eval_args(options: EvalOptions | None, hotfix: EvalHotfix | None,
                      legacy: dict[str, object]) -> tuple[EvalOptions, EvalHotfix | None]:
    """Maps ``evaluate``'s former keyword arguments onto ``EvalOptions``/``EvalHotfix`` (with a warning)."""
    unknown = set(legacy) - _EVAL_OPTION_NAMES - _EVAL_HOTFIX_NAMES
    if unknown:
        raise TypeError(f"evaluate() got unexpected keyword arguments {sorted(unknown)}")
    if legacy:
        warnings.warn(f"evaluate({', '.join(f'{k}=' for k in legacy)}): pass options=EvalOptions(...) and "
                      "hotfix=EvalHotfix.from_sources(...) instead", DeprecationWarning, stacklevel=3)
    given = {k: v for k, v in legacy.items() if k in _EVAL_OPTION_NAMES}
    options = replace(options or EvalOptions(), **given) if given else options or EvalOptions()
    parts = {k: v for k, v in legacy.items() if k in _EVAL_HOTFIX_NAMES}
    if parts and any(v is not None for k, v in parts.items() if k != "online_template"):
        hotfix = EvalHotfix.from_sources(**parts)  # type: ignore[arg-type]
    return options, hotfix


def _hotfix_parts(adapter: str | Path | None, hotfix: EvalHotfix | None, guard: BuggyLineGuard | None,
                  result: dict[str, Any], cases: Sequence[HotfixCase]) -> dict[str, Any]:
    """The result's ``hotfix`` record, and per case ``guard_matched``."""
    parts: list[dict[str, Any]] = []
    if adapter:
        parts.append({"kind": "trained", "adapter": str(adapter)})
    if hotfix is not None and hotfix.online is not None:
        parts.append({**hotfix.online.info(), "source": hotfix.online_source,
                      "cases_checksum": cases_checksum(hotfix.online.cases),
                      "prompts_changed": sum(r["prompt_changed"] for r in result["cases"])})
    if guard is not None:
        transform = hotfix.transform() if hotfix is not None else None
        by_id = {c.id: c for c in cases}  # by id: evaluation may leave out cases (result["left_out"])
        for rec in result["cases"]:
            case = by_id[rec["id"]]
            rec["guard_matched"] = bool(guard.matching_cases(transform(case.prefix) if transform else case.prefix))
        parts.append({**guard.info(), "source": hotfix.guard_source if hotfix else None,
                      "cases_checksum": cases_checksum(guard.cases),
                      "prompts_matched": sum(r["guard_matched"] for r in result["cases"])})
    if hotfix is not None and (hotfix.prompt_transform is not None or hotfix.logits_processor_factory is not None):
        parts.append({"kind": "custom"})
    return {"kind": "+".join(p["kind"] for p in parts) or "none", "parts": parts}


def evaluate(cases: Sequence[HotfixCase] | str | Path, *, model: str | None = None,
             adapter: str | Path | None = None, eval_config: EvalConfig | None = None,
             loaded: LoadedModel | None = None, options: EvalOptions | None = None,
             hotfix: EvalHotfix | None = None, **legacy: object) -> dict[str, Any]:
    """Measures fixed/buggy rates and margins of a model (optionally with a hotfix) on ``cases`` (the
    ``rates`` task).

    A hotfix is any mix of: a trained ``adapter``; the no-training parts of ``hotfix`` (an online
    prompt hotfix, a decoding guard, custom transforms; ``EvalHotfix.from_sources`` builds one from
    files or case lists). The result records what was evaluated as ``hotfix``: ``{"kind": "trained" |
    "online" | "guard" | "none" (or e.g. "trained+guard"), "parts": [one dict per part]}``, and per
    case whether the online hotfix changed its prompt (``prompt_changed``) and whether the guard
    watched it (``guard_matched``). ``eval_config.backend`` picks the generation backend ("hf", or
    "vllm" on a CUDA machine with vLLM installed; see docs/scale-out.md). The former keyword
    arguments (``limit=``, ``online=`` …) still work, with a DeprecationWarning.

    Returns the result dict (also written to ``options.json_out`` if given).
    """
    from codehotfix.evaluation.backends import build_backend, require_backend
    from codehotfix.evaluation.tasks import TASKS, RatesTaskConfig

    options, hotfix = _legacy_eval_args(options, hotfix, legacy)
    # Everything that can be wrong with the inputs fails here, before a model loads.
    if options.json_out is not None:
        check_output(options.json_out, "file", "json_out")
    case_list = _as_cases(cases, options.fmt)[:options.limit]
    cfg = eval_config or EvalConfig()
    require_backend(cfg.backend)
    if loaded is None:
        loaded = load_hotfixed(model, adapter, dtype=options.dtype, threads=options.threads, device=options.device)
    guard = hotfix.guard if hotfix is not None else None
    if hotfix is not None and hotfix.guard_cases is not None:
        from codehotfix.online import BuggyLineGuard, GuardConfig

        guard = BuggyLineGuard(loaded.tokenizer, hotfix.guard_cases, GuardConfig(match=hotfix.match))
    result = TASKS.get("rates").run(
        loaded.model, loaded.tokenizer, RatesTaskConfig.of(cfg), case_list, progress=options.progress,
        prompt_transform=hotfix.transform() if hotfix else None,
        logits_processor_factory=hotfix.factory(guard) if hotfix else None,
        backend=build_backend(cfg.backend, loaded, adapter)).to_json()
    result = {"model": loaded.model_id, "model_checksum": loaded.checksum, "device": loaded.device,
              "adapter": str(adapter) if adapter else None,
              "hotfix": _hotfix_parts(adapter, hotfix, guard, result, case_list), "versions": library_versions(),
              "machine": machine_info(loaded.model), **result}
    if options.json_out:
        write_json(options.json_out, result)
    return result


# ---------------------------------------------------------------- the other evaluation tasks

def _stamp(data: dict[str, Any], loaded: LoadedModel, adapter: str | Path | None) -> dict[str, Any]:
    """A result with the model and adapter it describes and the library versions."""
    return {**data, "model": loaded.model_id, "model_checksum": loaded.checksum,
            "adapter": str(adapter) if adapter else None, "versions": library_versions()}


def run_task(name: str, cfg: object, *, model: str | None = None, adapter: str | Path | None = None,
             json_out: str | Path | None = None, loaded: LoadedModel | None = None, threads: int | None = None,
             device: str | None = "auto", progress: bool = True) -> TaskResult:
    """Runs the registered evaluation task ``name`` with its config ``cfg``: reads its inputs, seeds
    with ``cfg.generation.seed``, loads the model with ``adapter`` (unless ``loaded``), measures base
    (adapter off) and hotfixed, stamps the result (model, adapter, versions) and writes ``json_out``.

    Raises:
        KeyError: an unknown task (naming the valid ones). ConfigError / DataError: bad settings or
            inputs, before a model loads.
    """
    from codehotfix.evaluation.tasks import TASKS

    task = TASKS.get(name)
    if not isinstance(cfg, task.config_type):
        raise ConfigError(f"task {name!r} takes a {task.config_type.__name__}, got {type(cfg).__name__}")
    if json_out is not None:
        check_output(json_out, "file", "json_out")
    inputs = task.inputs(cfg)
    seed_everything(cfg.generation.seed)
    loaded = loaded or load_hotfixed(model, adapter, threads=threads, device=device)
    result = task.run(loaded.model, loaded.tokenizer, cfg, inputs, progress=progress)
    result.data = _stamp(result.data, loaded, adapter)
    if json_out is not None:
        write_json(json_out, result.data)
    return result


def side_effect(name: str, cfg: object, **kwargs: Any) -> TaskResult:
    """``codehotfix locality | perplexity | variants | execfix``: base and hotfixed measured in one
    process, the adapter switched off for the base (see ``run_task`` for the arguments)."""
    if name not in ("locality", "perplexity", "variants", "execfix"):
        raise ConfigError(f"side_effect: {name!r} is not one of locality, perplexity, variants, execfix")
    return run_task(name, cfg, **kwargs)


def humaneval(cfg: object, *, model: str | None = None, adapter: str | Path | None = None,
              json_out: str | Path | None = None, loaded: LoadedModel | None = None, threads: int | None = None,
              device: str | None = "auto", progress: bool = True) -> TaskResult:
    """HumanEval pass@k of the model with ``adapter`` (or the base); generated code runs only in the
    sandbox. Generations are cached by (model checksum, adapter checksum, prompt, decoding), so a
    re-run only generates what is missing. Writes ``{"model", "model_checksum", "adapter", **result}``."""
    from codehotfix.evaluation.tasks import TASKS, CacheKey, HumanEvalTaskConfig
    from codehotfix.files import sha256_file

    if not isinstance(cfg, HumanEvalTaskConfig):
        raise ConfigError(f"humaneval takes a HumanEvalTaskConfig, got {type(cfg).__name__}")
    if json_out is not None:
        check_output(json_out, "file", "json_out")
    loaded = loaded or load_hotfixed(model, adapter, threads=threads, device=device)
    key = CacheKey(loaded.checksum, sha256_file(Path(adapter) / "adapter_model.safetensors") if adapter else None)
    result = TASKS.get("humaneval").run(loaded.model, loaded.tokenizer, cfg, key, progress=progress)
    result.data = {"model": loaded.model_id, "model_checksum": loaded.checksum,
                   "adapter": str(adapter) if adapter else None, **result.data}
    if json_out is not None:
        write_json(json_out, result.data)
    return result


def leak(run: LeakRun, *, model: str | None = None, adapter: str | Path | None = None,
         json_out: str | Path | None = None, loaded: LoadedModel | None = None, threads: int | None = None,
         progress: bool = True, device: str | None = "auto") -> dict[str, Any]:
    """``codehotfix pii leak``: loads the model (and adapter, unless ``loaded`` is given), measures
    leakage, and writes ``json_out`` plus a redacted summary ``json_out.md``; returns the result.

    Raises:
        DataError: no targets, or nothing to measure (both settings None).
    """
    from codehotfix.privacy.leak import measure, summary_markdown

    if not run.targets:
        raise DataError("pii leak: no targets")
    if run.targeted is None and run.untargeted is None:
        raise DataError("pii leak: nothing to measure (targeted and untargeted both off)")
    loaded = loaded or load_hotfixed(model, adapter, threads=threads, device=device)
    result = {"model": loaded.model_id, "model_checksum": loaded.checksum,
              "adapter": str(adapter) if adapter else None, "versions": library_versions(),
              **measure(loaded.model, loaded.tokenizer, run, progress=progress)}
    if json_out:
        write_json(json_out, result)
        atomic_write_text(Path(str(json_out) + ".md"), summary_markdown(result))
    return result


def report(run_dir: str | Path, out: str | Path | None = None, *, force: bool = False) -> ReportPaths:
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
        allow_weak_isolation: run that code even where the sandbox's full isolation is unavailable
            (not root, no namespaces); otherwise the sandbox refuses there and the HumanEval phase fails.
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
    allow_weak_isolation: bool = False
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
                          options=EvalOptions(progress=st.progress))
    else:
        with st.base_view():
            result = evaluate(st.split.test, loaded=loaded, eval_config=st.cfg.eval,
                              options=EvalOptions(progress=st.progress))
    write_json(st.out / RUN_PHASES[name], result)
    s = result["summary"]
    return {f"{m}/{k}": s[m][k] for m in ("greedy", "sampled") for k in ("fixed_rate", "buggy_rate")}


def _phase_train(st: _RunState) -> dict[str, float]:
    loaded = st.loaded()
    model, _ = train_on_model(loaded, st.split.train, st.cfg, st.hotfix_dir, progress=st.progress,
                              tracker=st.tracker)
    loaded.model = model
    return {}


def _phase_humaneval(st: _RunState, problems: int, hotfixed: bool, weak_isolation: bool) -> dict[str, float]:
    from codehotfix.evaluation.tasks import HumanEvalTaskConfig

    # The task's defaults (greedy, 384 tokens): the numbers match `codehotfix humaneval --limit N`.
    cfg = HumanEvalTaskConfig(limit=problems, allow_exec=True, allow_weak_isolation=weak_isolation)
    cfg.generation = cfg.generation.with_given(seed=st.cfg.seed)
    loaded = st.loaded(hotfixed)
    adapter = st.hotfix_dir if hotfixed else None
    if hotfixed:
        result = humaneval(cfg, loaded=loaded, adapter=adapter, progress=st.progress)
    else:
        with st.base_view():
            result = humaneval(cfg, loaded=loaded, progress=st.progress)
    name = "humaneval_hotfix" if hotfixed else "humaneval_base"
    data = {k: v for k, v in result.data.items() if k not in ("model", "model_checksum", "adapter")}
    write_json(st.out / RUN_PHASES[name], {k: v for k, v in st.stamp(data, adapter).items() if k != "versions"})
    return {k: v for k, v in data["pass_at_k"].items() if v is not None}


def _phase_side_effect(st: _RunState, kind: str, limit: int | None) -> dict[str, float]:
    from codehotfix.evaluation.tasks import TASKS, LocalityTaskConfig, PerplexityTaskConfig

    loaded = st.loaded(hotfixed=True)  # locality and perplexity switch the adapter off for the base side
    if kind == "locality":
        cfg: object = LocalityTaskConfig(limit=limit)
    else:
        cfg = PerplexityTaskConfig(limit=limit)
        cfg.generation = cfg.generation.with_given(seed=st.cfg.seed)
    result = TASKS.get(kind).run(loaded.model, loaded.tokenizer, cfg, progress=st.progress).to_json()
    write_json(st.out / RUN_PHASES[kind], st.stamp(result, st.hotfix_dir))
    keys = ("unchanged_fraction", "mean_kl") if kind == "locality" else ("base", "hotfixed")
    return {k: result[k] for k in keys}


def _run_phases(st: _RunState, opts: RunOptions) -> list[tuple[str, Any, Any]]:
    """(phase, settings that change its output beyond the run's fingerprint, function) in run order."""
    lim, weak = opts.side_effect_limit, opts.allow_weak_isolation
    # weak isolation stays out of the phases' fingerprints: it decides whether the sandbox runs the
    # code at all, not what a finished phase measured (a refused phase fails and records nothing), so
    # adding the flag to a refused run resumes it.
    phases = [("split", None, lambda: _phase_split(st)), ("base_eval", None, lambda: _phase_eval(st, False))]
    if opts.humaneval:
        phases.append(("humaneval_base", opts.humaneval, lambda: _phase_humaneval(st, opts.humaneval, False, weak)))
    phases += [("train", None, lambda: _phase_train(st)), ("hotfix_eval", None, lambda: _phase_eval(st, True))]
    if opts.humaneval:
        phases.append(("humaneval_hotfix", opts.humaneval, lambda: _phase_humaneval(st, opts.humaneval, True, weak)))
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
    core = {"cases": cases_checksum(case_list), "model": base_model_reference(model), "config": fingerprint_view(cfg),
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
