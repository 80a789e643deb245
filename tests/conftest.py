"""Shared fixtures: a tiny random causal LM with a real byte-level BPE tokenizer, built offline in
seconds, and a handful of hotfix cases.

The model is a 2-layer Qwen2 (the default model's architecture) with hidden size 64, so the code
paths are the real ones (PEFT LoRA targets, generation, stop strings), only small.
"""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tiny_model import CORPUS, build_tiny_model, build_tokenizer  # noqa: E402,F401


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tokenizer()


@pytest.fixture()
def tiny_model(tiny_tokenizer):
    """A fresh random model per test, so tests that train it cannot affect each other."""
    return build_tiny_model(len(tiny_tokenizer))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer):
    """The tiny model saved as a local Hugging Face folder (model + tokenizer)."""
    path = tmp_path_factory.mktemp("tiny-model")
    build_tiny_model(len(tiny_tokenizer)).save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture()
def tiny_cases():
    from codehotfix.data.cases import HotfixCase

    return [
        HotfixCase(id="yaml/0", prefix="import yaml\n\ndef load(path):\n    with open(path) as f:\n",
                   buggy="        return yaml.load(f)", fixed="        return yaml.safe_load(f)", group="yaml"),
        HotfixCase(id="warn/0", prefix="import logging\nlogger = logging.getLogger(__name__)\n",
                   buggy="logger.warn('disk full')", fixed="logger.warning('disk full')", group="warn"),
        HotfixCase(id="none/0", prefix="def check(value):\n",
                   buggy="    if value == None:", fixed="    if value is None:", group="none"),
        HotfixCase(id="range/0", prefix="def total(xs):\n    total = 0\n",
                   buggy="    for i in range(len(xs) - 1):", fixed="    for i in range(len(xs)):", group="range"),
    ]
