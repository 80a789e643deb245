"""The tiny random test model: a 2-layer Qwen2 and a byte-level BPE tokenizer trained on a few lines of
code, built offline in seconds. A plain module (not conftest) so tests in any folder can import it by a
name no other file shares."""

from __future__ import annotations

import torch

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


def train_on_buggy(model, tokenizer, case, steps: int = 60):
    """The tiny model after a few steps on prefix + buggy line, tokenized as at generation time, so
    greedy decoding writes the bug (the guard tests need a model that does)."""
    ids = torch.tensor([tokenizer(case.prefix)["input_ids"] + tokenizer(case.buggy + "\n")["input_ids"]])
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


def lora(model, perturb: bool):
    """The tiny model with a LoRA: zero-initialised (identical to the base) or with random B weights."""
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                                  target_modules=["q_proj", "v_proj", "down_proj"]))
    if perturb:
        gen = torch.Generator().manual_seed(1)
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.data = torch.randn(p.shape, generator=gen) * 0.5
    return peft_model.eval()


def prefix_tuned(model):
    """The tiny model with a 4-token prefix-tuning adapter."""
    from peft import PrefixTuningConfig, get_peft_model

    return get_peft_model(model, PrefixTuningConfig(num_virtual_tokens=4, task_type="CAUSAL_LM")).eval()
