"""What the git and patch miners share: their config, the registry, and turning one verified
one-line change into a HotfixCase.

A mined case's ``source`` carries the same keys as the shared pysstubs_mined records (``repo``,
``commit``, ``parent``, ``path``, ``line``, ``pattern``, ``commit_date``, ``message_first_line``,
``prefix_start_line``, ``complete_statement``, ``other_files``, ``touches_tests``, ``license``), its ``id`` is
``repo@commit:path:line`` and its ``group`` the repository, so the two kinds of case mix freely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from codehotfix.data.cases import HotfixCase, normalize_line
from codehotfix.data.miners.filters import check_change
from codehotfix.data.miners.langs import LANGUAGES, is_test_path
from codehotfix.data.miners.patterns import classify
from codehotfix.data.miners.repo import BlobReader, decode, read_blob
from codehotfix.errors import ConfigError, DataError
from codehotfix.registry import Registry

__all__ = ["MINERS", "MinerConfig", "Change", "MineResult", "build_case", "dedup_key", "split_lines", "verify_case"]

MINERS: Registry[Callable[..., "MineResult"]] = Registry("miner")

# Words of commit messages that announce a fix (as in the pysstubs/ManySStuBs4J mining).
DEFAULT_FIX_PATTERN = (
    r"\b(fix(e[sd])?|fixing|bugs?|bugfix|hotfix|patch(ed)?|repair(ed)?|correct(s|ed|ion)?|resolve[sd]?"
    r"|typo|issue|errors?|wrong|incorrect|broken|crash(es)?|mistake|fault|regression)\b"
)


@dataclass
class MinerConfig:
    """Knobs of the miners; the CLI flags of ``codehotfix mine`` map onto these.

    Attributes:
        prefix_lines: lines of the parent file kept before the buggy line (verbatim).
        suffix_lines: lines of the fixed file kept after the fixed line.
        since: only commits committed on or after this ISO date (``2024-01-31`` or a full timestamp).
        paths: globs (``fnmatch``, ``*`` crosses ``/``) the fixed file's path must match; empty = any.
        max_cases: stop once this many cases are in the output (resumed ones included); None = no cap.
        fix_pattern: case-insensitive regex a commit message must match; "" accepts every commit.
        languages: which of python, java, javascript to mine.
        include_tests: also mine fixes inside test files (by default they are skipped, though a fix
            commit may still touch tests alongside the one source file).
    """

    prefix_lines: int = 60
    suffix_lines: int = 15
    since: str | None = None
    paths: tuple[str, ...] = ()
    max_cases: int | None = None
    fix_pattern: str = DEFAULT_FIX_PATTERN
    languages: tuple[str, ...] = ("python", "java", "javascript")
    include_tests: bool = False

    def __post_init__(self) -> None:
        errors = []
        if self.prefix_lines < 1:
            errors.append(f"prefix_lines must be >= 1, got {self.prefix_lines}")
        if self.suffix_lines < 0:
            errors.append(f"suffix_lines must be >= 0, got {self.suffix_lines}")
        if self.max_cases is not None and self.max_cases < 1:
            errors.append(f"max_cases must be >= 1 or None, got {self.max_cases}")
        if self.since is not None:
            try:
                datetime.fromisoformat(self.since)
            except ValueError:
                errors.append(f"since must be an ISO date like 2024-01-31, got {self.since!r}")
        try:
            re.compile(self.fix_pattern)
        except re.error as e:
            errors.append(f"fix_pattern is not a valid regex ({e}): {self.fix_pattern!r}")
        known = sorted(set(LANGUAGES.values()))
        bad = [lang for lang in self.languages if lang not in known]
        if bad:
            errors.append(f"languages {bad} unknown; allowed: {', '.join(known)}")
        self.paths = tuple(self.paths)
        self.languages = tuple(self.languages)
        if errors:
            raise ConfigError("invalid miner config: " + "; ".join(errors))

    def fingerprint(self) -> dict[str, Any]:
        """The options that change which cases come out (``max_cases`` only stops early)."""
        return {k: v for k, v in vars(self).items() if k != "max_cases"} | {
            "paths": list(self.paths),
            "languages": list(self.languages),
        }


@dataclass(frozen=True)
class Change:
    """One line replaced by one line in one file, with both whole files (decoded)."""

    repo: str
    commit: str | None
    parent: str | None
    path: str
    line: int  # 1-based, in the parent (and, a one-line replacement shifting nothing, in the child)
    language: str
    parent_text: str
    fixed_text: str
    message: str = ""
    commit_date: str | None = None
    other_files: tuple[str, ...] = ()
    license: str | None = None


@dataclass
class MineResult:
    """The cases of a run and counts of what happened to every commit (``stats``)."""

    cases: list[HotfixCase]
    stats: dict[str, Any] = field(default_factory=dict)


def split_lines(text: str) -> list[str]:
    """Lines as git numbers them (split on ``\\n`` only), each with its line ending kept."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    return lines + [parts[-1]] if parts[-1] else lines


