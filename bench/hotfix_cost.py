"""Hotfix cost: time, memory, tokens and FLOP/s for codehotfix's default to reach a stated effect,
against the paper's recipe (HF Trainer, 512-token padding, whole-snippet losses, second model copy)
and TRL's DPOTrainer with the same LoRA config on the same pairs.

    python -m bench.hotfix_cost --tiny --force            # seconds, on a tiny random model
    python -m bench.hotfix_cost                           # the default model and pack (hours on 2 cores)
    python -m bench.hotfix_cost --cases /work/shared/data/pysstubs_mined/pysstubs_mined.jsonl --train 60 --test 40

Defaults: cases = the default pack's target topics, split within topics (60 train / 36 held out, as
the demo); target = prefers_fixed >= 0.9 on the held-out cases; at most 8 epochs per system.

The three systems run one after another in this process with the same torch threads, each from a
fresh load of the base model. After every epoch each one's held-out effect is measured the same way
(``bench.common.EffectProbe``; its time is not counted) and training stops once every ``--target``
holds. Time to effect = everything after the base model is loaded (adapter set-up, tokenization,
the paper recipe's second model copy, training) up to the end of that epoch. Peak RSS is sampled
every 50 ms from before the load. Writes bench/results/hotfix_cost.json and .md (``--tiny``:
hotfix_cost--tiny.*); refuses to overwrite earlier results without --force.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import (  # noqa: E402
    EffectProbe,
    EffectStopCallback,
    EpochTracker,
    FlopCount,
    PeakRSS,
    Timer,
    build_tiny_model,
    check_writable,
    flops_summary,
    forward_params,
    lora_params,
    measure_matmul_flops,
    parse_targets,
    print_table,
    release_memory,
    result_path,
    write_results,
)
from codehotfix.data.cases import HotfixCase  # noqa: E402
from codehotfix.errors import CodehotfixError, ConfigError  # noqa: E402

SYSTEMS = ("codehotfix", "paper_recipe", "trl_dpo")
DEFAULT_TARGET = "prefers_fixed>=0.9"
TINY_TARGET = "margin_gain>=0.25"  # a random 2-layer model moves slowly; this only checks the mechanics


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default", help="base model spec for load_model (default: the embedded model)")
    p.add_argument("--cases", default="pack", help="'pack' (the default pack's target topics) or a cases file")
    p.add_argument("--format", default="auto", help="loader for --cases (auto, pysstubs, manysstubs4j, jsonl, ...)")
    p.add_argument("--train", type=int, default=None, help="use at most this many training cases")
    p.add_argument("--test", type=int, default=None, help="use at most this many held-out cases")
    p.add_argument("--target", action="append", default=None,
                   help=f"METRIC>=VALUE or METRIC<=VALUE on held-out cases, repeatable (default {DEFAULT_TARGET})")
    p.add_argument("--max-epochs", type=int, default=None, help="epochs each system may use (default 8; tiny 6)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {', '.join(SYSTEMS)}")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="codehotfix config override key=value (default: the shipped defaults)")
    p.add_argument("--paper-micro-batch", type=int, default=1, help="paper recipe cases per forward (batch 8 via accumulation)")
    p.add_argument("--dpo-lr", type=float, default=None, help="TRL DPO learning rate (default: codehotfix's)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for every system (default: all cores)")
    p.add_argument("--dtype", default="auto", help="model dtype: auto, bfloat16, float32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--matmul-seconds", type=float, default=3.0, help="how long to time the matmul reference")
    p.add_argument("--tiny", action="store_true", help="tiny random model, few cases: checks the script in seconds")
    p.add_argument("--progress", action="store_true", help="show each system's own progress bar")
    p.add_argument("--out", default=None, help="result JSON path (default bench/results/hotfix_cost.json)")
    p.add_argument("--force", action="store_true", help="overwrite earlier results")
    args = p.parse_args(argv)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(args.systems) - set(SYSTEMS))
    if unknown or not args.systems:
        raise ConfigError(f"--systems: unknown {unknown}; valid: {', '.join(SYSTEMS)}")
    args.targets = parse_targets(args.target or [TINY_TARGET if args.tiny else DEFAULT_TARGET])
    args.max_epochs = args.max_epochs or (6 if args.tiny else 8)
    if args.max_epochs < 1:
        raise ConfigError(f"--max-epochs must be >= 1, got {args.max_epochs}")
    return args


# --------------------------------------------------------------------------- data

def load_split(args: argparse.Namespace) -> tuple[list[HotfixCase], list[HotfixCase], str]:
    """Training and held-out cases, and a one-line description of where they came from."""
    from codehotfix.data import TARGET_TOPICS, load_cases, load_pack, split_cases

    if args.cases == "pack":
        topics = set(TARGET_TOPICS["default"])
        cases = [c for c in load_pack("default") if c.group in topics]
        split = split_cases(cases, test_fraction=0.375, seed=args.seed, by="group", mode="within")
        source = f"default pack, {len(topics)} target topics, split within topics (seed {args.seed})"
    else:
        cases = load_cases(args.cases, args.format)
        n_test = args.test or max(1, len(cases) // 4)
        split = split_cases(cases, test_fraction=min(0.5, n_test / len(cases)), seed=args.seed, by="group",
                            mode="grouped")
        source = f"{args.cases}, grouped split (no group on both sides, seed {args.seed})"
    train, test = list(split.train), list(split.test)
    rng = random.Random(args.seed)
    rng.shuffle(train)
    rng.shuffle(test)
    train, test = train[: args.train or len(train)], test[: args.test or len(test)]
    if not train or not test:
        raise CodehotfixError(f"{args.cases}: the split left {len(train)} training and {len(test)} held-out cases")
    return train, test, source


# --------------------------------------------------------------------------- the three systems

class _TargetReached(Exception):
    """Raised inside codehotfix's loop to end a run whose target is met (nothing is saved)."""


