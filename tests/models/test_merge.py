"""Merging a LoRA hotfix for generation: same outputs as the unmerged adapter, base weights restored
bit for bit, and adapters that cannot be merged left alone."""

import peft
import pytest
import torch

from codehotfix.models.adapters.merge import can_merge, merged_for_inference


def _lora(model, use_dora=False, init=True):
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], use_dora=use_dora)
    wrapped = peft.get_peft_model(model, cfg)
    torch.manual_seed(1)
    with torch.no_grad():  # a trained-looking adapter: B is zero at initialisation
        for name, p in wrapped.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return wrapped.eval()


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_merged_logits_match_the_unmerged_adapter_and_weights_come_back_exactly(tiny_model):
    model = _lora(tiny_model)
    ids = torch.tensor([[5, 17, 42, 7, 99, 3]])
    with torch.no_grad():
        unmerged = model(input_ids=ids).logits
        with model.disable_adapter():
            base = model(input_ids=ids).logits
    before = _weights(model)
    assert can_merge(model)
    with merged_for_inference(model) as m:
        with torch.no_grad():
            merged = m(input_ids=ids).logits
    torch.testing.assert_close(merged, unmerged, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(merged, base, atol=1e-3)  # the adapter really acts inside the context
    after = _weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, unmerged)  # adapter active again, unmerged


def test_weights_are_restored_when_the_body_raises(tiny_model):
    model = _lora(tiny_model)
    before = _weights(model)
    with pytest.raises(RuntimeError):
        with merged_for_inference(model):
            raise RuntimeError("boom")
    after = _weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_dora_and_plain_models_are_yielded_unchanged(tiny_model):
    assert not can_merge(tiny_model)
    with merged_for_inference(tiny_model) as m:
        assert m is tiny_model
    dora = _lora(tiny_model, use_dora=True)
    assert not can_merge(dora)
    before = _weights(dora)
    with merged_for_inference(dora) as m:
        assert m is dora
        assert all(torch.equal(before[k], v) for k, v in _weights(dora).items())
