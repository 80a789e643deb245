"""PEFT methods behind one interface: ``build_adapter(model, AdapterConfig)`` → a PEFT model.

Each method registers a function that turns our ``AdapterConfig`` into a ``peft`` config; we wrap PEFT,
never subclass its models. LoRA is the default (the paper's r=8, alpha=16).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from codehotfix.errors import ConfigError
from codehotfix.registry import Registry

__all__ = ["AdapterConfig", "ADAPTERS", "build_adapter", "trainable_parameters"]


@dataclass
class AdapterConfig:
    """Which PEFT method to train, and its knobs.

    Attributes:
        method: registry name ("lora").
        r: LoRA rank.
        alpha: LoRA scaling numerator (scale = alpha / r).
        dropout: LoRA dropout (0 keeps training deterministic for a seed).
        target_modules: module names to adapt; None means every linear layer but the output head
            (PEFT's "all-linear"), which works on any architecture.
        layers: indices of the transformer blocks to adapt; None means all.
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


ADAPTERS: Registry[Callable[[AdapterConfig], Any]] = Registry("adapter method")


@ADAPTERS.register("lora")
def _lora(cfg: AdapterConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules or "all-linear",
        layers_to_transform=cfg.layers,
        bias="none",
        task_type="CAUSAL_LM",
    )


def build_adapter(model: Any, cfg: AdapterConfig) -> Any:
    """Wraps ``model`` with a fresh adapter of ``cfg.method`` and returns the PEFT model.

    Raises:
        KeyError: unknown method (lists the valid ones).
    """
    from peft import get_peft_model

    peft_config = ADAPTERS.get(cfg.method)(cfg)
    return get_peft_model(model, peft_config)


def trainable_parameters(model: Any) -> tuple[int, int]:
    """Returns (trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
