"""Ways to change a model, behind one interface: ``build_adapter(model, AdapterConfig)`` → model to train.

One module per method, each registering itself in ``ADAPTERS`` (imported explicitly below):
lora, dora, qlora (``lora.py``), ia3, prefix_tuning, prompt_tuning (``prompt.py``) and full.
We wrap PEFT, never subclass its models. LoRA is the default (the paper's r=8, alpha=16).
"""

from codehotfix.models.adapters.base import (
    ADAPTERS,
    NonFiniteError,
    build_adapter,
    is_peft_model,
    is_prompt_learning,
    load_trained,
    nonfinite_names,
    save_trained,
    trainable_parameters,
)
from codehotfix.models.adapters.config import AdapterConfig
from codehotfix.models.adapters.loading import (MANIFEST, AdapterLoadError, HotfixWeights, attach_hotfix, load_hotfix,
                                                read_hotfix)
from codehotfix.models.adapters import full, ia3, lora, prompt  # noqa: F401  (fill the registry)
from codehotfix.models.adapters.targets import LORA_TARGETS, default_lora_targets, linear_module_names, resolve_layers

__all__ = ["ADAPTERS", "AdapterConfig", "build_adapter", "trainable_parameters", "is_peft_model",
           "is_prompt_learning", "save_trained", "load_trained", "linear_module_names", "default_lora_targets",
           "resolve_layers", "LORA_TARGETS", "NonFiniteError", "nonfinite_names", "load_hotfix", "read_hotfix",
           "attach_hotfix", "HotfixWeights", "AdapterLoadError", "MANIFEST"]
