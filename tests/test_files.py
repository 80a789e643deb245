"""codehotfix.files: the input checks (regular files only, UTF-8 and gzip errors with file:line, a
cap per line) and the output check every command runs before it loads a model."""

from __future__ import annotations

import gzip
import os

import pytest

from codehotfix.errors import DataError, PathError
from codehotfix.files import atomic_folder, check_output, iter_lines, read_text, require_regular_file


def test_non_regular_files_are_refused_without_opening_them(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading would block until a writer appears
    with pytest.raises(DataError, match=f"^{fifo}: is a named pipe \\(FIFO\\), not a regular file"):
        require_regular_file(fifo)
    with pytest.raises(DataError, match="^/dev/zero: is a character device"):
        list(iter_lines("/dev/zero"))
    with pytest.raises(DataError, match=f"^--config {tmp_path}: is a folder"):
        read_text(tmp_path, "--config")
    with pytest.raises(DataError, match="no such file"):
        require_regular_file(tmp_path / "missing")


def test_iter_lines_names_the_line_of_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\xef\xbb\xbffirst\r\nsecond\nthi\xffrd\n")
    lines = iter_lines(path)
    assert next(lines) == (1, "first\r\n") and next(lines) == (2, "second\n")  # BOM dropped, CRLF kept
    with pytest.raises(DataError, match=f"^{path}:3: not valid UTF-8 \\(byte 0xff at byte 4 of the line\\)"):
        next(lines)


def test_read_text_names_the_line_of_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"a: 1\nb: \xe9\n")
    with pytest.raises(DataError, match=f"^{path}:2: not valid UTF-8 \\(byte 0xe9 at byte 4 of the line\\)"):
        read_text(path)


def test_lines_longer_than_the_cap_are_refused(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text("ok\n" + "x" * 50 + "\n")
    with pytest.raises(DataError, match=f"^{path}:2: line longer than 20 bytes"):
        list(iter_lines(path, max_line_bytes=20))
    assert len(list(iter_lines(path, max_line_bytes=51))) == 2  # 50 bytes + newline fits exactly


def test_broken_gzip_is_a_data_error(tmp_path):
    not_gz, truncated = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    not_gz.write_text("plain text\n")
    truncated.write_bytes(gzip.compress(b"line\n" * 1000)[:30])
    with pytest.raises(DataError, match=f"^{not_gz}:1: the compressed file is not valid gzip"):
        list(iter_lines(not_gz))
    with pytest.raises(DataError, match=f"^{truncated}:\\d+: the compressed file is truncated"):
        list(iter_lines(truncated))


def test_check_output_refuses_wrong_kinds_and_paths_under_files(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(PathError, match=f"^--json {tmp_path}: is a folder; give a file path"):
        check_output(tmp_path, "file", "--json")
    with pytest.raises(PathError, match=f"^--out {afile}: is a file; give a folder path"):
        check_output(afile, "folder", "--out")
    with pytest.raises(PathError, match=f"{afile} is a file, not a folder"):
        check_output(afile / "deeper" / "r.json", "file", "--json")
    with pytest.raises(PathError, match="not a regular file"):
        check_output("/dev/null", "file", "--json")  # the atomic rename would replace the device
    assert check_output(tmp_path / "new" / "r.json", "file") == tmp_path / "new" / "r.json"
    assert check_output(afile, "file") == afile  # replacing a file is the caller's decision


def test_atomic_folder_replaces_the_whole_folder_or_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(out) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("interrupted")
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the temporary folder is gone
    with atomic_folder(out) as tmp:
        (tmp / "new.txt").write_text("new")
        assert tmp.parent == tmp_path and not (out / "new.txt").exists()  # readers still see the old one
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
