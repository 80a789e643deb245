"""Studies: grids of PEFT methods × loss mixes × seeds on a dataset split, resumable, into one table.

    codehotfix study configs/study/pysstubs.yaml [--out DIR] [--limit-cells N] [key=value …]

``spec`` reads the YAML, ``data`` picks the cases, ``runner`` trains and evaluates every cell on one
base model, ``table`` pools the cells into ``results.json`` and ``results.md``; on the seen split
``breakdown`` adds every cell on each subset of the test items (variant kind, trained line or not).

The names below load on first use (module ``__getattr__``, PEP 562): the runner imports torch, and
``table`` must stay importable without it (``bench/check_claims.py`` recomputes the learning-curve
tables through it where torch is not installed).
"""

from __future__ import annotations

from codehotfix.extras import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("breakdown", "breakdown_markdown"), "breakdown"),
    **dict.fromkeys(("StudyData", "prepare_data", "sample_cases", "variant_items"), "data"),
    **dict.fromkeys(("default_out", "remove_adapter", "run_study", "weights_signature"), "runner"),
    **dict.fromkeys(("BestSeedsSpec", "Cell", "DatasetSpec", "LossSpec", "MethodSpec", "StudyConfig", "cell_id",
                     "load_study", "resolve_cells"), "spec"),
    **dict.fromkeys(("METRICS", "PAPER_REFERENCE", "build_table", "relative_change", "table_markdown"), "table"),
}

__all__ = list(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
