"""LoRA, DoRA and QLoRA: low-rank updates W + (alpha/r)·B·A on the chosen linear layers.

lora  — Hu et al. 2021 (arXiv 2106.09685); B starts at zero, so a fresh adapter is the identity.
dora  — Liu et al. 2024 (arXiv 2402.09353): LoRA on the weight's direction plus a learnt magnitude
        (``LoraConfig(use_dora=True)``); slower per step, closer to full fine-tuning.
qlora — Dettmers et al. 2023 (arXiv 2305.14314): LoRA on a base frozen in 4-bit NF4 by bitsandbytes.
        Needs bitsandbytes and a CUDA GPU. A base that is not already 4-bit is reloaded in 4-bit from
        where it was loaded (``model.name_or_path``); the reference for KL/NPO/DPO (adapter off) is then
        the 4-bit base, as in the QLoRA paper.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from codehotfix.errors import ConfigError
from codehotfix.models.adapters.base import ADAPTERS
from codehotfix.models.adapters.config import AdapterConfig
from codehotfix.models.adapters.targets import default_lora_targets, resolve_layers

__all__ = ["lora_config"]


def lora_config(model: Any, cfg: AdapterConfig, *, use_dora: bool = False) -> Any:
    """The ``peft.LoraConfig`` for ``cfg`` on ``model``."""
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules or default_lora_targets(model),
        layers_to_transform=resolve_layers(model, cfg.layers),
        use_dora=use_dora,
        bias="none",
        task_type="CAUSAL_LM",
    )


@ADAPTERS.register("lora")
def build_lora(model: Any, cfg: AdapterConfig) -> Any:
    from peft import get_peft_model

    return get_peft_model(model, lora_config(model, cfg))


@ADAPTERS.register("dora")
def build_dora(model: Any, cfg: AdapterConfig) -> Any:
    from peft import get_peft_model

    return get_peft_model(model, lora_config(model, cfg, use_dora=True))


def require_qlora() -> None:
    """Raises ConfigError naming what is missing for 4-bit training."""
    import torch

    missing = []
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("the bitsandbytes package (pip install bitsandbytes)")
    if not torch.cuda.is_available():
        missing.append("a CUDA GPU (torch.cuda.is_available() is False)")
    if missing:
        raise ConfigError("adapter.method=qlora needs " + " and ".join(missing)
                          + "; use adapter.method=lora on this machine")


def _is_4bit(model: Any) -> bool:
    return bool(getattr(model, "is_loaded_in_4bit", False)) or \
        getattr(getattr(model, "quantization_config", None), "load_in_4bit", False)


@ADAPTERS.register("qlora")
def build_qlora(model: Any, cfg: AdapterConfig) -> Any:
    require_qlora()
    import torch
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if not _is_4bit(model):
        source = getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "")
        if not source:
            raise ConfigError("adapter.method=qlora: the base model was not loaded in 4-bit and has no "
                              "name_or_path to reload it from")
        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=torch.bfloat16)
        model = AutoModelForCausalLM.from_pretrained(source, quantization_config=quant, device_map={"": 0})
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, lora_config(model, cfg))
