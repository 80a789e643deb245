"""Models: loading base models (hub id, folder, GGUF, embedded default), building adapters, and vLLM's
LoRA rules (``models.vllm``, imported on its own)."""

from codehotfix.models.adapters import ADAPTERS, build_adapter
from codehotfix.models.loading import LoadedModel, load_model, resolve_dtype, set_threads

__all__ = ["ADAPTERS", "build_adapter", "LoadedModel", "load_model", "resolve_dtype", "set_threads"]
