"""IA3 (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context
Learning", arXiv 2205.05638): learnt per-channel scales on keys, values and the feed-forward input.

The fewest parameters of all methods (one vector per adapted layer); starts at 1, so a fresh adapter
is the identity. Targets come from PEFT's per-architecture table; on an unlisted architecture every
linear layer of the blocks is scaled on its output (no feed-forward modules) unless
``adapter.target_modules`` / ``adapter.feedforward_modules`` say otherwise.
"""

from __future__ import annotations

from typing import Any

from codehotfix.errors import ConfigError
from codehotfix.models.adapters.base import ADAPTERS
from codehotfix.models.adapters.config import AdapterConfig
from codehotfix.models.adapters.targets import linear_module_names

__all__ = ["ia3_targets"]


def ia3_targets(model: Any, cfg: AdapterConfig) -> tuple[list[str], list[str]]:
    """Returns (target_modules, feedforward_modules) for ``model``."""
    from peft.utils.constants import (
        TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING as FEEDFORWARD,
        TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING as TARGETS,
    )

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    targets = cfg.target_modules or list(TARGETS.get(model_type) or linear_module_names(model))
    if cfg.feedforward_modules is not None:
        feedforward = list(cfg.feedforward_modules)
    elif cfg.target_modules is None and model_type in FEEDFORWARD:
        feedforward = list(FEEDFORWARD[model_type])
    else:
        feedforward = []
    stray = [m for m in feedforward if m not in targets]
    if stray:
        raise ConfigError(f"adapter.feedforward_modules {stray} must also be in adapter.target_modules {targets}")
    return targets, feedforward


@ADAPTERS.register("ia3")
def build_ia3(model: Any, cfg: AdapterConfig) -> Any:
    from peft import IA3Config, get_peft_model

    targets, feedforward = ia3_targets(model, cfg)
    return get_peft_model(model, IA3Config(target_modules=targets, feedforward_modules=feedforward,
                                           task_type="CAUSAL_LM"))
