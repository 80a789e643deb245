"""``AdapterConfig``: which way of changing the model is trained, and its knobs.

One config for every method (PEFT's LoRA/DoRA/IA3/prefix/prompt tuning, 4-bit QLoRA, full fine-tuning)
so a YAML ``adapter:`` block stays flat; each field says which methods read it, and a knob that the
chosen method would ignore is an error rather than a silent no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

from codehotfix.errors import ConfigError

__all__ = ["AdapterConfig"]

# Methods that read each knob (the others must leave it at its default).
_LORA_LIKE = ("lora", "dora", "qlora")
_PROMPT_LEARNING = ("prefix_tuning", "prompt_tuning")


@dataclass
class AdapterConfig:
    """Which method to train, and its knobs.

    Attributes:
        method: registry name: lora, dora, qlora, ia3, prefix_tuning, prompt_tuning or full
            (``codehotfix.models.adapters.ADAPTERS``).
        r: LoRA/DoRA/QLoRA rank.
        alpha: LoRA scaling numerator (scale = alpha / r).
        dropout: LoRA dropout (0 keeps training deterministic for a seed).
        target_modules: module names to adapt (lora, dora, qlora, ia3); None picks them from the
            per-architecture table in ``targets.py``, falling back to every linear layer inside the
            transformer blocks.
        feedforward_modules: IA3 only: which of ``target_modules`` are feed-forward layers (IA3 scales
            their input rather than their output); None uses PEFT's per-architecture table.
        layers: indices of the transformer blocks to adapt (lora, dora, qlora); None means all; negative
            indices count from the top (``[-8, …, -1]`` = the top 8).
        num_virtual_tokens: prefix_tuning / prompt_tuning: how many virtual tokens are learnt.
    """

    method: str = "lora"
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] | None = None
    feedforward_modules: list[str] | None = None
    layers: list[int] | None = None
    num_virtual_tokens: int = 16

    def __post_init__(self) -> None:
        from codehotfix.models.adapters.base import ADAPTERS

        errors = []
        if ADAPTERS.names() and self.method not in ADAPTERS:
            errors.append(f"adapter.method: unknown method {self.method!r}; allowed: {', '.join(ADAPTERS.names())}")
        if self.r < 1:
            errors.append(f"adapter.r must be >= 1, got {self.r}")
        if self.alpha <= 0:
            errors.append(f"adapter.alpha must be > 0, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            errors.append(f"adapter.dropout must be in [0, 1), got {self.dropout}")
        if self.num_virtual_tokens < 1:
            errors.append(f"adapter.num_virtual_tokens must be >= 1, got {self.num_virtual_tokens}")
        if self.layers is not None and self.method not in _LORA_LIKE:
            errors.append(f"adapter.layers is only supported by {', '.join(_LORA_LIKE)}, not {self.method!r}")
        if self.target_modules is not None and self.method in _PROMPT_LEARNING + ("full",):
            errors.append(f"adapter.target_modules does not apply to method {self.method!r}")
        if self.feedforward_modules is not None and self.method != "ia3":
            errors.append(f"adapter.feedforward_modules only applies to ia3, not {self.method!r}")
        if errors:
            raise ConfigError("; ".join(errors))
