"""The speed benchmarks' baselines really are what they claim: the paper's recipe pads every
snippet to 512 tokens and lowers its loss; the TRL DPO baseline gets prompt/chosen/rejected pairs
and lowers its loss. Runs a few steps on the tiny model from conftest.py (no timings here)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch

# bench/ lives next to src/, not inside the package; make `import bench` work under plain `pytest`.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.baselines import (  # noqa: E402
    DPOBaselineConfig,
    PaperRecipeConfig,
    SnippetCollator,
    build_dpo_trainer,
    build_paper_trainer,
    dpo_dataset,
    snippet_examples,
)
from bench.common import FlopCount, PassCounter, parse_targets, training_flops  # noqa: E402
from codehotfix.errors import ConfigError  # noqa: E402


def test_snippet_collator_pads_every_row_to_512(tiny_tokenizer, tiny_cases):
    examples = snippet_examples(tiny_cases, tiny_tokenizer, max_context_tokens=256)
    batch = SnippetCollator(tiny_tokenizer, max_length=512)(examples)
    for side in ("fixed", "buggy"):
        ids, mask = batch[f"{side}_ids"], batch[f"{side}_mask"]
        assert ids.shape == (len(tiny_cases), 512)
        real = [len(tiny_tokenizer(e[side])["input_ids"]) for e in examples]
        assert mask.sum(-1).tolist() == real  # only padding was added
        assert all(r < 512 for r in real)
        assert (ids[mask == 0] == tiny_tokenizer.pad_token_id).all()


def test_snippets_are_whole_prefix_line_suffix(tiny_tokenizer, tiny_cases):
    case = tiny_cases[0].__class__(id="s", prefix="def f(x):\n", buggy="    return x+1", fixed="    return x",
                                   suffix="\nprint(f(1))\n")
    (ex,) = snippet_examples([case], tiny_tokenizer, max_context_tokens=256)
    assert ex["fixed"] == "def f(x):\n    return x\n\nprint(f(1))\n"
    assert ex["buggy"] == "def f(x):\n    return x+1\n\nprint(f(1))\n"


def test_paper_recipe_lowers_its_loss(tiny_model, tiny_tokenizer, tiny_cases, tmp_path):
    ref = copy.deepcopy(tiny_model)  # the second full copy of the base model
    cfg = PaperRecipeConfig(lr=1e-2, batch_size=4, micro_batch_size=2, max_steps=3, max_length=128)
    trainer = build_paper_trainer(tiny_model, ref, tiny_tokenizer, tiny_cases, cfg, output_dir=str(tmp_path))
    batch = trainer.data_collator(snippet_examples(tiny_cases, tiny_tokenizer, 256))

    def loss() -> float:
        trainer.model.eval()
        with torch.no_grad():
            return float(trainer.compute_loss(trainer.model, batch))

    before = loss()
    assert trainer.last_terms["kl"] == pytest.approx(0.0, abs=1e-5)  # LoRA starts as the identity
    counter = PassCounter().attach(tiny_model).attach(ref)
    trainer.train()
    counter.detach()
    after = loss()
    assert after < before
    assert trainer.state.global_step == 3
    # 3 steps × 2 micro-batches × 2 cases × 2 snippets, every one 128 tokens wide; the second copy
    # runs the fixed snippets without gradients
    tokens = counter.tokens
    assert tokens.train_padded == 3 * 2 * 2 * 2 * 128
    assert tokens.ref_padded == 3 * 2 * 2 * 128
    assert 0 < tokens.train_real < tokens.train_padded and 0 < tokens.ref_real < tokens.ref_padded


def test_dpo_dataset_columns(tiny_tokenizer, tiny_cases):
    ds = dpo_dataset(tiny_cases, tiny_tokenizer, max_context_tokens=256)
    assert ds.column_names == ["prompt", "chosen", "rejected"]
    assert ds[0] == {"prompt": tiny_cases[0].prefix, "chosen": tiny_cases[0].fixed + "\n",
                     "rejected": tiny_cases[0].buggy + "\n"}
    short = dpo_dataset(tiny_cases, tiny_tokenizer, max_context_tokens=3)
    assert all(len(tiny_tokenizer(p)["input_ids"]) <= 4 for p in short["prompt"])  # cut from the left
    assert short[0]["prompt"].endswith(":\n")


def test_trl_dpo_lowers_its_loss(tiny_model, tiny_tokenizer, tiny_cases, tmp_path):
    cfg = DPOBaselineConfig(lr=1e-2, batch_size=4, max_steps=3)
    trainer = build_dpo_trainer(tiny_model, tiny_tokenizer, tiny_cases, cfg, output_dir=str(tmp_path))
    data = dpo_dataset(tiny_cases, tiny_tokenizer, 256)
    before = trainer.evaluate(data)["eval_loss"]
    assert before == pytest.approx(0.6931, abs=1e-3)  # policy == reference: -log sigmoid(0)
    counter = PassCounter().attach(trainer.model)
    trainer.train()
    counter.detach()
    assert trainer.evaluate(data)["eval_loss"] < before
    tokens = counter.tokens  # the reference (adapter off, no gradients) reruns the policy's rows
    assert tokens.train_real == tokens.ref_real > 0 and tokens.train_padded == tokens.ref_padded
    assert trainer.state.global_step == 3


def test_flops_formula_and_targets():
    # 4·N per trained token (+6 per LoRA weight), 2·N per reference token
    assert training_flops(n=10, n_lora=1, train_tokens=3, ref_tokens=5) == (40 + 6) * 3 + 20 * 5
    count = FlopCount()
    count.add_train(torch.tensor(3), 8)
    assert count.to_dict()["train_tokens_padded"] == 8
    (t,) = parse_targets(["prefers_fixed>=0.9"])
    assert t.met({"prefers_fixed": 0.95}) and not t.met({"prefers_fixed": 0.5})
    with pytest.raises(ConfigError, match="unknown metric"):
        parse_targets(["accuracy>=1"])
    with pytest.raises(ConfigError, match="expected METRIC"):
        parse_targets(["prefers_fixed=1"])
