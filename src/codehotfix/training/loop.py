"""The hotfix training loop, top to bottom: encode → batch → score → weighted loss → step.

One loop for every objective mix and method (PEFT adapters and full fine-tuning); objectives vary
through config, not code. The loop computes only what the configured objectives need: context
distributions (kl_context), suffix and context tokens (snippet_ce), the original model's line
log-probs (npo, dpo) and a retain-corpus batch per step (kl_corpus); the original model's outputs are
computed once per case or snippet and cached. After each epoch the trained parameters, optimiser and
RNG states are checkpointed without pickle (``codehotfix.training.checkpoint``), so an interrupted run
started again with the same config and data continues where it stopped instead of starting over.
A NaN or infinite loss or weight stops the run at that step with a ``NonFiniteError``.

Batches go to the device of the model's first parameter. Under ``accelerate launch`` (or with
``training.distributed: true``) the same loop runs in every process through an ``Accelerator``:
each process takes its share of the seeded batch list and only the main process writes files
(see ``codehotfix.training.distributed``).
"""

from __future__ import annotations

import math
import random
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from tqdm.auto import tqdm

from codehotfix.config import HotfixConfig
from codehotfix.data.cases import HotfixCase
from codehotfix.objectives import build_objectives
from codehotfix.models.adapters import NonFiniteError, is_peft_model, nonfinite_names
from codehotfix.models.loading import model_device
from codehotfix.objectives.mix import ObjectiveMix
from codehotfix.scoring import Batch, EncodedCase, Scores, base_model_view, collate, encode_case, score_batch
from codehotfix.training.checkpoint import RunState, discard_checkpoint, fingerprint, load_checkpoint, save_checkpoint
from codehotfix.training.distributed import (ScoringStep, launched_distributed, make_accelerator,
                                             mean_over_processes, shard_batches, supports_checkpoints)
from codehotfix.training.reference import CaseReference, frozen_copy
from codehotfix.training.retain import RetainReference, RetainSampler, load_retain_corpus, retain_logprobs

__all__ = ["TrainResult", "train_adapter", "make_batches"]

_NONFINITE = "nonfinite_weights"  # a flag averaged with the metrics, never logged


