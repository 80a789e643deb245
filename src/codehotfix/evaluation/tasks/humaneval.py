"""The ``humaneval`` task: HumanEval pass@k, generated code run in the sandbox (``evaluation/humaneval.py``).

Generation: greedy (temperature 0), one completion per problem, ``HumanEvalConfig``'s 384 tokens and
8 prompts per batch; each file holds one model (``humaneval_base.json`` / ``humaneval_hotfix.json``),
and the report pairs the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from codehotfix.errors import DataError
from codehotfix.evaluation import stats
from codehotfix.evaluation.humaneval import HumanEvalConfig, run_humaneval
from codehotfix.evaluation.tasks.base import GenerationConfig, Task, TaskResult
from codehotfix.evaluation.tasks.fields import Missing, RunFolder, check_field, load_json
from codehotfix.evaluation.tasks.sections import Section, Table, fmt_ci, fmt_rate, signed, verdict

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedTokenizerBase

__all__ = ["HumanEvalTaskConfig", "HumanEvalTask", "HumanEvalRun", "CacheKey"]

_D = HumanEvalConfig  # its class attributes are the defaults


def _generation() -> GenerationConfig:
    # A HumanEval prompt is a whole function signature and docstring: keep 2048 tokens of it.
    return GenerationConfig(samples=_D.samples, temperature=_D.temperature, max_new_tokens=_D.max_new_tokens,
                            batch_size=_D.batch_size, seed=_D.seed, max_context_tokens=2048)


@dataclass
class HumanEvalTaskConfig:
    """A HumanEval run: generation settings plus the problems, pass@k and the sandbox's settings
    (each as in ``HumanEvalConfig``, which validates them)."""

    generation: GenerationConfig = field(default_factory=_generation)
    limit: int | None = None
    exclude: tuple[str, ...] = ()
    k: tuple[int, ...] = _D.k
    timeout_s: float = _D.timeout_s
    memory_mb: int = _D.memory_mb
    workers: int | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    allow_exec: bool = False
    allow_weak_isolation: bool = False

    def __post_init__(self) -> None:
        self.humaneval_config()  # validates (allow_exec included) before any model loads

    def humaneval_config(self) -> HumanEvalConfig:
        g = self.generation
        return HumanEvalConfig(limit=self.limit, exclude=tuple(self.exclude), samples=g.samples,
                               temperature=g.temperature, max_new_tokens=g.max_new_tokens, k=tuple(self.k),
                               seed=g.seed, batch_size=g.batch_size, timeout_s=self.timeout_s,
                               memory_mb=self.memory_mb, workers=self.workers, cache_dir=self.cache_dir,
                               use_cache=self.use_cache, allow_exec=self.allow_exec,
                               allow_weak_isolation=self.allow_weak_isolation)


@dataclass(frozen=True)
class CacheKey:
    """What the generation cache is keyed by: the base weights and the adapter weights (None: none)."""

    model_checksum: str
    adapter_checksum: str | None = None


@dataclass
class HumanEvalRun:
    """One HumanEval result file: per-task (n, correct, greedy passed) and timings."""

    path: Path
    model: str | None
    adapter: str | None
    pass_at_k: dict[str, float | None]
    tasks: dict[str, tuple[int, int, bool]]
    generation_s: float
    execution_s: float


_COMMANDS = {
    "base": "codehotfix run CASES --out RUN_DIR --humaneval N --allow-exec (or codehotfix humaneval "
            "--allow-exec --json RUN_DIR/humaneval_base.json)",
    "hotfix": "codehotfix humaneval --allow-exec --adapter RUN_DIR/hotfix --json RUN_DIR/humaneval_hotfix.json",
}


def _read_run(data: dict[str, Any], path: Path) -> HumanEvalRun:
    pak = check_field(data, "pass_at_k", path, "", dict)
    for k in pak:
        check_field(pak, k, path, "pass_at_k", optional=True)
    tasks: dict[str, tuple[int, int, bool]] = {}
    for i, t in enumerate(check_field(data, "tasks", path, "", list)):
        where = f"tasks[{i}]"
        tid = check_field(t, "task_id", path, where, str)
        statuses = check_field(t, "statuses", path, where, list)
        if not statuses:
            raise DataError(f"{path}: field '{where}.statuses' is empty")
        tasks[tid] = (len(statuses), sum(s == "passed" for s in statuses), statuses[0] == "passed")
    if not tasks:
        raise DataError(f"{path}: field 'tasks' is empty")
    return HumanEvalRun(path, data.get("model"), data.get("adapter"), pak, tasks,
                        float(check_field(data, "generation_s", path, "", optional=True) or 0.0),
                        float(check_field(data, "execution_s", path, "", optional=True) or 0.0))


def _one_side(run: HumanEvalRun) -> dict[str, Any]:
    counts = list(run.tasks.values())
    greedy = all(n == 1 for n, _, _ in counts)
    out: dict[str, Any] = {"file": run.path.name, "model": run.model, "adapter": run.adapter, "problems": len(counts),
                           "samples_per_problem": sorted({n for n, _, _ in counts}), "pass_at_k": {}}
    for key in run.pass_at_k:
        k = int(key.split("@")[1])
        value = stats.mean_pass_at_k([(n, c) for n, c, _ in counts], k)
        if value is None:
            ci = None
        elif greedy:
            ci = list(stats.wilson_interval(sum(c for _, c, _ in counts), len(counts)))
        else:
            ci = list(stats.bootstrap_mean_ci([stats.pass_at_k(n, c, k) for n, c, _ in counts]))
        out["pass_at_k"][key] = {"value": value, "ci95": ci, "correct": sum(c for _, c, _ in counts)}
    return out


def _paired(base: HumanEvalRun, hot: HumanEvalRun) -> tuple[dict[str, Any], str]:
    """The paired test of the same problems before and after, and its headline."""
    if set(base.tasks) != set(hot.tasks):
        raise DataError(f"{base.path} and {hot.path} cover different HumanEval problems (field 'tasks[].task_id'): "
                        f"{len(base.tasks)} vs {len(hot.tasks)}; run both with the same --limit/--exclude")
    ids = list(base.tasks)
    greedy = all(base.tasks[t][0] == 1 and hot.tasks[t][0] == 1 for t in ids)
    b_rate = [base.tasks[t][1] / base.tasks[t][0] for t in ids]
    a_rate = [hot.tasks[t][1] / hot.tasks[t][0] for t in ids]
    ci = stats.paired_bootstrap_ci(b_rate, a_rate)
    diff = float(np.mean(a_rate) - np.mean(b_rate))
    pa, pb = float(np.mean(b_rate)), float(np.mean(a_rate))
    if greedy:
        r = stats.mcnemar_exact([base.tasks[t][2] for t in ids], [hot.tasks[t][2] for t in ids])
        test = {"test": "McNemar exact", "lost": r.lost, "gained": r.gained, "p_value": r.p_value}
        detail = f"{r.lost} problems lost, {r.gained} gained; McNemar exact {stats.format_p(r.p_value)}"
    else:
        w = stats.wilcoxon_paired(b_rate, a_rate)
        test = {"test": "Wilcoxon signed-rank", "changed_problems": w.n_nonzero, "p_value": w.p_value}
        detail = f"{w.n_nonzero} problems changed; Wilcoxon {stats.format_p(w.p_value)}"
    test.update(problems=len(ids), difference=diff, difference_ci95=list(ci))
    headline = (f"HumanEval pass@1 {pa:.3f}→{pb:.3f} ({signed(100 * diff)} points, 95% CI "
                f"{signed(100 * ci[0])} to {signed(100 * ci[1])}; {detail}): {verdict(test['p_value'])}")
    return test, headline


class HumanEvalTask(Task[HumanEvalTaskConfig]):
    name = "humaneval"
    title = "HumanEval (general coding ability)"
    config_type = HumanEvalTaskConfig
    missing_names = ("HumanEval (base)", "HumanEval (hotfix)")
    files = ("humaneval_base.json", "humaneval_hotfix.json")

    def run(self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, cfg: HumanEvalTaskConfig,
            inputs: object = None, *, progress: bool = True) -> TaskResult:
        """``inputs``: the ``CacheKey`` of the generation cache; without one nothing is cached."""
        from dataclasses import replace

        from codehotfix.evaluation.generation import make_generator

        hcfg = cfg.humaneval_config()
        key = inputs if isinstance(inputs, CacheKey) else None
        if key is None:
            hcfg, key = replace(hcfg, use_cache=False), CacheKey("uncached")
        generate = make_generator(model, tokenizer, batch_size=hcfg.batch_size,
                                  max_context_tokens=cfg.generation.max_context_tokens)
        result = run_humaneval(generate, hcfg, model_checksum=key.model_checksum,
                               adapter_checksum=key.adapter_checksum)
        return TaskResult(self, result.to_dict())

    def summary(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"pass_at_k": data["pass_at_k"], "problems": len(data["tasks"]),
                "generation_s": round(data["generation_s"], 1), "execution_s": round(data["execution_s"], 1),
                "cached_prompts": data["cached_prompts"]}

    def collect(self, folder: RunFolder) -> tuple[HumanEvalRun | None, HumanEvalRun | None]:
        runs: list[HumanEvalRun | None] = []
        for side in ("base", "hotfix"):
            path = folder.path / f"humaneval_{side}.json"
            if path.is_file():
                runs.append(_read_run(load_json(path), path))
                folder.record(path)
            else:
                runs.append(None)
                folder.missing.append(Missing(f"HumanEval ({side})", (path.name,), _COMMANDS[side]))
        return runs[0], runs[1]

    def from_result(self, data: dict[str, Any]) -> tuple[HumanEvalRun | None, HumanEvalRun | None]:
        return None, _read_run(data, Path("result"))

    def analyze(self, collected: object | None) -> dict[str, Any] | None:
        base, hot = collected if isinstance(collected, tuple) else (None, None)
        if base is None and hot is None:
            return None
        out: dict[str, Any] = {"base": _one_side(base) if base else None, "hotfixed": _one_side(hot) if hot else None}
        if base and hot:
            out["paired"], out["headline"] = _paired(base, hot)
        return out

    def section(self, h: dict[str, Any] | None) -> Section:
        s = Section("humaneval", self.title)
        if not h:
            return s
        rows = []
        for name in ("base", "hotfixed"):
            side = h.get(name)
            if side:
                for k, v in side["pass_at_k"].items():
                    rows.append([name, side["file"], k, fmt_rate(v["value"]), fmt_ci(v["ci95"]), str(side["problems"]),
                                 "/".join(map(str, side["samples_per_problem"]))])
        s.table(Table(["model", "file", "metric", "value", "95% CI", "problems", "samples/problem"], rows))
        if h.get("headline"):
            s.p(h["headline"] + ".")
        s.plot("humaneval")
        return s

    def times(self, collected: object | None) -> dict[str, float]:
        times: dict[str, float] = {}
        runs = collected if isinstance(collected, tuple) else (None, None)
        for label, run in zip(("HumanEval base", "HumanEval hotfixed"), runs):
            if run:
                times[f"{label}: generation"] = run.generation_s
                times[f"{label}: execution"] = run.execution_s
        return times
