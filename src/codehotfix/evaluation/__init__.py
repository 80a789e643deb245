"""Evaluation: batched line completion, the fixed/buggy/other rule, rates and margins.

The completion events (``events``: line, split, window), validity (``validity``) and the
before/after tables with intervals and paired tests (``compare``) are imported on their own.

The sandbox, statistics and HumanEval modules (``sandbox``, ``stats``, ``humaneval``) are imported
on their own: ``sandbox.py`` is the only place generated code runs.

The names below load on first use (module ``__getattr__``, PEP 562): generation and rates import
torch, and the torch-free modules (``stats``, ``events``, ``compare``) must stay importable without
it: ``bench/check_claims.py`` recomputes published numbers through them where torch is not installed.
"""

from __future__ import annotations

import importlib

_EXPORTS = {"classify": "classify", "first_line": "classify", "Completions": "generation",
            "generate_completions": "generation", "compare": "rates", "evaluate_cases": "rates",
            "line_logprobs": "rates", "summarize": "rates"}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value  # once loaded, a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
