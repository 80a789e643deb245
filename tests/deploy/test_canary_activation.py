"""Activation of hotfixes on the tiny model (single, stacked, merged, off) and the canary check."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from codehotfix.data.cases import read_cases
from codehotfix.deploy.activation import AdapterLoadError, activate, attach, measure_retention, read_adapter
from codehotfix.deploy.canary import CanaryConfig, run_canary
from codehotfix.scoring import adapters_disabled

X = torch.tensor([[5, 6, 7, 8, 9]])


def _logits(model):
    with torch.no_grad():
        return model(input_ids=X).logits


def test_canary_passes_a_trained_hotfix_and_refuses_one_with_no_effect(tiny_loaded, trained_hotfixes, zero_hotfix):
    cases = read_cases(trained_hotfixes["a"] / "cases.jsonl")
    model = attach(tiny_loaded.model, read_adapter(trained_hotfixes["a"], "a@v1"))
    model = attach(model, read_adapter(zero_hotfix, "zero@v1"))
    activate(model, ["a@v1"])
    good = run_canary(model, tiny_loaded.tokenizer, cases)
    assert good.passed and good.fraction == 1.0
    assert all(r["delta"] >= 1.0 for r in good.cases)
    activate(model, ["zero@v1"])
    bad = run_canary(model, tiny_loaded.tokenizer, cases)
    assert not bad.passed and bad.fraction == 0.0
    assert all(abs(r["delta"]) < 1e-3 for r in bad.cases)  # loads fine, changes nothing
    strict = run_canary(model, tiny_loaded.tokenizer, cases, CanaryConfig(min_delta=0.5))
    assert not strict.passed


def test_stack_is_the_sum_merge_cat_matches_it_and_off_is_the_base(tiny_loaded, trained_hotfixes):
    base = _logits(tiny_loaded.model)
    model = attach(tiny_loaded.model, read_adapter(trained_hotfixes["a"], "a@v1"))
    model = attach(model, read_adapter(trained_hotfixes["b"], "b@v1"))
    activate(model, [])
    assert torch.equal(_logits(model), base)
    activate(model, ["a@v1"])
    only_a = _logits(model)
    activate(model, ["b@v1"])
    only_b = _logits(model)
    assert not torch.allclose(only_a, base, atol=1e-3) and not torch.allclose(only_b, base, atol=1e-3)
    assert activate(model, ["a@v1", "b@v1"]) == ["a@v1", "b@v1"]
    stacked = _logits(model)
    assert not torch.allclose(stacked, only_a, atol=1e-3) and not torch.allclose(stacked, only_b, atol=1e-3)
    with adapters_disabled(model):
        assert torch.equal(_logits(model), base)
    assert torch.equal(_logits(model), stacked)  # restored on exit
    merged = activate(model, ["a@v1", "b@v1"], "merge_cat")
    assert len(merged) == 1 and merged[0].startswith("merged@")
    assert torch.allclose(_logits(model), stacked, atol=1e-4)  # cat concatenates the factors: the same sum
    activate(model, ["a@v1"])
    assert merged[0] not in model.peft_config  # stale merged adapters are dropped
    with pytest.raises(ValueError, match="unknown activation mode"):
        activate(model, ["a@v1", "b@v1"], "average")


def test_measure_retention_reports_every_mode(tiny_loaded, trained_hotfixes):
    model = attach(tiny_loaded.model, read_adapter(trained_hotfixes["a"], "a@v1"))
    model = attach(model, read_adapter(trained_hotfixes["b"], "b@v1"))
    hotfixes = {k: read_cases(trained_hotfixes[k[0]] / "cases.jsonl") for k in ("a@v1", "b@v1")}
    result = measure_retention(model, tiny_loaded.tokenizer, hotfixes)
    for key in hotfixes:
        row = result["hotfixes"][key]
        assert row["alone"]["canary_pass"] and row["alone"]["mean_delta"] >= 1.0
        assert row["stack"]["retention"] == pytest.approx(row["merge_cat"]["retention"], abs=1e-3)
        assert row["merge_svd"]["retention"] is not None
    assert set(result["modes"]) == {"stack", "merge_cat", "merge_svd", "merge_linear"}
    assert result["best"] in result["modes"]
    assert "error" not in result["modes"]["merge_linear"]  # equal ranks: linear is possible


def test_attach_refuses_weights_that_match_no_layer_and_a_modified_copy(tiny_loaded, zero_hotfix, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_config.json").write_text((zero_hotfix / "adapter_config.json").read_text())
    tensors = load_file(zero_hotfix / "adapter_model.safetensors")
    save_file({k.replace(".layers.", ".blocks."): v for k, v in tensors.items()}, broken / "adapter_model.safetensors")
    with pytest.raises(AdapterLoadError, match="matching no layer"):
        attach(tiny_loaded.model, read_adapter(broken, "broken@v1"))
    with pytest.raises(AdapterLoadError, match="checksum differs"):
        read_adapter(zero_hotfix, "zero@v1", expected_sha256="0" * 64)
