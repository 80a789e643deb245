"""DPO, SimPO and ORPO against hand-computed values, TRL's own loss code, and their gradient signs.

TRL's losses live in trainer methods (``CPOTrainer.cpo_loss``, ``ORPOTrainer.odds_ratio_loss``) that
only read a few attributes of the trainer, so they are called here with a stand-in ``self``.
"""

import math
import os
from types import SimpleNamespace

import pytest
import torch

from codehotfix.objectives import OBJECTIVES
from codehotfix.scoring import Scores

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def _scores(fixed_p, buggy_p, ref_fixed_p=None, ref_buggy_p=None):
    """One case per row; token probabilities given directly; rows padded with p = 1 (masked)."""
    def t(rows):
        width = max(len(r) for r in rows)
        return torch.log(torch.tensor([r + [1.0] * (width - len(r)) for r in rows], dtype=torch.float64))

    def m(rows):
        width = max(len(r) for r in rows)
        return torch.tensor([[True] * len(r) + [False] * (width - len(r)) for r in rows])

    s = Scores(t(fixed_p).requires_grad_(True), m(fixed_p), t(buggy_p).requires_grad_(True), m(buggy_p), m(buggy_p))
    if ref_fixed_p is not None:
        s.ref_fixed_logp, s.ref_buggy_logp = t(ref_fixed_p), t(ref_buggy_p)
    return s


def _trl(method, **attrs):
    """Calls a TRL trainer's loss method with a stand-in trainer holding only what it reads."""
    defaults = {"alpha": 0.0, "label_smoothing": 0.0, "accelerator": SimpleNamespace(device="cpu")}
    return lambda *args: method(SimpleNamespace(**(defaults | attrs)), *args)


def test_dpo_value_gradient_and_trl():
    from trl.experimental.cpo import CPOTrainer

    beta = 0.1
    s = _scores([[0.5], [0.5, 0.5]], [[0.25], [0.125]], [[0.25], [0.5, 0.5]], [[0.5], [0.25]])
    out = OBJECTIVES.get("dpo")(beta=beta)(s)
    # Case 1: chosen log-ratio log 2, rejected −log 2 → −logσ(2β·log 2) = log(1 + 4^−β).
    # Case 2: chosen log 1 = 0, rejected log(1/2) → log(1 + 2^−β).
    assert out.loss.item() == pytest.approx((math.log(1 + 4 ** -beta) + math.log(1 + 2 ** -beta)) / 2)
    out.loss.backward()
    assert (s.fixed_logp.grad[s.fixed_mask] < 0).all() and (s.buggy_logp.grad[s.buggy_mask] > 0).all()
    # TRL's sigmoid (DPO) loss on the same log-ratios: CPO's loss on log-ratios is DPO's loss.
    chosen = (s.fixed_logp - s.ref_fixed_logp).detach().sum(-1)
    rejected = (s.buggy_logp - s.ref_buggy_logp).detach().sum(-1)
    losses, _, _ = _trl(CPOTrainer.cpo_loss, beta=beta, loss_type="sigmoid")(chosen, rejected)
    assert out.loss.item() == pytest.approx(losses.mean().item())


def test_simpo_value_gradient_and_trl():
    from trl.experimental.cpo import CPOTrainer

    beta, gamma = 2.0, 0.5
    s = _scores([[0.5, 0.25]], [[0.5, 0.5, 0.125]])
    out = OBJECTIVES.get("simpo")(beta=beta, gamma=gamma)(s)
    mean_w = (math.log(0.5) + math.log(0.25)) / 2
    mean_l = (2 * math.log(0.5) + math.log(0.125)) / 3
    assert out.loss.item() == pytest.approx(-math.log(1 / (1 + math.exp(-(beta * (mean_w - mean_l) - gamma)))))
    out.loss.backward()
    assert (s.fixed_logp.grad < 0).all() and (s.buggy_logp.grad > 0).all()
    losses, _, _ = _trl(CPOTrainer.cpo_loss, beta=beta, loss_type="simpo", simpo_gamma=gamma)(
        torch.tensor([mean_w]), torch.tensor([mean_l]))
    assert out.loss.item() == pytest.approx(losses.item())


def test_orpo_value_gradient_and_trl():
    from trl.experimental.orpo import ORPOTrainer

    s = _scores([[0.5, 0.5]], [[0.25]])
    out = OBJECTIVES.get("orpo")()(s)
    p_w, p_l = math.exp(math.log(0.5)), 0.25  # token-mean log-probs → P
    log_odds = math.log(p_w / (1 - p_w)) - math.log(p_l / (1 - p_l))
    assert out.loss.item() == pytest.approx(math.log(1 + math.exp(-log_odds)))
    out.loss.backward()
    assert (s.fixed_logp.grad < 0).all() and (s.buggy_logp.grad > 0).all()
    # TRL returns β·logσ(log odds) (its trainer subtracts it from the NLL); ours is −logσ(log odds).
    losses, *_ = _trl(ORPOTrainer.odds_ratio_loss, beta=0.1)(torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)]))
    assert out.loss.item() == pytest.approx(-losses.item() / 0.1)


def test_preference_losses_fall_as_the_margin_grows():
    small = _scores([[0.3]], [[0.3]], [[0.3]], [[0.3]])
    large = _scores([[0.6]], [[0.1]], [[0.3]], [[0.3]])
    for name in ("dpo", "simpo", "orpo"):
        obj = OBJECTIVES.get(name)()
        assert obj(large).loss.item() < obj(small).loss.item(), name