class _CodehotfixEpochs:
    """Watches codehotfix's training loop from outside, through ``loop.make_batches``.

    The loop calls ``make_batches`` once at the start of every epoch, so its k-th call means epoch
    k-1 has just ended (its checkpoint written): that is where the effect is measured and, once the
    target holds, the run is ended. The batches it returns are collated here once more to count
    real and padded tokens exactly as the loop will see them. Nothing in the loop changes.
    """

    def __init__(self, loop: Any, tracker: EpochTracker, model: Any, tokenizer: Any, needs_context: bool,
                 needs_reference: bool) -> None:
        self.loop, self.tracker, self.model, self.tokenizer = loop, tracker, model, tokenizer
        self.needs_context, self.needs_reference = needs_context, needs_reference
        self.tokens, self.epoch, self.steps = FlopCount(), 0, 0
        self._original: Callable | None = None

    def __enter__(self) -> "_CodehotfixEpochs":
        self._original = self.loop.make_batches
        self.loop.make_batches = self._make_batches
        return self

    def __exit__(self, *exc: Any) -> None:
        self.loop.make_batches = self._original

    def _make_batches(self, items: Any, batch_size: int, rng: random.Random) -> list:
        if self.epoch and self.tracker.epoch_end(self.model, self.epoch):
            raise _TargetReached
        self.epoch += 1
        batches = self._original(items, batch_size, rng)
        from codehotfix.scoring import collate

        for group in batches:
            batch = collate(group, self.tokenizer.pad_token_id)
            ctx_real, ctx_pad = batch.ctx_mask.sum(), batch.ctx_ids.numel()
            cont_real, cont_pad = batch.cont_mask.sum(), batch.cont_ids.numel()
            self.tokens.add_train(ctx_real + cont_real, ctx_pad + cont_pad)
            if self.epoch == 1:  # the base model's outputs are computed once per case and cached
                if self.needs_context:
                    self.tokens.add_ref(ctx_real, ctx_pad)
                if self.needs_reference:
                    self.tokens.add_ref(ctx_real + cont_real, ctx_pad + cont_pad)
        self.steps += len(batches)
        return batches


def run_codehotfix(run: "_Run") -> dict[str, Any]:
    from codehotfix.api import train_on_model
    from codehotfix.config import load_config
    from codehotfix.objectives import build_objectives
    from codehotfix.training import loop

    cfg = load_config(None, [*run.args.overrides, f"training.epochs={run.args.max_epochs}",
                             f"seed={run.args.seed}"])
    loaded, tracker = run.load(), EpochTracker(run.probe)
    objectives = build_objectives(cfg.objectives)
    watch = _CodehotfixEpochs(loop, tracker, loaded.model, loaded.tokenizer, objectives.needs_context,
                              getattr(objectives, "needs_reference", False))
    tracker.start()
    with tempfile.TemporaryDirectory(prefix="bench-codehotfix-") as tmp, watch:
        try:
            model, _ = train_on_model(loaded, run.train, cfg, Path(tmp) / "hotfix", progress=run.args.progress)
            tracker.epoch_end(model, watch.epoch)  # the last epoch has no next make_batches call
        except _TargetReached:
            pass
        n, n_lora = forward_params(loaded.model), lora_params(loaded.model)
    return {"config": {"hotfix": asdict(cfg)}, "steps": watch.steps, "tokens": watch.tokens, "n": n,
            "n_lora": n_lora, "tracker": tracker}


