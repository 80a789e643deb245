"""Load a base model and its tokenizer from a Hugging Face id, a local folder or a GGUF file.

GGUF files (including the embedded default, see ``default.py``) are dequantized by transformers once
and cached as safetensors under the user cache folder, so later loads take seconds instead of ~40 s.
Every loaded model carries a checksum of its weights for the manifests and result caches.
"""

from __future__ import annotations

import json
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from codehotfix.errors import ModelError
from codehotfix.files import atomic_folder, sha256_file, sha256_files

__all__ = ["LoadedModel", "load_model", "model_folder", "contiguous_head_input", "resolve_device", "resolve_dtype",
           "model_device", "set_threads", "cache_root", "derived_folder", "DEFAULT_MODEL"]

DEFAULT_MODEL = "default"
logger = logging.getLogger(__name__)
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
        device: where the weights live ("cpu", "cuda:0", ...).
    """

    model: Any
    tokenizer: Any
    model_id: str
    checksum: str
    path: str
    device: str = "cpu"


def cache_root() -> Path:
    """The user cache folder: $CODEHOTFIX_CACHE, else $XDG_CACHE_HOME/codehotfix, else ~/.cache/codehotfix."""
    if os.environ.get("CODEHOTFIX_CACHE"):
        return Path(os.environ["CODEHOTFIX_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "codehotfix"


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """Maps "auto" | "cpu" | "cuda" | "cuda:N" (or a torch.device) to a torch.device.

    "auto" (or None) is the first CUDA GPU when one is visible, else the CPU.

    Raises:
        ModelError: an unknown device string, or a CUDA device on a machine without one.
    """
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise ModelError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N ({e})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(f"device {name!r}: no CUDA GPU is visible to torch (torch {torch.__version__}); "
                             "use --device cpu or install a CUDA build of torch")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ModelError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    elif device.type not in ("cpu", "mps", "meta"):
        raise ModelError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N")
    return device


def model_device(model: Any) -> torch.device:
    """The device of ``model``'s first parameter: where its inputs must go (CPU for a model without
    parameters)."""
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def resolve_dtype(name: str = "auto", device: str | torch.device | None = None) -> torch.dtype:
    """Maps "auto" | "bfloat16" | "float32" | "float16" to a torch dtype.

    "auto" picks bfloat16 on a GPU that supports it or on a CPU with native bf16 matmul (AVX512-BF16 or
    AMX), where it about halves step time; float32 elsewhere, where emulated bf16 would be slower.
    ``device`` (default: the one "auto" picks) says which of the two is asked about.
    """
    table = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32,
             "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16}
    if name in table:
        return table[name]
    if name != "auto":
        raise ModelError(f"dtype {name!r} is not one of auto, {', '.join(table)}")
    device = resolve_device(device)
    if device.type == "cuda":
        # Pre-Ampere GPUs (compute capability < 8) only emulate bf16; float16 would overflow in training.
        with torch.cuda.device(device):
            return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float32
    if device.type != "cpu":
        return torch.float32
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


@contextmanager
def _gguf_read_once() -> Iterator[None]:
    """While a GGUF file is converted, every ``gguf.GGUFReader`` of one path is the same reader.

    transformers opens the file three times, for the config, the tokenizer and the weights, and each
    opening parses all of its metadata again: for the default model's 151,936-token vocabulary that
    was most of the conversion's time. transformers imports ``GGUFReader`` from ``gguf`` when it
    reads, so the shared one is found; a version that imports it otherwise just parses three times.
    """
    import gguf

    original = gguf.GGUFReader
    readers: dict[tuple, Any] = {}

    def shared(path: Any, *args: Any, **kwargs: Any) -> Any:
        key = (str(Path(path).resolve()), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = original(path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader = shared
    try:
        yield
    finally:
        gguf.GGUFReader = original


def _convert_gguf(gguf_path: Path, sha: str, dest: Path, dtype: torch.dtype) -> None:
    """Dequantizes a GGUF file with transformers and saves it as safetensors in ``dest`` (atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to safetensors (one time, ~1 min) …", gguf_path.name)
    t0 = time.time()
    try:
        with _gguf_read_once():
            tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
            model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=dtype)
    except Exception as e:  # transformers raises many kinds on a bad file; report one clear error
        raise ModelError(f"{gguf_path}: cannot be loaded as a GGUF model ({type(e).__name__}: {e})") from e
    # A dequantized model is an ordinary one: drop the quantizer so save_pretrained writes plain weights.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_folder(dest) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / _MARKER).write_text(json.dumps({"source": str(gguf_path), "sha256": sha,
                                               "dtype": str(dtype).replace("torch.", ""),
                                               "convert_seconds": round(time.time() - t0, 1)}, indent=2))
    logger.info("cached converted model in %s (%.0f s)", dest, time.time() - t0)


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


