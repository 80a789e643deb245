"""The study spec: a grid of PEFT methods × loss mixes × seeds on one dataset split, read from YAML.

    codehotfix study configs/study/pysstubs.yaml [--out DIR] [key.path=value …]

A study YAML (every key is documented on the dataclasses below)::

    name: pysstubs                          # default: the file's stem
    model: default                          # base model spec (see load_model)
    dataset: {loader: pysstubs, path: ../shared/data/…, split: grouped, test_fraction: 0.3,
              train_cases: 32, test_cases: 24}
    config: configs/default.yaml            # base hotfix config (null: the dataclass defaults)
    overrides: {training: {epochs: 2}}      # hotfix-config changes for every cell
    methods:                                # axis 1: PEFT methods (adapter.method defaults to name)
      - {name: lora, overrides: {training: {lr: 0.002}}}
    losses:                                 # axis 2: objective mixes
      - {name: learn, objectives: [{name: fixed_ce, weight: 1.0}]}
    seeds: [0]                              # axis 3
    best_seeds: {top_k: 3, metric: score, seeds: [1, 2]}   # extra seeds for the best cells

Paths are relative to the working directory (the commands run from the repository root).
Overrides are nested mappings; a dotted key (``adapter.method: dora``) is the same as the nested
form. Every problem is reported in one ``ConfigError`` whose lines name the file, the YAML line and
the field (``study.yaml:14: methods[1].overrides.training.lr: …``). Registry names (methods,
objectives, loaders) are checked by ``resolve_cells``, before any model loads.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from codehotfix.config import HotfixConfig, apply_override, build, fingerprint_view, load_config, to_dict
from codehotfix.data.split import MODES
from codehotfix.errors import ConfigError
from codehotfix.files import sha256_text
from codehotfix.objectives.base import ObjectiveConfig
from codehotfix.study.table import METRICS

__all__ = ["DatasetSpec", "MethodSpec", "LossSpec", "BestSeedsSpec", "StudyConfig", "Cell", "load_study",
           "resolve_cells", "cell_id", "SPLITS"]

SPLITS = (*MODES, "seen")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")
# Per-method overrides may not touch these: the base evaluation is shared by every cell, the seed
# comes from the seeds axis, the objectives from the losses axis, and the model is loaded once
# (with the study-level dtype and threads).
_METHOD_FORBIDDEN = ("eval", "seed", "objectives", "training.dtype", "training.threads")
_STUDY_FORBIDDEN = ("seed", "objectives")


@dataclass
class DatasetSpec:
    """Which cases a study trains and tests on.

    Attributes:
        path: the cases file (required).
        loader: loader registry name, or "auto" (detected from the file name).
        split: "grouped" (no group on both sides: e.g. train on some repositories, test on others),
            "within", "random" (see ``codehotfix.data.split``) or "seen": train on a sample, test
            on new contexts of the trained bugs (``codehotfix.evaluation.variants.make_variants``).
        by: what a group is for the split (a case field or ``source.<key>``).
        test_fraction: share of cases the split puts on the test side (not used by "seen").
        split_seed: seed of the split.
        limit: deterministic sample of at most this many cases taken before the split (null: all).
        train_cases: deterministic sample of the training side (null: all of it).
        test_cases: deterministic sample of the test side (null: all of it).
        sample_seed: seed of the three samples above and of the variants.
        train_sample_seed: seed of the training sample alone (null: ``sample_seed``). A learning
            curve varies it per seed so that each seed trains on its own sample of the training
            side while the test sample, and so the base evaluation, stays the same.
        variants: kinds of new context made in "seen" mode.
    """

    path: str = ""
    loader: str = "auto"
    split: str = "grouped"
    by: str = "group"
    test_fraction: float = 0.3
    split_seed: int = 0
    limit: int | None = None
    train_cases: int | None = None
    test_cases: int | None = None
    sample_seed: int = 0
    train_sample_seed: int | None = None
    variants: list[str] = field(default_factory=lambda: ["rename", "reformat", "wrap"])

    def __post_init__(self) -> None:
        errors = []  # an empty path is reported by StudyConfig, so a missing dataset block is one error
        if self.split not in SPLITS:
            errors.append(f"dataset.split: {self.split!r} is not one of {', '.join(SPLITS)}")
        if self.split != "seen" and not 0.0 < self.test_fraction < 1.0:
            errors.append(f"dataset.test_fraction: must be strictly between 0 and 1, got {self.test_fraction}")
        for key in ("limit", "train_cases", "test_cases"):
            value = getattr(self, key)
            if value is not None and value < 1:
                errors.append(f"dataset.{key}: must be >= 1 or null, got {value}")
        if self.split == "seen" and not self.variants:
            errors.append("dataset.variants: the 'seen' split needs at least one variant kind")
        if errors:
            raise ConfigError("\n".join(errors))


@dataclass
class MethodSpec:
    """One value of the methods axis.

    Attributes:
        name: label in cell ids and tables; also ``adapter.method`` unless the overrides set it.
        overrides: hotfix-config changes for this method (nested mapping or dotted keys), e.g.
            ``{adapter: {r: 16}, training: {lr: 0.01}}``; not ``eval``, ``seed`` or ``objectives``.
    """

    name: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossSpec:
    """One value of the losses axis: a named objective mix.

    Attributes:
        name: label in cell ids and tables.
        objectives: the weighted terms (``{name, weight, params}``, names from ``OBJECTIVES``).
    """

    name: str = ""
    # Read as plain mappings and built in StudyConfig.__post_init__, where each one's YAML path is known.
    objectives: list[Any] = field(default_factory=list)


@dataclass
class BestSeedsSpec:
    """Re-run the best configurations with more seeds once the first pass is complete.

    Attributes:
        top_k: how many (method, loss) configurations to re-run.
        metric: the ranking metric, one of ``codehotfix.study.table.METRICS``, computed over the
            first-pass seeds only, so a resumed study picks the same configurations; the results
            table is ranked by it too. ``margin`` suits test sets where the base model almost never
            writes either line (rates at 0 make ``score`` a count of one or two samples).
        seeds: the extra seeds (disjoint from the study's ``seeds``).
    """

    top_k: int = 3
    metric: str = "score"
    seeds: list[int] = field(default_factory=lambda: [1, 2])

    def __post_init__(self) -> None:
        errors = []
        if self.top_k < 1:
            errors.append(f"best_seeds.top_k: must be >= 1, got {self.top_k}")
        if self.metric not in METRICS:
            errors.append(f"best_seeds.metric: {self.metric!r} is not one of {', '.join(METRICS)}")
        if not self.seeds:
            errors.append("best_seeds.seeds: at least one extra seed")
        if errors:
            raise ConfigError("\n".join(errors))


@dataclass
class StudyConfig:
    """A whole study: the dataset, the base hotfix config and the grid axes.

    Attributes:
        name: study name (results go to ``bench/results/study_<name>`` by default).
        model: base model spec (null: the embedded default).
        dataset: see ``DatasetSpec``.
        config: base hotfix YAML (null: the dataclass defaults).
        overrides: hotfix-config changes applied to every cell (nested mapping or dotted keys).
        methods: the methods axis.
        losses: the losses axis.
        seeds: the seeds axis (each cell's ``seed``; the evaluation's sampling seed stays fixed).
        best_seeds: optional extra-seed rule for the best configurations.
        keep_adapters: keep each cell's trained adapter under ``<study>/work/<cell>/adapter``.
        keep_completions: keep generated lines in cell records (off: labels and margins only, so
            the results folder holds no dataset code).
    """

    name: str = ""
    model: str | None = None
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    config: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    methods: list[MethodSpec] = field(default_factory=list)
    losses: list[LossSpec] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    best_seeds: BestSeedsSpec | None = None
    keep_adapters: bool = False
    keep_completions: bool = False

    def __post_init__(self) -> None:
        errors = []
        if self.name and not _NAME.match(self.name):
            errors.append(f"name: {self.name!r} must be lowercase letters, digits, _ . + -")
        if self.dataset is not None and not self.dataset.path:
            errors.append("dataset.path: required (the cases file)")
        if not self.methods:
            errors.append("methods: at least one method")
        if not self.losses:
            errors.append("losses: at least one loss")
        if not self.seeds:
            errors.append("seeds: at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            errors.append(f"seeds: duplicates in {self.seeds}")
        for axis in ("methods", "losses"):
            items = getattr(self, axis)
            names = [getattr(item, "name", None) for item in items]
            for i, item_name in enumerate(names):
                if not isinstance(item_name, str) or not _NAME.match(item_name):
                    errors.append(f"{axis}[{i}].name: {item_name!r} must be lowercase letters, digits, _ . + -")
                elif names.index(item_name) != i:
                    errors.append(f"{axis}[{i}].name: {item_name!r} is used twice")
        for i, method in enumerate(self.methods):
            if method is None:  # its own errors are already reported
                continue
            errors += _check_overrides(method.overrides, f"methods[{i}].overrides", _METHOD_FORBIDDEN)
        errors += _check_overrides(self.overrides, "overrides", _STUDY_FORBIDDEN)
        for i, loss in enumerate(self.losses):
            if loss is None:
                continue
            if not isinstance(loss.objectives, list) or not loss.objectives:
                errors.append(f"losses[{i}].objectives: a list of at least one objective")
                continue
            loss.objectives = [_objective(obj, f"losses[{i}].objectives[{k}]", errors)
                               for k, obj in enumerate(loss.objectives)]
        if self.best_seeds and set(self.best_seeds.seeds) & set(self.seeds):
            errors.append(f"best_seeds.seeds: {sorted(set(self.best_seeds.seeds) & set(self.seeds))} "
                          "already in seeds")
        if errors:
            raise ConfigError("\n".join(errors))


@dataclass
class Cell:
    """One (method, loss, seed) run with its fully resolved hotfix config."""

    method: str
    loss: str
    seed: int
    config: HotfixConfig
    id: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """The table row it belongs to: cells differing only in seed share it."""
        return (self.method, self.loss)


def _objective(obj: Any, where: str, errors: list[str]) -> ObjectiveConfig | None:
    """Builds one ``ObjectiveConfig``; every problem is reported under ``where``."""
    if isinstance(obj, ObjectiveConfig):
        return obj
    found: list[str] = []
    built = build(ObjectiveConfig, obj, where, found)
    errors += [e if e.startswith(where) else f"{where}: {e}" for e in found]
    return built


def _check_overrides(overrides: Any, where: str, forbidden: Sequence[str]) -> list[str]:
    if not isinstance(overrides, dict):
        return [f"{where}: expected a mapping, got {overrides!r}"]
    nested = _nest(overrides)

    def present(dotted: str) -> bool:
        node: Any = nested
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    return [f"{where}.{key}: not allowed here (the seed comes from the seeds axis, the objectives from the "
            "losses axis; every cell shares one base model and one base evaluation)" for key in forbidden
            if present(key)]


def _nest(overrides: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "c": {"d.e": 2}}`` → ``{"a": {"b": 1}, "c": {"d": {"e": 2}}}``."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        parts = str(key).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        value = _nest(value) if isinstance(value, dict) else value
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]] = _merge(node[parts[-1]], value)
        else:
            node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else (lists included) replaces."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _yaml_lines(text: str) -> dict[str, int]:
    """Maps each field path of a YAML document (``methods[1].overrides.lr``) to its 1-based line."""
    lines: dict[str, int] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                sub = f"{path}[{i}]"
                lines[sub] = item.start_mark.line + 1
                walk(item, sub)

    try:
        walk(yaml.compose(text), "")
    except yaml.YAMLError:
        pass
    return lines


_PATH = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\]|\.\w+)*)")
_LAST_PART = re.compile(r"(\[\d+\]|\.\w+)$")


def _locate(errors: Sequence[str], source: str, lines: dict[str, int]) -> str:
    """Prefixes each error with ``file:line`` of the longest field path it names that the file has."""
    out = []
    for err in errors:
        for one in str(err).split("\n"):
            m = _PATH.match(one.strip())
            path, line = m.group(1) if m else "", None
            while path and line is None:  # methods[1].overrides.x → methods[1].overrides → methods[1] …
                line = lines.get(path)
                parent = _LAST_PART.sub("", path)
                path = "" if parent == path else parent
            out.append(f"{source}:{line}: {one.strip()}" if line else f"{source}: {one.strip()}")
    return "invalid study config:\n  " + "\n  ".join(out)


def load_study(path: str | Path, overrides: Sequence[str] = ()) -> StudyConfig:
    """Reads a study YAML and applies ``key.path=value`` overrides (e.g. ``dataset.test_cases=8``,
    ``overrides.training.epochs=1``, ``model=path/to/model``).

    Raises:
        ConfigError: listing every problem with its file, line and field.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such study config")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    errors: list[str] = []
    for override in overrides:
        apply_override(data, override, errors)
    data.setdefault("name", re.sub(r"[^a-z0-9_.+-]", "_", path.stem.lower()))
    spec = build(StudyConfig, data, "", errors) if not errors else None
    if errors:
        raise ConfigError(f"{path}: " + _locate(errors, str(path), _yaml_lines(text)))
    # Kept off the dataclass fields (which are the YAML schema) so resolve_cells can name file and line.
    spec._source, spec._lines = str(path), _yaml_lines(text)  # type: ignore[attr-defined]
    return spec


def cell_id(method: str, loss: str, seed: int, config: HotfixConfig, data_key: str = "") -> str:
    """A readable, deterministic id: ``<method>--<loss>--s<seed>--<10 hex>``.

    The digest covers the fully resolved hotfix config and ``data_key`` (the runner passes a
    checksum of the model and the train/test cases), so any change of settings or data gives a new
    id and a finished cell is only ever reused for exactly the settings it was run with.
    """
    # fingerprint_view: a cell run before an option existed keeps its id under that option's old value
    payload = json.dumps({"config": fingerprint_view(config), "data": data_key}, sort_keys=True, default=str)
    return f"{method}--{loss}--s{seed}--{sha256_text(payload)[:10]}"


def _validated(data: dict[str, Any], where: str, errors: list[str]) -> HotfixConfig | None:
    """Builds a HotfixConfig from ``data``; problems go to ``errors`` prefixed with ``where``."""
    found: list[str] = []
    cfg = build(HotfixConfig, data, "", found)
    errors += [f"{where}.{e}" for line in found for e in str(line).split("\n")]
    return None if found else cfg


def resolve_cells(spec: StudyConfig, seeds: Sequence[int] | None = None, data_key: str = "",
                  only: Sequence[tuple[str, str]] | None = None) -> list[Cell]:
    """Builds every cell's hotfix config and checks the registry names, before any model loads.

    Args:
        spec: the study.
        seeds: the seeds to make cells for (default: ``spec.seeds``).
        data_key: see ``cell_id``.
        only: restrict to these (method, loss) pairs (the best-seeds pass).

    Returns:
        The cells in grid order: methods, then losses, then seeds.

    Raises:
        ConfigError: every bad override, value, method, objective or loader, with file, line and field.
    """
    from codehotfix.data.loaders import LOADERS
    from codehotfix.models.adapters import ADAPTERS
    from codehotfix.objectives import OBJECTIVES, build_objectives

    errors: list[str] = []
    if spec.dataset.loader != "auto" and spec.dataset.loader not in LOADERS:
        errors.append(f"dataset.loader: unknown loader {spec.dataset.loader!r}; valid: {', '.join(LOADERS.names())}")
    for j, loss in enumerate(spec.losses):
        unknown = [k for k, obj in enumerate(loss.objectives) if obj.name not in OBJECTIVES]
        errors += [f"losses[{j}].objectives[{k}].name: unknown objective {loss.objectives[k].name!r}; "
                   f"valid: {', '.join(OBJECTIVES.names())}" for k in unknown]
        if not unknown:
            try:  # unknown objective params fail here, not in the middle of a study
                build_objectives(loss.objectives)
            except ConfigError as e:
                errors.append(f"losses[{j}].objectives: {e}")
    try:
        base = _merge(to_dict(load_config(spec.config)), _nest(spec.overrides))
    except ConfigError as e:
        errors.append(f"config: {e}")
        base = None
    if base is not None and _validated(base, "overrides", errors) is None:
        base = None
    cells: list[Cell] = []
    for i, method in enumerate(spec.methods):
        changes = _merge({"adapter": {"method": method.name}}, _nest(method.overrides))
        if changes["adapter"].get("method") not in ADAPTERS:
            errors.append(f"methods[{i}].name: unknown adapter method {changes['adapter'].get('method')!r}; "
                          f"valid: {', '.join(ADAPTERS.names())}")
        data = _merge(base, changes) if base is not None else None
        if data is None or _validated(data, f"methods[{i}].overrides", errors) is None:
            continue
        for loss in spec.losses:
            if only is not None and (method.name, loss.name) not in only:
                continue
            for seed in (spec.seeds if seeds is None else seeds):
                cfg = build(HotfixConfig, {**data, "objectives": [asdict(o) for o in loss.objectives],
                                           "seed": seed}, "", errors)
                cells.append(Cell(method.name, loss.name, seed, cfg,
                                  cell_id(method.name, loss.name, seed, cfg, data_key)))
    if errors:
        source = getattr(spec, "_source", "study")
        raise ConfigError(f"{source}: " + _locate(errors, source, getattr(spec, "_lines", {})))
    return cells