def build_case(change: Change, cfg: MinerConfig) -> tuple[HotfixCase | None, str | None]:
    """Filters, labels and cuts one change into a case.

    Returns:
        (case, None), or (None, reason) with a reason of ``filters.REASONS``.
    """
    old, new = split_lines(change.parent_text), split_lines(change.fixed_text)
    i = change.line - 1
    buggy, fixed = old[i].rstrip("\r\n"), new[i].rstrip("\r\n")
    reason, complete = check_change(change.language, change.parent_text, change.fixed_text, change.line, buggy, fixed)
    if reason is not None:
        return None, reason
    start = max(0, i - cfg.prefix_lines)
    ref = change.commit or f"{change.parent}+patch"  # a bare diff has no commit of its own
    case = HotfixCase(
        id=f"{change.repo}@{ref}:{change.path}:{change.line}",
        prefix="".join(old[start:i]),
        buggy=buggy,
        fixed=fixed,
        suffix="".join(new[i + 1 : i + 1 + cfg.suffix_lines]),
        language=change.language,
        group=change.repo,
        source={
            "repo": change.repo,
            "commit": change.commit,
            "parent": change.parent,
            "path": change.path,
            "line": change.line,
            "pattern": classify(buggy, fixed, change.language),
            "commit_date": change.commit_date,
            "message_first_line": change.message.strip().split("\n", 1)[0],
            "prefix_start_line": start + 1,
            "complete_statement": complete,
            "other_files": list(change.other_files),
            "touches_tests": any(is_test_path(p) for p in change.other_files),
            "license": change.license,
        },
    )
    return case, None


def dedup_key(case: HotfixCase) -> tuple[str, ...]:
    """Cases with the same key are one fix: re-applied after a revert, cherry-picked, or in a fork.

    The key is the file path and the two lines, ignoring whitespace: the surrounding code is left
    out on purpose, since edits elsewhere in the file between two copies of a fix are common.
    """
    return (case.language, case.source.get("path", ""), normalize_line(case.buggy), normalize_line(case.fixed))


def verify_case(top: Path, case: HotfixCase, blobs: BlobReader | None = None, check_fixed: bool = True) -> bool:
    """True when the case's prefix and buggy line are the parent's file at ``source.line`` and the
    fixed line is the commit's file at the same line (read afresh from git by revision and path).

    Args:
        top: the repository.
        case: a mined case (its ``source`` names parent, commit, path and line).
        blobs: an open reader of ``top`` to reuse; by default one ``git cat-file`` per read.
        check_fixed: also check the fixed line against ``source.commit`` (when it is not None).
    """
    src = case.source

    def text(rev: str | None) -> str | None:
        if rev is None:
            return None
        if blobs is not None:
            data = blobs.read(f"{rev}:{src['path']}")
        else:
            try:
                data = read_blob(top, f"{rev}:{src['path']}")
            except DataError:
                data = None
        return None if data is None else decode(data, case.language)

    parent, child = text(src["parent"]), text(src["commit"] if check_fixed else None)
    if parent is None or (check_fixed and src["commit"] is not None and child is None):
        return False
    old, i = split_lines(parent), src["line"] - 1
    if i >= len(old) or old[i].rstrip("\r\n") != case.buggy or not "".join(old[:i]).endswith(case.prefix):
        return False
    if src["prefix_start_line"] - 1 + case.prefix.count("\n") != i:
        return False
    new = split_lines(child) if child is not None else None
    return new is None or (i < len(new) and new[i].rstrip("\r\n") == case.fixed)
