"""The ``perplexity`` task: perplexity of held-out code, base vs hotfixed (``evaluation/perplexity.py``).

Teacher-forced, no generation: the shared ``GenerationConfig`` contributes only ``batch_size`` (4
windows of ``max_tokens`` per forward pass, ``PerplexityConfig``'s default) and ``seed`` (the
bootstrap's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codehotfix.errors import DataError
from codehotfix.evaluation.perplexity import CorpusText, PerplexityConfig, load_corpus, run_perplexity
from codehotfix.evaluation.tasks.base import FileTask, GenerationConfig, TaskResult
from codehotfix.evaluation.tasks.fields import NUM, check_field
from codehotfix.evaluation.tasks.sections import Section, Table, fmt_change, fmt_rate, signed

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedTokenizerBase

__all__ = ["PerplexityTaskConfig", "PerplexityTask"]


def _generation() -> GenerationConfig:
    return GenerationConfig(samples=0, batch_size=PerplexityConfig.batch_size, seed=PerplexityConfig.seed)


@dataclass
class PerplexityTaskConfig:
    """A perplexity run.

    Attributes:
        generation: ``batch_size`` (windows per forward pass) and ``seed`` (bootstrap) are read.
        max_tokens: window length; longer texts are split.
        n_resamples: bootstrap resamples for the interval.
        corpus: JSONL ``{id, text}`` or a folder of .py files; None for the built-in held-out code.
        limit: only the first N texts.
    """

    generation: GenerationConfig = field(default_factory=_generation)
    max_tokens: int = PerplexityConfig.max_tokens
    n_resamples: int = PerplexityConfig.n_resamples
    corpus: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        self.perplexity_config()  # validates

    def perplexity_config(self) -> PerplexityConfig:
        return PerplexityConfig(max_tokens=self.max_tokens, batch_size=self.generation.batch_size,
                                n_resamples=self.n_resamples, seed=self.generation.seed)


class PerplexityTask(FileTask[PerplexityTaskConfig]):
    name = "perplexity"
    title = "Perplexity (held-out code)"
    config_type = PerplexityTaskConfig
    missing_names = ("perplexity",)
    files = ("perplexity.json",)
    command = "codehotfix effects (perplexity) → RUN_DIR/perplexity.json"
    summary_keys = ("corpus", "tokens", "base", "hotfixed", "relative_change", "ci95", "seconds")

    def inputs(self, cfg: PerplexityTaskConfig) -> tuple[str, list[CorpusText]]:
        return load_corpus(cfg.corpus, limit=cfg.limit)

    def run(self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, cfg: PerplexityTaskConfig,
            inputs: object = None, *, progress: bool = True) -> TaskResult:
        name, texts = inputs if inputs is not None else self.inputs(cfg)
        c = cfg.perplexity_config()
        return TaskResult(self, run_perplexity(model, tokenizer, texts, corpus=name, max_tokens=c.max_tokens,
                                               batch_size=c.batch_size, n_resamples=c.n_resamples, seed=c.seed,
                                               progress=progress))

    def check(self, data: dict[str, Any], path: Path) -> None:
        base, hot = check_field(data, "base", path, ""), check_field(data, "hotfixed", path, "")
        rel = check_field(data, "relative_change", path, "")
        # A fraction (0.02 = +2%) is the contract; a percentage here would be shown 100x too large.
        if base > 0 and not math.isclose(rel, hot / base - 1, rel_tol=1e-2, abs_tol=1e-3):
            raise DataError(f"{path}: field 'relative_change' is {rel}, but hotfixed/base - 1 = {hot / base - 1:.4g} "
                            "(a fraction is expected, 0.02 = +2%)")
        ci = check_field(data, "ci95", path, "", list, optional=True)
        if ci is not None and (len(ci) != 2 or not all(isinstance(x, (int, float)) for x in ci) or ci[0] > ci[1]):
            raise DataError(f"{path}: field 'ci95' must be [low, high] with low <= high, got {ci}")
        check_field(data, "corpus", path, "", str, optional=True)
        for i, rec in enumerate(check_field(data, "records", path, "", list)):
            for key, kind in {"id": str, "tokens": int, "base_nll": NUM, "hotfixed_nll": NUM}.items():
                check_field(rec, key, path, f"records[{i}]", kind)

    def analyze(self, d: dict[str, Any] | None) -> dict[str, Any] | None:
        if d is None:
            return None
        records = d.get("records", [])
        files = [{"id": r["id"], "tokens": r["tokens"], "base": math.exp(r["base_nll"] / r["tokens"]),
                  "hotfixed": math.exp(r["hotfixed_nll"] / r["tokens"])} for r in records if r["tokens"] > 0]
        note = None
        if files:
            tokens = sum(r["tokens"] for r in records)
            pooled = math.exp(sum(r["base_nll"] for r in records) / tokens)
            if not math.isclose(pooled, d["base"], rel_tol=0.01):
                note = (f"the per-file records give a pooled base perplexity of {pooled:.3g}, not {d['base']:.3g}: "
                        "check that base_nll is the summed NLL (nats) over the record's tokens")
        ci = d.get("ci95")
        ci_text = f" (95% CI {signed(100 * ci[0])}% to {signed(100 * ci[1])}%)" if ci else ""
        return {"corpus": d.get("corpus"), "tokens": d.get("tokens"), "base": d["base"], "hotfixed": d["hotfixed"],
                "relative_change": d["relative_change"], "ci95": ci, "files": files, "note": note,
                "headline": (f"Perplexity on {d.get('corpus') or 'held-out code'}: "
                             f"{d['base']:.3f}→{d['hotfixed']:.3f} "
                             f"({signed(100 * d['relative_change'])}%{ci_text})")}

    def section(self, p: dict[str, Any] | None, limit: int = 25) -> Section:
        s = Section("perplexity", self.title)
        if p:
            s.p(p["headline"] + ".")
            if p["note"]:
                s.p("Note: " + p["note"] + ".")
            s.table(Table(["corpus", "tokens", "base", "hotfixed", "relative change", "95% CI"],
                          [[str(p["corpus"]), str(p["tokens"]), fmt_rate(p["base"]), fmt_rate(p["hotfixed"]),
                            fmt_change(100 * p["relative_change"]),
                            f"{fmt_change(100 * p['ci95'][0])} to {fmt_change(100 * p['ci95'][1])}"
                            if p["ci95"] else "n/a"]]))
            files = sorted(p["files"], key=lambda f: -f["tokens"])[:limit]
            if files:
                s.table(Table(["file", "tokens", "base", "hotfixed"],
                              [[f["id"], str(f["tokens"]), fmt_rate(f["base"]), fmt_rate(f["hotfixed"])]
                               for f in files], f"Per file (largest {len(files)} of {len(p['files'])})."))
            s.plot("perplexity")
        return s
