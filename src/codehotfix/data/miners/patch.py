"""Unified diffs: a parser shared by both miners, and ``mine_patch`` for a diff file (a PR's diff,
``git format-patch`` or ``diff -u`` output) applied to a repository at a revision.

A patch is taken to be a fix, so no commit-message test is applied; every other rule of the git miner
is (one changed source file, one hunk replacing one line with one line, the ``filters``). The hunk
must match the repository's file at ``rev`` exactly, or ``DataError`` says where it does not.

Usage: ``mine_patch("fix.diff", "path/to/repo", MinerConfig(), rev="HEAD")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from codehotfix.data.miners.base import MINERS, Change, MinerConfig, MineResult, build_case, split_lines, verify_case
from codehotfix.data.miners.langs import is_test_path, language_of
from codehotfix.data.miners.repo import decode, git, open_repo, read_blob, repo_license, repo_name
from codehotfix.errors import DataError

__all__ = ["Hunk", "FileDiff", "parse_unified_diff", "one_line_replacement", "mine_patch"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    lines: list[str] = field(default_factory=list)  # each starts with " ", "-" or "+"


@dataclass
class FileDiff:
    old_path: str | None  # None: the file is new
    new_path: str | None  # None: the file was deleted
    binary: bool = False
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def status(self) -> str:
        if self.old_path is None:
            return "A"
        if self.new_path is None:
            return "D"
        return "M" if self.old_path == self.new_path else "R"


def _path(header: str) -> str | None:
    name = header.split("\t", 1)[0].strip()
    if len(name) > 1 and name[0] == name[-1] == '"':
        name = name[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    if name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


def parse_unified_diff(text: str, where: str = "patch") -> tuple[list[FileDiff], dict[str, str]]:
    """Parses a unified diff into file diffs and the ``From``/``Subject`` of a format-patch header.

    Raises:
        DataError: a hunk header is malformed or a hunk is cut short, naming ``where`` and the line.
    """
    files: list[FileDiff] = []
    header: dict[str, str] = {}
    hunk: Hunk | None = None
    old_left = new_left = 0
    git_header_open = False  # a "diff --git" line whose ---/+++ lines may still follow
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start an empty one
    for n, line in enumerate(lines, 1):
        if hunk is not None and (old_left > 0 or new_left > 0):
            tag = line[:1] or " "  # some tools strip the space of an empty context line
            if tag == "\\":
                continue
            if tag not in " -+":
                raise DataError(f"{where}:{n}: hunk ends early (expected {old_left} old / {new_left} new lines)")
            hunk.lines.append(tag + line[1:])
            old_left -= tag in " -"
            new_left -= tag in " +"
            continue
        if not files and re.match(r"From [0-9a-f]{40} ", line):
            header["commit"] = line.split()[1]
        elif line.startswith("Subject: ") and not files:
            header["message"] = re.sub(r"^\[PATCH[^\]]*\]\s*", "", line[9:])
        elif line.startswith("diff --git "):
            m = re.match(r"diff --git (\S+) (\S+)$", line)
            files.append(FileDiff(_path(m.group(1)), _path(m.group(2))) if m else FileDiff(None, None))
            git_header_open = True
        elif line.startswith("--- ") and n < len(lines) and lines[n].startswith("+++ "):
            if not git_header_open:
                files.append(FileDiff(None, None))
            files[-1].old_path, files[-1].new_path = _path(line[4:]), _path(lines[n][4:])
            git_header_open = False
        elif files and git_header_open and line.startswith(("rename from ", "new file mode", "deleted file mode")):
            if line.startswith("rename from "):
                files[-1].old_path = line[len("rename from ") :]
            else:
                setattr(files[-1], "old_path" if line.startswith("new") else "new_path", None)
        elif files and git_header_open and line.startswith("rename to "):
            files[-1].new_path = line[len("rename to ") :]
        elif files and line.startswith(("Binary files ", "GIT binary patch")):
            files[-1].binary = True
        elif line.startswith("@@"):
            m = _HUNK.match(line)
            if m is None or not files:
                raise DataError(f"{where}:{n}: malformed hunk header {line!r}")
            a, b, c, d = m.groups()
            hunk = Hunk(int(a), int(b or 1), int(c), int(d or 1))
            old_left, new_left = hunk.old_len, hunk.new_len
            files[-1].hunks.append(hunk)
            git_header_open = False
    if hunk is not None and (old_left > 0 or new_left > 0):
        raise DataError(f"{where}: last hunk is cut short ({old_left} old / {new_left} new lines missing)")
    return [f for f in files if f.old_path or f.new_path], header


def one_line_replacement(diff: FileDiff) -> tuple[int, str, str] | None:
    """(line in the old file, old line, new line) when the diff replaces exactly one line by one line."""
    if diff.binary or len(diff.hunks) != 1:
        return None
    body = diff.hunks[0].lines
    changed = [i for i, x in enumerate(body) if x[0] != " "]
    if len(changed) != 2 or body[changed[0]][0] != "-" or changed[1] != changed[0] + 1 or body[changed[1]][0] != "+":
        return None
    return diff.hunks[0].old_start + changed[0], body[changed[0]][1:], body[changed[1]][1:]


@MINERS.register("patch")
def mine_patch(patch: str | Path, repo: str | Path, cfg: MinerConfig, rev: str = "HEAD") -> MineResult:
    """Mines the one-line fix of a unified diff against ``repo`` at ``rev`` (the diff's parent).

    Returns:
        A result with zero or one case; ``stats["skipped"]`` says why when there is none.

    Raises:
        DataError: the patch is unreadable, not a diff, or does not match the repository at ``rev``.
    """
    patch = Path(patch)
    try:
        text = patch.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataError(f"{patch}: no such file") from None
    except UnicodeDecodeError:
        raise DataError(f"{patch}: not UTF-8 text (the miners read diffs of UTF-8 files)") from None
    files, header = parse_unified_diff(text, str(patch))
    if not files:
        raise DataError(f"{patch}: no file diff found (expected a unified diff with ---/+++ lines and @@ hunks)")
    top = open_repo(repo)
    try:
        parent = git(top, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}").decode().strip()
    except DataError:
        raise DataError(f"{top}: {rev!r} is not a revision of this repository (see --rev)") from None
    stats = {"files": len(files), "mined": 0}
    case, reason = _case(files, header, top, parent, cfg, patch, rev)
    # The diff's own commit (format-patch) need not be in the repository: check the parent side.
    if case is not None and not verify_case(top, case, check_fixed=False):
        raise DataError(f"{patch}: the case mined from it does not verify against {top} at {rev}")
    stats.update({"mined": 1} if case else {"skipped": reason})
    return MineResult([case] if case else [], stats)


def _case(files: list[FileDiff], header: dict, top: Path, parent: str, cfg: MinerConfig, patch: Path, rev: str):
    wanted = [
        f for f in files if language_of(f.path) in cfg.languages and (cfg.include_tests or not is_test_path(f.path))
    ]
    if len(wanted) != 1:
        return None, "no-source-file" if not wanted else "many-files"
    diff = wanted[0]
    if diff.status != "M":
        return None, "not-modified"
    found = one_line_replacement(diff)
    if found is None:
        return None, "binary" if diff.binary else "not-one-line"
    line, buggy, fixed = found
    language = language_of(diff.path)
    parent_text = decode(read_blob(top, f"{parent}:{diff.path}"), language)
    if parent_text is None:
        return None, "encoding"
    old = split_lines(parent_text)
    expected = [x[1:] for x in diff.hunks[0].lines if x[0] != "+"]
    start = diff.hunks[0].old_start - 1
    actual = [x.rstrip("\r\n") for x in old[start : start + len(expected)]]
    if [x.rstrip("\r") for x in expected] != actual:
        bad = next((i for i, (e, a) in enumerate(zip(expected, actual)) if e.rstrip("\r") != a), len(actual))
        raise DataError(
            f"{patch}: does not match {top} at {rev}: {diff.path}:{start + bad + 1} is "
            f"{actual[bad] if bad < len(actual) else '(end of file)'!r}, the patch expects {expected[bad]!r}; "
            "pass the revision the diff was made against with --rev"
        )
    ending = old[line - 1][len(old[line - 1].rstrip("\r\n")) :]
    fixed_text = "".join(old[: line - 1]) + fixed.rstrip("\r") + ending + "".join(old[line:])
    change = Change(
        repo=repo_name(top), commit=header.get("commit"), parent=parent, path=diff.path, line=line,
        language=language, parent_text=parent_text, fixed_text=fixed_text, message=header.get("message", ""),
        other_files=tuple(f.path for f in files if f is not diff), license=repo_license(top),
    )  # fmt: skip
    return build_case(change, cfg)
