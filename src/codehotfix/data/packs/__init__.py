"""Built-in hotfix packs: curated bug→fix cases that ship inside the package.

A pack is a JSONL file in this folder, in the schema of ``codehotfix.data.cases``. The default pack
holds 8 hand-written contexts for each of 22 topics (outdated APIs, unsafe calls and classic
one-line bugs); each case's ``group`` is its topic, so splits keep a topic on one side, and
``source`` holds {"topic", "kind", "why"}.

    from codehotfix.data.packs import load_pack
    cases = load_pack("default")
"""

from __future__ import annotations

from importlib import resources

from codehotfix.data.cases import HotfixCase, read_cases

__all__ = ["load_pack", "pack_names"]

# Listed explicitly rather than found by scanning the folder (STYLE.md §2); the tests check that
# every .jsonl file here is listed.
_PACKS = ("default",)


def pack_names() -> list[str]:
    """Returns the names of the built-in packs, sorted."""
    return sorted(_PACKS)


def load_pack(name: str = "default") -> list[HotfixCase]:
    """Loads and validates a built-in pack.

    Args:
        name: the pack's name, one of ``pack_names()``.

    Returns:
        The pack's cases in file order.

    Raises:
        KeyError: ``name`` is not a built-in pack (the message lists the valid names).
        DataError: the packaged file is malformed (names the file, line and field).
    """
    if name not in _PACKS:
        raise KeyError(f"unknown pack {name!r}; valid: {', '.join(pack_names())}")
    resource = resources.files(__name__).joinpath(f"{name}.jsonl")
    # as_file gives a real path even when the package is imported from a zip.
    with resources.as_file(resource) as path:
        return read_cases(path)
