"""Built-in hotfix packs: curated bug→fix cases that ship inside the package.

A pack is a JSONL file in this folder, in the schema of ``codehotfix.data.cases``, built from
hand-written per-topic sources in ``sources/<pack>/`` by ``build_pack.py``. The default pack (v2)
holds 10 contexts for each of its topics (outdated APIs, unsafe calls and classic one-line bugs);
each case's ``group`` is its topic and ``source`` holds {"topic", "kind", "why"}. The contexts were
written by the codehotfix authors for this package and are released under its licence.

    from codehotfix.data.packs import load_pack, select_topics, split_pack
    cases = load_pack("default")
    split = split_pack(cases, test_fraction=0.4, seed=0)     # first: per topic, 6 train / 4 held out
    selection = select_topics(split.train, base_results)     # second: from training results only
"""

from __future__ import annotations

from importlib import resources

from codehotfix.data.cases import HotfixCase, read_cases
from codehotfix.data.packs.select import TopicSelectionConfig, case_wrong, select_topics, split_pack

__all__ = ["load_pack", "pack_names", "TARGET_TOPICS", "TopicSelectionConfig", "case_wrong", "select_topics",
           "split_pack"]

# Pack v1's targets, kept for callers that import it (bench/hotfix_cost.py); the demo no longer uses
# it: these were chosen from results on all 8 contexts of each topic, held-out ones included, which
# biases the "before" rates. The demo now selects with ``select_topics`` from training contexts only.

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
