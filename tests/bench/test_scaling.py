"""bench/scaling.py end to end with --tiny on the packaged pack (no shared data needed): every point
of both sweeps trains from a fresh load, the training sets are nested prefixes of one pool, and the
effect is measured against the same untrained model. No timings are asserted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import scaling  # noqa: E402
from codehotfix.errors import CodehotfixError, ConfigError  # noqa: E402

PACK = Path(__file__).resolve().parents[2] / "src" / "codehotfix" / "data" / "packs" / "default.jsonl"


def test_tiny_end_to_end(tmp_path):
    out = tmp_path / "scaling.json"
    result = scaling.main(["--tiny", "--data", str(PACK), "--sizes", "8,16", "--contexts", "32,64",
                           "--context-cases", "8", "--test", "6", "--threads", "1", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["by_cases"] == result["by_cases"] and out.with_suffix(".md").is_file()
    assert [r["cases"] for r in result["by_cases"]] == [8, 16]
    assert [r["context_tokens"] for r in result["by_context"]] == [32, 64]
    assert len(result["test_ids"]) == 6
    bases: dict[int, dict] = {}
    for row in result["by_cases"] + result["by_context"]:
        assert row["epochs"] == 1 and row["steps"] == -(-row["cases"] // 8)  # batch 8, one epoch
        assert row["tokens"] > 0 and row["train_s"] > 0
        assert row["held_out_margin_gain"] == row["held_out"]["after"]["margin_gain"]
        # every point at one context length measures against the same untrained model and cases
        assert row["held_out"]["base"] == bases.setdefault(row["context_tokens"], row["held_out"]["base"])
    # a second run into the same file is refused rather than overwriting it
    with pytest.raises(CodehotfixError, match="--force"):
        scaling.main(["--tiny", "--data", str(PACK), "--out", str(out)])


def test_too_few_cases_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"default\.jsonl: 410 cases, but the largest size \(1000\)"):
        scaling.main(["--tiny", "--data", str(PACK), "--sizes", "1000", "--out", str(tmp_path / "s.json")])