def derived_folder(loaded: LoadedModel) -> Path | None:
    """Where values computed from ``loaded``'s weights are kept across runs (the kl_corpus reference,
    ``training.retain.RetainReference``): inside its converted copy in the cache, so they go when the
    copy goes. None for a model loaded from the user's own folder (not ours to write into) or the hub."""
    folder = Path(loaded.path)
    return folder / "derived" if (folder / _MARKER).is_file() else None


def _contiguous_input(module: Any, args: tuple) -> tuple | None:
    hidden = args[0] if args else None
    if isinstance(hidden, torch.Tensor) and not hidden.is_contiguous():
        return (hidden.contiguous(), *args[1:])
    return None


def contiguous_head_input(model: Any) -> Any:
    """Makes the output head copy a strided input (a slice of positions) before its matmul.

    Why: the head reads hidden states at a slice of positions (``h[:, -1:]`` for the next token,
    the last K context positions for the retain losses). In torch 2.13 on a CPU, a *frozen* ``Linear``
    (every base weight under a PEFT adapter) given such a strided [B, T, H] input does not fold it
    into one matrix product: the matmul expands the [V, H] weight to [B, H, V] and copies it, B × 272 MB
    for this vocabulary in bfloat16. Measured on the default model's head, 2-core AVX512-BF16 CPU
    (bench/results/head_contiguous.json): bfloat16, 32 prompts' next token 47.7 s → 0.047 s, 8 cases
    × 32 context positions 5.66 s → 0.233 s; float32 1.7-4.8× faster. The copy is B × T × H values.
    A forward pre-hook fixes every caller at once: transformers' own ``logits_to_keep`` slice, the
    generation prefill, the training losses. Idempotent.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None or getattr(head, "_codehotfix_contiguous_hook", False):
        return model
    head.register_forward_pre_hook(_contiguous_input)
    head._codehotfix_contiguous_hook = True
    return model


def model_folder(spec: str, dtype: torch.dtype) -> tuple[Path | None, str | None]:
    """The local folder ``load_model`` reads for ``spec`` and its checksum: the embedded default or a
    GGUF file converted to ``dtype`` (once; cached), a model folder as it is, or (None, None) for a hub id.

    Raises:
        ModelError: ``spec`` is a file that is not a .gguf, or a GGUF file that does not exist.
    """
    if spec == DEFAULT_MODEL:
        return _prepare_default(dtype)
    if spec.endswith(".gguf"):
        return _prepare_gguf(Path(spec), dtype)
    if Path(spec).is_dir():
        return Path(spec), _folder_checksum(Path(spec))
    if Path(spec).exists():
        raise ModelError(f"{spec}: not a model folder or a .gguf file")
    return None, None


def load_model(spec: str | None = None, *, dtype: str = "auto", threads: int | None = None,
               device: str | torch.device | None = "auto") -> LoadedModel:
    """Loads a causal LM and tokenizer.

    Args:
        spec: "default" or None (the embedded Qwen2.5-Coder-0.5B-Instruct), a path to a ``.gguf`` file,
            a local model folder, or a Hugging Face hub id (needs network or a warm HF cache).
        dtype: see ``resolve_dtype`` ("auto" decides for ``device``).
        threads: torch threads; None uses every core.
        device: see ``resolve_device``; the model is moved there after loading.

    Raises:
        ModelError: with what to install or fix.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    set_threads(threads)
    spec = spec or DEFAULT_MODEL
    target = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target)
    folder, checksum = model_folder(spec, torch_dtype)
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
    if target.type != "cpu":
        model.to(target)  # loading itself is on the CPU; moving once keeps CPU runs exactly as before
    contiguous_head_input(model)
    model.eval()
    logger.debug("loaded %s (%s) on %s as %s", spec, checksum[:12], model_device(model), torch_dtype)
    return LoadedModel(model=model, tokenizer=tokenizer, model_id=spec, checksum=checksum, path=source,
                       device=str(model_device(model)))
