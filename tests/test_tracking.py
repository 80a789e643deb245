"""--report-to tensorboard: training curves and evaluation scalars land in TensorBoard event files
(read back with TensorBoard's own reader), next to the JSON logs, which stay."""

import json

import pytest

from codehotfix.cli import main
from codehotfix.data.cases import write_cases
from codehotfix.errors import ConfigError
from codehotfix.tracking import flatten_scalars, make_tracker

pytest.importorskip("tensorboard")


def _scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_train_report_to_tensorboard_writes_the_loss_curve(tmp_path, tiny_model_dir, tiny_cases, capsys):
    cases = write_cases(tmp_path / "cases.jsonl", tiny_cases)
    main(["train", str(cases), "--out", str(tmp_path / "hf"), "--model", str(tiny_model_dir), "--report-to",
          "tensorboard", "training.epochs=2", "training.batch_size=2"])
    capsys.readouterr()
    history = [json.loads(line) for line in (tmp_path / "hf" / "train_log.jsonl").read_text().splitlines()]
    scalars = _scalars(tmp_path / "hf" / "tensorboard")
    assert [s for s, _ in scalars["train/loss"]] == [h["step"] for h in history] == [1, 2, 3, 4]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([h["loss"] for h in history], rel=1e-5)
    assert "train/grad_norm" in scalars and "train/lr" in scalars


def test_eval_scalars_are_flattened(tmp_path):
    tracker = make_tracker("tensorboard", tmp_path / "tb")
    tracker.log_scalars("eval/base_eval", {"greedy": {"fixed_rate": 0.25, "n": 4}, "ok": True, "ids": [1]})
    tracker.close()
    assert _scalars(tmp_path / "tb") == {"eval/base_eval/greedy/fixed_rate": [(0, 0.25)],
                                         "eval/base_eval/greedy/n": [(0, 4.0)]}
    assert flatten_scalars({"a": {"b": float("nan"), "c": 1}}) == {"a/c": 1.0}


def test_unknown_tracker_lists_the_valid_ones(tmp_path):
    assert make_tracker("none", tmp_path) is None
    with pytest.raises(ConfigError, match="none, tensorboard"):
        make_tracker("wandb", tmp_path)
