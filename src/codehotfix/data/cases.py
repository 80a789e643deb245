"""The hotfix case: one bug→fix pair in context, and its JSONL schema.

A case says: after ``prefix`` (the code before the buggy line, ending with a newline) the model
should write ``fixed`` and not ``buggy``. Every loader turns its source format into these.

JSONL schema (one JSON object per line):

    id        str, required, unique in a file
    prefix    str, required: code before the buggy line (may be empty only if the line starts the file)
    buggy     str, required: the line the model should stop writing (one line, no newline)
    fixed     str, required: the line it should write instead (one line, no newline)
    suffix    str, optional: code after the line (context for readers and whole-snippet losses)
    language  str, optional, default "python"
    group     str, optional: what must not straddle a train/test split (repo, project, topic, task)
    source    object, optional: free metadata (repo, commit, path, line, pattern, licence, …);
              ``source.patterns``, optional: {"fixed": regex, "buggy": regex} (either or both), which
              the eval's ``window`` event also searches for (docs/evaluation.md)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from codehotfix.errors import DataError
from codehotfix.files import atomic_write_text, iter_lines

__all__ = ["HotfixCase", "normalize_line", "read_cases", "write_cases", "validate_case"]

REQUIRED_FIELDS = ("id", "prefix", "buggy", "fixed")
OPTIONAL_FIELDS = ("suffix", "language", "group", "source")
# A wrong type here would pass loading and fail later, inside training or a report.
_OPTIONAL_TYPES = {"suffix": str, "language": str, "group": str, "source": dict}
_TYPE_NAMES = {str: "a string", dict: "an object"}


_STRING = re.compile(r"""('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")""")


def normalize_line(line: str) -> str:
    """The comparison key of a code line: whitespace removed outside string literals.

    ``x = f(a, b)`` and ``x=f(a,b)`` compare equal, but ``' '.join(xs)`` and ``''.join(xs)`` do not:
    whitespace inside quotes is data. Removing (not collapsing) whitespace elsewhere is safe for
    comparing two versions of the same statement, which is all the classifier ever does.
    """
    parts = _STRING.split(line)
    # re.split with one capturing group alternates: code, string, code, string, …
    return "".join(part if i % 2 else "".join(part.split()) for i, part in enumerate(parts))


@dataclass(frozen=True)
class HotfixCase:
    """One bug→fix pair with the code before it."""

    id: str
    prefix: str
    buggy: str
    fixed: str
    suffix: str = ""
    language: str = "python"
    group: str | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_case(case: HotfixCase, where: str) -> None:
    """Checks the invariants every case must hold.

    Args:
        case: the case to check.
        where: "file:line" used in the error message.

    Raises:
        DataError: naming ``where`` and the offending field.
    """
    for name in REQUIRED_FIELDS:
        value = getattr(case, name)
        if not isinstance(value, str):
            raise DataError(f"{where}: field {name!r} must be a string, got {type(value).__name__}")
    if not case.id.strip():
        raise DataError(f"{where}: field 'id' is empty")
    for name in ("buggy", "fixed"):
        value = getattr(case, name)
        if "\n" in value.rstrip("\n"):
            raise DataError(f"{where}: field {name!r} must be a single line, got {value!r}")
        if not value.strip():
            raise DataError(f"{where}: field {name!r} is empty")
    if normalize_line(case.buggy) == normalize_line(case.fixed):
        raise DataError(
            f"{where}: fields 'buggy' and 'fixed' are the same line (ignoring whitespace): {case.buggy!r}"
        )
    if case.prefix and not case.prefix.endswith("\n"):
        raise DataError(f"{where}: field 'prefix' must end with a newline (it is the code before the line)")
    if not isinstance(case.source, dict):
        raise DataError(f"{where}: field 'source' must be an object")
    _validate_patterns(case.source.get("patterns"), where)


def _validate_patterns(patterns: Any, where: str) -> None:
    """``source.patterns``: absent, or an object of regexes under "fixed" and/or "buggy"."""
    if patterns is None:
        return
    if not isinstance(patterns, dict) or not patterns or set(patterns) - {"fixed", "buggy"}:
        raise DataError(f"{where}: field 'source.patterns' must be an object with keys 'fixed' and/or 'buggy', "
                        f"got {patterns!r}")
    for side, pattern in patterns.items():
        try:
            re.compile(pattern)
        except (re.error, TypeError) as e:
            raise DataError(f"{where}: field 'source.patterns.{side}' is not a regular expression: {e}") from None


def case_from_dict(obj: object, where: str) -> HotfixCase:
    """Builds and validates a case from one decoded JSON object of the schema above."""
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in REQUIRED_FIELDS if k not in obj]
    if missing:
        raise DataError(f"{where}: missing required field(s) {', '.join(repr(m) for m in missing)}")
    unknown = sorted(set(obj) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise DataError(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(REQUIRED_FIELDS + OPTIONAL_FIELDS)} (put extra metadata under 'source')"
        )
    for name, allowed in _OPTIONAL_TYPES.items():
        if obj.get(name) is not None and not isinstance(obj[name], allowed):
            raise DataError(f"{where}: field {name!r} must be {_TYPE_NAMES[allowed]}, got {type(obj[name]).__name__}")
    case = HotfixCase(
        id=obj["id"],
        prefix=obj["prefix"],
        buggy=obj["buggy"].rstrip("\n") if isinstance(obj["buggy"], str) else obj["buggy"],
        fixed=obj["fixed"].rstrip("\n") if isinstance(obj["fixed"], str) else obj["fixed"],
        suffix=obj.get("suffix") or "",
        language=obj.get("language") or "python",
        group=obj.get("group"),
        source=obj.get("source") or {},
    )
    validate_case(case, where)
    return case


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[str, Any]]:
    """Yields ("file:line", decoded object) for each non-blank line of a JSONL file (.gz allowed).

    Raises:
        DataError: naming the file and line, for a line that is not valid JSON, bytes that are not
            UTF-8, a broken ``.gz``, an over-long line or a path that is not a regular file (see
            ``codehotfix.files.iter_lines``).
    """
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        except (ValueError, RecursionError) as e:
            # json raises these past its own checks: an integer over 4300 digits, deep nesting.
            raise DataError(f"{where}: not valid JSON ({type(e).__name__}: {str(e)[:200]})") from None
        yield where, obj


def read_cases(path: str | os.PathLike) -> list[HotfixCase]:
    """Reads a JSONL file of cases in the codehotfix schema.

    Raises:
        DataError: empty file, malformed line, missing/unknown field, buggy == fixed, duplicate id.
    """
    cases: list[HotfixCase] = []
    seen: dict[str, str] = {}
    for where, obj in iter_jsonl(path):
        case = case_from_dict(obj, where)
        if case.id in seen:
            raise DataError(f"{where}: duplicate id {case.id!r} (first at {seen[case.id]})")
        seen[case.id] = where
        cases.append(case)
    if not cases:
        raise DataError(f"{path}: contains no cases")
    return cases


def write_cases(path: str | os.PathLike, cases: Iterable[HotfixCase]) -> Path:
    """Writes cases as JSONL in the codehotfix schema, atomically."""
    lines = [json.dumps(c.to_dict(), ensure_ascii=False) for c in cases]
    return atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
