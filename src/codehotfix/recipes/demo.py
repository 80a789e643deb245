"""The demo recipe: base eval → hotfix training → eval again, on the built-in pack.

    codehotfix demo [--out runs/demo] [--model default] [--config FILE] [key=value …]

Steps, each written to the run folder as soon as it finishes (a re-run with the same ``--out``
skips finished steps, so an interrupted demo resumes):

  1. split.json        the pack split: per topic, some contexts for training, the rest held out
  2. base_eval.json    the base model on the held-out contexts (greedy + k samples, margins)
  3. hotfix/           the trained adapter (PEFT format) + hotfix.json manifest
  4. hotfix_eval.json  the hotfixed model on the same held-out contexts
  5. summary.json/.md  before/after table, relative changes, time of every phase
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from codehotfix.config import HotfixConfig, load_config
from codehotfix.data.cases import HotfixCase
from codehotfix.data.packs import TARGET_TOPICS, load_pack
from codehotfix.data.split import split_cases
from codehotfix.files import atomic_write_text, read_json, write_json

__all__ = ["DemoOptions", "run_demo", "summary_markdown"]

logger = logging.getLogger(__name__)


@dataclass
class DemoOptions:
    """Knobs of the demo beyond the hotfix config.

    Attributes:
        out: run folder (created; finished steps inside it are reused).
        model: base model spec (see ``load_model``).
        pack: built-in pack name.
        test_fraction: share of each topic's contexts held out for evaluation.
        topics: restrict to these topics (None: the pack's target topics — those the default model
            gets wrong — or every topic for a pack without a target list; ["all"]: every topic).
        config: YAML config path (None: defaults).
        overrides: ``a.b=c`` overrides.
        device: where the model runs ("auto", "cpu", "cuda:N"; see ``load_model``).
    """

    out: Path = Path("runs/demo")
    model: str | None = None
    pack: str = "default"
    test_fraction: float = 0.375
    topics: list[str] | None = None
    config: str | None = None
    overrides: list[str] = field(default_factory=list)
    device: str = "auto"


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


def _split(cases: Sequence[HotfixCase], fraction: float, seed: int) -> tuple[list[HotfixCase], list[HotfixCase]]:
    split = split_cases(cases, test_fraction=fraction, seed=seed, by="group", mode="within")
    return split.train, split.test


def run_demo(opts: DemoOptions, log: Callable[[str], None] = logger.info) -> dict[str, Any]:
    """Runs the demo and returns the summary dict (also written to ``summary.json``)."""
    from codehotfix.api import evaluate, train_on_model
    from codehotfix.evaluation.rates import compare
    from codehotfix.models.loading import load_model

    cfg: HotfixConfig = load_config(opts.config, opts.overrides)
    cases = load_pack(opts.pack)
    topics = opts.topics
    if topics is None and opts.pack in TARGET_TOPICS:
        topics = list(TARGET_TOPICS[opts.pack])
    if topics == ["all"]:
        topics = None
    if topics:
        unknown = sorted(set(topics) - {c.group for c in cases})
        if unknown:
            raise KeyError(f"unknown topic(s) {unknown}; valid: {', '.join(sorted({c.group for c in cases}))}")
        cases = [c for c in cases if c.group in topics]
    train, test = _split(cases, opts.test_fraction, cfg.seed)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "split.json", {"pack": opts.pack, "seed": cfg.seed, "train": [c.id for c in train],
                                    "test": [c.id for c in test]})
    write_json(out / "config.json", {"demo": {**asdict(opts), "out": str(opts.out)}, "hotfix": asdict(cfg)})
    times: dict[str, float] = {}
    t_all = time.time()
    t0 = time.time()
    loaded = load_model(opts.model, dtype=cfg.training.dtype, threads=cfg.training.threads, device=opts.device)
    times["load model"] = round(time.time() - t0, 2)
    log(f"[demo] model {loaded.model_id} ({loaded.checksum[:12]}) loaded in {times['load model']} s; "
        f"{len(train)} training and {len(test)} held-out cases in {len({c.group for c in cases})} topics")

    base = _step(out / "base_eval.json", "base eval", times,
                 lambda: evaluate(test, loaded=loaded, eval_config=cfg.eval), log)

    hotfix_dir = out / "hotfix"
    if (hotfix_dir / "hotfix.json").exists():
        from peft import PeftModel

        log(f"[demo] training: reusing {hotfix_dir}")
        model = PeftModel.from_pretrained(loaded.model, hotfix_dir)
        manifest = read_json(hotfix_dir / "hotfix.json")
        times["training"] = manifest["wall_seconds"]
    else:
        log(f"[demo] training on {len(train)} cases …")
        t0 = time.time()
        model, manifest = train_on_model(loaded, train, cfg, hotfix_dir)
        times["training"] = round(time.time() - t0, 2)
    loaded.model = model

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
        "comparison": compare(base["summary"], after["summary"]),
        "by_topic": {
            g: {"before": base["summary"]["by_group"][g], "after": after["summary"]["by_group"][g]}
            for g in base["summary"]["by_group"]
        },
        "final_losses": manifest.get("final_losses"),
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
    for mode in ("greedy", "sampled"):
        m = c[mode]
        lines.append(f"| {mode} | {m['fixed_before']:.3f} | {m['fixed_after']:.3f} | {_pct(m['fixed_change_pct'])} "
                     f"| {m['buggy_before']:.3f} | {m['buggy_after']:.3f} | {_pct(m['buggy_change_pct'])} |")
    lines += ["", f"Mean log-likelihood margin log p(fixed) − log p(buggy): {c['margin_before']:.2f} → "
                  f"{c['margin_after']:.2f}", "", "## By topic (sampled rates)", "",
              "| topic | fixed before | fixed after | buggy before | buggy after | margin before | margin after |",
              "|---|---|---|---|---|---|---|"]
    for topic, t in summary["by_topic"].items():
        b, a = t["before"], t["after"]
        lines.append(f"| {topic} | {b['sampled']['fixed_rate']:.2f} | {a['sampled']['fixed_rate']:.2f} | "
                     f"{b['sampled']['buggy_rate']:.2f} | {a['sampled']['buggy_rate']:.2f} | "
                     f"{b['margin_mean']:.1f} | {a['margin_mean']:.1f} |")
    lines += ["", "## Time (seconds)", ""] + [f"- {k}: {v}" for k, v in summary["seconds"].items()]
    return "\n".join(lines) + "\n"
