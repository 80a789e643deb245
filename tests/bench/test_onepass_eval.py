"""bench/onepass_eval.py end to end with --tiny: both evaluation paths run in alternating order and
give identical records (the benchmark's own agreement check is what is asserted, not its times)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import onepass_eval  # noqa: E402


def test_tiny_end_to_end(tmp_path):
    out = tmp_path / "onepass_eval.json"
    result = onepass_eval.main(["--tiny", "--threads", "1", "--repeats", "2", "--prompts", "5", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert out.with_suffix(".md").is_file() and saved["environment"]["cpu"]
    assert result["cases"] == 5 and result["identical_records"] == 5
    assert result["max_margin_difference"] < 1e-3
    assert len(result["seconds"]["separate"]) == len(result["seconds"]["one pass"]) == 2
    assert result["speedup"]["n"] == 2 and result["speedup"]["min"] <= result["speedup"]["max"]
