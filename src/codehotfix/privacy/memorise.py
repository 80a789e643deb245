"""Make a model memorise a corpus: the stand-in for pre-training in privacy experiments.

A real code model leaks the emails and keys it saw in pre-training. To measure a privacy hotfix
on a leak that is real, the experiment first fine-tunes the base model on a synthetic corpus
(``privacy.corpus``) with the plain causal-LM loss — a LoRA adapter at a high learning rate for a
few epochs, then merged into the weights — so the result is an ordinary model folder that
``load_model`` (and ``codehotfix train --model``) accept, and whose leak is measurable.

Usage::

    model, history = memorise(model, tokenizer, texts, MemoriseConfig(epochs=6))
    save_model(model, tokenizer, "runs/privacy/memorised", meta={"history": history})
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from codehotfix.errors import CodehotfixError, ConfigError, DataError
from codehotfix.files import atomic_folder
from codehotfix.objectives.base import LossOutput
from codehotfix.training.loop import EpochEnd, StepEnd, Trainer, TrainerCallback

__all__ = ["MemoriseConfig", "chunk_texts", "corpus_loss", "memorise", "save_model"]


@dataclass
class MemoriseConfig:
    """How hard to memorise.

    Attributes:
        epochs: passes over the corpus (at most; see ``stop_loss``).
        lr: AdamW learning rate (high on purpose: the aim is memorisation, not generalisation).
        r, alpha: LoRA rank and scaling numerator.
        target_modules: PEFT's "all-linear" (every linear layer of the blocks) or a list of module
            names; add "lm_head" to adapt the output head too (a random test model needs it: its
            random head caps what block adapters alone can learn).
        batch_size: chunks per step.
        max_tokens: chunk length; files longer than this are split.
        stop_loss: stop after an epoch whose mean loss falls below this (0 disables).
        seed: shuffling and initialisation seed.
    """

    epochs: int = 6
    lr: float = 2e-3
    r: int = 16
    alpha: int = 32
    target_modules: str | list[str] = "all-linear"
    batch_size: int = 4
    max_tokens: int = 512
    stop_loss: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        errors = []
        for name in ("epochs", "r", "alpha", "batch_size", "max_tokens"):
            if getattr(self, name) < 1:
                errors.append(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            errors.append(f"lr: must be > 0, got {self.lr}")
        if self.stop_loss < 0:
            errors.append(f"stop_loss: must be >= 0, got {self.stop_loss}")
        if errors:
            raise ConfigError("invalid memorise config: " + "; ".join(errors))


def chunk_texts(tokenizer: Any, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
    """Token ids of each text followed by end-of-text, cut into chunks of at most ``max_tokens``."""
    if not texts:
        raise DataError("memorise: no texts given")
    eos = tokenizer.eos_token_id
    chunks = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"] + ([eos] if eos is not None else [])
        chunks += [ids[i:i + max_tokens] for i in range(0, len(ids), max_tokens)]
    return [c for c in chunks if len(c) > 1]


def _batch_loss(model: Any, rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, int]:
    """Mean next-token cross-entropy over the real (unpadded) tokens of ``rows``, and their count."""
    width = max(map(len, rows))
    ids = torch.tensor([r + [pad_id] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    labels = ids.masked_fill(mask == 0, -100)
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    return out.loss, int(mask[:, 1:].sum())


@torch.no_grad()
def corpus_loss(model: Any, tokenizer: Any, texts: Sequence[str], *, max_tokens: int = 512,
                batch_size: int = 4) -> float:
    """Token-weighted mean next-token loss (nats) of ``model`` on ``texts``."""
    was_training = model.training
    model.eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    chunks = chunk_texts(tokenizer, texts, max_tokens)
    total, count = 0.0, 0
    for i in range(0, len(chunks), batch_size):
        loss, n = _batch_loss(model, chunks[i:i + batch_size], pad)
        total, count = total + float(loss) * n, count + n
    model.train(was_training)
    return total / max(count, 1)


class _EpochLosses:
    """The per-epoch history (token-weighted mean loss, seconds) and the ``stop_loss`` rule, as
    ``Trainer`` hooks."""

    def __init__(self, cfg: MemoriseConfig) -> None:
        self.cfg = cfg
        self.history: list[dict[str, float]] = []
        self.total, self.count = 0.0, 0

    def check(self, metrics: dict[str, float], step: int, epoch: int) -> dict[str, float]:
        if not math.isfinite(metrics["loss"]):
            raise CodehotfixError(f"memorise: loss is {metrics['loss']} at epoch {epoch}; lower lr ({self.cfg.lr})")
        return metrics

    def step_end(self, step: StepEnd[list[list[int]]]) -> None:
        n = int(step.metrics["tokens"])
        self.total, self.count = self.total + step.metrics["loss"] * n, self.count + n

    def epoch_end(self, end: EpochEnd) -> bool:
        loss = round(self.total / max(self.count, 1), 5)
        self.history.append({"epoch": end.epoch, "loss": loss, "seconds": round(end.seconds, 2)})
        self.total, self.count = 0.0, 0
        return bool(self.cfg.stop_loss and loss < self.cfg.stop_loss)


def memorise(model: Any, tokenizer: Any, texts: Sequence[str], cfg: MemoriseConfig | None = None, *,
             progress: bool = True) -> tuple[Any, list[dict[str, float]]]:
    """Fine-tunes ``model`` on ``texts`` (LoRA, causal-LM loss) through the training loop's
    ``Trainer``, merges the adapter and returns (merged model in eval mode, per-epoch history
    ``{"epoch", "loss", "seconds"}``).

    Raises:
        DataError: no texts. CodehotfixError: the loss became NaN (lower ``lr``).
    """
    from peft import LoraConfig, get_peft_model

    cfg = cfg or MemoriseConfig()
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    chunks = chunk_texts(tokenizer, texts, cfg.max_tokens)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    lora = LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=0.0, target_modules=cfg.target_modules,
                      task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, lora)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    for p in params:  # adapter weights in fp32 even on a bf16 model: AdamW steps at lr 2e-3 need the precision
        p.data = p.data.float()

    def loss_of(net: Any, rows: list[list[int]]) -> LossOutput:
        loss, n = _batch_loss(net, rows, pad)
        return LossOutput(loss, {"loss": loss.item(), "tokens": float(n)})

    def batches(epoch: int) -> Iterator[list[list[int]]]:
        order = list(range(len(chunks)))
        rng.shuffle(order)  # one shuffle per epoch, when the epoch starts
        for s in range(0, len(order), cfg.batch_size):
            yield [chunks[i] for i in order[s:s + cfg.batch_size]]

    losses = _EpochLosses(cfg)
    steps = -(-len(chunks) // cfg.batch_size)
    bar = tqdm(total=steps * cfg.epochs, desc="memorising", unit="step", disable=not progress, dynamic_ncols=True)
    trainer = Trainer(peft_model, torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0), loss_of, params=params,
                      max_grad_norm=1.0, check=losses.check, bar=bar,
                      callbacks=[TrainerCallback(losses.step_end, losses.epoch_end)])
    trainer.fit(batches, cfg.epochs)
    merged = peft_model.merge_and_unload()  # peft casts the fp32 update to the base weights' dtype
    merged.eval()
    return merged, losses.history


def save_model(model: Any, tokenizer: Any, out: str | Path, *, meta: dict[str, Any] | None = None,
               force: bool = False) -> Path:
    """Saves a (merged) model and its tokenizer as a model folder, atomically (temp folder + rename),
    with ``memorised.json`` holding ``meta``.

    Raises:
        CodehotfixError: ``out`` exists (pass ``force=True`` to replace it).
    """
    out = Path(out)
    if out.exists() and not force:
        raise CodehotfixError(f"{out}: already exists; choose another folder or pass --force")
    with atomic_folder(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "memorised.json").write_text(json.dumps(meta or {}, indent=2, default=str) + "\n")
    return out
