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
from typing import Any, Callable

from codehotfix.errors import DataError
from codehotfix.files import sha256_file
from codehotfix.registry import Registry

__all__ = ["Missing", "TrainData", "CasePair", "RatesData", "HumanEvalRun", "KindData", "RunReport",
           "KINDS", "REPORT_FILES", "collect"]

# Files the report writes itself; never read back as inputs.
REPORT_FILES = ("report.html", "report.md", "report.json")

# Which command writes each part (shown where the part is missing).
COMMANDS = {
    "rates": "codehotfix run CASES --out RUN_DIR, or codehotfix demo --out RUN_DIR (or codehotfix eval CASES --json RUN_DIR/base_eval.json, "
             "then again with --adapter HOTFIX --json RUN_DIR/hotfix_eval.json)",
    "humaneval_base": "codehotfix run CASES --out RUN_DIR --humaneval N --allow-exec (or codehotfix humaneval "
                      "--allow-exec --json RUN_DIR/humaneval_base.json)",
    "humaneval_hotfix": "codehotfix humaneval --allow-exec --adapter RUN_DIR/hotfix "
                        "--json RUN_DIR/humaneval_hotfix.json",
    "train": "codehotfix train CASES --out RUN_DIR/hotfix (or codehotfix demo --out RUN_DIR)",
    "locality": "codehotfix effects (locality) → RUN_DIR/locality.json",
    "perplexity": "codehotfix effects (perplexity) → RUN_DIR/perplexity.json",
    "variants": "codehotfix effects (variants) → RUN_DIR/variants.json",
    "execfix": "codehotfix effects (execfix) → RUN_DIR/execfix.json",
}


@dataclass(frozen=True)
class Missing:
    """A report part whose inputs are absent: which files would fill it and which command writes them."""

    section: str
    files: tuple[str, ...]
    command: str


@dataclass
class TrainData:
    """The hotfix manifest (hotfix.json) and its per-step log (train_log.jsonl; empty if absent)."""

    manifest_path: Path
    manifest: dict[str, Any]
    log_path: Path | None
    steps: list[dict[str, float]]


@dataclass(frozen=True)
class CasePair:
    """One evaluation case before and after the hotfix (greedy labels, sampled rates, margins)."""

    id: str
    group: str
    greedy_before: str | None
    greedy_after: str | None
    fixed_before: float | None
    fixed_after: float | None
    buggy_before: float | None
    buggy_after: float | None
    margin_before: float
    margin_after: float


@dataclass
class RatesData:
    """Fixed/buggy rates before and after, overall and per group (topic or pattern).

    ``before``/``after`` are ``evaluation.rates.summarize`` blocks without ``by_group``; ``groups``
    maps each group to its (before, after) blocks; ``pairs`` holds per-case records when the run has
    base_eval.json and hotfix_eval.json (summary.json alone has none, so no paired tests).
    ``results`` holds the two eval files' contents (for the per-event tables of
    ``evaluation.compare``, computed in ``analysis``); ``events`` is that table as the demo stored it
    in summary.json, where the eval files are absent.
    """

    sources: list[str]
    before: dict[str, Any]
    after: dict[str, Any]
    groups: dict[str, tuple[dict[str, Any], dict[str, Any]]]
    pairs: list[CasePair] | None
    results: tuple[dict[str, Any], dict[str, Any]] | None = None
    events: dict[str, Any] | None = None


@dataclass
class HumanEvalRun:
    """One ``codehotfix humaneval --json`` result: per-task (n, correct, greedy passed) and timings."""

    path: Path
    model: str | None
    adapter: str | None
    pass_at_k: dict[str, float | None]
    tasks: dict[str, tuple[int, int, bool]]
    generation_s: float
    execution_s: float


@dataclass
class KindData:
    """A result file tagged with a top-level ``"kind"`` (locality, perplexity, …)."""

    path: Path
    kind: str
    data: dict[str, Any]


