"""Configs as data: YAML → typed dataclasses, with ``a.b=c`` overrides and unknown keys rejected.

Defaults live only in the dataclasses below. ``load_config(path, overrides)`` reads a YAML file (or
nothing), applies overrides, and builds a ``HotfixConfig``; every problem found is reported together
in one ``ConfigError``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from codehotfix.errors import CodehotfixError, ConfigError
from codehotfix.files import read_text
from codehotfix.models.adapters import AdapterConfig
from codehotfix.objectives.base import ObjectiveConfig

__all__ = ["TrainingConfig", "EvalConfig", "HotfixConfig", "EVAL_BACKENDS", "EVAL_EVENTS", "load_config", "build",
           "to_dict", "apply_override", "fingerprint_view", "config_differences"]

# The names ``eval.backend`` and ``eval.events`` accept. They live here, not in the evaluation modules that
# implement them (``evaluation.backends.BACKENDS``, ``evaluation.events``), because evaluation imports this
# module: a config that imported them back would close an import circle. tests/evaluation checks that
# the backend registry and the events module agree with these lists.
EVAL_BACKENDS = ("hf", "vllm")
EVAL_EVENTS = ("line", "split", "window")


def _non_finite(obj: Any, section: str) -> list[str]:
    """Errors for every float field of dataclass ``obj`` that is NaN or infinite.

    ``lr <= 0`` is False for NaN, so range checks alone let NaN through (and .inf past ``> 0``);
    a NaN learning rate trains nothing and reports success.
    """
    return [f"{section}.{f.name} must be a finite number, got {getattr(obj, f.name)!r}"
            for f in dataclasses.fields(obj)
            if isinstance(getattr(obj, f.name), float) and not math.isfinite(getattr(obj, f.name))]


def _seed_errors(seed: Any, name: str) -> list[str]:
    # numpy's seed (seed_everything) accepts only 0 <= seed < 2**32, and fails after the model loads.
    if isinstance(seed, int) and not 0 <= seed < 2**32:
        return [f"{name} must be in [0, 2**32), got {seed}"]
    return []


@dataclass
class TrainingConfig:
    """How the adapter is optimised.

    Attributes:
        epochs: passes over the training cases.
        lr: AdamW learning rate (constant after a linear warm-up).
        batch_size: cases per optimiser step (each case is two sequences: fixed and buggy).
        max_context_tokens: the prefix keeps its last this-many tokens.
        warmup_steps: linear warm-up steps.
        weight_decay: AdamW weight decay.
        max_grad_norm: gradient clipping norm (0 disables).
        dtype: "auto" (bf16 where the CPU/GPU does bf16 natively), "bfloat16" or "float32".
        threads: torch threads; null uses every core.
        distributed: train through ``accelerate`` (also switched on by ``accelerate launch``); see
            docs/scale-out.md.
        pack: score each batch in one pass over packed rows (``scoring.forward.score_packed``)
            instead of padding every context and line to the batch's longest; the same losses up to
            rounding, fewer tokens through the model (docs/speed.md, "Packed training batches").
    """

    epochs: int = 3
    lr: float = 5e-4
    batch_size: int = 8
    max_context_tokens: int = 256
    warmup_steps: int = 2
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    dtype: str = "auto"
    threads: int | None = None
    distributed: bool = False
    pack: bool = True

    def __post_init__(self) -> None:
        errors = _non_finite(self, "training")  # NaN passes every range check below, so name it here
        if self.epochs < 1:
            errors.append(f"training.epochs must be >= 1, got {self.epochs}")
        if self.lr <= 0:
            errors.append(f"training.lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            errors.append(f"training.batch_size must be >= 1, got {self.batch_size}")
        if self.max_context_tokens < 1:
            errors.append(f"training.max_context_tokens must be >= 1, got {self.max_context_tokens}")
        for name in ("warmup_steps", "weight_decay", "max_grad_norm"):
            if getattr(self, name) < 0:
                errors.append(f"training.{name} must be >= 0, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            errors.append(f"training.threads must be >= 1 or null (every core), got {self.threads}")
        if errors:
            raise ConfigError("; ".join(errors))


@dataclass
class EvalConfig:
    """How completions are sampled and classified (defaults follow the paper: k=10, top_p=0.95, 64 tokens).

    Attributes:
        samples: sampled completions per case (0 for greedy only).
        greedy: also take one greedy completion per case.
        top_p: nucleus sampling threshold.
        temperature: sampling temperature.
        max_new_tokens: generation budget per completion (stops earlier at the end of the line).
        batch_size: prompts per generate call (each expands to ``samples`` sequences). 32, not 8:
            decoding a small model on a CPU is bound by reading the weights once per step, so 32 rows
            cost little more than 8 (window event on 32 held-out prompts: 43 s against 72 s on the
            2-core reference CPU, identical greedy text; bench/results/profile_step.md).
        max_context_tokens: the prefix keeps its last this-many tokens.
        seed: sampling seed.
        backend: generation backend (``EVAL_BACKENDS``; ``codehotfix.evaluation.backends``): "hf"
            (transformers, any device) or "vllm" (needs ``pip install vllm`` on a CUDA machine).
        events: completion events to judge (``codehotfix.evaluation.events``; docs/evaluation.md):
            "line" (always), "split" (from where the buggy and fixed lines part), "window" (5 lines).
    """

    samples: int = 10
    greedy: bool = True
    top_p: float = 0.95
    temperature: float = 1.0
    max_new_tokens: int = 64
    batch_size: int = 32
    max_context_tokens: int = 256
    seed: int = 0
    backend: str = "hf"
    events: list[str] = field(default_factory=lambda: ["line", "split", "window"])

    def __post_init__(self) -> None:
        errors = _non_finite(self, "eval")  # NaN passes every range check below, so name it here
        if not isinstance(self.events, (list, tuple)) or any(e not in EVAL_EVENTS for e in self.events):
            errors.append(f"eval.events must be a list of {', '.join(EVAL_EVENTS)}; got {self.events!r}")
        if self.samples < 0:
            errors.append(f"eval.samples must be >= 0, got {self.samples}")
        if not 0 < self.top_p <= 1:
            errors.append(f"eval.top_p must be in (0, 1], got {self.top_p}")
        if self.temperature <= 0:
            errors.append(f"eval.temperature must be > 0, got {self.temperature}")
        if self.max_new_tokens < 1:
            errors.append(f"eval.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.batch_size < 1:
            errors.append(f"eval.batch_size must be >= 1, got {self.batch_size}")
        if self.max_context_tokens < 1:
            errors.append(f"eval.max_context_tokens must be >= 1, got {self.max_context_tokens}")
        errors += _seed_errors(self.seed, "eval.seed")
        if not self.greedy and self.samples == 0:
            errors.append("eval: nothing to generate (greedy is false and samples is 0)")
        if self.backend not in EVAL_BACKENDS:
            errors.append(f"eval.backend must be one of {', '.join(sorted(EVAL_BACKENDS))}, got {self.backend!r}")
        if errors:
            raise ConfigError("; ".join(errors))


def _default_objectives() -> list[ObjectiveConfig]:
    return [
        ObjectiveConfig("fixed_ce", 1.0),
        ObjectiveConfig("unlikelihood", 0.3),
        ObjectiveConfig("kl_context", 1.0),
        # Retain on ordinary code too: with it (and lr 5e-4, 3 epochs) the demo hotfix's HumanEval
        # change was not significant (docs/humaneval.md; the earlier default's drop was not committed).
        ObjectiveConfig("kl_corpus", 1.0),
    ]


@dataclass
class HotfixConfig:
    """Everything that defines a hotfix run. Written in full into each hotfix's manifest."""

    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    objectives: list[ObjectiveConfig] = field(default_factory=_default_objectives)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        errors = _seed_errors(self.seed, "seed")
        if errors:
            raise ConfigError("; ".join(errors))


