"""Perplexity of ordinary held-out code, base vs. hotfixed: does the hotfix make the model worse at code
it was never meant to touch?

Each text is tokenized and split into consecutive windows of at most ``max_tokens`` tokens; every
token after a window's first is scored given the tokens before it in its window (the first has no
context and is not scored; no text is cut off). The base is the same model with its adapter switched
off. Perplexity is token-weighted over the corpus, ``exp(sum of NLL / scored tokens)``, and
``relative_change`` is ``ppl_hotfixed / ppl_base - 1``. Its 95% interval is a paired percentile
bootstrap over files (``scipy.stats.bootstrap`` with ``paired=True``: files are resampled with
their base and hotfixed NLL together, and the statistic is recomputed token-weighted on each
resample); ``wilcoxon`` is the paired signed-rank test (``stats.wilcoxon_paired``) on per-file
NLL per token.

Corpora: the built-in ``data/corpora/heldout_code.jsonl`` (40 functions from CPython 3.11's standard
library, PSF licence, built by ``bench/build_corpora.py``, disjoint from the retain corpus's
modules), a JSONL file ``{id, text[, source]}`` or a folder of ``.py`` files (one record per file).

Usage::

    corpus = load_corpus()            # or load_corpus("texts.jsonl" | "src/")
    result = run_perplexity(peft_model, tokenizer, corpus)
    result["base"], result["hotfixed"], result["relative_change"], result["ci95"]

CLI: ``codehotfix perplexity --adapter DIR --json ppl.json [--corpus PATH] [--limit N]``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from codehotfix.data.cases import iter_jsonl
from codehotfix.errors import ConfigError, DataError
from codehotfix.evaluation import stats
from codehotfix.evaluation.locality import (base_model, builtin_records, has_adapter, python_files, read_records,
                                            refuse_prompt_learning)

__all__ = ["CorpusText", "PerplexityConfig", "load_corpus", "run_perplexity", "BUILTIN_CORPUS"]

BUILTIN_CORPUS = "heldout_code.jsonl"
_TEXT_FIELDS = ("id", "text", "source")


@dataclass(frozen=True)
class CorpusText:
    """One held-out text (a file or a function) and where it came from."""

    id: str
    text: str
    source: dict[str, Any] = field(default_factory=dict)


@dataclass
class PerplexityConfig:
    """Knobs of a perplexity run.

    Attributes:
        max_tokens: window length; longer texts are split into consecutive windows.
        batch_size: windows per forward pass.
        n_resamples: bootstrap resamples for the interval.
        seed: bootstrap seed.
    """

    max_tokens: int = 1024
    batch_size: int = 4
    n_resamples: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        errors = [f"perplexity.{name} must be >= {low}, got {getattr(self, name)}"
                  for name, low in (("max_tokens", 2), ("batch_size", 1), ("n_resamples", 100))
                  if getattr(self, name) < low]
        if errors:
            raise ConfigError("; ".join(errors))


def load_corpus(path: str | Path | None = None, *, limit: int | None = None) -> tuple[str, list[CorpusText]]:
    """Loads a corpus: built-in (None), a JSONL file ``{id, text[, source]}``, or a folder of ``.py``
    files; returns (corpus name, texts).

    Raises:
        DataError: a missing path, a malformed record (file, line, field), or no texts.
    """
    if path is None:
        name = BUILTIN_CORPUS.removesuffix(".jsonl")
        records = read_records(builtin_records(BUILTIN_CORPUS), "text", _TEXT_FIELDS, BUILTIN_CORPUS)
        texts = [CorpusText(r["id"], r["text"], r.get("source", {})) for r in records]
    else:
        path = Path(path)
        name = str(path)
        if path.is_dir():
            texts = [CorpusText(f.relative_to(path).as_posix(), f.read_text(encoding="utf-8", errors="replace"),
                                {"path": str(f)}) for f in python_files(path)]
        else:
            records = read_records(iter_jsonl(path), "text", _TEXT_FIELDS, str(path))
            texts = [CorpusText(r["id"], r["text"], r.get("source", {})) for r in records]
    return name, (texts[:limit] if limit is not None else texts)


def _windows(tokenizer: Any, texts: Sequence[CorpusText], max_tokens: int) -> list[tuple[int, list[int]]]:
    """(text index, token ids) of every window with at least two tokens."""
    out = []
    for i, t in enumerate(texts):
        ids = tokenizer(t.text, add_special_tokens=False)["input_ids"]
        out += [(i, ids[s:s + max_tokens]) for s in range(0, len(ids), max_tokens) if len(ids[s:s + max_tokens]) > 1]
    return out


@torch.no_grad()
def _window_nll(model: Any, rows: list[list[int]], pad_id: int) -> list[float]:
    """Summed NLL of tokens 2..n of each right-padded row; the head runs on real positions only."""
    from codehotfix.models.loading import model_device
    from codehotfix.scoring import split_model

    decoder, head = split_model(model)
    width, device = max(len(r) for r in rows), model_device(model)
    ids = torch.tensor([r + [pad_id] * (width - len(r)) for r in rows], dtype=torch.long, device=device)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long, device=device)
    h = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
    out = []
    for j, r in enumerate(rows):
        logits = head(h[j, :len(r) - 1]).float()  # position t predicts token t + 1: [n-1, V]
        out.append(float(F.cross_entropy(logits, ids[j, 1:len(r)], reduction="sum")))
    return out


def _corpus_nll(model: Any, tokenizer: Any, windows: list[tuple[int, list[int]]], n_texts: int,
                cfg: PerplexityConfig, desc: str, progress: bool) -> np.ndarray:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    nll = np.zeros(n_texts)
    order = sorted(range(len(windows)), key=lambda k: len(windows[k][1]))  # similar lengths pad less
    for s in tqdm(range(0, len(order), cfg.batch_size), desc=desc, disable=not progress, dynamic_ncols=True):
        batch = [windows[k] for k in order[s:s + cfg.batch_size]]
        for (i, _), value in zip(batch, _window_nll(model, [w for _, w in batch], pad)):
            nll[i] += value
    return nll


def _ppl(nll: np.ndarray, tokens: np.ndarray) -> float:
    return math.exp(float(nll.sum()) / float(tokens.sum()))


def _relative_ci(base: np.ndarray, hot: np.ndarray, tokens: np.ndarray,
                 cfg: PerplexityConfig) -> list[float] | None:
    """Paired percentile bootstrap over texts of ppl_hot / ppl_base - 1; None with fewer than 2 texts."""
    ci = stats.perplexity_change_ci(base, hot, tokens, n_resamples=cfg.n_resamples, seed=cfg.seed)
    return None if ci is None else list(ci)


def run_perplexity(model: Any, tokenizer: Any, texts: Sequence[CorpusText], *, corpus: str = "custom",
                   max_tokens: int = 1024, batch_size: int = 4, n_resamples: int = 10_000, seed: int = 0,
                   progress: bool = True) -> dict[str, Any]:
    """Token-weighted perplexity of ``texts`` with the adapter off (base) and on (hotfixed).

    Returns:
        {"kind": "perplexity", "corpus", "texts", "tokens", "base", "hotfixed", "relative_change",
        "ci95", "wilcoxon", "records": [{"id", "tokens", "base_nll", "hotfixed_nll"}], "config",
        "seconds"}; NLL values are summed nats per text. With no adapter the hotfixed fields are None.

    Raises:
        ConfigError: a bad setting. DataError: no text has two tokens to score.
    """
    refuse_prompt_learning(model, "perplexity")
    cfg = PerplexityConfig(max_tokens=max_tokens, batch_size=batch_size, n_resamples=n_resamples, seed=seed)
    t0 = time.time()
    windows = _windows(tokenizer, texts, cfg.max_tokens)
    tokens = np.zeros(len(texts))
    for i, w in windows:
        tokens[i] += len(w) - 1
    if tokens.sum() == 0:
        raise DataError(f"corpus {corpus!r}: no text has two tokens to score")
    with base_model(model):
        base = _corpus_nll(model, tokenizer, windows, len(texts), cfg, "perplexity: base", progress)
    adapted = has_adapter(model)
    hot = _corpus_nll(model, tokenizer, windows, len(texts), cfg, "perplexity: hotfixed", progress) if adapted else None

    scored = tokens > 0  # texts of a single token have nothing to score and no weight
    records = [{"id": t.id, "tokens": int(tokens[i]), "base_nll": round(float(base[i]), 4),
                "hotfixed_nll": round(float(hot[i]), 4) if adapted else None} for i, t in enumerate(texts)]
    result: dict[str, Any] = {
        "kind": "perplexity", "corpus": corpus, "texts": len(texts), "tokens": int(tokens.sum()),
        "base": _ppl(base, tokens), "hotfixed": None, "relative_change": None, "ci95": None, "wilcoxon": None,
    }
    if adapted:
        ppl_hot = _ppl(hot, tokens)
        per_tok_b, per_tok_h = base[scored] / tokens[scored], hot[scored] / tokens[scored]
        w = stats.wilcoxon_paired(per_tok_b, per_tok_h)
        result.update(hotfixed=ppl_hot, relative_change=ppl_hot / result["base"] - 1.0,
                      ci95=_relative_ci(base[scored], hot[scored], tokens[scored], cfg),
                      wilcoxon={"mean_nll_per_token_difference": w.mean_difference, "p_value": w.p_value,
                                "texts_changed": w.n_nonzero})
    return {**result, "records": records, "config": asdict(cfg), "seconds": round(time.time() - t0, 2)}
