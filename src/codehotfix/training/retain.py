"""Retain corpus: ordinary code the hotfix must not change, for the ``kl_corpus`` objective.

``load_retain_corpus`` reads the built-in corpus (``codehotfix/data/corpora/retain.jsonl``, built by
``bench/build_retain_corpus.py`` from CPython 3.11 stdlib sources, PSF licence), a JSONL file of
{"id", "text"} objects, or a folder of source files. ``RetainSampler`` tokenizes each snippet once
(its first ``max_tokens`` tokens) and draws ``batch_size`` snippets per step from its own seeded RNG,
so adding a retain term does not change the order in which the cases are drawn.
``RetainReference`` caches the base model's top-k log-probs per snippet (see ``kl_corpus``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import torch

from codehotfix.errors import DataError
from codehotfix.models.loading import model_device

__all__ = ["RetainSnippet", "RetainBatch", "RetainSampler", "RetainReference", "load_retain_corpus",
           "retain_logprobs", "BUILTIN_CORPUS", "SOURCE_SUFFIXES"]

BUILTIN_CORPUS = "retain.jsonl"
# Which files of a folder are snippets (source code, not data or binaries).
SOURCE_SUFFIXES = (".py", ".js", ".ts", ".java", ".c", ".h", ".cc", ".cpp", ".go", ".rs", ".rb", ".sh")
_FIELDS = {"id", "text", "source"}


@dataclass(frozen=True)
class RetainSnippet:
    id: str
    text: str


def _read_jsonl(path: Path) -> list[RetainSnippet]:
    snippets, seen = [], set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{lineno}: not valid JSON: {e.msg}") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{lineno}: expected an object with fields id, text")
        for key in ("id", "text"):
            if not isinstance(obj.get(key), str) or not obj[key].strip():
                raise DataError(f"{path}:{lineno}: field {key!r} must be a non-empty string")
        unknown = sorted(set(obj) - _FIELDS)
        if unknown:
            raise DataError(f"{path}:{lineno}: unknown field(s) {unknown}; allowed: {', '.join(sorted(_FIELDS))}")
        if obj["id"] in seen:
            raise DataError(f"{path}:{lineno}: field 'id': duplicate id {obj['id']!r}")
        seen.add(obj["id"])
        snippets.append(RetainSnippet(obj["id"], obj["text"]))
    return snippets


def load_retain_corpus(source: str | Path | None = None) -> list[RetainSnippet]:
    """Reads a retain corpus: None = the built-in one, a ``.jsonl`` file, or a folder of source files.

    Raises:
        DataError: the file/folder is missing, malformed (naming file, line and field) or empty.
    """
    if source is None:
        path = Path(str(resources.files("codehotfix.data").joinpath("corpora", BUILTIN_CORPUS)))
    else:
        path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES)
        snippets = [RetainSnippet(str(p.relative_to(path)), p.read_text(encoding="utf-8", errors="replace"))
                    for p in files]
        snippets = [s for s in snippets if s.text.strip()]
    elif path.is_file():
        snippets = _read_jsonl(path)
    else:
        raise DataError(f"{path}: retain corpus not found (a .jsonl file of {{id, text}} or a folder of source files)")
    if not snippets:
        raise DataError(f"{path}: the retain corpus holds no snippets")
    return snippets


@dataclass
class RetainBatch:
    """Right-padded snippet tokens. Shapes: ids/mask [R, T]."""

    ids: torch.Tensor
    mask: torch.Tensor
    snippet_ids: list[str]

    def num_tokens(self) -> int:
        return int(self.mask.sum())

    def to(self, device: torch.device | str) -> "RetainBatch":
        """This batch on ``device`` (itself when already there)."""
        if self.ids.device == torch.device(device):
            return self
        return RetainBatch(self.ids.to(device), self.mask.to(device), self.snippet_ids)


class RetainSampler:
    """Draws seeded batches of retain snippets.

    Args:
        snippets: the corpus.
        tokenizer: the model's tokenizer.
        batch_size: snippets per batch (capped at the corpus size).
        max_tokens: each snippet keeps its first this-many tokens.
        seed: seeds the sampler's own RNG.
    """

    def __init__(self, snippets: Sequence[RetainSnippet], tokenizer: Any, batch_size: int, max_tokens: int,
                 seed: int) -> None:
        self.tokens = {s.id: tokenizer(s.text, add_special_tokens=False)["input_ids"][:max_tokens] for s in snippets}
        self.ids = [s.id for s in snippets if len(self.tokens[s.id]) >= 2]  # one token predicts nothing
        if not self.ids:
            raise DataError("the retain corpus has no snippet of at least 2 tokens")
        self.batch_size = min(batch_size, len(self.ids))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.rng = random.Random(seed)

    def next_batch(self) -> RetainBatch:
        chosen = self.rng.sample(self.ids, self.batch_size)
        rows = [self.tokens[i] for i in chosen]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [self.pad_id] * (width - len(r)) for r in rows], dtype=torch.long, device="cpu")
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long, device="cpu")
        return RetainBatch(ids, mask, chosen)


def retain_logprobs(model: Any, batch: RetainBatch) -> torch.Tensor:
    """Next-token log-distributions at every position of the batch, [R, T, V].

    Goes through the model's own forward (right padding needs no position ids), so prompt-learning
    adapters see their virtual tokens; their extra leading columns are cut off.
    """
    batch = batch.to(model_device(model))
    width = batch.ids.shape[1]
    logits = model(input_ids=batch.ids, attention_mask=batch.mask, logits_to_keep=width).logits[:, -width:]
    return torch.log_softmax(logits.float(), -1)


class RetainReference:
    """The base model's top-k log-probs per snippet position, computed once per snippet and reused.

    Args:
        top_k: how many log-probs (and their token ids) are kept per position.
    """

    def __init__(self, top_k: int) -> None:
        self.top_k = top_k
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def get(self, base: Any, batch: RetainBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (log-probs [R, T, k], token ids [R, T, k]) of the base model ``base``."""
        if any(i not in self._cache for i in batch.snippet_ids):
            lp = retain_logprobs(base, batch)
            values, index = lp.topk(min(self.top_k, lp.shape[-1]), dim=-1)
            for r, sid in enumerate(batch.snippet_ids):
                n = int(batch.mask[r].sum())
                self._cache.setdefault(sid, (values[r, :n].clone(), index[r, :n].clone()))
        width = batch.ids.shape[1]
        values, index = [], []
        for sid in batch.snippet_ids:
            v, i = self._cache[sid]
            pad = width - v.shape[0]
            values.append(torch.nn.functional.pad(v, (0, 0, 0, pad), value=-1e4))
            index.append(torch.nn.functional.pad(i, (0, 0, 0, pad)))
        return torch.stack(values), torch.stack(index)
