"""Training the hotfixes of a sequence through the existing entry points, on one shared base model.

``train_fresh`` is ``api.train_on_model`` (a new adapter, saved with its manifest) followed by taking
the adapter off again, so the next hotfix starts from the bare base. ``train_further`` continues an
existing adapter (the ``continual`` strategy): it attaches the saved adapter with its weights
trainable and runs the same training loop (``training.loop.train_adapter``) on the new cases, so
the objectives, the retain terms (KL to the *original* base, whose view is the adapter switched
off) and the checkpointing are those of every other hotfix.

A folder whose ``hotfix.json`` exists is finished and is reused as it is (the manifest is written
last); an interrupted training resumes from the loop's per-epoch checkpoint in ``.checkpoint/``.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import torch

from codehotfix import runtime
from codehotfix.api import MANIFEST, cases_checksum, seed_everything, train_on_model
from codehotfix.config import HotfixConfig
from codehotfix.data.cases import HotfixCase
from codehotfix.files import atomic_write_text, write_json
from codehotfix.models.adapters import is_peft_model, save_trained
from codehotfix.models.loading import LoadedModel, derived_folder

__all__ = ["train_fresh", "train_further", "bare_base", "is_trained"]

logger = logging.getLogger(__name__)


def is_trained(folder: Path) -> bool:
    """A finished hotfix folder: the manifest is written after the adapter files."""
    return (folder / MANIFEST).is_file()


def bare_base(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` without any adapter: PEFT's ``unload`` takes the LoRA layers out without merging them,
    so the base weights are untouched."""
    return model.unload() if is_peft_model(model) else model


def train_fresh(loaded: LoadedModel, cases: Sequence[HotfixCase], cfg: HotfixConfig, out: Path, *,
                progress: bool) -> Path:
    """A new adapter trained on ``cases`` into ``out`` (reused when already finished); ``loaded.model``
    is the bare base again afterwards."""
    if not is_trained(out):
        loaded.model = bare_base(loaded.model)
        model, _ = train_on_model(loaded, cases, cfg, out, progress=progress)
        loaded.model = bare_base(model)
        runtime.release_freed_memory()  # a sequence trains for hours (runtime.release_freed_memory)
    return out


def train_further(loaded: LoadedModel, start: Path, cases: Sequence[HotfixCase], cfg: HotfixConfig, out: Path, *,
                  progress: bool) -> Path:
    """The adapter in ``start`` trained further on ``cases``, saved into ``out`` with a manifest that
    names where it started (reused when already finished).

    Raises:
        NonFiniteError: the training diverged (from the loop; nothing is written).
    """
    if is_trained(out):
        return out
    from peft import PeftModel

    from codehotfix.training.loop import train_adapter

    loaded.model = bare_base(loaded.model)
    seed_everything(cfg.seed)
    model = PeftModel.from_pretrained(loaded.model, str(start), is_trainable=True)
    result = train_adapter(model, loaded.tokenizer, cases, cfg, checkpoint_dir=out / ".checkpoint",
                           progress=progress, retain_store=derived_folder(loaded))
    save_trained(model, out, state_dict=result.adapter_state)
    atomic_write_text(out / "train_log.jsonl", "".join(json.dumps(h) + "\n" for h in result.history))
    write_json(out / MANIFEST, {
        "format": "codehotfix-hotfix/1", "base_model": loaded.model_id, "base_model_checksum": loaded.checksum,
        "continued_from": str(start), "cases": len(cases), "cases_checksum": cases_checksum(cases),
        "case_ids": [c.id for c in cases], "seed": cfg.seed, "config": asdict(cfg), "steps": result.steps,
        "train_seconds": result.seconds, "final_losses": result.final_metrics})
    shutil.rmtree(out / ".checkpoint", ignore_errors=True)
    loaded.model = bare_base(model)
    runtime.release_freed_memory()
    return out
