"""Run a study: every (method, loss, seed) cell on one base model, resumable, into one table.

    codehotfix study configs/study/pysstubs.yaml [--out DIR] [--limit-cells N] [key=value …]

Top to bottom:

  1. resolve the grid and prepare the data (errors here come before any model loads);
  2. load the base model once; evaluate it on the test split once, cached in
     ``base_eval-<fingerprint>.json`` (the fingerprint covers model, test cases and eval settings);
  3. for each cell whose ``cells/<cell_id>.json`` is missing: attach a fresh adapter to the base,
     seed, train (per-epoch checkpoints in ``work/<cell_id>/``, so an interrupted cell resumes at
     its last epoch), evaluate the test split, remove the adapter again — the base must come back
     bit-identical, which is checked — and write the cell's record atomically;
  4. the best-seeds pass: once every first-pass cell exists, rank (method, loss) rows by the
     configured metric over the first-pass seeds and run the top ones with the extra seeds;
  5. write ``results.json`` and ``results.md`` (see ``table.py``) from every finished cell.

A finished cell is never run again: its id covers its resolved config and a checksum of model and
data (``spec.cell_id``), so a re-run after an interruption does only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from tqdm.auto import tqdm

from codehotfix.api import cases_checksum, library_versions, machine_info, seed_everything
from codehotfix.errors import CodehotfixError
from codehotfix.evaluation.rates import evaluate_cases
from codehotfix.files import atomic_write_text, read_json, sha256_text, write_json
from codehotfix.models.adapters import build_adapter, is_peft_model, save_trained, trainable_parameters
from codehotfix.models.loading import LoadedModel, load_model
from codehotfix.study.data import StudyData, prepare_data
from codehotfix.study.memory import PeakMemory
from codehotfix.study.spec import Cell, StudyConfig, resolve_cells
from codehotfix.study.table import aggregate, build_table, rank_rows, table_markdown
from codehotfix.training.loop import train_adapter

__all__ = ["run_study", "remove_adapter", "weights_signature", "default_out"]

_KEEP_CASE_FIELDS = ("id", "group", "greedy_label", "sample_labels", "fixed_rate", "buggy_rate", "logp_fixed",
                     "logp_buggy", "margin", "new_tokens")


def _stderr(msg: str) -> None:
    tqdm.write(msg, file=sys.stderr)


def default_out(spec: StudyConfig) -> Path:
    return Path("bench") / "results" / f"study_{spec.name}"


def remove_adapter(model: Any, snapshot: dict[str, torch.Tensor] | None = None) -> Any:
    """Takes a trained method off the base model and returns the bare, pristine base model.

    Tuner methods (LoRA, DoRA, IA3 …) injected layers into the base modules: ``unload()`` puts the
    original modules back without merging. Prompt-learning methods (prefix/prompt tuning) never
    touched the base: it is returned as is. A method without a PEFT wrapper (full fine-tuning)
    trained the base weights themselves: they are copied back from ``snapshot``.
    """
    if not is_peft_model(model):
        if snapshot is None:
            raise CodehotfixError("the trained model is not a PEFT model and no weight snapshot was taken")
        model.load_state_dict(snapshot)
        model.requires_grad_(False)
        return model
    if getattr(model.peft_config[model.active_adapter], "is_prompt_learning", False):
        return model.get_base_model()
    return model.unload()


@torch.no_grad()
def weights_signature(model: Any) -> str:
    """A checksum of the model's parameter names, shapes and float64 sums: changes if any weight
    does (up to sums that cancel exactly, which training does not produce). ~1 s for 0.5 B weights."""
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(f"{name}:{tuple(p.shape)}:{float(p.detach().sum(dtype=torch.float64)):.17g};".encode())
    return h.hexdigest()


def _strip(evaluation: dict[str, Any], keep_completions: bool) -> dict[str, Any]:
    """An evaluation result without the generated code (unless asked): labels and margins only."""
    if keep_completions:
        return evaluation
    cases = []
    for r in evaluation["cases"]:
        kept = {k: r[k] for k in _KEEP_CASE_FIELDS if k in r}
        if "events" in r:  # per-case judgements of every event, so each event gets paired tests
            kept["events"] = {name: _without_text(judged) for name, judged in r["events"].items()}
        cases.append(kept)
    return {**evaluation, "cases": cases}


def _without_text(judged: Any) -> Any:
    """A judged event with every generated ``text`` removed (labels, directions, validity stay)."""
    if isinstance(judged, dict):
        return {k: _without_text(v) for k, v in judged.items() if k != "text"}
    if isinstance(judged, list):
        return [_without_text(v) for v in judged]
    return judged


def _base_eval(out: Path, loaded: LoadedModel, data: StudyData, cell: Cell, keep: bool, progress: bool,
               log: Callable[[str], None]) -> tuple[str, dict[str, Any]]:
    eval_cfg = cell.config.eval
    fp = sha256_text(json.dumps({"model": loaded.checksum, "test": cases_checksum(data.test),
                                 "eval": asdict(eval_cfg)}, sort_keys=True))[:12]
    path = out / f"base_eval-{fp}.json"
    if path.exists():
        log(f"[study] base evaluation: reusing {path.name}")
        return path.name, read_json(path)
    log(f"[study] base evaluation on {len(data.test)} test cases …")
    result = {"fingerprint": fp, "model": loaded.model_id, "model_checksum": loaded.checksum,
              **_strip(evaluate_cases(loaded.model, loaded.tokenizer, data.test, eval_cfg, progress=progress), keep)}
    write_json(path, result)
    return path.name, result


@dataclass
class _Context:
    """What every cell of one study shares."""

    spec: StudyConfig
    out: Path
    loaded: LoadedModel
    data: StudyData
    base_name: str
    signature: str
    progress: bool
    log: Callable[[str], None]


def _run_cell(cell: Cell, ctx: _Context) -> dict[str, Any]:
    """Trains and evaluates one cell on a fresh adapter; the base model is restored before returning."""
    loaded, work = ctx.loaded, ctx.out / "work" / cell.id
    t0 = time.time()
    with PeakMemory() as memory:
        seed_everything(cell.seed)
        model = build_adapter(loaded.model, cell.config.adapter)
        # Full fine-tuning trains the base itself: keep a copy to put back (as large as the model).
        snapshot = None if is_peft_model(model) else {k: v.detach().clone() for k, v in model.state_dict().items()}
        try:
            trainable, total = trainable_parameters(model)
            result = train_adapter(model, loaded.tokenizer, ctx.data.train, cell.config,
                                   checkpoint_dir=work / "checkpoint", progress=ctx.progress)
            # No kl_corpus store (api.train_on_model's reuse_reference): the cells' training times are
            # compared, and a cell reading what an earlier cell computed would look cheaper.
            if ctx.spec.keep_adapters:
                save_trained(model, work / "adapter")
                write_json(work / "adapter" / "hotfix.json", {"base_model": loaded.model_id, "cell": cell.id,
                                                              "base_model_checksum": loaded.checksum,
                                                              "config": asdict(cell.config)})
            t_eval = time.time()
            evaluation = evaluate_cases(model, loaded.tokenizer, ctx.data.test, cell.config.eval,
                                        progress=ctx.progress)
            eval_seconds = round(time.time() - t_eval, 2)
        finally:
            loaded.model = remove_adapter(model, snapshot)
            loaded.model.eval()
    if weights_signature(loaded.model) != ctx.signature:
        raise CodehotfixError(f"cell {cell.id}: the base model's weights changed during the cell (method "
                              f"{cell.config.adapter.method!r}); later cells would start from a modified model")
    shutil.rmtree(work / "checkpoint", ignore_errors=True)
    if not ctx.spec.keep_adapters:
        shutil.rmtree(work, ignore_errors=True)
        if not any(work.parent.iterdir()):
            work.parent.rmdir()
    return {
        "format": "codehotfix-study-cell/1",
        "cell_id": cell.id, "method": cell.method, "loss": cell.loss, "seed": cell.seed,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": asdict(cell.config),
        "train": {"seconds": result.seconds, "steps": result.steps, "epochs": result.epochs,
                  "tokens": result.tokens, "resumed_from_epoch": result.resumed_from_epoch,
                  "final_metrics": result.final_metrics, "history": result.history,
                  "left_out": result.left_out},
        "eval_seconds": eval_seconds,
        "wall_seconds": round(time.time() - t0, 2),
        "memory": memory.result(),
        "trainable_parameters": trainable, "total_parameters": total,
        "base_eval": ctx.base_name,
        "summary": evaluation["summary"],
        "cases": _strip(evaluation, ctx.spec.keep_completions)["cases"],
        "versions": library_versions(),
        # bf16 kernels differ between CPUs (near-ties flip): the CPU, its bf16/AMX flags and the
        # weights' dtype go with every cell, since the cells of one study may run on several machines.
        "machine": machine_info(loaded.model),
    }


def _run_cells(cells: Sequence[Cell], ctx: _Context, bar: tqdm, budget: list[int]) -> list[str]:
    """Runs the cells whose record is missing, within ``budget[0]`` new cells; returns the pending ids."""
    pending = []
    for cell in cells:
        path = ctx.out / "cells" / f"{cell.id}.json"
        if path.exists():
            continue
        if budget[0] <= 0:
            pending.append(cell.id)
            continue
        bar.set_postfix_str(cell.id.rsplit("--", 1)[0])
        ctx.log(f"[study] cell {cell.id} …")
        record = _run_cell(cell, ctx)
        write_json(path, record)
        budget[0] -= 1
        bar.update(1)
    return pending


def _records(cells: Sequence[Cell], out: Path) -> list[dict[str, Any]]:
    return [read_json(out / "cells" / f"{c.id}.json") for c in cells if (out / "cells" / f"{c.id}.json").exists()]


def _check_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / "study.json").exists():
        raise CodehotfixError(f"{out}: exists and is not a study folder (no study.json); choose another --out")


def run_study(spec: StudyConfig, out: str | Path | None = None, *, loaded: LoadedModel | None = None,
              limit_cells: int | None = None, progress: bool = True,
              log: Callable[[str], None] = _stderr) -> dict[str, Any]:
    """Runs (or resumes) a study and writes its table.

    Args:
        spec: the study (``load_study``).
        out: the study folder (default ``bench/results/study_<name>``); finished cells in it are reused.
        loaded: an already loaded base model (default: load ``spec.model``); it is left pristine.
        limit_cells: run at most this many new cells, then write the table of what is done.
        progress: show progress bars (cells with ETA, and each cell's training and evaluation).
        log: where progress messages go.

    Returns:
        The table dict written to ``results.json`` plus ``out``, ``results_md`` and ``complete``.

    Raises:
        ConfigError / DataError: before any model loads, for a bad spec or data.
    """
    first = resolve_cells(spec)
    data = prepare_data(spec.dataset)
    out = Path(out) if out is not None else default_out(spec)
    _check_out(out)
    log(f"[study] {spec.name}: {len(data.train)} training and {len(data.test)} test cases; "
        f"{len(first)} first-pass cells → {out}")
    if loaded is None:
        tc = first[0].config.training
        loaded = load_model(spec.model, dtype=tc.dtype, threads=tc.threads)
    data_key = sha256_text(f"{loaded.checksum}:{cases_checksum(data.train)}:{cases_checksum(data.test)}")
    first = resolve_cells(spec, data_key=data_key)
    base_name, base = _base_eval(out, loaded, data, first[0], spec.keep_completions, progress, log)
    write_json(out / "study.json", {
        "format": "codehotfix-study/1", "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "spec": asdict(spec), "model": loaded.model_id, "model_checksum": loaded.checksum, "data_key": data_key,
        "data": data.summary, "base_eval": base_name, "versions": library_versions(),
        "machine": machine_info(loaded.model)})
    ctx = _Context(spec, out, loaded, data, base_name, weights_signature(loaded.model), progress, log)

    n_configs = len({c.key for c in first})
    extra = spec.best_seeds
    total = len(first) + (min(extra.top_k, n_configs) * len(extra.seeds) if extra else 0)
    done_before = len(_records(first, out))
    budget = [limit_cells if limit_cells is not None else total]  # new cells this run may start
    with tqdm(total=total, initial=done_before, desc="study cells", unit="cell", disable=not progress,
              dynamic_ncols=True) as bar:
        # Seed by seed: a study stopped early (--limit-cells, a session's end) then holds every
        # configuration at the same seeds, so its partial table already compares them pairwise.
        by_seed = sorted(first, key=lambda c: spec.seeds.index(c.seed))
        pending = _run_cells(by_seed, ctx, bar, budget)
        second: list[Cell] = []
        if extra and not pending:
            ranked = rank_rows(aggregate(_records(first, out), base["summary"]), extra.metric)
            top = [(r["method"], r["loss"]) for r in ranked[:extra.top_k]]
            second = resolve_cells(spec, seeds=extra.seeds, data_key=data_key, only=top)
            bar.update(len(_records(second, out)))
            pending += _run_cells(second, ctx, bar, budget)
        elif extra:
            pending.append(f"best-seeds pass ({extra.top_k} configurations × seeds {extra.seeds}) "
                           "after the first pass")
    return _write_table(spec, out, loaded, data, base, _records([*first, *second], out), pending)


def _write_table(spec: StudyConfig, out: Path, loaded: LoadedModel, data: StudyData, base: dict[str, Any],
                 records: list[dict[str, Any]], pending: list[str]) -> dict[str, Any]:
    eval_cfg = base["config"]
    study = {"name": spec.name, "model": loaded.model_id, "model_checksum": loaded.checksum,
             "dataset": spec.dataset.path, "split": _describe_split(spec, data),
             "train_cases": len(data.train), "test_cases": len(data.test),
             "eval": f"{eval_cfg['samples']} samples (top_p {eval_cfg['top_p']}, T {eval_cfg['temperature']})"
                     f"{' + greedy' if eval_cfg['greedy'] else ''} per test case, "
                     f"{eval_cfg['max_context_tokens']} context tokens",
             "config": spec.config, "overrides": spec.overrides,
             "methods": {m.name: m.overrides for m in spec.methods},
             "losses": {loss.name: [asdict(o) for o in loss.objectives] for loss in spec.losses},
             "seeds": spec.seeds, "best_seeds": asdict(spec.best_seeds) if spec.best_seeds else None}
    table = build_table(records, base["summary"], study=study, pending=pending,
                        metric=spec.best_seeds.metric if spec.best_seeds else "score",
                        base_cases=base.get("cases") or (), test_items=data.summary["split"].get("test_items"))
    write_json(out / "results.json", table)
    atomic_write_text(out / "results.md", table_markdown(table))
    return {**table, "out": str(out), "results_md": str(out / "results.md"), "complete": not pending}


def _describe_split(spec: StudyConfig, data: StudyData) -> str:
    ds, s = spec.dataset, data.summary["split"]
    if ds.split == "seen":
        lines = s.get("test_lines", {})
        same = sum(c["same_line"] for c in lines.values())
        ws = sum(c["whitespace_only"] for c in lines.values())
        kinds = ", ".join(f"{n} {k}" for k, n in s.get("test_kinds", {}).items())
        return (f"seen bugs: test = new contexts of the training cases ({kinds}); {same} keep the judged "
                f"lines exactly as trained, {ws} change only their whitespace")
    return (f"{ds.split} split by {ds.by}: {s.get('groups_only_in_train', '?')} groups train-only, "
            f"{s.get('groups_only_in_test', '?')} test-only, {s.get('groups_on_both_sides', '?')} on both sides")

