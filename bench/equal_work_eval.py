"""The hotfixed model against the base model on the same decoding work: speed per token, apart from
what each model chooses to write.

    python -m bench.equal_work_eval --run docs/results/demo-base-store/fill --adapter RUN/hotfix --rounds 3 --threads 2
    python -m bench.equal_work_eval --tiny --force     # a tiny random model and a random LoRA (what CI runs)

Issue 17 asks that a hotfixed model evaluate within 10% of the base model's time. A whole evaluation
also measures what the models write: a hotfix that writes longer lines or loops decodes more tokens
(docs/speed.md, "Why the hotfix evaluates longer"). Here both models do the same work: the demo's
held-out contexts (a run folder's ``split.json``), cut to the evaluation's ``max_context_tokens``,
batched by length as the evaluation batches them, and every row decodes exactly ``--new-tokens``
greedy tokens, with no stop (``evaluation.generation.decode_steps``, the one decoding loop). The
hotfix runs as the evaluation runs it: read and put on the model (``load_hotfix``), merged into the
weights while decoding (``merged_for_inference``), the weights restored and the adapter taken off
afterwards; each of those is timed. Rounds alternate which model goes first. Reported: per round the
seconds of each and their ratio, the ratio's median (min–max), with and without the adapter's
load, merge and restore; and how many rows' tokens the hotfix changed (so it was applied). Run it
alone: a second job on the two cores changes the times many-fold.
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
                          format_spread, markdown_table, output_for, spread, write_results)


def decode_fixed(model: torch.nn.Module, batches: list[list[list[int]]], pad_id: int, new_tokens: int) -> list[list[int]]:
    """Greedy tokens of every prompt, exactly ``new_tokens`` each (no row stops), batch by batch."""
    from codehotfix.evaluation.generation import decode_steps

    out: list[list[int]] = []
    for prompts in batches:
        rows: list[list[int]] = [[] for _ in prompts]

        def step(active: torch.Tensor, seqs: Any, logits: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
            chosen = logits.argmax(-1)
            for r, t in zip(active.tolist(), chosen.tolist()):
                rows[r].append(t)
            return chosen, list(range(len(active)))

        decode_steps(model, prompts, step, pad_id=pad_id, max_new_tokens=new_tokens)
        out += rows
    return out


def time_base(model: torch.nn.Module, batches: list, pad_id: int, new_tokens: int) -> tuple[dict[str, float], list]:
    t0 = time.perf_counter()
    tokens = decode_fixed(model, batches, pad_id, new_tokens)
    return {"decode": time.perf_counter() - t0}, tokens


def time_hotfix(loaded: Any, adapter: Path, batches: list, pad_id: int, new_tokens: int) -> tuple[dict[str, float], list]:
    """The hotfix as the evaluation runs it; the base model is left as it was (adapter taken off)."""
    from codehotfix.models.adapters.loading import load_hotfix
    from codehotfix.models.adapters.merge import merged_for_inference

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    model = load_hotfix(loaded.model, adapter, base_checksum=loaded.checksum)
    times["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with merged_for_inference(model) as merged:
        times["merge"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        tokens = decode_fixed(merged, batches, pad_id, new_tokens)
        times["decode"] = time.perf_counter() - t0
        t0 = time.perf_counter()
    times["restore"] = time.perf_counter() - t0
    loaded.model = model.unload()  # PEFT's layers off again: the next round's base runs the bare model
    return times, tokens


def _random_lora(model: torch.nn.Module, folder: Path) -> Path:
    """A LoRA with random (non-zero) B on the tiny model, saved as a PEFT folder, for --tiny."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                  init_lora_weights=False))
    peft_model.save_pretrained(str(folder))
    peft_model.unload()
    return folder


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default=None, help="a demo run folder (its split.json gives the held-out contexts)")
    p.add_argument("--adapter", default=None, help="the hotfix folder to time (e.g. that run's hotfix/)")
    p.add_argument("--model", default=None, help="model spec (default: the embedded default model)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, alternating which model goes first")
    p.add_argument("--new-tokens", type=int, default=64, help="tokens every row decodes")
    p.add_argument("--batch-size", type=int, default=None, help="prompts per batch (default: the demo's eval.batch_size)")
    add_run_options(p)
    args = p.parse_args(argv)
    if not args.tiny and not (args.run and args.adapter):
        p.error("--run and --adapter are required (a demo run folder and a hotfix), or --tiny")
    if args.rounds < 1 or args.new_tokens < 1:
        p.error("--rounds and --new-tokens must be at least 1")
    out = output_for("equal_work_eval", args)

    from codehotfix.config import load_config
    from codehotfix.evaluation.generation import encode_prompts, special_token_ids
    from codehotfix.files import sha256_file
    from codehotfix.models.loading import load_model
    from codehotfix.recipes.demo import demo_config_path

    run = Path(args.run) if args.run else None
    cases = demo_held_out(run, args.tiny)
    cfg = load_config(demo_config_path(), [])
    batch_size = args.batch_size or cfg.eval.batch_size
    with tempfile.TemporaryDirectory(prefix="bench-tiny-") as tmp:
        spec = str(build_tiny_model(Path(tmp) / "model", extra_text=[c.prefix for c in cases])) if args.tiny \
            else args.model
        loaded = load_model(spec, dtype="float32" if args.tiny else cfg.training.dtype, threads=args.threads)
        adapter = _random_lora(loaded.model, Path(tmp) / "lora") if args.tiny else Path(args.adapter)
        tok = loaded.tokenizer
        encoded = encode_prompts(tok, [c.prefix for c in cases], cfg.eval.max_context_tokens)
        encoded.sort(key=len)  # batched by length, as the evaluation batches its contexts
        batches = [encoded[i:i + batch_size] for i in range(0, len(encoded), batch_size)]
        pad_id, _ = special_token_ids(tok)
        rounds, base_tokens, hotfix_tokens = [], None, None
        for r in range(args.rounds):
            order = ("base", "hotfix") if r % 2 == 0 else ("hotfix", "base")
            seconds: dict[str, dict[str, float]] = {}
            for who in order:
                if who == "base":
                    seconds[who], base_tokens = time_base(loaded.model, batches, pad_id, args.new_tokens)
                else:
                    seconds[who], hotfix_tokens = time_hotfix(loaded, adapter, batches, pad_id, args.new_tokens)
                print(f"round {r + 1}/{args.rounds} {who}: " + ", ".join(f"{k} {v:.2f} s" for k, v in seconds[who].items()),
                      flush=True)
            h = seconds["hotfix"]
            rounds.append({"order": list(order), "base": {k: round(v, 3) for k, v in seconds["base"].items()},
                           "hotfix": {k: round(v, 3) for k, v in h.items()},
                           "ratio_decode": round(h["decode"] / seconds["base"]["decode"], 4),
                           "ratio_whole": round(sum(h.values()) / seconds["base"]["decode"], 4)})
        changed = sum(a != b for a, b in zip(base_tokens, hotfix_tokens))
        adapter_sha = sha256_file(adapter / "adapter_model.safetensors")

    _, commit = code_under_test()
    result = {"benchmark": "equal_work_eval", "tiny": args.tiny, "run": str(run) if run else None,
              "adapter": None if args.tiny else str(adapter), "adapter_sha256": adapter_sha,
              "model": "tiny-random-qwen2" if args.tiny else (args.model or "default"),
              "dtype": str(loaded.model.dtype).replace("torch.", ""),
              "prompts": len(encoded), "batches": len(batches), "batch_size": batch_size,
              "new_tokens": args.new_tokens, "tokens_each": len(encoded) * args.new_tokens,
              "max_context_tokens": cfg.eval.max_context_tokens,
              "rows_changed_by_hotfix": changed, "rounds": rounds,
              "ratio_decode": spread([r["ratio_decode"] for r in rounds]),
              "ratio_whole": spread([r["ratio_whole"] for r in rounds]),
              "code_commit": commit or None,
              "command": "python -m bench.equal_work_eval " + " ".join(argv if argv is not None else sys.argv[1:])}
    rows = [[i + 1, " then ".join(r["order"]), r["base"]["decode"], r["hotfix"]["decode"],
             round(r["hotfix"]["load"] + r["hotfix"]["merge"] + r["hotfix"]["restore"], 3), r["ratio_decode"],
             r["ratio_whole"]] for i, r in enumerate(rounds)]
    md = "\n".join([
        f"# The hotfix against the base model on the same decoding work ({result['model']}, {result['dtype']})", "",
        f"{result['prompts']} held-out contexts in {result['batches']} batches of up to {batch_size}, each decoding "
        f"{args.new_tokens} greedy tokens with no stop ({result['tokens_each']} tokens per model and round); the hotfix "
        f"changed the tokens of {changed} of {result['prompts']} rows.", "",
        markdown_table(["round", "order", "base decode (s)", "hotfix decode (s)", "hotfix load + merge + restore (s)",
                        "ratio, decode", "ratio, whole"], rows), "",
        f"Ratio of the hotfix's time to the base model's, median (min–max over {args.rounds} rounds): decoding "
        f"{format_spread(result['ratio_decode'])}; with the adapter's load, merge and restore "
        f"{format_spread(result['ratio_whole'])}.", ""])
    write_results(out, result, md)
    print(md)
    return result


if __name__ == "__main__":
    main()
