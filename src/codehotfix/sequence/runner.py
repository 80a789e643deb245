"""Run a sequence: N hotfixes one after another under each strategy, measured after each step.

    codehotfix sequence --pack default --limit 10 --out runs/seq [--strategies stacked,continual] [k=v …]

Top to bottom:

  1. the groups (``groups.py``) and settings are checked and fingerprinted before any model loads;
     ``sequence.json`` in the output folder records them, and a folder holding another sequence is
     refused unless ``restart``;
  2. the base model is evaluated once on every held-out context (``base.json``; HumanEval base too
     when asked);
  3. for each measured step k and each strategy: the strategy's adapters after step k are trained if
     missing (``adapters/``, shared where strategies coincide; see ``strategies.py``), put on the
     base, and measured (``measure.py``) into ``<strategy>/step-<k>.json``: the raw per-case
     results, per hotfix efficacy with an interval, the paired base-vs-step comparison of the
     split event (``evaluation.compare``), and HumanEval/locality where asked;
  4. ``retention.json`` and ``retention.md``: the retention matrix and curves (``retention.py``);
     ``retention.png`` draws the curves where the report extra is installed (``report.retention_plot``).

A step file that exists is reused (the model is not even loaded when every one does), so an
interrupted run continues where it stopped; trained adapters are reused the same way.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from codehotfix import runtime
from codehotfix.api import cases_checksum, library_versions
from codehotfix.config import HotfixConfig, fingerprint_view
from codehotfix.data.cases import HotfixCase
from codehotfix.deploy.activation import activate, attach, read_adapter
from codehotfix.errors import CodehotfixError, ConfigError
from codehotfix.evaluation.compare import compare
from codehotfix.files import atomic_write_text, read_json, sha256_file, sha256_text, write_json
from codehotfix.models.loading import LoadedModel, load_model
from codehotfix.models.provenance import machine_info
from codehotfix.sequence import measure
from codehotfix.sequence.config import SequenceConfig
from codehotfix.sequence.groups import HotfixGroup
from codehotfix.sequence.retention import build_retention, retention_markdown
from codehotfix.sequence.strategies import STRATEGIES, Strategy
from codehotfix.sequence.train import bare_base, train_fresh, train_further

__all__ = ["run_sequence", "applied", "LEDGER"]

LEDGER = "sequence.json"
logger = logging.getLogger(__name__)


def _folder_name(step: int, name: str) -> str:
    return f"{step:03d}-{re.sub(r'[^A-Za-z0-9_-]', '_', name)[:48]}"


@contextmanager
def applied(loaded: LoadedModel, folders: Sequence[Path], mode: str) -> Iterator[torch.nn.Module]:
    """``folders``' adapters on the bare base, combined by ``mode`` (``deploy.activation.activate``);
    taken off again on exit, so ``loaded.model`` is the bare base before and after."""
    model = bare_base(loaded.model)
    keys = []
    for i, folder in enumerate(folders):
        key = f"h{i:03d}"
        model = attach(model, read_adapter(folder, key))
        keys.append(key)
    activate(model, keys, mode)
    runtime.release_freed_memory()  # a merge's full-size deltas (50 adapters by SVD: GBs) are freed by now
    loaded.model = model
    try:
        yield model
    finally:
        loaded.model = bare_base(loaded.model)


class _Run:
    """The sequence's inputs, its one base model (loaded on first need) and its adapter folders;
    the ``Trainer`` the strategies ask for adapters."""

    def __init__(self, groups: Sequence[HotfixGroup], out: Path, cfg: HotfixConfig, opts: SequenceConfig,
                 model: str | None, device: str | None, threads: int | None, progress: bool) -> None:
        self.groups, self.out, self.cfg, self.opts = list(groups), out, cfg, opts
        self.model_spec, self.device, self.threads, self.progress = model, device, threads, progress
        self._loaded: LoadedModel | None = None

    @property
    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            tc = self.cfg.training
            self._loaded = load_model(self.model_spec, dtype=tc.dtype, threads=self.threads or tc.threads,
                                      device=self.device)
        return self._loaded

    def _folder(self, kind: str, step: int) -> Path:
        return self.out / "adapters" / kind / _folder_name(step, self.groups[step - 1].name)

    def single(self, step: int) -> Path:
        return train_fresh(self.loaded, self.groups[step - 1].train, self.cfg, self._folder("single", step),
                           progress=self.progress)

    def continual(self, step: int) -> Path:
        if step == 1:
            return self.single(1)
        start = self.continual(step - 1)
        cases = list(self.groups[step - 1].train) + self.replay(step)
        return train_further(self.loaded, start, cases, self.cfg, self._folder("continual", step),
                             progress=self.progress)

    def retrained(self, step: int) -> Path:
        if step == 1:
            return self.single(1)
        union = [c for g in self.groups[:step] for c in g.train]
        return train_fresh(self.loaded, union, self.cfg, self._folder("retrained", step), progress=self.progress)

    def replay(self, step: int) -> list[HotfixCase]:
        """``opts.replay`` training cases of each earlier hotfix, drawn with a seed per (step, hotfix);
        with ``opts.replay_budget``, a seeded sample of at most that many of them (in draw order)."""
        out: list[HotfixCase] = []
        for j, group in enumerate(self.groups[:step - 1], 1):
            pool = sorted(group.train, key=lambda c: c.id)
            rng = random.Random(f"{self.cfg.seed}:replay:{step}:{j}")
            out += rng.sample(pool, min(self.opts.replay, len(pool)))
        budget = self.opts.replay_budget
        if budget is not None and len(out) > budget:
            keep = sorted(random.Random(f"{self.cfg.seed}:replay-budget:{step}").sample(range(len(out)), budget))
            out = [out[i] for i in keep]
        return out


def _fingerprint(groups: Sequence[HotfixGroup], cfg: HotfixConfig, opts: SequenceConfig, model: str | None) -> str:
    from codehotfix.deploy.card import base_model_reference

    cases = [c for g in groups for c in (*g.train, *g.test)]
    core = {"groups": [g.to_dict() for g in groups], "cases": cases_checksum(cases), "config": fingerprint_view(cfg),
            "replay": opts.replay, "model": base_model_reference(model)}
    if opts.replay_budget is not None:  # only when set, so the fingerprints of earlier runs still match
        core["replay_budget"] = opts.replay_budget
    return sha256_text(json.dumps(core, sort_keys=True, default=str))


def _open_ledger(out: Path, fingerprint: str, groups: Sequence[HotfixGroup], restart: bool) -> None:
    path = out / LEDGER
    if path.exists() and not restart:
        held = read_json(path).get("fingerprint")
        if held != fingerprint:
            raise CodehotfixError(f"{out} holds a sequence with other hotfixes, model or config ({LEDGER} "
                                  f"fingerprint {str(held)[:12]}… ≠ {fingerprint[:12]}…); pass --restart or "
                                  "choose another --out")
    elif restart:
        for name in (LEDGER, "base.json", "retention.json", "retention.md", "adapters", *STRATEGIES):
            item = out / name
            shutil.rmtree(item) if item.is_dir() else item.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, {"fingerprint": fingerprint, "groups": [g.to_dict() for g in groups],
                      "versions": library_versions()})


def _base(run: _Run) -> dict[str, Any]:
    """base.json: the base model on every held-out context (and HumanEval's problems when asked)."""
    path = run.out / "base.json"
    doc = read_json(path) if path.exists() else None
    if doc is None or (run.opts.humaneval and doc.get("humaneval", {}).get("problems") != run.opts.humaneval):
        loaded = run.loaded
        loaded.model = bare_base(loaded.model)
        cases = [c for g in run.groups for c in g.test]
        doc = doc or {"eval": measure.efficacy_eval(loaded, cases, run.cfg.eval, progress=run.progress),
                      "model": loaded.model_id, "model_checksum": loaded.checksum}
        if run.opts.humaneval:
            doc["humaneval"] = {"problems": run.opts.humaneval,
                                **measure.humaneval_run(loaded, run.opts.humaneval, run.cfg.seed, None)}
        write_json(path, doc)
    members = {c.id: g.name for g in run.groups for c in g.test}
    doc["per_hotfix"] = measure.per_hotfix(doc["eval"], members)
    return doc


def _adapter_tag(folders: Sequence[Path], mode: str) -> str:
    return sha256_text(mode + "".join(sha256_file(f / "adapter_model.safetensors") for f in folders))


def _side_effects(run: _Run, base: dict[str, Any], folders: Sequence[Path], mode: str, last: bool) -> dict[str, Any]:
    """HumanEval and locality of the model as it is now, where asked for this step."""
    out: dict[str, Any] = {}
    if not (last or run.opts.side_effects_every_step):
        return out
    if run.opts.humaneval:
        after = measure.humaneval_run(run.loaded, run.opts.humaneval, run.cfg.seed, _adapter_tag(folders, mode))
        out["humaneval"] = {**after, "change": measure.humaneval_change(base["humaneval"], after)}
    if run.opts.locality:
        out["locality"] = measure.locality_run(run.loaded, run.opts.locality, progress=run.progress)
    return out


def _measure_step(run: _Run, strategy: Strategy, step: int, base: dict[str, Any]) -> dict[str, Any]:
    t0 = time.time()
    folders = strategy.adapters(run, step)
    hotfixes = run.groups[:step]
    cases = [c for g in hotfixes for c in g.test]
    members = {c.id: g.name for g in hotfixes for c in g.test}
    with applied(run.loaded, folders, strategy.mode):
        result = measure.efficacy_eval(run.loaded, cases, run.cfg.eval, progress=run.progress)
        side = _side_effects(run, base, folders, strategy.mode, step == len(run.groups))
    base_subset = {"cases": [r for r in base["eval"]["cases"] if r["id"] in members]}
    values = [v for r in result["cases"] if (v := measure.case_efficacy(r)) is not None]
    base_values = [v for r in base_subset["cases"] if (v := measure.case_efficacy(r)) is not None]
    return {"strategy": strategy.name, "step": step, "mode": strategy.mode, "hotfixes": [g.name for g in hotfixes],
            "adapters": [str(f.relative_to(run.out)) for f in folders],
            "per_hotfix": measure.per_hotfix(result, members), "overall": measure.rate_block(values),
            "base_overall": measure.rate_block(base_values),
            "comparison": compare(base_subset, result)["events"].get("split"), **side,
            "eval": result, "seconds": round(time.time() - t0, 2),
            "machine": machine_info(run.loaded.model)}  # bf16 kernels differ between CPUs: near-ties can flip


def run_sequence(groups: Sequence[HotfixGroup], out: str | Path, *, cfg: HotfixConfig,
                 opts: SequenceConfig | None = None, model: str | None = None, restart: bool = False,
                 progress: bool = True, device: str | None = "auto", threads: int | None = None,
                 table_only: bool = False) -> dict[str, Any]:
    """Runs (or resumes) the sequence into ``out``; returns ``retention.json``'s content plus
    ``{"out", "steps": {"ran", "reused", "missing"}, "retention_md"}``.

    ``table_only``: train and measure nothing; rebuild retention.json/.md/.png from the step files
    already there (e.g. after separate runs measured one strategy each), marked in progress where
    steps are missing.

    Raises:
        ConfigError: an adapter method other than LoRA (stacking and merging need LoRA).
        CodehotfixError: ``out`` holds another sequence (pass ``restart=True``); with ``table_only``,
            no base evaluation to compare against yet.
    """
    opts = opts or SequenceConfig()
    if cfg.adapter.method != "lora":
        raise ConfigError(f"adapter.method {cfg.adapter.method!r}: a sequence stacks and merges adapters, "
                          "which needs adapter.method=lora")
    if not groups:
        raise ConfigError("a sequence needs at least one hotfix group")
    out = Path(out)
    if table_only and restart:
        raise ConfigError("--table-only tabulates the steps already measured; --restart would delete them")
    if table_only and not (out / "base.json").exists():
        raise CodehotfixError(f"{out}: nothing measured yet to tabulate (no base.json); run without --table-only")
    _open_ledger(out, _fingerprint(groups, cfg, opts, model), groups, restart)
    run = _Run(groups, out, cfg, opts, model, device, threads, progress)
    strategies = [STRATEGIES.get(s) for s in opts.strategies]
    if table_only:
        base = read_json(out / "base.json")
        base["per_hotfix"] = measure.per_hotfix(base["eval"], {c.id: g.name for g in groups for c in g.test})
    else:
        base = _base(run)
    n = len(groups)
    todo = [(k, s) for k in range(1, n + 1) if opts.measured(k, n) for s in strategies]
    counts = {"ran": 0, "reused": 0, "missing": 0}
    by_strategy: dict[str, list[dict[str, Any]]] = {s.name: [] for s in strategies}
    for i, (k, strategy) in enumerate(tqdm(todo, desc="sequence", disable=not progress, dynamic_ncols=True)):
        path = out / strategy.name / f"step-{k:03d}.json"
        fresh = not path.exists()
        if fresh and table_only:
            counts["missing"] += 1
            continue
        if fresh:
            logger.info("sequence: step %d/%d, %s", k, n, strategy.name)
            doc = _measure_step(run, strategy, k, base)
            write_json(path, doc)
            # each step trains, evaluates and merges, and each phase leaves the heap shaped differently;
            # trimming between steps keeps 50 steps from holding the sum of their heaps (see the function)
            runtime.release_freed_memory()
            counts["ran"] += 1
        else:
            doc = read_json(path)
            counts["reused"] += 1
        by_strategy[strategy.name].append({key: v for key, v in doc.items() if key != "eval"})
        if fresh and i < len(todo) - 1:
            # A long run spans sessions: the table of the steps so far is there to read after each new one.
            _write_table(out, groups, base, by_strategy, complete=False)
    table, md = _write_table(out, groups, base, by_strategy, complete=not counts["missing"])
    return {**table, "out": str(out), "steps": counts, "retention_md": str(md)}


def _write_table(out: Path, groups: Sequence[HotfixGroup], base: dict[str, Any],
                 by_strategy: dict[str, list[dict[str, Any]]], *, complete: bool) -> tuple[dict[str, Any], Path]:
    """retention.json/.md from the steps measured so far (``complete``: every measured step is in)."""
    table = {**build_retention([g.name for g in groups], base["per_hotfix"], by_strategy), "complete": complete}
    write_json(out / "retention.json", table)
    try:
        from codehotfix.report.retention_plot import write_retention_png
    except ImportError:  # the figure needs the report extra; the table and Markdown do not
        logger.info("sequence: no retention.png (pip install 'codehotfix[report]' for the figure)")
    else:
        write_retention_png(table, out / "retention.png")
    return table, atomic_write_text(out / "retention.md", retention_markdown(table))
