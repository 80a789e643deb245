"""The shape every evaluation task shares: a config embedding ``GenerationConfig``, a ``run`` that
returns a ``TaskResult``, and the report hooks that read the task's files back.

    task = TASKS.get("locality")
    cfg = task.config_type()                 # every default in one place: the task's config
    result = task.run(model, tokenizer, cfg)  # -> TaskResult
    result.to_json()                          # exactly what `codehotfix locality --json` writes
    result.section()                          # its part of the report

Adding a task touches this folder only: a module with its config, its ``Task`` subclass and one
``TASKS.register`` call, imported in ``__init__.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from codehotfix.config import EvalConfig
from codehotfix.errors import ConfigError, DataError
from codehotfix.evaluation.tasks.fields import Missing, RunFolder, load_json
from codehotfix.evaluation.tasks.sections import Section

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedTokenizerBase

__all__ = ["GenerationConfig", "TaskResult", "Task", "FileTask"]


@dataclass
class GenerationConfig:
    """How a task decodes. The defaults are the paper's (k=10 samples, top_p 0.95, 64 tokens) and are
    read from ``EvalConfig`` — the ``eval:`` block of the YAML config — so they are written once; a task
    whose benchmark needs other settings says so in its own config's ``generation`` default.

    Attributes:
        samples: sampled completions per prompt (0: greedy only).
        greedy: also take one greedy completion per prompt.
        top_p: nucleus sampling threshold.
        temperature: sampling temperature (HumanEval: 0 means greedy decoding).
        max_new_tokens: generation budget per completion.
        batch_size: prompts per generate call (or per forward pass, for the teacher-forced tasks).
        max_context_tokens: each prompt keeps its last this-many tokens.
        seed: sampling seed.
        backend: generation backend ("hf" or "vllm"; ``evaluation.backends.BACKENDS``).
    """

    samples: int = EvalConfig.samples
    greedy: bool = EvalConfig.greedy
    top_p: float = EvalConfig.top_p
    temperature: float = EvalConfig.temperature
    max_new_tokens: int = EvalConfig.max_new_tokens
    batch_size: int = EvalConfig.batch_size
    max_context_tokens: int = EvalConfig.max_context_tokens
    seed: int = EvalConfig.seed
    backend: str = EvalConfig.backend

    def __post_init__(self) -> None:
        errors = [f"generation.{name} must be >= 1, got {getattr(self, name)}"
                  for name in ("max_new_tokens", "batch_size", "max_context_tokens") if getattr(self, name) < 1]
        if self.samples < 0:
            errors.append(f"generation.samples must be >= 0, got {self.samples}")
        if not 0 < self.top_p <= 1:
            errors.append(f"generation.top_p must be in (0, 1], got {self.top_p}")
        if self.temperature < 0:
            errors.append(f"generation.temperature must be >= 0, got {self.temperature}")
        if errors:
            raise ConfigError("; ".join(errors))

    def with_given(self, **given: object) -> GenerationConfig:
        """A copy with the settings that were given (not None) replaced: a CLI flag left unset keeps
        the task's default."""
        return replace(self, **{k: v for k, v in given.items() if v is not None})

    def eval_config(self, events: list[str] | None = None) -> EvalConfig:
        """The same settings as the ``EvalConfig`` the rates implementation reads."""
        return EvalConfig(samples=self.samples, greedy=self.greedy, top_p=self.top_p, temperature=self.temperature,
                          max_new_tokens=self.max_new_tokens, batch_size=self.batch_size,
                          max_context_tokens=self.max_context_tokens, seed=self.seed, backend=self.backend,
                          events=list(EvalConfig().events if events is None else events))

    @classmethod
    def of(cls, cfg: EvalConfig) -> GenerationConfig:
        """The generation settings of an ``eval:`` config block."""
        return cls(**{name: getattr(cfg, name) for name in cls.__dataclass_fields__})


ConfigT = TypeVar("ConfigT")


