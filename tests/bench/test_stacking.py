"""bench/stacking.py with the tiny model: two hotfixes trained here, each measured alone and combined
every way. Stacking two adapters and concatenating them into one (merge_cat) compute the same sum of
LoRA products, so every case's margin rise must agree between the two."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import stacking  # noqa: E402


def test_tiny_stack_equals_cat(tmp_path):
    out = tmp_path / "stacking.json"
    result = stacking.main(["--model", "tiny", "--threads", "1", "--modes", "stack,merge_cat,merge_svd",
                            "--out", str(out)])
    assert json.loads(out.read_text())["best"] == result["best"]
    assert len(result["hotfixes"]) == 2 and set(result["modes"]) == {"stack", "merge_cat", "merge_svd"}
    for row in result["hotfixes"].values():
        assert row["alone"]["mean_delta"] > 0  # each trained hotfix raises its own cases' margins
        assert row["stack"]["deltas"] == pytest.approx(row["merge_cat"]["deltas"], abs=1e-3)
        assert len(row["merge_svd"]["deltas"]) == len(row["stack"]["deltas"])
