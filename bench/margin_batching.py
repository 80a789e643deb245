"""Line log-probs of the demo's target selection, batched in input order against batched by length.

    python -m bench.margin_batching [--out bench/results/margin_batching.json]

The demo scores log p(fixed) and log p(buggy) of the 205 training contexts of all 41 pack topics (5 of
10 per topic) at batch 32 to choose its targets. Contexts run from 4 to 115 tokens; in input order a
batch pads every context to its longest. ``scoring.line_logprobs`` now sorts by length first. This
times both orders on the default model, one after the other in one process, and checks that the
margins agree. Run it alone.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from codehotfix.data.packs import load_pack, split_pack
from codehotfix.models.loading import load_model
from codehotfix.models.provenance import machine_info
from codehotfix.scoring import collate, encode_case, line_logprobs, score_batch


@torch.no_grad()
def _input_order(model, tokenizer, cases, batch_size: int) -> list[tuple[float, float]]:
    """The old batching: consecutive cases in input order."""
    encoded = [encode_case(tokenizer, c, 256) for c in cases]
    out = []
    for start in range(0, len(encoded), batch_size):
        scores = score_batch(model, collate(encoded[start:start + batch_size], tokenizer.pad_token_id))
        out += list(zip(scores.fixed_logp.sum(-1).tolist(), scores.buggy_logp.sum(-1).tolist()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench/results/margin_batching.json"))
    args = ap.parse_args()
    loaded = load_model(None)
    train, _ = split_pack(load_pack("default"), test_fraction=0.5, seed=0)
    timings, margins = {}, {}
    for name, fn in (("input order", lambda: _input_order(loaded.model, loaded.tokenizer, train, 32)),
                     ("by length", lambda: line_logprobs(loaded.model, loaded.tokenizer, train, batch_size=32))):
        t0 = time.perf_counter()
        pairs = fn()
        timings[name] = round(time.perf_counter() - t0, 2)
        margins[name] = [f - b for f, b in pairs]
    diff = max(abs(a - b) for a, b in zip(margins["input order"], margins["by length"]))
    result = {"command": "python -m bench.margin_batching", "contexts": len(train), "batch_size": 32,
              "seconds": timings, "max_margin_difference_nats": diff,
              "same_sign_below_1_nat": sum((a < 1.0) == (b < 1.0) for a, b in zip(margins["input order"],
                                                                                  margins["by length"])),
              "machine": machine_info(loaded.model)}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("contexts", "seconds", "max_margin_difference_nats",
                                              "same_sign_below_1_nat")}))


if __name__ == "__main__":
    main()