def run_paper_recipe(run: "_Run") -> dict[str, Any]:
    from bench.baselines import PaperRecipeConfig, build_paper_trainer

    cfg = PaperRecipeConfig(epochs=run.args.max_epochs, micro_batch_size=run.args.paper_micro_batch,
                            seed=run.args.seed, max_length=run.max_length)
    loaded, tracker = run.load(), EpochTracker(run.probe)
    tracker.start()
    from codehotfix.models.loading import load_model

    second = load_model(run.spec, dtype=run.args.dtype, threads=run.args.threads)  # the KL reference copy
    trainer = build_paper_trainer(loaded.model, second.model, loaded.tokenizer, run.train, cfg,
                                  callbacks=[EffectStopCallback(tracker)], progress=run.args.progress)
    trainer.train()
    out = {"config": {"paper_recipe": asdict(cfg)}, "steps": trainer.state.global_step, "tokens": trainer.tokens,
           "n": forward_params(trainer.model), "n_lora": lora_params(trainer.model), "tracker": tracker}
    trainer.accelerator.free_memory()
    return out


def run_trl_dpo(run: "_Run") -> dict[str, Any]:
    from bench.baselines import DPOBaselineConfig, build_dpo_trainer
    from codehotfix.config import load_config

    ours = load_config(None, run.args.overrides)
    cfg = DPOBaselineConfig(lr=run.args.dpo_lr or ours.training.lr, batch_size=ours.training.batch_size,
                            max_context_tokens=ours.training.max_context_tokens, epochs=run.args.max_epochs,
                            warmup_steps=ours.training.warmup_steps, seed=run.args.seed)
    loaded, tracker = run.load(), EpochTracker(run.probe)
    tracker.start()
    trainer = build_dpo_trainer(loaded.model, loaded.tokenizer, run.train, cfg, adapter=ours.adapter,
                                callbacks=[EffectStopCallback(tracker)], progress=run.args.progress)
    trainer.train()
    out = {"config": {"trl_dpo": asdict(cfg)}, "steps": trainer.state.global_step,
           "tokens": trainer.data_collator.tokens, "n": forward_params(trainer.model),
           "n_lora": lora_params(trainer.model), "tracker": tracker}
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


def measure_system(name: str, run: _Run, matmul: float) -> dict[str, Any]:
    """Runs one system from a fresh load under the RSS sampler and returns its result row."""
    release_memory()
    print(f"[hotfix_cost] {name}: loading and training (up to {run.args.max_epochs} epochs) …", flush=True)
    t0 = time.perf_counter()
    with PeakRSS() as mem:
        res = RUNNERS[name](run)
    wall = time.perf_counter() - t0
    tracker: EpochTracker = res["tracker"]
    train_s = tracker.epochs[-1]["train_s"] if tracker.epochs else tracker.elapsed()
    row = {
        "system": name,
        "reached": tracker.time_to_effect_s is not None,
        "epochs_to_effect": tracker.epochs_to_effect,
        "time_to_effect_s": round(tracker.time_to_effect_s, 2) if tracker.time_to_effect_s is not None else None,
        "train_s": round(train_s, 2),
        "epochs_run": len(tracker.epochs),
        "steps": res["steps"],
        "load_s": round(run.load_s, 2),
        "probe_s": round(tracker.probe_s, 2),
        "wall_s": round(wall, 2),
        **mem.to_dict(),
        "forward_params": res["n"],
        "lora_params": res["n_lora"],
        **flops_summary(res["tokens"], res["n"], res["n_lora"], train_s, matmul),
        "final_effect": {k: v for k, v in tracker.epochs[-1].items() if k not in ("epoch", "train_s", "reached")}
        if tracker.epochs else None,
        "epochs": tracker.epochs,
        "config": res["config"],
    }
    del res
    release_memory()
    return row


