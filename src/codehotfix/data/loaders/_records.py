"""Helpers the format loaders share: field checks that name file, line and field, and a collector
that validates cases, rejects duplicate ids and reports the records it had to leave out.

A record is *left out* (with one ``LeftOutWarning`` per file, never silently) when it holds a real
change that cannot become a single-line case: a multi-line change; a change only in whitespace,
which ``normalize_line`` cannot tell apart (``' '.join`` vs ``''.join``); or a line added where
the other side is blank. A record that is *broken* (missing field, wrong type, bug identical to
fix, duplicate id) raises ``DataError`` instead.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterable

from codehotfix.data.cases import HotfixCase, normalize_line, validate_case
from codehotfix.errors import DataError

__all__ = ["LeftOutWarning", "CaseCollector", "require_fields", "get_str", "MULTI_LINE"]

# How many ids per reason the warning message lists; the warning object carries all of them.
_IDS_IN_MESSAGE = 30

WHITESPACE_ONLY = "buggy and fixed lines differ only in whitespace, which normalize_line ignores"
MULTI_LINE = "the bug or the fix spans more than one line"
BLANK_SIDE = "the buggy or the fixed line is blank (a line added or removed, not replaced)"


class LeftOutWarning(UserWarning):
    """Records of a file that could not become single-line cases.

    Attributes:
        path: the file.
        left_out: reason -> ids of the records left out for that reason (all of them).
    """

    def __init__(self, message: str, path: Path, left_out: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.path = path
        self.left_out = left_out


def require_fields(obj: object, fields: Iterable[str], where: str) -> dict[str, Any]:
    """Checks that ``obj`` is a JSON object holding every name in ``fields``.

    Raises:
        DataError: naming ``where`` and every missing field.
    """
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [name for name in fields if name not in obj]
    if missing:
        raise DataError(f"{where}: missing required field(s) {', '.join(map(repr, missing))}")
    return obj


def get_str(obj: dict[str, Any], name: str, where: str) -> str:
    """Returns ``obj[name]``, which must be a string.

    Raises:
        DataError: naming ``where``, the field and the type found.
    """
    value = obj[name]
    if not isinstance(value, str):
        raise DataError(f"{where}: field {name!r} must be a string, got {type(value).__name__}")
    return value


class CaseCollector:
    """Gathers the cases of one file.

    Args:
        path: the file being loaded, named in errors and the warning.
        buggy_field: the source field the case's ``buggy`` comes from, named in errors.
        fixed_field: the source field the case's ``fixed`` comes from.
    """

    def __init__(self, path: Path, buggy_field: str, fixed_field: str) -> None:
        self.path = path
        self.buggy_field = buggy_field
        self.fixed_field = fixed_field
        self.cases: list[HotfixCase] = []
        self.left_out: dict[str, list[str]] = {}
        self._seen: dict[str, str] = {}

    def add(self, case: HotfixCase, where: str) -> None:
        """Validates ``case`` and keeps it, or leaves it out when its change is whitespace-only.

        Raises:
            DataError: the case breaks an invariant of ``validate_case``, or repeats an id.
        """
        self._check_new(case.id, where)
        if case.buggy == case.fixed:
            raise DataError(
                f"{where}: fields {self.buggy_field!r} and {self.fixed_field!r} are identical: {case.buggy!r}"
            )
        if normalize_line(case.buggy) == normalize_line(case.fixed):
            self.left_out.setdefault(WHITESPACE_ONLY, []).append(case.id)
            return
        if not case.buggy.strip() or not case.fixed.strip():
            self.left_out.setdefault(BLANK_SIDE, []).append(case.id)
            return
        validate_case(case, where)
        self.cases.append(case)

    def leave_out(self, record_id: str, reason: str, where: str) -> None:
        """Records that ``record_id`` cannot become a case, and why (said once, in ``finish``)."""
        self._check_new(record_id, where)
        self.left_out.setdefault(reason, []).append(record_id)

    def _check_new(self, record_id: str, where: str) -> None:
        if record_id in self._seen:
            raise DataError(f"{where}: duplicate id {record_id!r} (first at {self._seen[record_id]})")
        self._seen[record_id] = where

    def finish(self) -> list[HotfixCase]:
        """Returns the cases, warning once about every record left out.

        Raises:
            DataError: the file held no records, or none could become a case.
        """
        n_left = sum(len(ids) for ids in self.left_out.values())
        if not self.cases and not n_left:
            raise DataError(f"{self.path}: contains no records")
        if n_left:
            parts = []
            for reason, ids in self.left_out.items():
                shown = ", ".join(ids[:_IDS_IN_MESSAGE])
                more = f", … and {len(ids) - _IDS_IN_MESSAGE} more" if len(ids) > _IDS_IN_MESSAGE else ""
                parts.append(f"{len(ids)} because {reason} ({shown}{more})")
            message = (
                f"{self.path}: left out {n_left} of {n_left + len(self.cases)} records that cannot "
                f"become single-line cases: {'; '.join(parts)}"
            )
            if not self.cases:
                raise DataError(message)
            warnings.warn(LeftOutWarning(message, self.path, dict(self.left_out)), stacklevel=3)
        return self.cases
