"""Where the time of one default training step and one evaluation batch goes (issue 17, item 1).

    python -m bench.profile_step [--model default] [--steps 3] [--out bench/results/profile_step.json]
    python -m bench.profile_step --set 'adapter.layers=[-8,-7,-6,-5,-4,-3,-2,-1]' --no-eval --out …
    python -m bench.profile_step --tiny --force      # seconds: the tiny random model, 1 step (what CI runs)
    python -m bench.profile_step --model /tmp/shape-model --device cuda   # a GPU (bench/device_check.sh)

Builds the default recipe's pieces (LoRA r8 on every block, fixed_ce + unlikelihood + kl_context +
kl_corpus) on the default model and times, for ``--steps`` batches of 8 default-pack training cases,
each phase of a step in the order the loop runs them:

- ``reference context``: the base model (adapter off) on the case contexts, cached per case after
  epoch 1 (so it is a first-epoch cost only);
- ``case forward``: the adapted model on context + both lines, with the context distributions kl_context needs;
- ``corpus reference``: the base model on the kl_corpus batch (cached per snippet; its top-k kept);
- ``corpus forward``: the adapted model on the kl_corpus batch (full-vocabulary log-probs);
- ``loss``, ``backward``, ``optimizer``.

Then greedy generation on 32 held-out prompts: batch 8 against 32, and the base model against a
hotfix unmerged and merged (``--adapter``: a trained one, e.g. the demo's). Writes JSON + markdown
(``--tiny``: profile_step--tiny.*; an existing file is kept unless ``--force``); run it alone.
"""

from __future__ import annotations

import sys

from codehotfix.runtime import keep_freed_memory

# Before torch is imported, as the CLI does it: applied after torch's import, the same setting saved
# less (docs/speed.md, "Freed memory kept").
MALLOC = ("default" if "--default-malloc" in sys.argv or __name__ != "__main__"
          else "kept" if keep_freed_memory() else "default (not glibc)")

import argparse  # noqa: E402 -- after the allocator setting above
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path
from typing import Any, Sequence

import torch

from codehotfix.config import load_config
from codehotfix.data.packs import load_pack, split_pack
from codehotfix.models.adapters import build_adapter
from codehotfix.models.loading import load_model, model_device
from codehotfix.objectives import build_objectives
from codehotfix.scoring import base_model_view, collate, encode_case, score_batch
from codehotfix.training.reference import CaseReference
from codehotfix.training.retain import RetainReference, RetainSampler, load_retain_corpus, retain_logprobs

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import build_tiny_model, check_writable, result_path, write_results  # noqa: E402