@dataclass
class RunReport:
    """Everything the report shows, validated; ``None`` parts are listed in ``missing``."""

    run_dir: Path
    inputs: dict[str, str] = field(default_factory=dict)  # file relative to run_dir -> sha256
    run_info: dict[str, Any] = field(default_factory=dict)
    train: TrainData | None = None
    rates: RatesData | None = None
    humaneval_base: HumanEvalRun | None = None
    humaneval_hotfix: HumanEvalRun | None = None
    kinds: dict[str, KindData] = field(default_factory=dict)
    other: list[KindData] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    missing: list[Missing] = field(default_factory=list)


# ---------------------------------------------------------------- validation helpers

_NUM = "number"


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top level, got {type(data).__name__}")
    return data


def _field(obj: Any, key: str | int, path: Path, where: str, kind: Any = _NUM, *, optional: bool = False) -> Any:
    """Returns ``obj[key]`` checked against ``kind`` (``_NUM``, a type or a tuple of types).

    Raises:
        DataError: naming ``path`` and the dotted field when it is missing or of the wrong type.
    """
    name = f"{where}.{key}" if where else str(key)
    if not isinstance(obj, dict) or key not in obj:
        if optional:
            return None
        raise DataError(f"{path}: missing field '{name}'")
    value = obj[key]
    if value is None and optional:
        return None
    if kind is _NUM:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        expected = "a finite number"
    else:
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float))
        expected = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}.get(kind, str(kind))
    if not ok:
        raise DataError(f"{path}: field '{name}' must be {expected}, got {json.dumps(value)[:60]}")
    return value


def _rate(obj: Any, key: str, path: Path, where: str, *, optional: bool = False) -> float | None:
    value = _field(obj, key, path, where, optional=optional)
    if value is not None and not 0.0 <= value <= 1.0:
        raise DataError(f"{path}: field '{where}.{key}' must be a rate in [0, 1], got {value}")
    return value


def _rates_block(block: Any, path: Path, where: str) -> dict[str, Any]:
    """Validates one ``summarize`` block (greedy/sampled rates with n, margin_mean)."""
    if not isinstance(block, dict):
        raise DataError(f"{path}: field '{where}' must be an object")
    for mode in ("greedy", "sampled"):
        m = _field(block, mode, path, where, dict)
        for key in ("fixed_rate", "buggy_rate"):
            _rate(m, key, path, f"{where}.{mode}")
        _field(m, "n", path, f"{where}.{mode}", int)
    _field(block, "margin_mean", path, where, optional=True)
    return {k: v for k, v in block.items() if k != "by_group"}


# ---------------------------------------------------------------- parts

def _collect_train(run_dir: Path, report: RunReport) -> None:
    for folder in (run_dir / "hotfix", run_dir):
        manifest_path = folder / "hotfix.json"
        if manifest_path.is_file():
            break
    else:
        report.missing.append(Missing("training", ("hotfix/hotfix.json", "hotfix/train_log.jsonl"), COMMANDS["train"]))
        return
    manifest = _load_json(manifest_path)
    for key in ("steps", "train_seconds"):
        _field(manifest, key, manifest_path, "")
    _field(manifest, "final_losses", manifest_path, "", dict, optional=True)
    report.inputs[str(manifest_path.relative_to(run_dir))] = sha256_file(manifest_path)
    log_path = folder / "train_log.jsonl"
    steps: list[dict[str, float]] = []
    if log_path.is_file():
        report.inputs[str(log_path.relative_to(run_dir))] = sha256_file(log_path)
        for lineno, line in enumerate(log_path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{log_path}:{lineno}: invalid JSON: {e.msg}") from None
            where = f"line {lineno}"
            _field(row, "step", log_path, where, int)
            steps.append({k: v for k, v in row.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)})
    else:
        report.missing.append(Missing("training curves", (str(log_path.relative_to(run_dir)),), COMMANDS["train"]))
    report.train = TrainData(manifest_path, manifest, log_path if steps else None, steps)


