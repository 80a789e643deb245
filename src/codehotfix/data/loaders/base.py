"""The loader registry and format detection shared by every loader module."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from codehotfix.data.cases import HotfixCase
from codehotfix.errors import DataError
from codehotfix.files import require_regular_file
from codehotfix.registry import Registry

__all__ = ["LOADERS", "load_cases", "detect_format", "Loader"]

Loader = Callable[[Path], list[HotfixCase]]
LOADERS: Registry[Loader] = Registry("loader")


def detect_format(path: Path) -> str:
    """Guesses the loader name for ``path`` from its name; falls back to the codehotfix schema."""
    name = path.name.lower()
    if name.endswith(".csv"):
        return "jesse_csv"
    if name.endswith(".json"):
        return "sstubs_json"
    if "pysstubs" in name:
        return "pysstubs"
    if "manysstubs4j" in name:
        return "manysstubs4j"
    if "humanevalpack" in name or "humanevalfix" in name:
        return "humanevalfix"
    return "jsonl"


def load_cases(path: str | os.PathLike, fmt: str = "auto") -> list[HotfixCase]:
    """Loads cases from ``path`` with the loader ``fmt`` (or a detected one).

    Raises:
        DataError: the file is missing, not a regular file, empty or malformed (message names
            file, line, field).
        KeyError: ``fmt`` is not a registered loader (message lists the valid ones).
    """
    path = require_regular_file(path)  # a FIFO would block the loader, /dev/zero never end
    name = detect_format(path) if fmt == "auto" else fmt
    cases = LOADERS.get(name)(path)
    if not cases:
        raise DataError(f"{path}: contains no cases")
    return cases