def _sync() -> None:
    """Waits for the GPU's queued work, so a phase's time is its own and not the next phase's (CUDA
    returns before its kernels finish); nothing on a CPU."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _timed(times: dict, name: str, fn):
    _sync()
    t0 = time.perf_counter()
    out = fn()
    _sync()
    times[name] = times.get(name, 0.0) + time.perf_counter() - t0
    return out


def profile_training(loaded, cases, cfg, steps: int) -> dict:
    tok = loaded.tokenizer
    model = build_adapter(loaded.model, cfg.adapter)
    objectives = build_objectives(cfg.objectives)
    reference = CaseReference(model, None)
    ret = objectives.retain_objective()
    sampler = RetainSampler(load_retain_corpus(ret.corpus), tok, ret.batch_size, ret.max_tokens, seed=0)
    retain_ref = RetainReference(ret.top_k)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.training.lr)
    encoded = [encode_case(tok, c, cfg.training.max_context_tokens, objectives.suffix_tokens()) for c in cases]
    model.train()
    per_step, shapes = [], []
    for s in range(steps + 1):  # step 0 warms up allocator and kernels; not reported
        items = encoded[(s * 8) % len(encoded):][:8]
        t: dict[str, float] = {}
        batch = _timed(t, "collate", lambda: collate(items, tok.pad_token_id, objectives.kl_positions()))
        ref_ctx = _timed(t, "reference context (epoch 1 only)", lambda: reference.context(batch))
        scores = _timed(t, "case forward", lambda: score_batch(model, batch, with_context=True, reference=ref_ctx,
                                                                pack=cfg.training.pack))
        rb = sampler.next_batch().to(scores.fixed_logp.device)  # as the training loop does
        def corpus_ref():
            with base_model_view(model) as base:
                return retain_ref.get(base, rb)
        scores.ref_retain_logp, scores.ref_retain_index = _timed(t, "corpus reference (cached per snippet)", corpus_ref)
        scores.retain_logprobs = _timed(t, "corpus forward", lambda: retain_logprobs(model, rb))
        scores.retain_mask = rb.mask.bool()
        out = _timed(t, "loss", lambda: objectives(scores))
        opt.zero_grad(set_to_none=True)
        _timed(t, "backward", lambda: out.loss.backward())
        _timed(t, "optimizer", lambda: (torch.nn.utils.clip_grad_norm_(params, 1.0), opt.step()))
        t["total"] = sum(t.values())
        shapes.append({"context_tokens": list(batch.ctx_ids.shape), "line_tokens": list(batch.cont_ids.shape),
                       "corpus_tokens": list(rb.ids.shape), "case_tokens_real": batch.num_tokens(),
                       "case_tokens_padded": batch.ctx_ids.numel() + batch.cont_ids.numel(),
                       "packed": bool(cfg.training.pack)})
        if s:
            per_step.append({k: round(v, 3) for k, v in t.items()})
    model.eval()
    mean = {k: round(sum(p[k] for p in per_step) / len(per_step), 3) for k in per_step[0]}
    return {"per_step": per_step, "mean": mean, "shapes": shapes[1:], "model": model}


def _generate(model, tokenizer, prompts, batch_size: int, window: bool, max_new_tokens: int) -> tuple[float, list, int]:
    from codehotfix.evaluation.generation import generate_completions

    _sync()
    t0 = time.perf_counter()
    comps = generate_completions(model, tokenizer, prompts, samples=0, greedy=True, progress=False,
                                 max_new_tokens=2 * max_new_tokens if window else max_new_tokens,
                                 batch_size=batch_size, max_context_tokens=256, max_lines=5 if window else None)
    return round(time.perf_counter() - t0, 2), [c.greedy for c in comps], sum(c.new_tokens for c in comps)


def profile_eval(loaded, model, cases, cfg, adapter: Path | None) -> dict:
    """Greedy generation on 32 held-out prompts: batch 8 against 32 (line and window events, base
    model), then base against the hotfix unmerged and merged (window event, batch 32). With
    ``adapter`` the hotfix is that trained adapter (e.g. the demo's), else the adapter just stepped."""
    from codehotfix.models.adapters.merge import merged_for_inference

    tok, prompts, n = loaded.tokenizer, [c.prefix for c in cases[:32]], cfg.eval.max_new_tokens
    out: dict = {"prompts": len(prompts), "batch_size": {}, "adapter": str(adapter) if adapter else "stepped"}
    with model.disable_adapter():
        for window in (False, True):
            event = "window" if window else "line"
            runs = {bs: _generate(model, tok, prompts, bs, window, n) for bs in (8, 32)}
            out["batch_size"][event] = {f"batch {bs}": {"seconds": r[0], "new_tokens": r[2]} for bs, r in runs.items()}
            out["batch_size"][event]["same greedy text"] = runs[8][1] == runs[32][1]
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model.unload() if hasattr(model, "unload") else model, adapter).eval()
    with model.disable_adapter():
        base = _generate(model, tok, prompts, 32, True, n)
    unmerged = _generate(model, tok, prompts, 32, True, n)
    with merged_for_inference(model):
        merged = _generate(model, tok, prompts, 32, True, n)
    out["merge"] = {name: {"seconds": r[0], "new_tokens": r[2], "seconds_per_1k_tokens": round(1000 * r[0] / r[2], 2)}
                    for name, r in (("base", base), ("hotfix unmerged", unmerged), ("hotfix merged", merged))}
    out["merge"]["merged == unmerged greedy text"] = merged[1] == unmerged[1]
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--steps", type=int, default=None, help="timed steps after a warm-up step (default 3; --tiny: 1)")
    ap.add_argument("--adapter", type=Path, default=None, help="a trained hotfix for the merge comparison")
    ap.add_argument("--out", default=None, help="results JSON (default bench/results/profile_step.json)")
    ap.add_argument("--force", action="store_true", help="overwrite an existing results file")
    ap.add_argument("--tiny", action="store_true", help="the tiny random model (tests/CI): checks the script, times nothing real")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the config's, all cores)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, e.g. 'adapter.layers=[-8,-7,-6,-5,-4,-3,-2,-1]' (repeatable)")
    ap.add_argument("--no-eval", action="store_true", help="profile the training step only")
    ap.add_argument("--device", default="auto", help="auto (the first CUDA GPU, else the CPU), cpu, cuda, cuda:1 …")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's malloc as it is (the CLI's batch commands keep freed memory: codehotfix.runtime)")
    args = ap.parse_args(argv)
    out = result_path("profile_step", args.tiny, args.out)
    check_writable(out, args.force)
    steps = args.steps if args.steps is not None else 1 if args.tiny else 3
    if steps < 1:
        raise SystemExit(f"profile_step: --steps must be at least 1, got {steps}")
    cfg = load_config(None, args.set)
    torch.manual_seed(0)
    train, test = split_pack(load_pack("default"), test_fraction=0.4, seed=0)
    tmp = tempfile.TemporaryDirectory(prefix="bench-tiny-")
    model_spec = args.model
    if args.tiny:
        model_spec = str(build_tiny_model(Path(tmp.name) / "model", extra_text=[c.prefix for c in train]))
    loaded = load_model(model_spec, dtype=cfg.training.dtype, threads=args.threads or cfg.training.threads,
                        device=args.device)
    random.Random(0).shuffle(train)
    result = profile_training(loaded, train, cfg, steps)
    model = result.pop("model")
    result["overrides"] = args.set
    result["malloc"] = MALLOC
    if not args.no_eval:
        result["eval"] = profile_eval(loaded, model, test, cfg, args.adapter)
    from codehotfix.api import machine_info
    result["machine"] = machine_info(loaded.model)
    result["device"] = str(model_device(loaded.model))
    import shlex
    result["command"] = "python -m bench.profile_step " + shlex.join(sys.argv[1:] if argv is None else argv)
    result["tiny"] = args.tiny
    lines = ["| phase | mean seconds per step | share |", "|---|---|---|"]
    for k, v in result["mean"].items():
        if k != "total":
            lines.append(f"| {k} | {v:.2f} | {100 * v / result['mean']['total']:.0f}% |")
    lines.append(f"| total | {result['mean']['total']:.2f} | |")
    ev = result.get("eval")
    if ev is not None:
        lines += _eval_lines(ev)
    # atomic, with the environment (CPU, flags, commit) beside the numbers
    write_results(out, result, "\n".join(lines) + "\n")
    print("\n".join(lines))
    tmp.cleanup()
    return result


def _eval_lines(ev: dict) -> list[str]:
    """The markdown of the evaluation part: batch sizes, then the hotfix unmerged against merged."""
    lines = ["", f"Greedy generation, {ev['prompts']} held-out prompts, base model:", "",
              "| event | batch 8 (s) | batch 32 (s) | same text |", "|---|---|---|---|"]
    for event, r in ev["batch_size"].items():
        lines.append(f"| {event} | {r['batch 8']['seconds']} | {r['batch 32']['seconds']} | {r['same greedy text']} |")
    lines += ["", f"Window event, batch 32, hotfix = {ev['adapter']}:", "",
              "| model | seconds | new tokens | s per 1k tokens |", "|---|---|---|---|"]
    for name, r in ev["merge"].items():
        if isinstance(r, dict):
            lines.append(f"| {name} | {r['seconds']} | {r['new_tokens']} | {r['seconds_per_1k_tokens']} |")
    lines.append(f"\nmerged == unmerged greedy text: {ev['merge']['merged == unmerged greedy text']}")
    return lines


if __name__ == "__main__":
    from codehotfix.errors import CodehotfixError

    try:
        main()
    except CodehotfixError as e:
        sys.exit(f"profile_step: {e}")
