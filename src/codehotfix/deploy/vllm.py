"""Export a hotfix for vLLM's multi-LoRA serving, after checking vLLM can load it.

vLLM serves many LoRA adapters on one base (``vllm serve BASE --enable-lora --lora-modules
name=path …``) and picks one per request by its name in the ``model`` field. Its loader (PEFTHelper,
vllm/lora/peft_helper.py) refuses adapters with ``modules_to_save``, a bias, DoRA, or a rank above
``--max-lora-rank`` (one of 1, 8, 16, 32, 64, 128, 256, 320, 512), and only adapts the linear
layers its model implementation knows (for Qwen2/Llama: q/k/v_proj packed as qkv_proj, o_proj,
gate/up_proj packed as gate_up_proj, down_proj). An adapter that breaks a rule fails at server start
or, worse, loads with layers silently left out, so ``check_vllm`` (``codehotfix.models.vllm``, also
used by the vLLM generation backend) finds every problem first.

The export is a PEFT folder vLLM reads as is: adapter_config.json, adapter_model.safetensors (keys
``base_model.model.<module>.lora_A.weight`` / ``lora_B.weight``), plus hotfix.json and vllm.json
(this check's report and the command line). See docs/serving.md.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from codehotfix.errors import CodehotfixError
from codehotfix.files import atomic_folder, read_json, write_json
from codehotfix.models.vllm import VLLM_LORA_MODULES, VLLM_MAX_LORA_RANKS, VllmCompatError, check_vllm

# The check and its tables are re-exported: deploy is where users look for them.
__all__ = ["VLLM_MAX_LORA_RANKS", "VLLM_LORA_MODULES", "VllmCompatError", "check_vllm", "export_vllm"]


def export_vllm(hotfix_dir: str | Path, out_dir: str | Path, *, name: str | None = None,
                base_model: str | None = None, model_type: str | None = None, max_lora_rank: int | None = None,
                force: bool = False) -> dict[str, Any]:
    """Writes ``out_dir`` as a vLLM-loadable LoRA folder after ``check_vllm`` passes; returns the report.

    Args:
        hotfix_dir: the hotfix (or registry entry) folder.
        out_dir: the export folder (must not exist unless ``force``).
        name: the LoRA name clients will request (default: the export folder's name).
        base_model: what ``vllm serve`` loads (hub id or path), for the printed command line.
        model_type, max_lora_rank: see ``check_vllm``.

    Raises:
        VllmCompatError: listing every problem; nothing is written.
    """
    hotfix_dir, out = Path(hotfix_dir), Path(out_dir)
    report = check_vllm(hotfix_dir, model_type=model_type, max_lora_rank=max_lora_rank)
    if not report["compatible"]:
        raise VllmCompatError(f"{hotfix_dir}: not servable by vLLM: " + "; ".join(report["problems"]), report)
    if out.exists() and any(out.iterdir()) and not force:
        raise CodehotfixError(f"{out}: already exists and is not empty (pass --force to replace it)")
    name = name or out.resolve().name
    config = read_json(hotfix_dir / "adapter_config.json")
    config["inference_mode"] = True
    if base_model:
        config["base_model_name_or_path"] = base_model
    base = base_model or config.get("base_model_name_or_path") or "BASE_MODEL"
    report["command"] = (f"vllm serve {base} --enable-lora --max-lora-rank {report['max_lora_rank']} "
                         f"--lora-modules {name}={out.resolve()}")
    report["lora_name"] = name
    with atomic_folder(out) as tmp:
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
        shutil.copy2(hotfix_dir / "adapter_model.safetensors", tmp / "adapter_model.safetensors")
        if (hotfix_dir / "hotfix.json").is_file():
            shutil.copy2(hotfix_dir / "hotfix.json", tmp / "hotfix.json")
        write_json(tmp / "vllm.json", report)
    return report
