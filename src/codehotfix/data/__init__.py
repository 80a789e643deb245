"""Data: the HotfixCase schema, loaders for public bug-fix datasets, splits and the built-in pack."""

from codehotfix.data.cases import HotfixCase, normalize_line, read_cases, write_cases
from codehotfix.data.loaders import LOADERS, load_cases

__all__ = ["HotfixCase", "normalize_line", "read_cases", "write_cases", "LOADERS", "load_cases"]
