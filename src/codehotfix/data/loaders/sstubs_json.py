"""Loader for ManySStuBs4J's own JSON (``sstubs.json``, ``sstubsLarge.json``, ``bugs.json``).

The file is one JSON array of objects with ``bugType, commitSHA1, fixCommitParentSHA1,
bugFilePath, fixPatch, projectName, bugLineNum, bugNodeStartChar, bugNodeLength, fixLineNum,
fixNodeStartChar, fixNodeLength, sourceBeforeFix, sourceAfterFix`` (Karampatsis & Sutton, MSR
2020). An object maps to:

    id       ``<file stem>/<index>`` (``sstubs/0``): the file has no ids; the index is 0-based
    prefix   "": the file carries no code around the change, so these cases have no context.
             ``fixPatch`` (kept in source) holds a few diff lines around it, if a caller wants them.
    buggy    ``sourceBeforeFix``;  fixed: ``sourceAfterFix`` (the changed statement or node,
             without its line's indentation)
    group    ``projectName``
    language "java"
    source   every other field (bugType, commitSHA1, bugFilePath, bugLineNum, fixPatch, …)

Objects whose before or after source spans several lines are left out with a ``LeftOutWarning``.
Errors name the record as ``file:record N`` (N the 0-based index, as in the id), or the file's
line and column for JSON that does not parse.

Usage: ``load_cases("sstubs.json")``.
"""

from __future__ import annotations

import json
from pathlib import Path

from codehotfix.data.cases import HotfixCase
from codehotfix.data.loaders._records import MULTI_LINE, CaseCollector, get_str, require_fields
from codehotfix.data.loaders.base import LOADERS
from codehotfix.errors import DataError
from codehotfix.files import read_text

__all__ = ["load_sstubs_json"]

_REQUIRED = ("projectName", "sourceBeforeFix", "sourceAfterFix")
_CODE_KEYS = ("sourceBeforeFix", "sourceAfterFix")


@LOADERS.register("sstubs_json")
def load_sstubs_json(path: Path) -> list[HotfixCase]:
    """Loads a ManySStuBs4J JSON array.

    Raises:
        DataError: naming file, record and field, for JSON that does not parse, a top level that
            is not an array, a missing or mistyped field, identical sources or an empty file.
    """
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        raise DataError(f"{path}: contains no records (empty file)")
    try:
        records = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    except (ValueError, RecursionError) as e:
        # json raises these past its own checks: an integer over 4300 digits, deep nesting.
        raise DataError(f"{path}: not valid JSON ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON array of objects, got {type(records).__name__}")
    collector = CaseCollector(path, "sourceBeforeFix", "sourceAfterFix")
    for index, obj in enumerate(records):
        where = f"{path}:record {index}"
        record = require_fields(obj, _REQUIRED, where)
        case_id = f"{path.stem}/{index}"
        buggy = get_str(record, "sourceBeforeFix", where).strip("\n")
        fixed = get_str(record, "sourceAfterFix", where).strip("\n")
        if "\n" in buggy or "\n" in fixed:
            collector.leave_out(case_id, MULTI_LINE, where)
            continue
        case = HotfixCase(
            id=case_id,
            prefix="",
            buggy=buggy,
            fixed=fixed,
            language="java",
            group=get_str(record, "projectName", where),
            source={k: v for k, v in record.items() if k not in _CODE_KEYS},
        )
        collector.add(case, where)
    return collector.finish()
