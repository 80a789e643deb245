"""The hotfix training loop, top to bottom: encode → batch → score → weighted loss → step.

One loop for every objective mix and method (PEFT adapters and full fine-tuning); objectives vary
through config, not code. The loop computes only what the configured objectives need: context
distributions (kl_context), suffix and context tokens (snippet_ce), the original model's line
log-probs (npo, dpo) and a retain-corpus batch per step (kl_corpus); the original model's outputs are
computed once per case or snippet and cached. After each epoch the trained parameters, optimiser and
RNG states are checkpointed, so an interrupted run started again with the same config and data
continues where it stopped instead of starting over.

Batches go to the device of the model's first parameter. Under ``accelerate launch`` (or with
``training.distributed: true``) the same loop runs in every process through an ``Accelerator``:
each process takes its share of the seeded batch list and only the main process writes files
(see ``codehotfix.training.distributed``).
"""

from __future__ import annotations

import json
import random
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from codehotfix.config import HotfixConfig
from codehotfix.data.cases import HotfixCase
from codehotfix.files import sha256_text
from codehotfix.objectives import build_objectives
from codehotfix.models.adapters import is_peft_model
from codehotfix.models.loading import model_device
from codehotfix.objectives.mix import ObjectiveMix
from codehotfix.training.batching import Batch, EncodedCase, Scores, base_model_view, collate, encode_case, score_batch
from codehotfix.training.distributed import (ScoringStep, launched_distributed, make_accelerator,
                                             mean_over_processes, shard_batches, supports_checkpoints)
from codehotfix.training.reference import CaseReference, frozen_copy
from codehotfix.training.retain import RetainReference, RetainSampler, load_retain_corpus, retain_logprobs

__all__ = ["TrainResult", "train_adapter", "make_batches"]


@dataclass
class TrainResult:
    """What a training run did; goes into the hotfix manifest.

    ``is_main_process`` is False in the other processes of a distributed run (they write nothing);
    ``adapter_state`` holds the gathered trainable weights when they are sharded (FSDP/DeepSpeed)
    and the model object itself does not hold them whole, else None.
    """

    steps: int
    epochs: int
    seconds: float
    tokens: int
    final_metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from_epoch: int = 0
    processes: int = 1
    accelerate: bool = False
    is_main_process: bool = True
    adapter_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)


def make_batches(items: Sequence[EncodedCase], batch_size: int, rng: random.Random) -> list[list[EncodedCase]]:
    """Shuffles, then groups cases of similar length so padding stays small (length bucketing within
    windows of 4 batches keeps the order random across epochs)."""
    order = list(items)
    rng.shuffle(order)
    batches = []
    window = batch_size * 4
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda e: len(e.context) + max(len(e.fixed), len(e.buggy)))
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _fingerprint(cfg: HotfixConfig, cases: Sequence[HotfixCase]) -> str:
    payload = json.dumps({"cfg": asdict(cfg), "cases": [c.to_dict() for c in cases]}, sort_keys=True, default=str)
    return sha256_text(payload)


