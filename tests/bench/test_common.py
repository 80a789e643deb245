"""bench/common.py: the epoch tracker's per-epoch progress line, which is all a user sees during a
baseline's ten-minute epochs (their own progress bars are off by default)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import EpochTracker, parse_targets  # noqa: E402


class _Probe:
    """Stands in for EffectProbe: returns the next effect in a list, judged by a real target."""

    def __init__(self, values):
        self.values, self.targets = list(values), parse_targets(["prefers_fixed>=0.9"])

    def measure(self, model):
        return {"prefers_fixed": self.values.pop(0), "margin_gain": 1.5}

    def reached(self, effect):
        return all(t.met(effect) for t in self.targets)


def test_each_epoch_prints_its_effect_and_an_eta_to_the_cap(capsys):
    tracker = EpochTracker(_Probe([0.5, 0.95]), label="[x] seed 2 paper_recipe", cap=5)
    tracker.start()
    assert tracker.epoch_end(None, 1, 1.0) is False
    assert tracker.epoch_end(None, 2, 1.0) is True
    first, second = capsys.readouterr().err.strip().splitlines()
    assert first.startswith("[x] seed 2 paper_recipe: epoch 1/5 done at ")
    assert "prefers_fixed 0.500" in first and "margin_gain 1.500" in first
    assert "at most 4 more epochs, ETA ≤ " in first
    assert second.startswith("[x] seed 2 paper_recipe: epoch 2/5") and second.endswith("; target reached")
    assert tracker.epochs_to_effect == 2


def test_the_last_epoch_has_no_eta_and_no_label_prints_nothing(capsys):
    tracker = EpochTracker(_Probe([0.5]), label="[x] run", cap=1)
    tracker.start()
    tracker.epoch_end(None, 1, 1.0)
    line = capsys.readouterr().err.strip()
    assert line.startswith("[x] run: epoch 1/1 done at ") and "ETA" not in line
    quiet = EpochTracker(_Probe([0.5]))
    quiet.start()
    quiet.epoch_end(None, 1, 1.0)
    assert capsys.readouterr().err == ""


def test_the_shared_run_options_name_the_results_file_and_refuse_to_overwrite_it(tmp_path):
    import argparse

    import pytest

    from bench.common import RESULTS_DIR, add_run_options, output_for
    from codehotfix.errors import CodehotfixError

    ap = argparse.ArgumentParser()
    add_run_options(ap)
    args = ap.parse_args(["--tiny", "--threads", "2"])
    assert (args.threads, args.tiny, args.out, args.force) == (2, True, None, False)
    assert output_for("some_bench", args) == RESULTS_DIR / "some_bench--tiny.json"
    held = tmp_path / "earlier.json"
    held.write_text("{}")
    with pytest.raises(CodehotfixError, match="already holds results; pass --force"):
        output_for("some_bench", ap.parse_args(["--out", str(held)]))
    assert output_for("some_bench", ap.parse_args(["--out", str(held), "--force"])) == held
    assert held.read_text() == "{}"  # checked, not touched
