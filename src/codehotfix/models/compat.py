"""Differences between the transformers versions codehotfix supports, in one place.

transformers 5.24 renamed the key/value cache from ``past_key_values`` to ``cache``, both as the
forward keyword and as the field of model outputs. vLLM 0.33 requires transformers < 5.21, so to be
installable next to it codehotfix speaks both (pyproject: transformers>=5.17)::

    out = model(input_ids=ids, use_cache=True)
    cache = cache_of(out)
    out = model(input_ids=nxt, **cache_kwargs(cache), use_cache=True)
"""

from __future__ import annotations

from typing import Any

from transformers.modeling_outputs import CausalLMOutputWithPast

__all__ = ["CACHE_KEYWORD", "cache_of", "cache_kwargs"]

CACHE_KEYWORD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


def cache_of(output: Any) -> Any:
    """The key/value cache a forward pass returned (None if it returned none)."""
    return getattr(output, CACHE_KEYWORD, None)


def cache_kwargs(cache: Any) -> dict[str, Any]:
    """The keyword argument that hands ``cache`` to a forward pass."""
    return {CACHE_KEYWORD: cache}
