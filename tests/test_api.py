"""The API end to end on the tiny model: train writes a PEFT adapter + manifest that reloads with
identical outputs, eval writes its JSON, and a finished hotfix is never overwritten silently."""

import json

import pytest
import torch

from codehotfix import api
from codehotfix.data.cases import write_cases
from codehotfix.errors import CodehotfixError

FAST = ["training.lr=0.01", "training.epochs=3", "training.batch_size=2", "eval.samples=2"]


@pytest.fixture()
def cases_file(tmp_path, tiny_cases):
    return write_cases(tmp_path / "cases.jsonl", tiny_cases)


def test_train_writes_adapter_and_manifest_that_reload_identically(tmp_path, tiny_model_dir, cases_file):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "hotfix"
    manifest = api.train(cases_file, out, model=str(tiny_model_dir), overrides=FAST, progress=False)
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    on_disk = json.loads((out / "hotfix.json").read_text())
    assert on_disk["cases"] == 4 and on_disk["seed"] == 0 and on_disk["steps"] == 6
    assert on_disk["config"]["training"]["lr"] == 0.01
    assert len(on_disk["base_model_checksum"]) == 64 and len(on_disk["cases_checksum"]) == 64
    assert {"torch", "transformers", "peft"} <= set(on_disk["versions"])
    assert manifest["final_losses"]["loss"] == on_disk["final_losses"]["loss"]
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 6
    assert not (out / ".checkpoint").exists()

    # Standard PEFT loading gives a model that differs from the base and matches the API's loader.
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        plain = base(ids).logits
        peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), out)
        patched = peft_model(ids).logits
        ours = api.load_hotfixed(str(tiny_model_dir), out, dtype="float32").model(ids).logits
    assert not torch.allclose(plain, patched)
    assert torch.allclose(patched, ours, atol=1e-5)


def test_same_seed_gives_the_same_adapter_file(tmp_path, tiny_model_dir, cases_file):
    from safetensors.torch import load_file

    a = tmp_path / "a"
    b = tmp_path / "b"
    api.train(cases_file, a, model=str(tiny_model_dir), overrides=FAST, progress=False)
    api.train(cases_file, b, model=str(tiny_model_dir), overrides=FAST, progress=False)
    ta, tb = load_file(a / "adapter_model.safetensors"), load_file(b / "adapter_model.safetensors")
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


def test_existing_hotfix_is_not_overwritten(tmp_path, tiny_model_dir, cases_file):
    out = tmp_path / "hotfix"
    api.train(cases_file, out, model=str(tiny_model_dir), overrides=FAST, progress=False)
    before = (out / "hotfix.json").read_text()
    with pytest.raises(CodehotfixError, match="already holds a hotfix"):
        api.train(cases_file, out, model=str(tiny_model_dir), overrides=FAST, progress=False)
    assert (out / "hotfix.json").read_text() == before


def test_bad_cases_fail_before_the_model_loads(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prefix": "", "buggy": "x = 1", "fixed": "x = 1"}\n')
    with pytest.raises(CodehotfixError, match=r"bad.jsonl:1: .*same line"):
        api.train(bad, tmp_path / "out", model="/nonexistent-model-folder")


def test_evaluate_writes_results_json(tmp_path, tiny_model_dir, cases_file):
    from codehotfix.config import EvalConfig

    result = api.evaluate(cases_file, model=str(tiny_model_dir), eval_config=EvalConfig(samples=3, max_new_tokens=8),
                          options=api.EvalOptions(json_out=tmp_path / "eval.json", progress=False))
    written = json.loads((tmp_path / "eval.json").read_text())
    assert written["summary"]["cases"] == 4 and written["summary"]["sampled"]["n"] == 12
    rates = written["summary"]["sampled"]
    assert rates["fixed_rate"] + rates["buggy_rate"] + rates["other_rate"] == pytest.approx(1.0)
    for rec in written["cases"]:
        assert rec["margin"] == pytest.approx(rec["logp_fixed"] - rec["logp_buggy"], abs=1e-3)
        assert len(rec["sample_labels"]) == 3
    assert set(written["summary"]["by_group"]) == {"yaml", "warn", "none", "range"}
    assert result["summary"] == written["summary"]


def test_machine_info_reads_the_cpu_flags_and_the_model_dtype(tmp_path, tiny_model):
    from codehotfix.api import machine_info

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel Xeon\nflags\t\t: fpu avx512f amx_tile amx_bf16\n"
                       "processor\t: 1\nmodel name\t: Intel Xeon\nflags\t\t: fpu\n")
    info = machine_info(tiny_model.to(torch.bfloat16), cpuinfo=cpuinfo)
    assert info["cpu"] == "Intel Xeon" and info["model_dtype"] == "torch.bfloat16"
    assert info["cpu_flags"] == {"avx512f": True, "avx512_bf16": False, "amx_tile": True, "amx_bf16": True}
    assert machine_info(cpuinfo=tmp_path / "absent")["cpu_flags"]["avx512f"] is False


def test_evaluate_keeps_its_former_keywords_with_a_warning(tmp_path, cases_file):
    from codehotfix.errors import ConfigError

    with pytest.warns(DeprecationWarning, match=r"evaluate\(limit=\): pass options=EvalOptions"):
        with pytest.raises(ConfigError, match="limit must be >= 1"):
            api.evaluate(cases_file, limit=0)
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['limt'\\]"):
        api.evaluate(cases_file, limt=1)


def test_kl_corpus_reference_is_kept_beside_a_converted_model_only(tmp_path, tiny_model_dir, cases_file):
    import shutil

    from safetensors.torch import load_file

    # A converted copy in the cache is marked by codehotfix-model.json (models.loading._convert_gguf).
    converted = tmp_path / "gguf-0123-float32"
    shutil.copytree(tiny_model_dir, converted)
    (converted / "codehotfix-model.json").write_text(json.dumps({"sha256": "0" * 64, "dtype": "float32"}))
    first = api.train(cases_file, tmp_path / "a", model=str(converted), overrides=FAST, progress=False)
    second = api.train(cases_file, tmp_path / "b", model=str(converted), overrides=FAST, progress=False)
    computed = first["retain_reference"]["computed"]
    assert computed > 0 and first["retain_reference"]["from_store"] == 0
    assert second["retain_reference"]["from_store"] == computed and second["retain_reference"]["computed"] == 0
    assert second["retain_reference"]["store"].startswith(str(converted / "derived"))
    ta, tb = (load_file(tmp_path / d / "adapter_model.safetensors") for d in ("a", "b"))
    assert all(torch.equal(ta[k], tb[k]) for k in ta)  # read or computed, the same reference

    own = api.train(cases_file, tmp_path / "c", model=str(tiny_model_dir), overrides=FAST, progress=False)
    assert own["retain_reference"]["store"] is None and own["retain_reference"]["computed"] > 0
    assert not (tiny_model_dir / "derived").exists()  # the user's own folder is not written into
