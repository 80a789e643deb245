"""Loader for the mined Python single-line fixes (``pysstubs_mined.jsonl``).

Each JSONL record is one commit that replaced one line of a non-test ``.py`` file. It maps to:

    id       record ``id`` (``repo@sha:path:line``)
    prefix   ``prefix`` (up to 60 lines before the buggy line, newline-terminated)
    buggy    ``buggy_line``;  fixed: ``fixed_line`` (both with their indentation)
    suffix   ``suffix`` (up to 15 lines after, from the fixed file)
    group    ``repo``, so a grouped split holds out whole repositories
    language "python"
    source   repo, commit, parent, path, line, pattern, license, complete_statement,
             message_first_line (those present)

Usage: ``load_cases("pysstubs_mined.jsonl")`` or ``load_pysstubs(Path(...))``.
"""

from __future__ import annotations

from pathlib import Path

from codehotfix.data.cases import HotfixCase, iter_jsonl
from codehotfix.data.loaders._records import CaseCollector, get_str, require_fields
from codehotfix.data.loaders.base import LOADERS

__all__ = ["load_pysstubs"]

_REQUIRED = ("id", "prefix", "buggy_line", "fixed_line", "repo", "commit", "path", "line")
_SOURCE_KEYS = (
    "repo", "commit", "parent", "path", "line", "pattern", "license",
    "complete_statement", "message_first_line",
)


@LOADERS.register("pysstubs")
def load_pysstubs(path: Path) -> list[HotfixCase]:
    """Loads ``pysstubs_mined.jsonl``.

    Raises:
        DataError: naming file, line and field, for malformed JSON, a missing or mistyped field,
            identical buggy and fixed lines, a duplicate id or an empty file.
    """
    path = Path(path)
    collector = CaseCollector(path, "buggy_line", "fixed_line")
    for where, obj in iter_jsonl(path):
        record = require_fields(obj, _REQUIRED, where)
        suffix = get_str(record, "suffix", where) if "suffix" in record else ""
        case = HotfixCase(
            id=get_str(record, "id", where),
            prefix=get_str(record, "prefix", where),
            buggy=get_str(record, "buggy_line", where).rstrip("\n"),
            fixed=get_str(record, "fixed_line", where).rstrip("\n"),
            suffix=suffix,
            language="python",
            group=get_str(record, "repo", where),
            source={key: record[key] for key in _SOURCE_KEYS if key in record},
        )
        collector.add(case, where)
    return collector.finish()
