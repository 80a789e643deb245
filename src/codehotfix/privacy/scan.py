"""Scan files, folders and JSONL data sets for PII: ``codehotfix pii scan PATH… [--json OUT]``.

Folders are walked in sorted order (so results are reproducible), skipping version-control and
environment folders; a file is scanned if it decodes as UTF-8 and holds no NUL byte. Files that are
not scanned are listed in the result with the reason, never dropped silently. A ``.jsonl`` file is
read record by record: every string field (or only ``--field`` ones) is scanned and each finding
names the record's line, the field and the line inside it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from tqdm.auto import tqdm

from codehotfix.errors import DataError
from codehotfix.privacy.detect import DetectConfig, Finding, scan_text

__all__ = ["ScanResult", "iter_files", "read_text", "scan_paths"]

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache",
                       ".pytest_cache", ".tox", ".ruff_cache", ".eggs", "dist", "build"})
MAX_BYTES = 2_000_000


@dataclass
class ScanResult:
    """What a scan found.

    Attributes:
        findings: every finding, in path and line order.
        files: files scanned.
        skipped: ``{"path", "reason"}`` for every file looked at but not scanned.
    """

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        c = Counter(f.kind for f in self.findings)
        return dict(sorted(c.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "findings_total": len(self.findings), "counts": self.counts(),
                "distinct_values": len({(f.kind, f.value) for f in self.findings}),
                "skipped": self.skipped, "findings": [f.to_dict() for f in self.findings]}


def iter_files(paths: Sequence[str | os.PathLike]) -> Iterator[Path]:
    """Every file under ``paths`` (files as given, folders walked in sorted order).

    Raises:
        DataError: a path that does not exist.
    """
    for p in map(Path, paths):
        if p.is_file():
            yield p
        elif p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
                for name in sorted(files):
                    yield Path(root) / name
        else:
            raise DataError(f"{p}: no such file or folder")


def read_text(path: Path) -> tuple[str | None, str | None]:
    """(text, None) for a UTF-8 text file, else (None, reason it is not scanned)."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, f"larger than {MAX_BYTES} bytes ({size})"
        data = path.read_bytes()
    except OSError as e:
        return None, f"unreadable ({e.strerror})"
    if b"\0" in data:
        return None, "binary (NUL byte)"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "not UTF-8 text"


def _scan_jsonl(path: Path, text: str, cfg: DetectConfig, fields: Sequence[str] | None) -> list[Finding]:
    out = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        if fields:
            missing = [f for f in fields if f not in record]
            if missing:
                raise DataError(f"{path}:{lineno}: missing field(s) {', '.join(map(repr, missing))}")
        for name in fields or sorted(record):
            value = record[name]
            if isinstance(value, str):
                out += scan_text(value, str(path), cfg, field=name, record_line=lineno)
            elif fields:
                raise DataError(f"{path}:{lineno}: field {name!r} must be a string, got {type(value).__name__}")
    return out


def scan_paths(paths: Sequence[str | os.PathLike], cfg: DetectConfig | None = None, *,
               fields: Sequence[str] | None = None, progress: bool = True) -> ScanResult:
    """Scans files, folders (recursively) and JSONL files for PII.

    Args:
        paths: files or folders.
        cfg: detection settings.
        fields: for ``.jsonl`` files, the string fields to scan (default: every string field).
        progress: show a progress bar.

    Raises:
        DataError: a missing path, or a malformed JSONL record (naming file and line).
    """
    cfg = cfg or DetectConfig()
    if not paths:
        raise DataError("pii scan: no paths given")
    files = list(iter_files(paths))
    result = ScanResult()
    for path in tqdm(files, desc="scanning", unit="file", disable=not progress, dynamic_ncols=True):
        text, why = read_text(path)
        if text is None:
            result.skipped.append({"path": str(path), "reason": why})
            continue
        result.files += 1
        if path.suffix == ".jsonl":
            result.findings += _scan_jsonl(path, text, cfg, fields)
        else:
            result.findings += scan_text(text, str(path), cfg)
    return result
