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


@pytest.mark.parametrize("override", ["training.lr=.inf", "training.lr=-.inf", "training.lr=.nan", "training.lr=nan",
                                      "eval.top_p=.nan", "eval.temperature=inf", "training.max_grad_norm=.inf",
                                      "objectives.1.params.margin=.inf"])
def test_non_finite_numbers_are_rejected_everywhere(override):
    # NaN compares False with every bound, so "lr <= 0" alone let NaN (and "> 0" let .inf) through.
    with pytest.raises(ConfigError, match="must be a finite number"):
        load_config(None, [override])


def test_dataclasses_reject_non_finite_and_out_of_range_values_built_directly():
    from codehotfix.config import EvalConfig, TrainingConfig

    with pytest.raises(ConfigError, match=r"eval.temperature must be a finite number, got nan"):
        EvalConfig(temperature=float("nan"))
    with pytest.raises(ConfigError, match=r"eval.max_context_tokens must be >= 1, got 0"):
        EvalConfig(max_context_tokens=0)
    with pytest.raises(ConfigError, match=r"training.lr must be a finite number, got inf"):
        TrainingConfig(lr=float("inf"))


@pytest.mark.parametrize("value", ["[", "{a: 1", "2024-13-45", "'open", "*alias", "9" * 5000])
def test_override_values_that_are_not_yaml_are_config_errors(value):
    with pytest.raises(ConfigError, match=r"override .training.lr=.*.: the value is not valid YAML"):
        load_config(None, [f"training.lr={value}"])


def test_config_file_errors_name_the_file_and_line_on_one_line(tmp_path):
    syntax, badutf, deep = tmp_path / "s.yaml", tmp_path / "u.yaml", tmp_path / "d.yaml"
    syntax.write_text("training:\n  lr: [1, 2\n")
    badutf.write_bytes(b"training:\n  dtype: \xff\n")
    deep.write_text("a: " + "[" * 5000 + "\n")
    with pytest.raises(ConfigError, match=f"^{syntax}:3: not valid YAML") as e:
        load_config(syntax)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match=f"^{badutf}:2: not valid UTF-8"):
        load_config(badutf)
    with pytest.raises(ConfigError, match=f"^{deep}"):
        load_config(deep)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")


def test_every_problem_on_one_line():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["training.lr=.nan", "training.epochs=0", "nope=1", "seed.x=1"])
    msg = str(e.value)
    assert "\n" not in msg and msg.count("training.lr must be a finite number") == 1
    assert "training.epochs must be >= 1" in msg and "nope: unknown key" in msg and "'seed' is not a section" in msg


def test_deeply_nested_override_is_a_config_error_not_a_recursion_error():
    # hypothesis found this: a value nested ~2000 deep parsed, then overflowed the non-finite walk
    deep = "[" * 2000 + "]" * 2000
    with pytest.raises(ConfigError, match="training.lr"):
        load_config(None, [f"training.lr={deep}"])
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"training.lr={deep}"])
    assert len(str(info.value)) < 1000  # the override is cut in the message


def test_fingerprint_view_leaves_out_a_later_option_only_at_the_value_earlier_runs_had():
    from dataclasses import asdict

    from codehotfix.config import ADDED_LATER, fingerprint_view

    padded, packed = load_config(None, ["training.pack=false"]), load_config(None)
    # a config kept by a run from before training.pack existed: the same dict without the key
    before = asdict(padded)
    del before["training"]["pack"]
    assert fingerprint_view(padded) == fingerprint_view(before) == before
    assert fingerprint_view(packed)["training"]["pack"] is True and fingerprint_view(packed) != before
    assert asdict(padded)["training"]["pack"] is False  # the config itself is not changed
    kept = asdict(padded)
    fingerprint_view(kept)
    assert kept["training"]["pack"] is False  # nor a dict handed in
    assert ("training", "pack") in ADDED_LATER