@dataclass
class TrainResult:
    """What a training run did; goes into the hotfix manifest.

    ``steps``, ``seconds``, ``tokens`` and ``history`` cover the whole run, summed over the segments
    of a resumed one; ``is_main_process`` is False in the other processes of a distributed run (they write nothing);
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
                  ref_model: Any | None = None, accelerator: Any | None = None,
                  restart: bool = False) -> TrainResult:
    """Trains the parameters of ``model`` that require grad on ``cases`` and returns what happened.

    Args:
        model: from ``build_adapter``: a PEFT model (adapter parameters trainable) or, for full
            fine-tuning, the model itself. Batches go to the device of its first parameter.
        tokenizer: the model's tokenizer.
        cases: training cases.
        cfg: the full config (objectives, training knobs, seed).
        checkpoint_dir: where per-epoch checkpoints go; a checkpoint there of the same config and
            cases is resumed (see ``codehotfix.training.checkpoint``).
        progress: show a progress bar (loss, ETA).
        ref_model: the original model for KL/NPO/DPO when ``model`` has no adapter to switch off;
            None makes a frozen copy of ``model`` before training (only if an objective needs it).
        accelerator: an ``accelerate.Accelerator`` to train through; None builds one when
            ``training.distributed`` is true or the process runs under ``accelerate launch``.
        restart: discard a checkpoint in ``checkpoint_dir`` unread and train from the start.

    Raises:
        CheckpointError: ``checkpoint_dir`` holds a checkpoint that cannot be resumed (old pickle
            format, corrupt or truncated, another config or cases); ``restart=True`` discards it.
        NonFiniteError: a loss term or a trainable weight became NaN or infinite (names the step).
    """
    tc = cfg.training
    if accelerator is None and (tc.distributed or launched_distributed()):
        accelerator = make_accelerator()
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    is_main = accelerator is None or accelerator.is_main_process
    if accelerator is not None:
        model.to(accelerator.device)
    device = model_device(model)
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    objectives, reference, retain, retain_ref = _components(model, tokenizer, cfg, rank, ref_model)
    kl_positions = objectives.kl_positions()
    encoded = [encode_case(tokenizer, c, tc.max_context_tokens, objectives.suffix_tokens()) for c in cases]
    trainable = {k: p for k, p in model.named_parameters() if p.requires_grad}
    params = list(trainable.values())
    optimizer, schedule = _optimizer(params, tc)
    steps_per_epoch = math.ceil(math.ceil(len(encoded) / tc.batch_size) / world)  # every world-th batch

    fp, ckpt = fingerprint(cfg, cases), _checkpoint_folder(checkpoint_dir, accelerator)
    done = _resume(ckpt, fp, restart, is_main, model, optimizer, rng, retain)
    resumed_from = done.epoch
    with warnings.catch_warnings():
        # Replaying the schedule to the resumed step is not the misuse torch warns about.
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step()`")
        for _ in range(done.step):
            schedule.step()

    def loss_of(net: Any, batch: Batch) -> Any:
        return objectives(_score(net, batch, objectives, reference, retain, retain_ref))

    forward, backward, clip, optimizer = _step_functions(model, loss_of, optimizer, accelerator)
    model.train()
    t0, tokens, metrics = time.time(), 0, {}  # tokens and time of this segment; ``done`` holds earlier ones
    bar = tqdm(total=steps_per_epoch * tc.epochs, initial=done.step, desc="hotfix training", unit="step",
               disable=not (progress and is_main), dynamic_ncols=True)
    for epoch in range(done.epoch, tc.epochs):
        for items in shard_batches(make_batches(encoded, tc.batch_size, rng), rank, world):
            batch = collate(items, tokenizer.pad_token_id, kl_positions, device=device)
            out = forward(batch)
            optimizer.zero_grad(set_to_none=True)
            backward(out.loss)
            if tc.max_grad_norm:
                norm = clip(params, tc.max_grad_norm)  # None under DeepSpeed, which clips itself
                metrics["grad_norm"] = float(norm) if norm is not None else 0.0
            optimizer.step()
            schedule.step()
            done.step += 1
            tokens += batch.num_tokens()
            metrics = {**out.metrics, "grad_norm": metrics.get("grad_norm", 0.0), "lr": schedule.get_last_lr()[0]}
            metrics = _stop_if_not_finite(metrics, trainable, accelerator, done.step, epoch + 1, tc.lr)
            done.history.append({"step": done.step, "epoch": epoch + 1, **{k: round(v, 6) for k, v in metrics.items()}})
            bar.set_postfix(epoch=f"{epoch + 1}/{tc.epochs}", loss=f"{metrics['loss']:.3f}")
            bar.update(1)
        done.epoch = epoch + 1
        if ckpt:
            so_far = replace(done, tokens=done.tokens + _sum_over_processes(accelerator, tokens),
                             seconds=round(done.seconds + time.time() - t0, 2))
            if is_main:
                save_checkpoint(ckpt, fp, so_far, model, optimizer, rng, retain.rng if retain else None)
        if accelerator is not None:
            accelerator.wait_for_everyone()
    bar.close()
    model.eval()
    return TrainResult(steps=done.step, epochs=tc.epochs, seconds=round(done.seconds + time.time() - t0, 2),
                       tokens=done.tokens + _sum_over_processes(accelerator, tokens), final_metrics=metrics,
                       history=done.history, resumed_from_epoch=resumed_from, processes=world,
                       accelerate=accelerator is not None, is_main_process=is_main,
                       adapter_state=_gathered_state(accelerator, forward))


def _optimizer(params: list[torch.Tensor], tc: Any) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW and its schedule: linear warmup over ``training.warmup_steps``, then constant."""
    optimizer = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, tc.warmup_steps)) if tc.warmup_steps else 1.0)
    return optimizer, schedule


def _step_functions(model: Any, loss_of: Callable[[Any, Batch], Any], optimizer: Any, accelerator: Any | None
                    ) -> tuple[Callable[[Batch], Any], Callable[[Any], None], Callable[..., Any], Any]:
    """(forward, backward, clip, optimizer): plain PyTorch, or through the accelerator."""
    if accelerator is None:
        return (lambda b: loss_of(model, b)), (lambda loss: loss.backward()), torch.nn.utils.clip_grad_norm_, \
            optimizer
    # The whole step runs inside the wrapper's forward (see ScoringStep); the schedule is stepped by
    # the loop, once per optimiser step, so it is not handed to prepare().
    forward, optimizer = accelerator.prepare(ScoringStep(model, loss_of), optimizer)
    return forward, accelerator.backward, accelerator.clip_grad_norm_, optimizer


