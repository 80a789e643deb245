"""Tests for the format loaders (codehotfix.data.loaders): each maps its hand-written fixture in
tests/assets/data exactly, reports the records it leaves out, and fails with errors that name the
file, the line (or record) and the field."""

from __future__ import annotations

import csv
import gzip
import json
import re
from pathlib import Path

import pytest

from codehotfix.data.cases import HotfixCase
from codehotfix.data.loaders import LOADERS, load_cases
from codehotfix.data.loaders._records import LeftOutWarning
from codehotfix.errors import DataError

ASSETS = Path(__file__).parent.parent / "assets" / "data"
PYSSTUBS = ASSETS / "pysstubs_small.jsonl"
JAVA = ASSETS / "manysstubs4j_small.jsonl"
HUMANEVALFIX = ASSETS / "humanevalpack_small.jsonl"
JESSE = ASSETS / "sstub_input_small.csv"
SSTUBS = ASSETS / "sstubs_small.json"
REAL = Path("/work/shared/data")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _raises(path: Path, message: str):
    """Expects a DataError whose message starts with ``<path><message>``, taken literally."""
    return pytest.raises(DataError, match="^" + re.escape(f"{path}{message}"))


def _raises_exactly(path: Path, message: str):
    """Expects a DataError whose message is exactly ``<path><message>``."""
    return pytest.raises(DataError, match="^" + re.escape(f"{path}{message}") + "$")


