"""Models: loading base models (hub id, folder, GGUF, embedded default) and building adapters."""

from codehotfix.models.adapters import ADAPTERS, build_adapter
from codehotfix.models.loading import LoadedModel, load_model, resolve_dtype, set_threads

__all__ = ["ADAPTERS", "build_adapter", "LoadedModel", "load_model", "resolve_dtype", "set_threads"]
