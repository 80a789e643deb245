"""Loader for the single-line Java fixes with file context (``manysstubs4j_bugs_singleline.jsonl.gz``).

Records come from ManySStuBs4J's ``bugs`` set (Karampatsis & Sutton, MSR 2020); gzip or plain
JSONL. Each maps to:

    id       record ``id`` (``ManySStuBs4J-bugs/<n>``)
    prefix   ``context_before`` (up to 80 lines), given a final newline if it lacks one
    buggy    ``buggy_line``;  fixed: ``fixed_line``; both verbatim, so lines from CRLF files keep
             their trailing ``\\r`` like the context around them
    suffix   ``context_after``
    group    ``file_path`` (see below)
    language "java"
    source   file_path, buggy_line_no, bugs_json_index, context_before_truncated (if present)

Group choice: the source has no project names or commits (only ``bugs_json_index``, an index into
ManySStuBs4J's ``bugs.json``, which can be joined to get them). Guessing projects from paths is
unreliable (packages are shared across projects, e.g. ``io/netty`` inside async-http-client), so
the group is the file path: a grouped split never puts two fixes to the same file on both
sides, and "within" holds out other fixes to files seen in training. It is not a cross-project
split; for that, join ``bugs.json`` by ``bugs_json_index`` and group by ``projectName``.

Usage: ``load_cases("manysstubs4j_bugs_singleline.jsonl.gz")``.
"""

from __future__ import annotations

from pathlib import Path

from codehotfix.data.cases import HotfixCase, iter_jsonl
from codehotfix.data.loaders._records import CaseCollector, get_str, require_fields
from codehotfix.data.loaders.base import LOADERS

__all__ = ["load_manysstubs4j"]

_REQUIRED = (
    "id", "context_before", "buggy_line", "fixed_line", "context_after",
    "file_path", "buggy_line_no", "bugs_json_index",
)
_SOURCE_KEYS = ("file_path", "buggy_line_no", "bugs_json_index", "context_before_truncated")


@LOADERS.register("manysstubs4j")
def load_manysstubs4j(path: Path) -> list[HotfixCase]:
    """Loads the ManySStuBs4J single-line JSONL (``.gz`` allowed).

    Raises:
        DataError: naming file, line and field, for malformed JSON, a missing or mistyped field,
            identical buggy and fixed lines, a duplicate id or an empty file.
    """
    path = Path(path)
    collector = CaseCollector(path, "buggy_line", "fixed_line")
    for where, obj in iter_jsonl(path):
        record = require_fields(obj, _REQUIRED, where)
        prefix = get_str(record, "context_before", where)
        if prefix and not prefix.endswith("\n"):
            prefix += "\n"
        case = HotfixCase(
            id=get_str(record, "id", where),
            prefix=prefix,
            buggy=get_str(record, "buggy_line", where).rstrip("\n"),
            fixed=get_str(record, "fixed_line", where).rstrip("\n"),
            suffix=get_str(record, "context_after", where),
            language="java",
            group=get_str(record, "file_path", where),
            source={key: record[key] for key in _SOURCE_KEYS if key in record},
        )
        collector.add(case, where)
    return collector.finish()