def _ratio(row: dict, ref: dict | None, key: str) -> str | None:
    if ref is None or ref.get(key) in (None, 0) or row.get(key) is None:
        return None
    return f"{row[key] / ref[key]:.2f}×"


def _time_ratio(row: dict, ref: dict | None) -> str | None:
    """system time / codehotfix time; '≥' where the system missed the target (a lower bound)."""
    if ref is None or not ref["reached"]:
        return None
    if row["reached"]:
        return f"{row['time_to_effect_s'] / ref['time_to_effect_s']:.2f}×"
    return f"≥{row['train_s'] / ref['time_to_effect_s']:.2f}×"


def report(rows: list[dict], targets: Sequence[Any], matmul: dict[str, float], dtype: str) -> str:
    ref = next((r for r in rows if r["system"] == "codehotfix"), None)
    headers = ["system", "reached", "epochs", "time to effect s", "× codehotfix", "s / epoch", "peak RSS MB", "× codehotfix",
               "above start MB", "tokens real", "tokens padded", "GFLOP/s (model)", "share of matmul",
               "margin gain", "prefers fixed"]
    table = []
    for r in rows:
        eff = r["final_effect"] or {}
        table.append([
            r["system"], "yes" if r["reached"] else "no", r["epochs_to_effect"] or f">{r['epochs_run']}",
            r["time_to_effect_s"] if r["reached"] else f">{r['train_s']:.1f}", _time_ratio(r, ref),
            r["train_s"] / max(1, r["epochs_run"]),
            r["peak_rss_mb"], _ratio(r, ref, "peak_rss_mb"), r["peak_above_start_mb"],
            r["train_tokens_real"] + r["ref_tokens_real"], r["train_tokens_padded"] + r["ref_tokens_padded"],
            (r["model_flops_per_s"] or 0) / 1e9, f"{100 * (r['model_flops_share'] or 0):.1f}%",
            eff.get("margin_gain"), eff.get("prefers_fixed"),
        ])
    title = "Hotfix cost to reach " + " and ".join(str(t) for t in targets)
    md = print_table(title, headers, table)
    note = (f"\nTarget: {'; '.join(t.describe() for t in targets)}. Matmul reference ({dtype}): "
            f"{matmul[dtype] / 1e9:.1f} GFLOP/s. Tokens = trainable + reference passes.\n")
    print(note)
    return md + note


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = result_path("hotfix_cost", args.tiny, args.out)
    check_writable(out, args.force)
    import transformers

    transformers.logging.set_verbosity_error()
    train, test, source = load_split(args)
    tmp = tempfile.TemporaryDirectory(prefix="bench-tiny-")
    spec, max_length = args.model, 512
    if args.tiny:
        train, test = train[: args.train or 16], test[: args.test or 8]
        spec = str(build_tiny_model(Path(tmp.name) / "model", extra_text=[c.prefix + c.fixed for c in train]))
        args.dtype = "float32" if args.dtype == "auto" else args.dtype
    from codehotfix.models.loading import resolve_dtype, set_threads

    set_threads(args.threads)
    dtype = str(resolve_dtype(args.dtype)).replace("torch.", "")
    print(f"[hotfix_cost] {len(train)} training, {len(test)} held-out cases from {source}; model {spec} ({dtype}), "
          f"{torch.get_num_threads()} threads; measuring matmul FLOP/s …", flush=True)
    matmul = {name: measure_matmul_flops(getattr(torch, name), seconds=args.matmul_seconds)
              for name in ("bfloat16", "float32")}
    probe = EffectProbe(test, args.targets)
    run = _Run(args, spec, train, probe, max_length)
    rows = [measure_system(name, run, matmul[dtype]) for name in args.systems]
    md = report(rows, args.targets, matmul, dtype)
    payload = {
        "benchmark": "hotfix_cost", "tiny": args.tiny, "model": args.model if not args.tiny else "tiny-random-qwen2",
        "dtype": dtype, "cases": source, "train_cases": len(train), "test_cases": len(test),
        "train_ids": [c.id for c in train], "test_ids": [c.id for c in test],
        "targets": [str(t) for t in args.targets], "max_epochs": args.max_epochs, "seed": args.seed,
        "matmul_flops_per_s": matmul, "base_effect": probe.base, "systems": rows,
        "time_definition": "seconds from 'base model loaded' to the end of the first epoch meeting every target, "
                           "minus the effect-measurement time",
        "flops_definition": "see bench/common.py: (4N + 6N_lora)·T_train + 2N·T_ref, N = forward params",
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
