"""The ``variants`` task: fixed/buggy rates on renamed, reformatted and re-wrapped cases
(``evaluation/variants.py``). Generation: the paper's settings (``GenerationConfig``'s defaults), the
same as ``codehotfix eval``, so a variant's rates compare with the original cases' rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codehotfix.data.cases import HotfixCase
from codehotfix.evaluation.tasks.base import FileTask, GenerationConfig, TaskResult
from codehotfix.evaluation.tasks.fields import check_field, check_rate
from codehotfix.evaluation.tasks.sections import Section, Table, fmt_change, fmt_rate, relative_change
from codehotfix.evaluation.variants import VARIANT_KINDS, run_variants

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedTokenizerBase

__all__ = ["VariantsTaskConfig", "VariantsTask", "DEFAULT_KINDS"]

DEFAULT_KINDS = ("rename", "reformat", "wrap")


@dataclass
class VariantsTaskConfig:
    """A variants run.

    Attributes:
        generation: how each variant is completed (``generation.seed`` also seeds the rewrites).
        kinds: variant kinds (``VARIANT_KINDS``).
        include_original: also measure the unmodified cases.
        cases: the hotfix cases file; ``fmt`` its format; ``limit`` only the first N cases.
    """

    generation: GenerationConfig = field(default_factory=GenerationConfig)
    kinds: tuple[str, ...] = DEFAULT_KINDS
    include_original: bool = True
    cases: str | None = None
    fmt: str = "auto"
    limit: int | None = None

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        for kind in self.kinds:
            VARIANT_KINDS.get(kind)  # KeyError listing the valid kinds, before any model loads


class VariantsTask(FileTask[VariantsTaskConfig]):
    name = "variants"
    title = "Variants of the hotfix cases (generalisation)"
    config_type = VariantsTaskConfig
    missing_names = ("variants",)
    files = ("variants.json",)
    command = "codehotfix effects (variants) → RUN_DIR/variants.json"

    def inputs(self, cfg: VariantsTaskConfig) -> list[HotfixCase]:
        from codehotfix.data.loaders import load_cases

        cases = load_cases(cfg.cases, cfg.fmt)
        return cases[:cfg.limit] if cfg.limit is not None else cases

    def run(self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, cfg: VariantsTaskConfig,
            inputs: object = None, *, progress: bool = True) -> TaskResult:
        cases = inputs if inputs is not None else self.inputs(cfg)
        return TaskResult(self, run_variants(model, tokenizer, cases, cfg.generation.eval_config(), kinds=cfg.kinds,
                                             seed=cfg.generation.seed, include_original=cfg.include_original,
                                             progress=progress))

    def summary(self, data: dict[str, Any]) -> dict[str, Any]:
        kinds = {k: {"n": b["n"], "skipped": b["skipped"],
                     "greedy": b["comparison"]["greedy"] if b["comparison"] else b["base"] and b["base"]["greedy"]}
                 for k, b in data["kinds"].items()}
        return {"kinds": kinds, "seconds": data["seconds"]}

    def check(self, data: dict[str, Any], path: Path) -> None:
        for name, v in check_field(data, "kinds", path, "", dict).items():
            where = f"kinds.{name}"
            check_field(v, "n", path, where, int)
            comp = check_field(v, "comparison", path, where, dict)
            for mode in ("greedy", "sampled"):
                m = check_field(comp, mode, path, f"{where}.comparison", dict)
                for key in ("fixed_before", "fixed_after", "buggy_before", "buggy_after"):
                    check_rate(m, key, path, f"{where}.comparison.{mode}")

    def analyze(self, d: dict[str, Any] | None) -> dict[str, Any] | None:
        if d is None:
            return None
        rows = {}
        for name, v in d["kinds"].items():
            rows[name] = {"n": v["n"], "skipped": v.get("skipped")}
            for mode in ("greedy", "sampled"):
                c = v["comparison"][mode]
                for label in ("fixed", "buggy"):
                    rows[name][f"{mode}_{label}_before"] = c[f"{label}_before"]
                    rows[name][f"{mode}_{label}_after"] = c[f"{label}_after"]
                    rows[name][f"{mode}_{label}_change_pct"] = relative_change(c[f"{label}_before"],
                                                                               c[f"{label}_after"])
        return {"kinds": rows, "skipped": len(d.get("skipped") or [])}

    def section(self, v: dict[str, Any] | None) -> Section:
        s = Section("variants", self.title)
        if v:
            rows = [[name, str(k["n"]), str(k["skipped"]) if k["skipped"] is not None else "",
                     *(f"{fmt_rate(k[f'{m}_{lab}_before'])} → {fmt_rate(k[f'{m}_{lab}_after'])} "
                       f"({fmt_change(k[f'{m}_{lab}_change_pct'])})"
                       for m in ("greedy", "sampled") for lab in ("fixed", "buggy"))]
                    for name, k in v["kinds"].items()]
            s.table(Table(["variant", "cases", "skipped", "greedy fixed", "greedy buggy", "sampled fixed",
                           "sampled buggy"], rows, f"{v['skipped']} variants could not be made."))
        return s
