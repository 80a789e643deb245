"""Reading a run folder's result files: JSON loading and field checks that name the file and field.

Every task reads its own files through these (``Task.collect``), and ``report/collect.py`` reads the
training files with them, so a malformed file fails the same way whichever part reads it: a
``DataError`` naming the file and the dotted field — a report quietly built from half a file would
show numbers nobody measured.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codehotfix.errors import DataError
from codehotfix.files import sha256_file

__all__ = ["NUM", "Missing", "RunFolder", "load_json", "check_field", "check_rate"]

NUM = "number"


@dataclass(frozen=True)
class Missing:
    """A report part whose inputs are absent: which files would fill it and which command writes them."""

    section: str
    files: tuple[str, ...]
    command: str


@dataclass
class RunFolder:
    """A run folder being read: what was found (file → sha256) and what is missing, in reading order."""

    path: Path
    inputs: dict[str, str] = field(default_factory=dict)
    missing: list[Missing] = field(default_factory=list)

    def record(self, path: Path) -> None:
        """Notes ``path`` (inside the run folder) as an input of the report, with its checksum."""
        self.inputs[str(path.relative_to(self.path))] = sha256_file(path)


def load_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        DataError: invalid JSON (with its line), not UTF-8, or not an object at the top level.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top level, got {type(data).__name__}")
    return data


def check_field(obj: Any, key: str | int, path: Path, where: str, kind: Any = NUM, *,
                optional: bool = False) -> Any:
    """Returns ``obj[key]`` checked against ``kind`` (``NUM``, a type or a tuple of types).

    Raises:
        DataError: naming ``path`` and the dotted field when it is missing or of the wrong type.
    """
    name = f"{where}.{key}" if where else str(key)
    if not isinstance(obj, dict) or key not in obj:
        if optional:
            return None
        raise DataError(f"{path}: missing field '{name}'")
    value = obj[key]
    if value is None and optional:
        return None
    if kind is NUM:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        expected = "a finite number"
    else:
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float))
        expected = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}.get(kind, str(kind))
    if not ok:
        raise DataError(f"{path}: field '{name}' must be {expected}, got {json.dumps(value)[:60]}")
    return value


def check_rate(obj: Any, key: str, path: Path, where: str, *, optional: bool = False) -> float | None:
    """``check_field`` for a rate: a finite number in [0, 1]."""
    value = check_field(obj, key, path, where, optional=optional)
    if value is not None and not 0.0 <= value <= 1.0:
        raise DataError(f"{path}: field '{where}.{key}' must be a rate in [0, 1], got {value}")
    return value
