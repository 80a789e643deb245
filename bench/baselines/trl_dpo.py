"""TRL's ``DPOTrainer`` (trl 1.16) on the same pairs and the same LoRA config, as the peer baseline.

Each case becomes one preference pair: prompt = the prefix (its last ``max_context_tokens`` tokens,
codehotfix's budget), chosen = the fixed line, rejected = the buggy line (each with its newline; TRL
appends the end-of-text token to both). TRL builds the PEFT model from ``peft_config`` and, with
PEFT, takes the reference log-probs from the same model with the adapter disabled, so no second
copy is loaded. Each step runs prompt+chosen and prompt+rejected as separate rows (the prompt
twice) through the policy and again through the reference.

Settings that differ from TRL's defaults, and why: ``activation_checkpointing=False`` (TRL's ``gradient_checkpointing``, renamed in transformers 5) and
``bf16=False`` (no autocast) because codehotfix trains without either, so both run the model in the
dtype it was loaded in; the learning rate and schedule are codehotfix's (1e-3, 2 warm-up steps,
constant) because TRL's 1e-6 default is meant for full fine-tuning; ``beta`` stays 0.1.

Usage::

    trainer = build_dpo_trainer(model, tokenizer, cases, DPOBaselineConfig())
    trainer.train()   # tokens: bench.common.PassCounter (the reference pass reruns the same rows)
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any, Sequence

from codehotfix.data.cases import HotfixCase
from codehotfix.errors import ConfigError
from codehotfix.models.adapters import AdapterConfig

__all__ = ["DPOBaselineConfig", "dpo_dataset", "build_dpo_trainer"]


@dataclass
class DPOBaselineConfig:
    """The DPO baseline's knobs.

    Attributes:
        lr: AdamW learning rate (codehotfix's default, see the module docstring).
        beta: DPO temperature (TRL's default).
        batch_size: pairs per optimiser step (codehotfix's 8).
        max_context_tokens: the prompt keeps its last this-many tokens.
        epochs: maximum epochs (a callback may stop earlier).
        max_steps: if > 0, stop after this many optimiser steps (tests).
        warmup_steps: linear warm-up steps, then constant.
        max_grad_norm: gradient clipping.
        seed: data order and LoRA initialisation.
    """

    lr: float = 1e-3
    beta: float = 0.1
    batch_size: int = 8
    max_context_tokens: int = 256
    epochs: int = 4
    max_steps: int = -1
    warmup_steps: int = 2
    max_grad_norm: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        errors = []
        if self.lr <= 0:
            errors.append(f"dpo.lr must be > 0, got {self.lr}")
        if self.beta <= 0:
            errors.append(f"dpo.beta must be > 0, got {self.beta}")
        if self.batch_size < 1:
            errors.append(f"dpo.batch_size must be >= 1, got {self.batch_size}")
        if self.epochs < 1:
            errors.append(f"dpo.epochs must be >= 1, got {self.epochs}")
        if errors:
            raise ConfigError("; ".join(errors))


def dpo_dataset(cases: Sequence[HotfixCase], tokenizer: Any, max_context_tokens: int) -> Any:
    """A ``datasets.Dataset`` with columns prompt, chosen, rejected (one row per case).

    An empty prefix becomes the end-of-text token, as codehotfix conditions on it, so the line's
    first token still has something to be predicted from.
    """
    from datasets import Dataset

    rows = []
    for case in cases:
        ids = tokenizer(case.prefix, add_special_tokens=False)["input_ids"] if case.prefix else []
        prompt = case.prefix if len(ids) <= max_context_tokens else tokenizer.decode(ids[-max_context_tokens:])
        rows.append({"prompt": prompt or tokenizer.eos_token, "chosen": case.fixed + "\n",
                     "rejected": case.buggy + "\n"})
    return Dataset.from_list(rows)


def build_dpo_trainer(model: Any, tokenizer: Any, cases: Sequence[HotfixCase], cfg: DPOBaselineConfig, *,
                      adapter: AdapterConfig | None = None, callbacks: Sequence[Any] = (),
                      output_dir: str | None = None, progress: bool = False) -> Any:
    """Returns a ready ``trl.DPOTrainer``; call ``.train()`` on it.

    Args:
        model: the base model (TRL wraps it with the adapter from ``peft_config``).
        tokenizer: its tokenizer; passed as ``processing_class``.
        cases: training cases (one preference pair each).
        cfg: the baseline's knobs.
        adapter: LoRA settings, turned into the same ``peft.LoraConfig`` codehotfix builds.
        callbacks: ``TrainerCallback`` objects (e.g. effect measurement and stopping).
        output_dir: the trainer's folder (nothing is saved there); a temporary one by default.
        progress: show the trainer's progress bar.
    """
    from transformers import PrinterCallback
    from trl import DPOConfig, DPOTrainer
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    from codehotfix.models.adapters.lora import lora_config

    adapter = adapter or AdapterConfig()
    if adapter.method != "lora":
        raise ConfigError(f"adapter.method: the DPO baseline compares LoRA only, got {adapter.method!r}")
    peft_config = lora_config(model, adapter)  # exactly the LoraConfig codehotfix's "lora" method builds
    args = DPOConfig(
        output_dir=output_dir or tempfile.mkdtemp(prefix="trl-dpo-"),
        per_device_train_batch_size=cfg.batch_size, learning_rate=cfg.lr, beta=cfg.beta,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        lr_scheduler_type="constant_with_warmup", warmup_steps=cfg.warmup_steps,
        weight_decay=0.0, max_grad_norm=cfg.max_grad_norm,
        max_length=None, activation_checkpointing=False, bf16=False, fp16=False,
        logging_steps=1, save_strategy="no", report_to="none", use_cpu=True,
        seed=cfg.seed, data_seed=cfg.seed, dataloader_num_workers=0, disable_tqdm=not progress,
    )
    collator = DataCollatorForPreference(pad_token_id=tokenizer.pad_token_id)
    trainer = DPOTrainer(model=model, args=args, train_dataset=dpo_dataset(cases, tokenizer, cfg.max_context_tokens),
                         processing_class=tokenizer, peft_config=peft_config, data_collator=collator,
                         callbacks=list(callbacks))
    if not progress:  # without a progress bar Trainer prints every log line instead
        trainer.remove_callback(PrinterCallback)
    return trainer
