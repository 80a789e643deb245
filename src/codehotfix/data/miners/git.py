"""Mines one-line bug fixes from the history of local git repositories.

A commit gives a case when all of these hold (the first that fails is counted in ``stats``):

    root           it has a parent (merges are not listed at all, see ``repo.iter_commits``)
    message        its message matches ``MinerConfig.fix_pattern``
    revert         its message does not start with "Revert " (undoing a fix would mine the bug)
    no-source-file / many-files   exactly one source file (python/java/javascript, not a test) changed;
                   tests and other files may change alongside and are recorded in ``other_files``
    paths          that file matches ``MinerConfig.paths``
    not-modified   it was modified in place (not added, deleted, renamed or retyped)
    binary / not-one-line   git counts one line deleted and one added, and the files differ at that line only
    encoding       both versions decode (PEP 263 for Python, else UTF-8)
    whitespace, comment, syntax, ast-identical, import, docstring   see ``filters``
    duplicate      no earlier case has the same ``base.dedup_key``
    unverified     ``verify_case`` finds prefix + buggy line in the parent file at that line

Resumable: ``<out>.state.json`` beside the output lists the commits done per repository; the cases
and then the state are written atomically every ``checkpoint`` commits, and a new run with the same
options skips what is done (and so also mines only new commits after a ``git pull``).

Usage: ``mine_repos(["path/to/repo"], MinerConfig(), out="cases.jsonl")``.
"""

from __future__ import annotations

import re
import time
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from codehotfix.data.cases import HotfixCase, read_cases, write_cases
from codehotfix.data.miners.base import MINERS, Change, MinerConfig, MineResult, build_case, dedup_key, verify_case
from codehotfix.data.miners.langs import is_test_path, language_of
from codehotfix.data.miners.repo import (
    BlobReader, CommitInfo, count_commits, decode, iter_commits, open_repo, repo_license, repo_name,
)  # fmt: skip
from codehotfix.errors import DataError
from codehotfix.files import read_json, write_json

__all__ = ["mine_repos", "state_path"]


def state_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".state.json")


@MINERS.register("git")
def mine_repos(
    repos: Sequence[str | Path],
    cfg: MinerConfig,
    out: str | Path | None = None,
    restart: bool = False,
    progress: bool | None = None,
    checkpoint: int = 500,
) -> MineResult:
    """Mines every repository in turn into one deduplicated list of cases.

    Args:
        repos: local repositories (any folder inside a work tree).
        cfg: the miner options.
        out: cases JSONL to write (with its state file beside it); None keeps everything in memory.
        restart: ignore and replace an existing output and state instead of resuming them.
        progress: show a progress bar over commits (None: only on a terminal).
        checkpoint: write cases and state every this many commits.

    Raises:
        DataError: a path is not a git repository, or ``out`` exists with no state or other options.
    """
    started = time.perf_counter()
    tops = [open_repo(r) for r in repos]
    run = _Run(cfg, out, _load_state(out, cfg, restart), checkpoint)
    try:
        for top in tops:
            run.mine(top, progress)
    finally:  # also on Ctrl-C: every commit marked done has its case (if any) saved with it
        run.save()
    run.stats["cases"] = len(run.cases)
    run.stats["seconds"] = round(time.perf_counter() - started, 2)
    return MineResult(run.cases, run.stats)


class _Run:
    """The cases, dedup keys, counts and state of one ``mine_repos`` call, shared by its repositories."""

    def __init__(self, cfg: MinerConfig, out: str | Path | None, state: dict, checkpoint: int) -> None:
        self.cfg, self.out, self.state, self.checkpoint = cfg, out, state, checkpoint
        self.cases = _read_existing(out) if state["repos"] else []
        self.seen = {dedup_key(c) for c in self.cases}
        self.stats: dict[str, int] = {"commits": 0, "resumed": 0, "mined": 0}

    def mine(self, top: Path, progress: bool | None) -> None:
        cfg, done_list = self.cfg, self.state["repos"].setdefault(str(top), [])
        done = set(done_list)
        name, licence = repo_name(top), repo_license(top)
        commits = iter_commits(top, cfg.since)
        bar = tqdm(commits, total=count_commits(top, cfg.since), desc=name, unit="commit", disable=_quiet(progress))
        with BlobReader(top) as blobs, bar:
            for n, commit in enumerate(bar, 1):
                if cfg.max_cases is not None and len(self.cases) >= cfg.max_cases:
                    break
                self.stats["commits"] += 1
                if commit.sha in done:
                    self.stats["resumed"] += 1
                    continue
                case, reason = _mine_commit(blobs, name, licence, commit, cfg)
                if case is not None and dedup_key(case) in self.seen:
                    case, reason = None, "duplicate"
                if case is not None and not verify_case(top, case, blobs):
                    case, reason = None, "unverified"
                if case is not None:
                    self.cases.append(case)
                    self.seen.add(dedup_key(case))
                    bar.set_postfix(cases=len(self.cases), refresh=False)
                self.stats[reason or "mined"] = self.stats.get(reason or "mined", 0) + 1
                done.add(commit.sha)
                done_list.append(commit.sha)
                if n % self.checkpoint == 0:
                    self.save()

    def save(self) -> None:
        """Writes the cases, then the state (a crash in between only makes the next run redo commits)."""
        if self.out is not None:
            write_cases(self.out, self.cases)
            write_json(state_path(self.out), self.state)


