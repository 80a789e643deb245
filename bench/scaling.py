"""Scaling: codehotfix's hotfix time, memory and effect against the number of training cases and
the context length.

    python -m bench.scaling --tiny --force      # seconds, tiny random model
    python -m bench.scaling --quick             # default model, sizes 10/100, contexts 64/256 at 50 cases,
                                                #   2 epochs: ~15 min on a 2-core CPU (estimated from the
                                                #   demo's ~1.7 s per case-epoch, not measured)
    python -m bench.scaling                     # sizes 10/100/1000, contexts 64/128/256/512 at 100 cases,
                                                #   the default 4 epochs: ~3 h on a 2-core CPU (estimated)

Data: ManySStuBs4J single-line Java fixes by default — the only local set with 1,000+ cases, and one
source keeps the sizes comparable (``--data`` takes pysstubs_mined.jsonl, ≤ 614 cases, or any cases
file). A grouped split (no file on both sides) holds out ``--test`` cases once; the training sets
are nested (the first n of one seeded shuffle). Every point is a fresh model load (not timed)
trained with the default config; effect = mean margin gain log p(fixed) − log p(buggy) against the
same untrained model, on the held-out cases and on (up to 50 of) the cases trained on, both at the
point's context length. Writes bench/results/scaling.json and .md (``--tiny``: scaling--tiny.*).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    EffectProbe,
    PeakRSS,
    Timer,
    build_tiny_model,
    check_writable,
    parse_targets,
    print_table,
    release_memory,
    result_path,
    write_results,
)
from codehotfix.errors import CodehotfixError, ConfigError  # noqa: E402

DEFAULT_DATA = "/work/shared/data/manysstubs4j_singleline_java/manysstubs4j_bugs_singleline.jsonl.gz"
_TRAIN_PROBE = 50  # trained cases re-scored for the on-training-set effect


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise ConfigError(f"expected positive integers, got {text!r}")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--data", default=DEFAULT_DATA, help="cases file (default: ManySStuBs4J single-line, Java)")
    p.add_argument("--format", default="auto")
    p.add_argument("--sizes", type=_ints, default=None, help="training-set sizes (default 10,100,1000)")
    p.add_argument("--contexts", type=_ints, default=None, help="context lengths in tokens (default 64,128,256,512)")
    p.add_argument("--context-cases", type=int, default=None, help="training cases in the context sweep (default 100)")
    p.add_argument("--test", type=int, default=None, help="held-out cases (default 50)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per point (default: the config's 4)")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    p.add_argument("--quick", action="store_true", help="sizes 10,100; contexts 64,256 at 50 cases; 2 epochs; 30 held out")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--dtype", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    preset = ({"sizes": [10, 40], "contexts": [64, 128], "context_cases": 20, "test": 8, "epochs": 1} if args.tiny else
              {"sizes": [10, 100], "contexts": [64, 256], "context_cases": 50, "test": 30, "epochs": 2} if args.quick else
              {"sizes": [10, 100, 1000], "contexts": [64, 128, 256, 512], "context_cases": 100, "test": 50,
               "epochs": None})
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def load_data(args: argparse.Namespace) -> tuple[list, list]:
    """The held-out cases and the shuffled training pool (nested subsets are its prefixes)."""
    from codehotfix.data import load_cases, split_cases

    cases = load_cases(args.data, args.format)
    need = max(args.sizes + [args.context_cases])
    if need + args.test > len(cases):
        raise ConfigError(f"{args.data}: {len(cases)} cases, but the largest size ({need}) plus --test "
                          f"({args.test}) needs {need + args.test}")
    split = split_cases(cases, test_fraction=max(args.test / len(cases), 1e-3), seed=args.seed, by="group",
                        mode="grouped")
    rng = random.Random(args.seed)
    pool, test = list(split.train), list(split.test)
    rng.shuffle(pool)
    rng.shuffle(test)
    if len(pool) < need or len(test) < min(args.test, 1):
        raise ConfigError(f"{args.data}: the split left {len(pool)} training cases (need {need})")
    return test[: args.test], pool


def run_point(spec: str, args: argparse.Namespace, train: list, test: list, context: int) -> dict[str, Any]:
    """Trains one hotfix from a fresh load and measures its cost and effect."""
    from codehotfix.api import train_on_model
    from codehotfix.config import load_config
    from codehotfix.models.loading import load_model

    overrides = [*args.overrides, f"training.max_context_tokens={context}", f"seed={args.seed}"]
    if args.epochs:
        overrides.append(f"training.epochs={args.epochs}")
    cfg = load_config(None, overrides)
    targets = parse_targets(["margin_gain>=0"])  # only the measurements are used here
    held_out = EffectProbe(test, targets, max_context_tokens=context)
    trained = EffectProbe(train[:_TRAIN_PROBE], targets, max_context_tokens=context)
    release_memory()
    with PeakRSS() as mem:
        loaded = load_model(spec, dtype=args.dtype, threads=args.threads)
        base_test, base_train = held_out.set_base(loaded.model, loaded.tokenizer), \
            trained.set_base(loaded.model, loaded.tokenizer)
        with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp, Timer() as t:
            # reuse_reference off: a size must not train faster because a smaller one ran before it
            model, manifest = train_on_model(loaded, train, cfg, Path(tmp) / "hotfix", progress=True,
                                             reuse_reference=False)
    after_test, after_train = held_out.measure(model), trained.measure(model)
    row = {"cases": len(train), "context_tokens": context, "epochs": cfg.training.epochs,
           "train_s": round(t.seconds, 2), "s_per_case_epoch": t.seconds / (len(train) * cfg.training.epochs),
           "steps": manifest["steps"], "tokens": manifest["tokens"], "tokens_per_s": manifest["tokens"] / t.seconds,
           **mem.to_dict(),
           "held_out": {"base": base_test, "after": after_test},
           "trained": {"base": base_train, "after": after_train},
           "held_out_margin_gain": after_test["margin_gain"], "trained_margin_gain": after_train["margin_gain"]}
    del loaded, model
    release_memory()
    return row


def report(sizes: list[dict], contexts: list[dict]) -> str:
    headers = ["sweep", "cases", "context", "epochs", "train s", "s / case-epoch", "tokens/s", "peak RSS MB",
               "margin gain held-out", "margin gain trained", "prefers fixed held-out"]
    rows = [[sweep, r["cases"], r["context_tokens"], r["epochs"], r["train_s"], r["s_per_case_epoch"],
             r["tokens_per_s"], r["peak_rss_mb"], r["held_out_margin_gain"], r["trained_margin_gain"],
             r["held_out"]["after"]["prefers_fixed"]]
            for sweep, table in (("cases", sizes), ("context", contexts)) for r in table]
    return print_table("Hotfix scaling (codehotfix default)", headers, rows)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = result_path("scaling", args.tiny, args.out)
    check_writable(out, args.force)
    import transformers

    transformers.logging.set_verbosity_error()
    test, pool = load_data(args)
    tmp = tempfile.TemporaryDirectory(prefix="bench-tiny-")
    spec = args.model
    if args.tiny:
        spec = str(build_tiny_model(Path(tmp.name) / "model", extra_text=[c.prefix for c in pool[:200]]))
        args.dtype = "float32" if args.dtype == "auto" else args.dtype
    from codehotfix.config import TrainingConfig

    default_context = TrainingConfig().max_context_tokens
    print(f"[scaling] {len(test)} held-out cases from {args.data}; sizes {args.sizes} at {default_context} tokens; "
          f"contexts {args.contexts} at {args.context_cases} cases", flush=True)
    sizes = []
    for n in args.sizes:
        print(f"[scaling] {n} cases, context {default_context} …", flush=True)
        sizes.append(run_point(spec, args, pool[:n], test, default_context))
    contexts = []
    for c in args.contexts:
        print(f"[scaling] {args.context_cases} cases, context {c} …", flush=True)
        contexts.append(run_point(spec, args, pool[: args.context_cases], test, c))
    md = report(sizes, contexts)
    payload = {"benchmark": "scaling", "tiny": args.tiny, "quick": args.quick,
               "model": "tiny-random-qwen2" if args.tiny else args.model, "data": args.data, "seed": args.seed,
               "test_ids": [c.id for c in test], "by_cases": sizes, "by_context": contexts}
    write_results(out, payload, md)
    print(f"[scaling] wrote {out}")
    tmp.cleanup()
    return payload


if __name__ == "__main__":
    try:
        main()
    except CodehotfixError as e:
        sys.exit(f"scaling: {e}")