def _trainable_state(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def _save_checkpoint(path: Path, model: Any, optimizer: Any, epoch: int, step: int, history: list, fp: str,
                     rng: random.Random, retain: RetainSampler | None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / "state.pt.tmp"
    torch.save({"fingerprint": fp, "epoch": epoch, "step": step, "history": history,
                "params": _trainable_state(model), "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(), "py_rng": rng.getstate(),
                "retain_rng": retain.rng.getstate() if retain else None}, tmp)
    tmp.replace(path / "state.pt")


def _load_checkpoint(path: Path, fp: str) -> dict | None:
    state_file = path / "state.pt"
    if not state_file.exists():
        return None
    state = torch.load(state_file, weights_only=False, map_location="cpu")  # copy_/load_state_dict move it
    return state if state.get("fingerprint") == fp else None


def _score(model: Any, batch: Batch, objectives: ObjectiveMix, reference: CaseReference,
           retain: RetainSampler | None, retain_ref: RetainReference | None) -> Scores:
    """Scores a batch with everything the objectives need (and nothing more)."""
    ctx_ref = reference.context(batch) if objectives.needs_context else None
    scores = score_batch(model, batch, with_context=objectives.needs_context, reference=ctx_ref,
                         with_snippet=objectives.needs_snippet)
    if objectives.needs_reference:
        scores.ref_fixed_logp, scores.ref_buggy_logp = reference.lines(batch)
    if retain is not None:
        retain_batch = retain.next_batch().to(batch.device)
        with base_model_view(model, reference.ref_model) as base:
            scores.ref_retain_logp, scores.ref_retain_index = retain_ref.get(base, retain_batch)
        scores.retain_logprobs, scores.retain_mask = retain_logprobs(model, retain_batch), retain_batch.mask.bool()
    return scores


def train_adapter(model: Any, tokenizer: Any, cases: Sequence[HotfixCase], cfg: HotfixConfig, *,
                  checkpoint_dir: str | Path | None = None, progress: bool = True,
                  ref_model: Any | None = None, accelerator: Any | None = None) -> TrainResult:
    """Trains the parameters of ``model`` that require grad on ``cases`` and returns what happened.

    Args:
        model: from ``build_adapter``: a PEFT model (adapter parameters trainable) or, for full
            fine-tuning, the model itself. Batches go to the device of its first parameter.
        tokenizer: the model's tokenizer.
        cases: training cases.
        cfg: the full config (objectives, training knobs, seed).
        checkpoint_dir: where per-epoch checkpoints go; a matching checkpoint there is resumed.
        progress: show a progress bar (loss, ETA).
        ref_model: the original model for KL/NPO/DPO when ``model`` has no adapter to switch off;
            None makes a frozen copy of ``model`` before training (only if an objective needs it).
        accelerator: an ``accelerate.Accelerator`` to train through; None builds one when
            ``training.distributed`` is true or the process runs under ``accelerate launch``.
    """
    tc = cfg.training
    if accelerator is None and (tc.distributed or launched_distributed()):
        accelerator = make_accelerator()
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    is_main = accelerator is None or accelerator.is_main_process
    if accelerator is not None:
        model.to(accelerator.device)
    device = model_device(model)
    objectives = build_objectives(cfg.objectives)
    kl_positions = objectives.kl_positions()
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    if ref_model is None and objectives.needs_base_model and not is_peft_model(model):
        ref_model = frozen_copy(model)
    reference = CaseReference(model, ref_model)
    retain_obj = objectives.retain_objective()
    retain = retain_ref = None
    if retain_obj is not None:
        # Each process draws its own retain snippets (rank 0 draws what a single process would).
        retain = RetainSampler(load_retain_corpus(retain_obj.corpus), tokenizer, retain_obj.batch_size,
                               retain_obj.max_tokens, seed=cfg.seed + rank)
        retain_ref = RetainReference(retain_obj.top_k)
    encoded = [encode_case(tokenizer, c, tc.max_context_tokens, objectives.suffix_tokens()) for c in cases]
    pad_id = tokenizer.pad_token_id
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    batches_per_epoch = -(-len(encoded) // tc.batch_size)
    steps_per_epoch = -(-batches_per_epoch // world)  # each process takes every world-th batch
    total_steps = steps_per_epoch * tc.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, tc.warmup_steps)) if tc.warmup_steps else 1.0)

    fp = _fingerprint(cfg, cases)
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    if ckpt and accelerator is not None and not supports_checkpoints(accelerator):
        warnings.warn("resume checkpoints are not written under FSDP/DeepSpeed (sharded state); an "
                      "interrupted run starts over", stacklevel=2)
        ckpt = None
    start_epoch, step, history = 0, 0, []
    state = _load_checkpoint(ckpt, fp) if ckpt else None
    if state:
        named = dict(model.named_parameters())
        with torch.no_grad():
            for k, v in state["params"].items():
                named[k].copy_(v)
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, step, history = state["epoch"], state["step"], state["history"]
        torch.set_rng_state(state["torch_rng"])
        rng.setstate(state["py_rng"])
        if retain is not None and state.get("retain_rng") is not None:
            retain.rng.setstate(state["retain_rng"])
        for _ in range(step):
            schedule.step()

    def loss_of(net: Any, batch: Batch) -> Any:
        return objectives(_score(net, batch, objectives, reference, retain, retain_ref))

    forward, backward, clip = (lambda b: loss_of(model, b)), (lambda loss: loss.backward()), \
        torch.nn.utils.clip_grad_norm_
    if accelerator is not None:
        # The whole step runs inside the wrapper's forward (see ScoringStep); the schedule is stepped
        # here, once per optimiser step, so it is not handed to prepare().
        forward, optimizer = accelerator.prepare(ScoringStep(model, loss_of), optimizer)
        backward, clip = accelerator.backward, accelerator.clip_grad_norm_
    model.train()
    t0, tokens, metrics = time.time(), 0, {}
    bar = tqdm(total=total_steps, initial=step, desc="hotfix training", unit="step",
               disable=not (progress and is_main), dynamic_ncols=True)
    for epoch in range(start_epoch, tc.epochs):
        for items in shard_batches(make_batches(encoded, tc.batch_size, rng), rank, world):
            batch = collate(items, pad_id, kl_positions, device=device)
            out = forward(batch)
            optimizer.zero_grad(set_to_none=True)
            backward(out.loss)
            if tc.max_grad_norm:
                norm = clip(params, tc.max_grad_norm)  # None under DeepSpeed, which clips itself
                metrics["grad_norm"] = float(norm) if norm is not None else 0.0
            optimizer.step()
            schedule.step()
            step += 1
            tokens += batch.num_tokens()
            metrics = {**out.metrics, "grad_norm": metrics.get("grad_norm", 0.0), "lr": schedule.get_last_lr()[0]}
            if accelerator is not None:
                metrics = mean_over_processes(accelerator, metrics)
            history.append({"step": step, "epoch": epoch + 1, **{k: round(v, 6) for k, v in metrics.items()}})
            bar.set_postfix(epoch=f"{epoch + 1}/{tc.epochs}", loss=f"{metrics['loss']:.3f}")
            bar.update(1)
        if ckpt and is_main:
            _save_checkpoint(ckpt, model, optimizer, epoch + 1, step, history, fp, rng, retain)
        if accelerator is not None:
            accelerator.wait_for_everyone()
    bar.close()
    model.eval()
    adapter_state = None
    if accelerator is not None:
        tokens = int(accelerator.reduce(torch.tensor(tokens, device=accelerator.device), reduction="sum"))
        if not supports_checkpoints(accelerator):
            # Sharded weights: gather them whole (a collective: every process calls it).
            full = accelerator.get_state_dict(forward)
            adapter_state = {k.removeprefix("model."): v for k, v in (full or {}).items()}
    return TrainResult(steps=step, epochs=tc.epochs, seconds=round(time.time() - t0, 2), tokens=tokens,
                       final_metrics=metrics, history=history, resumed_from_epoch=start_epoch,
                       processes=world, accelerate=accelerator is not None, is_main_process=is_main,
                       adapter_state=adapter_state)
