"""The hotfix training loop, top to bottom: encode → batch → score → weighted loss → step.

One loop for every training in codehotfix: ``Trainer`` runs it (setup → for each epoch, for each
batch: ``train_step``, then the ``on_step_end`` hooks; after each epoch the ``on_epoch_end`` hooks,
any of which may end the run), and ``train_adapter`` sets it up for a hotfix. Callers watch or stop a
run through ``TrainerCallback`` hooks instead of patching the loop (``privacy.memorise`` trains
through the same ``Trainer``; ``bench/hotfix_cost.py`` measures the effect after every epoch).

For a hotfix, objectives vary through config, not code, for every method (PEFT adapters and full
fine-tuning). The loop computes only what the configured objectives need: context
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

import logging
import math
import random
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterable, Iterator, Mapping, Sequence, TypeVar

import torch
from tqdm.auto import tqdm

from codehotfix.config import HotfixConfig
from codehotfix.data.cases import HotfixCase
from codehotfix.objectives import build_objectives
from codehotfix.models.adapters import NonFiniteError, is_peft_model, nonfinite_names
from codehotfix.models.loading import model_device
from codehotfix.objectives.base import LossOutput
from codehotfix.objectives.mix import ObjectiveMix
from codehotfix.scoring import (Batch, EncodedCase, Scores, base_model_view, collate, encode_case, score_batch,
                               within_line_limit)
from codehotfix.training.checkpoint import RunState, discard_checkpoint, fingerprint, load_checkpoint, save_checkpoint
from codehotfix.training.distributed import (ScoringStep, launched_distributed, make_accelerator,
                                             mean_over_processes, shard_batches, supports_checkpoints)
from codehotfix.training.reference import CaseReference, frozen_copy
from codehotfix.training.retain import RetainReference, RetainSampler, load_retain_corpus, retain_logprobs

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = ["TrainResult", "train_adapter", "make_batches", "Trainer", "TrainerCallback", "StepEnd", "EpochEnd"]

_NONFINITE = "nonfinite_weights"  # a flag averaged with the metrics, never logged

logger = logging.getLogger(__name__)


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
    left_out: list[dict[str, Any]] = field(default_factory=list)
    reference_from_states: int = 0  # cases whose kl_context reference came from given base states
    # kl_corpus reference: snippets read from the store / computed in this run, and the store's file
    retain_reference: dict[str, Any] = field(default_factory=dict)


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


# --------------------------------------------------------------------------- the loop and its hooks

BatchT = TypeVar("BatchT")


@dataclass
class StepEnd(Generic[BatchT]):
    """What an ``on_step_end`` hook gets after each optimiser step.

    ``step`` counts optimiser steps over the whole run (1-based, resumed segments included),
    ``epoch`` is 1-based, ``metrics`` are the step's logged floats (loss terms, grad_norm, lr) and
    ``batch`` is what the step trained on.
    """

    step: int
    epoch: int
    metrics: dict[str, float]
    model: torch.nn.Module
    batch: BatchT


@dataclass
class EpochEnd:
    """What an ``on_epoch_end`` hook gets after each epoch: the epoch (1-based), the steps so far,
    the last step's metrics, the model, and the seconds this epoch's batches and steps took (the
    hooks' own time left out)."""

    epoch: int
    step: int
    metrics: dict[str, float]
    model: torch.nn.Module
    seconds: float


@dataclass
class TrainerCallback(Generic[BatchT]):
    """Hooks into ``Trainer``; either may be left out. An ``on_epoch_end`` hook that returns True
    ends the run after that epoch (every hook of that epoch still runs). Hooks run in the order the
    callbacks were given, in every process of a distributed run; the run stops if any process asks.
    """

    on_step_end: Callable[[StepEnd[BatchT]], None] | None = None
    on_epoch_end: Callable[[EpochEnd], bool | None] | None = None


class Trainer(Generic[BatchT]):
    """The one optimisation loop: for each epoch, for each batch, ``train_step`` (forward → zero
    grads → backward → clip → optimiser step → schedule step), then the ``on_step_end`` hooks; after
    each epoch the ``on_epoch_end`` hooks. It draws no random numbers itself, so what a run does is
    fixed by how its caller seeds and orders the batches.

    Args:
        model: the model being trained (its trainable parameters are in ``params``).
        optimizer: over ``params``.
        loss_of: ``loss_of(model, batch) -> LossOutput`` (loss with grad, float metrics).
        params: the trainable parameters (what gradient clipping sees).
        schedule: stepped once per optimiser step; None keeps the learning rate constant.
        max_grad_norm: clip the gradient norm to this; 0 does not clip.
        accelerator: an ``accelerate.Accelerator`` to run the step through (the whole ``loss_of``
            inside one wrapped forward, see ``ScoringStep``), or None for plain PyTorch.
        check: ``check(metrics, step, epoch) -> metrics`` after every step: returns the metrics to
            log (e.g. averaged over processes) or raises to end a run that went wrong.
        callbacks: hooks, in order.
        bar: a progress bar to advance once per step (postfix: epoch and loss), or None.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 loss_of: Callable[[torch.nn.Module, BatchT], LossOutput], *, params: Sequence[torch.Tensor],
                 schedule: torch.optim.lr_scheduler.LRScheduler | None = None, max_grad_norm: float = 0.0,
                 accelerator: Accelerator | None = None,
                 check: Callable[[dict[str, float], int, int], dict[str, float]] | None = None,
                 callbacks: Sequence[TrainerCallback[BatchT]] = (), bar: tqdm | None = None) -> None:
        self.model, self.params, self.schedule = model, list(params), schedule
        self.max_grad_norm, self.accelerator, self.check = max_grad_norm, accelerator, check
        self.callbacks, self.bar = list(callbacks), bar
        self.forward, self.backward, self.clip, self.optimizer = _step_functions(model, loss_of, optimizer,
                                                                                 accelerator)
        self.step, self.epoch, self.epochs = 0, 0, 0
        self.metrics: dict[str, float] = {}
        self.stopped_early = False

    def train_step(self, batch: BatchT) -> dict[str, float]:
        """One optimiser step on ``batch``; returns its metrics (after ``check``)."""
        out = self.forward(batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.backward(out.loss)
        grad_norm = 0.0
        if self.max_grad_norm:
            norm = self.clip(self.params, self.max_grad_norm)  # None under DeepSpeed, which clips itself
            grad_norm = float(norm) if norm is not None else 0.0
        self.optimizer.step()
        if self.schedule is not None:
            self.schedule.step()
        self.step += 1
        lr = self.schedule.get_last_lr()[0] if self.schedule is not None else self.optimizer.param_groups[0]["lr"]
        metrics = {**out.metrics, "grad_norm": grad_norm, "lr": lr}
        return self.check(metrics, self.step, self.epoch) if self.check is not None else metrics

    def fit(self, batches: Callable[[int], Iterable[BatchT]], epochs: int, *, start_epoch: int = 0,
            start_step: int = 0) -> None:
        """Trains epochs ``start_epoch + 1`` … ``epochs``; ``batches(epoch)`` gives each epoch's
        batches (called when the epoch starts). Leaves the model in eval mode."""
        self.step, self.epochs = start_step, epochs
        self.model.train()
        for epoch in range(start_epoch + 1, epochs + 1):
            if self.run_epoch(epoch, batches(epoch)):
                self.stopped_early = epoch < epochs
                break
        if self.bar is not None:
            self.bar.close()
        self.model.eval()

    def run_epoch(self, epoch: int, batches: Iterable[BatchT]) -> bool:
        """Trains one epoch and runs the hooks; returns True when a hook asked to stop."""
        self.epoch, t0 = epoch, time.perf_counter()
        for batch in batches:
            self.metrics = self.train_step(batch)
            if self.bar is not None:
                self.bar.set_postfix(epoch=f"{epoch}/{self.epochs}", loss=f"{self.metrics['loss']:.3f}")
                self.bar.update(1)
            for callback in self.callbacks:
                if callback.on_step_end is not None:
                    callback.on_step_end(StepEnd(self.step, epoch, self.metrics, self.model, batch))
        done = EpochEnd(epoch, self.step, self.metrics, self.model, time.perf_counter() - t0)
        stops = [bool(c.on_epoch_end(done)) for c in self.callbacks if c.on_epoch_end is not None]
        stop = any(stops)
        if self.accelerator is not None:  # one process stopping alone would hang the others
            stop = mean_over_processes(self.accelerator, {"stop": float(stop)})["stop"] > 0
        return stop


def _score(model: Any, batch: Batch, objectives: ObjectiveMix, reference: CaseReference,
           retain: RetainSampler | None, retain_ref: RetainReference | None, pack: bool = False) -> Scores:
    """Scores a batch with everything the objectives need (and nothing more)."""
    ctx_ref = reference.context(batch) if objectives.needs_context else None
    scores = score_batch(model, batch, with_context=objectives.needs_context, reference=ctx_ref,
                         with_snippet=objectives.needs_snippet, with_suffix=objectives.needs_suffix_distributions,
                         pack=pack)
    if objectives.needs_suffix_distributions:
        scores.ref_suffix_logp, scores.ref_suffix_index = reference.suffix(batch, objectives.suffix_top_k())
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
                  restart: bool = False, callbacks: Sequence[TrainerCallback[Batch]] = (),
                  reference_states: Mapping[str, torch.Tensor] | None = None,
                  retain_store: str | Path | None = None) -> TrainResult:
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
        callbacks: hooks called after each step and epoch (after the epoch's checkpoint); an
            ``on_epoch_end`` hook returning True ends the run there (``TrainResult.epochs`` says
            how many ran).
        reference_states: per case id, the base model's hidden states at the context positions
            ``kl_context`` compares (``scoring.line_logprobs_with_states``, with its ``positions`` K
            and the training's ``max_context_tokens``): the reference is taken from them instead of
            a pass of the base model over those contexts. Ignored without ``kl_context``.
        retain_store: a folder that keeps ``kl_corpus``'s base-model reference across runs
            (``training.retain.RetainReference``); it must belong to the weights of the model being
            trained (``models.loading.derived_folder``). None computes it in every run.

    Raises:
        CheckpointError: ``checkpoint_dir`` holds a checkpoint that cannot be resumed (old pickle
            format, corrupt or truncated, another config or cases); ``restart=True`` discards it.
        NonFiniteError: a loss term or a trainable weight became NaN or infinite (names the step).
    """
    run = _AdapterRun(model, tokenizer, cases, cfg, checkpoint_dir=checkpoint_dir, ref_model=ref_model,
                      accelerator=accelerator, restart=restart, retain_store=retain_store)
    if reference_states and run.objectives.needs_context:
        run.prime_reference(reference_states)
    return run.train(progress=progress, callbacks=callbacks)


class _AdapterRun:
    """``train_adapter`` in three parts: setup here (seeds, objectives and what they compare with,
    encoded cases, optimiser, a resumed checkpoint), ``train`` (the ``Trainer`` loop with this
    run's own hooks: history, token count, per-epoch checkpoint) and the ``TrainResult``."""

    def __init__(self, model: Any, tokenizer: Any, cases: Sequence[HotfixCase], cfg: HotfixConfig, *,
                 checkpoint_dir: str | Path | None, ref_model: Any | None, accelerator: Any | None,
                 restart: bool, retain_store: str | Path | None = None) -> None:
        tc = self.tc = cfg.training
        if accelerator is None and (tc.distributed or launched_distributed()):
            accelerator = make_accelerator()
        self.rank, self.world = (accelerator.process_index, accelerator.num_processes) \
            if accelerator is not None else (0, 1)
        self.is_main = accelerator is None or accelerator.is_main_process
        if accelerator is not None:
            model.to(accelerator.device)
        self.model, self.tokenizer, self.accelerator = model, tokenizer, accelerator
        self.device = model_device(model)
        self.rng = random.Random(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.objectives, self.reference, self.retain, self.retain_ref = _components(
            model, tokenizer, cfg, self.rank, ref_model, retain_store if self.is_main else None)
        self.kl_positions = self.objectives.kl_positions()
        # A line over scoring.encoding.LINE_TOKEN_LIMIT tokens is left out, named and recorded.
        self.encoded, self.left_out = within_line_limit(
            [encode_case(tokenizer, c, tc.max_context_tokens, self.objectives.suffix_tokens()) for c in cases],
            "training")
        self.trainable = {k: p for k, p in model.named_parameters() if p.requires_grad}
        self.optimizer, self.schedule = _optimizer(list(self.trainable.values()), tc)
        self.fp, self.ckpt = fingerprint(cfg, cases), _checkpoint_folder(checkpoint_dir, accelerator)
        self.done = _resume(self.ckpt, self.fp, restart, self.is_main, model, self.optimizer, self.rng, self.retain)
        with warnings.catch_warnings():
            # Replaying the schedule to the resumed step is not the misuse torch warns about.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")  # a regex: no "()"
            for _ in range(self.done.step):
                self.schedule.step()
        self.tokens, self.t0 = 0, 0.0  # tokens and start time of this segment; ``done`` holds earlier ones
        self.primed = 0  # cases whose kl_context reference ``prime_reference`` filled

    def prime_reference(self, states: Mapping[str, torch.Tensor]) -> None:
        """``train_adapter``'s ``reference_states``: each case's states must cover exactly the positions
        this run compares (K and the context as encoded here), or they were computed for other
        inputs.

        Raises:
            ValueError: naming the first case whose states do not fit.
        """
        mine = {}
        for e in self.encoded:
            if e.case_id not in states:
                continue
            h, want = states[e.case_id], min(self.kl_positions, len(e.context) - 1)
            if h.dim() != 2 or h.shape[0] != want:
                raise ValueError(f"reference_states[{e.case_id!r}]: {tuple(h.shape)}, expected {want} positions "
                                 f"(K={self.kl_positions}, {len(e.context)} context tokens at max_context_tokens="
                                 f"{self.tc.max_context_tokens}); computed for other inputs?")
            mine[e.case_id] = h
        self.primed = self.reference.prime(mine)
        logger.info("kl_context reference: %d of %d cases from the given base states", self.primed, len(self.encoded))

    def loss_of(self, net: Any, batch: Batch) -> LossOutput:
        return self.objectives(_score(net, batch, self.objectives, self.reference, self.retain, self.retain_ref,
                                      self.tc.pack))

    def batches(self, epoch: int) -> Iterator[Batch]:
        """This process's batches of ``epoch``, drawn from the run's seeded RNG when the epoch starts."""
        for items in shard_batches(make_batches(self.encoded, self.tc.batch_size, self.rng), self.rank, self.world):
            yield collate(items, self.tokenizer.pad_token_id, self.kl_positions, device=self.device)

    def train(self, *, progress: bool, callbacks: Sequence[TrainerCallback[Batch]]) -> TrainResult:
        tc, done, accelerator = self.tc, self.done, self.accelerator
        resumed_from = done.epoch
        steps_per_epoch = math.ceil(math.ceil(len(self.encoded) / tc.batch_size) / self.world)  # every world-th batch
        trainer = Trainer(self.model, self.optimizer, self.loss_of, params=list(self.trainable.values()),
                          schedule=self.schedule, max_grad_norm=tc.max_grad_norm, accelerator=accelerator,
                          check=lambda m, step, epoch: _stop_if_not_finite(m, self.trainable, accelerator, step,
                                                                           epoch, tc.lr),
                          callbacks=[TrainerCallback(self._record_step, self._end_epoch), *callbacks])
        self.t0 = time.time()
        trainer.bar = tqdm(total=steps_per_epoch * tc.epochs, initial=done.step, desc="hotfix training",
                           unit="step", disable=not (progress and self.is_main), dynamic_ncols=True)
        trainer.fit(self.batches, tc.epochs, start_epoch=done.epoch, start_step=done.step)
        return TrainResult(steps=done.step, epochs=done.epoch if trainer.stopped_early else tc.epochs,
                           seconds=round(done.seconds + time.time() - self.t0, 2),
                           tokens=done.tokens + _sum_over_processes(accelerator, self.tokens),
                           final_metrics=trainer.metrics, history=done.history, resumed_from_epoch=resumed_from,
                           processes=self.world, accelerate=accelerator is not None, is_main_process=self.is_main,
                           adapter_state=_gathered_state(accelerator, trainer.forward), left_out=self.left_out,
                           reference_from_states=self.primed, retain_reference=self._retain_summary())

    def _retain_summary(self) -> dict[str, Any]:
        ref = self.retain_ref
        if ref is None:
            return {}
        return {"from_store": ref.from_store, "computed": ref.computed,
                "store": str(ref.path) if ref.path is not None else None}

    def _record_step(self, step: StepEnd[Batch]) -> None:
        self.done.step = step.step
        self.tokens += step.batch.num_tokens()
        self.done.history.append({"step": step.step, "epoch": step.epoch,
                                  **{k: round(v, 6) for k, v in step.metrics.items()}})

    def _end_epoch(self, end: EpochEnd) -> None:
        """Checkpoints the finished epoch (main process only), then waits for the other processes."""
        done = self.done
        done.epoch = end.epoch
        if self.retain_ref is not None:
            self.retain_ref.save()  # before the checkpoint: a resumed run finds what this epoch computed
        if self.ckpt:
            so_far = replace(done, tokens=done.tokens + _sum_over_processes(self.accelerator, self.tokens),
                             seconds=round(done.seconds + time.time() - self.t0, 2))
            if self.is_main:
                save_checkpoint(self.ckpt, self.fp, so_far, self.model, self.optimizer, self.rng,
                                self.retain.rng if self.retain else None)
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()


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


def _components(model: Any, tokenizer: Any, cfg: HotfixConfig, rank: int, ref_model: Any | None,
                retain_store: str | Path | None = None
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
        retain_ref = RetainReference(retain_obj.top_k, store=retain_store)
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
