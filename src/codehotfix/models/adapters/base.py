"""The adapter registry and what every method shares: building, counting, saving and loading.

A method is a function ``(model, AdapterConfig) -> model`` registered in ``ADAPTERS``: it returns
the model ready to train, with exactly the parameters to train marked ``requires_grad``. PEFT methods
return a ``PeftModel`` (we wrap PEFT, never subclass its models); ``full`` returns the model itself.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from codehotfix.errors import CodehotfixError
from codehotfix.registry import Registry

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ADAPTERS", "build_adapter", "trainable_parameters", "is_peft_model", "is_prompt_learning",
           "save_trained", "load_trained", "nonfinite_names", "NonFiniteError"]


class NonFiniteError(CodehotfixError):
    """Training produced a NaN or infinite loss or weight; the message names the step and the term or
    weight, and nothing non-finite is saved."""


ADAPTERS: Registry[Callable[[Any, Any], Any]] = Registry("adapter method")


def build_adapter(model: Any, cfg: Any) -> Any:
    """Prepares ``model`` for training with ``cfg.method`` and returns the model to train.

    Raises:
        KeyError: unknown method (lists the valid ones).
        ConfigError: the method cannot run here (e.g. qlora without bitsandbytes and a GPU).
    """
    from codehotfix.models.loading import contiguous_head_input

    # The adapter freezes the head; a model not loaded by load_model gets its guard here (see there).
    contiguous_head_input(model)
    return ADAPTERS.get(cfg.method)(model, cfg)


def trainable_parameters(model: Any) -> tuple[int, int]:
    """Returns (trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def is_peft_model(model: Any) -> bool:
    """True for a PEFT-wrapped model (its base is reachable by switching the adapter off)."""
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


def is_prompt_learning(model: Any) -> bool:
    """True when the adapter puts virtual tokens in front of the input (prefix/prompt tuning): such a
    model must be called through its PEFT forward, its inner decoder alone is the base model."""
    config = getattr(model, "active_peft_config", None)
    return bool(getattr(config, "is_prompt_learning", False))


def nonfinite_names(tensors: Mapping[str, Any]) -> list[str]:
    """Names of the tensors in ``tensors`` holding a NaN or an infinity (one fused check each)."""
    import torch

    return [name for name, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def save_trained(model: Any, out_dir: str | Path, *, state_dict: dict[str, Any] | None = None) -> None:
    """Writes what training changed: a PEFT adapter (``adapter_config.json`` + weights) or, for full
    fine-tuning, the whole model (``config.json`` + ``model.safetensors``, as large as the model).

    Identical runs write identical bytes: PEFT keeps ``target_modules`` as a set, whose order changes
    with Python's per-process string hashing, so sets are written as sorted lists.

    Args:
        model: the trained model.
        out_dir: the folder to write.
        state_dict: the weights to write instead of the model's own (gathered sharded weights);
            None or empty writes the model's own.

    Raises:
        NonFiniteError: a weight to write is NaN or infinite; nothing is written.
    """
    weights = state_dict or _weights_to_save(model)
    bad = nonfinite_names(weights)
    if bad:
        raise NonFiniteError(f"{out_dir}: not written: {len(bad)} of {len(weights)} weights are NaN or infinite "
                             f"(first: {bad[0]}); the training diverged, lower training.lr")
    with _sets_as_sorted_lists(getattr(model, "peft_config", {})):
        # save_embedding_layers=False: codehotfix never resizes the vocabulary, and PEFT's "auto" asks the
        # hub whether it did (a network lookup, and a warning on every offline save).
        model.save_pretrained(out_dir, save_embedding_layers=False, **({"state_dict": state_dict} if state_dict else {}))


def _weights_to_save(model: Any) -> dict[str, Any]:
    """What ``save_pretrained`` will write: the adapter's weights for PEFT, else the whole model's."""
    if is_peft_model(model):
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(model)
    return model.state_dict()


@contextmanager
def _sets_as_sorted_lists(peft_configs: Mapping[str, Any]) -> Iterator[None]:
    """Swaps each set-valued PEFT config field for a sorted list while the block runs, then puts the
    sets back (PEFT's own code expects them)."""
    saved = []
    for config in peft_configs.values():
        for key, value in list(vars(config).items()):
            if isinstance(value, (set, frozenset)):
                saved.append((config, key, value))
                setattr(config, key, sorted(value, key=str))
    try:
        yield
    finally:
        for config, key, value in saved:
            setattr(config, key, value)


def load_trained(base: nn.Module, path: str | Path) -> nn.Module:
    """Puts a trained hotfix from ``path`` onto ``base`` and returns the model to use: the same as
    ``load_hotfix(base, path)`` (``models/adapters/loading.py``, the one loading path), kept under
    this name for its existing callers.

    Raises:
        ModelError: ``path`` holds no hotfix, or the weights do not fit ``base``.
    """
    from codehotfix.models.adapters.loading import load_hotfix

    return load_hotfix(base, path)
