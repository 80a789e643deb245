"""The evaluation's separate passes against one context pass per case (evaluation/onepass.py).

    python -m bench.onepass_eval [--prompts 32] [--repeats 2] [--events line,split,window] [--force]
    python -m bench.onepass_eval --tiny --force                 # the same on a tiny random model (CI)

On the demo's held-out contexts (docs/results/demo/split.json; ``--tiny``: the first pack cases),
greedy, ``evaluate_cases`` runs once the old way (``one_pass=False``: generation, split
generation, margins, each re-reading the context) and once the new way (one pass), ``--repeats`` times in alternating order. Reports the seconds of each, the
speed-up per repeat with its spread, and whether the records are identical (greedy text, every
event's judgement) and how far the margins differ. Run it alone: a second job on the two cores
changes the times many-fold. Writes bench/results/onepass_eval.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (REPO_ROOT, add_run_options, build_tiny_model, format_spread, markdown_table,  # noqa: E402
                          output_for, spread, write_results)

KEEP = ("greedy", "greedy_label", "events", "validity_check", "new_tokens")


def _cases(tiny: bool, prompts: int) -> list:
    from codehotfix.data.packs import load_pack

    pack = load_pack("default")
    split = REPO_ROOT / "docs" / "results" / "demo" / "split.json"
    if tiny or not split.exists():
        return pack[:prompts]
    by_id = {c.id: c for c in pack}
    return [by_id[i] for i in json.loads(split.read_text())["test"]][:prompts]


def compare_paths(loaded: Any, cases: list, cfg: Any, repeats: int) -> dict[str, Any]:
    """Both paths ``repeats`` times, alternating which goes first; seconds, ratios and agreement."""
    from codehotfix.evaluation.rates import evaluate_cases

    seconds: dict[str, list[float]] = {"separate": [], "one pass": []}
    records: dict[str, list[dict]] = {}
    for r in range(repeats):
        for name in (("separate", "one pass") if r % 2 == 0 else ("one pass", "separate")):
            t0 = time.perf_counter()
            out = evaluate_cases(loaded.model, loaded.tokenizer, cases, cfg, progress=False,
                                 one_pass=name == "one pass")
            seconds[name].append(round(time.perf_counter() - t0, 2))
            records.setdefault(name, out["cases"])
            print(f"[onepass_eval] repeat {r + 1}/{repeats}: {name} {seconds[name][-1]} s", flush=True)
    a, b = records["separate"], records["one pass"]
    same = sum({k: x[k] for k in KEEP} == {k: y[k] for k in KEEP} for x, y in zip(a, b))
    ratios = [s / o for s, o in zip(seconds["separate"], seconds["one pass"])]
    return {"cases": len(cases), "events": list(cfg.events), "seconds": seconds,
            "speedup": spread(ratios), "speedup_per_repeat": [round(x, 3) for x in ratios],
            "identical_records": same,
            "max_margin_difference": max(abs(x["margin"] - y["margin"]) for x, y in zip(a, b))}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model spec (default: the embedded default model)")
    p.add_argument("--prompts", type=int, default=None, help="held-out contexts (default 32; tiny 6)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--events", default="line,split,window")
    add_run_options(p)
    args = p.parse_args(argv)
    out = output_for("onepass_eval", args)

    from codehotfix.config import EvalConfig
    from codehotfix.models.loading import load_model

    cases = _cases(args.tiny, args.prompts or (6 if args.tiny else 32))
    with tempfile.TemporaryDirectory(prefix="bench-tiny-") as tmp:
        spec = str(build_tiny_model(Path(tmp) / "model", extra_text=[c.prefix for c in cases])) if args.tiny \
            else args.model
        loaded = load_model(spec, dtype="float32" if args.tiny else "auto", threads=args.threads)
        cfg = EvalConfig(samples=0, events=args.events.split(","), max_new_tokens=8 if args.tiny else 64)
        result = compare_paths(loaded, cases, cfg, args.repeats)
    result.update(benchmark="onepass_eval", tiny=args.tiny, repeats=args.repeats, model="tiny-random-qwen2" if args.tiny else
                  (args.model or "default"), dtype=str(loaded.model.dtype).replace("torch.", ""),
                  command="python -m bench.onepass_eval " + " ".join(argv if argv is not None else sys.argv[1:]))
    s = result["seconds"]
    md = "\n".join([
        f"# Evaluation: separate passes vs one context pass ({result['model']}, {result['dtype']})", "",
        f"{result['cases']} held-out contexts, greedy, events {', '.join(result['events'])}; "
        f"{args.repeats} repeats, order alternating.", "",
        markdown_table(["path", "seconds per repeat"], [["separate passes", ", ".join(map(str, s["separate"]))],
                                                        ["one pass", ", ".join(map(str, s["one pass"]))]]), "",
        f"Speed-up: {format_spread(result['speedup'])}. Identical records (greedy text and every event's "
        f"judgement): {result['identical_records']}/{result['cases']}; largest margin difference "
        f"{result['max_margin_difference']:.2g} nats.", ""])
    write_results(out, result, md)
    print(md)
    return result


if __name__ == "__main__":
    main()
