"""bench/head_contiguous.py end to end with --tiny: both calls of the head run and give the same
logits (the script's own agreement check is asserted, not its times)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import head_contiguous  # noqa: E402


def test_tiny_end_to_end(tmp_path):
    out = tmp_path / "head_contiguous.json"
    result = head_contiguous.main(["--tiny", "--threads", "1", "--repeats", "2", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert out.with_suffix(".md").is_file() and saved["environment"]["cpu_flags"] is not None
    assert {(r["dtype"], r["rows"], r["positions"]) for r in result["results"]} == {
        (d, rows, pos) for d in ("bfloat16", "float32") for rows, pos, _ in head_contiguous.SHAPES}
    for row in result["results"]:
        assert len(row["seconds"]["strided"]) == len(row["seconds"]["copied first"]) == 2
        assert row["max_abs_logit_difference"] <= (0.05 if row["dtype"] == "bfloat16" else 1e-5)
