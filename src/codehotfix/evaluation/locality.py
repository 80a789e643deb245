"""Locality: does a hotfix leave completions of unrelated code alone?

For ordinary completion prompts that have nothing to do with the hotfix, the model writes a greedy
continuation with its adapter and with the adapter switched off (``model.disable_adapter()``: the
base model, no second copy). Two numbers come out:

- ``unchanged_fraction``: the share of prompts whose two greedy continuations agree exactly (every
  character, whitespace included) on their first ``compare_lines`` non-blank lines, each generated
  within ``max_new_tokens`` tokens. A line the token budget cuts off is compared as far as it got;
  both runs share the budget, so a difference there is still a difference in what was written.
  ``unchanged_fraction_full`` is the same over the whole continuation.
- ``mean_kl``: KL(base ‖ hotfixed) of the next-token distributions, teacher-forced on the base
  model's own text: at the prompt's last ``kl_positions`` positions and at every position of the
  base greedy continuation. Averaged over a prompt's positions, then over prompts.

Prompts come from ``data/corpora/locality.jsonl`` (built once from CPython 3.11 standard-library
sources by ``bench/build_corpora.py``, PSF licence), from a user JSONL file ``{id, prompt[, source]}``,
or from a folder of ``.py`` files cut automatically at statement boundaries (``cut_prompts``).

Usage::

    prompts = load_prompts()                       # or load_prompts("my_prompts.jsonl" | "src/")
    result = run_locality(peft_model, tokenizer, prompts, max_new_tokens=48)
    result["unchanged_fraction"], result["mean_kl"]

CLI: ``codehotfix locality --adapter DIR --json locality.json [--prompts PATH] [--limit N]``.
"""

from __future__ import annotations

import ast
import contextlib
import statistics
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from codehotfix.data.cases import iter_jsonl
from codehotfix.errors import ConfigError, DataError
from codehotfix.evaluation.generation import encode_prompts, left_pad, sample_lines
from codehotfix.models.adapters import is_prompt_learning

__all__ = ["CodePrompt", "LocalityConfig", "cut_prompts", "load_prompts", "run_locality", "has_adapter",
           "base_model", "refuse_prompt_learning", "first_lines", "builtin_records", "read_records", "python_files",
           "BUILTIN_PROMPTS"]

BUILTIN_PROMPTS = "locality.jsonl"
_PROMPT_FIELDS = ("id", "prompt", "source")


@dataclass(frozen=True)
class CodePrompt:
    """One completion prompt: the code before a cut, and where it came from."""

    id: str
    prompt: str
    source: dict[str, Any] = field(default_factory=dict)


@dataclass
class LocalityConfig:
    """Knobs of a locality run.

    Attributes:
        max_new_tokens: greedy continuation budget per prompt (with and without the adapter).
        compare_lines: non-blank lines of the continuations compared for ``unchanged``.
        kl_positions: prompt positions (from its end) whose next-token distributions enter the KL,
            besides every position of the base continuation.
        max_context_tokens: each prompt keeps its last this-many tokens.
        batch_size: prompts per forward pass.
    """

    max_new_tokens: int = 48
    compare_lines: int = 1
    kl_positions: int = 16
    max_context_tokens: int = 512
    batch_size: int = 8

    def __post_init__(self) -> None:
        errors = [f"locality.{name} must be >= 1, got {getattr(self, name)}"
                  for name in ("max_new_tokens", "compare_lines", "max_context_tokens", "batch_size")
                  if getattr(self, name) < 1]
        if self.kl_positions < 0:
            errors.append(f"locality.kl_positions must be >= 0, got {self.kl_positions}")
        if errors:
            raise ConfigError("; ".join(errors))


def has_adapter(model: Any) -> bool:
    """True when ``model`` is a PEFT model whose adapter can be switched off."""
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft is a dependency
        return False
    return isinstance(model, PeftModel)


