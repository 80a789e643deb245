"""Loader for codehotfix's own JSONL schema (see ``codehotfix.data.cases``)."""

from __future__ import annotations

from pathlib import Path

from codehotfix.data.cases import HotfixCase, read_cases
from codehotfix.data.loaders.base import LOADERS


@LOADERS.register("jsonl")
def load_jsonl(path: Path) -> list[HotfixCase]:
    return read_cases(path)
