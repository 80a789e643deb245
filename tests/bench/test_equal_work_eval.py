"""bench/equal_work_eval.py end to end with --tiny: both models decode the same number of tokens for
every prompt, the rounds alternate their order, and the LoRA is applied while timed and taken off after
(what is asserted is the accounting, not the times)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import equal_work_eval  # noqa: E402


def test_tiny_end_to_end(tmp_path):
    out = tmp_path / "equal_work_eval.json"
    result = equal_work_eval.main(["--tiny", "--threads", "1", "--rounds", "2", "--new-tokens", "5", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert out.with_suffix(".md").is_file() and saved["environment"]["cpu"]
    assert result["prompts"] == 6 and result["tokens_each"] == 30
    assert [r["order"] for r in result["rounds"]] == [["base", "hotfix"], ["hotfix", "base"]]
    for r in result["rounds"]:
        assert set(r["hotfix"]) == {"load", "merge", "decode", "restore"} and r["ratio_decode"] > 0
        assert r["ratio_whole"] >= r["ratio_decode"]
    assert result["ratio_decode"]["n"] == 2
    # the random LoRA moves the tiny model's greedy tokens: the hotfix was merged, not skipped
    assert 0 < result["rows_changed_by_hotfix"] <= 6


def test_every_row_decodes_exactly_the_tokens_asked(tiny_model_dir):
    from codehotfix.models.loading import load_model

    loaded = load_model(str(tiny_model_dir), dtype="float32", device="cpu")
    batches = [[[5, 6, 7], [8]], [[9, 10, 11, 12]]]
    tokens = equal_work_eval.decode_fixed(loaded.model, batches, pad_id=0, new_tokens=4)
    assert [len(t) for t in tokens] == [4, 4, 4]


def test_a_timing_needs_a_run_and_an_adapter_unless_tiny():
    with pytest.raises(SystemExit):
        equal_work_eval.main(["--force", "--run", "docs/results/demo-base-store/fill"])
