"""Where the time of the demo's evaluation goes: every decoder and output-head call, by kind.

    python -m bench.profile_eval --run docs/results/demo-joined [--adapter] [--out bench/results/profile_eval_base.json]
    python -m bench.profile_eval --tiny --force      # the tiny random model on a few pack cases (what CI runs)

Runs ``api.evaluate`` with the demo's recipe (configs/demo.yaml: greedy, events line, split and
window) on the held-out contexts of a demo run folder (its ``split.json``; ``--adapter``: with the
run's trained hotfix merged, as the demo's hotfix eval runs it) and times each call of the decoder
and of the output head. A decoder call on one new token per row is a decoding step; any wider call
is a prefill (contexts, the split prompts' extra tokens, the margins' lines). Reports seconds per
kind, the decoding steps by how many rows were still running, and the row-steps (the tokens
decoded). Run it alone: a second job on the two cores changes the times many-fold. To profile
another version of the code, put its ``src`` first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (add_run_options, build_tiny_model, code_under_test, demo_held_out,  # noqa: E402
                          markdown_table, output_for, write_results)

# Decoding steps grouped by the rows still running: the step's fixed cost (reading the weights)
# dominates below a few dozen rows on a CPU, so the small buckets are where batches' tails show.
ROW_BUCKETS = ((1, 8), (9, 32), (33, 64), (65, 128), (129, 10**9))


class CallTimer:
    """Wraps a module's forward and records (input rows, input width, seconds) of every call."""

    def __init__(self, module: torch.nn.Module, shape_of: Any) -> None:
        self.calls: list[tuple[int, int, float]] = []
        self._forward, self._shape_of = module.forward, shape_of
        module.forward = self  # an instance attribute: nn.Module.__call__ finds it first

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = self._forward(*args, **kwargs)
        rows, width = self._shape_of(args, kwargs)
        self.calls.append((rows, width, time.perf_counter() - t0))
        return out


def _decoder_shape(args: tuple, kwargs: dict) -> tuple[int, int]:
    ids = kwargs.get("input_ids", args[0] if args else None)
    if ids is None:
        ids = kwargs["inputs_embeds"]
    return int(ids.shape[0]), int(ids.shape[1])


def _head_shape(args: tuple, kwargs: dict) -> tuple[int, int]:
    h = args[0] if args else kwargs["input"]
    return (int(h.shape[0]), int(h.shape[1])) if h.dim() == 3 else (int(h.shape[0]), 1)


def summarize(total: float, decoder: list[tuple[int, int, float]], head: list[tuple[int, int, float]]) -> dict[str, Any]:
    """Seconds by kind of call, and the decoding steps by rows still running."""
    steps = [(rows, s) for rows, width, s in decoder if width == 1]
    prefill = [(rows, width, s) for rows, width, s in decoder if width > 1]
    buckets = []
    for lo, hi in ROW_BUCKETS:
        inside = [s for rows, s in steps if lo <= rows <= hi]
        if inside:
            buckets.append({"rows": f"{lo}-{hi}" if hi < 10**9 else f"{lo}+", "steps": len(inside),
                            "seconds": round(sum(inside), 2), "ms_per_step": round(1000 * sum(inside) / len(inside), 1)})
    decoder_s, head_s = sum(s for *_, s in decoder), sum(s for *_, s in head)
    return {"seconds": round(total, 2), "decoder_seconds": round(decoder_s, 2), "head_seconds": round(head_s, 2),
            "other_seconds": round(total - decoder_s - head_s, 2),
            "decode": {"steps": len(steps), "row_steps": sum(rows for rows, _ in steps),
                       "seconds": round(sum(s for _, s in steps), 2), "by_rows": buckets},
            "prefill": {"calls": len(prefill), "positions": sum(rows * width for rows, width, _ in prefill),
                        "seconds": round(sum(s for *_, s in prefill), 2)}}


