"""Hotfixes for the deploy and serve tests, built on the tiny model of tests/conftest.py.

``trained_hotfixes`` trains two real LoRA hotfixes (two cases each) with a few Adam steps: their
canaries must pass. ``zero_hotfix`` is a LoRA adapter straight from initialisation (B = 0):
it loads cleanly and changes nothing — the silent "adapter not applied" case the canary refuses.
"""

from __future__ import annotations

import pytest

from codehotfix.data.cases import HotfixCase, write_cases
from codehotfix.files import write_json

_CASES = [
    HotfixCase(id="yaml/0", prefix="import yaml\n\ndef load(path):\n    with open(path) as f:\n",
               buggy="        return yaml.load(f)", fixed="        return yaml.safe_load(f)", group="yaml"),
    HotfixCase(id="warn/0", prefix="import logging\nlogger = logging.getLogger(__name__)\n",
               buggy="logger.warn('disk full')", fixed="logger.warning('disk full')", group="warn"),
    HotfixCase(id="none/0", prefix="def check(value):\n",
               buggy="    if value == None:", fixed="    if value is None:", group="none"),
    HotfixCase(id="range/0", prefix="def total(xs):\n    total = 0\n",
               buggy="    for i in range(len(xs) - 1):", fixed="    for i in range(len(xs)):", group="range"),
]


def load_tiny(model_dir):
    from codehotfix.models.loading import load_model

    return load_model(str(model_dir), dtype="float32", threads=1)


def _line_logp(model, tokenizer, case, line):
    import torch

    ctx = tokenizer(case.prefix, add_special_tokens=False)["input_ids"]
    tgt = tokenizer(line + "\n", add_special_tokens=False)["input_ids"]
    logits = model(input_ids=torch.tensor([ctx + tgt])).logits[0, len(ctx) - 1:-1]
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(tgt)[:, None]).sum()


def train_tiny_hotfix(model_dir, cases, out, steps=40, seed=0, unlearn=0.3):
    """A LoRA trained for a few Adam steps to prefer each case's fixed line over its buggy line
    (loss: −log p(fixed) + ``unlearn``·log p(buggy) per case).

    A small loop of its own (not codehotfix.training) so these tests only exercise deploy code.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    loaded = load_tiny(model_dir)
    model = get_peft_model(loaded.model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj",
                                                                                        "o_proj", "down_proj"],
                                                    task_type="CAUSAL_LM"))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.05)
    for _ in range(steps):
        loss = sum(-_line_logp(model, loaded.tokenizer, c, c.fixed) + unlearn * _line_logp(model, loaded.tokenizer, c, c.buggy)
                   for c in cases)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.save_pretrained(out)
    write_json(out / "hotfix.json", {"format": "codehotfix-hotfix/1", "base_model": str(model_dir),
                                     "base_model_checksum": loaded.checksum, "case_ids": [c.id for c in cases],
                                     "canaries": "cases.jsonl"})
    write_cases(out / "cases.jsonl", cases)
    return out


@pytest.fixture(scope="session")
def trained_hotfixes(tmp_path_factory, tiny_model_dir):
    """{"a": folder trained on yaml+warn, "b": folder trained on none+range}; each holds cases.jsonl."""
    root = tmp_path_factory.mktemp("hotfixes")
    return {"a": train_tiny_hotfix(tiny_model_dir, _CASES[:2], root / "a"),
            "b": train_tiny_hotfix(tiny_model_dir, _CASES[2:], root / "b")}


@pytest.fixture(scope="session")
def zero_hotfix(tmp_path_factory, tiny_model_dir):
    """A LoRA adapter as initialised (lora_B = 0): valid files, no effect."""
    from peft import LoraConfig, get_peft_model

    out = tmp_path_factory.mktemp("zero") / "zero"
    model = load_tiny(tiny_model_dir).model
    get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                     task_type="CAUSAL_LM")).save_pretrained(out)
    write_cases(out / "cases.jsonl", _CASES[:2])
    return out


@pytest.fixture()
def tiny_loaded(tiny_model_dir):
    """A fresh LoadedModel of the tiny model (each test mutates it with adapters)."""
    return load_tiny(tiny_model_dir)
