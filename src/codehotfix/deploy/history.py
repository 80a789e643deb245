"""The registry's history log: history.jsonl, one JSON record per change of the enabled set.

Append-only, one fsynced append per change, so it can grow for years while registry.json (rewritten
on every swap) stays small. A kill during an append leaves a last line cut short: reading skips it,
and the next append first cuts it off. ``HotfixStore`` keeps the last records in registry.json too
and appends those the log lacks (``append_missing``), which also repairs a kill between the two writes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from codehotfix.errors import CodehotfixError

__all__ = ["HISTORY_FILE", "is_record", "read_log", "append_missing"]

HISTORY_FILE = "history.jsonl"


def is_record(h: object) -> bool:
    """Whether ``h`` has the fields rollback relies on: an integer seq and before/after objects."""
    return (isinstance(h, dict) and isinstance(h.get("seq"), int) and isinstance(h.get("before"), dict)
            and isinstance(h.get("after"), dict))


def read_log(path: Path, error: type[CodehotfixError]) -> list[dict[str, Any]]:
    """The records of ``path`` ([] when it does not exist), oldest first.

    Raises:
        error: a corrupt record before the last line, naming the file and line.
    """
    if not path.exists():
        return []
    records = []
    lines = path.read_bytes().split(b"\n")
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            if i == len(lines):  # a line cut short by a kill mid-append; registry.json still holds it
                break
            raise error(f"{path}:{i}: corrupt history record (invalid JSON)") from None
        if not is_record(record):
            raise error(f"{path}:{i}: corrupt history record (needs an integer seq, before and after)")
        records.append(record)
    return records


def append_missing(path: Path, records: Sequence[dict[str, Any]], error: type[CodehotfixError]) -> None:
    """Appends the ``records`` newer than the log's last one, with one fsync. Call under the registry lock."""
    log = read_log(path, error)
    last = log[-1]["seq"] if log else 0
    missing = [h for h in records if h["seq"] > last]
    if not missing:
        return
    data = path.read_bytes() if path.exists() else b""
    with open(path, "ab") as f:
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)  # drop a line cut short by a kill
        f.write("".join(json.dumps(h, default=str) + "\n" for h in missing).encode())
        f.flush()
        os.fsync(f.fileno())
