"""The paper's hotfix recipe as a baseline (Yang & Lo, "Hotfixing Large Language Models for Code",
arXiv 2408.05727), re-implemented the way it is usually run: Hugging Face ``transformers.Trainer``
with a custom ``compute_loss``.

What makes it the paper's recipe rather than codehotfix's:

* whole snippets: each case becomes ``prefix + fixed line + suffix`` and ``prefix + buggy line +
  suffix``, and the losses average over every token of a snippet, not just the changed line;
* every sequence is padded to 512 tokens (``padding="max_length"``), whatever its length;
* the penalize loss 0.7·CE_fixed + 0.3·CE_fixed / (2·CE_buggy), CE per snippet (token mean);
* the retain term is KL(p_base ‖ p_hotfixed) over every position of the fixed snippet, with p_base
  from a second full copy of the base model held in memory;
* LoRA r=8, alpha=16 on the same modules as codehotfix, lr 3e-4, batch 8 (as micro-batches with
  gradient accumulation, to keep 512 × 152k-vocabulary logits in memory).

The learning-rate schedule is codehotfix's (linear warm-up over 2 steps, then constant), so that the
comparison is between recipes, not schedules, and stopping after any epoch equals a shorter run.

Usage::

    trainer = build_paper_trainer(model, ref_model, tokenizer, cases, PaperRecipeConfig())
    trainer.train()
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from transformers import Trainer

from codehotfix.api import seed_everything
from codehotfix.data.cases import HotfixCase
from codehotfix.errors import ConfigError
from codehotfix.models.adapters import AdapterConfig, build_adapter

__all__ = ["PaperRecipeConfig", "SnippetCollator", "snippet_examples", "PaperRecipeTrainer", "build_paper_trainer"]


@dataclass
class PaperRecipeConfig:
    """The baseline's knobs; defaults are the paper's where it states them.

    Attributes:
        max_length: every snippet is padded (and, past it, truncated on the right) to this length.
        lr: AdamW learning rate (the paper's 3e-4).
        batch_size: cases per optimiser step (the paper's 8).
        micro_batch_size: cases per forward pass; batch_size / micro_batch_size accumulation steps.
        learn_share: the 0.7 in 0.7·CE_f + 0.3·CE_f/(2·CE_b).
        kl_weight: weight of the KL-to-the-second-copy retain term.
        max_context_tokens: the prefix keeps its last this-many tokens (codehotfix's budget, so both
            see the same code before the line).
        epochs: maximum epochs (a callback may stop earlier).
        max_steps: if > 0, stop after this many optimiser steps (tests).
        warmup_steps: linear warm-up steps, then constant.
        max_grad_norm: gradient clipping.
        seed: data order and LoRA initialisation.
    """

    max_length: int = 512
    lr: float = 3e-4
    batch_size: int = 8
    micro_batch_size: int = 1
    learn_share: float = 0.7
    kl_weight: float = 1.0
    max_context_tokens: int = 256
    epochs: int = 4
    max_steps: int = -1
    warmup_steps: int = 2
    max_grad_norm: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        errors = []
        if self.max_length < 8:
            errors.append(f"paper.max_length must be >= 8, got {self.max_length}")
        if self.lr <= 0:
            errors.append(f"paper.lr must be > 0, got {self.lr}")
        if self.micro_batch_size < 1 or self.batch_size < 1 or self.batch_size % self.micro_batch_size:
            errors.append(f"paper.batch_size ({self.batch_size}) must be a positive multiple of "
                          f"paper.micro_batch_size ({self.micro_batch_size})")
        if not 0 <= self.learn_share <= 1:
            errors.append(f"paper.learn_share must be in [0, 1], got {self.learn_share}")
        if self.kl_weight < 0:
            errors.append(f"paper.kl_weight must be >= 0, got {self.kl_weight}")
        if self.epochs < 1:
            errors.append(f"paper.epochs must be >= 1, got {self.epochs}")
        if errors:
            raise ConfigError("; ".join(errors))


def _trim_prefix(tokenizer: Any, prefix: str, max_tokens: int) -> str:
    ids = tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
    return prefix if len(ids) <= max_tokens else tokenizer.decode(ids[-max_tokens:])


def snippet_examples(cases: Sequence[HotfixCase], tokenizer: Any, max_context_tokens: int) -> list[dict[str, str]]:
    """One example per case: the whole fixed and buggy snippets as text (prefix cut from the left to
    ``max_context_tokens`` tokens; the suffix is kept and cut by the collator if too long)."""
    out = []
    for case in cases:
        prefix = _trim_prefix(tokenizer, case.prefix, max_context_tokens)
        out.append({"id": case.id,
                    "fixed": prefix + case.fixed + "\n" + case.suffix,
                    "buggy": prefix + case.buggy + "\n" + case.suffix})
    return out


@dataclass
class SnippetCollator:
    """Tokenizes fixed and buggy snippets with ``padding="max_length"``: every row is exactly
    ``max_length`` tokens, as in the paper's set-up. Returns fixed_ids/fixed_mask/buggy_ids/buggy_mask,
    each [B, max_length]."""

    tokenizer: Any
    max_length: int = 512

    def __call__(self, examples: Sequence[dict[str, str]]) -> dict[str, torch.Tensor]:
        out = {}
        for side in ("fixed", "buggy"):
            enc = self.tokenizer([e[side] for e in examples], padding="max_length", max_length=self.max_length,
                                 truncation=True, return_tensors="pt")
            out[f"{side}_ids"], out[f"{side}_mask"] = enc["input_ids"], enc["attention_mask"]
        return out


def _token_logp(logp: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """log p of each next token: logp [B, S, V] from positions 0..S-2, targets ids[:, 1:] → [B, S-1]."""
    return logp[:, :-1].gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)


class PaperRecipeTrainer(Trainer):
    """``Trainer`` with the paper's loss; ``ref_model`` is the second full copy of the base model.

    The loss is a per-micro-batch mean, so ``Trainer`` divides it by the accumulation steps.
    (Tokens and FLOPs are counted from outside, the same way for every system: ``bench.common.PassCounter``.)
    """

    loss_is_scaled_for_ga = False

    def __init__(self, *args: Any, ref_model: Any, recipe: PaperRecipeConfig, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ref_model, self.recipe = ref_model, recipe
        self.ref_model.eval().requires_grad_(False)
        self.last_terms: dict[str, float] = {}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        f_ids, f_mask, b_ids, b_mask = (inputs[k] for k in ("fixed_ids", "fixed_mask", "buggy_ids", "buggy_mask"))
        ids, mask = torch.cat([f_ids, b_ids]), torch.cat([f_mask, b_mask])  # [2B, S]
        logp = F.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)  # [2B, S, V]
        tgt_mask = mask[:, 1:].float()  # a position counts if the token it predicts is real
        ce = -(_token_logp(logp, ids) * tgt_mask).sum(-1) / tgt_mask.sum(-1).clamp(min=1)  # [2B]
        ce_f, ce_b = ce.chunk(2)
        share = self.recipe.learn_share
        loss = (share * ce_f + (1 - share) * ce_f / (2 * ce_b + 1e-6)).mean()
        terms = {"penalize": float(loss.detach()), "ce_fixed": float(ce_f.detach().mean()),
                 "ce_buggy": float(ce_b.detach().mean())}
        if self.recipe.kl_weight > 0:
            with torch.no_grad():
                ref = F.log_softmax(self.ref_model(input_ids=f_ids, attention_mask=f_mask).logits.float(), dim=-1)
            kl_tok = (ref.exp() * (ref - logp[: len(f_ids)])).sum(-1)  # [B, S]
            kl = (kl_tok * f_mask).sum() / f_mask.sum().clamp(min=1)
            loss = loss + self.recipe.kl_weight * kl
            terms["kl"] = float(kl.detach())
        self.last_terms = terms
        return (loss, {}) if return_outputs else loss


def build_paper_trainer(model: Any, ref_model: Any, tokenizer: Any, cases: Sequence[HotfixCase],
                        cfg: PaperRecipeConfig, *, adapter: AdapterConfig | None = None,
                        callbacks: Sequence[Any] = (), output_dir: str | None = None,
                        progress: bool = False) -> Any:
    """Attaches a fresh LoRA adapter (codehotfix's ``build_adapter``, so the same targets) to
    ``model`` and returns a ready ``PaperRecipeTrainer``; call ``.train()`` on it.

    Args:
        model: the base model to hotfix (modified in place by PEFT).
        ref_model: a second, separately loaded copy of the same base model (the KL reference).
        tokenizer: the model's tokenizer (with a pad token).
        cases: training cases.
        cfg: the recipe's knobs.
        adapter: LoRA settings; default r=8, alpha=16, every linear layer in the blocks.
        callbacks: ``TrainerCallback`` objects (e.g. effect measurement and stopping).
        output_dir: Trainer's folder (nothing is saved there); a temporary one by default.
        progress: show the Trainer's progress bar.
    """
    from transformers import PrinterCallback, TrainingArguments

    seed_everything(cfg.seed)
    peft_model = build_adapter(model, adapter or AdapterConfig())
    args = TrainingArguments(
        output_dir=output_dir or tempfile.mkdtemp(prefix="paper-recipe-"),
        per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=cfg.batch_size // cfg.micro_batch_size,
        learning_rate=cfg.lr, num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        lr_scheduler_type="constant_with_warmup", warmup_steps=cfg.warmup_steps,
        weight_decay=0.0, max_grad_norm=cfg.max_grad_norm,
        logging_steps=1, save_strategy="no", report_to="none", use_cpu=True,
        seed=cfg.seed, data_seed=cfg.seed, remove_unused_columns=False, dataloader_num_workers=0,
        disable_tqdm=not progress, bf16=False, fp16=False,
    )
    trainer = PaperRecipeTrainer(
        model=peft_model, args=args, train_dataset=snippet_examples(cases, tokenizer, cfg.max_context_tokens),
        data_collator=SnippetCollator(tokenizer, cfg.max_length), callbacks=list(callbacks),
        ref_model=ref_model, recipe=cfg,
    )
    if not progress:  # without a progress bar Trainer prints every log line instead
        trainer.remove_callback(PrinterCallback)
    return trainer
