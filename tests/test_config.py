"""Configs: defaults, YAML, overrides, and every error reported at once."""

import pytest

from codehotfix.config import load_config
from codehotfix.errors import ConfigError


def test_defaults_follow_the_paper_where_it_speaks():
    cfg = load_config()
    assert (cfg.adapter.method, cfg.adapter.r, cfg.adapter.alpha) == ("lora", 8, 16)
    assert [o.name for o in cfg.objectives] == ["fixed_ce", "unlikelihood", "kl_context", "kl_corpus"]
    assert (cfg.eval.samples, cfg.eval.top_p, cfg.eval.max_new_tokens) == (10, 0.95, 64)


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  epochs: 5\nadapter:\n  r: 4\n  layers: [-2, -1]\n")
    cfg = load_config(path, ["training.lr=0.002", "objectives.1.weight=0.25", "seed=7"])
    assert cfg.training.epochs == 5 and cfg.training.lr == 0.002 and cfg.adapter.r == 4
    assert cfg.adapter.layers == [-2, -1] and cfg.objectives[1].weight == 0.25 and cfg.seed == 7


def test_all_errors_reported_together(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("training:\n  epoch: 5\n  lr: -1\nadapter:\n  r: zero\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert str(path) in msg and "training.epoch: unknown key" in msg and "training.lr must be > 0" in msg
    assert "adapter.r: expected int" in msg


def test_missing_file_and_bad_override():
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("/nonexistent.yaml")
    with pytest.raises(ConfigError, match="expected key.path=value"):
        load_config(None, ["training.lr"])


def test_shipped_configs_load_and_default_yaml_matches_the_dataclasses():
    from pathlib import Path

    from codehotfix.config import to_dict

    configs = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        load_config(path)
    assert to_dict(load_config(Path(__file__).parent.parent / "configs" / "default.yaml")) == to_dict(load_config())


def test_overrides_apply_on_top_of_a_given_config():
    from codehotfix.api import _as_config

    base = load_config(None, ["training.epochs=7"])
    cfg = _as_config(base, ["training.lr=0.005"])
    assert cfg.training.epochs == 7 and cfg.training.lr == 0.005


def test_exponent_floats_without_a_dot_are_numbers_not_strings(tmp_path):
    # YAML 1.1 reads 5e-4 as a string; a learning rate written that way must still work.
    cfg = load_config(None, ["training.lr=5e-4", "eval.top_p=9.5e-1"])
    assert cfg.training.lr == 5e-4 and isinstance(cfg.training.lr, float)
    assert cfg.eval.top_p == 0.95
    with pytest.raises(ConfigError, match="training.lr: expected a number"):
        load_config(None, ["training.lr=fast"])
