"""The base model's view: the model a hotfix is compared with, and its outputs.

For an adapter the base is the same model with the adapter switched off, so no second copy is
loaded; full fine-tuning keeps a frozen copy instead (``ref_model``). Training compares with the base
in its retain and preference losses, the canary and locality checks measure the distance from it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from codehotfix.models.loading import model_device
from codehotfix.scoring.batch import Batch
from codehotfix.scoring.forward import kl_columns, run_context, score_shared_prefix, split_model

__all__ = ["base_model_view", "adapters_disabled", "reference_context_logprobs", "reference_line_logprobs"]


@contextmanager
def base_model_view(model: nn.Module, ref_model: nn.Module | None = None) -> Iterator[nn.Module]:
    """Yields the original model to compare with: ``ref_model`` if given (full fine-tuning keeps a
    frozen copy), else ``model`` with its adapter switched off (no second copy)."""
    if ref_model is not None:
        yield ref_model
    elif hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield model
    else:
        raise ValueError("a model without an adapter needs a frozen reference copy (ref_model)")


class adapters_disabled:
    """Context manager: the base model's outputs (every adapter layer off), restored on exit.

    Used instead of ``PeftModel.disable_adapter`` because that one looks up a single active adapter's
    config and does not accept a list of active adapters (stacked hotfixes).
    """

    def __init__(self, model: nn.Module) -> None:
        self.tuner = getattr(model, "base_model", None) if hasattr(model, "peft_config") else None
        self.was_enabled = False

    def __enter__(self) -> None:
        if self.tuner is not None:
            layers = [m for m in self.tuner.modules() if hasattr(m, "disable_adapters") and hasattr(m, "lora_A")]
            self.was_enabled = any(not m.disable_adapters for m in layers)
            self.tuner.disable_adapter_layers()

    def __exit__(self, *exc: object) -> None:
        if self.tuner is not None and self.was_enabled:
            self.tuner.enable_adapter_layers()


@torch.no_grad()
def reference_context_logprobs(model: nn.Module, batch: Batch, ref_model: nn.Module | None = None) -> torch.Tensor:
    """Context log-distributions of the base model (adapter disabled, or ``ref_model``), [B, K, V]."""
    with base_model_view(model, ref_model) as base:
        decoder, head = split_model(base)
        batch = batch.to(model_device(base))
        h = run_context(decoder, batch, use_cache=False).last_hidden_state
    return F.log_softmax(head(h[:, kl_columns(batch)]).float(), dim=-1)


@torch.no_grad()
def reference_line_logprobs(model: nn.Module, batch: Batch,
                            ref_model: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The base model's token log-probs of the fixed and buggy lines, ([B, L], [B, L]).

    Always the fast path: with the adapter off it is the base model for every method (the inner
    decoder of a prompt-learning model never sees the virtual tokens).
    """
    with base_model_view(model, ref_model) as base:
        scores = score_shared_prefix(base, batch.to(model_device(base)))
    return scores.fixed_logp, scores.buggy_logp
