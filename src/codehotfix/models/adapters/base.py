"""The adapter registry and what every method shares: building, counting, saving and loading.

A method is a function ``(model, AdapterConfig) -> model`` registered in ``ADAPTERS``: it returns
the model ready to train, with exactly the parameters to train marked ``requires_grad``. PEFT methods
return a ``PeftModel`` (we wrap PEFT, never subclass its models); ``full`` returns the model itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from codehotfix.errors import ModelError
from codehotfix.registry import Registry

__all__ = ["ADAPTERS", "build_adapter", "trainable_parameters", "is_peft_model", "is_prompt_learning",
           "save_trained", "load_trained"]

ADAPTERS: Registry[Callable[[Any, Any], Any]] = Registry("adapter method")


def build_adapter(model: Any, cfg: Any) -> Any:
    """Prepares ``model`` for training with ``cfg.method`` and returns the model to train.

    Raises:
        KeyError: unknown method (lists the valid ones).
        ConfigError: the method cannot run here (e.g. qlora without bitsandbytes and a GPU).
    """
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


def save_trained(model: Any, out_dir: str | Path) -> None:
    """Writes what training changed: a PEFT adapter (``adapter_config.json`` + weights) or, for full
    fine-tuning, the whole model (``config.json`` + ``model.safetensors``, as large as the model)."""
    model.save_pretrained(out_dir)


def load_trained(base: Any, path: str | Path) -> Any:
    """Puts a trained hotfix from ``path`` onto ``base`` and returns the model to use.

    A PEFT folder is attached with ``PeftModel.from_pretrained``; a full fine-tune's weights are
    loaded into ``base`` in place (same architecture required).

    Raises:
        ModelError: ``path`` holds neither, or the weights do not fit ``base``.
    """
    path = Path(path)
    if (path / "adapter_config.json").exists():
        from peft import PeftModel

        return PeftModel.from_pretrained(base, path)
    files = sorted(path.glob("model*.safetensors"))
    if not files:
        raise ModelError(f"{path}: no adapter_config.json and no model*.safetensors; not a trained hotfix")
    from safetensors.torch import load_file

    state: dict = {}
    for f in files:
        state.update(load_file(str(f)))
    missing, unexpected = base.load_state_dict(state, strict=False)
    tied = {k for k in missing if _is_tied(base, k)}
    if unexpected or set(missing) - tied:
        raise ModelError(f"{path}: weights do not fit the base model (missing {sorted(set(missing) - tied)[:5]}, "
                         f"unexpected {sorted(unexpected)[:5]})")
    return base


def _is_tied(model: Any, key: str) -> bool:
    """A missing output-head weight is fine when it shares storage with the input embeddings."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    return head is not None and emb is not None and head.weight is emb.weight and key.endswith("weight")