@dataclass
class TaskResult:
    """One task's result: the JSON it writes (``to_json``), what the CLI prints (``summary``) and its
    report section (``section``). ``data`` is the dict the evaluation module returned, unchanged."""

    task: Task[Any]
    data: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return self.data

    def summary(self) -> dict[str, Any]:
        return self.task.summary(self.data)

    def section(self) -> Section:
        """This result's part of the report, as ``codehotfix report`` shows it for a run folder
        holding this one result."""
        return self.task.section(self.task.analyze(self.task.from_result(self.data)))


class Task(ABC, Generic[ConfigT]):
    """One evaluation task: how to run it and how the report reads its files back.

    Class attributes:
        name: registry key, also the result's ``"kind"``.
        title: the report section's title.
        config_type: the task's config dataclass (all its defaults).
        missing_names: the names its ``Missing`` entries carry (their sentences go into its section).
        files: the run-folder files it reads (never shown as "other" results).
        summary_keys: the result fields ``codehotfix <task>`` prints.
        timed_by_summary: its times come from summary.json's "seconds" where the run has one.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    config_type: ClassVar[type]
    missing_names: ClassVar[tuple[str, ...]] = ()
    files: ClassVar[tuple[str, ...]] = ()
    summary_keys: ClassVar[tuple[str, ...]] = ()
    # True for the parts the demo's summary.json times itself ("seconds"); the report then takes
    # their times from there instead.
    timed_by_summary: ClassVar[bool] = False

    def inputs(self, cfg: ConfigT) -> object:
        """Reads and checks the task's data (prompts, corpus, cases) before any model loads."""
        return None

    @abstractmethod
    def run(self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, cfg: ConfigT, inputs: object = None, *,
            progress: bool = True) -> TaskResult:
        """Measures ``model`` (base: its adapter switched off; hotfixed: on) on the task's inputs
        (``inputs(cfg)`` when not given)."""

    def summary(self, data: dict[str, Any]) -> dict[str, Any]:
        return {k: data[k] for k in self.summary_keys}

    # ---- the report side: read the task's files from a run folder, compute, show

    @abstractmethod
    def collect(self, folder: RunFolder) -> object | None:
        """The task's validated inputs from ``folder`` (None, with ``Missing`` entries, where absent).

        Raises:
            DataError: a present file is malformed (naming the file and the field).
        """

    def from_result(self, data: dict[str, Any]) -> object:
        """What ``collect`` would return for a folder holding only this result."""
        return data

    @abstractmethod
    def analyze(self, collected: object | None) -> dict[str, Any] | None:
        """The task's numbers for report.json (None where nothing was collected)."""

    @abstractmethod
    def section(self, numbers: dict[str, Any] | None) -> Section:
        """The task's report section from its numbers (empty, but present, without them)."""

    def headlines(self, numbers: dict[str, Any] | None) -> list[str]:
        """The verdict sentences the task adds to the report's top."""
        return [numbers["headline"]] if numbers and numbers.get("headline") else []

    def times(self, collected: object | None) -> dict[str, float]:
        """Seconds per phase for the report's time table."""
        return {}


class FileTask(Task[ConfigT]):
    """A task whose result is one file, ``<name>.json``, tagged ``"kind": <name>`` and holding base and
    hotfixed side by side (locality, perplexity, variants, execfix)."""

    command: ClassVar[str] = ""

    @property
    def file(self) -> str:
        return f"{self.name}.json"

    def check(self, data: dict[str, Any], path: Path) -> None:
        """Validates the result's fields (``DataError`` naming the file and the field)."""

    def collect(self, folder: RunFolder) -> dict[str, Any] | None:
        path = folder.path / self.file
        if not path.is_file():
            folder.missing.append(Missing(self.name, (path.name,), self.command))
            return None
        data = load_json(path)
        if data.get("kind") != self.name:
            import json

            raise DataError(f"{path}: field 'kind' must be {self.name!r}, got {json.dumps(data.get('kind'))}")
        self.check(data, path)
        folder.record(path)
        return data

    def times(self, collected: object | None) -> dict[str, float]:
        s = collected.get("seconds") if isinstance(collected, dict) else None
        return {self.name: float(s)} if isinstance(s, (int, float)) and not isinstance(s, bool) else {}
