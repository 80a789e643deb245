"""Packed scoring (``score_packed``): the scores and gradients of the padded layout, from rows
without padding."""

import pytest
import torch

from codehotfix.config import AdapterConfig
from codehotfix.data.cases import HotfixCase
from codehotfix.models.adapters import build_adapter
from codehotfix.scoring import collate, encode_case, score_batch
from codehotfix.scoring.forward import pack_rows, score_packed, score_shared_prefix

# Contexts and lines of very different lengths, so the padded layout pads a lot and packing
# changes the shapes the model sees.
CASES = [
    HotfixCase(id="a", prefix="import yaml\n\ndef load(path):\n    with open(path) as f:\n",
               buggy="        return yaml.load(f)", fixed="        return yaml.safe_load(f)",
               suffix="\n\ndef add(a, b):\n    return a + b\n"),
    HotfixCase(id="b", prefix="x = 1\n", buggy="print(x)", fixed="print(x + 1)", suffix="value = None\n"),
    HotfixCase(id="c", prefix="def add(a, b):\n", buggy="    return a - b",
               fixed="    return a + b  # the sum, not the difference of a and b", suffix="\n"),
    HotfixCase(id="d", prefix="class Config:\n    def __init__(self, items=None):\n        self.items = items or []\n"
               "    def get(self, i):\n", buggy="        return self.items[i + 1]", fixed="        return self.items[i]"),
]


def test_pack_rows_balances_rows_so_little_is_padding():
    lengths = [50, 300, 120, 90, 260, 10]
    rows = pack_rows(lengths, row_tokens=384)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert len(rows) == 3  # ceil(830 / 384)
    # Longest first into the shortest row: 300 | 260 + 10 | 120 + 90 + 50, so the widest row is the
    # longest item, and the rows hold 900 positions for 830 tokens.
    assert sorted(sum(lengths[i] for i in row) for row in rows) == [260, 270, 300]
    assert pack_rows([500, 20], row_tokens=100) == [[0], [1]]  # never more rows than items
    assert pack_rows([30, 40, 50], row_tokens=384) == [[2, 1, 0]]  # one row when all fit


def _batch(tokenizer, suffix_tokens=0, kl_positions=3):
    enc = [encode_case(tokenizer, c, 256, suffix_tokens=suffix_tokens) for c in CASES]
    return collate(enc, tokenizer.pad_token_id, kl_positions=kl_positions)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("row_tokens", [1, 60, 10_000])  # one case per row, a few rows, one row
def test_packed_scores_equal_the_padded_layout(tiny_model, tiny_tokenizer, attn, row_tokens):
    tiny_model.config._attn_implementation = attn
    batch = _batch(tiny_tokenizer, suffix_tokens=5)
    with torch.no_grad():
        want = score_shared_prefix(tiny_model, batch, with_context=True, with_snippet=True, with_suffix=True)
        got = score_packed(tiny_model, batch, with_context=True, with_snippet=True, with_suffix=True,
                           row_tokens=row_tokens)
    assert want.suffix_logprobs.shape[0] == int(batch.suffix_mask.sum()) > 0
    for name in ("fixed_logp", "buggy_logp", "suffix_logp", "ctx_token_logp", "suffix_logprobs"):
        assert torch.allclose(getattr(got, name), getattr(want, name), atol=1e-5), name
    mask = batch.kl_mask
    assert torch.allclose(got.ctx_logprobs[mask], want.ctx_logprobs[mask], atol=1e-5)
    assert torch.equal(got.fixed_mask, want.fixed_mask) and torch.equal(got.ctx_token_mask, want.ctx_token_mask)


def test_packed_gradients_equal_the_padded_layout(tiny_model, tiny_tokenizer):
    """The adapter's gradients of a loss over lines and context distributions match: the packed
    pass trains what the padded one trains."""
    model = build_adapter(tiny_model, AdapterConfig(method="lora", r=4, alpha=8))
    batch = _batch(tiny_tokenizer)
    grads = []
    for pack in (False, True):
        model.zero_grad()
        s = score_batch(model, batch, with_context=True, pack=pack)
        loss = -(s.fixed_logp.sum() - 0.5 * s.buggy_logp.sum()) + s.ctx_logprobs[batch.kl_mask].exp().pow(2).sum()
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name, g in grads[0].items():
        assert torch.allclose(grads[1][name], g, atol=1e-5, rtol=1e-4), name
    assert any(g.abs().sum() > 0 for g in grads[1].values())


def test_packing_a_case_with_another_changes_nothing(tiny_model, tiny_tokenizer):
    """The block mask keeps cases apart: a case's scores are the same alone and packed with others,
    and a line never sees the other line of its case."""
    batch = _batch(tiny_tokenizer)
    alone = collate([encode_case(tiny_tokenizer, CASES[1], 256)], tiny_tokenizer.pad_token_id, kl_positions=3)
    with torch.no_grad():
        together = score_packed(tiny_model, batch, row_tokens=10_000)
        single = score_packed(tiny_model, alone)
    n = int(alone.fixed_mask.sum())
    assert torch.allclose(together.fixed_logp[1, :n], single.fixed_logp[0, :n], atol=1e-5)
    nb = int(alone.buggy_mask.sum())
    assert torch.allclose(together.buggy_logp[1, :nb], single.buggy_logp[0, :nb], atol=1e-5)


def test_training_config_turns_packing_on(tiny_model, tiny_tokenizer, tiny_cases):
    """``training.pack`` reaches the scoring: one step with it gives the padded step's loss."""
    from codehotfix.config import load_config
    from codehotfix.training.loop import train_adapter

    losses = []
    for pack in (False, True):
        from tiny_model import build_tiny_model

        model = build_adapter(build_tiny_model(len(tiny_tokenizer)), AdapterConfig(method="lora", r=4, alpha=8))
        cfg = load_config(None, ["training.epochs=1", "training.batch_size=4", f"training.pack={str(pack).lower()}",
                                 "objectives.3.weight=0"])
        result = train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False)
        losses.append([h["loss"] for h in result.history])
    assert len(losses[0]) == len(losses[1]) >= 1
    assert losses[1] == pytest.approx(losses[0], abs=1e-4)
