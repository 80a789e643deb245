"""bench/gguf_convert.py end to end with --tiny: a GGUF file of the tiny model converts both ways into
the same files, sharing one reader where transformers builds three (the times are not asserted)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import gguf_convert  # noqa: E402
from bench.common import build_tiny_model  # noqa: E402


def test_tiny_end_to_end(tmp_path):
    out = tmp_path / "gguf_convert.json"
    result = gguf_convert.main(["--tiny", "--threads", "1", "--repeats", "2", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert out.with_suffix(".md").is_file() and saved["environment"]["cpu_flags"] is not None
    assert result["readers"] == {"three readers": [3, 3], "one reader": [1, 1]}
    assert result["same_files"] and "model.safetensors" in result["files"] and "tokenizer.json" in result["files"]
    assert all(len(v) == 2 for v in result["seconds"].values()) and result["speedup"]["n"] == 2


def test_the_tiny_gguf_file_reads_back_as_the_model_it_was_written_from(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = build_tiny_model(tmp_path / "tiny")
    path = gguf_convert.write_tiny_gguf(folder, tmp_path / "tiny.gguf")
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    again = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name, dtype=torch.float32)
    want, got = model.state_dict(), again.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    text = "import yaml\nlogger.warning('disk full')\n"
    assert AutoTokenizer.from_pretrained(folder)(text)["input_ids"] == \
        AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)(text, add_special_tokens=False)["input_ids"]
