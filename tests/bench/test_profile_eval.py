"""bench/profile_eval.py end to end with --tiny: every decoder and head call of one evaluation is
timed and classified (what is asserted is the accounting, not the times)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import profile_eval  # noqa: E402


def test_tiny_end_to_end(tmp_path):
    out = tmp_path / "profile_eval.json"
    result = profile_eval.main(["--tiny", "--threads", "1", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert out.with_suffix(".md").is_file() and saved["environment"]["cpu"]
    assert result["cases"] == 6 and set(result["events"]) == {"line", "split", "window"}
    d = result["decode"]
    # Every case decodes at least one token, and no step runs more rows than the window and split
    # prompts of all six cases together.
    assert d["steps"] > 0 and d["row_steps"] >= 6
    assert sum(b["steps"] for b in d["by_rows"]) == d["steps"]
    assert result["prefill"]["calls"] > 0 and result["prefill"]["positions"] > 0
    assert result["seconds"] >= result["decoder_seconds"] + result["head_seconds"] - 1e-6
    assert set(result["greedy"]) == {c for c in saved["greedy"]} and len(result["greedy"]) == 6


def test_a_profile_needs_a_run_folder_unless_tiny():
    with pytest.raises(SystemExit):
        profile_eval.main(["--force"])