def _case_records(data: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    cases = _field(data, "cases", path, "", list)
    out: dict[str, dict[str, Any]] = {}
    for i, rec in enumerate(cases):
        where = f"cases[{i}]"
        cid = _field(rec, "id", path, where, str)
        if cid in out:
            raise DataError(f"{path}: field '{where}.id': duplicate case id {cid!r}")
        _field(rec, "greedy_label", path, where, str, optional=True)
        _rate(rec, "fixed_rate", path, where, optional=True)
        _rate(rec, "buggy_rate", path, where, optional=True)
        _field(rec, "margin", path, where)
        out[cid] = rec
    return out


def _collect_rates(run_dir: Path, report: RunReport) -> None:
    base_path, hot_path = run_dir / "base_eval.json", run_dir / "hotfix_eval.json"
    summary_path = run_dir / "summary.json"
    if base_path.is_file() and hot_path.is_file():
        base, hot = _load_json(base_path), _load_json(hot_path)
        before = _rates_block(_field(base, "summary", base_path, "", dict), base_path, "summary")
        after = _rates_block(_field(hot, "summary", hot_path, "", dict), hot_path, "summary")
        groups_b = _field(base["summary"], "by_group", base_path, "summary", dict, optional=True) or {}
        groups_a = _field(hot["summary"], "by_group", hot_path, "summary", dict, optional=True) or {}
        groups = {g: (_rates_block(groups_b[g], base_path, f"summary.by_group.{g}"),
                      _rates_block(groups_a[g], hot_path, f"summary.by_group.{g}"))
                  for g in groups_b if g in groups_a}
        rb, ra = _case_records(base, base_path), _case_records(hot, hot_path)
        if set(rb) != set(ra):
            only_b, only_a = sorted(set(rb) - set(ra)), sorted(set(ra) - set(rb))
            raise DataError(f"{base_path} and {hot_path} evaluate different cases (field 'cases[].id'): "
                            f"{len(only_b)} only before {only_b[:3]}, {len(only_a)} only after {only_a[:3]}")
        pairs = [CasePair(cid, str(rb[cid].get("group") or "(none)"), rb[cid].get("greedy_label"),
                          ra[cid].get("greedy_label"), rb[cid].get("fixed_rate"), ra[cid].get("fixed_rate"),
                          rb[cid].get("buggy_rate"), ra[cid].get("buggy_rate"), rb[cid]["margin"], ra[cid]["margin"])
                 for cid in rb]
        for p in (base_path, hot_path):
            report.inputs[p.name] = sha256_file(p)
        report.rates = RatesData([base_path.name, hot_path.name], before, after, groups, pairs, (base, hot))
        return
    if summary_path.is_file():
        summary = _load_json(summary_path)
        if "comparison" in summary or "by_topic" in summary:
            report.inputs[summary_path.name] = sha256_file(summary_path)
            report.rates = _rates_from_summary(summary, summary_path)
            return
    absent = tuple(p.name for p in (base_path, hot_path) if not p.is_file())
    report.missing.append(Missing("fixed/buggy rates", absent + ("(or summary.json)",), COMMANDS["rates"]))


def _rates_from_summary(summary: dict[str, Any], path: Path) -> RatesData:
    """summary.json holds the overall rates only as a comparison; sizes come from the per-topic blocks."""
    comp = _field(summary, "comparison", path, "", dict)
    by_topic = _field(summary, "by_topic", path, "", dict)
    groups = {g: (_rates_block(_field(t, "before", path, f"by_topic.{g}", dict), path, f"by_topic.{g}.before"),
                  _rates_block(_field(t, "after", path, f"by_topic.{g}", dict), path, f"by_topic.{g}.after"))
              for g, t in by_topic.items()}
    blocks = []
    for side in ("before", "after"):
        block: dict[str, Any] = {"cases": sum(b[0 if side == "before" else 1].get("cases", 0) for b in groups.values())}
        for mode in ("greedy", "sampled"):
            m = _field(comp, mode, path, "comparison", dict)
            block[mode] = {"fixed_rate": _rate(m, f"fixed_{side}", path, f"comparison.{mode}"),
                           "buggy_rate": _rate(m, f"buggy_{side}", path, f"comparison.{mode}"),
                           "n": sum(b[0 if side == "before" else 1][mode]["n"] for b in groups.values())}
        block["margin_mean"] = _field(comp, f"margin_{side}", path, "comparison", optional=True)
        blocks.append(block)
    events = _field(summary, "events", path, "", dict, optional=True)
    return RatesData([path.name], blocks[0], blocks[1], groups, None, events=events)


def _humaneval(path: Path) -> HumanEvalRun:
    data = _load_json(path)
    pak = _field(data, "pass_at_k", path, "", dict)
    for k in pak:
        _field(pak, k, path, "pass_at_k", optional=True)
    tasks: dict[str, tuple[int, int, bool]] = {}
    for i, t in enumerate(_field(data, "tasks", path, "", list)):
        where = f"tasks[{i}]"
        tid = _field(t, "task_id", path, where, str)
        statuses = _field(t, "statuses", path, where, list)
        if not statuses:
            raise DataError(f"{path}: field '{where}.statuses' is empty")
        correct = sum(s == "passed" for s in statuses)
        tasks[tid] = (len(statuses), correct, statuses[0] == "passed")
    if not tasks:
        raise DataError(f"{path}: field 'tasks' is empty")
    return HumanEvalRun(path, data.get("model"), data.get("adapter"), pak, tasks,
                        float(_field(data, "generation_s", path, "", optional=True) or 0.0),
                        float(_field(data, "execution_s", path, "", optional=True) or 0.0))


# ------------------------------------------------ kind-tagged side-effect results

KINDS: Registry[Callable[[dict[str, Any], Path], None]] = Registry("report input kind")


def _records(data: dict[str, Any], path: Path, fields: dict[str, Any]) -> None:
    for i, rec in enumerate(_field(data, "records", path, "", list)):
        for key, kind in fields.items():
            _field(rec, key, path, f"records[{i}]", kind)


@KINDS.register("locality")
def _check_locality(data: dict[str, Any], path: Path) -> None:
    _field(data, "prompts", path, "", int)
    _rate(data, "unchanged_fraction", path, "")
    _field(data, "mean_kl", path, "")
    _records(data, path, {"id": str, "unchanged": bool, "kl": _NUM})


@KINDS.register("perplexity")
def _check_perplexity(data: dict[str, Any], path: Path) -> None:
    base, hot = _field(data, "base", path, ""), _field(data, "hotfixed", path, "")
    rel = _field(data, "relative_change", path, "")
    # A fraction (0.02 = +2%) is the contract; a percentage here would be shown 100x too large.
    if base > 0 and not math.isclose(rel, hot / base - 1, rel_tol=1e-2, abs_tol=1e-3):
        raise DataError(f"{path}: field 'relative_change' is {rel}, but hotfixed/base - 1 = {hot / base - 1:.4g} "
                        "(a fraction is expected, 0.02 = +2%)")
    ci = _field(data, "ci95", path, "", list, optional=True)
    if ci is not None and (len(ci) != 2 or not all(isinstance(x, (int, float)) for x in ci) or ci[0] > ci[1]):
        raise DataError(f"{path}: field 'ci95' must be [low, high] with low <= high, got {ci}")
    _field(data, "corpus", path, "", str, optional=True)
    _records(data, path, {"id": str, "tokens": int, "base_nll": _NUM, "hotfixed_nll": _NUM})


@KINDS.register("variants")
def _check_variants(data: dict[str, Any], path: Path) -> None:
    for name, v in _field(data, "kinds", path, "", dict).items():
        where = f"kinds.{name}"
        _field(v, "n", path, where, int)
        comp = _field(v, "comparison", path, where, dict)
        for mode in ("greedy", "sampled"):
            m = _field(comp, mode, path, f"{where}.comparison", dict)
            for key in ("fixed_before", "fixed_after", "buggy_before", "buggy_after"):
                _rate(m, key, path, f"{where}.comparison.{mode}")


@KINDS.register("execfix")
def _check_execfix(data: dict[str, Any], path: Path) -> None:
    _field(data, "cases", path, "", int)
    for side in ("base", "hotfixed"):
        block = _field(data, side, path, "", dict)
        for key in ("pass_rate", "greedy_pass_rate", "string_fixed_rate"):
            _rate(block, key, path, side, optional=True)
    _field(data, "reference", path, "", dict, optional=True)
    mc = _field(data, "mcnemar", path, "", dict, optional=True)
    if mc is not None and "p_value" in mc:
        _field(mc, "p_value", path, "mcnemar")


def _collect_kinds(run_dir: Path, report: RunReport) -> None:
    known = {"base_eval.json", "hotfix_eval.json", "summary.json", "config.json", "split.json", "hotfix.json",
             "humaneval_base.json", "humaneval_hotfix.json", *REPORT_FILES}
    for kind in KINDS:
        path = run_dir / f"{kind}.json"
        known.add(path.name)
        if not path.is_file():
            report.missing.append(Missing(kind, (path.name,), COMMANDS[kind]))
            continue
        data = _load_json(path)
        if data.get("kind") != kind:
            raise DataError(f"{path}: field 'kind' must be {kind!r}, got {json.dumps(data.get('kind'))}")
        KINDS.get(kind)(data, path)
        report.inputs[path.name] = sha256_file(path)
        report.kinds[kind] = KindData(path, kind, data)
    for path in sorted(run_dir.glob("*.json")):
        if path.name in known:
            continue
        data = _load_json(path)
        if isinstance(data.get("kind"), str):
            report.inputs[path.name] = sha256_file(path)
            report.other.append(KindData(path, data["kind"], data))


# ---------------------------------------------------------------- run info and time

def _run_info(run_dir: Path, report: RunReport) -> None:
    info: dict[str, Any] = {}
    summary_path = run_dir / "summary.json"
    summary = _load_json(summary_path) if summary_path.is_file() else {}
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
        for phase, s in summary["seconds"].items():
            times[str(phase)] = float(_field(summary["seconds"], phase, summary_path, "seconds"))
    else:
        if report.rates and len(report.rates.sources) == 2:
            for name, label in (("base_eval.json", "base eval"), ("hotfix_eval.json", "hotfix eval")):
                s = _load_json(run_dir / name).get("seconds")
                if isinstance(s, (int, float)):
                    times[label] = float(s)
        if report.train:
            m = report.train.manifest
            times["training"] = float(m.get("wall_seconds") or m["train_seconds"])
    for label, run in (("HumanEval base", report.humaneval_base), ("HumanEval hotfixed", report.humaneval_hotfix)):
        if run:
            times[f"{label}: generation"] = run.generation_s
            times[f"{label}: execution"] = run.execution_s
    for kd in [*report.kinds.values(), *report.other]:
        s = kd.data.get("seconds")
        if isinstance(s, (int, float)) and not isinstance(s, bool):
            times[kd.kind] = float(s)
    report.run_info, report.times = info, times


def collect(run_dir: str | Path) -> RunReport:
    """Reads and validates every known result in ``run_dir``.

    Raises:
        FileNotFoundError: if ``run_dir`` is not a folder.
        DataError: if a present file is malformed (the message names the file and the field).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    report = RunReport(run_dir=run_dir.resolve())
    _collect_rates(run_dir, report)
    for attr, name in (("humaneval_base", "humaneval_base"), ("humaneval_hotfix", "humaneval_hotfix")):
        path = run_dir / f"{name}.json"
        if path.is_file():
            setattr(report, attr, _humaneval(path))
            report.inputs[path.name] = sha256_file(path)
        else:
            report.missing.append(Missing(f"HumanEval ({name.split('_')[1]})", (path.name,), COMMANDS[name]))
    _collect_train(run_dir, report)
    _collect_kinds(run_dir, report)
    _run_info(run_dir, report)
    return report
