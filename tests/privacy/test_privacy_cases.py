"""Occurrences become cases: placeholder line, prefix, stable ids, errors."""

import pytest

from codehotfix.data.cases import read_cases, write_cases
from codehotfix.errors import ConfigError, DataError
from codehotfix.privacy.cases import CaseBuildConfig, build_cases, cases_for_text, redact_line
from codehotfix.privacy.detect import Finding, scan_text

TEXT = '''"""Settings."""
import os

ADMINS = [("Oreb Tanvil", "oreb@tanvilgroup.co"), ("Ops", "ops@tanvilgroup.co")]
DB_HOST = "84.201.17.33"
API_KEY = "AKIAZ7QH3K2LMXW9R4TB"
DEBUG = False
'''


def test_one_case_per_line_with_every_value_replaced():
    cases = cases_for_text(TEXT, "app/settings.py", scan_text(TEXT, "app/settings.py"), CaseBuildConfig(prefix_lines=2))
    assert [c.source["line"] for c in cases] == [4, 5, 6]
    admins, host, key = cases
    assert admins.fixed == 'ADMINS = [("Oreb Tanvil", "<EMAIL>"), ("Ops", "<EMAIL>")]'
    assert admins.buggy == TEXT.splitlines()[3] and admins.source["kinds"] == ["email", "email"]
    assert admins.prefix == "import os\n\n"  # the 2 lines before
    assert host.fixed == 'DB_HOST = "<IP_ADDRESS>"' and key.fixed == 'API_KEY = "<KEY>"'
    assert host.group == "app/settings.py" and host.language == "python"
    col, length = host.source["spans"][0]
    assert host.buggy[col - 1:col - 1 + length] == "84.201.17.33"


def test_ids_are_stable_and_cases_round_trip(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "settings.py").write_text(TEXT)
    first, stats = build_cases([tmp_path], relative_to=tmp_path, progress=False)
    again, _ = build_cases([tmp_path / "app"], relative_to=tmp_path, progress=False)
    assert [c.id for c in first] == [c.id for c in again] and len({c.id for c in first}) == 3
    assert stats["files_with_pii"] == 1 and stats["findings"] == 4
    assert read_cases(write_cases(tmp_path / "c.jsonl", first)) == first


def test_bad_input_is_an_error(tmp_path):
    (tmp_path / "clean.py").write_text("x = 1\n")
    with pytest.raises(DataError, match="no PII found"):
        build_cases([tmp_path], progress=False)
    with pytest.raises(DataError, match="given twice"):
        (tmp_path / "s.py").write_text(TEXT)
        build_cases([tmp_path / "s.py", tmp_path / "s.py"], progress=False)
    wrong = Finding("email", "ops@tanvilgroup.co", "s.py", 4, 1)
    with pytest.raises(DataError, match="s.py:4: column 1 does not hold the email value"):
        redact_line(TEXT.splitlines()[3], [wrong])
    with pytest.raises(DataError, match="line out of range"):
        cases_for_text("x = 1\n", "s.py", [Finding("email", "a@b.co", "s.py", 9, 1)])
    with pytest.raises(ConfigError, match="prefix_lines"):
        CaseBuildConfig(prefix_lines=-1)
