"""The ``execfix`` task: do the completed lines make the case's tests pass? (``evaluation/execfix.py``)

Generation: the paper's settings (``GenerationConfig``'s defaults), the same as ``codehotfix eval``,
so the string-match rates printed beside the pass rates are those of the same lines. Generated code
runs only in the sandbox, and only with ``allow_exec``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codehotfix.data.cases import HotfixCase
from codehotfix.evaluation import stats
from codehotfix.evaluation.execfix import ExecFixConfig, run_execfix
from codehotfix.evaluation.tasks.base import FileTask, GenerationConfig, TaskResult
from codehotfix.evaluation.tasks.fields import check_field, check_rate
from codehotfix.evaluation.tasks.sections import Section, Table, fmt_rate, fmt_value, verdict

if TYPE_CHECKING:
    from pathlib import Path

    from torch import nn
    from transformers import PreTrainedTokenizerBase

__all__ = ["ExecFixTaskConfig", "ExecFixTask"]


@dataclass
class ExecFixTaskConfig:
    """An execfix run: how the lines are generated, how the programs run, and which cases.

    Attributes:
        generation: how each case is completed.
        execution: sandbox settings (``allow_exec`` must be True).
        cases: cases with tests (e.g. HumanEvalFix); ``fmt`` its format; ``limit`` only the first N.
    """

    generation: GenerationConfig = field(default_factory=GenerationConfig)
    execution: ExecFixConfig = field(default_factory=lambda: ExecFixConfig(allow_exec=True))
    cases: str | None = None
    fmt: str = "auto"
    limit: int | None = None


class ExecFixTask(FileTask[ExecFixTaskConfig]):
    name = "execfix"
    title = "Executed fixes (do the completions run?)"
    config_type = ExecFixTaskConfig
    missing_names = ("execfix",)
    files = ("execfix.json",)
    command = "codehotfix effects (execfix) → RUN_DIR/execfix.json"
    summary_keys = ("cases", "base", "hotfixed", "reference", "mcnemar", "seconds")

    def inputs(self, cfg: ExecFixTaskConfig) -> list[HotfixCase]:
        from codehotfix.data.loaders import load_cases

        cases = load_cases(cfg.cases, cfg.fmt)
        return cases[:cfg.limit] if cfg.limit is not None else cases

    def run(self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, cfg: ExecFixTaskConfig,
            inputs: object = None, *, progress: bool = True) -> TaskResult:
        cases = inputs if inputs is not None else self.inputs(cfg)
        return TaskResult(self, run_execfix(model, tokenizer, cases, cfg.generation.eval_config(), cfg.execution,
                                            progress=progress))

    def check(self, data: dict[str, Any], path: Path) -> None:
        check_field(data, "cases", path, "", int)
        for side in ("base", "hotfixed"):
            block = check_field(data, side, path, "", dict)
            for key in ("pass_rate", "greedy_pass_rate", "string_fixed_rate"):
                check_rate(block, key, path, side, optional=True)
        check_field(data, "reference", path, "", dict, optional=True)
        mc = check_field(data, "mcnemar", path, "", dict, optional=True)
        if mc is not None and "p_value" in mc:
            check_field(mc, "p_value", path, "mcnemar")

    def analyze(self, d: dict[str, Any] | None) -> dict[str, Any] | None:
        if d is None:
            return None
        out = {"cases": d["cases"], "base": d["base"], "hotfixed": d["hotfixed"], "reference": d.get("reference"),
               "mcnemar": d.get("mcnemar")}
        b, a = d["base"].get("greedy_pass_rate"), (d["hotfixed"] or {}).get("greedy_pass_rate")
        if b is not None and a is not None:
            text = f"Executed fixes: greedy pass rate {b:.3f}→{a:.3f} on {d['cases']} cases"
            mc = d.get("mcnemar") or {}
            if isinstance(mc.get("p_value"), (int, float)):
                text += f", McNemar {stats.format_p(mc['p_value'])}: {verdict(mc['p_value'])}"
            out["headline"] = text
        return out

    def section(self, e: dict[str, Any] | None) -> Section:
        s = Section("execfix", self.title)
        if e:
            if e.get("headline"):
                s.p(e["headline"] + ".")
            keys = ["pass_rate", "greedy_pass_rate", "string_fixed_rate"]
            s.table(Table(["model", *keys], [[side, *(fmt_rate((e[side] or {}).get(k)) for k in keys)]
                                             for side in ("base", "hotfixed")], f"{e['cases']} cases."))
            if e.get("reference"):
                s.table(Table(list(e["reference"]), [[fmt_value(x) for x in e["reference"].values()]],
                              "Reference: the cases' own fixed and buggy lines."))
            if e.get("mcnemar"):
                s.table(Table(list(e["mcnemar"]), [[fmt_value(x) for x in e["mcnemar"].values()]],
                              "McNemar (greedy)."))
        return s
