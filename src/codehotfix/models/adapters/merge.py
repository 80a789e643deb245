"""LoRA merged into the base weights while generating, so a hotfixed model decodes as fast as the base.

An unmerged LoRA layer runs two extra small matmuls (x·Aᵀ·Bᵀ) beside every adapted linear layer on
every decoding step; on a 2-core CPU that made a hotfixed model's evaluation 15–30% slower than the
base model's (bench/results/profile_step.md). ``merged_for_inference`` adds each active adapter's
delta (``get_delta_weight``, PEFT's own merge arithmetic) to the base weights, runs the body with the
adapter switched off (so it is not applied twice), then puts back a copy of the original weights:
restoring the copy, rather than subtracting the delta again as ``unmerge_adapter`` does, leaves the
base weights bit-identical, so training, canaries and repeated evaluations in the same process see
exactly the weights they saw before.

Only plain LoRA on ``nn.Linear`` layers is merged. Anything else (DoRA, LoRA on embeddings or
convolutions, IA3, prompt learning, several adapters active at once) runs unmerged: correct, just
not faster.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["merged_for_inference", "can_merge"]


def _lora_linear_layers(model: torch.nn.Module) -> list[torch.nn.Module] | None:
    """The LoRA ``Linear`` layers of ``model`` if every LoRA layer of it can be merged, else None."""
    try:
        from peft.tuners.lora import Linear as LoraLinear
        from peft.tuners.lora import LoraLayer
    except ImportError:  # pragma: no cover - peft is a core dependency
        return None
    layers = []
    for module in model.modules():
        if not isinstance(module, LoraLayer):
            continue
        if not isinstance(module, LoraLinear) or module.merged or getattr(module, "disable_adapters", False):
            return None
        active = [a for a in module.active_adapters if a in module.lora_A]
        if len(active) > 1 or any(module.use_dora.get(a, False) for a in active):
            return None
        if active:
            layers.append(module)
    return layers


def can_merge(model: torch.nn.Module) -> bool:
    """True when ``model`` is a PEFT model whose active adapter ``merged_for_inference`` merges."""
    return hasattr(model, "disable_adapter") and bool(_lora_linear_layers(model))


@contextmanager
def merged_for_inference(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Yields ``model`` with its LoRA adapter merged into the base weights (no gradients inside).

    A model that cannot be merged (see the module docstring) is yielded unchanged. The original base
    weights are restored exactly on exit, also when the body raises.
    """
    layers = _lora_linear_layers(model) if hasattr(model, "disable_adapter") else None
    if not layers:
        yield model
        return
    saved: list[tuple[torch.Tensor, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for module in layers:
                weight = module.get_base_layer().weight
                delta = module.get_delta_weight(module.active_adapters[0])
                saved.append((weight, weight.data.clone()))
                weight.data += delta.to(weight.dtype)
        with model.disable_adapter():
            yield model
    finally:
        with torch.no_grad():
            for weight, original in saved:
                weight.data.copy_(original)
