"""Mines one-line bug fixes from the history of local git repositories.

A commit gives a case when all of these hold (the first that fails is counted in ``stats``):

    message        its message matches ``MinerConfig.fix_pattern``
    revert         its message does not start with "Revert " (undoing a fix would mine the bug)
    root           it has a parent (merges are not listed at all, see ``repo.iter_commits``)
    no-source-file / many-files   exactly one source file (python/java/javascript, not a test) changed;
                   tests and other files may change alongside and are recorded in ``other_files``
    paths          that file matches ``MinerConfig.paths``
    not-modified   it was modified in place (not added, deleted, renamed or retyped)
    binary / not-one-line   git counts one line deleted and one added, in one hunk, adjacent
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
from codehotfix.data.miners.patch import one_line_replacement, parse_unified_diff
from codehotfix.data.miners.repo import CommitInfo, count_commits, decode, git, iter_commits, open_repo, read_blob, repo_name
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
    state = _load_state(out, cfg, restart)
    cases = _read_existing(out) if state["repos"] else []
    seen = {dedup_key(c) for c in cases}
    stats: dict[str, int] = {"commits": 0, "resumed": 0, "mined": 0}
    for top in tops:
        done = set(state["repos"].setdefault(str(top), []))
        name, total = repo_name(top), count_commits(top, cfg.since)
        bar = tqdm(iter_commits(top, cfg.since), total=total, desc=name, unit="commit", disable=_quiet(progress))
        for n, commit in enumerate(bar, 1):
            if cfg.max_cases is not None and len(cases) >= cfg.max_cases:
                break
            stats["commits"] += 1
            if commit.sha in done:
                stats["resumed"] += 1
                continue
            case, reason = _mine_commit(top, name, commit, cfg)
            if case is not None and dedup_key(case) in seen:
                case, reason = None, "duplicate"
            if case is not None and not verify_case(top, case):
                case, reason = None, "unverified"
            if case is not None:
                cases.append(case)
                seen.add(dedup_key(case))
                bar.set_postfix(cases=len(cases), refresh=False)
            stats[reason or "mined"] = stats.get(reason or "mined", 0) + 1
            done.add(commit.sha)
            state["repos"][str(top)].append(commit.sha)
            if out is not None and n % checkpoint == 0:
                _save(out, cases, state)
        bar.close()
    if out is not None:
        _save(out, cases, state)
    stats["cases"] = len(cases)
    stats["seconds"] = round(time.perf_counter() - started, 2)
    return MineResult(cases, stats)


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


def _save(out: str | Path, cases: list[HotfixCase], state: dict) -> None:
    write_cases(out, cases)  # cases first: a crash in between only makes the next run redo commits
    write_json(state_path(out), state)


def _mine_commit(top: Path, name: str, commit: CommitInfo, cfg: MinerConfig) -> tuple[HotfixCase | None, str | None]:
    """Screens one commit from its log entry and, if it passes, builds its case."""
    if not re.search(cfg.fix_pattern, commit.message, re.IGNORECASE):
        return None, "message"
    if commit.message.startswith("Revert "):  # git revert's message: undoes a commit, often a fix
        return None, "revert"
    if not commit.parents:
        return None, "root"
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
    diff_text = git(top, "diff", "-U0", "--no-color", "--no-ext-diff", change.old_blob, change.new_blob)
    files, _ = parse_unified_diff(diff_text.decode("utf-8", "replace"), f"{commit.sha}:{change.path}")
    found = one_line_replacement(files[0]) if len(files) == 1 else None
    if found is None:
        return None, "not-one-line"
    language = language_of(change.path)
    parent_text = decode(read_blob(top, change.old_blob), language)
    fixed_text = decode(read_blob(top, change.new_blob), language)
    if parent_text is None or fixed_text is None:
        return None, "encoding"
    return build_case(
        Change(
            repo=name, commit=commit.sha, parent=commit.parents[0], path=change.path, line=found[0],
            language=language, parent_text=parent_text, fixed_text=fixed_text, message=commit.message,
            commit_date=commit.date, other_files=tuple(f.path for f in commit.files if f is not change),
        ),
        cfg,
    )  # fmt: skip
