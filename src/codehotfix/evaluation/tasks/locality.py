"""The ``locality`` task: do unrelated completions stay the same? (``evaluation/locality.py``)

Greedy continuations of unrelated prompts with the adapter off and on, their exact agreement and
KL(base ‖ hotfixed). Generation: greedy only, ``LocalityConfig``'s 48 tokens — a prompt's next few
lines, enough to see a change, short enough for 64 prompts on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

import numpy as np

from codehotfix.evaluation import stats
from codehotfix.evaluation.locality import CodePrompt, LocalityConfig, load_prompts, run_locality
from codehotfix.evaluation.tasks.base import FileTask, GenerationConfig, TaskResult
from codehotfix.evaluation.tasks.fields import NUM, check_field, check_rate
from codehotfix.evaluation.tasks.sections import Section, Table, fmt_ci, fmt_rate

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedTokenizerBase

__all__ = ["LocalityTaskConfig", "LocalityTask"]


def _generation() -> GenerationConfig:
    d = LocalityConfig()
    return GenerationConfig(samples=0, max_new_tokens=d.max_new_tokens, batch_size=d.batch_size,
                            max_context_tokens=d.max_context_tokens)


@dataclass
class LocalityTaskConfig:
    """A locality run.

    Attributes:
        generation: greedy decoding settings (max_new_tokens, batch_size, max_context_tokens are read).
        compare_lines: non-blank lines compared for "unchanged".
        kl_positions: prompt positions (from its end) in the KL.
        prompts: JSONL ``{id, prompt}`` or a folder of .py files; None for the built-in prompts.
        limit: only the first N prompts.
    """

    generation: GenerationConfig = field(default_factory=_generation)
    compare_lines: int = LocalityConfig.compare_lines
    kl_positions: int = LocalityConfig.kl_positions
    prompts: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        self.locality_config()  # validates

    def locality_config(self) -> LocalityConfig:
        g = self.generation
        return LocalityConfig(max_new_tokens=g.max_new_tokens, compare_lines=self.compare_lines,
                              kl_positions=self.kl_positions, max_context_tokens=g.max_context_tokens,
                              batch_size=g.batch_size)


class LocalityTask(FileTask[LocalityTaskConfig]):
    name = "locality"
    title = "Locality (unrelated prompts)"
    config_type = LocalityTaskConfig
    missing_names = ("locality",)
    files = ("locality.json",)
    command = "codehotfix effects (locality) → RUN_DIR/locality.json"
    summary_keys = ("prompts", "unchanged_fraction", "unchanged_fraction_full", "mean_kl", "seconds")

    def inputs(self, cfg: LocalityTaskConfig) -> list[CodePrompt]:
        return load_prompts(cfg.prompts, limit=cfg.limit)

    def run(self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, cfg: LocalityTaskConfig,
            inputs: object = None, *, progress: bool = True) -> TaskResult:
        prompts = inputs if inputs is not None else self.inputs(cfg)
        c = cfg.locality_config()
        data = run_locality(model, tokenizer, prompts, max_new_tokens=c.max_new_tokens,
                            compare_lines=c.compare_lines, kl_positions=c.kl_positions,
                            max_context_tokens=c.max_context_tokens, batch_size=c.batch_size, progress=progress)
        data["prompts_source"] = str(cfg.prompts) if cfg.prompts else "builtin:locality"
        return TaskResult(self, data)

    def check(self, data: dict[str, Any], path: Path) -> None:
        check_field(data, "prompts", path, "", int)
        check_rate(data, "unchanged_fraction", path, "")
        check_field(data, "mean_kl", path, "")
        for i, rec in enumerate(check_field(data, "records", path, "", list)):
            for key, kind in {"id": str, "unchanged": bool, "kl": NUM}.items():
                check_field(rec, key, path, f"records[{i}]", kind)

    def analyze(self, d: dict[str, Any] | None) -> dict[str, Any] | None:
        if d is None:
            return None
        kls = [r["kl"] for r in d.get("records", [])]
        unchanged = sum(r["unchanged"] for r in d.get("records", []))
        n = len(kls) or d["prompts"]
        count = unchanged if kls else round(d["unchanged_fraction"] * n)
        ci = list(stats.wilson_interval(count, n)) if n else None
        out = {"prompts": d["prompts"], "unchanged_fraction": d["unchanged_fraction"], "unchanged_ci95": ci,
               "mean_kl": d["mean_kl"], "median_kl": median(kls) if kls else None,
               "p95_kl": float(np.quantile(kls, 0.95)) if kls else None, "max_kl": max(kls) if kls else None}
        ci_text = f" (95% CI {100 * ci[0]:.1f}–{100 * ci[1]:.1f}%)" if ci else ""
        out["headline"] = (f"Locality: {100 * d['unchanged_fraction']:.1f}% of {d['prompts']} unrelated prompts "
                           f"unchanged{ci_text}, mean KL {d['mean_kl']:.4g} nats")
        return out

    def section(self, loc: dict[str, Any] | None) -> Section:
        s = Section("locality", self.title)
        if loc:
            s.p(loc["headline"] + ".")
            s.table(Table(["prompts", "unchanged", "95% CI", "mean KL", "median KL", "95th pct KL", "max KL"],
                          [[str(loc["prompts"]), fmt_rate(loc["unchanged_fraction"]), fmt_ci(loc["unchanged_ci95"]),
                            f"{loc['mean_kl']:.4g}", *(("n/a" if loc[k] is None else f"{loc[k]:.4g}")
                                                       for k in ("median_kl", "p95_kl", "max_kl"))]],
                          "KL(base ‖ hotfixed) of next-token distributions, nats."))
            s.plot("locality")
        return s
