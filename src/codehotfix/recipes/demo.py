"""The demo recipe: base eval → hotfix training → eval again, on the built-in pack.

    codehotfix demo [--out runs/demo] [--model default] [--config FILE] [key=value …]

Steps, each written to the run folder as soon as it finishes (a re-run with the same ``--out``
skips finished steps, so an interrupted demo resumes; a re-run with another recipe, model or topic
selection is refused, since its finished steps would be reported under the new settings):

  1. split.json        the pack split over every topic (per topic, seeded: 5 of 10 contexts for
                       training, 5 held out), then (1b) the target topics chosen from the base
                       model's margins on the *training* contexts only, with those inputs;
                       reference_states.safetensors keeps the base model's states at the chosen
                       contexts' last positions, from that same pass, for training's kl_context
                       reference (so training does not run the base model over them again)
  2. base_eval.json    the base model on the held-out contexts (greedy + k samples, margins)
                       (1b and 2 depend on the base model alone: a later demo with the same weights,
                       inputs, settings, machine and code reads them from the model's store, BASE_STORE)
  3. hotfix/           the trained adapter (PEFT format) + hotfix.json manifest
  4. hotfix_eval.json  the hotfixed model on the same held-out contexts
  5. summary.json/.md  before/after table, relative changes, per completion event (line, split,
                       window) every metric with its 95% interval, paired test and Holm-adjusted p,
                       time of every phase
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from codehotfix.config import HotfixConfig, config_differences, fingerprint_view, load_config
from codehotfix.data.cases import HotfixCase
from codehotfix.data.packs import TopicSelectionConfig, load_pack, select_topics, split_pack
from codehotfix.errors import CodehotfixError
from codehotfix.files import atomic_path, atomic_write_text, read_json, write_json
from codehotfix.models.provenance import cases_checksum

__all__ = ["DemoOptions", "run_demo", "summary_markdown", "demo_config_path"]

logger = logging.getLogger(__name__)


@dataclass
class DemoOptions:
    """Knobs of the demo beyond the hotfix config.

    Attributes:
        out: run folder (created; finished steps inside it are reused).
        model: base model spec (see ``load_model``).
        pack: built-in pack name.
        test_fraction: share of each topic's contexts held out for evaluation (5 of 10: with about
            20 target topics of the 41, 4 held out per topic gave 88 contexts, under the 100 a paired
            test needs to see a change of ~10 points; 5 gives 120 (see ``selection``).
        topics: use exactly these topics (None: select the targets — topics the base model gets
            wrong on their training contexts, see ``select``; ["all"]: every topic).
        select: what the selection runs on the training contexts: "margin" (teacher-forced
            log p(fixed) − log p(buggy), no generation) or "full" (greedy + k samples + margin, as
            the eval). Margins cost ≈ 0.36 s a case on the 2-core CPU against ≈ 2.9 s for the full
            eval (docs/speed.md, 0.349 vs 0.399 cases/s): ~1.5 instead of ~11.5 minutes for 240
            training contexts, so "margin" is the default.
        selection: the rule that makes a topic a target.
        config: YAML config path (None: the packaged ``configs/demo.yaml``: the default recipe with
            one epoch at lr 1e-3 and a greedy evaluation; ``configs/default.yaml`` gives the full protocol).
        overrides: ``a.b=c`` overrides.
        device: where the model runs ("auto", "cpu", "cuda:N"; see ``load_model``).
        threads: torch CPU threads (None: the config's ``training.threads``).
        reuse_base: read the base model's target selection and evaluation from the model's store
            when an earlier demo computed them with the same weights, inputs, settings, machine and
            code (``BASE_STORE``); False computes them again (and refreshes the store).
    """

    out: Path = Path("runs/demo")
    model: str | None = None
    pack: str = "default"
    test_fraction: float = 0.5
    topics: list[str] | None = None
    select: str = "margin"
    # A training context counts as wrong unless the base model prefers the fixed line by at least
    # 1 nat (e ≈ 2.7 times likelier): on the default model that makes 24 of the 41 topics targets
    # (19 at 0 nats), so the held-out set passes 100 contexts. Decided on training contexts only.
    selection: TopicSelectionConfig = field(default_factory=lambda: TopicSelectionConfig(margin_below=1.0))
    config: str | None = None
    overrides: list[str] = field(default_factory=list)
    device: str = "auto"
    threads: int | None = None
    reuse_base: bool = True


def demo_config_path() -> Path:
    """The packaged demo recipe (``configs/demo.yaml``)."""
    from importlib import resources

    return Path(str(resources.files("codehotfix.configs").joinpath("demo.yaml")))


def _step(path: Path, label: str, times: dict, fn: Callable[[], Any], log: Callable[[str], None]) -> Any:
    """Runs ``fn`` unless ``path`` already holds its result; records the phase time."""
    if path.exists():
        log(f"[demo] {label}: reusing {path}")
        result = read_json(path)
        times[label] = result.get("_seconds", 0.0) if isinstance(result, dict) else 0.0
        return result
    log(f"[demo] {label} …")
    t0 = time.time()
    result = fn()
    times[label] = round(time.time() - t0, 2)
    if isinstance(result, dict):
        result["_seconds"] = times[label]
        write_json(path, result)
    return result


# The demo options that change a result; out, device and threads only say where and how fast it runs
# (as in ``codehotfix run``'s ledger), and config/overrides arrive through the hotfix config itself.
_SAME_RUN_KEYS = ("model", "pack", "test_fraction", "topics", "select", "selection")


def _run_identity(record: dict[str, Any]) -> dict[str, Any]:
    from codehotfix.deploy.card import base_model_reference

    demo = record.get("demo") or {}
    same = {key: demo.get(key) for key in _SAME_RUN_KEYS}
    same["model"] = base_model_reference(same["model"])
    return {"demo": same, "hotfix": fingerprint_view(record.get("hotfix") or {})}


def _check_same_run(path: Path, record: dict[str, Any]) -> None:
    """A folder resumes only the run it holds: its finished steps are reused as they are, so a rerun
    with another recipe, model or selection would report the old hotfix under the new settings.

    Raises:
        CodehotfixError: ``path`` (config.json) holds a run with other settings, naming the keys.
    """
    if not path.exists():
        return
    try:
        held = read_json(path)
    except (OSError, ValueError) as e:
        raise CodehotfixError(f"{path}: cannot read it as JSON ({e}); choose another --out") from None
    if not isinstance(held, dict) or not isinstance(held.get("hotfix"), dict):
        raise CodehotfixError(f"{path}: not a demo's config.json (no 'hotfix' mapping); choose another --out")
    differ = config_differences(_run_identity(held), _run_identity(record))
    if differ:
        raise CodehotfixError(f"{path.parent} holds a demo run with other settings ({'; '.join(differ)}); its "
                              f"finished steps would be reused under the new ones, so choose another --out "
                              f"(or delete the folder to redo that run)")


# The base model's context states of the chosen training contexts (``_select``), next to split.json:
# training takes its kl_context reference from them instead of a pass of its own, also when an
# interrupted demo resumes after the selection (the same states, so the same adapter).
STATES_FILE = "reference_states.safetensors"


# The base model's two results in a demo (the target selection with its states, and the held-out
# evaluation) depend on its weights, the inputs, the settings, the machine and the code, never on the
# hotfix: a second demo of the same model reads them from the model's store instead of computing them
# again (~45 and ~55 s of a ~300 s demo on the 2-core CPU; docs/speed.md). Only a converted copy in
# codehotfix's cache has a store (``models.loading.derived_folder``).
BASE_STORE = "demo-base"


@dataclass
class _BaseStore:
    """Where a demo keeps and finds its base model's results, and whether it may read them."""

    store: Any  # models.derived.ResultStore
    machine: dict[str, Any]
    read: bool

    @classmethod
    def open(cls, loaded: Any, read: bool) -> "_BaseStore | None":
        from codehotfix.models.derived import ResultStore, code_digest, machine_identity
        from codehotfix.models.loading import derived_folder

        folder = derived_folder(loaded)
        if folder is None:
            return None
        return cls(ResultStore(folder / BASE_STORE),
                   {"model": loaded.checksum, "code": code_digest(), **machine_identity(loaded.model)}, read)

    def result(self, step: str, inputs: dict[str, Any], compute: Callable[[], dict[str, Any]],
               files: dict[str, Path] | None, log: Callable[[str], None]) -> dict[str, Any]:
        """``compute()``'s result, read from the store when it holds this step for these inputs; a
        computed result is stored (with ``files`` that exist). A read one carries ``from_store``."""
        identity = {"step": step, **self.machine, **inputs}
        if self.read:
            found = self.store.get(identity, files)
            if found is not None:
                log(f"[demo] {step}: read from the model's store ({found.key}; computed in "
                    f"{found.seconds} s, {found.created})")
                return {**found.result, "from_store": found.provenance()}
        t0 = time.time()
        result = compute()
        # The files the computation wrote (the selection writes no states when no topic is chosen).
        try:
            self.store.put(identity, result, time.time() - t0,
                           {name: path for name, path in (files or {}).items() if path.exists()})
        except OSError as e:  # a cache that cannot be written costs the next demo time, not this one its result
            logger.warning("%s: could not keep the base model's %s there (%s); the next demo computes it again",
                           self.store.folder, step, e)
        return result


def _stored(base_store: _BaseStore | None, step: str, inputs: dict[str, Any], compute: Callable[[], dict[str, Any]],
            log: Callable[[str], None], files: dict[str, Path] | None = None) -> dict[str, Any]:
    return compute() if base_store is None else base_store.result(step, inputs, compute, files, log)


def _reference_positions(cfg: HotfixConfig) -> int:
    """K of the recipe's kl_context term when the selection's context tokens are the training's
    (same ``max_context_tokens``), else 0: no states to hand over."""
    from codehotfix.objectives import build_objectives

    objectives = build_objectives(cfg.objectives)
    if not objectives.needs_context or cfg.eval.max_context_tokens != cfg.training.max_context_tokens:
        return 0
    return objectives.kl_positions()


def _select(opts: DemoOptions, cfg: HotfixConfig, loaded: Any, train: Sequence[HotfixCase],
            states_path: Path) -> dict[str, Any]:
    """Step 1b: the base model on the training contexts → the target topics (held-out never seen).
    With margins (the default), the pass also yields the chosen contexts' states for training's
    kl_context reference, written to ``states_path``."""
    from codehotfix.api import evaluate
    from codehotfix.scoring import line_logprobs_with_states

    if opts.select == "full":
        records = {r["id"]: r for r in evaluate(train, loaded=loaded, eval_config=cfg.eval)["cases"]}
        return {"select": opts.select, **select_topics(train, records, opts.selection)}
    scores, states = line_logprobs_with_states(loaded.model, loaded.tokenizer, train,
                                               positions=_reference_positions(cfg),
                                               max_context_tokens=cfg.eval.max_context_tokens,
                                               batch_size=cfg.eval.batch_size, progress=True)
    records = {c.id: {"margin": round(f - b, 4)} for c, (f, b) in zip(train, scores)}
    selection = {"select": opts.select, **select_topics(train, records, opts.selection)}
    chosen = set(selection["targets"])
    keep = {c.id: states[c.id].contiguous() for c in train if c.group in chosen and c.id in states}
    if keep:
        from safetensors.torch import save_file

        with atomic_path(states_path) as tmp:
            save_file(keep, str(tmp))
    return selection


def _load_states(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None  # a run from before the file, or a recipe without kl_context: training computes it
    from safetensors.torch import load_file

    return load_file(str(path))


def _train_or_reuse(loaded: Any, train: Sequence[HotfixCase], cfg: HotfixConfig, hotfix_dir: Path,
                    log: Callable[[str], None], states_path: Path) -> tuple[Any, dict[str, Any], float]:
    """Step 3: (the hotfixed model, its manifest, training seconds), reusing a finished hotfix."""
    from codehotfix.api import train_on_model

    if (hotfix_dir / "hotfix.json").exists():
        from codehotfix.models.adapters.loading import load_hotfix

        log(f"[demo] training: reusing {hotfix_dir}")
        manifest = read_json(hotfix_dir / "hotfix.json")
        return load_hotfix(loaded.model, hotfix_dir, base_checksum=loaded.checksum), manifest, \
            manifest["wall_seconds"]
    log(f"[demo] training on {len(train)} cases …")
    t0 = time.time()
    model, manifest = train_on_model(loaded, train, cfg, hotfix_dir, reference_states=_load_states(states_path))
    return model, manifest, round(time.time() - t0, 2)


def run_demo(opts: DemoOptions, log: Callable[[str], None] = logger.info) -> dict[str, Any]:
    """Runs the demo and returns the summary dict (also written to ``summary.json``)."""
    from codehotfix.api import evaluate
    from codehotfix.evaluation.compare import compare as compare_events
    from codehotfix.evaluation.rates import compare
    from codehotfix.models.loading import load_model

    cfg: HotfixConfig = load_config(opts.config or demo_config_path(), opts.overrides)
    if opts.select not in ("margin", "full"):
        raise ValueError(f"DemoOptions.select: must be 'margin' or 'full', got {opts.select!r}")
    cases = load_pack(opts.pack)
    topics = opts.topics
    if topics:
        unknown = sorted(set(topics) - {c.group for c in cases} - {"all"})
        if unknown:
            raise KeyError(f"unknown topic(s) {unknown}; valid: {', '.join(sorted({c.group for c in cases}))}")
    # Split first, over every topic; selection (step 1b) then sees training contexts only.
    all_train, all_test = split_pack(cases, test_fraction=opts.test_fraction, seed=cfg.seed)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"demo": {**asdict(opts), "out": str(opts.out)}, "hotfix": asdict(cfg)}
    _check_same_run(out / "config.json", record)
    write_json(out / "config.json", record)
    times: dict[str, float] = {}
    t_all = time.time()
    t0 = time.time()
    loaded = load_model(opts.model, dtype=cfg.training.dtype, threads=opts.threads or cfg.training.threads,
                        device=opts.device)
    times["load model"] = round(time.time() - t0, 2)
    base_store = _BaseStore.open(loaded, read=opts.reuse_base)

    def split_and_select() -> dict[str, Any]:
        given = sorted({c.group for c in cases}) if topics == ["all"] else sorted(topics or [])
        if given:
            selection = {"select": "given", "targets": given}
        else:
            inputs = {"cases": cases_checksum(all_train), "select": opts.select, "selection": asdict(opts.selection),
                      "eval": asdict(cfg.eval), "positions": _reference_positions(cfg)}
            selection = _stored(base_store, "select", inputs,
                                lambda: _select(opts, cfg, loaded, all_train, out / STATES_FILE),
                                log, files={"states": out / STATES_FILE})
        chosen = set(selection["targets"])
        return {"pack": opts.pack, "seed": cfg.seed, "test_fraction": opts.test_fraction,
                "train": [c.id for c in all_train if c.group in chosen],
                "test": [c.id for c in all_test if c.group in chosen],
                "all_train": [c.id for c in all_train], "all_test": [c.id for c in all_test], "selection": selection}

    split = _step(out / "split.json", "split + select topics", times, split_and_select, log)
    by_id = {c.id: c for c in cases}
    train, test = [by_id[i] for i in split["train"]], [by_id[i] for i in split["test"]]
    cases = train + test
    if not train:
        raise ValueError(f"no target topic: the base model gets every training context right under "
                         f"{split['selection'].get('rule')}; see {out / 'split.json'}")
    log(f"[demo] model {loaded.model_id} ({loaded.checksum[:12]}) loaded in {times['load model']} s; "
        f"{len(train)} training and {len(test)} held-out cases in {len({c.group for c in cases})} topics")

    base = _step(out / "base_eval.json", "base eval", times,
                 lambda: _stored(base_store, "base eval", {"cases": cases_checksum(test), "eval": asdict(cfg.eval)},
                                 lambda: evaluate(test, loaded=loaded, eval_config=cfg.eval), log), log)

    hotfix_dir = out / "hotfix"
    loaded.model, manifest, times["training"] = _train_or_reuse(loaded, train, cfg, hotfix_dir, log, out / STATES_FILE)

    after = _step(out / "hotfix_eval.json", "hotfix eval", times,
                  lambda: evaluate(test, loaded=loaded, eval_config=cfg.eval, adapter=hotfix_dir), log)
    summary = {
        "model": loaded.model_id,
        "model_checksum": loaded.checksum,
        "pack": opts.pack,
        "train_cases": len(train),
        "test_cases": len(test),
        "topics": sorted({c.group for c in cases}),
        "seed": cfg.seed,
        "eval_samples": cfg.eval.samples,
        "comparison": compare(base["summary"], after["summary"]),
        "events": compare_events(base, after),
        "by_topic": {
            g: {"before": base["summary"]["by_group"][g], "after": after["summary"]["by_group"][g]}
            for g in base["summary"]["by_group"]
        },
        "final_losses": manifest.get("final_losses"),
        # kl_corpus's base-model reference: read from the model's store or computed (it sets training's time)
        "retain_reference": manifest.get("retain_reference") or {},
        # the base model's selection and evaluation: read from the model's store (when and how long they
        # took to compute) or computed in this run (None); no store for a model in the user's own folder
        "base_store": {"store": str(base_store.store.folder) if base_store else None,
                       "select": split["selection"].get("from_store"), "base eval": base.get("from_store")},
        "seconds": {**times, "total": round(time.time() - t_all, 2)},
    }
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "summary.md", summary_markdown(summary))
    return summary


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1f}%"


