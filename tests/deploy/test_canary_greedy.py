"""The canary's greedy check (``CanaryConfig.min_greedy_fixed``): it passes a hotfix whose own case's
prefix now completes to the fixed line, fails one whose margin rose while it writes something else
(recording what it wrote), and generates nothing when it is off."""

import dataclasses
import importlib.util
from pathlib import Path

import pytest

import codehotfix.evaluation.backends as backends
from codehotfix.deploy.activation import activate, attach, read_adapter
from codehotfix.deploy.canary import CanaryConfig, run_canary
from codehotfix.errors import ConfigError

_spec = importlib.util.spec_from_file_location("deploy_fixtures_greedy", Path(__file__).parent / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

YAML = _fixtures._CASES[0]
# The margin of this case rises with the yaml hotfix (its fixed line starts as YAML's does), but the
# tiny model never writes its comment: a rising margin without the fixed line, as in the real
# ``yaml.safe_load(fl)`` finding.
COMMENTED = dataclasses.replace(YAML, id="yaml/commented", fixed=YAML.fixed + "  # safe")


@pytest.fixture(scope="module")
def yaml_hotfix(tmp_path_factory, tiny_model_dir):
    # 300 Adam steps on the one case (fixed-line CE only) make the tiny model write it greedily;
    # 150 do not yet (it writes "yaml.safe_load(().load(…").
    return _fixtures.train_tiny_hotfix(tiny_model_dir, [YAML], tmp_path_factory.mktemp("yaml") / "yaml", steps=300, unlearn=0.0)


@pytest.fixture()
def hot(tiny_loaded, yaml_hotfix):
    model = attach(tiny_loaded.model, read_adapter(yaml_hotfix, "yaml@v1"))
    activate(model, ["yaml@v1"])
    return model, tiny_loaded.tokenizer


def test_greedy_check_passes_when_the_hotfix_writes_the_fixed_line(hot):
    model, tok = hot
    result = run_canary(model, tok, [YAML], CanaryConfig(min_greedy_fixed=1.0))
    assert result.passed and result.greedy_fixed == 1.0 and result.reasons == []
    (row,) = result.cases
    assert row["greedy"] == YAML.fixed and row["greedy_label"] == "fixed"
    activate(model, [])  # the base does not write it: the same check fails there
    base = run_canary(model, tok, [YAML], CanaryConfig(min_greedy_fixed=1.0), base_margins=[-1e9])
    assert base.fraction == 1.0 and not base.passed and base.cases[0]["greedy_label"] != "fixed"


def test_greedy_check_fails_a_rising_margin_and_records_what_was_written(hot):
    model, tok = hot
    result = run_canary(model, tok, [YAML, COMMENTED], CanaryConfig(min_greedy_fixed=1.0))
    assert result.fraction == 1.0  # both margins rose: the margin check alone would pass
    assert not result.passed and result.greedy_fixed == 0.5
    by_id = {r["id"]: r for r in result.cases}
    assert by_id["yaml/commented"]["greedy"] == YAML.fixed and by_id["yaml/commented"]["greedy_label"] == "other"
    assert len(result.reasons) == 1 and "50%" in result.reasons[0] and repr(YAML.fixed) in result.reasons[0]
    assert result.to_dict()["cases"][1]["greedy_label"] == "other"
    assert run_canary(model, tok, [YAML, COMMENTED], CanaryConfig(min_greedy_fixed=0.5)).passed


def test_greedy_generation_uses_the_canary_context_budget_and_a_line_sized_budget(hot, monkeypatch):
    model, tok = hot
    seen = []
    real = backends.hf_complete

    def spy(model, tokenizer, prompts, cfg, **kw):
        seen.append((list(prompts), cfg))
        return real(model, tokenizer, prompts, cfg, **kw)

    monkeypatch.setattr(backends, "hf_complete", spy)
    run_canary(model, tok, [YAML, COMMENTED], CanaryConfig(min_greedy_fixed=1.0, max_context_tokens=7, batch_size=1))
    ((prompts, gen),) = seen
    assert prompts == [YAML.prefix, COMMENTED.prefix]
    assert gen.max_context_tokens == 7 and gen.batch_size == 1 and gen.samples == 0 and gen.greedy
    longest = len(tok(COMMENTED.fixed + "\n", add_special_tokens=False)["input_ids"])
    assert longest < gen.max_new_tokens <= longest + 16


def test_min_greedy_fixed_0_generates_nothing(hot, monkeypatch):
    model, tok = hot

    def no_generation(*args, **kwargs):
        raise AssertionError("the canary generated with min_greedy_fixed=0")

    monkeypatch.setattr(backends, "hf_complete", no_generation)
    result = run_canary(model, tok, [YAML, COMMENTED], CanaryConfig())
    assert result.passed and result.greedy_fixed is None
    assert all("greedy" not in r for r in result.cases)


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_min_greedy_fixed_outside_0_1_is_refused(value):
    with pytest.raises(ConfigError, match=f"canary.min_greedy_fixed must be in \\[0, 1\\], got {value}"):
        CanaryConfig(min_greedy_fixed=value)
