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

from codehotfix.extras import lazy_exports

_EXPORTS = {"classify": "classify", "first_line": "classify", "Completions": "generation",
            "generate_completions": "generation", "compare": "rates", "evaluate_cases": "rates",
            "line_logprobs": "rates", "summarize": "rates"}

__all__ = list(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
