"""Full fine-tuning: every weight of the model is trained; no PEFT wrapper.

The baseline the adapters are measured against. Costs: optimiser state for every weight (AdamW keeps
two extra copies), a saved hotfix as large as the model (``config.json`` + ``model.safetensors``,
reloaded with ``load_trained``), and, for objectives that compare with the original model (KL, NPO,
DPO), a frozen copy of the base made by the training loop, since there is no adapter to switch off.
"""

from __future__ import annotations

from typing import Any

from codehotfix.models.adapters.base import ADAPTERS
from codehotfix.models.adapters.config import AdapterConfig

__all__: list[str] = []


@ADAPTERS.register("full")
def build_full(model: Any, cfg: AdapterConfig) -> Any:
    model.requires_grad_(True)
    return model
