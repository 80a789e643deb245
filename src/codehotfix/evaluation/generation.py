"""Batched completion of code prefixes, stopping each sequence at the end of its first line.

Prompts are tokenized, cut from the left to a token budget, sorted by length and left-padded in
batches; each batch makes one greedy and/or one sampled ``generate`` call (``num_return_sequences``
expands every prompt to k samples). A per-row stopping rule ends a sequence as soon as it has
written one non-blank line, so most completions cost a dozen tokens, not 64.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm
from transformers import StoppingCriteria, StoppingCriteriaList

__all__ = ["Completions", "generate_completions", "encode_prompts", "FirstLineStop"]


@dataclass
class Completions:
    """The completions of one prompt: ``greedy`` (or None) and ``samples`` (k strings)."""

    greedy: str | None = None
    samples: list[str] = field(default_factory=list)
    new_tokens: int = 0


class FirstLineStop(StoppingCriteria):
    """Stops each row once its generated text holds a newline after some non-blank content."""

    def __init__(self, tokenizer: Any, prompt_width: int) -> None:
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_width:], skip_special_tokens=True)
        done = ["\n" in t.lstrip() for t in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def encode_prompts(tokenizer: Any, prompts: Sequence[str], max_context_tokens: int) -> list[list[int]]:
    """Token ids of each prompt, keeping the last ``max_context_tokens``; an empty prompt becomes the
    start (or end-of-text) token so there is always something to condition on."""
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    out = []
    for p in prompts:
        ids = tokenizer(p, add_special_tokens=False)["input_ids"] if p else []
        out.append(ids[-max_context_tokens:] or [start])
    return out


def _left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
    return ids, mask


@torch.no_grad()
def generate_completions(model: Any, tokenizer: Any, prompts: Sequence[str], *, samples: int = 10,
                         greedy: bool = True, top_p: float = 0.95, temperature: float = 1.0,
                         max_new_tokens: int = 64, batch_size: int = 8, max_context_tokens: int = 256,
                         seed: int = 0, first_line_only: bool = True, progress: bool = True,
                         desc: str = "generating") -> list[Completions]:
    """Completes every prompt; returns one ``Completions`` per prompt, in input order.

    Sampling is seeded per batch (``seed + batch index``), so the same prompts, settings and seed
    give the same completions.
    """
    encoded = encode_prompts(tokenizer, prompts, max_context_tokens)
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    results = [Completions() for _ in prompts]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    common = dict(max_new_tokens=max_new_tokens, pad_token_id=pad_id)
    bar = tqdm(total=len(prompts), desc=desc, unit="prompt", disable=not progress, dynamic_ncols=True)
    for b, start in enumerate(range(0, len(order), batch_size)):
        idx = order[start:start + batch_size]
        ids, mask = _left_pad([encoded[i] for i in idx], pad_id)
        width = ids.shape[1]
        stop = StoppingCriteriaList([FirstLineStop(tokenizer, width)]) if first_line_only else None
        if greedy:
            out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                 stopping_criteria=stop, **common)
            texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
            for i, text in zip(idx, texts):
                results[i].greedy = text
            results_tokens = int((out[:, width:] != pad_id).sum())
        else:
            results_tokens = 0
        if samples:
            torch.manual_seed(seed + b)
            out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, top_p=top_p,
                                 temperature=temperature, top_k=0, num_return_sequences=samples,
                                 stopping_criteria=stop, **common)
            texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
            for j, i in enumerate(idx):
                results[i].samples = texts[j * samples:(j + 1) * samples]
            results_tokens += int((out[:, width:] != pad_id).sum())
        for i in idx:
            results[i].new_tokens = results_tokens // len(idx)
        bar.update(len(idx))
    bar.close()
    return results
