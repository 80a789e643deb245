"""The one adapter-loading path (models/adapters/loading.py): a hotfix folder loads exactly as PEFT's
own ``from_pretrained`` would, and reading it verifies the weights' checksum and the base it was
trained on."""

import warnings

import pytest
import torch

from codehotfix.errors import AdapterLoadError
from codehotfix.files import sha256_file, write_json
from codehotfix.models.adapters import load_hotfix, read_hotfix


@pytest.fixture()
def lora_folder(tmp_path, tiny_tokenizer):
    """A LoRA hotfix folder whose weights are not zero (so it changes the model's outputs)."""
    from peft import LoraConfig, get_peft_model
    from tiny_model import build_tiny_model

    torch.manual_seed(1)
    model = get_peft_model(build_tiny_model(len(tiny_tokenizer)),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                                      task_type="CAUSAL_LM"))
    model.save_pretrained(tmp_path / "hotfix")
    write_json(tmp_path / "hotfix" / "hotfix.json", {"base_model_checksum": "a" * 64})
    return tmp_path / "hotfix"


def test_load_hotfix_gives_what_peft_from_pretrained_gives(lora_folder, tiny_tokenizer):
    from peft import PeftModel
    from tiny_model import build_tiny_model

    ids = torch.tensor([tiny_tokenizer("def add(a, b):\n    return")["input_ids"]])
    ours = load_hotfix(build_tiny_model(len(tiny_tokenizer)), lora_folder)
    theirs = PeftModel.from_pretrained(build_tiny_model(len(tiny_tokenizer)), lora_folder)
    assert type(ours) is type(theirs) and not ours.training
    with torch.no_grad():
        logits = ours(input_ids=ids).logits
        assert torch.equal(logits, theirs(input_ids=ids).logits)
        assert not torch.allclose(logits, build_tiny_model(len(tiny_tokenizer))(input_ids=ids).logits)


def test_read_hotfix_checks_the_recorded_checksum(lora_folder):
    good = sha256_file(lora_folder / "adapter_model.safetensors")
    assert read_hotfix(lora_folder, "x@v1", expected_sha256=good).key == "x@v1"
    with pytest.raises(AdapterLoadError, match="checksum differs"):
        read_hotfix(lora_folder, expected_sha256="0" * 64)


def test_read_hotfix_warns_when_the_base_differs_from_the_manifest(lora_folder):
    with pytest.warns(UserWarning, match="trained on base weights aaaaaaaaaaaa"):
        read_hotfix(lora_folder, base_checksum="b" * 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_hotfix(lora_folder, base_checksum="a" * 64).manifest == {"base_model_checksum": "a" * 64}


def test_a_folder_without_a_hotfix_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterLoadError, match="not a trained hotfix"):
        read_hotfix(tmp_path / "empty")