def profile(loaded: Any, cases: list, eval_config: Any) -> tuple[dict[str, Any], list[dict]]:
    """Times one ``api.evaluate`` of ``cases``; returns (summary, the evaluation's per-case records)."""
    from codehotfix.api import evaluate
    from codehotfix.scoring import split_model

    decoder, head = split_model(loaded.model)
    dec, hd = CallTimer(decoder, _decoder_shape), CallTimer(head, _head_shape)
    try:
        t0 = time.perf_counter()
        result = evaluate(cases, loaded=loaded, eval_config=eval_config)
        total = time.perf_counter() - t0
    finally:
        del decoder.forward, head.forward  # back to the class's forward
    return summarize(total, dec.calls, hd.calls), result["cases"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default=None, help="a demo run folder (its split.json, and hotfix/ for --adapter)")
    p.add_argument("--adapter", action="store_true", help="evaluate with the run's hotfix (as the demo's hotfix eval)")
    p.add_argument("--model", default=None, help="model spec (default: the embedded default model)")
    add_run_options(p)
    args = p.parse_args(argv)
    if not args.tiny and not args.run:
        p.error("--run is required (a demo run folder), or --tiny")
    out = output_for("profile_eval", args)

    from codehotfix.config import load_config
    from codehotfix.models.loading import load_model
    from codehotfix.recipes.demo import demo_config_path

    run = Path(args.run) if args.run else None
    cases = demo_held_out(run, args.tiny)
    cfg = load_config(demo_config_path(), ["eval.max_new_tokens=8"] if args.tiny else [])
    with tempfile.TemporaryDirectory(prefix="bench-tiny-") as tmp:
        spec = str(build_tiny_model(Path(tmp) / "model", extra_text=[c.prefix for c in cases])) if args.tiny \
            else args.model
        loaded = load_model(spec, dtype="float32" if args.tiny else cfg.training.dtype, threads=args.threads)
        if args.adapter:
            from codehotfix.models.adapters.loading import load_hotfix

            loaded.model = load_hotfix(loaded.model, run / "hotfix", base_checksum=loaded.checksum)
        summary, records = profile(loaded, cases, cfg.eval)
    code, commit = code_under_test()
    result = {"benchmark": "profile_eval", "tiny": args.tiny, "run": str(run) if run else None,
              "adapter": args.adapter, "cases": len(cases), "events": list(cfg.eval.events),
              "model": "tiny-random-qwen2" if args.tiny else (args.model or "default"),
              "dtype": str(loaded.model.dtype).replace("torch.", ""),
              # the code profiled (another version's src may come first on PYTHONPATH) and its commit
              "code": str(code), "code_commit": commit or None,
              **summary, "greedy": {r["id"]: {e: r["events"][e]["greedy"]["text"] for e in r["events"]} for r in records},
              "command": "python -m bench.profile_eval " + " ".join(argv if argv is not None else sys.argv[1:])}
    d = result["decode"]
    md = "\n".join([
        f"# Evaluation profile ({result['model']}, {result['dtype']}, {'hotfix' if args.adapter else 'base model'})", "",
        f"{len(cases)} held-out contexts, greedy, events {', '.join(result['events'])}: {result['seconds']} s in all; "
        f"decoder {result['decoder_seconds']} s, output head {result['head_seconds']} s, the rest "
        f"{result['other_seconds']} s.", "",
        f"Prefill: {result['prefill']['calls']} calls, {result['prefill']['positions']} token positions, "
        f"{result['prefill']['seconds']} s. Decoding: {d['steps']} steps, {d['row_steps']} row-steps, {d['seconds']} s "
        "(decoder only), by rows still running:", "",
        markdown_table(["rows", "steps", "seconds", "ms per step"],
                       [[b["rows"], b["steps"], b["seconds"], b["ms_per_step"]] for b in d["by_rows"]]), ""])
    write_results(out, result, md)
    print(md)
    return result


if __name__ == "__main__":
    main()
