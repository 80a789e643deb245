"""Which modules an adapter changes, per architecture, with inspection as the fallback.

LoRA/DoRA/QLoRA adapt every linear layer of attention and MLP by default (Dettmers et al. 2023,
QLoRA, found all-linear adapters needed to match full fine-tuning); the table names them for
common architectures so a model with extra linear layers (routers, vision towers) is not surprised.
An unlisted architecture falls back to inspecting the model. ``adapter.target_modules`` overrides both.
"""

from __future__ import annotations

from typing import Any

from codehotfix.errors import ConfigError

__all__ = ["LORA_TARGETS", "default_lora_targets", "linear_module_names", "resolve_layers"]

_LLAMA_LIKE = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]

# model_type → module names (sorted). GPT-2 style models use Conv1D layers; PEFT handles them.
LORA_TARGETS: dict[str, list[str]] = {
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "mixtral": ["k_proj", "o_proj", "q_proj", "v_proj"],  # experts are left out: one adapter per expert is costly
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": _LLAMA_LIKE,
    "phi3": ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"],
    "starcoder2": ["c_fc", "c_proj", "k_proj", "o_proj", "q_proj", "v_proj"],
    "gpt2": ["c_attn", "c_fc", "c_proj"],
    "gpt_bigcode": ["c_attn", "c_fc", "c_proj"],
    "gpt_neox": ["dense", "dense_4h_to_h", "dense_h_to_4h", "query_key_value"],
}


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


def default_lora_targets(model: Any) -> list[str]:
    """The table's entry for the model's architecture, else every linear layer found by inspection."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type in LORA_TARGETS:
        return list(LORA_TARGETS[model_type])
    names = linear_module_names(model)
    if not names:
        raise ConfigError(f"no linear layers found in a {model_type or type(model).__name__} model; "
                          "set adapter.target_modules")
    return names


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
