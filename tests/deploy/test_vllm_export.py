"""vLLM export: the exported folder's structure, and the compatibility check's refusals."""

import json
import re
import shutil

import pytest
from safetensors import safe_open

from codehotfix.cli import main
from codehotfix.deploy.vllm import VLLM_MAX_LORA_RANKS, VllmCompatError, check_vllm, export_vllm

KEY = re.compile(r"^base_model\.model\.model\.layers\.\d+\.(self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$")


def _variant(src, dest, **changes):
    shutil.copytree(src, dest)
    config = json.loads((dest / "adapter_config.json").read_text())
    config.update(changes)
    (dest / "adapter_config.json").write_text(json.dumps(config))
    return dest


def test_export_writes_a_peft_lora_folder_vllm_can_load(trained_hotfixes, tmp_path):
    out = tmp_path / "export" / "yaml-fix"
    report = export_vllm(trained_hotfixes["a"], out, base_model="Qwen/Qwen2.5-Coder-0.5B-Instruct", model_type="qwen2")
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors",
                                                     "hotfix.json", "vllm.json"]
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4 and not config.get("modules_to_save")
    assert config["base_model_name_or_path"] == "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    pairs = {}
    with safe_open(str(out / "adapter_model.safetensors"), framework="pt") as f:
        for key in f.keys():
            m = KEY.match(key)
            assert m, key  # no adapter name inside keys, no extra tensors
            assert m.group(2) in config["target_modules"]
            shape = f.get_slice(key).get_shape()
            assert shape[0 if m.group(3) == "A" else 1] == config["r"]  # A: [r, in], B: [out, r]
            pairs.setdefault(key.rsplit(".lora_", 1)[0], set()).add(m.group(3))
    assert pairs and all(v == {"A", "B"} for v in pairs.values())
    saved = json.loads((out / "vllm.json").read_text())
    assert saved["compatible"] and saved["max_lora_rank"] == 8  # smallest of vLLM's choices >= r=4
    assert saved["command"] == report["command"]
    assert report["command"].startswith("vllm serve Qwen/Qwen2.5-Coder-0.5B-Instruct --enable-lora --max-lora-rank 8 "
                                        f"--lora-modules yaml-fix={out.resolve()}")
    with pytest.raises(Exception, match="not empty"):
        export_vllm(trained_hotfixes["a"], out, model_type="qwen2")


def test_check_rejects_modules_to_save_large_rank_and_unknown_modules(trained_hotfixes, tmp_path):
    saved = _variant(trained_hotfixes["a"], tmp_path / "saved", modules_to_save=["lm_head"])
    with pytest.raises(VllmCompatError, match="modules_to_save") as e:
        export_vllm(saved, tmp_path / "out", model_type="qwen2")
    assert not (tmp_path / "out").exists() and e.value.report["compatible"] is False
    big = _variant(trained_hotfixes["a"], tmp_path / "big", r=1024)
    assert any("above vLLM's largest max_lora_rank 512" in p for p in check_vllm(big, model_type="qwen2")["problems"])
    fit = check_vllm(trained_hotfixes["a"], model_type="qwen2", max_lora_rank=24)
    assert not fit["compatible"] and str(list(VLLM_MAX_LORA_RANKS)) in fit["problems"][0]
    assert not check_vllm(trained_hotfixes["a"], model_type="qwen2", max_lora_rank=1)["compatible"]
    odd = _variant(trained_hotfixes["a"], tmp_path / "odd", target_modules=["q_proj", "c_attn"])
    assert "['c_attn'] are not LoRA-capable in vLLM's qwen2" in " ".join(check_vllm(odd, model_type="qwen2")["problems"])
    dora = _variant(trained_hotfixes["a"], tmp_path / "dora", use_dora=True, bias="all")
    assert len(check_vllm(dora, model_type="qwen2")["problems"]) == 2
    assert check_vllm(trained_hotfixes["a"], model_type="gpt_neox")["warnings"]  # not in the table: warned


def test_cli_export_from_the_registry(trained_hotfixes, tiny_model_dir, tmp_path, capsys):
    reg = str(tmp_path / "reg")
    main(["hotfix", "add", str(trained_hotfixes["a"]), "--registry", reg, "--name", "yaml"])
    capsys.readouterr()
    main(["hotfix", "export-vllm", "yaml", "--registry", reg, "--out", str(tmp_path / "x"),
          "--base-model", str(tiny_model_dir)])
    printed = json.loads(capsys.readouterr().out)
    assert "--lora-modules yaml-v1=" in printed["command"] and (tmp_path / "x" / "adapter_model.safetensors").exists()
    saved = _variant(trained_hotfixes["a"], tmp_path / "saved", modules_to_save=["lm_head"])
    with pytest.raises(SystemExit) as e:
        main(["hotfix", "export-vllm", str(saved), "--out", str(tmp_path / "y"), "--model-type", "qwen2"])
    assert e.value.code == 2 and "modules_to_save" in capsys.readouterr().err
