"""The sequence's retention figure: one line per measured strategy at its curve's points, a band for
each interval, the base model's line, and nothing drawn or written when no step is measured."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from codehotfix.report.retention_plot import draw_retention, write_retention_png  # noqa: E402


def _curve(step, rate, ci, base):
    return {"step": step, "hotfixes": step, "efficacy": rate, "ci": ci, "base": base,
            "mean_retention": None, "min_retention": None, "above_base": 0}


TABLE = {"complete": False, "hotfixes": ["a", "b", "c", "d"], "strategies": {
    "continual": {"curve": [_curve(2, 0.5, [0.3, 0.7], 0.25), _curve(4, 0.625, [0.4, 0.8], 0.375)]},
    "merged_cat": {"curve": [_curve(2, 0.125, [0.02, 0.4], 0.25), _curve(4, 0.0, [0.0, 0.2], 0.375)]},
    "retrained": {"curve": []},  # not measured yet: no line, no legend entry
}}


def test_each_measured_strategy_is_a_line_at_its_points_with_the_base_beside_it():
    fig = draw_retention(TABLE)
    ax = fig.axes[0]
    lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()
             if not line.get_label().startswith("_")}  # whisker caps are unlabeled
    assert lines == {"continual": ([2, 4], [50.0, 62.5]), "merged_cat": ([2, 4], [12.5, 0.0]),
                     "base model": ([2, 4], [25.0, 37.5])}
    assert len(ax.collections) == 4  # per drawn strategy, its interval as a band and as whiskers
    whiskers = [c for c in ax.collections if hasattr(c, "get_segments")]
    assert len(whiskers) == 2 and sorted(tuple(seg[:, 1]) for c in whiskers for seg in c.get_segments()) == sorted(
        [(30.0, 70.0), (40.0, 80.0), (2.0, 40.0), (0.0, 20.0)])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["continual", "merged_cat", "base model"]
    assert "in progress" in ax.get_title()


def test_the_png_is_written_and_an_unmeasured_table_writes_nothing(tmp_path):
    path = write_retention_png(TABLE, tmp_path / "retention.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = {"hotfixes": ["a"], "strategies": {"continual": {"curve": []}}}
    assert draw_retention(empty) is None
    assert write_retention_png(empty, tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()
