"""bench/sequence_timeline.py: a sequence folder's write times by key, added to timeline.json without
replacing a time it already holds (a resumed run rewrites the ledger; its first time stays)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import sequence_timeline  # noqa: E402


def _touch(path: Path, when: float, text: str = "{}") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, (when, when))


def test_times_are_read_by_key_and_held_ones_are_kept(tmp_path):
    _touch(tmp_path / "sequence.json", 100.0)
    _touch(tmp_path / "base.json", 200.0)
    _touch(tmp_path / "adapters" / "single" / "001-a" / "hotfix.json", 250.0)
    _touch(tmp_path / "adapters" / "continual" / "002-b" / "hotfix.json", 300.0)
    _touch(tmp_path / "continual" / "step-002.json", 400.0)
    assert sequence_timeline.main([str(tmp_path)]) == 0
    first = json.loads((tmp_path / "timeline.json").read_text())
    assert {k: v for k, v in first.items() if k != "about"} == {
        "ledger": 100.0, "base": 200.0, "single": {"1": 250.0}, "continual": {"2": 300.0},
        "step_2": {"continual": 400.0}}
    # resumed: the ledger is rewritten and a new step lands; the first times stay, the new one is added
    _touch(tmp_path / "sequence.json", 900.0)
    _touch(tmp_path / "adapters" / "continual" / "004-d" / "hotfix.json", 950.0)
    _touch(tmp_path / "continual" / "step-004.json", 990.0)
    sequence_timeline.main([str(tmp_path)])
    again = json.loads((tmp_path / "timeline.json").read_text())
    assert again["ledger"] == 100.0 and again["continual"] == {"2": 300.0, "4": 950.0}
    assert again["step_4"] == {"continual": 990.0} and again["about"] == first["about"]
