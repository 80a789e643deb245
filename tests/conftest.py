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

CORPUS = [
    "import yaml\n\ndef load(path):\n    with open(path) as f:\n        return yaml.safe_load(f)\n",
    "import logging\nlogger = logging.getLogger(__name__)\nlogger.warning('disk full')\n",
    "from datetime import datetime, timezone\nnow = datetime.now(timezone.utc)\n",
    "def add(a, b):\n    return a + b\n\nfor i in range(len(xs)):\n    total += xs[i]\n",
    "class Config:\n    def __init__(self, items=None):\n        self.items = items or []\n",
    "if value is None:\n    raise ValueError('missing value')\nprint(value)\n",
]


def build_tokenizer():
    """A byte-level BPE tokenizer trained on a few lines of code, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 5, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )


def build_tiny_model(vocab_size: int, seed: int = 0):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    model = Qwen2ForCausalLM(config)
    model.eval()
    return model


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
