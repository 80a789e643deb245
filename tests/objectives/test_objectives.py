"""Each objective against hand-computed values, and the direction its gradient pushes."""

import math

import pytest
import torch

from codehotfix.objectives import OBJECTIVES, ObjectiveConfig, build_objectives
from codehotfix.scoring import Scores
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
    # Checked when the config is built, before any model loads.
    with pytest.raises(ConfigError, match="unknown name; valid: .*fixed_ce"):
        ObjectiveConfig("nope")
    with pytest.raises(ConfigError, match="unknown param"):
        ObjectiveConfig("unlikelihood", params={"beta": 1})
    with pytest.raises(ConfigError, match="beta must be a number > 0"):
        ObjectiveConfig("npo", params={"beta": 0})
    with pytest.raises(ConfigError, match="no such file"):
        ObjectiveConfig("kl_corpus", params={"corpus": "/nonexistent/retain.jsonl"})
    with pytest.raises(KeyError, match="valid: .*fixed_ce"):
        build_objectives([_unchecked("nope")])


def _unchecked(name):
    """An ObjectiveConfig that skipped validation (as a hand-built one could)."""
    cfg = ObjectiveConfig.__new__(ObjectiveConfig)
    cfg.name, cfg.weight, cfg.params = name, 1.0, {}
    return cfg


def test_snippet_ce_averages_context_line_and_suffix_tokens():
    s = _scores([0.5], [0.5])
    s.ctx_token_logp = torch.log(torch.tensor([[1.0, 0.25, 0.5]], dtype=torch.float64)).requires_grad_(True)
    s.ctx_token_mask = torch.tensor([[False, True, True]])  # column 0 is padding
    s.suffix_logp = torch.log(torch.tensor([[0.125, 1.0]], dtype=torch.float64)).requires_grad_(True)
    s.suffix_mask = torch.tensor([[True, False]])
    out = OBJECTIVES.get("snippet_ce")()(s)
    assert out.loss.item() == pytest.approx(-(math.log(0.25) + math.log(0.5) + math.log(0.5) + math.log(0.125)) / 4)
    out.loss.backward()
    # Every scored token is pulled up by the same 1/N; padding is untouched.
    for t, m in ((s.ctx_token_logp, s.ctx_token_mask), (s.suffix_logp, s.suffix_mask), (s.fixed_logp, s.fixed_mask)):
        assert t.grad[m].tolist() == pytest.approx([-0.25] * int(m.sum()))
        assert (t.grad[~m] == 0).all()


def test_suffix_ce_averages_only_the_suffix_tokens():
    s = _scores([0.5], [0.5])
    s.suffix_logp = torch.log(torch.tensor([[0.125, 0.5, 1.0]], dtype=torch.float64)).requires_grad_(True)
    s.suffix_mask = torch.tensor([[True, True, False]])  # column 2: past the case's suffix
    out = OBJECTIVES.get("suffix_ce")()(s)
    assert out.loss.item() == pytest.approx(-(math.log(0.125) + math.log(0.5)) / 2)
    assert out.metrics["ce_suffix"] == pytest.approx(out.loss.item())
    out.loss.backward()
    assert s.suffix_logp.grad[0].tolist() == pytest.approx([-0.5, -0.5, 0.0])
    assert s.fixed_logp.grad is None  # the fixed line is fixed_ce's, at its own weight


def test_suffix_ce_without_suffixes_adds_nothing_and_checks_its_param():
    s = _scores([0.5], [0.5])  # no case carried a suffix
    out = OBJECTIVES.get("suffix_ce")()(s)
    assert out.loss.item() == 0.0 and out.loss.requires_grad
    with pytest.raises(ConfigError, match="suffix_ce: param suffix_tokens must be an integer >= 1, got 0"):
        ObjectiveConfig("suffix_ce", params={"suffix_tokens": 0})
    with pytest.raises(ConfigError, match="snippet_ce: param suffix_tokens must be an integer >= 0, got 'x'"):
        ObjectiveConfig("snippet_ce", params={"suffix_tokens": "x"})


