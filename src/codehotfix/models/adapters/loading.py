"""The one way a trained hotfix folder gets onto a base model: read and verify it, then attach it.

    model = load_hotfix(base, "runs/x/hotfix", base_checksum=loaded.checksum)

Loading is two steps so a server can read a hotfix from disk while requests keep running
(``read_hotfix``) and touch the model only inside its swap lock (``attach_hotfix``); ``load_hotfix``
runs both. A folder holds either a PEFT adapter (``adapter_config.json`` + weights) or, for full
fine-tuning, a whole model's weights (``model*.safetensors``).

Reading verifies what can be verified before the model is touched: the folder is a hotfix, its
adapter weights match the checksum a registry recorded (``expected_sha256``: a changed file raises),
and its manifest (``hotfix.json``) names the base weights it was trained on (``base_checksum``: a
different base warns, since the hotfix may still load but its effect may not carry over).

Attaching mirrors what ``PeftModel.from_pretrained`` does for a local folder (the task's PEFT model
class, inference mode, the saved weights into the new adapter), and can add the adapter under its
own name next to others already on the model (stacked hotfixes). A LoRA adapter whose weights match
no layer of the model, or lack some, raises instead of loading half.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from codehotfix.errors import AdapterLoadError
from codehotfix.files import read_json, sha256_file

if TYPE_CHECKING:
    import torch
    from peft import PeftConfig
    from torch import nn

__all__ = ["MANIFEST", "HotfixWeights", "AdapterLoadError", "read_hotfix", "attach_hotfix", "load_hotfix",
           "is_hotfix_folder"]

MANIFEST = "hotfix.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass
class HotfixWeights:
    """A hotfix read from disk, not yet on any model.

    Attributes:
        key: the PEFT adapter name it will get (the registry uses "<name>@<version>").
        path: the folder it came from.
        state_dict: its tensors (CPU), as saved.
        config: its PEFT config (inference mode); None for a full fine-tune's weights.
        manifest: its hotfix.json ({} when the folder has none).
    """

    key: str
    path: Path
    state_dict: dict[str, torch.Tensor]
    config: PeftConfig | None = None
    manifest: dict[str, object] = field(default_factory=dict)


def is_hotfix_folder(path: str | Path) -> bool:
    """True when ``path`` holds a PEFT adapter or a full fine-tune's weights (checked without reading them)."""
    path = Path(path)
    return (path / "adapter_config.json").exists() or any(path.glob("model*.safetensors"))


def read_hotfix(path: str | Path, key: str = "default", *, expected_sha256: str | None = None,
                base_checksum: str | None = None) -> HotfixWeights:
    """Reads a hotfix folder into memory and verifies it (see the module docstring).

    Args:
        path: the folder ``codehotfix train`` wrote (or a registry's copy of it).
        key: the adapter name it will have on the model.
        expected_sha256: the adapter weights' recorded checksum; None skips the check.
        base_checksum: the checksum of the base it will go on; warns when its manifest names another.

    Raises:
        AdapterLoadError: not a hotfix folder, or weights that differ from ``expected_sha256``.
    """
    path = Path(path)
    if not is_hotfix_folder(path):
        raise AdapterLoadError(f"{path}: no adapter_config.json and no model*.safetensors; not a trained hotfix")
    manifest = read_json(path / MANIFEST) if (path / MANIFEST).exists() else {}
    trained_on = manifest.get("base_model_checksum")
    if base_checksum and trained_on and trained_on != base_checksum:
        warnings.warn(f"{path} was trained on base weights {trained_on[:12]}…, not on the loaded model "
                      f"{base_checksum[:12]}…; its effect may not carry over", stacklevel=2)
    if not (path / "adapter_config.json").exists():
        return HotfixWeights(key, path, _full_weights(path), None, manifest)
    if expected_sha256 and sha256_file(path / ADAPTER_WEIGHTS) != expected_sha256:
        raise AdapterLoadError(f"{path}/{ADAPTER_WEIGHTS}: checksum differs from the registry's record; "
                               "the stored copy was modified")
    from peft import PeftConfig
    from peft.utils import load_peft_weights

    config = copy.deepcopy(PeftConfig.from_pretrained(str(path)))
    config.inference_mode = True
    return HotfixWeights(key, path, load_peft_weights(str(path), device="cpu"), config, manifest)


