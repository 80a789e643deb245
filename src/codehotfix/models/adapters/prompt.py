"""Prompt-learning methods: learnt virtual tokens in front of every input; the base model is untouched.

prefix_tuning — Li & Liang 2021 (arXiv 2101.00190): learnt key/value pairs for every layer.
prompt_tuning — Lester et al. 2021 (arXiv 2104.08691): learnt input embeddings only (fewest parameters
    after IA3); initialised randomly.

Unlike LoRA these change what the model sees, not its weights, so scoring must go through the
PEFT forward (``codehotfix.scoring`` does, see ``is_prompt_learning``); the inner decoder
alone is the base model. ``adapter.num_virtual_tokens`` sets the prompt length.
"""

from __future__ import annotations

from typing import Any

from codehotfix.models.adapters.base import ADAPTERS
from codehotfix.models.adapters.config import AdapterConfig

__all__: list[str] = []


@ADAPTERS.register("prefix_tuning")
def build_prefix_tuning(model: Any, cfg: AdapterConfig) -> Any:
    from peft import PrefixTuningConfig, get_peft_model

    return get_peft_model(model, PrefixTuningConfig(num_virtual_tokens=cfg.num_virtual_tokens, task_type="CAUSAL_LM"))


@ADAPTERS.register("prompt_tuning")
def build_prompt_tuning(model: Any, cfg: AdapterConfig) -> Any:
    from peft import PromptTuningConfig, get_peft_model

    return get_peft_model(model, PromptTuningConfig(num_virtual_tokens=cfg.num_virtual_tokens, task_type="CAUSAL_LM"))
