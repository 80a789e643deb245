"""Training through ``accelerate`` on the CPU: batch sharding, the single-process Accelerator path
giving the plain loop's weights, ``accelerate launch -m codehotfix.cli train`` end to end, and the
shipped accelerate configs parsing. (More than one process and GPUs: see docs/scale-out.md.)"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from codehotfix.config import load_config
from codehotfix.data.cases import write_cases
from codehotfix.models.adapters import build_adapter
from codehotfix.training.distributed import launched_distributed, shard_batches
from codehotfix.training.loop import train_adapter

ROOT = Path(__file__).resolve().parents[2]


def test_shards_cover_every_batch_with_equal_step_counts():
    batches = list(range(7))
    shards = [shard_batches(batches, rank, 3) for rank in range(3)]
    assert shards == [[0, 3, 6], [1, 4, 0], [2, 5, 1]]  # padded from the start to 9
    assert sorted({b for s in shards for b in s}) == batches
    assert shard_batches(batches, 0, 1) == batches


def test_launch_is_detected_from_the_environment(monkeypatch):
    for key in ("ACCELERATE_MIXED_PRECISION", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    assert not launched_distributed()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert launched_distributed()
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    assert launched_distributed()


def test_single_process_accelerator_matches_the_plain_loop(tiny_tokenizer, tiny_cases, monkeypatch):
    from accelerate import Accelerator

    from tiny_model import build_tiny_model

    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cfg = load_config(overrides=["training.epochs=2", "training.batch_size=2", "training.warmup_steps=1",
                                 "training.lr=0.01"])
    weights, results = [], []
    for accelerator in (None, Accelerator(cpu=True)):
        model = build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter)
        result = train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False, accelerator=accelerator)
        weights.append({k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad})
        results.append(result)
    plain, accel = weights
    assert plain.keys() == accel.keys() and len(plain) > 0
    for name in plain:
        torch.testing.assert_close(accel[name], plain[name], atol=1e-5, rtol=0)
    assert any(not torch.equal(v, torch.zeros_like(v)) for v in plain.values())  # the adapter did train
    assert (results[1].accelerate, results[0].accelerate) == (True, False)
    assert results[1].steps == results[0].steps == 4 and results[1].tokens == results[0].tokens
    assert results[1].history[-1]["loss"] == pytest.approx(results[0].history[-1]["loss"], abs=1e-5)


@pytest.mark.parametrize("name", ["ddp", "fsdp", "deepspeed_zero2"])
def test_shipped_accelerate_configs_parse(name):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(ROOT / "configs" / "accelerate" / f"{name}.yaml"))
    assert cfg.distributed_type.value == {"ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed_zero2": "DEEPSPEED"}[name]
    if name == "fsdp":
        assert cfg.fsdp_config["fsdp_use_orig_params"] is True  # frozen base + trainable LoRA in one shard


def test_accelerate_launch_trains_through_the_cli(tmp_path, tiny_model_dir, tiny_cases):
    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    if launcher is None:
        pytest.skip("the accelerate command is not on this environment's PATH")
    cases = tmp_path / "cases.jsonl"
    write_cases(cases, tiny_cases)
    out = tmp_path / "hotfix"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1"}
    env.pop("ACCELERATE_MIXED_PRECISION", None)
    cmd = [launcher, "launch", "--cpu", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "codehotfix.cli", "train", str(cases), "--out", str(out),
           "--model", str(tiny_model_dir), "--device", "cpu", "training.epochs=1", "training.batch_size=2",
           "training.dtype=float32", "training.threads=1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((out / "hotfix.json").read_text())
    assert manifest["accelerate"] is True and manifest["processes"] == 1 and manifest["device"] == "cpu"
    assert manifest["steps"] == 2
    assert (out / "adapter_model.safetensors").is_file() and not (out / ".checkpoint").exists()
