"""Find and validate a run folder's results and gather them into one typed ``RunReport``.

A run folder is whatever ``codehotfix demo``/``train``/``eval``/``humaneval`` and the side-effect
commands wrote (the convention is in docs/report.md). Every part is optional: a part that is absent
becomes a ``Missing`` entry naming the files and the command that makes them. A part that is present
but malformed is an error (``DataError``) naming the file and the field — a report quietly built
from half a file would show numbers nobody measured.

    from codehotfix.report.collect import collect
    run = collect("runs/demo-final")
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codehotfix.errors import DataError
from codehotfix.evaluation.tasks import FileTask, Task, in_report_order
from codehotfix.evaluation.tasks.fields import Missing, RunFolder, check_field, load_json
from codehotfix.evaluation.tasks.humaneval import HumanEvalRun
from codehotfix.evaluation.tasks.rates import CasePair, RatesData

__all__ = ["Missing", "TrainData", "CasePair", "RatesData", "HumanEvalRun", "KindData", "RunReport",
           "REPORT_FILES", "collect"]

# Files the report writes itself; never read back as inputs.
REPORT_FILES = ("report.html", "report.md", "report.json")
TRAIN_COMMAND = "codehotfix train CASES --out RUN_DIR/hotfix (or codehotfix demo --out RUN_DIR)"


@dataclass
class TrainData:
    """The hotfix manifest (hotfix.json) and its per-step log (train_log.jsonl; empty if absent)."""

    manifest_path: Path
    manifest: dict[str, Any]
    log_path: Path | None
    steps: list[dict[str, float]]


@dataclass
class KindData:
    """A result file tagged with a top-level ``"kind"`` that no task reads (shown field by field)."""

    path: Path
    kind: str
    data: dict[str, Any]


@dataclass
class RunReport:
    """Everything the report shows, validated; absent parts are listed in ``missing``.

    ``parts`` maps each evaluation task's name to what its ``Task.collect`` read (None: absent).
    """

    run_dir: Path
    inputs: dict[str, str] = field(default_factory=dict)  # file relative to run_dir -> sha256
    run_info: dict[str, Any] = field(default_factory=dict)
    train: TrainData | None = None
    parts: dict[str, object] = field(default_factory=dict)
    other: list[KindData] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    missing: list[Missing] = field(default_factory=list)


# ---------------------------------------------------------------- training

def _collect_train(folder: RunFolder) -> TrainData | None:
    run_dir = folder.path
    for where in (run_dir / "hotfix", run_dir):
        manifest_path = where / "hotfix.json"
        if manifest_path.is_file():
            break
    else:
        folder.missing.append(Missing("training", ("hotfix/hotfix.json", "hotfix/train_log.jsonl"), TRAIN_COMMAND))
        return None
    manifest = load_json(manifest_path)
    for key in ("steps", "train_seconds"):
        check_field(manifest, key, manifest_path, "")
    check_field(manifest, "final_losses", manifest_path, "", dict, optional=True)
    folder.record(manifest_path)
    log_path = where / "train_log.jsonl"
    steps: list[dict[str, float]] = []
    if log_path.is_file():
        folder.record(log_path)
        for lineno, line in enumerate(log_path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{log_path}:{lineno}: invalid JSON: {e.msg}") from None
            check_field(row, "step", log_path, f"line {lineno}", int)
            steps.append({k: v for k, v in row.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)})
    else:
        folder.missing.append(Missing("training curves", (str(log_path.relative_to(run_dir)),), TRAIN_COMMAND))
    return TrainData(manifest_path, manifest, log_path if steps else None, steps)


# ---------------------------------------------------------------- result files no task reads

def _collect_other(run_dir: Path, tasks: list[Task]) -> list[KindData]:
    known = {"summary.json", "config.json", "split.json", "hotfix.json", *REPORT_FILES}
    known.update(name for task in tasks for name in task.files)
    other = []
    for path in sorted(run_dir.glob("*.json")):
        if path.name in known:
            continue
        data = load_json(path)
        if isinstance(data.get("kind"), str):
            other.append(KindData(path, data["kind"], data))
    return other


# ---------------------------------------------------------------- run info and time

def _run_info(run_dir: Path, report: RunReport, tasks: list[Task]) -> None:
    info: dict[str, Any] = {}
    summary_path = run_dir / "summary.json"
    summary = load_json(summary_path) if summary_path.is_file() else {}
    if report.train:
        m = report.train.manifest
        info.update(model=m.get("base_model"), model_checksum=m.get("base_model_checksum"), train_cases=m.get("cases"),
                    seed=m.get("seed"), trainable_parameters=m.get("trainable_parameters"),
                    total_parameters=m.get("total_parameters"), config=m.get("config"), versions=m.get("versions"))
    for key in ("model", "model_checksum", "pack", "train_cases", "test_cases", "seed", "topics"):
        if summary.get(key) is not None:
            info[key] = summary[key]
    times: dict[str, float] = {}
    if isinstance(summary.get("seconds"), dict):
        # The demo times its own phases (evaluations and training) in summary.json.
        for phase in summary["seconds"]:
            times[str(phase)] = float(check_field(summary["seconds"], phase, summary_path, "seconds"))
    else:
        for task in tasks:
            if task.timed_by_summary:
                times.update(task.times(report.parts.get(task.name)))
        if report.train:
            m = report.train.manifest
            times["training"] = float(m.get("wall_seconds") or m["train_seconds"])
    for task in tasks:
        if not task.timed_by_summary:
            times.update(task.times(report.parts.get(task.name)))
    for kd in report.other:
        s = kd.data.get("seconds")
        if isinstance(s, (int, float)) and not isinstance(s, bool):
            times[kd.kind] = float(s)
    report.run_info, report.times = info, times


def collect(run_dir: str | Path) -> RunReport:
    """Reads and validates every known result in ``run_dir``: each evaluation task's files (through
    its ``Task.collect``), the training manifest and log, and any other kind-tagged result.

    Raises:
        FileNotFoundError: if ``run_dir`` is not a folder.
        DataError: if a present file is malformed (the message names the file and the field).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    folder = RunFolder(run_dir)
    tasks = in_report_order()
    parts: dict[str, object] = {}
    # Results of one model per file (paired by the task) first, then training, then the results that
    # hold base and hotfixed in one file: the order the missing parts are listed in.
    for task in [t for t in tasks if not isinstance(t, FileTask)]:
        parts[task.name] = task.collect(folder)
    train = _collect_train(folder)
    for task in [t for t in tasks if isinstance(t, FileTask)]:
        parts[task.name] = task.collect(folder)
    report = RunReport(run_dir=run_dir.resolve(), train=train, parts=parts)
    report.other = _collect_other(run_dir, tasks)
    for kd in report.other:
        folder.record(kd.path)
    report.inputs, report.missing = folder.inputs, folder.missing
    _run_info(run_dir, report, tasks)
    return report