def test_npo_matches_the_formula_and_pushes_the_buggy_line_down():
    beta = 0.1
    s = _scores([0.5], [0.5, 0.25])
    s.ref_buggy_logp = torch.log(torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    out = OBJECTIVES.get("npo")(beta=beta, from_divergence=False)(s)
    ratio = (0.5 * 0.25) / (0.5 * 0.5)  # π_θ(y) / π_ref(y) over the whole line
    assert out.loss.item() == pytest.approx(2 / beta * math.log(1 + ratio ** beta))
    out.loss.backward()
    # d L / d log π_θ = 2·σ(β·log ratio) > 0 on every buggy token: descent lowers the buggy line.
    sig = 1 / (1 + math.exp(-beta * math.log(ratio)))
    assert s.buggy_logp.grad[0].tolist() == pytest.approx([2 * sig, 2 * sig])
    # Default: only the tokens from the divergence count (the shared ones belong to the fixed line too).
    s2 = _scores([0.5], [0.5, 0.25], div=[False, True])
    s2.ref_buggy_logp = torch.log(torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    out2 = OBJECTIVES.get("npo")(beta=beta)(s2)
    assert out2.loss.item() == pytest.approx(2 / beta * math.log(1 + (0.25 / 0.5) ** beta))
    out2.loss.backward()
    assert s2.buggy_logp.grad[0, 0] == 0 and s2.buggy_logp.grad[0, 1] > 0
    # At the reference (ratio 1) the loss is (2/β)·log 2.
    s3 = _scores([0.5], [0.25])
    s3.ref_buggy_logp = s3.buggy_logp.detach().clone()
    assert OBJECTIVES.get("npo")(beta=beta)(s3).loss.item() == pytest.approx(2 / beta * math.log(2))


def test_kl_corpus_top_k_value_and_gradient():
    from codehotfix.objectives.retain import topk_kl

    ref = torch.log(torch.tensor([[[0.5, 0.3, 0.2]]], dtype=torch.float64))
    values, index = ref.topk(2, dim=-1)  # keep tokens 0 and 1; token 2 is the rest bin
    logits = torch.log(torch.tensor([[[0.4, 0.4, 0.2]]], dtype=torch.float64)).requires_grad_(True)
    s = _scores([0.5], [0.5])
    s.retain_logprobs = torch.log_softmax(logits, -1)
    s.retain_mask = torch.tensor([[True]])
    s.ref_retain_logp, s.ref_retain_index = values, index
    out = OBJECTIVES.get("kl_corpus")(top_k=2)(s)
    assert out.loss.item() == pytest.approx(0.5 * math.log(0.5 / 0.4) + 0.3 * math.log(0.3 / 0.4) + 0.2 * math.log(1.0))
    out.loss.backward()
    # q - p on the kept tokens; the rest bin already matches, so token 2 feels nothing.
    assert logits.grad[0, 0].tolist() == pytest.approx([-0.1, 0.1, 0.0])
    # With every token kept it is the exact KL; identical distributions give 0.
    full_v, full_i = ref.topk(3, dim=-1)
    q = torch.log(torch.tensor([[[0.2, 0.5, 0.3]]], dtype=torch.float64))
    exact = sum(p * math.log(p / r) for p, r in zip([0.5, 0.3, 0.2], [0.2, 0.5, 0.3]))
    assert topk_kl(q, full_v, full_i).item() == pytest.approx(exact, abs=1e-6)
    assert topk_kl(ref, values, index).item() == pytest.approx(0.0, abs=1e-12)


def test_kl_suffix_is_the_mean_top_k_kl_over_the_suffix_positions():
    from codehotfix.objectives.retain import topk_kl

    ref = torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype=torch.float64))  # 2 suffix positions
    values, index = ref.topk(2, dim=-1)
    logits = torch.log(torch.tensor([[0.4, 0.4, 0.2], [0.1, 0.1, 0.8]], dtype=torch.float64)).requires_grad_(True)
    s = _scores([0.5], [0.5])
    s.suffix_logprobs = torch.log_softmax(logits, -1)
    s.ref_suffix_logp, s.ref_suffix_index = values, index
    out = OBJECTIVES.get("kl_suffix")(top_k=2)(s)
    first = 0.5 * math.log(0.5 / 0.4) + 0.3 * math.log(0.3 / 0.4)  # the second position matches the base
    assert out.loss.item() == pytest.approx(first / 2)
    assert out.loss.item() == pytest.approx(topk_kl(s.suffix_logprobs, values, index).mean().item())
    assert out.metrics["kl_suffix"] == pytest.approx(out.loss.item())
    out.loss.backward()
    assert logits.grad[0].tolist() == pytest.approx([-0.05, 0.05, 0.0]) and logits.grad[1].abs().max() < 1e-12
    assert s.fixed_logp.grad is None  # the line is the learn term's


