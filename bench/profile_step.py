"""Where the time of one default training step and one evaluation batch goes (issue 17, item 1).

    python -m bench.profile_step [--model default] [--steps 3] [--out bench/results/profile_step.json]

Builds the default recipe's pieces (LoRA r8 on every block, fixed_ce + unlikelihood + kl_context +
kl_corpus) on the default model and times, for ``--steps`` batches of 8 default-pack training cases,
each phase of a step in the order the loop runs them:

- ``reference context``: the base model (adapter off) on the case contexts, cached per case after
  epoch 1 (so it is a first-epoch cost only);
- ``case forward``: the adapted model on context + both lines, with the context distributions kl_context needs;
- ``corpus reference``: the base model on the kl_corpus batch (cached per snippet; its top-k kept);
- ``corpus forward``: the adapted model on the kl_corpus batch (full-vocabulary log-probs);
- ``loss``, ``backward``, ``optimizer``.

Then one evaluation batch (8 held-out prompts, greedy, up to 64 new tokens, line event) on the base
model, the model with the LoRA adapter unmerged, and merged. Writes JSON + markdown; run it alone.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from codehotfix.config import load_config
from codehotfix.data.packs import load_pack, split_pack
from codehotfix.models.adapters import build_adapter
from codehotfix.models.loading import load_model
from codehotfix.objectives import build_objectives
from codehotfix.training.batching import collate, encode_case, score_batch
from codehotfix.training.reference import CaseReference
from codehotfix.training.retain import RetainReference, RetainSampler, load_retain_corpus, retain_logprobs
from codehotfix.training.batching import base_model_view


def _timed(times: dict, name: str, fn):
    t0 = time.perf_counter()
    out = fn()
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
        scores = _timed(t, "case forward", lambda: score_batch(model, batch, with_context=True, reference=ref_ctx))
        rb = sampler.next_batch()
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
                       "corpus_tokens": list(rb.ids.shape)})
        if s:
            per_step.append({k: round(v, 3) for k, v in t.items()})
    model.eval()
    mean = {k: round(sum(p[k] for p in per_step) / len(per_step), 3) for k in per_step[0]}
    return {"per_step": per_step, "mean": mean, "shapes": shapes[1:], "model": model}


def profile_eval(loaded, model, cases, cfg) -> dict:
    from codehotfix.evaluation.generation import generate_completions

    prompts = [c.prefix for c in cases[:8]]
    def run(m):
        t0 = time.perf_counter()
        comps = generate_completions(m, loaded.tokenizer, prompts, samples=0, greedy=True,
                                     max_new_tokens=cfg.eval.max_new_tokens, batch_size=8,
                                     max_context_tokens=cfg.eval.max_context_tokens, progress=False)
        return round(time.perf_counter() - t0, 3), [c.greedy for c in comps]
    out = {}
    with model.disable_adapter():
        out["base"], base_text = run(model)
    out["lora unmerged"], unmerged = run(model)
    model.merge_adapter()
    try:
        out["lora merged"], merged = run(model)
    finally:
        model.unmerge_adapter()
    out["merged == unmerged (greedy text)"] = merged == unmerged
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench/results/profile_step.json"))
    args = ap.parse_args()
    cfg = load_config(None, [])
    torch.manual_seed(0)
    loaded = load_model(args.model, dtype=cfg.training.dtype, threads=cfg.training.threads)
    train, test = split_pack(load_pack("default"), test_fraction=0.4, seed=0)
    random.Random(0).shuffle(train)
    result = profile_training(loaded, train, cfg, args.steps)
    model = result.pop("model")
    result["eval_batch_seconds"] = profile_eval(loaded, model, test, cfg)
    from codehotfix.api import machine_info
    result["machine"] = machine_info(loaded.model)
    result["command"] = "python -m bench.profile_step " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items() if v is not None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    lines = ["| phase | mean seconds per step | share |", "|---|---|---|"]
    for k, v in result["mean"].items():
        if k != "total":
            lines.append(f"| {k} | {v:.2f} | {100 * v / result['mean']['total']:.0f}% |")
    lines.append(f"| total | {result['mean']['total']:.2f} | |")
    lines += ["", "| eval batch (8 prompts, greedy, line event) | seconds |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result["eval_batch_seconds"].items()]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
