"""Multi-process training through Hugging Face ``accelerate`` (DDP, FSDP, DeepSpeed), kept out of the loop.

The same command runs on one CPU and on a multi-GPU node::

    codehotfix train CASES --out DIR                                           # one process
    accelerate launch --config_file configs/accelerate/ddp.yaml -m codehotfix.cli train CASES --out DIR

Under ``accelerate launch`` (or with ``training.distributed: true``) the loop builds an
``accelerate.Accelerator`` and:

- every process builds the same seeded batch list and takes every world_size-th batch (the list is
  padded by repeating its first batches, as ``DistributedSampler`` does, so every process runs the
  same number of steps and no collective waits forever); one optimiser step therefore sees
  world_size batches, and the learning rate is not rescaled;
- the scoring of a batch (reference, both lines, retain corpus) runs inside ``ScoringStep.forward``,
  so a DDP/FSDP/DeepSpeed wrapper sees one forward per step: our fast path calls the decoder and the
  output head separately, which a wrapper's hooks would otherwise miss (DDP would not sync gradients,
  FSDP would not gather the sharded weights);
- metrics are averaged over processes for the log; only the main process writes checkpoints,
  the adapter and the manifest.

See docs/scale-out.md for the configs and what was tested without GPUs.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence, TypeVar

import torch

__all__ = ["launched_distributed", "make_accelerator", "shard_batches", "launch_device", "ScoringStep",
           "mean_over_processes", "supports_checkpoints"]

T = TypeVar("T")


def launched_distributed() -> bool:
    """True inside ``accelerate launch`` (it sets ACCELERATE_MIXED_PRECISION in every process) or
    ``torchrun`` with more than one process (WORLD_SIZE > 1)."""
    return "ACCELERATE_MIXED_PRECISION" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def launch_device() -> str | None:
    """The GPU of this process under a launcher (cuda:LOCAL_RANK), so each process loads its model
    straight onto its own GPU instead of all onto cuda:0; None outside a launcher or without CUDA."""
    if not launched_distributed() or not torch.cuda.is_available():
        return None
    if os.environ.get("ACCELERATE_USE_CPU", "false").lower() in ("1", "true", "yes"):
        return "cpu"
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"


def make_accelerator(**kwargs: Any) -> Any:
    """An ``accelerate.Accelerator`` configured by the launcher's environment (see configs/accelerate/)."""
    from accelerate import Accelerator

    return Accelerator(**kwargs)


def shard_batches(batches: Sequence[T], rank: int, world_size: int) -> list[T]:
    """This process's share of ``batches``: every world_size-th one, starting at ``rank``.

    The list is first padded by cycling from its start to a multiple of world_size, so all processes
    take the same number of steps (a process with one step fewer would leave the others waiting in
    the gradient all-reduce).
    """
    if world_size <= 1:
        return list(batches)
    padded = list(batches)
    short = -len(padded) % world_size
    padded += [padded[i % len(padded)] for i in range(short)] if padded else []
    return padded[rank::world_size]


def supports_checkpoints(accelerator: Any) -> bool:
    """Per-epoch resume checkpoints hold full trainable tensors and optimiser state: true for one
    process and DDP (replicated), false for FSDP/DeepSpeed (sharded state)."""
    from accelerate.utils import DistributedType

    return accelerator.distributed_type not in (DistributedType.FSDP, DistributedType.DEEPSPEED)


def mean_over_processes(accelerator: Any, metrics: dict[str, float]) -> dict[str, float]:
    """Averages float metrics over processes (every process has the same keys: same objectives)."""
    if accelerator.num_processes <= 1 or not metrics:
        return metrics
    keys = sorted(metrics)
    values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=accelerator.device)
    values = accelerator.reduce(values, reduction="mean")
    return dict(zip(keys, values.tolist()))


class ScoringStep(torch.nn.Module):
    """One forward = everything a training step computes before the loss is backpropagated.

    Wrapping this module (not the bare language model) with ``accelerator.prepare`` puts the whole
    step, including calls into the decoder and head separately and the adapter-off reference
    passes, inside the wrapper's forward.

    Args:
        model: the model being trained (registered as a submodule, so the wrapper sees its weights).
        step: ``step(model, batch) -> LossOutput``.
    """

    def __init__(self, model: torch.nn.Module, step: Callable[[Any, Any], Any]) -> None:
        super().__init__()
        self.model = model
        self._step = step

    def forward(self, batch: Any) -> Any:
        return self._step(self.model, batch)
