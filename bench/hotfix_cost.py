"""Hotfix cost: time, memory, tokens and FLOPs for codehotfix's default to reach a stated effect,
against the paper's recipe (HF Trainer, 512-token padding, whole-snippet losses, second model copy)
and TRL's DPOTrainer with the same LoRA config on the same pairs, over several seeds.

    python -m bench.hotfix_cost --tiny --force            # seconds, on a tiny random model
    python -m bench.hotfix_cost                           # the default model and pack (hours on 2 cores)
    python -m bench.hotfix_cost --cases /work/shared/data/pysstubs_mined/pysstubs_mined.jsonl --train 60 --test 40

Defaults: cases = the default pack's target topics, split within topics (60 train / 36 held out, as
the demo; the split is fixed by --split-seed, the same for every seed); target = prefers_fixed >= 0.9
on the held-out cases (the documented target); seeds 0,1,2; at most 12 epochs per system and seed.

For each seed the systems run in an order shuffled by that seed, one after another in this process
with the same torch threads, each from a fresh load of the base model. After every epoch each one's
held-out effect is measured the same way (``bench.common.EffectProbe``; its time and its forward
passes are not counted) and training stops once every ``--target`` holds: codehotfix through an
``on_epoch_end`` hook of its ``Trainer``, the baselines through a ``TrainerCallback``. A run that
reaches the epoch cap without the target is *censored* if its effect was still improving over the
last ``--patience`` epochs (a longer run might have got there: its time is a lower bound) and
*plateaued* otherwise. Time to effect = everything after the base model is loaded (adapter set-up,
tokenization, the paper recipe's second model copy, codehotfix's per-epoch checkpoints, training)
up to the end of that epoch. Tokens (and FLOPs) come from one forward hook on every model's
transformer body (``bench.common.PassCounter``), so every batch counts, kl_corpus and reference
passes included. Peak RSS is sampled every 50 ms from before the load. The ratios to codehotfix are
printed per seed and as median and min–max over seeds. Writes bench/results/hotfix_cost.json and .md
(``--tiny``: hotfix_cost--tiny.*).

Resumable, because the whole run takes hours on a CPU: each (seed, system) row is written to
``<out>.runs/seed<S>-<system>.json`` the moment it is measured, with the settings it ran under. A
later run with the same settings reuses the rows it finds (``--seeds 0`` today and ``--seeds 1,2``
tomorrow make one three-seed table; a run cut short loses only the system it was in) and tables
every row of the folder. A row measured under other settings (cases, target, cap, dtype, …) stops
the run with its file named: pass --force to start over or --out elsewhere. An older result without
a rows folder is not overwritten without --force either.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import (  # noqa: E402
    EffectProbe,
    EffectStopCallback,
    EffectTarget,
    EpochTracker,
    FlopCount,
    PassCounter,
    PeakRSS,
    Timer,
    build_tiny_model,
    check_writable,
    environment,
    flops_summary,
    format_spread,
    forward_params,
    lora_params,
    measure_matmul_flops,
    parse_targets,
    print_table,
    release_memory,
    result_path,
    spread,
    training_flops,
    write_results,
)
from codehotfix.config import config_differences  # noqa: E402
from codehotfix.data.cases import HotfixCase  # noqa: E402
from codehotfix.errors import CodehotfixError, ConfigError  # noqa: E402
from codehotfix.files import read_json, write_json  # noqa: E402

SYSTEMS = ("codehotfix", "paper_recipe", "trl_dpo")
DEFAULT_TARGET = "prefers_fixed>=0.9"
TINY_TARGET = "margin_gain>=0.05"  # a random 2-layer model moves slowly; this only checks the mechanics
MIN_CASES = 36  # fewer held-out cases make prefers_fixed move in steps of more than 1/36


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default", help="base model spec for load_model (default: the embedded model)")
    p.add_argument("--cases", default="pack", help="'pack' (the default pack's target topics) or a cases file")
    p.add_argument("--format", default="auto", help="loader for --cases (auto, pysstubs, manysstubs4j, jsonl, ...)")
    p.add_argument("--train", type=int, default=None, help="use at most this many training cases")
    p.add_argument("--test", type=int, default=None, help="use at most this many held-out cases")
    p.add_argument("--target", action="append", default=None,
                   help=f"METRIC>=VALUE or METRIC<=VALUE on held-out cases, repeatable (default {DEFAULT_TARGET})")
    p.add_argument("--max-epochs", type=int, default=None, help="epoch cap per system and seed (default 12; tiny 3)")
    p.add_argument("--patience", type=int, default=2,
                   help="a capped run whose effect did not improve in this many last epochs is 'plateaued', "
                        "else 'censored'")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {', '.join(SYSTEMS)}")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="codehotfix config override key=value (default: the shipped defaults)")
    p.add_argument("--paper-micro-batch", type=int, default=1, help="paper recipe cases per forward (batch 8 via accumulation)")
    p.add_argument("--dpo-lr", type=float, default=None, help="TRL DPO learning rate (default: codehotfix's)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for every system (default: all cores)")
    p.add_argument("--dtype", default="auto", help="model dtype: auto, bfloat16, float32")
    p.add_argument("--seeds", default="0,1,2", help="training seeds, comma-separated; each shuffles the system order")
    p.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)  # the old single-seed flag
    p.add_argument("--split-seed", type=int, default=0, help="seed of the train/held-out split (one split for all seeds)")
    p.add_argument("--matmul-seconds", type=float, default=None, help="how long to time the matmul reference (default 3; tiny 0.2)")
    p.add_argument("--tiny", action="store_true", help="tiny random model, few cases: checks the script in seconds")
    p.add_argument("--progress", action="store_true", help="show each system's own progress bar")
    p.add_argument("--out", default=None, help="result JSON path (default bench/results/hotfix_cost.json)")
    p.add_argument("--force", action="store_true", help="overwrite earlier results")
    args = p.parse_args(argv)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(args.systems) - set(SYSTEMS))
    if unknown or not args.systems:
        raise ConfigError(f"--systems: unknown {unknown}; valid: {', '.join(SYSTEMS)}")
    try:
        args.seeds = [args.seed] if args.seed is not None else [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--seeds: expected comma-separated integers, got {args.seeds!r}") from None
    if not args.seeds or len(set(args.seeds)) != len(args.seeds):
        raise ConfigError(f"--seeds: give distinct seeds, got {args.seeds}")
    args.targets = parse_targets(args.target or [TINY_TARGET if args.tiny else DEFAULT_TARGET])
    args.max_epochs = args.max_epochs or (3 if args.tiny else 12)
    args.matmul_seconds = args.matmul_seconds or (0.2 if args.tiny else 3.0)
    if args.max_epochs < 1 or args.patience < 1:
        raise ConfigError(f"--max-epochs and --patience must be >= 1, got {args.max_epochs}, {args.patience}")
    return args


# --------------------------------------------------------------------------- data

def load_split(args: argparse.Namespace) -> tuple[list[HotfixCase], list[HotfixCase], str]:
    """Training and held-out cases (one split for every seed), and a line saying where they came from."""
    from codehotfix.data import TARGET_TOPICS, load_cases, load_pack, split_cases

    seed = args.split_seed
    if args.cases == "pack":
        topics = set(TARGET_TOPICS["default"])
        cases = [c for c in load_pack("default") if c.group in topics]
        split = split_cases(cases, test_fraction=0.375, seed=seed, by="group", mode="within")
        source = f"default pack, {len(topics)} target topics, split within topics (split seed {seed})"
    else:
        cases = load_cases(args.cases, args.format)
        n_test = args.test or max(MIN_CASES, len(cases) // 4)
        split = split_cases(cases, test_fraction=min(0.5, n_test / len(cases)), seed=seed, by="group",
                            mode="grouped")
        source = f"{args.cases}, grouped split (no group on both sides, split seed {seed})"
    train, test = list(split.train), list(split.test)
    rng = random.Random(seed)
    rng.shuffle(train)
    rng.shuffle(test)
    train, test = train[: args.train or len(train)], test[: args.test or len(test)]
    if not train or not test:
        raise CodehotfixError(f"{args.cases}: the split left {len(train)} training and {len(test)} held-out cases")
    return train, test, source


# --------------------------------------------------------------------------- the three systems

def codehotfix_config(args: argparse.Namespace, seed: int) -> Any:
    """The hotfix config codehotfix runs under for ``seed``: the shipped defaults, ``--set``, the cap."""
    from codehotfix.config import load_config

    return load_config(None, [*args.overrides, f"training.epochs={args.max_epochs}", f"seed={seed}"])


def check_recipe(folder: Path, kept: dict[tuple[int, str], dict[str, Any]], args: argparse.Namespace) -> None:
    """Refuses a kept codehotfix row trained under another recipe than this invocation's: the shipped
    defaults can change between sessions (a new option, a new default) without any argument changing.

    Raises:
        CodehotfixError: naming the row's file and the config keys that differ.
    """
    for (seed, system), row in sorted(kept.items()):
        if system != "codehotfix":
            continue
        differ = config_differences(row.get("config", {}).get("hotfix", {}), asdict(codehotfix_config(args, seed)))
        if differ:
            raise CodehotfixError(f"{folder / f'seed{seed}-codehotfix.json'}: trained under another codehotfix "
                                  f"recipe than the shipped defaults now ({'; '.join(differ)}); delete "
                                  f"that file to measure it again, or pass --force to start over")


def run_codehotfix(run: "_Run", seed: int) -> dict[str, Any]:
    """codehotfix's default recipe through ``train_adapter`` (as ``api.train_on_model`` runs it: seeded
    adapter, per-epoch checkpoints), stopped by an ``on_epoch_end`` hook once the target holds."""
    from codehotfix.api import seed_everything
    from codehotfix.models.adapters import build_adapter
    from codehotfix.training.loop import EpochEnd, TrainerCallback, train_adapter

    cfg = codehotfix_config(run.args, seed)
    loaded, counter = run.load(), PassCounter()
    tracker = EpochTracker(run.probe, counter.attach(loaded.model), label=f"[hotfix_cost] seed {seed} codehotfix",
                           cap=run.args.max_epochs)
    tracker.start()

    def measure(end: EpochEnd) -> bool:
        return tracker.epoch_end(end.model, end.epoch, end.seconds)

    seed_everything(cfg.seed)
    model = build_adapter(loaded.model, cfg.adapter)
    with tempfile.TemporaryDirectory(prefix="bench-codehotfix-") as tmp:
        result = train_adapter(model, loaded.tokenizer, run.train, cfg, checkpoint_dir=Path(tmp) / "checkpoint",
                               progress=run.args.progress, callbacks=[TrainerCallback(on_epoch_end=measure)])
    counter.detach()
    return {"config": {"hotfix": asdict(cfg)}, "steps": result.steps, "tokens": counter.tokens,
            "n": forward_params(model), "n_lora": lora_params(model), "tracker": tracker}


def run_paper_recipe(run: "_Run", seed: int) -> dict[str, Any]:
    from bench.baselines import PaperRecipeConfig, build_paper_trainer
    from codehotfix.models.loading import load_model

    cfg = PaperRecipeConfig(epochs=run.args.max_epochs, micro_batch_size=run.args.paper_micro_batch,
                            seed=seed, max_length=run.max_length)
    loaded, counter = run.load(), PassCounter()
    tracker = EpochTracker(run.probe, counter.attach(loaded.model), label=f"[hotfix_cost] seed {seed} paper_recipe",
                           cap=run.args.max_epochs)
    tracker.start()
    second = load_model(run.spec, dtype=run.args.dtype, threads=run.args.threads)  # the KL reference copy
    counter.attach(second.model)
    trainer = build_paper_trainer(loaded.model, second.model, loaded.tokenizer, run.train, cfg,
                                  callbacks=[EffectStopCallback(tracker)], progress=run.args.progress)
    trainer.train()
    counter.detach()
    out = {"config": {"paper_recipe": asdict(cfg)}, "steps": trainer.state.global_step, "tokens": counter.tokens,
           "n": forward_params(trainer.model), "n_lora": lora_params(trainer.model), "tracker": tracker}
    trainer.accelerator.free_memory()
    return out


def run_trl_dpo(run: "_Run", seed: int) -> dict[str, Any]:
    from bench.baselines import DPOBaselineConfig, build_dpo_trainer
    from codehotfix.config import load_config

    ours = load_config(None, run.args.overrides)
    cfg = DPOBaselineConfig(lr=run.args.dpo_lr or ours.training.lr, batch_size=ours.training.batch_size,
                            max_context_tokens=ours.training.max_context_tokens, epochs=run.args.max_epochs,
                            warmup_steps=ours.training.warmup_steps, seed=seed)
    loaded, counter = run.load(), PassCounter()
    tracker = EpochTracker(run.probe, counter.attach(loaded.model), label=f"[hotfix_cost] seed {seed} trl_dpo",
                           cap=run.args.max_epochs)
    tracker.start()
    trainer = build_dpo_trainer(loaded.model, loaded.tokenizer, run.train, cfg, adapter=ours.adapter,
                                callbacks=[EffectStopCallback(tracker)], progress=run.args.progress)
    trainer.train()
    counter.detach()
    out = {"config": {"trl_dpo": asdict(cfg)}, "steps": trainer.state.global_step, "tokens": counter.tokens,
           "n": forward_params(trainer.model), "n_lora": lora_params(trainer.model), "tracker": tracker}
    trainer.accelerator.free_memory()
    return out


RUNNERS = {"codehotfix": run_codehotfix, "paper_recipe": run_paper_recipe, "trl_dpo": run_trl_dpo}


class _Run:
    """What the runners share: arguments, data, the probe, and a timed fresh model load."""

    def __init__(self, args: argparse.Namespace, spec: str, train: list[HotfixCase], probe: EffectProbe,
                 max_length: int) -> None:
        self.args, self.spec, self.train, self.probe, self.max_length = args, spec, train, probe, max_length
        self.load_s = 0.0

    def load(self) -> Any:
        from codehotfix.models.loading import load_model

        with Timer() as t:
            loaded = load_model(self.spec, dtype=self.args.dtype, threads=self.args.threads)
        self.load_s = t.seconds
        if self.probe.base is None:  # the same weights every time: measure the base effect once
            self.probe.set_base(loaded.model, loaded.tokenizer)
        return loaded


# --------------------------------------------------------------------------- one run, its status

def _gap(effect: dict[str, Any], targets: Sequence[EffectTarget]) -> float:
    """How far ``effect`` is from meeting every target (0 when it meets them all)."""
    return sum(max(0.0, t.value - effect[t.metric]) if t.op == ">=" else max(0.0, effect[t.metric] - t.value)
               for t in targets)


def run_status(epochs: Sequence[dict[str, Any]], targets: Sequence[EffectTarget], patience: int) -> str:
    """'reached'; or, for a run that hit the cap: 'censored' when its distance to the target shrank
    within the last ``patience`` epochs (or it ran too few epochs to tell), else 'plateaued'."""
    if any(e["reached"] for e in epochs):
        return "reached"
    gaps = [_gap(e, targets) for e in epochs]
    if len(gaps) <= patience:
        return "censored"
    return "censored" if min(gaps[-patience:]) < min(gaps[:-patience]) - 1e-9 else "plateaued"


def _flops_at(epoch: dict[str, Any], n: int, n_lora: int) -> float:
    t = epoch["tokens"]
    return training_flops(n, n_lora, t["train_tokens_real"], t["ref_tokens_real"])


# --------------------------------------------------------------------------- rows kept per (seed, system)

def runs_dir(out: Path) -> Path:
    """Where each measured (seed, system) row is kept (``hotfix_cost.json`` → ``hotfix_cost.runs/``)."""
    return out.with_name(out.stem + ".runs")


def settings(args: argparse.Namespace, spec: str, dtype: str, train: Sequence[HotfixCase],
             test: Sequence[HotfixCase]) -> dict[str, Any]:
    """What must be equal for rows of different invocations to share one table."""
    return {"model": spec if not args.tiny else "tiny-random-qwen2", "dtype": dtype, "tiny": args.tiny,
            "train_ids": [c.id for c in train], "test_ids": [c.id for c in test],
            "targets": [str(t) for t in args.targets], "max_epochs": args.max_epochs, "patience": args.patience,
            "overrides": list(args.overrides), "paper_micro_batch": args.paper_micro_batch, "dpo_lr": args.dpo_lr,
            "threads": args.threads, "split_seed": args.split_seed,
            "systems": list(args.systems)}  # the order each seed shuffles (a row's position depends on it)


def kept_rows(folder: Path, want: dict[str, Any]) -> dict[tuple[int, str], dict[str, Any]]:
    """The rows already measured in ``folder``, by (seed, system).

    Raises:
        CodehotfixError: naming the first row file whose settings differ from ``want`` (and how).
    """
    rows = {}
    for path in sorted(folder.glob("seed*-*.json")):
        try:
            saved = read_json(path)
            got, row = saved["settings"], saved["row"]
            key = (int(row["seed"]), str(row["system"]))
        except (ValueError, KeyError, TypeError) as e:
            raise CodehotfixError(f"{path}: not a hotfix_cost row ({e}); move it away or pass --force") from None
        differ = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
        if differ:
            raise CodehotfixError(f"{path}: measured with other settings ({', '.join(differ)} differ); pass --force "
                                  f"to start over or --out elsewhere")
        rows[key] = row
    return rows


def keep_row(folder: Path, row: dict[str, Any], want: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / f"seed{row['seed']}-{row['system']}.json",
               {"settings": want, "environment": environment(), "row": row})


def measure_system(name: str, run: _Run, seed: int, position: int, matmul: float) -> dict[str, Any]:
    """Runs one system for one seed from a fresh load under the RSS sampler; returns its result row."""
    release_memory()
    print(f"[hotfix_cost] seed {seed}, #{position + 1} {name}: loading and training (cap {run.args.max_epochs} "
          f"epochs) …", flush=True)
    t0 = time.perf_counter()
    with PeakRSS() as mem:
        res = RUNNERS[name](run, seed)
    wall = time.perf_counter() - t0
    tracker: EpochTracker = res["tracker"]
    epochs = tracker.epochs
    train_s = epochs[-1]["train_s"] if epochs else tracker.elapsed()
    epoch_costs = [e["epoch_s"] for e in epochs if e["epoch_s"] is not None]
    status = run_status(epochs, run.args.targets, run.args.patience)
    at_effect = next((e for e in epochs if e["reached"]), epochs[-1] if epochs else None)
    tokens: FlopCount = res["tokens"]
    row = {
        "seed": seed, "position": position, "system": name, "status": status,
        "reached": status == "reached",
        "epochs_to_effect": tracker.epochs_to_effect,
        "time_to_effect_s": round(tracker.time_to_effect_s, 2) if tracker.time_to_effect_s is not None else None,
        "train_s": round(train_s, 2),
        "epoch_s": round(spread(epoch_costs)["median"], 3) if epoch_costs else None,
        "setup_s": round(epochs[0]["train_s"] - epochs[0]["epoch_s"], 2) if epochs and epochs[0]["epoch_s"] else None,
        "epochs_run": len(epochs),
        "steps": res["steps"],
        "load_s": round(run.load_s, 2),
        "probe_s": round(tracker.probe_s, 2),
        "wall_s": round(wall, 2),
        **mem.to_dict(),
        "forward_params": res["n"],
        "lora_params": res["n_lora"],
        **flops_summary(tokens, res["n"], res["n_lora"], train_s, matmul),
        "model_flops_to_effect": _flops_at(at_effect, res["n"], res["n_lora"]) if at_effect else None,
        "final_effect": {k: v for k, v in epochs[-1].items() if k not in ("epoch", "train_s", "epoch_s", "reached",
                                                                         "tokens")} if epochs else None,
        "epochs": epochs,
        "config": res["config"],
    }
    del res
    release_memory()
    return row


# --------------------------------------------------------------------------- ratios and their spread

def ratio(row: dict[str, Any], ref: dict[str, Any] | None, key: str = "time_to_effect_s") -> tuple[float | None, str]:
    """row / ref for time or FLOPs to effect, and what kind of number it is: 'exact' (both reached),
    'lower' (the row's system missed the target: its value is a lower bound, ≥), 'upper' (codehotfix
    missed it, ≤), or 'none' (both missed)."""
    if ref is None:
        return None, "none"
    total = "train_s" if key == "time_to_effect_s" else "model_flops_to_effect"
    if row["reached"] and ref["reached"]:
        return row[key] / ref[key], "exact"
    if ref["reached"]:
        return row[total] / ref[key], "lower"
    if row["reached"]:
        return row[key] / ref[total], "upper"
    return None, "none"


def _mark(kind: str) -> str:
    return {"exact": "", "lower": "≥", "upper": "≤"}.get(kind, "")


def summarize(rows: Sequence[dict[str, Any]], systems: Sequence[str]) -> list[dict[str, Any]]:
    """Per system, over seeds: statuses, and the ratios to codehotfix (time to effect, FLOPs to effect,
    seconds per epoch, peak RSS) as median and min–max, with the bound kind of the time ratio."""
    out = []
    for name in systems:
        mine = [r for r in rows if r["system"] == name]
        refs = {r["seed"]: r for r in rows if r["system"] == "codehotfix"}
        times = [ratio(r, refs.get(r["seed"])) for r in mine]
        flops = [ratio(r, refs.get(r["seed"]), "model_flops_to_effect") for r in mine]
        kinds = {k for v, k in times if v is not None}
        bound = "none" if not kinds else "exact" if kinds <= {"exact"} else "lower" if kinds <= {"exact", "lower"} else \
            "upper" if kinds <= {"exact", "upper"} else "mixed"
        per_epoch = [r["epoch_s"] / refs[r["seed"]]["epoch_s"] for r in mine
                     if r["seed"] in refs and r["epoch_s"] and refs[r["seed"]]["epoch_s"]]
        out.append({
            "system": name, "seeds": [r["seed"] for r in mine],
            "statuses": {s: sum(r["status"] == s for r in mine) for s in ("reached", "censored", "plateaued")},
            "time_to_effect_s": spread([r["time_to_effect_s"] for r in mine if r["reached"]]),
            "epoch_s": spread([r["epoch_s"] for r in mine if r["epoch_s"]]),
            "time_ratio": {**spread([v for v, _ in times if v is not None]), "bound": bound,
                           "per_seed": [[v, k] for v, k in times]},
            "flops_ratio": {**spread([v for v, _ in flops if v is not None]),
                            "per_seed": [[v, k] for v, k in flops]},
            "epoch_ratio": spread(per_epoch),
            "peak_rss_ratio": spread([r["peak_rss_mb"] / refs[r["seed"]]["peak_rss_mb"] for r in mine
                                      if r["seed"] in refs]),
        })
    return out


# --------------------------------------------------------------------------- report

def report(rows: list[dict], summary: list[dict], targets: Sequence[EffectTarget], matmul: dict[str, float],
           dtype: str) -> str:
    headers = ["seed", "order", "system", "status", "epochs", "time to effect s", "× codehotfix", "s / epoch",
               "setup s", "peak RSS MB", "above start MB", "tokens real (train / ref)", "tokens padded",
               "GFLOP to effect", "share of matmul", "margin gain", "prefers fixed"]
    refs = {r["seed"]: r for r in rows if r["system"] == "codehotfix"}
    table = []
    for r in rows:
        eff, (value, kind) = r["final_effect"] or {}, ratio(r, refs.get(r["seed"]))
        table.append([
            r["seed"], r["position"] + 1, r["system"], r["status"], r["epochs_to_effect"] or f">{r['epochs_run']}",
            r["time_to_effect_s"] if r["reached"] else f">{r['train_s']:.1f}",
            f"{_mark(kind)}{value:.2f}×" if value is not None else None, r["epoch_s"], r["setup_s"],
            r["peak_rss_mb"], r["peak_above_start_mb"],
            f"{r['train_tokens_real']:,} / {r['ref_tokens_real']:,}", r["train_tokens_padded"] + r["ref_tokens_padded"],
            (r["model_flops_to_effect"] or 0) / 1e9, f"{100 * (r['model_flops_share'] or 0):.1f}%",
            eff.get("margin_gain"), eff.get("prefers_fixed"),
        ])
    title = "Hotfix cost to reach " + " and ".join(str(t) for t in targets)
    md = print_table(title, headers, table)
    s_headers = ["system", "seeds", "reached / censored / plateaued", "time to effect × codehotfix",
                 "FLOPs to effect × codehotfix", "s / epoch × codehotfix", "peak RSS × codehotfix"]
    s_rows = [[s["system"], len(s["seeds"]), "{reached} / {censored} / {plateaued}".format(**s["statuses"]),
               _mark(s["time_ratio"]["bound"]) + format_spread(s["time_ratio"]), format_spread(s["flops_ratio"]),
               format_spread(s["epoch_ratio"]), format_spread(s["peak_rss_ratio"])] for s in summary]
    md += "\n" + print_table("Ratios to codehotfix over seeds: median (min–max)", s_headers, s_rows)
    note = (f"\nTarget: {'; '.join(t.describe() for t in targets)}. 'censored': the cap was hit while the "
            f"effect was still improving, so its time is a lower bound (≥); 'plateaued': no improvement in the "
            f"last epochs. A '≥' on a median means at least one seed was censored or plateaued. Matmul "
            f"reference ({dtype}): {matmul[dtype] / 1e9:.1f} GFLOP/s. Tokens = every forward pass through the "
            f"model body (trainable / reference), effect probe excluded.\n")
    print(note)
    return md + note


def _headline(summary: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for s in summary:
        if s["system"] == "codehotfix":
            continue
        t = s["time_ratio"]
        lines.append(f"{s['system']}: time to effect {_mark(t['bound'])}{format_spread(t)} codehotfix's "
                     f"(bound: {t['bound']}); per epoch {format_spread(s['epoch_ratio'])}")
    return lines


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = result_path("hotfix_cost", args.tiny, args.out)
    rows_dir = runs_dir(out)
    if args.force and rows_dir.is_dir():
        shutil.rmtree(rows_dir)
    elif not rows_dir.is_dir():
        check_writable(out, args.force)  # a result from before rows were kept
    import transformers

    transformers.logging.set_verbosity_error()
    train, test, source = load_split(args)
    tmp = tempfile.TemporaryDirectory(prefix="bench-tiny-")
    spec, max_length = args.model, 512
    if args.tiny:
        train, test = train[: args.train or 12], test[: args.test or 8]
        spec = str(build_tiny_model(Path(tmp.name) / "model", extra_text=[c.prefix + c.fixed for c in train]))
        args.dtype = "float32" if args.dtype == "auto" else args.dtype
    elif min(len(train), len(test)) < MIN_CASES:
        print(f"[hotfix_cost] warning: {len(train)} training / {len(test)} held-out cases; fewer than "
              f"{MIN_CASES} make the effect move in coarse steps", flush=True)
    from codehotfix.models.loading import resolve_dtype, set_threads

    set_threads(args.threads)
    dtype = str(resolve_dtype(args.dtype)).replace("torch.", "")
    want = settings(args, spec, dtype, train, test)
    kept = kept_rows(rows_dir, want)  # before the matmul reference and any training: a mismatch fails fast
    check_recipe(rows_dir, kept, args)
    print(f"[hotfix_cost] {len(train)} training, {len(test)} held-out cases from {source}; model {spec} ({dtype}), "
          f"{torch.get_num_threads()} threads, seeds {args.seeds}; measuring matmul FLOP/s …", flush=True)
    size = 256 if args.tiny else 2048  # one 2048² bf16 product can take seconds on a CPU without bf16 units
    matmul = {name: measure_matmul_flops(getattr(torch, name), size=size, seconds=args.matmul_seconds)
              for name in ("bfloat16", "float32")}
    probe = EffectProbe(test, args.targets)
    run = _Run(args, spec, train, probe, max_length)
    for seed in args.seeds:
        order = list(args.systems)
        random.Random(seed).shuffle(order)  # no system always runs first (warm caches, heap growth)
        for position, name in enumerate(order):
            if (seed, name) in kept:
                print(f"[hotfix_cost] seed {seed}, #{position + 1} {name}: kept from {rows_dir}", flush=True)
                continue
            row = measure_system(name, run, seed, position, matmul[dtype])
            row["matmul_flops_per_s"] = matmul[dtype]
            keep_row(rows_dir, row, want)
            kept[(seed, name)] = row
    # Every kept row, the ones of earlier invocations too, in (seed, position) order.
    rows = sorted((r for r in kept.values() if r["system"] in args.systems), key=lambda r: (r["seed"], r["position"]))
    seeds = sorted({r["seed"] for r in rows})
    orders = {seed: [r["system"] for r in rows if r["seed"] == seed] for seed in seeds}
    summary = summarize(rows, args.systems)
    md = report(rows, summary, args.targets, matmul, dtype)
    for line in _headline(summary):
        print(f"[hotfix_cost] {line}")
    payload = {
        "benchmark": "hotfix_cost", "method": 2, "tiny": args.tiny,
        "model": args.model if not args.tiny else "tiny-random-qwen2",
        "dtype": dtype, "cases": source, "train_cases": len(train), "test_cases": len(test),
        "train_ids": [c.id for c in train], "test_ids": [c.id for c in test],
        "targets": [str(t) for t in args.targets], "max_epochs": args.max_epochs, "patience": args.patience,
        "seeds": seeds, "split_seed": args.split_seed, "rows_dir": str(rows_dir), "orders": {str(k): v for k, v in orders.items()},
        "matmul_flops_per_s": matmul, "base_effect": probe.base, "systems": rows, "summary": summary,
        "time_definition": "seconds from 'base model loaded' to the end of the first epoch meeting every target, "
                           "minus the effect-measurement time",
        "epoch_definition": "median over epochs of each epoch's own batches and steps (hooks and checkpoints "
                            "between epochs left out)",
        "flops_definition": "see bench/common.py: (4N + 6N_lora)·T_train + 2N·T_ref, N = forward params, "
                            "T = real tokens of every forward pass through the model body (PassCounter)",
    }
    write_results(out, payload, md)
    print(f"[hotfix_cost] wrote {out}")
    tmp.cleanup()
    return payload


if __name__ == "__main__":
    try:
        main()
    except CodehotfixError as e:
        sys.exit(f"hotfix_cost: {e}")
