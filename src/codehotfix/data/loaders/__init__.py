"""Loaders turn a source format into HotfixCase lists; one module per format, registered in LOADERS.

Use ``load_cases(path, fmt)``; ``fmt="auto"`` picks a loader from the file name and first record.
"""

from __future__ import annotations

from codehotfix.data.loaders.base import LOADERS, detect_format, load_cases

# Explicit imports fill the registry (no folder scanning).
from codehotfix.data.loaders import (  # noqa: F401,E402
    humanevalfix,
    jesse_csv,
    jsonl,
    manysstubs4j,
    pysstubs,
    sstubs_json,
)

__all__ = ["LOADERS", "load_cases", "detect_format"]