def test_kl_suffix_without_suffix_positions_adds_nothing_and_checks_its_params():
    s = _scores([0.5], [0.5])
    out = OBJECTIVES.get("kl_suffix")()(s)
    assert out.loss.item() == 0.0 and out.loss.requires_grad
    s.suffix_logprobs = torch.zeros(0, 3, dtype=torch.float64)  # a batch whose cases have no suffix
    s.ref_suffix_logp, s.ref_suffix_index = torch.zeros(0, 2), torch.zeros(0, 2, dtype=torch.long)
    assert OBJECTIVES.get("kl_suffix")()(s).loss.item() == 0.0
    for name, bad in (("suffix_tokens", 0), ("top_k", True), ("top_k", "8")):
        with pytest.raises(ConfigError, match=f"kl_suffix: param {name} must be an integer >= 1, got {bad!r}"):
            ObjectiveConfig("kl_suffix", params={name: bad})


def test_mix_reports_what_its_terms_need():
    mix = build_objectives([ObjectiveConfig("snippet_ce", params={"suffix_tokens": 8}), ObjectiveConfig("npo", 0.5),
                            ObjectiveConfig("kl_corpus"), ObjectiveConfig("kl_context", 0.0)])
    assert mix.needs_snippet and mix.suffix_tokens() == 8 and mix.needs_reference and mix.needs_base_model
    assert mix.retain_objective() is not None and not mix.needs_context  # weight 0 switches a term off
    # The suffix alone rides on the fixed line's row: no scoring of the context's own tokens.
    suffix = build_objectives([ObjectiveConfig("fixed_ce"), ObjectiveConfig("suffix_ce", params={"suffix_tokens": 16})])
    assert suffix.suffix_tokens() == 16 and not suffix.needs_snippet
    plain = build_objectives([ObjectiveConfig("fixed_ce"), ObjectiveConfig("unlikelihood")])
    assert not (plain.needs_snippet or plain.needs_reference or plain.needs_base_model or plain.retain_objective())
    assert not plain.needs_suffix_distributions and plain.suffix_top_k() == 0
    after = build_objectives([ObjectiveConfig("fixed_ce"), ObjectiveConfig("suffix_ce", params={"suffix_tokens": 8}),
                              ObjectiveConfig("kl_suffix", params={"suffix_tokens": 24, "top_k": 16})])
    # The longer of the two suffixes is scored; kl_suffix compares with the base (adapter off).
    assert after.suffix_tokens() == 24 and after.needs_suffix_distributions and after.suffix_top_k() == 16
    assert after.needs_base_model and not after.needs_snippet and not after.retain_objective()
    with pytest.raises(ConfigError, match="at most one retain-corpus"):
        build_objectives([ObjectiveConfig("kl_corpus"), ObjectiveConfig("kl_corpus", params={"top_k": 4})])
