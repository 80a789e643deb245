"""Line log-probs of the demo's target selection, batched in input order against batched by length.

    python -m bench.margin_batching [--out bench/results/margin_batching.json] [--force]
    python -m bench.margin_batching --tiny --force   # seconds: the tiny random model (what CI runs)

The demo scores log p(fixed) and log p(buggy) of the 205 training contexts of all 41 pack topics (5 of
10 per topic) at batch 32 to choose its targets. Contexts run from 4 to 115 tokens; in input order a
batch pads every context to its longest. ``scoring.line_logprobs`` now sorts by length first. This
times both orders on the default model, one after the other in one process, and checks that the
margins agree. An existing results file is kept unless ``--force``. Run it alone.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from codehotfix.data.packs import load_pack, split_pack
from codehotfix.models.loading import load_model
from codehotfix.models.provenance import machine_info
from codehotfix.scoring import collate, encode_case, line_logprobs, score_batch

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_run_options, build_tiny_model, output_for, write_results  # noqa: E402


@torch.no_grad()
def _input_order(model, tokenizer, cases, batch_size: int) -> list[tuple[float, float]]:
    """The old batching: consecutive cases in input order."""
    encoded = [encode_case(tokenizer, c, 256) for c in cases]
    out = []
    for start in range(0, len(encoded), batch_size):
        scores = score_batch(model, collate(encoded[start:start + batch_size], tokenizer.pad_token_id))
        out += list(zip(scores.fixed_logp.sum(-1).tolist(), scores.buggy_logp.sum(-1).tolist()))
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="base model (default: the embedded default model)")
    add_run_options(ap)
    args = ap.parse_args(argv)
    out = output_for("margin_batching", args)
    train, _ = split_pack(load_pack("default"), test_fraction=0.5, seed=0)
    tmp = tempfile.TemporaryDirectory(prefix="bench-tiny-")
    spec = args.model
    if args.tiny:
        spec = str(build_tiny_model(Path(tmp.name) / "model", extra_text=[c.prefix for c in train]))
    # The tiny check compares two batchings to float32 rounding; "auto" would pick bfloat16 on a CPU
    # with AVX512-BF16, whose rounding alone moves margins by more than the check's tolerance.
    loaded = load_model(spec, dtype="float32" if args.tiny else "auto", threads=args.threads)
    timings, margins = {}, {}
    for name, fn in (("input order", lambda: _input_order(loaded.model, loaded.tokenizer, train, 32)),
                     ("by length", lambda: line_logprobs(loaded.model, loaded.tokenizer, train, batch_size=32))):
        t0 = time.perf_counter()
        pairs = fn()
        timings[name] = round(time.perf_counter() - t0, 2)
        margins[name] = [f - b for f, b in pairs]
    diff = max(abs(a - b) for a, b in zip(margins["input order"], margins["by length"]))
    command = " ".join(["python -m bench.margin_batching", shlex.join(sys.argv[1:] if argv is None else argv)]).strip()
    result = {"command": command, "tiny": args.tiny, "contexts": len(train), "batch_size": 32,
              "seconds": timings, "max_margin_difference_nats": diff,
              "same_sign_below_1_nat": sum((a < 1.0) == (b < 1.0) for a, b in zip(margins["input order"],
                                                                                  margins["by length"])),
              "machine": machine_info(loaded.model)}
    write_results(out, result)  # atomic, with the environment (CPU, flags, commit) beside the numbers
    print(json.dumps({k: result[k] for k in ("contexts", "seconds", "max_margin_difference_nats",
                                              "same_sign_below_1_nat")}))
    tmp.cleanup()
    return result


if __name__ == "__main__":
    from codehotfix.errors import CodehotfixError

    try:
        main()
    except CodehotfixError as e:
        sys.exit(f"margin_batching: {e}")