def to_dict(obj: Any) -> Any:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


# Options added after runs were already kept, with the value those earlier runs had in effect: a
# config holding that value fingerprints as if the option did not exist, so an interrupted run (or
# a committed one) from before the option still resumes under it. Add an entry with each such option.
ADDED_LATER: dict[tuple[str, ...], Any] = {("training", "pack"): False}


def fingerprint_view(cfg: HotfixConfig | dict) -> dict:
    """The config as a fingerprint sees it: ``asdict(cfg)`` less the options of ``ADDED_LATER`` that
    hold the value runs had before the option existed. Every resume check (a training checkpoint, a
    ``codehotfix run`` ledger, a sequence, a demo folder, a study's cell ids) fingerprints this, so
    they agree on which runs are the same run. Takes a config or its dict (as a run folder keeps
    it); never changes it."""
    view = copy.deepcopy(to_dict(cfg))
    for path, legacy in ADDED_LATER.items():
        *parents, key = path
        node = view
        for name in parents:
            node = node.get(name) if isinstance(node, dict) else None
        if isinstance(node, dict) and key in node and node[key] == legacy:
            del node[key]
    return view


def config_differences(held: Any, now: Any, prefix: str = "") -> list[str]:
    """The dotted keys where two config dicts differ, each as ``key: held → now`` (``absent`` where a
    side lacks the key): what an error names when a kept run was made under other settings."""
    if not (isinstance(held, dict) and isinstance(now, dict)):
        return [] if held == now else [f"{prefix}: {held!r} → {now!r}"]
    out = []
    for key in sorted(set(held) | set(now), key=str):
        where = f"{prefix}.{key}" if prefix else str(key)
        if key not in held or key not in now:
            out.append(f"{where}: {held.get(key, 'absent')!r} → {now.get(key, 'absent')!r}")
        else:
            out.extend(config_differences(held[key], now[key], where))
    return out


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def build(cls: type, data: Any, where: str, errors: list[str]) -> Any:
    """Builds dataclass ``cls`` from ``data``, collecting problems (unknown keys, bad types) in ``errors``."""
    if not isinstance(data, dict):
        errors.append(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
        return None
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in sorted(set(data) - names, key=str):  # YAML keys may be numbers or null, not only strings
        errors.append(f"{where + '.' if where else ''}{key}: unknown key; allowed: {', '.join(sorted(names))}")
    kwargs = {}
    for key in names & set(data):
        kwargs[key] = _convert(hints[key], data[key], f"{where + '.' if where else ''}{key}", errors)
    try:
        return cls(**kwargs)
    except ConfigError as e:
        msg = str(e)
        errors.append(msg if not where or msg.startswith(where) else f"{where}: {msg}")
    except (TypeError, ValueError) as e:
        # A component's own checks (an objective's params, say) meeting a value of the wrong shape.
        errors.append(f"{where or 'config'}: {e}")
    return None


def _convert(tp: Any, value: Any, where: str, errors: list[str]) -> Any:
    tp = _strip_optional(tp)
    if value is None:
        return None
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where, errors)
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            errors.append(f"{where}: expected a list, got {value!r}")
            return value
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{where}[{i}]", errors) for i, v in enumerate(value)]
    if tp is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        # YAML 1.1 reads "5e-4" (no dot) as a string; accept what Python reads as a number.
        try:
            number = float(value)
        except (ValueError, OverflowError):
            errors.append(f"{where}: expected a number, got {value!r}")
            return value
        if not math.isfinite(number):
            errors.append(f"{where} must be a finite number, got {number!r}")
        return number
    if tp in (int, str, bool) and not (isinstance(value, tp) and not (tp is int and isinstance(value, bool))):
        errors.append(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def _apply_override(data: dict, override: str, errors: list[str]) -> None:
    if "=" not in override:
        errors.append(f"override {_short(override)!r}: expected key.path=value")
        return
    key, raw = override.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw else ""
    except (yaml.YAMLError, ValueError, RecursionError) as e:
        errors.append(f"override {_short(override)!r}: the value is not valid YAML ({_one_line(e)})")
        return
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            continue
        node = node.setdefault(part, {}) if isinstance(node, dict) else None
        if node is None:
            errors.append(f"override {_short(override)!r}: {part!r} is not a section")
            return
    if isinstance(node, list) and parts[-1].isdigit() and int(parts[-1]) < len(node):
        node[int(parts[-1])] = value
    elif isinstance(node, dict):
        node[parts[-1]] = value
    else:
        section = ".".join(parts[:-1])
        errors.append(f"override {_short(override)!r}: cannot set {parts[-1]!r}: {section!r} is not a section "
                      f"(it holds {node!r})")


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (),
                base: HotfixConfig | None = None) -> HotfixConfig:
    """Reads a YAML config (missing sections take the values of ``base``, by default the defaults)
    and applies overrides.

    Raises:
        ConfigError: listing every problem (file, key, value, allowed values).
    """
    data: dict = to_dict(base or HotfixConfig())
    errors: list[str] = []
    if path is not None:
        path = Path(path)
        for key, value in read_yaml_mapping(path).items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
    for override in overrides:
        _apply_override(data, override, errors)
    _find_non_finite(data, "", errors)
    cfg = build(HotfixConfig, data, "", errors)
    if errors:
        # One line, every problem: the CLI prints errors on one line, and a list reads fine with "; ".
        prefix = f"{path}: " if path else ""
        # The same NaN is caught by the raw scan, the conversion and the dataclass: say it once.
        parts = dict.fromkeys(part for error in errors for part in error.split("; "))
        raise ConfigError(prefix + "invalid config: " + "; ".join(parts))
    return cfg


