"""The output head on a strided slice of positions, as torch runs it, against the slice copied first.

    python -m bench.head_contiguous [--dtypes bfloat16,float32] [--repeats 5] [--force]
    python -m bench.head_contiguous --tiny --force      # the script works (a tiny random model)

Every caller of the output head passes hidden states at a slice of positions: the next token of a
generation prefill (``h[:, -1:]``, transformers' ``logits_to_keep``), the last K context positions
of the retain losses. Such a slice is strided. On a 2-core AVX512-BF16 CPU in bfloat16, a frozen
``Linear`` (as every base weight is under a PEFT adapter) given that input expanded its [V, H]
weight to [B, H, V] and copied it, which made the default recipe's training step 2.5× slower than
it had to be. ``models.loading.contiguous_head_input``
now copies the (small) slice first, through a forward pre-hook on the head of every loaded model.

This times, on the default model's head, for each dtype and (rows, positions) shape:
``head.forward(slice)`` (no hook: what torch does by itself) against ``head(slice)`` (the hook),
``--repeats`` times in alternating order, and checks that the logits agree. The ratio is the median
of the per-repeat ratios with its min–max. Run it alone.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (add_run_options, build_tiny_model, format_spread, output_for, print_table,  # noqa: E402
                          spread, write_results)
from codehotfix.models.loading import load_model  # noqa: E402

# (rows, positions, hidden-state width): a generation prefill of 8 and 32 prompts, and the kl_context
# slice of a training batch (8 cases × the last 32 context positions of ~85).
SHAPES = ((8, 1, 90), (32, 1, 90), (8, 32, 90))


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@torch.no_grad()
def measure(head: torch.nn.Module, dtype: torch.dtype, shapes, repeats: int, seed: int = 0) -> list[dict[str, Any]]:
    """Per shape: seconds of the strided call and of the hooked call per repeat, and their agreement."""
    gen = torch.Generator().manual_seed(seed)
    rows_out = []
    for rows, positions, width in shapes:
        hidden = torch.randn(rows, width, head.in_features, generator=gen).to(dtype)
        part = hidden[:, width - 1 - positions:width - 1]  # strided, as the callers slice it
        assert not part.is_contiguous()
        plain, hooked = head.forward(part), head(part)  # also the warm-up of both paths
        diff = (plain.float() - hooked.float()).abs().max().item()
        seconds: dict[str, list[float]] = {"strided": [], "copied first": []}
        for r in range(repeats):
            order = (("strided", lambda: head.forward(part)), ("copied first", lambda: head(part)))
            for name, fn in (order if r % 2 == 0 else order[::-1]):
                seconds[name].append(_time(fn))
        ratios = [a / b for a, b in zip(seconds["strided"], seconds["copied first"])]
        rows_out.append({"dtype": str(dtype).removeprefix("torch."), "rows": rows, "positions": positions,
                         "seconds": seconds, "speedup": spread(ratios), "max_abs_logit_difference": diff})
    return rows_out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model spec (default: the embedded default model)")
    ap.add_argument("--dtypes", default="bfloat16,float32")
    ap.add_argument("--repeats", type=int, default=5)
    add_run_options(ap)
    args = ap.parse_args(argv)
    out = output_for("head_contiguous", args)
    with tempfile.TemporaryDirectory() as tmp:
        spec = str(build_tiny_model(Path(tmp) / "tiny")) if args.tiny else args.model
        return _run(args, argv, spec, out)


def _run(args: argparse.Namespace, argv: list[str] | None, spec: str | None, out: Path) -> dict[str, Any]:
    table, results = [], []
    for name in args.dtypes.split(","):
        loaded = load_model(spec, dtype=name, threads=args.threads)
        # Frozen, as PEFT leaves every base weight: torch folds the slice into one matrix product when
        # the weight requires grad, and takes the copying path only when it does not.
        head = loaded.model.get_output_embeddings().requires_grad_(False)
        for row in measure(head, getattr(torch, name), SHAPES, args.repeats):
            results.append(row)
            med = {k: spread(v)["median"] for k, v in row["seconds"].items()}
            table.append([row["dtype"], row["rows"], row["positions"], round(med["strided"], 3),
                          round(med["copied first"], 3), format_spread(row["speedup"]),
                          f"{row['max_abs_logit_difference']:.2g}"])
        del loaded, head
    md = print_table("Output head on a strided slice: torch as is vs the slice copied first",
                     ["dtype", "rows", "positions", "strided (s, median)", "copied first (s, median)",
                      "speed-up (median, min–max)", "max abs Δ logit"], table)
    payload = {"command": "python -m bench.head_contiguous " + " ".join(argv if argv is not None else sys.argv[1:]),
               "model": "tiny" if args.tiny else (spec or "default"), "repeats": args.repeats, "results": results}
    write_results(out, payload, md)
    return payload


if __name__ == "__main__":
    main()
