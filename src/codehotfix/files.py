"""File helpers every stage shares: atomic writes, JSON results, checksums, and the checks every
input and output path goes through.

Writes go to a temporary file (``atomic_path``) or folder (``atomic_folder``) next to the target and
are renamed into place, so an interrupted run never leaves a half-written result where a finished
one is expected.

Inputs are read through ``require_regular_file`` (a FIFO or ``/dev/zero`` given as a data file
would block or never end), ``iter_lines`` (UTF-8 and gzip errors, and over-long lines, become one
``DataError`` naming the file and line) or ``read_text``. Outputs are checked with
``check_output`` before any work starts, so a bad ``--out`` fails before a model loads, not
after the first epoch.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import stat
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from codehotfix.errors import DataError, PathError

__all__ = ["atomic_path", "atomic_folder", "atomic_write_text", "write_json", "read_json", "sha256_file", "sha256_text", "sha256_files",
           "require_regular_file", "iter_lines", "read_text", "check_output", "MAX_LINE_BYTES"]

# No record of any supported format comes near this (the longest ManySStuBs4J line is ~40 KB); a
# longer line means the wrong file (a binary, a disk image), which would otherwise be read whole.
MAX_LINE_BYTES = 32 << 20

_BOM = b"\xef\xbb\xbf"
_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path next to ``path`` for the caller to write (e.g. a library's
    ``save_file``); when the block ends without error the file is synced and renamed onto ``path``,
    otherwise removed, so ``path`` holds either its old content or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a new empty folder next to ``path`` (``.<name>.<random>``, mode 0700) for the caller to
    fill; when the block ends without error, ``path`` (if it exists) is removed and the folder renamed
    onto it, otherwise the folder is removed. Readers see the old folder or the whole new one; a
    crash between the removal and the rename leaves no ``path`` rather than half of one.

    A killed writer leaves its ``.<name>.*`` folder behind; callers that hold a lock over the
    parent can sweep those (``deploy.store`` does).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` to ``path`` atomically (temp file + rename) and returns the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Writes ``obj`` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 24) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_files(paths: Iterable[str | os.PathLike]) -> str:
    """One checksum over several files (names relative order matters, contents hashed in order)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def require_regular_file(path: str | os.PathLike, what: str = "") -> Path:
    """Checks, without opening it, that ``path`` is a regular file (symlinks followed).

    Opening a FIFO blocks until a writer appears and a device like ``/dev/zero`` never ends, so both
    are refused here, by ``stat``, before anything opens them.

    Raises:
        DataError: naming ``what`` (e.g. "--config") and the path: missing, a folder, or not a
            regular file.
    """
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"{label}: no such file") from None
    except OSError as e:
        raise DataError(f"{label}: cannot be read ({e.strerror})") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{label}: is a folder; pass a file")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise DataError(f"{label}: is {kind}, not a regular file; pass a file")
    return path


def _decode(raw: bytes, where: str, encoding: str = "utf-8") -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        # utf-8-sig counts positions after the byte-order mark it dropped.
        start = e.start + (3 if encoding == "utf-8-sig" and raw.startswith(_BOM) else 0)
        raise DataError(f"{where}: not valid UTF-8 (byte 0x{raw[start]:02x} at byte {start + 1} of the line); "
                        "save the file as UTF-8") from None


def iter_lines(path: str | os.PathLike, max_line_bytes: int | None = None) -> Iterator[tuple[int, str]]:
    """Yields (line number, text) for each line of a UTF-8 text file (``.gz``: gzip-compressed),
    line endings kept, a leading byte-order mark dropped.

    Lines split on ``\\n`` only (a ``\\r\\n`` ending stays on its line), as JSONL and CSV define them.

    Raises:
        DataError: naming the file and line: not a regular file, not UTF-8, a line longer than
            ``max_line_bytes`` (default ``MAX_LINE_BYTES``), or a ``.gz`` that is not gzip or is
            truncated.
    """
    path = require_regular_file(path)
    cap = MAX_LINE_BYTES if max_line_bytes is None else max_line_bytes
    gz = path.suffix == ".gz"
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
        lineno = 0
        while True:
            lineno += 1
            where = f"{path}:{lineno}"
            try:
                raw = f.readline(cap + 1)
            except (OSError, EOFError, zlib.error) as e:
                # gzip raises BadGzipFile (an OSError) for a wrong header, EOFError when truncated.
                problem = "is truncated" if isinstance(e, EOFError) else f"is not valid gzip ({e})"
                raise DataError(f"{where}: the compressed file {problem}") from None
            if not raw:
                return
            if len(raw) > cap:
                raise DataError(f"{where}: line longer than {cap:,} bytes (the limit per line); "
                                "is this the right file?")
            yield lineno, _decode(raw, where, "utf-8-sig" if lineno == 1 else "utf-8")


def read_text(path: str | os.PathLike, what: str = "") -> str:
    """Reads a whole UTF-8 text file (a leading byte-order mark dropped).

    Raises:
        DataError: naming ``what``, the file and, for bytes that are not UTF-8, the line.
    """
    path = require_regular_file(path, what)
    label = f"{what} {path}" if what else str(path)
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start + (3 if raw.startswith(_BOM) else 0)
        line = raw.count(b"\n", 0, start) + 1
        column = start - (raw.rfind(b"\n", 0, start) + 1) + 1
        raise DataError(f"{label}:{line}: not valid UTF-8 (byte 0x{raw[start]:02x} at byte {column} of the line); "
                        "save the file as UTF-8") from None


def _writable_place(path: Path, what: str) -> None:
    """Checks that every existing folder above ``path`` is a folder and the nearest one is writable."""
    label = f"{what} {path}" if what else str(path)
    nearest = None
    for parent in reversed(path.absolute().parents):  # from the root down
        if not parent.exists():
            break
        if not parent.is_dir():
            raise PathError(f"{label}: cannot be created: {parent} is a file, not a folder")
        nearest = parent
    if nearest is not None and not os.access(nearest, os.W_OK | os.X_OK):
        raise PathError(f"{label}: cannot write into {nearest} (permission denied)")


def check_output(path: str | os.PathLike, kind: Literal["file", "folder"], what: str = "") -> Path:
    """Checks that ``path`` can become an output ``kind`` before any work starts.

    Every command that writes calls this first: a bad ``--out`` then fails in a second, not after
    the model has loaded and trained an epoch. The path may exist (callers decide about replacing).

    Args:
        path: the output file or folder.
        kind: "file" (written atomically, so it must not be a folder or a device) or "folder".
        what: the option that named it (e.g. "--json"), for the message.

    Raises:
        PathError: naming ``what`` and the path: a folder where a file is wanted (or the reverse),
            a path under a file, a non-regular file, or a folder that cannot be written.
    """
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    if kind == "file":
        if path.is_dir():
            raise PathError(f"{label}: is a folder; give a file path (e.g. {path / 'result.json'})")
        if path.exists() and not path.is_file():
            # The atomic rename would replace a device node or a FIFO with a regular file.
            raise PathError(f"{label}: exists and is not a regular file")
    elif path.exists() and not path.is_dir():
        raise PathError(f"{label}: is a file; give a folder path")
    _writable_place(path, what)
    return path