def summary_markdown(summary: dict[str, Any]) -> str:
    """A human-readable before/after report of a demo summary."""
    c = summary["comparison"]
    lines = [
        f"# codehotfix demo — {summary['model']}",
        "",
        f"{summary['train_cases']} training cases, {summary['test_cases']} held-out cases, "
        f"{len(summary['topics'])} topics, seed {summary['seed']}.",
        "",
        "| held-out contexts | fixed before | fixed after | change | buggy before | buggy after | change |",
        "|---|---|---|---|---|---|---|",
    ]
    # A greedy-only evaluation (the demo recipe's) has no sampled rates: leave the row out, not 0.
    modes = ("greedy", "sampled") if summary.get("eval_samples", 1) else ("greedy",)
    rate = "sampled" if "sampled" in modes else "greedy"
    for mode in modes:
        m = c[mode]
        lines.append(f"| {mode} | {m['fixed_before']:.3f} | {m['fixed_after']:.3f} | {_pct(m['fixed_change_pct'])} "
                     f"| {m['buggy_before']:.3f} | {m['buggy_after']:.3f} | {_pct(m['buggy_change_pct'])} |")
    lines += ["", f"Mean log-likelihood margin log p(fixed) − log p(buggy): {c['margin_before']:.2f} → "
                  f"{c['margin_after']:.2f}", "", f"## By topic ({rate} rates)", "",
              "| topic | fixed before | fixed after | buggy before | buggy after | margin before | margin after |",
              "|---|---|---|---|---|---|---|"]
    for topic, t in summary["by_topic"].items():
        b, a = t["before"], t["after"]
        lines.append(f"| {topic} | {b[rate]['fixed_rate']:.2f} | {a[rate]['fixed_rate']:.2f} | "
                     f"{b[rate]['buggy_rate']:.2f} | {a[rate]['buggy_rate']:.2f} | "
                     f"{b['margin_mean']:.1f} | {a['margin_mean']:.1f} |")
    if summary.get("events"):
        from codehotfix.evaluation.compare import comparison_markdown

        lines += ["", "## Completion events (docs/evaluation.md)", "", comparison_markdown(summary["events"])]
    lines += ["", "## Time (seconds)", ""] + [f"- {k}: {v}" for k, v in summary["seconds"].items()]
    stored = summary.get("base_store") or {}
    read = [(step, stored[step]) for step in ("select", "base eval") if stored.get(step)]
    if read:
        lines += ["", "Read from the model's store, as an earlier demo computed them with the same weights, inputs, "
                      "settings, machine and code (`--recompute-base` computes them again): "
                      + "; ".join(f"{step} (computed in {info['computed_seconds']} s, {info['computed_at']})"
                                  for step, info in read) + "."]
    ref = summary.get("retain_reference") or {}
    if ref.get("store"):
        lines += ["", f"Training's kl_corpus reference: {ref['from_store']} snippet(s) read from the model's store, "
                      f"{ref['computed']} computed in this run."]
    elif ref:
        lines += ["", f"Training's kl_corpus reference: {ref['computed']} snippet(s) computed in this run (no store: "
                      "the model is not a converted copy in codehotfix's cache)."]
    return "\n".join(lines) + "\n"
