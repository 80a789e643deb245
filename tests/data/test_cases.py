"""Tests for the HotfixCase schema and its JSONL reading/writing (codehotfix.data.cases)."""

from __future__ import annotations

import gzip
import json

import pytest

from codehotfix.data.cases import (
    HotfixCase,
    case_from_dict,
    iter_jsonl,
    normalize_line,
    read_cases,
    validate_case,
    write_cases,
)
from codehotfix.errors import CodehotfixError, DataError

GOOD = {"id": "c1", "prefix": "def f(x):\n", "buggy": "    if x == None:", "fixed": "    if x is None:"}


def _write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_normalize_line_removes_all_whitespace():
    assert normalize_line("x = f(a, b)") == normalize_line("x=f(a,b)") == "x=f(a,b)"
    assert normalize_line("\tif  x :\r") == "ifx:"
    assert normalize_line("x = a + b") != normalize_line("x = a - b")


def test_case_from_dict_fills_defaults_and_strips_trailing_newline():
    case = case_from_dict({**GOOD, "buggy": "    if x == None:\n"}, "f.jsonl:1")
    assert case == HotfixCase(id="c1", prefix="def f(x):\n", buggy="    if x == None:", fixed="    if x is None:")
    assert (case.suffix, case.language, case.group, case.source) == ("", "python", None, {})


def test_write_then_read_round_trips(tmp_path):
    cases = [
        HotfixCase(**GOOD, suffix="        return 0\n", language="python", group="g", source={"line": 3}),
        HotfixCase(id="c2", prefix="", buggy="x = 1", fixed="x = 2"),
    ]
    path = write_cases(tmp_path / "out" / "cases.jsonl", cases)
    assert read_cases(path) == cases
    assert len(path.read_text().splitlines()) == 2


def test_iter_jsonl_reads_gzip_and_skips_blank_lines_keeping_line_numbers(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps(GOOD) + "\n\n" + json.dumps({**GOOD, "id": "c2"}) + "\n")
    assert [(w, o["id"]) for w, o in iter_jsonl(path)] == [(f"{path}:1", "c1"), (f"{path}:3", "c2")]


@pytest.mark.parametrize(
    "row, expected",
    [
        ('{"id": "c2", "prefix": ', ":2: not valid JSON"),
        ({k: v for k, v in GOOD.items() if k != "fixed"} | {"id": "c2"}, ":2: missing required field(s) 'fixed'"),
        ({**GOOD, "id": "c2", "repo": "x"}, ":2: unknown field(s) 'repo'"),
        ({**GOOD, "id": "c2", "fixed": "    if x  ==  None:"}, ":2: fields 'buggy' and 'fixed' are the same line"),
        ({**GOOD, "id": "c2", "buggy": 3}, ":2: field 'buggy' must be a string, got int"),
        ({**GOOD, "id": "c2", "buggy": "a = 1\nb = 2"}, ":2: field 'buggy' must be a single line"),
        ({**GOOD, "id": "c2", "fixed": "   "}, ":2: field 'fixed' is empty"),
        ({**GOOD, "id": "c2", "prefix": "def f(x):"}, ":2: field 'prefix' must end with a newline"),
        ({**GOOD, "id": "  "}, ":2: field 'id' is empty"),
        (["not", "an", "object"], ":2: expected a JSON object, got list"),
        (GOOD, ":2: duplicate id 'c1' (first at "),
    ],
)
def test_read_cases_errors_name_file_line_and_field(tmp_path, row, expected):
    path = _write_jsonl(tmp_path / "cases.jsonl", [GOOD, row])
    with pytest.raises(DataError) as info:
        read_cases(path)
    assert f"{path}{expected}" in str(info.value)


def test_read_cases_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")
    with pytest.raises(DataError, match="contains no cases"):
        read_cases(empty)
    with pytest.raises(DataError, match="no such file"):
        read_cases(tmp_path / "absent.jsonl")


def test_validate_case_checks_source_type_and_errors_share_a_base():
    bad = HotfixCase(**GOOD, source=["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(CodehotfixError, match="here:7: field 'source' must be an object"):
        validate_case(bad, "here:7")
