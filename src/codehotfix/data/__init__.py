"""Data: the HotfixCase schema, loaders for public bug-fix datasets, splits, miners and built-in packs."""

from codehotfix.data.cases import HotfixCase, normalize_line, read_cases, write_cases
from codehotfix.data.loaders import LOADERS, load_cases
from codehotfix.data.packs import TARGET_TOPICS, load_pack, pack_names
from codehotfix.data.split import split_cases

__all__ = ["HotfixCase", "normalize_line", "read_cases", "write_cases", "LOADERS", "load_cases",
           "TARGET_TOPICS", "load_pack", "pack_names", "split_cases"]
