"""bench/profile_step.py end to end with --tiny: every phase of a training step is timed in the loop's
order and adds up to the step, the evaluation part compares batch sizes and the merged hotfix, and
earlier results are never overwritten without --force. No timings are asserted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import profile_step  # noqa: E402
from codehotfix.errors import CodehotfixError  # noqa: E402

PHASES = ["collate", "reference context (epoch 1 only)", "case forward", "corpus reference (cached per snippet)",
          "corpus forward", "loss", "backward", "optimizer"]


def test_tiny_end_to_end(tmp_path):
    out = tmp_path / "profile.json"
    result = profile_step.main(["--tiny", "--steps", "2", "--threads", "1", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["tiny"] is True and saved["machine"]["cpu"] and out.with_suffix(".md").is_file()
    assert saved["environment"]["cpu_flags"] and saved["mean"] == result["mean"]
    assert len(result["per_step"]) == len(result["shapes"]) == 2  # the warm-up step is not reported
    for step in result["per_step"]:
        assert list(step) == PHASES + ["total"]
        assert step["total"] == pytest.approx(sum(step[p] for p in PHASES), abs=0.01)
    for shape in result["shapes"]:
        # batches of 8 cases: 8 contexts, and the fixed and buggy line of each
        assert shape["context_tokens"][0] == 8 and shape["line_tokens"][0] == 16
    ev = result["eval"]
    assert ev["prompts"] == 32 and set(ev["batch_size"]) == {"line", "window"}
    assert {"base", "hotfix unmerged", "hotfix merged"} <= set(ev["merge"])
    assert all(ev["merge"][m]["new_tokens"] > 0 for m in ("base", "hotfix unmerged", "hotfix merged"))
    with pytest.raises(CodehotfixError, match="--force"):
        profile_step.main(["--tiny", "--threads", "1", "--out", str(out)])


def test_training_only_with_an_override(tmp_path):
    out = tmp_path / "top.json"
    result = profile_step.main(["--tiny", "--no-eval", "--threads", "1", "--set", "adapter.layers=[-1]",
                                "--out", str(out)])
    assert "eval" not in result and result["overrides"] == ["adapter.layers=[-1]"]
    assert len(result["per_step"]) == 1 and json.loads(out.read_text())["mean"] == result["mean"]
