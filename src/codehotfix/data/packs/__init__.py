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

__all__ = ["load_pack", "pack_names", "TARGET_TOPICS"]

# Topics of the default pack that the default model (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M) gets wrong
# before any hotfix: in at least one of the 8 contexts it samples the buggy line (k=10, top_p 0.95)
# or scores the buggy line likelier than the fixed one. Measured with
# `codehotfix eval src/codehotfix/data/packs/default.jsonl --json base.json` (seed 0; that run's
# per-topic numbers were not committed, see docs/default-pack.md). The other topics are correct
# already and are no hotfix target.
TARGET_TOPICS = {
    "default": (
        "base64_encodebytes", "collections_abc", "datetime_utcnow", "inspect_getfullargspec",
        "numpy_builtin_types", "pandas_concat", "password_pbkdf2", "pil_lanczos", "requests_timeout",
        "secrets_token", "tempfile_mkstemp", "torch_load_weights_only",
    ),
}

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
