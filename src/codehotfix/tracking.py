"""Experiment tracking: training curves and evaluation scalars to TensorBoard (``--report-to tensorboard``).

The JSON logs (train_log.jsonl, the *_eval.json files) stay the record; TensorBoard is a view of
them. Training curves are written from the per-step history the loop returns, so the loop itself
knows nothing about trackers::

    tracker = make_tracker("tensorboard", "runs/x/tensorboard")   # None for "none"
    tracker.log_history(result.history)                           # loss/<term>, grad_norm, lr per step
    tracker.log_scalars("eval/hotfixed", {"greedy/fixed_rate": 0.4})
    tracker.close()

View: ``tensorboard --logdir runs/x/tensorboard``. Needs the ``track`` extra (tensorboard).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from codehotfix.errors import ConfigError
from codehotfix.extras import require_extra

__all__ = ["REPORT_TO", "TensorBoardTracker", "make_tracker", "flatten_scalars"]

REPORT_TO = ("none", "tensorboard")
logger = logging.getLogger(__name__)


def flatten_scalars(data: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a nested dict, keyed by their '/'-joined path (booleans and lists left out)."""
    out: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten_scalars(value, name))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            out[name] = float(value)
    return out


class TensorBoardTracker:
    """Writes scalars with ``torch.utils.tensorboard.SummaryWriter`` into ``log_dir``."""

    def __init__(self, log_dir: str | Path) -> None:
        require_extra("track", "--report-to tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self._writer = SummaryWriter(log_dir=str(self.log_dir))
        logger.info("tensorboard: writing to %s", self.log_dir)

    def log_history(self, history: Sequence[Mapping[str, Any]], prefix: str = "train") -> int:
        """One point per training step for every numeric field except step/epoch; returns the steps written."""
        for row in history:
            step = int(row["step"])
            for name, value in flatten_scalars({k: v for k, v in row.items() if k not in ("step", "epoch")}).items():
                self._writer.add_scalar(f"{prefix}/{name}", value, step)
        self._writer.flush()
        return len(history)

    def log_scalars(self, prefix: str, values: Mapping[str, Any], step: int = 0) -> None:
        for name, value in flatten_scalars(values).items():
            self._writer.add_scalar(f"{prefix}/{name}", value, step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def make_tracker(report_to: str, log_dir: str | Path) -> TensorBoardTracker | None:
    """The tracker ``report_to`` names ("none" → None).

    Raises:
        ConfigError: an unknown name (lists the valid ones). MissingExtraError: tensorboard not installed.
    """
    if report_to not in REPORT_TO:
        raise ConfigError(f"report_to {report_to!r} is not one of {', '.join(REPORT_TO)}")
    return TensorBoardTracker(log_dir) if report_to == "tensorboard" else None