def read_yaml_mapping(path: Path) -> dict:
    """Reads a YAML file whose top level is a mapping.

    Raises:
        ConfigError: naming the file (and line, where YAML gives one): missing, not a regular
            file, not UTF-8, not valid YAML, or not a mapping.
    """
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    try:
        text = read_text(path)  # refuses a FIFO (would block) and names the line of bad UTF-8
    except CodehotfixError as e:
        raise ConfigError(str(e)) from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({_one_line(e)})") from None
    except (ValueError, RecursionError) as e:
        # PyYAML lets these through: a date like 2024-13-45, an integer over 4300 digits, deep nesting.
        raise ConfigError(f"{path}: not valid YAML ({type(e).__name__}: {_one_line(e)})") from None
    loaded = {} if loaded is None else loaded
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(loaded).__name__}")
    return loaded


def _short(text: str, limit: int = 120) -> str:
    """A user's text cut for an error message (a fuzzer's or a paste's override can be megabytes)."""
    return text if len(text) <= limit else text[:limit] + "…"


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]


_MAX_DEPTH = 64  # no real config nests past ~4 levels; deeper input is garbage, and walking it recursively would overflow


def _find_non_finite(value: Any, where: str, errors: list[str]) -> None:
    """Adds an error for every NaN or infinite float anywhere in the raw config (objective params
    included, which no dataclass field types), and one for nesting deeper than ``_MAX_DEPTH``.
    Walks with an explicit stack: a YAML value nested a thousand deep must give an error, not a
    RecursionError."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, at, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            errors.append(f"{at or 'config'} must be a finite number, got {item!r}")
        elif isinstance(item, (dict, list)):
            if depth >= _MAX_DEPTH:
                errors.append(f"{at or 'config'} is nested more than {_MAX_DEPTH} levels deep")
                continue
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in reversed(list(pairs)):
                sub = (f"{at}.{key}" if at else str(key)) if isinstance(item, dict) else f"{at}[{key}]"
                stack.append((child, sub, depth + 1))


apply_override = _apply_override  # the public name, for specs outside this module (study configs)
