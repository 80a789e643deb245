"""Differences between the transformers versions codehotfix supports, in one place.

transformers 5.24 renamed the key/value cache from ``past_key_values`` to ``cache``, both as the
forward keyword and as the field of model outputs. vLLM 0.33 requires transformers < 5.21, so to be
installable next to it codehotfix speaks both (pyproject: transformers>=5.17)::

    out = model(input_ids=ids, use_cache=True)
    cache = cache_of(out)
    out = model(input_ids=nxt, **cache_kwargs(cache), use_cache=True)
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from transformers.modeling_outputs import CausalLMOutputWithPast

__all__ = ["CACHE_KEYWORD", "cache_of", "cache_kwargs", "concat_caches", "cache_rows"]

CACHE_KEYWORD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


def cache_of(output: Any) -> Any:
    """The key/value cache a forward pass returned (None if it returned none)."""
    return getattr(output, CACHE_KEYWORD, None)


def cache_kwargs(cache: Any) -> dict[str, Any]:
    """The keyword argument that hands ``cache`` to a forward pass."""
    return {CACHE_KEYWORD: cache}


def _plain(caches: Sequence[Any]) -> bool:
    """Whether every cache is a plain ``DynamicCache`` of initialised full-attention layers, the
    only kind ``concat_caches`` and ``cache_rows`` rebuild."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    return (bool(caches) and all(type(c) is DynamicCache and not getattr(c, "offloading", False) for c in caches)
            and len({len(c.layers) for c in caches}) == 1 and len(caches[0].layers) > 0
            and all(type(layer) is DynamicLayer and layer.is_initialized for c in caches for layer in c.layers))


def concat_caches(caches: Sequence[Any], width: int) -> Any | None:
    """One key/value cache holding the rows of ``caches`` in order, each layer right-padded with
    zeros to ``width`` positions (the caller's attention mask must mark those columns as padding).

    transformers has no such operation; it lets the evaluation prefill contexts in batches of
    similar length and then decode them all in one batch (``evaluation.onepass``). Only the plain
    growing cache (``DynamicCache`` of full-attention ``DynamicLayer``s) is supported: for any other
    (sliding-window, quantized, offloaded layers) it returns None and the caller decodes each
    cache on its own. The inputs are not changed.
    """
    from transformers.cache_utils import DynamicCache

    if not _plain(caches):
        return None

    def padded(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(t, (0, 0, 0, width - t.shape[-2]))

    return DynamicCache(ddp_cache_data=[
        (torch.cat([padded(layer.keys) for layer in layers]), torch.cat([padded(layer.values) for layer in layers]))
        for layers in zip(*(c.layers for c in caches))])


def cache_rows(cache: Any, rows: torch.Tensor) -> Any | None:
    """A new cache of ``cache``'s ``rows`` (the input is not changed), or None for a cache kind
    ``concat_caches`` does not rebuild. Unlike ``batch_select_indices`` it copies only the rows kept,
    not the whole cache first."""
    from transformers.cache_utils import DynamicCache

    if not _plain([cache]):
        return None
    return DynamicCache(ddp_cache_data=[(layer.keys[rows], layer.values[rows]) for layer in cache.layers])