def refuse_prompt_learning(model: Any, what: str) -> None:
    """Raises ConfigError for a prefix/prompt-tuning hotfix: locality and perplexity read the inner
    decoder, which never sees the virtual tokens, so they would measure the base model twice."""
    if is_prompt_learning(model):
        raise ConfigError(f"{what}: prefix/prompt-tuning hotfixes are not supported (their virtual tokens would be "
                          "left out, measuring the base model twice); use lora, dora, ia3 or full")


def base_model(model: Any) -> contextlib.AbstractContextManager:
    """Context in which ``model`` computes the base distribution: its adapter disabled (a PEFT model)
    or the model as it is (a plain model is its own base)."""
    return model.disable_adapter() if has_adapter(model) else contextlib.nullcontext()


# --- prompts ---------------------------------------------------------------------------------------


def _statement_starts(func: ast.AST) -> list[int]:
    return sorted({n.lineno for n in ast.walk(func) if isinstance(n, ast.stmt)})


def cut_prompts(text: str, *, path: str = "<text>", max_lines: int = 30,
                min_statements: int = 3) -> list[CodePrompt]:
    """Cuts one prompt from every function of a Python source with at least ``min_statements``
    statements in its body.

    The cut is at the body's middle statement (index ``len(body) // 2``), so it is deterministic and
    always at a statement boundary; the prompt is the code before it, at most ``max_lines`` lines,
    starting at the function's first line or at a statement start (never inside a docstring or an
    open bracket). ``source`` keeps the path, function, cut line and the original next line.

    Raises:
        DataError: the text is not valid Python (names ``path`` and the line).
    """
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise DataError(f"{path}:{e.lineno}: not valid Python ({e.msg}); cannot cut prompts from it") from None
    lines = text.split("\n")
    out = []
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for func in sorted(funcs, key=lambda n: n.lineno):
        if len(func.body) < min_statements:
            continue
        cut = func.body[len(func.body) // 2]
        first = min([func.lineno] + [d.lineno for d in func.decorator_list])
        starts = [first] + [s for s in _statement_starts(func) if s > first]
        begin = next(s for s in starts if s >= max(first, cut.lineno - max_lines) or s == cut.lineno)
        if begin >= cut.lineno:
            continue
        prompt = "\n".join(lines[begin - 1:cut.lineno - 1]) + "\n"
        out.append(CodePrompt(
            id=f"{path}:{cut.lineno}", prompt=prompt,
            source={"path": path, "function": func.name, "lines": [begin, cut.lineno - 1],
                    "reference_next_line": lines[cut.lineno - 1]}))
    return out


def builtin_records(name: str) -> Iterator[tuple[str, Any]]:
    """("file:line", record) of a packaged corpus file under ``data/corpora``."""
    resource = resources.files("codehotfix").joinpath("data", "corpora", name)
    with resources.as_file(resource) as path:
        yield from iter_jsonl(path)


def _check_record(obj: Any, where: str, text_field: str, allowed: Sequence[str]) -> dict:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for name in ("id", text_field):
        if name not in obj:
            raise DataError(f"{where}: missing required field {name!r}")
        if not isinstance(obj[name], str) or not obj[name]:
            raise DataError(f"{where}: field {name!r} must be a non-empty string")
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise DataError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
    if not isinstance(obj.get("source", {}), dict):
        raise DataError(f"{where}: field 'source' must be an object")
    return obj


def read_records(records: Iterator[tuple[str, Any]], text_field: str, allowed: Sequence[str],
                 label: str) -> list[dict]:
    """Validates ``{id, <text_field>[, source]}`` records: unique ids, non-empty text, no unknown
    field; errors name the file, line and field."""
    out, seen = [], {}
    for where, obj in records:
        obj = _check_record(obj, where, text_field, allowed)
        if obj["id"] in seen:
            raise DataError(f"{where}: duplicate id {obj['id']!r} (first at {seen[obj['id']]})")
        seen[obj["id"]] = where
        out.append(obj)
    if not out:
        raise DataError(f"{label}: contains no records")
    return out


def python_files(folder: Path) -> list[Path]:
    """The ``.py`` files under ``folder``, sorted (deterministic order).

    Raises:
        DataError: the folder holds no ``.py`` file.
    """
    files = sorted(p for p in folder.rglob("*.py") if p.is_file())
    if not files:
        raise DataError(f"{folder}: holds no .py files")
    return files


def load_prompts(path: str | Path | None = None, *, limit: int | None = None,
                 max_lines: int = 30) -> list[CodePrompt]:
    """Loads locality prompts: built-in (None), a JSONL file ``{id, prompt[, source]}``, or a folder
    of ``.py`` files cut with ``cut_prompts``.

    Raises:
        DataError: a missing path, a malformed record (file, line, field), a file that is not Python,
            or no prompts at all.
    """
    if path is None:
        records = read_records(builtin_records(BUILTIN_PROMPTS), "prompt", _PROMPT_FIELDS, BUILTIN_PROMPTS)
        prompts = [CodePrompt(r["id"], r["prompt"], r.get("source", {})) for r in records]
    else:
        path = Path(path)
        if path.is_dir():
            prompts = []
            for file in python_files(path):
                rel = file.relative_to(path).as_posix()
                prompts += cut_prompts(file.read_text(encoding="utf-8", errors="replace"), path=rel,
                                       max_lines=max_lines)
            if not prompts:
                raise DataError(f"{path}: no function with at least 3 statements to cut a prompt from")
        else:
            records = read_records(iter_jsonl(path), "prompt", _PROMPT_FIELDS, str(path))
            prompts = [CodePrompt(r["id"], r["prompt"], r.get("source", {})) for r in records]
    return prompts[:limit] if limit is not None else prompts


# --- measurement -------------------------------------------------------------------------------------


def first_lines(text: str, n: int) -> list[str]:
    """The first ``n`` non-blank lines of ``text``, exactly as written."""
    return [line for line in text.split("\n") if line.strip()][:n]


def _greedy(model: Any, tokenizer: Any, encoded: list[list[int]], cfg: LocalityConfig, desc: str,
            progress: bool) -> list[list[int]]:
    """Greedy continuation token ids of every prompt (batched by length, input order kept)."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out: list[list[int]] = [[] for _ in encoded]
    for start in tqdm(range(0, len(order), cfg.batch_size), desc=desc, disable=not progress, dynamic_ncols=True):
        idx = order[start:start + cfg.batch_size]
        toks = sample_lines(model, tokenizer, [encoded[i] for i in idx], n=1, do_sample=False, top_p=1.0,
                            temperature=1.0, max_new_tokens=cfg.max_new_tokens, seed=0, first_line_only=False)
        for i, t in zip(idx, toks):
            out[i] = t
    return out


@torch.no_grad()
def _hidden(model: Any, rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, int]:
    """Last hidden states of left-padded rows, [B, W, H], and the width W."""
    from codehotfix.models.loading import model_device
    from codehotfix.scoring import split_model

    ids, mask = left_pad(rows, pad_id, model_device(model))
    decoder, _ = split_model(model)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return decoder(input_ids=ids, attention_mask=mask, position_ids=positions).last_hidden_state, ids.shape[1]


@torch.no_grad()
def _kl_per_prompt(model: Any, tokenizer: Any, prompts: list[list[int]], conts: list[list[int]],
                   cfg: LocalityConfig, progress: bool) -> list[tuple[float, int]]:
    """(mean KL(base ‖ hotfixed), positions) per prompt, teacher-forced on prompt + base continuation.

    Only the positions that enter the KL go through the output head, one row at a time, so memory
    stays at [positions, vocab] rather than [batch, sequence, vocab].
    """
    from codehotfix.scoring import split_model

    _, head = split_model(model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out: list[tuple[float, int]] = []
    for start in tqdm(range(0, len(prompts), cfg.batch_size), desc="locality: KL", disable=not progress,
                      dynamic_ncols=True):
        rows = [p + c for p, c in zip(prompts[start:start + cfg.batch_size], conts[start:start + cfg.batch_size])]
        h_hot, width = _hidden(model, rows, pad)
        with base_model(model):
            h_base, _ = _hidden(model, rows, pad)
        for j, row in enumerate(rows):
            p_len = len(prompts[start + j])
            m = min(cfg.kl_positions, p_len) + (len(row) - p_len)
            if m == 0:
                out.append((0.0, 0))
                continue
            cols = slice(width - m, width)
            lp_hot = F.log_softmax(head(h_hot[j, cols]).float(), -1)
            with base_model(model):
                lp_base = F.log_softmax(head(h_base[j, cols]).float(), -1)
            kl = (lp_base.exp() * (lp_base - lp_hot)).sum(-1).clamp(min=0.0)  # [m]
            out.append((float(kl.mean()), m))
    return out


def run_locality(model: Any, tokenizer: Any, prompts: Sequence[CodePrompt], *, max_new_tokens: int = 48,
                 compare_lines: int = 1, kl_positions: int = 16, max_context_tokens: int = 512,
                 batch_size: int = 8, progress: bool = True) -> dict[str, Any]:
    """Greedy continuations with and without the adapter, their agreement and the KL between them.

    Args:
        model: a PEFT model (hotfixed); a plain model gives the base continuations only.
        tokenizer: its tokenizer.
        prompts: from ``load_prompts``.
        max_new_tokens, compare_lines, kl_positions, max_context_tokens, batch_size: see
            ``LocalityConfig``.
        progress: show progress bars.

    Returns:
        {"kind": "locality", "prompts", "unchanged_fraction", "unchanged_fraction_full", "mean_kl",
        "records": [{"id", "unchanged", "unchanged_full", "kl", "kl_positions", "base", "hotfixed"}],
        "config", "seconds"}; with no adapter the hotfixed fields are None.

    Raises:
        ConfigError: a bad setting. DataError: no prompts.
    """
    refuse_prompt_learning(model, "locality")
    cfg = LocalityConfig(max_new_tokens=max_new_tokens, compare_lines=compare_lines, kl_positions=kl_positions,
                         max_context_tokens=max_context_tokens, batch_size=batch_size)
    if not prompts:
        raise DataError("locality: no prompts given")
    t0 = time.time()
    encoded = encode_prompts(tokenizer, [p.prompt for p in prompts], cfg.max_context_tokens)
    with base_model(model):
        base_toks = _greedy(model, tokenizer, encoded, cfg, "locality: base", progress)
    adapted = has_adapter(model)
    hot_toks = _greedy(model, tokenizer, encoded, cfg, "locality: hotfixed", progress) if adapted else None
    kls = _kl_per_prompt(model, tokenizer, encoded, base_toks, cfg, progress) if adapted else None

    records = []
    for i, p in enumerate(prompts):
        base = tokenizer.decode(base_toks[i], skip_special_tokens=True)
        rec: dict[str, Any] = {"id": p.id, "unchanged": None, "unchanged_full": None, "kl": None,
                               "kl_positions": None, "base": base, "hotfixed": None}
        if adapted:
            hot = tokenizer.decode(hot_toks[i], skip_special_tokens=True)
            rec.update(hotfixed=hot, kl=round(kls[i][0], 6), kl_positions=kls[i][1],
                       unchanged=first_lines(base, cfg.compare_lines) == first_lines(hot, cfg.compare_lines),
                       unchanged_full=base_toks[i] == hot_toks[i])
        records.append(rec)
    n = len(records)
    return {
        "kind": "locality",
        "prompts": n,
        "unchanged_fraction": sum(r["unchanged"] for r in records) / n if adapted else None,
        "unchanged_fraction_full": sum(r["unchanged_full"] for r in records) / n if adapted else None,
        "mean_kl": statistics.fmean(r["kl"] for r in records) if adapted else None,
        "records": records,
        "config": asdict(cfg),
        "seconds": round(time.time() - t0, 2),
    }
