"""Scanning files, folders and JSONL: locations, skipped files, and errors naming file and line."""

import json

import pytest

from codehotfix.errors import DataError
from codehotfix.privacy.scan import scan_paths


def test_folder_scan_reports_locations_and_skips_with_reasons(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "settings.py").write_text('DEBUG = False\nHOST = "84.201.17.33"\n')
    (tmp_path / "pkg" / "blob.bin").write_bytes(b"\x00\x01ops@korvimex.com")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("email = ops@korvimex.com\n")
    result = scan_paths([tmp_path], progress=False)
    assert [f.location for f in result.findings] == [f"{tmp_path}/pkg/settings.py:2:9"]
    assert result.files == 1 and result.counts() == {"ipv4": 1}
    assert result.skipped == [{"path": str(tmp_path / "pkg" / "blob.bin"), "reason": "binary (NUL byte)"}]


def test_jsonl_records_are_scanned_per_field(tmp_path):
    data = tmp_path / "data.jsonl"
    rows = [{"content": "x = 1\nmail = 'ops@korvimex.com'\n", "repo": "a/b"}, {"content": "y = 2\n", "n": 3}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (f,) = scan_paths([data], progress=False).findings
    assert (f.path, f.line, f.field, f.field_line, f.column, f.value) == (
        str(data), 1, "content", 2, 9, "ops@korvimex.com")
    assert f.location == f"{data}:1[content:2]:9"
    with pytest.raises(DataError, match=r"data.jsonl:1: missing field\(s\) 'text'"):
        scan_paths([data], fields=["text"], progress=False)


def test_bad_input_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "ok"}\n{not json\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: not valid JSON"):
        scan_paths([bad], progress=False)
    with pytest.raises(DataError, match="no such file or folder"):
        scan_paths([tmp_path / "missing"], progress=False)
