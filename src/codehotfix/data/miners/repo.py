"""Reading a local git repository through the git CLI (``git`` must be on PATH).

One ``git log --raw --numstat`` stream lists every commit with its changed files, their status, blob
ids and added/deleted line counts, so most commits are screened out without another git call; only
candidates cost blob reads, all through one ``git cat-file --batch`` process (``BlobReader``).
"""

from __future__ import annotations

import codecs
import re
import subprocess
import tokenize
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Iterator

from codehotfix.errors import DataError

__all__ = [
    "CommitInfo",
    "FileChange",
    "git",
    "open_repo",
    "repo_name",
    "repo_license",
    "read_blob",
    "BlobReader",
    "decode",
    "iter_commits",
]

_RS, _US = "\x1e", "\x1f"  # record/unit separators: cannot occur in a commit message git prints


def git(top: Path, *args: str) -> bytes:
    """Runs ``git -C top args…`` and returns stdout.

    Raises:
        DataError: git failed; the message carries git's own first line of error.
    """
    cmd = ["git", "-C", str(top), "-c", "core.quotePath=false", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, check=False)
    except FileNotFoundError:
        raise DataError("git is not installed (the miners need the git command on PATH)") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DataError(f"{top}: git {args[0]} failed: {err[0] if err else 'exit ' + str(proc.returncode)}")
    return proc.stdout


def open_repo(path: str | Path) -> Path:
    """The top folder of the git work tree at or above ``path``.

    Raises:
        DataError: ``path`` does not exist, is not in a git repository, or the repository has no commit.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DataError(f"{path}: no such folder (expected a git repository)")
    proc = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise DataError(f"{path}: not a git repository")
    top = Path(proc.stdout.strip())
    if subprocess.run(["git", "-C", str(top), "rev-parse", "--verify", "-q", "HEAD"], capture_output=True).returncode:
        raise DataError(f"{top}: git repository has no commits")
    return top


def repo_name(top: Path) -> str:
    """``owner/name`` from the ``origin`` remote's URL when there is one, else the folder name."""
    proc = subprocess.run(["git", "-C", str(top), "remote", "get-url", "origin"], capture_output=True, text=True)
    url = proc.stdout.strip() if proc.returncode == 0 else ""
    if not re.match(r"^[\w+.-]+://|^[\w.-]+@[\w.-]+:", url) or url.startswith("file://"):
        return top.name  # no remote, or a clone of a local folder
    m = re.search(r"[:/]([^/:]+/[^/]+?)(?:\.git)?/?$", url)
    return m.group(1) if m else top.name


# (text that identifies a licence, SPDX id), most specific first (LGPL's text names the GPL).
_LICENCES = (
    ("GNU LESSER GENERAL PUBLIC LICENSE", "LGPL"), ("GNU AFFERO GENERAL PUBLIC LICENSE", "AGPL"),
    ("GNU GENERAL PUBLIC LICENSE", "GPL"), ("Apache License", "Apache-2.0"), ("Mozilla Public License", "MPL-2.0"),
    ("Permission is hereby granted, free of charge", "MIT"), ("Neither the name", "BSD-3-Clause"),
    ("Redistribution and use in source and binary forms", "BSD-2-Clause"), ("ISC License", "ISC"),
)  # fmt: skip


def repo_license(top: Path) -> str | None:
    """The licence of the repository's top-level LICENSE/COPYING file at HEAD, as an SPDX-like id.

    "unknown" when the file is there but not recognised, None when there is no such file. The
    licence of HEAD is taken for every commit: cases carry it so that users can filter on it.
    """
    names = git(top, "ls-tree", "--name-only", "HEAD").decode("utf-8", "replace").splitlines()
    for name in names:
        if name.upper().startswith(("LICENSE", "LICENCE", "COPYING")):
            text = read_blob(top, f"HEAD:{name}")[:8000].decode("utf-8", "replace").lower()
            return next((spdx for needle, spdx in _LICENCES if needle.lower() in text), "unknown")
    return None


def read_blob(top: Path, spec: str) -> bytes:
    """The content of a blob given by id or ``rev:path``."""
    return git(top, "cat-file", "blob", spec)


