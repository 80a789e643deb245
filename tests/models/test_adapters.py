"""Every training method on the tiny model: it builds, two steps change exactly the trainable
parameters and lower the loss, and a saved hotfix reloads with identical scores; plus target-module
defaults, overrides and clear errors (qlora without bitsandbytes/GPU, knobs a method ignores)."""

import pytest
import torch

from codehotfix.config import load_config
from codehotfix.errors import ConfigError
from codehotfix.models.adapters import (
    ADAPTERS,
    AdapterConfig,
    build_adapter,
    default_lora_targets,
    linear_module_names,
    load_trained,
    save_trained,
    trainable_parameters,
)
from codehotfix.scoring import line_logprobs

METHODS = ["lora", "dora", "ia3", "prefix_tuning", "prompt_tuning", "full"]


def test_registry_lists_every_method():
    assert set(METHODS + ["qlora"]) == set(ADAPTERS.names())


@pytest.mark.parametrize("method", METHODS)
def test_method_trains_and_reloads(method, tmp_path, tiny_tokenizer, tiny_cases):
    from tiny_model import build_tiny_model

    # Two steps on one batch of all cases, with the default objectives (fixed_ce + unlikelihood + kl_context).
    cfg = load_config(overrides=[f"adapter.method={method}", "training.epochs=2", "training.batch_size=4",
                                 "training.warmup_steps=0", "training.lr=0.01", "adapter.num_virtual_tokens=4"])
    torch.manual_seed(0)
    model = build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter)
    trainable, total = trainable_parameters(model)
    assert 0 < trainable <= total and (trainable == total) == (method == "full")
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    from codehotfix.training.loop import train_adapter

    result = train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False)
    assert result.steps == 2
    first, second = result.history
    assert second["loss"] < first["loss"]  # the second step sees the same batch after one update
    if method not in ("prefix_tuning", "prompt_tuning"):  # virtual tokens change the output from the start
        assert first["kl"] == pytest.approx(0.0, abs=1e-3)  # identity at init (reference kept in bfloat16)
    for name, p in model.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == p.requires_grad or (p.requires_grad and p.grad is None), name
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if p.requires_grad)

    scores = torch.tensor(line_logprobs(model, tiny_tokenizer, tiny_cases))
    save_trained(model, tmp_path / "hotfix")
    reloaded = load_trained(build_tiny_model(len(tiny_tokenizer)), tmp_path / "hotfix")
    assert torch.allclose(torch.tensor(line_logprobs(reloaded, tiny_tokenizer, tiny_cases)), scores, atol=1e-5)


def test_full_fine_tuning_compares_with_a_frozen_copy_of_the_base(tiny_model, tiny_tokenizer, tiny_cases):
    cfg = load_config(overrides=["adapter.method=full", "training.epochs=3", "training.batch_size=4",
                                 "training.warmup_steps=0", "training.lr=0.01",
                                 "objectives=[{name: npo}, {name: kl_context}]"])
    base_scores = torch.tensor(line_logprobs(tiny_model, tiny_tokenizer, tiny_cases))
    from codehotfix.training.loop import train_adapter

    result = train_adapter(build_adapter(tiny_model, cfg.adapter), tiny_tokenizer, tiny_cases, cfg, progress=False)
    # Step 1: the model is still the base, so KL and NPO's log-ratio are 0; later both move (a live
    # "reference" would keep them at 0).
    assert result.history[0]["kl"] == pytest.approx(0.0, abs=1e-3)  # reference kept in bfloat16
    assert result.history[0]["npo_log_ratio"] == pytest.approx(0.0, abs=1e-5)
    assert result.history[-1]["kl"] > 0 and result.history[-1]["npo_log_ratio"] < 0
    assert not torch.allclose(torch.tensor(line_logprobs(tiny_model, tiny_tokenizer, tiny_cases)), base_scores)


def test_qlora_without_bitsandbytes_or_gpu_is_a_clear_error(tiny_model):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match=r"qlora needs .*(bitsandbytes|CUDA GPU).*use adapter.method=lora"):
        build_adapter(tiny_model, AdapterConfig(method="qlora"))


def test_lora_targets_table_inspection_fallback_and_override(tiny_model):
    # Qwen2 is in the table, and the table agrees with inspection (all linear layers of the blocks).
    assert default_lora_targets(tiny_model) == linear_module_names(tiny_model)
    tiny_model.config.model_type = "unheard_of"
    assert default_lora_targets(tiny_model) == linear_module_names(tiny_model)
    model = build_adapter(tiny_model, AdapterConfig(target_modules=["q_proj"], layers=[-1]))
    adapted = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in model.named_parameters() if "lora_A" in n}
    assert adapted == {"q_proj"}
    assert all(".layers.1." in n for n, p in model.named_parameters() if p.requires_grad)


def test_ia3_uses_peft_table_and_checks_feedforward(tiny_model):
    from codehotfix.models.adapters.ia3 import ia3_targets

    assert ia3_targets(tiny_model, AdapterConfig(method="ia3")) == (["q_proj", "v_proj", "down_proj"], ["down_proj"])
    with pytest.raises(ConfigError, match="feedforward_modules"):
        ia3_targets(tiny_model, AdapterConfig(method="ia3", target_modules=["q_proj"], feedforward_modules=["down_proj"]))


@pytest.mark.parametrize("override, message", [
    ("adapter.method=nope", "unknown method 'nope'; allowed: dora, full, ia3"),
    ("adapter.layers=[-1]", None),
    ("adapter.num_virtual_tokens=0", "num_virtual_tokens must be >= 1"),
])
def test_adapter_config_validation(override, message):
    if message is None:  # layers only for the LoRA family
        load_config(overrides=[override])
        with pytest.raises(ConfigError, match="layers is only supported by lora, dora, qlora"):
            load_config(overrides=[override, "adapter.method=ia3"])
        return
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override])


@pytest.mark.parametrize("method", ["lora", "full"])
def test_save_refuses_non_finite_weights_and_writes_nothing(method, tmp_path, tiny_model):
    """The save path's own guard (issue 14): a NaN weight never reaches disk, whoever calls save."""
    from codehotfix.models.adapters import NonFiniteError

    model = build_adapter(tiny_model, AdapterConfig(method=method))
    name, param = next((n, p) for n, p in model.named_parameters() if p.requires_grad)
    with torch.no_grad():
        param.view(-1)[0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"hotfix: not written: 1 of \d+ weights are NaN or infinite"):
        save_trained(model, tmp_path / "hotfix")
    assert not (tmp_path / "hotfix").exists()


def test_save_writes_target_modules_sorted(tmp_path, tiny_model):
    """PEFT keeps target_modules as a set, whose order follows Python's per-process string hash: sorted
    on disk, two identical runs write identical adapter_config.json bytes (issue 14, item 12)."""
    import json

    model = build_adapter(tiny_model, AdapterConfig(method="lora"))
    config = model.peft_config["default"]
    config.target_modules = {"v_proj", "q_proj", "up_proj", "k_proj", "o_proj", "gate_proj", "down_proj"}
    save_trained(model, tmp_path / "hotfix")
    written = json.loads((tmp_path / "hotfix" / "adapter_config.json").read_text())["target_modules"]
    assert written == sorted(config.target_modules) and isinstance(config.target_modules, set)
