"""Each objective against hand-computed values, and the direction its gradient pushes."""

import math

import pytest
import torch

from codehotfix.objectives import OBJECTIVES, ObjectiveConfig, build_objectives
from codehotfix.training.batching import Scores
from codehotfix.errors import ConfigError


def _scores(fixed_p, buggy_p, div=None, ctx=None, ref=None):
    """Scores with one case; token probabilities given directly (logp = log p)."""
    f = torch.log(torch.tensor([fixed_p], dtype=torch.float64)).requires_grad_(True)
    b = torch.log(torch.tensor([buggy_p], dtype=torch.float64)).requires_grad_(True)
    fm = torch.ones_like(f, dtype=torch.bool)
    bm = torch.ones_like(b, dtype=torch.bool)
    dm = torch.tensor([div], dtype=torch.bool) if div is not None else bm
    s = Scores(f, fm, b, bm, dm)
    if ctx is not None:
        s.ctx_logprobs = torch.log(torch.tensor([ctx], dtype=torch.float64)).requires_grad_(True)
        s.ref_ctx_logprobs = torch.log(torch.tensor([ref], dtype=torch.float64))
        s.ctx_mask = torch.ones(1, len(ctx), dtype=torch.bool)
    return s


def test_fixed_ce_value_and_gradient():
    s = _scores([0.5, 0.25], [0.5])
    out = OBJECTIVES.get("fixed_ce")()(s)
    assert out.loss.item() == pytest.approx(-(math.log(0.5) + math.log(0.25)) / 2)
    out.loss.backward()
    # Raising the fixed tokens' log-probs lowers the loss.
    assert (s.fixed_logp.grad < 0).all()


def test_unlikelihood_value_only_from_divergence_and_gradient():
    # Buggy tokens: p = 0.9 (shared with the fixed line), 0.5, 0.2 (after the divergence).
    s = _scores([0.5], [0.9, 0.5, 0.2], div=[False, True, True])
    out = OBJECTIVES.get("unlikelihood")()(s)
    assert out.loss.item() == pytest.approx(-(math.log(0.5) + math.log(0.8)) / 2)
    out.loss.backward()
    grad = s.buggy_logp.grad[0]
    assert grad[0] == 0  # the shared token is left alone
    assert (grad[1:] > 0).all()  # lowering the buggy tokens' log-probs lowers the loss
    every = OBJECTIVES.get("unlikelihood")(from_divergence=False)(_scores([0.5], [0.9, 0.5, 0.2], div=[False, True, True]))
    assert every.loss.item() == pytest.approx(-(math.log(0.1) + math.log(0.5) + math.log(0.8)) / 3)


def test_penalize_matches_the_paper_formula_and_is_bounded():
    s = _scores([0.5], [0.25])
    out = OBJECTIVES.get("penalize")()(s)
    ce_f, ce_b = -math.log(0.5), -math.log(0.25)
    assert out.loss.item() == pytest.approx(0.7 * ce_f + 0.3 * ce_f / (2 * ce_b + 1e-6))
    out.loss.backward()
    assert (s.fixed_logp.grad < 0).all() and (s.buggy_logp.grad > 0).all()
    # As the buggy line becomes impossible the loss tends to 0.7·CE_fixed, never below it.
    far = OBJECTIVES.get("penalize")()(_scores([0.5], [1e-30])).loss.item()
    assert 0.7 * ce_f <= far < out.loss.item()


def test_gradient_ascent_is_minus_buggy_ce():
    s = _scores([0.5], [0.25, 0.5])
    out = OBJECTIVES.get("gradient_ascent")()(s)
    assert out.loss.item() == pytest.approx((math.log(0.25) + math.log(0.5)) / 2)
    out.loss.backward()
    assert (s.buggy_logp.grad > 0).all()


def test_kl_context_value_zero_at_reference_and_gradient():
    ref = [[0.5, 0.25, 0.25]]
    same = OBJECTIVES.get("kl_context")()(_scores([0.5], [0.5], ctx=ref, ref=ref))
    assert same.loss.item() == pytest.approx(0.0, abs=1e-12)
    logits = torch.log(torch.tensor([[[0.25, 0.5, 0.25]]], dtype=torch.float64)).requires_grad_(True)
    s = _scores([0.5], [0.5], ctx=[[0.25, 0.5, 0.25]], ref=ref)
    s.ctx_logprobs = torch.log_softmax(logits, -1)
    out = OBJECTIVES.get("kl_context")()(s)
    expected = 0.5 * math.log(0.5 / 0.25) + 0.25 * math.log(0.25 / 0.5) + 0.25 * math.log(1.0)
    assert out.loss.item() == pytest.approx(expected)
    out.loss.backward()
    # d KL / d logits = q - p_ref: the under-weighted token (index 0) is pulled up, the
    # over-weighted one (index 1) down, the matching one left alone.
    g = logits.grad[0, 0]
    assert g.tolist() == pytest.approx([0.25 - 0.5, 0.5 - 0.25, 0.0])


def test_mix_weights_sum_and_zero_weight_skips():
    mix = build_objectives([ObjectiveConfig("fixed_ce", 2.0), ObjectiveConfig("gradient_ascent", 0.0)])
    s = _scores([0.5], [0.25])
    out = mix(s)
    assert out.loss.item() == pytest.approx(2 * -math.log(0.5))
    assert "loss/gradient_ascent" not in out.metrics


def test_unknown_objective_and_param_are_clear_errors():
    with pytest.raises(KeyError, match="valid: .*fixed_ce"):
        build_objectives([ObjectiveConfig("nope")])
    with pytest.raises(ConfigError, match="unknown param"):
        build_objectives([ObjectiveConfig("unlikelihood", params={"beta": 1})])
