"""Turn PII occurrences into hotfix cases: ``codehotfix pii cases PATH… --out CASES``.

For every source line that holds PII, one case: ``prefix`` = up to ``prefix_lines`` lines before it,
``buggy`` = the line as it is, ``fixed`` = the same line with every PII value on it replaced by its
placeholder (``<EMAIL>``, ``<IP_ADDRESS>``, ``<KEY>``), ``group`` = the file, ``source`` = path,
line, kinds and the 1-based column/length of each value (so leakage can be measured per value).
All values on a line go into one case: a fixed line that still held a second address would teach
the model to write it.

Ids are ``pii/<sha256(path:line:buggy)[:16]>``: stable across runs and machines for the same file
content, and unique within one output.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from codehotfix.data.cases import HotfixCase, validate_case
from codehotfix.errors import ConfigError, DataError
from codehotfix.privacy.detect import DetectConfig, Finding, scan_text
from codehotfix.privacy.scan import iter_files, read_text

__all__ = ["PLACEHOLDERS", "CaseBuildConfig", "redact_line", "cases_for_text", "build_cases", "language_of"]

PLACEHOLDERS = {"email": "<EMAIL>", "ipv4": "<IP_ADDRESS>", "ipv6": "<IP_ADDRESS>", "key": "<KEY>"}

_LANGUAGES = {".py": "python", ".pyi": "python", ".js": "javascript", ".ts": "typescript", ".java": "java",
              ".go": "go", ".rb": "ruby", ".rs": "rust", ".c": "c", ".h": "c", ".cpp": "cpp", ".sh": "shell",
              ".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json", ".ini": "ini", ".cfg": "ini",
              ".conf": "ini", ".env": "dotenv", ".md": "markdown", ".txt": "text"}


@dataclass
class CaseBuildConfig:
    """How occurrences become cases.

    Attributes:
        prefix_lines: lines kept before the PII line (the training loop also cuts the prefix to its
            token budget from the left).
        suffix_lines: lines kept after it (context only).
    """

    prefix_lines: int = 40
    suffix_lines: int = 0

    def __post_init__(self) -> None:
        errors = [f"{n}: must be >= 0, got {getattr(self, n)}" for n in ("prefix_lines", "suffix_lines")
                  if getattr(self, n) < 0]
        if errors:
            raise ConfigError("invalid PII case config: " + "; ".join(errors))


def language_of(path: str) -> str:
    p = Path(path)
    return _LANGUAGES.get(p.suffix.lower(), "dotenv" if p.name.startswith(".env") else "text")


def redact_line(line: str, findings: Sequence[Finding]) -> str:
    """``line`` with each finding's value (at its column) replaced by the kind's placeholder."""
    out, pos = [], 0
    for f in sorted(findings, key=lambda f: f.column):
        start = f.column - 1
        if line[start:start + len(f.value)] != f.value:
            raise DataError(f"{f.path}:{f.line}: column {f.column} does not hold the {f.kind} value")
        out += [line[pos:start], PLACEHOLDERS[f.kind]]
        pos = start + len(f.value)
    return "".join(out) + line[pos:]


def _case_id(path: str, line: int, buggy: str) -> str:
    return "pii/" + hashlib.sha256(f"{path}:{line}:{buggy}".encode()).hexdigest()[:16]


def cases_for_text(text: str, path: str, findings: Sequence[Finding], cfg: CaseBuildConfig | None = None
                   ) -> list[HotfixCase]:
    """One case per line of ``text`` that holds findings (``findings`` must come from ``text``)."""
    cfg = cfg or CaseBuildConfig()
    lines = text.splitlines()
    by_line: dict[int, list[Finding]] = defaultdict(list)
    for f in findings:
        if f.field is not None:
            raise DataError(f"{f.location}: cases are built from source files, not JSONL records")
        if not 1 <= f.line <= len(lines):
            raise DataError(f"{path}:{f.line}: line out of range (the file has {len(lines)} lines)")
        by_line[f.line].append(f)
    cases = []
    for lineno in sorted(by_line):
        line, found = lines[lineno - 1], sorted(by_line[lineno], key=lambda f: f.column)
        before = lines[max(0, lineno - 1 - cfg.prefix_lines):lineno - 1]
        after = lines[lineno:lineno + cfg.suffix_lines]
        case = HotfixCase(
            id=_case_id(path, lineno, line),
            prefix="".join(x + "\n" for x in before),
            buggy=line,
            fixed=redact_line(line, found),
            suffix="".join(x + "\n" for x in after),
            language=language_of(path),
            group=path,
            source={"path": path, "line": lineno, "kinds": [f.kind for f in found],
                    "spans": [[f.column, len(f.value)] for f in found], "origin": "pii"},
        )
        validate_case(case, f"{path}:{lineno}")
        cases.append(case)
    return cases


def build_cases(paths: Sequence[str | os.PathLike], cfg: CaseBuildConfig | None = None,
                detect: DetectConfig | None = None, *, relative_to: str | os.PathLike | None = None,
                progress: bool = True) -> tuple[list[HotfixCase], dict[str, object]]:
    """Scans source files/folders and returns (cases, stats).

    Args:
        paths: files or folders of source code (JSONL data sets are scanned by ``pii scan`` only).
        cfg: prefix/suffix sizes.
        detect: detection settings.
        relative_to: record paths relative to this folder (default: as walked), so ids do not
            depend on where a checkout lives.
        progress: show a progress bar.

    Raises:
        DataError: no paths, a missing path, or no PII found at all (nothing to hotfix).
    """
    from tqdm.auto import tqdm

    cfg, detect = cfg or CaseBuildConfig(), detect or DetectConfig()
    if not paths:
        raise DataError("pii cases: no paths given")
    files = list(iter_files(paths))
    cases: list[HotfixCase] = []
    stats: dict[str, object] = {"files": 0, "files_with_pii": 0, "findings": 0, "skipped": []}
    for file in tqdm(files, desc="building cases", unit="file", disable=not progress, dynamic_ncols=True):
        text, why = read_text(file)
        if text is None or file.suffix == ".jsonl":
            stats["skipped"].append({"path": str(file), "reason": why or "JSONL (use pii scan)"})
            continue
        name = os.path.relpath(file, relative_to) if relative_to else str(file)
        findings = scan_text(text, name, detect)
        stats["files"] += 1
        stats["findings"] += len(findings)
        if findings:
            stats["files_with_pii"] += 1
            cases += cases_for_text(text, name, findings, cfg)
    if not cases:
        raise DataError(f"no PII found in {', '.join(map(str, paths))}: nothing to build cases from")
    seen: dict[str, str] = {}
    for c in cases:  # the same path, line and text twice means the same file was given twice
        if c.id in seen:
            raise DataError(f"{c.source['path']}:{c.source['line']}: given twice (duplicate case id {c.id})")
        seen[c.id] = c.id
    stats["cases"] = len(cases)
    return cases, stats