def _write_rows(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_every_format_is_registered():
    assert LOADERS.names() == ["humanevalfix", "jesse_csv", "jsonl", "manysstubs4j", "pysstubs", "sstubs_json"]


@pytest.mark.parametrize(
    "path, loader",
    [(PYSSTUBS, "pysstubs"), (JAVA, "manysstubs4j"), (JESSE, "jesse_csv"), (SSTUBS, "sstubs_json"),
     (HUMANEVALFIX, "humanevalfix")],
)
def test_auto_detection_uses_the_same_loader(path, loader, recwarn):
    assert load_cases(path) == LOADERS.get(loader)(path)


# --- pysstubs -------------------------------------------------------------------------------


def test_pysstubs_maps_every_field():
    cases = LOADERS.get("pysstubs")(PYSSTUBS)
    assert [c.id for c in cases] == [
        "pallets/click@aaa111:src/click/utils.py:12",
        "pallets/click@bbb222:src/click/core.py:40",
        "psf/requests@ccc333:requests/utils.py:7",
    ]
    assert cases[0] == HotfixCase(
        id="pallets/click@aaa111:src/click/utils.py:12",
        prefix="import sys\n\n\ndef echo(msg, err=False):\n",
        buggy="    out = sys.stdout if err else sys.stderr",
        fixed="    out = sys.stderr if err else sys.stdout",
        suffix="    out.write(msg)\n",
        language="python",
        group="pallets/click",
        source={
            "repo": "pallets/click", "commit": "aaa111", "parent": "aaa000", "path": "src/click/utils.py",
            "line": 12, "pattern": "swapped arguments", "license": "BSD-3-Clause",
            "complete_statement": True, "message_first_line": "fix echo to stderr",
        },
    )
    assert [c.group for c in cases] == ["pallets/click", "pallets/click", "psf/requests"]
    assert cases[1].suffix == ""


def test_pysstubs_malformed_json_line_names_file_and_line(tmp_path):
    lines = PYSSTUBS.read_text().splitlines()
    path = _write_rows(tmp_path / "pysstubs.jsonl", [lines[0], lines[1][:-5]])
    with _raises(path, ":2: not valid JSON"):
        LOADERS.get("pysstubs")(path)


def test_pysstubs_missing_field_names_file_line_and_field(tmp_path):
    rows = _rows(PYSSTUBS)
    del rows[2]["fixed_line"], rows[2]["repo"]
    path = _write_rows(tmp_path / "pysstubs.jsonl", rows)
    with pytest.raises(DataError) as info:
        LOADERS.get("pysstubs")(path)
    assert str(info.value) == f"{path}:3: missing required field(s) 'fixed_line', 'repo'"


def test_pysstubs_wrong_type_names_the_source_field(tmp_path):
    rows = _rows(PYSSTUBS)
    rows[1]["buggy_line"] = None
    path = _write_rows(tmp_path / "pysstubs.jsonl", rows)
    with _raises_exactly(path, ":2: field 'buggy_line' must be a string, got NoneType"):
        LOADERS.get("pysstubs")(path)


def test_pysstubs_buggy_equal_to_fixed_is_an_error(tmp_path):
    rows = _rows(PYSSTUBS)
    rows[0]["fixed_line"] = rows[0]["buggy_line"]
    path = _write_rows(tmp_path / "pysstubs.jsonl", rows)
    with _raises(path, ":1: fields 'buggy_line' and 'fixed_line' are identical"):
        LOADERS.get("pysstubs")(path)


def test_pysstubs_duplicate_id_and_empty_file(tmp_path):
    rows = _rows(PYSSTUBS)
    path = _write_rows(tmp_path / "pysstubs.jsonl", [rows[0], rows[1], rows[0]])
    with _raises_exactly(path, f":3: duplicate id {rows[0]['id']!r} (first at {path}:1)"):
        LOADERS.get("pysstubs")(path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with _raises_exactly(empty, ": contains no records"):
        LOADERS.get("pysstubs")(empty)


def test_whitespace_only_change_is_left_out_with_a_warning(tmp_path):
    rows = _rows(PYSSTUBS)
    rows[1]["fixed_line"] = "    return  items[len(items)]"
    path = _write_rows(tmp_path / "pysstubs.jsonl", rows)
    with pytest.warns(LeftOutWarning) as record:
        cases = LOADERS.get("pysstubs")(path)
    assert [c.id for c in cases] == [rows[0]["id"], rows[2]["id"]]
    (warning,) = record
    assert warning.message.left_out == {
        "buggy and fixed lines differ only in whitespace, which normalize_line ignores": [rows[1]["id"]]
    }
    assert str(warning.message).startswith(f"{path}: left out 1 of 3 records")
    assert rows[1]["id"] in str(warning.message)


# --- manysstubs4j ---------------------------------------------------------------------------


def test_manysstubs4j_maps_every_field():
    cases = LOADERS.get("manysstubs4j")(JAVA)
    assert [c.id for c in cases] == ["ManySStuBs4J-bugs/0", "ManySStuBs4J-bugs/7", "ManySStuBs4J-bugs/12"]
    assert cases[0] == HotfixCase(
        id="ManySStuBs4J-bugs/0",
        prefix="class A {\n  int f(int n) {\n",
        buggy="    return n + 1;",
        fixed="    return n - 1;",
        suffix="  }\n}\n",
        language="java",
        group="core/src/main/java/org/x/A.java",
        source={"file_path": "core/src/main/java/org/x/A.java", "buggy_line_no": 3, "bugs_json_index": 0,
                "context_before_truncated": False, "project": "org/x"},
    )
    # CRLF files keep their line endings verbatim, in the lines as in the context.
    assert cases[1].buggy == '    return s == "x";\r'
    assert cases[1].prefix == "class A {\r\n  boolean g(String s) {\r\n"
    # A context without a final newline gets one, so the buggy line starts a line.
    assert cases[2].prefix == "class B {\n"
    assert cases[0].group == cases[1].group != cases[2].group


def test_manysstubs4j_reads_gzip(tmp_path):
    path = tmp_path / "manysstubs4j_bugs_singleline.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(JAVA.read_text())
    assert load_cases(path) == LOADERS.get("manysstubs4j")(JAVA)


def test_manysstubs4j_missing_field(tmp_path):
    rows = _rows(JAVA)
    del rows[1]["context_before"]
    path = _write_rows(tmp_path / "manysstubs4j.jsonl", rows)
    with _raises_exactly(path, ":2: missing required field(s) 'context_before'"):
        LOADERS.get("manysstubs4j")(path)


# --- humanevalfix ---------------------------------------------------------------------------


def test_humanevalfix_keeps_one_line_fixes_and_warns_about_the_rest():
    with pytest.warns(LeftOutWarning) as record:
        cases = LOADERS.get("humanevalfix")(HUMANEVALFIX)
    assert len(cases) == 1
    (case,) = cases
    assert case.id == "HumanEvalFix/Python/0"
    assert case.prefix == 'def add(a, b):\n    """Adds a and b."""\n'
    assert (case.buggy, case.fixed, case.suffix) == ("    s = a - b", "    s = a + b", "    return s\n")
    assert (case.group, case.language) == ("Python/0", "python")
    assert case.source == {
        "task_id": "Python/0", "entry_point": "add", "test": "def check(add):\n    assert add(1, 2) == 3\n",
        "bug_type": "operator misuse", "canonical_solution": "    s = a + b\n    return s\n",
        "buggy_solution": "    s = a - b\n    return s\n",
    }
    (warning,) = record
    assert warning.message.left_out == {
        "buggy and canonical solutions have different line counts (a line added or removed)": ["HumanEvalFix/Python/1"],
        "buggy and canonical solutions differ in more than one line": ["HumanEvalFix/Python/2"],
        "buggy and fixed lines differ only in whitespace, which normalize_line ignores": ["HumanEvalFix/Python/3"],
    }
    assert str(warning.message).startswith(f"{HUMANEVALFIX}: left out 3 of 4 records")


def test_humanevalfix_case_rebuilds_both_solutions():
    with pytest.warns(LeftOutWarning):
        (case,) = LOADERS.get("humanevalfix")(HUMANEVALFIX)
    prompt = 'def add(a, b):\n    """Adds a and b."""\n'
    assert case.prefix + case.fixed + "\n" + case.suffix == prompt + case.source["canonical_solution"]
    assert case.prefix + case.buggy + "\n" + case.suffix == prompt + case.source["buggy_solution"]


def test_humanevalfix_all_left_out_is_an_error(tmp_path):
    rows = _rows(HUMANEVALFIX)
    path = _write_rows(tmp_path / "humanevalpack.jsonl", rows[1:3])
    with _raises(path, ": left out 2 of 2 records"):
        LOADERS.get("humanevalfix")(path)


def test_humanevalfix_prompt_must_end_with_a_newline(tmp_path):
    rows = _rows(HUMANEVALFIX)
    rows[0]["prompt"] = rows[0]["prompt"].rstrip("\n")
    path = _write_rows(tmp_path / "humanevalpack.jsonl", rows)
    with _raises(path, ":1: field 'prompt' must end with a newline"):
        LOADERS.get("humanevalfix")(path)


def test_humanevalfix_identical_solutions_and_missing_field(tmp_path):
    rows = _rows(HUMANEVALFIX)
    rows[0]["buggy_solution"] = rows[0]["canonical_solution"]
    path = _write_rows(tmp_path / "humanevalpack.jsonl", rows)
    with _raises(path, ":1: fields 'buggy_solution' and 'canonical_solution' are identical"):
        LOADERS.get("humanevalfix")(path)
    rows = _rows(HUMANEVALFIX)
    del rows[3]["entry_point"]
    path = _write_rows(tmp_path / "humanevalpack.jsonl", rows)
    with _raises_exactly(path, ":4: missing required field(s) 'entry_point'"):
        LOADERS.get("humanevalfix")(path)


# --- jesse_csv ------------------------------------------------------------------------------


def test_jesse_csv_rebuilds_whole_lines_and_warns_about_multi_line_bugs():
    with pytest.warns(LeftOutWarning) as record:
        cases = LOADERS.get("jesse_csv")(JESSE)
    assert [c.id for c in cases] == ["jesse/11", "jesse/12", "jesse/14"]
    assert cases[0] == HotfixCase(
        id="jesse/11",
        prefix="public int max(int a, int b) {\n",
        buggy="    return a < b ? a : b;",
        fixed="    return a > b ? a : b;",
        suffix="}\n",
        language="java",
        group="https://github.com/acme/util",
        source={"id": "11", "identifier": "max", "bugType": "CHANGE_OPERATOR", "buggy_commit": "c11",
                "repository_url": "https://github.com/acme/util", "bug_timestamp": "1600000000",
                "num_commits_til_fix": "1"},
    )
    # The changed node sits mid-line: the line's head comes from condition, its tail from post_conditional.
    assert cases[1].prefix == "boolean isEmpty(String s) {\n"
    assert (cases[1].buggy, cases[1].fixed) == ("    if (s.length() == 1) {", "    if (s.length() == 0) {")
    assert cases[1].suffix == "        return true;\n    }\n"
    assert (cases[2].buggy, cases[2].fixed) == ("    stream.flush();", "    stream.close();")
    assert cases[2].group is None
    (warning,) = record
    assert warning.message.left_out == {"the bug or the fix spans more than one line": ["jesse/13"]}


def test_jesse_csv_wrong_columns_is_one_error_listing_the_columns(tmp_path):
    path = tmp_path / "sstubs.csv"
    path.write_text("id,before,bug,patch,post_conditional\n1,a,b,c,d\n")
    with pytest.raises(DataError) as info:
        LOADERS.get("jesse_csv")(path)
    assert str(info.value) == (
        f"{path}: missing required column(s) 'condition', 'fix'; "
        "found columns: id, before, bug, patch, post_conditional"
    )


def test_jesse_csv_errors_name_the_starting_line_of_the_row(tmp_path):
    with open(JESSE, newline="") as f:
        rows = list(csv.DictReader(f))
    rows[1]["fix"] = rows[1]["bug"]
    path = tmp_path / "sstub_input.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    # Row 1 spans lines 2-5 of the file (its code cells hold newlines), so row 2 starts on line 6.
    with _raises(path, ":6: fields 'bug' and 'fix' are identical"):
        LOADERS.get("jesse_csv")(path)


def test_jesse_csv_short_row_empty_id_and_empty_file(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id,condition,bug,fix,post_conditional\n1,x\n,y,z\n")
    with _raises(path, ":2: row is missing column(s) 'bug', 'fix', 'post_conditional'"):
        LOADERS.get("jesse_csv")(path)
    path.write_text("id,condition,bug,fix,post_conditional\n ,c,b,f,p\n")
    with _raises_exactly(path, ":2: column 'id' is empty"):
        LOADERS.get("jesse_csv")(path)
    path.write_text("id,condition,bug,fix,post_conditional\n1,c,b,f,p,extra\n")
    with _raises_exactly(path, ":2: row has 6 fields but the header has 5"):
        LOADERS.get("jesse_csv")(path)
    path.write_text("")
    with _raises(path, ": contains no records"):
        LOADERS.get("jesse_csv")(path)
    path.write_text("id,condition,bug,fix,post_conditional\n")
    with _raises_exactly(path, ": contains no records"):
        LOADERS.get("jesse_csv")(path)


# --- sstubs_json ----------------------------------------------------------------------------


def test_sstubs_json_maps_every_field_and_warns_about_multi_line_sources():
    with pytest.warns(LeftOutWarning) as record:
        cases = LOADERS.get("sstubs_json")(SSTUBS)
    assert [c.id for c in cases] == ["sstubs_small/0", "sstubs_small/1"]
    assert cases[0] == HotfixCase(
        id="sstubs_small/0",
        prefix="",
        buggy="a < b",
        fixed="a <= b",
        suffix="",
        language="java",
        group="apache.commons-lang",
        source={"bugType": "CHANGE_OPERATOR", "commitSHA1": "f1", "fixCommitParentSHA1": "p1",
                "bugFilePath": "src/A.java", "fixPatch": "@@ -1,3 +1,3 @@\n-if (a < b) {\n+if (a <= b) {\n",
                "projectName": "apache.commons-lang", "bugLineNum": 10, "bugNodeStartChar": 100,
                "bugNodeLength": 5, "fixLineNum": 10, "fixNodeStartChar": 100, "fixNodeLength": 6},
    )
    assert cases[1].group == "google.guava"
    (warning,) = record
    assert warning.message.left_out == {"the bug or the fix spans more than one line": ["sstubs_small/2"]}


def test_sstubs_json_errors_name_the_record_and_field(tmp_path):
    records = json.loads(SSTUBS.read_text())
    del records[1]["sourceAfterFix"]
    path = tmp_path / "sstubs.json"
    path.write_text(json.dumps(records))
    with _raises_exactly(path, ":record 1: missing required field(s) 'sourceAfterFix'"):
        LOADERS.get("sstubs_json")(path)
    records = json.loads(SSTUBS.read_text())
    records[0]["sourceAfterFix"] = "a  <  b"
    path.write_text(json.dumps(records))
    with pytest.warns(LeftOutWarning, match="differ only in whitespace"):
        assert [c.id for c in LOADERS.get("sstubs_json")(path)] == ["sstubs/1"]
    records[0]["sourceAfterFix"] = "a < b"
    path.write_text(json.dumps(records))
    with _raises(path, ":record 0: fields 'sourceBeforeFix' and 'sourceAfterFix' are identical"):
        LOADERS.get("sstubs_json")(path)


def test_sstubs_json_malformed_not_an_array_and_empty(tmp_path):
    path = tmp_path / "sstubs.json"
    path.write_text('[\n  {"projectName": "p",\n   "sourceBeforeFix": "a" "sourceAfterFix": "b"}\n]\n')
    with _raises_exactly(path, ":3: not valid JSON (Expecting ',' delimiter at column 27)"):
        LOADERS.get("sstubs_json")(path)
    path.write_text('{"projectName": "p"}')
    with _raises_exactly(path, ": expected a JSON array of objects, got dict"):
        LOADERS.get("sstubs_json")(path)
    path.write_text("[]")
    with _raises_exactly(path, ": contains no records"):
        LOADERS.get("sstubs_json")(path)
    path.write_text("  \n")
    with _raises_exactly(path, ": contains no records (empty file)"):
        LOADERS.get("sstubs_json")(path)
    path.write_text('[["a", "b"]]')
    with _raises_exactly(path, ":record 0: expected a JSON object, got list"):
        LOADERS.get("sstubs_json")(path)


@pytest.mark.parametrize("loader", ["pysstubs", "manysstubs4j", "humanevalfix", "jesse_csv", "sstubs_json"])
def test_missing_file_is_a_data_error(tmp_path, loader):
    with pytest.raises(DataError, match="no such file"):
        LOADERS.get(loader)(tmp_path / "absent")


# --- the real files (read-only, outside the repo) -------------------------------------------

_REAL_FILES = [
    # Whitespace inside string literals counts (normalize_line keeps it), so every record with a
    # real change becomes a case: ManySStuBs4J-bugs/2653 differs only by a non-breaking space
    # inside a string, HumanEvalFix 28/86/91 only by spaces inside strings.
    ("pysstubs", "pysstubs_mined/pysstubs_mined.jsonl", 614, {}),
    ("manysstubs4j", "manysstubs4j_singleline_java/manysstubs4j_bugs_singleline.jsonl.gz", 8839, {}),
    # 135 tasks change exactly one line.
    ("humanevalfix", "humanevalfix_python/humanevalpack_python.jsonl", 135,
     {"buggy and canonical solutions have different line counts (a line added or removed)": 16,
      "buggy and canonical solutions differ in more than one line": 13}),
]


@pytest.mark.skipif(not REAL.exists(), reason="real data not mounted at /work/shared/data")
@pytest.mark.parametrize("loader, rel, n_cases, left_out", _REAL_FILES)
def test_real_files_load_with_the_expected_counts(loader, rel, n_cases, left_out):
    import warnings

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        cases = LOADERS.get(loader)(REAL / rel)
    assert len(cases) == n_cases
    assert len({c.id for c in cases}) == n_cases
    found = {
        reason: len(ids)
        for w in record
        if isinstance(w.message, LeftOutWarning)
        for reason, ids in w.message.left_out.items()
    }
    assert found == left_out