def _full_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for f in sorted(path.glob("model*.safetensors")):
        state.update(load_file(str(f)))
    return state


def attach_hotfix(model: nn.Module, weights: HotfixWeights) -> nn.Module:
    """Puts ``weights`` on ``model`` and returns the model to use (in eval mode).

    A PEFT adapter is added under ``weights.key`` (inactive when the model already had adapters; a
    plain model becomes a PEFT model with it active); attaching a key already there changes nothing.
    A full fine-tune's weights are loaded into ``model`` in place (same architecture required).

    Raises:
        AdapterLoadError: LoRA weights missing or matching no layer (a hotfix for another
            architecture), or full weights that do not fit ``model``.
    """
    from codehotfix.models.loading import contiguous_head_input

    contiguous_head_input(model)  # a frozen head on a strided slice is torch's slow path (see there)
    if weights.config is None:
        _load_full(model, weights)
        model.eval()
        return model
    from peft import PeftModel, set_peft_model_state_dict

    if isinstance(model, PeftModel):
        if weights.key in model.peft_config:
            return model
        model.add_adapter(weights.key, copy.deepcopy(weights.config))
    else:
        model = _peft_model_class(weights.config)(model, copy.deepcopy(weights.config), adapter_name=weights.key)
    result = set_peft_model_state_dict(model, weights.state_dict, adapter_name=weights.key)
    missing = [k for k in result.missing_keys if "lora_" in k and weights.key in k]
    unexpected = [k for k in result.unexpected_keys if "lora_" in k]
    if missing or unexpected:
        _remove_adapter(model, weights.key)
        bad = (missing or unexpected)[:3]
        raise AdapterLoadError(f"{weights.path}: {len(missing)} adapter weights missing and {len(unexpected)} "
                               f"matching no layer (e.g. {bad}); was it trained on another architecture?")
    model.eval()
    return model


def load_hotfix(base: nn.Module, path: str | Path, *, key: str = "default", expected_sha256: str | None = None,
                base_checksum: str | None = None) -> nn.Module:
    """Reads the hotfix at ``path``, verifies it and puts it on ``base``; returns the model to use.

    Raises:
        AdapterLoadError: see ``read_hotfix`` and ``attach_hotfix``.
    """
    weights = read_hotfix(path, key, expected_sha256=expected_sha256, base_checksum=base_checksum)
    return attach_hotfix(base, weights)


def _peft_model_class(config: PeftConfig) -> type:
    """The PEFT model class ``PeftModel.from_pretrained`` would build for this config (the task's
    subclass, e.g. ``PeftModelForCausalLM``, whose forward handles virtual tokens)."""
    from peft import PeftModel
    from peft.auto import MODEL_TYPE_TO_PEFT_MODEL_MAPPING

    return MODEL_TYPE_TO_PEFT_MODEL_MAPPING.get(config.task_type, PeftModel)


def _remove_adapter(model: nn.Module, key: str) -> None:
    """Takes a half-loaded adapter off again (the model's layers are restored in place)."""
    if len(model.peft_config) == 1:
        model.unload()
    else:
        model.delete_adapter(key)


def _load_full(model: nn.Module, weights: HotfixWeights) -> None:
    missing, unexpected = model.load_state_dict(weights.state_dict, strict=False)
    tied = {k for k in missing if _is_tied(model, k)}
    if unexpected or set(missing) - tied:
        raise AdapterLoadError(f"{weights.path}: weights do not fit the base model (missing "
                               f"{sorted(set(missing) - tied)[:5]}, unexpected {sorted(unexpected)[:5]})")


def _is_tied(model: nn.Module, key: str) -> bool:
    """A missing output-head weight is fine when it shares storage with the input embeddings."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    return head is not None and emb is not None and head.weight is emb.weight and key.endswith("weight")