class BlobReader:
    """Reads many blobs through one ``git cat-file --batch`` process (a process per read costs
    more than the mining itself on a long history). Use as a context manager."""

    def __init__(self, top: Path) -> None:
        cmd = ["git", "-C", str(top), "cat-file", "--batch"]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def read(self, spec: str) -> bytes | None:
        """The blob named by id or ``rev:path``; None when there is none (or it is not a blob)."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        if "\n" in spec:
            return None
        self._proc.stdin.write(spec.encode("utf-8") + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().split()
        if len(header) != 3:  # "<spec> missing" / "<spec> ambiguous"
            return None
        data = self._proc.stdout.read(int(header[2]) + 1)[:-1]
        return data if header[1] == b"blob" else None

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait()

    def __enter__(self) -> "BlobReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode(data: bytes, language: str) -> str | None:
    """Source text from bytes: Python by its PEP 263 coding line (UTF-8 default), others UTF-8.

    Returns None for bytes that are not text in that encoding (the change is then skipped).
    """
    try:
        encoding = tokenize.detect_encoding(BytesIO(data).readline)[0] if language == "python" else "utf-8"
        text = data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return None
    return text[1:] if text.startswith("\ufeff") else text


@dataclass(frozen=True)
class FileChange:
    status: str  # M, A, D, R, C, T
    path: str  # the new path (the old one for deletions)
    old_blob: str
    new_blob: str
    added: int | None  # None for binary files
    deleted: int | None


@dataclass
class CommitInfo:
    sha: str
    parents: list[str]
    date: str
    message: str
    files: list[FileChange] = field(default_factory=list)


def _unquote(path: str) -> str:
    if len(path) > 1 and path[0] == path[-1] == '"':
        raw = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        return raw.encode("latin-1", "replace").decode("utf-8", "replace")
    return path


def iter_commits(top: Path, since: str | None = None) -> Iterator[CommitInfo]:
    """Every non-merge commit reachable from HEAD, oldest first, with its changed files.

    Merges are left out: their changes arrive through the commits they merge, which are listed.
    """
    args = ["log", "--no-merges", "--reverse", "-M", "--raw", "--numstat", "--no-abbrev", "--no-color",
            "--no-ext-diff", f"--format={_RS}%H{_US}%P{_US}%cI{_US}%B{_US}"]  # fmt: skip
    if since:
        args.append(f"--since={since}")
    for record in _stream(top, [*args, "HEAD"]):
        sha, parents, date, message, body = record.split(_US, 4)
        info = CommitInfo(sha, parents.split(), date, message)
        counts: list[tuple[int | None, int | None]] = []
        for line in body.split("\n"):
            if line.startswith(":"):
                meta, *paths = line.split("\t")
                fields = meta.split()
                status = fields[4][0]
                path = _unquote(paths[-1])
                info.files.append(FileChange(status, path, fields[2], fields[3], None, None))
            elif line and line[0] in "0123456789-" and "\t" in line:
                added, deleted = line.split("\t", 2)[:2]
                counts.append((None, None) if added == "-" else (int(added), int(deleted)))
        info.files = [
            FileChange(f.status, f.path, f.old_blob, f.new_blob, *c)
            for f, c in zip(info.files, counts + [(None, None)] * (len(info.files) - len(counts)))
        ]
        yield info


def _stream(top: Path, args: list[str]) -> Iterator[str]:
    """The records of a ``git log`` as it prints them, so a long history starts mining at once."""
    cmd = ["git", "-C", str(top), "-c", "core.quotePath=false", *args]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        buffer, decoder = "", codecs.getincrementaldecoder("utf-8")("replace")
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            buffer += decoder.decode(chunk)  # incremental: a character cut between chunks survives
            *records, buffer = buffer.split(_RS)
            yield from (r for r in records if r)
        if buffer:
            yield buffer
        err = proc.stderr.read().decode("utf-8", "replace").strip() if proc.stderr else ""
    if proc.returncode:
        raise DataError(f"{top}: git log failed: {err.splitlines()[0] if err else proc.returncode}")


def count_commits(top: Path, since: str | None = None) -> int:
    args = ["rev-list", "--count", "--no-merges"] + ([f"--since={since}"] if since else [])
    return int(git(top, *args, "HEAD").decode().strip())
