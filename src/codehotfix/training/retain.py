"""Retain corpus: ordinary code the hotfix must not change, for the ``kl_corpus`` objective.

``load_retain_corpus`` reads the built-in corpus (``codehotfix/data/corpora/retain.jsonl``, built by
``bench/build_retain_corpus.py`` from CPython 3.11 stdlib sources, PSF licence), a JSONL file of
{"id", "text"} objects, or a folder of source files. ``RetainSampler`` tokenizes each snippet once
(its first ``max_tokens`` tokens) and draws ``batch_size`` snippets per step from its own seeded RNG,
so adding a retain term does not change the order in which the cases are drawn.
``RetainReference`` caches the base model's top-k log-probs per snippet (see ``kl_corpus``), in memory
and, given a store folder, on disk across runs: they depend only on the base model's weights, the
snippet's tokens and the machine, so every hotfix of one base model can share them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import torch

from codehotfix.errors import DataError
from codehotfix.files import atomic_path
from codehotfix.models.loading import model_device
from codehotfix.models.derived import machine_identity

__all__ = ["RetainSnippet", "RetainBatch", "RetainSampler", "RetainReference", "load_retain_corpus",
           "retain_logprobs", "BUILTIN_CORPUS", "SOURCE_SUFFIXES"]

logger = logging.getLogger(__name__)

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

    Each snippet is run through the base model alone, never padded beside the batch's others, so its
    entry is the same whichever snippets it was drawn with: a run's reference does not depend on
    what earlier runs drew. (In bfloat16 a snippet padded beside a longer one gets other bits:
    docs/speed.md, "The kl_corpus reference kept with the model".)

    Args:
        top_k: how many log-probs (and their token ids) are kept per position.
        store: a folder that keeps the entries across runs, or None (memory only). It must belong to
            one base model's weights (``models.loading.derived_folder``). Entries are filed by the
            snippet's tokens and, per file, by what else sets their bits: top_k, the model's dtype and
            device, the CPU (and GPU), torch's thread count and the torch/transformers versions.
    """

    FORMAT = 1

    def __init__(self, top_k: int, store: str | Path | None = None) -> None:
        self.top_k = top_k
        self.store = Path(store) if store is not None else None
        self.path: Path | None = None  # the store's file for this model and machine, known at the first get()
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # token key -> (log-probs, ids) [n, k]
        self._new: set[str] = set()  # computed here, not yet in the store
        self._stored: set[str] = set()  # read from the store, not yet used by this run
        self._identity: dict[str, Any] = {}
        self.from_store = 0  # snippets of this run read from the store
        self.computed = 0  # snippets of this run computed here

    @torch.no_grad()
    def get(self, base: Any, batch: RetainBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (log-probs [R, T, k], token ids [R, T, k]) of the base model ``base``."""
        if self.store is not None and self.path is None:
            self._open(base)
        width, device = batch.ids.shape[1], batch.ids.device
        values, index = [], []
        for r in range(batch.ids.shape[0]):
            n = int(batch.mask[r].sum())
            key = _token_key(batch.ids[r, :n])
            if key not in self._cache:
                one = RetainBatch(batch.ids[r:r + 1, :n], batch.mask[r:r + 1, :n], batch.snippet_ids[r:r + 1])
                lp = retain_logprobs(base, one)[0]
                v, i = lp.topk(min(self.top_k, lp.shape[-1]), dim=-1)
                self._cache[key] = (v, i)
                self._new.add(key)
                self.computed += 1
            elif key in self._stored:
                self._stored.discard(key)  # counted once per run
                self.from_store += 1
            v, i = self._cache[key]
            values.append(torch.nn.functional.pad(v.to(device), (0, 0, 0, width - n), value=-1e4))
            index.append(torch.nn.functional.pad(i.to(device), (0, 0, 0, width - n)))
        return torch.stack(values), torch.stack(index)

    def _open(self, base: Any) -> None:
        """Names this model's and machine's file in the store and reads its entries."""
        # The same keys as before machine_identity existed, so stores written earlier keep their names.
        identity = {"format": self.FORMAT, "top_k": self.top_k, **machine_identity(base)}
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        self.path = self.store / f"retain-top{self.top_k}-{digest}.safetensors"
        self._identity = identity
        stored = _read_store(self.path)
        self._cache.update(stored)
        self._stored = set(stored)

    def save(self) -> int:
        """Adds this run's new entries to the store's file (atomically, keeping entries another run
        wrote meanwhile); returns how many were added. A no-op without a store or new entries."""
        if self.path is None or not self._new:
            return 0
        from safetensors.torch import save_file

        entries = _read_store(self.path)
        for key in self._new:
            entries[key] = self._cache[key]
        tensors = {}
        for key, (v, i) in entries.items():
            tensors[f"{key}.logp"] = v.detach().to("cpu", torch.float32).contiguous()
            tensors[f"{key}.ids"] = i.detach().to("cpu", torch.int32).contiguous()  # vocabularies fit int32
        with atomic_path(self.path) as tmp:
            save_file(tensors, str(tmp), metadata={"codehotfix": json.dumps(self._identity, sort_keys=True)})
        added = len(self._new)
        logger.info("kl_corpus reference: %d new snippet(s) kept in %s (%d in all)", added, self.path, len(entries))
        self._new = set()
        return added


def _token_key(ids: torch.Tensor) -> str:
    """A snippet's entry name: the hash of its token ids, so an edited snippet is never served stale."""
    return hashlib.sha256(ids.to("cpu", torch.int64).numpy().tobytes()).hexdigest()[:32]


def _read_store(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The entries of a store file; an unreadable or foreign file counts as empty (it is a cache: the
    entries are computed again and the file rewritten whole), with a warning naming it."""
    if not path.is_file():
        return {}
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        logger.warning("%s: unreadable kl_corpus reference store (%s); computing its entries again", path, e)
        return {}
    entries = {}
    for name, value in tensors.items():
        key, _, kind = name.rpartition(".")
        if kind == "logp" and f"{key}.ids" in tensors and tensors[f"{key}.ids"].shape == value.shape:
            entries[key] = (value, tensors[f"{key}.ids"].long())
    return entries
