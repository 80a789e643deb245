"""bench/margin_batching.py end to end with --tiny: line log-probs batched by length come back in input
order, equal to the old input-order batching for every context. No timings are asserted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import margin_batching  # noqa: E402
from codehotfix.errors import CodehotfixError  # noqa: E402


def test_tiny_end_to_end(tmp_path):
    out = tmp_path / "margins.json"
    result = margin_batching.main(["--tiny", "--threads", "1", "--out", str(out)])
    saved = json.loads(out.read_text())
    # written with the machine it ran on beside the numbers, which are what main returned
    assert saved.pop("environment")["cpu_flags"] and saved == result and result["tiny"] is True
    assert result["contexts"] == 205  # 5 training contexts of each of the 41 topics
    # a result handed back to the wrong case would differ by nats, not by float32 rounding
    assert result["max_margin_difference_nats"] < 1e-3
    assert result["same_sign_below_1_nat"] == result["contexts"]
    assert set(result["seconds"]) == {"input order", "by length"}
    with pytest.raises(CodehotfixError, match="--force"):
        margin_batching.main(["--tiny", "--threads", "1", "--out", str(out)])
