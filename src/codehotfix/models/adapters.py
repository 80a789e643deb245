"""PEFT methods behind one interface: ``build_adapter(model, AdapterConfig)`` → a PEFT model.

Each method registers a function that turns our ``AdapterConfig`` into a ``peft`` config; we wrap PEFT,
never subclass its models. LoRA is the default (the paper's r=8, alpha=16).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from codehotfix.errors import ConfigError
from codehotfix.registry import Registry

__all__ = ["AdapterConfig", "ADAPTERS", "build_adapter", "trainable_parameters", "linear_module_names"]


@dataclass
class AdapterConfig:
    """Which PEFT method to train, and its knobs.

    Attributes:
        method: registry name ("lora").
        r: LoRA rank.
        alpha: LoRA scaling numerator (scale = alpha / r).
        dropout: LoRA dropout (0 keeps training deterministic for a seed).
        target_modules: module names to adapt; None means every linear layer inside the transformer
            blocks (found by inspecting the model, so it works on any architecture).
        layers: indices of the transformer blocks to adapt; None means all; negative indices count
            from the top (``[-8, -7, …, -1]`` = the top 8). Adapting only upper blocks means the
            backward pass stops at the lowest adapted block.
    """

    method: str = "lora"
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] | None = None
    layers: list[int] | None = None

    def __post_init__(self) -> None:
        errors = []
        if self.r < 1:
            errors.append(f"adapter.r must be >= 1, got {self.r}")
        if self.alpha <= 0:
            errors.append(f"adapter.alpha must be > 0, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            errors.append(f"adapter.dropout must be in [0, 1), got {self.dropout}")
        if errors:
            raise ConfigError("; ".join(errors))


ADAPTERS: Registry[Callable[[AdapterConfig, Any], Any]] = Registry("adapter method")


def linear_module_names(model: Any) -> list[str]:
    """Short names of the linear layers inside the transformer blocks (e.g. q_proj … down_proj);
    the output head and embeddings are left out."""
    import torch.nn as nn

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names = set()
    for name, mod in model.named_modules():
        in_block = any(part.isdigit() for part in name.split("."))  # inside a numbered block list
        if isinstance(mod, nn.Linear) and mod is not head and in_block:
            names.add(name.rsplit(".", 1)[-1])
    return sorted(names)


def _num_layers(model: Any) -> int:
    config = getattr(model, "config", None)
    n = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    if not n:
        raise ConfigError("adapter.layers is set but the model's config has no num_hidden_layers")
    return int(n)


def resolve_layers(model: Any, layers: list[int] | None) -> list[int] | None:
    """Maps possibly negative block indices to absolute ones, checking the range."""
    if layers is None:
        return None
    n = _num_layers(model)
    out = sorted({i + n if i < 0 else i for i in layers})
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise ConfigError(f"adapter.layers {layers} out of range for a model with {n} blocks")
    return out


@ADAPTERS.register("lora")
def _lora(cfg: AdapterConfig, model: Any) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules or linear_module_names(model),
        layers_to_transform=resolve_layers(model, cfg.layers),
        bias="none",
        task_type="CAUSAL_LM",
    )


def build_adapter(model: Any, cfg: AdapterConfig) -> Any:
    """Wraps ``model`` with a fresh adapter of ``cfg.method`` and returns the PEFT model.

    Raises:
        KeyError: unknown method (lists the valid ones).
    """
    from peft import get_peft_model

    peft_config = ADAPTERS.get(cfg.method)(cfg, model)
    return get_peft_model(model, peft_config)


def trainable_parameters(model: Any) -> tuple[int, int]:
    """Returns (trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