def _components(model: Any, tokenizer: Any, cfg: HotfixConfig, rank: int, ref_model: Any | None
                ) -> tuple[ObjectiveMix, CaseReference, RetainSampler | None, RetainReference | None]:
    """The objectives and what scoring for them needs: the original model's outputs, retain batches."""
    objectives = build_objectives(cfg.objectives)
    if ref_model is None and objectives.needs_base_model and not is_peft_model(model):
        ref_model = frozen_copy(model)
    retain_obj = objectives.retain_objective()
    retain = retain_ref = None
    if retain_obj is not None:
        # Each process draws its own retain snippets (rank 0 draws what a single process would).
        retain = RetainSampler(load_retain_corpus(retain_obj.corpus), tokenizer, retain_obj.batch_size,
                               retain_obj.max_tokens, seed=cfg.seed + rank)
        retain_ref = RetainReference(retain_obj.top_k)
    return objectives, CaseReference(model, ref_model), retain, retain_ref


def _checkpoint_folder(checkpoint_dir: str | Path | None, accelerator: Any | None) -> Path | None:
    if checkpoint_dir and accelerator is not None and not supports_checkpoints(accelerator):
        warnings.warn("resume checkpoints are not written under FSDP/DeepSpeed (sharded state); an "
                      "interrupted run starts over", stacklevel=3)
        return None
    return Path(checkpoint_dir) if checkpoint_dir else None


def _resume(ckpt: Path | None, fp: str, restart: bool, is_main: bool, model: Any, optimizer: Any,
            rng: random.Random, retain: RetainSampler | None) -> RunState:
    """What earlier segments of this run did (restored into model, optimiser and RNGs), or a fresh start."""
    if ckpt is None:
        return RunState()
    if restart:
        if is_main:  # the others just do not load it; only one process touches the files
            discard_checkpoint(ckpt)
        return RunState()
    return load_checkpoint(ckpt, fp, model, optimizer, rng, retain.rng if retain else None) or RunState()


def _stop_if_not_finite(metrics: dict[str, float], trainable: dict[str, torch.Tensor], accelerator: Any | None,
                        step: int, epoch: int, lr: float) -> dict[str, float]:
    """Returns ``metrics`` (averaged over processes) or raises NonFiniteError naming the first NaN/inf
    loss term or trainable weight after this step, so a diverged run never reaches a checkpoint or
    a saved adapter. Costs one fused max-abs over the trainable weights and one sync per step."""
    weights = [p for p in trainable.values() if p.numel()]  # a ZeRO-3 shard may be empty
    norms = torch._foreach_norm(weights, ord=float("inf")) if weights else []  # NaN/inf iff one element is
    finite = bool(torch.isfinite(torch.stack([n.float().to(norms[0].device) for n in norms])).all()) \
        if norms else True
    if accelerator is not None:
        # Averaged, a NaN/inf in any process reaches every process, so all stop at the same step
        # (one stopping alone would leave the others waiting in the gradient all-reduce).
        metrics = mean_over_processes(accelerator, {**metrics, _NONFINITE: float(not finite)})
        finite = metrics.pop(_NONFINITE) == 0.0
    where = f"step {step} (epoch {epoch}): training stopped and nothing saved"
    terms = [k for k in sorted(metrics) if k.startswith("loss") and not math.isfinite(metrics[k])]
    if terms:
        term = next((t for t in terms if t != "loss"), terms[0])  # name the objective term, not just the sum
        raise NonFiniteError(f"{where}: loss term {term!r} is {metrics[term]}; lower training.lr ({lr}) "
                             f"or that objective's weight")
    if not finite:
        bad = nonfinite_names(trainable) or ["a weight held by another process"]
        raise NonFiniteError(f"{where}: {len(bad)} trainable weight(s) NaN or infinite after the optimiser step "
                             f"(first: {bad[0]}); lower training.lr ({lr})")
    return metrics


def _sum_over_processes(accelerator: Any | None, n: int) -> int:
    if accelerator is None:
        return n
    return int(accelerator.reduce(torch.tensor(n, device=accelerator.device), reduction="sum"))


def _gathered_state(accelerator: Any | None, wrapped: Any) -> dict[str, torch.Tensor] | None:
    """The trainable weights gathered whole when they are sharded (FSDP/DeepSpeed), else None."""
    if accelerator is None or supports_checkpoints(accelerator):
        return None
    full = accelerator.get_state_dict(wrapped)  # a collective: every process calls it
    return {k.removeprefix("model."): v for k, v in (full or {}).items()}