def _quiet(progress: bool | None) -> bool | None:
    return None if progress is None else not progress  # tqdm: None = disable when not a terminal


def _load_state(out: str | Path | None, cfg: MinerConfig, restart: bool) -> dict:
    fresh = {"version": 1, "options": cfg.fingerprint(), "repos": {}}
    if out is None or restart:
        return fresh
    out, path = Path(out), state_path(out)
    if not path.exists():
        if out.exists():
            raise DataError(f"{out}: exists and has no state file {path.name}; pass --restart to overwrite it")
        return fresh
    state = read_json(path)
    if state.get("options") != fresh["options"]:
        raise DataError(
            f"{path}: was written with other options ({state.get('options')}); rerun with those or pass --restart"
        )
    if state["repos"] and not out.exists():
        raise DataError(f"{path}: lists mined commits but {out} is missing; pass --restart to mine again")
    return state


def _read_existing(out: str | Path | None) -> list[HotfixCase]:
    if out is None or not Path(out).exists() or not Path(out).read_text(encoding="utf-8").strip():
        return []  # a run that has mined nothing yet writes an empty file
    return read_cases(out)


def _mine_commit(
    blobs: BlobReader, name: str, licence: str | None, commit: CommitInfo, cfg: MinerConfig
) -> tuple[HotfixCase | None, str | None]:
    """Screens one commit from its log entry and, if it passes, builds its case."""
    if not commit.parents:
        return None, "root"
    if not re.search(cfg.fix_pattern, commit.message, re.IGNORECASE):
        return None, "message"
    if commit.message.startswith("Revert "):  # git revert's message: undoes a commit, often a fix
        return None, "revert"
    wanted = [
        f for f in commit.files
        if language_of(f.path) in cfg.languages and (cfg.include_tests or not is_test_path(f.path))
    ]  # fmt: skip
    if len(wanted) != 1:
        return None, "no-source-file" if not wanted else "many-files"
    change = wanted[0]
    if cfg.paths and not any(fnmatchcase(change.path, glob) for glob in cfg.paths):
        return None, "paths"
    if change.status != "M":
        return None, "not-modified"
    if change.added is None:
        return None, "binary"
    if (change.added, change.deleted) != (1, 1):
        return None, "not-one-line"
    old_bytes, new_bytes = blobs.read(change.old_blob), blobs.read(change.new_blob)
    line = _replaced_line(old_bytes or b"", new_bytes or b"")
    if line is None:
        return None, "not-one-line"
    language = language_of(change.path)
    parent_text, fixed_text = decode(old_bytes or b"", language), decode(new_bytes or b"", language)
    if parent_text is None or fixed_text is None:
        return None, "encoding"
    return build_case(
        Change(
            repo=name, commit=commit.sha, parent=commit.parents[0], path=change.path, line=line,
            language=language, parent_text=parent_text, fixed_text=fixed_text, message=commit.message,
            commit_date=commit.date, other_files=tuple(f.path for f in commit.files if f is not change),
            license=licence,
        ),
        cfg,
    )  # fmt: skip


def _replaced_line(old: bytes, new: bytes) -> int | None:
    """The 1-based line where ``new`` replaces one line of ``old`` and changes nothing else.

    Git's numstat already said one line went and one came; they form one replacement exactly when
    the files have as many lines and differ at one index (a line moved elsewhere differs at many).
    """
    a, b = old.split(b"\n"), new.split(b"\n")
    if len(a) != len(b):
        return None
    diffs = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    return diffs[0] + 1 if len(diffs) == 1 else None
