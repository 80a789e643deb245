"""vLLM's rules for loading a LoRA adapter, checked on a hotfix folder before vLLM sees it.

vLLM serves many LoRA adapters on one base and picks one per request. Its loader (PEFTHelper,
vllm/lora/peft_helper.py) refuses adapters with ``modules_to_save``, a bias, DoRA, or a rank above
``--max-lora-rank`` (one of 1, 8, 16, 32, 64, 128, 256, 320, 512), and only adapts the linear
layers its model implementation knows (for Qwen2/Llama: q/k/v_proj packed as qkv_proj, o_proj,
gate/up_proj packed as gate_up_proj, down_proj). An adapter that breaks a rule fails at server start
or, worse, loads with layers silently left out, so ``check_vllm`` finds every problem first.

It is a property of the adapter folder, so it sits with the models: both the vLLM generation backend
(``evaluation.backends``) and the export (``deploy.vllm``) use it. See docs/serving.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from codehotfix.errors import CodehotfixError
from codehotfix.files import read_json

__all__ = ["VLLM_MAX_LORA_RANKS", "VLLM_LORA_MODULES", "VllmCompatError", "check_vllm"]

# vllm/config/lora.py: MaxLoRARanks = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]
VLLM_MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
_LLAMA_LIKE = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# Module names (as PEFT's target_modules) vLLM's implementation of each architecture applies LoRA to;
# the unpacked names are mapped onto its packed layers (qkv_proj, gate_up_proj) by vLLM.
VLLM_LORA_MODULES: dict[str, tuple[str, ...]] = {
    "qwen2": _LLAMA_LIKE, "qwen3": _LLAMA_LIKE, "llama": _LLAMA_LIKE, "mistral": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE, "gemma2": _LLAMA_LIKE,
    "phi3": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
    "starcoder2": ("q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"),
}
_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<ab>[AB])\.weight$")


class VllmCompatError(CodehotfixError):
    """The hotfix cannot be served by vLLM as it is; ``report`` lists every problem."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


def _model_type(config: dict[str, Any], model_type: str | None) -> str | None:
    if model_type:
        return model_type
    base = config.get("base_model_name_or_path")
    if base and (Path(base) / "config.json").is_file():
        return read_json(Path(base) / "config.json").get("model_type")
    return None


def _weight_modules(path: Path) -> tuple[set[str], list[str]]:
    """Short module names carrying LoRA weights, and keys vLLM would not understand."""
    from safetensors import safe_open

    modules, odd = set(), []
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            m = _KEY.match(key)
            if m:
                modules.add(m.group("module").rsplit(".", 1)[-1])
            else:
                odd.append(key)
    return modules, odd


def check_vllm(hotfix_dir: str | Path, *, model_type: str | None = None,
               max_lora_rank: int | None = None) -> dict[str, Any]:
    """Checks a hotfix folder against vLLM's LoRA loader rules.

    Args:
        hotfix_dir: a folder with adapter_config.json and adapter_model.safetensors.
        model_type: the base's ``config.json`` model_type (read from the adapter's base path when None).
        max_lora_rank: the ``--max-lora-rank`` the server will use (default: the smallest that fits).

    Returns:
        {"compatible", "problems", "warnings", "rank", "max_lora_rank", "target_modules", "model_type"}.
    """
    hotfix_dir = Path(hotfix_dir)
    problems: list[str] = []
    warnings: list[str] = []
    cfg_path, weights = hotfix_dir / "adapter_config.json", hotfix_dir / "adapter_model.safetensors"
    if not cfg_path.is_file():
        raise VllmCompatError(f"{hotfix_dir}: no adapter_config.json", {"compatible": False})
    config = read_json(cfg_path)
    if str(config.get("peft_type", "")).upper() != "LORA":
        problems.append(f"peft_type is {config.get('peft_type')!r}; vLLM serves LoRA adapters only")
    rank = int(config.get("r", 0))
    fits = [c for c in VLLM_MAX_LORA_RANKS if c >= rank]
    if max_lora_rank is not None and max_lora_rank not in VLLM_MAX_LORA_RANKS:
        problems.append(f"--max-lora-rank {max_lora_rank} is not one of vLLM's choices {list(VLLM_MAX_LORA_RANKS)}")
    elif not fits:
        problems.append(f"rank r={rank} is above vLLM's largest max_lora_rank {VLLM_MAX_LORA_RANKS[-1]}")
    elif max_lora_rank is not None and rank > max_lora_rank:
        problems.append(f"rank r={rank} is greater than max_lora_rank {max_lora_rank}")
    if config.get("modules_to_save"):
        problems.append(f"modules_to_save={config['modules_to_save']}: vLLM only supports modules_to_save "
                        "being None (retrain without fully-trained modules)")
    if config.get("bias", "none") != "none":
        problems.append(f"bias={config['bias']!r}: vLLM needs bias 'none' (unless --enable-lora-bias)")
    if config.get("use_dora"):
        problems.append("use_dora=true: vLLM does not support DoRA")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        warnings.append("rank_pattern/alpha_pattern set: check that your vLLM version honours per-module ranks")
    mtype = _model_type(config, model_type)
    known = VLLM_LORA_MODULES.get(mtype or "")
    modules: set[str] = set()
    if not weights.is_file():
        problems.append("adapter_model.safetensors missing (vLLM needs safetensors weights)")
    else:
        modules, odd = _weight_modules(weights)
        if odd:
            problems.append(f"{len(odd)} weight keys vLLM cannot map (e.g. {odd[:2]}): only "
                            "base_model.model.<module>.lora_A/lora_B.weight are loaded")
        if not modules:
            problems.append("the safetensors file holds no LoRA weights")
    targets = config.get("target_modules")
    names = set(targets) if isinstance(targets, list) else modules
    if known is None:
        warnings.append(f"model_type {mtype!r} is not in codehotfix's table {sorted(VLLM_LORA_MODULES)}; "
                        "target modules not checked (pass --model-type)")
    else:
        unknown = sorted(names - set(known))
        if unknown:
            problems.append(f"target modules {unknown} are not LoRA-capable in vLLM's {mtype} "
                            f"(supported: {', '.join(known)})")
    return {"compatible": not problems, "problems": problems, "warnings": warnings, "rank": rank,
            "max_lora_rank": max_lora_rank or (fits[0] if fits else None), "target_modules": sorted(names),
            "model_type": mtype}
