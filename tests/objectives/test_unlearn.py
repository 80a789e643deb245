"""The ``span`` of unlikelihood and npo: "differing" leaves the tail both lines share alone, "to_end"
(the default) is the loss it always was, bit for bit."""

import math

import pytest
import torch

from codehotfix.data.cases import HotfixCase
from codehotfix.errors import ConfigError
from codehotfix.objectives import OBJECTIVES
from codehotfix.objectives.base import masked_mean, sequence_sum
from codehotfix.scoring import Scores, collate, encode_case, score_batch

# Buggy tokens: p = 0.9 (shared start), 0.5 (its own token), 0.2, 0.7 (the tail shared with the fixed line).
BUGGY_P = [0.9, 0.5, 0.2, 0.7]
DIV = [False, True, True, True]
DIFF = [False, True, False, False]


def _scores(diff=DIFF):
    b = torch.log(torch.tensor([BUGGY_P], dtype=torch.float64)).requires_grad_(True)
    ones = torch.ones_like(b, dtype=torch.bool)
    s = Scores(torch.zeros(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.bool), b, ones,
               torch.tensor([DIV]), buggy_diff_mask=torch.tensor([diff]) if diff is not None else None)
    s.ref_buggy_logp = torch.log(torch.tensor([[0.8, 0.6, 0.3, 0.7]], dtype=torch.float64))
    return s


def test_unlikelihood_differing_pushes_down_only_the_buggy_lines_own_tokens():
    s = _scores()
    out = OBJECTIVES.get("unlikelihood")(span="differing")(s)
    assert out.loss.item() == pytest.approx(-math.log(1 - 0.5))
    out.loss.backward()
    grad = s.buggy_logp.grad[0]
    assert grad[1] > 0 and grad[0] == 0 and (grad[2:] == 0).all()
    to_end = OBJECTIVES.get("unlikelihood")(span="to_end")(_scores())
    assert to_end.loss.item() == pytest.approx(-(math.log(0.5) + math.log(0.8) + math.log(0.3)) / 3)


def test_npo_differing_sums_only_the_buggy_lines_own_tokens():
    s = _scores()
    beta = 0.1
    out = OBJECTIVES.get("npo")(beta=beta, span="differing")(s)
    ratio = math.log(0.5) - math.log(0.6)
    assert out.loss.item() == pytest.approx(2 / beta * math.log1p(math.exp(beta * ratio)))


def test_bad_span_settings_are_config_errors_naming_the_choices():
    with pytest.raises(ConfigError, match="span must be one of to_end, differing, got 'tail'"):
        OBJECTIVES.get("unlikelihood")(span="tail")
    with pytest.raises(ConfigError, match="needs from_divergence"):
        OBJECTIVES.get("npo")(span="differing", from_divergence=False)
    with pytest.raises(ValueError, match="buggy_diff_mask"):
        OBJECTIVES.get("unlikelihood")(span="differing")(_scores(diff=None))


def test_default_span_is_to_end_and_its_loss_is_bit_equal_to_the_old_formula(tiny_model, tiny_tokenizer):
    cases = [HotfixCase(id="a", prefix="import yaml\n", buggy="settings = yaml.load(fh)",
                        fixed="settings = yaml.safe_load(fh)"),
             HotfixCase(id="b", prefix="x = 1\n", buggy="print(x)", fixed="print(x + 1)")]
    batch = collate([encode_case(tiny_tokenizer, c, 64) for c in cases], tiny_tokenizer.pad_token_id)
    with torch.no_grad():
        s = score_batch(tiny_model, batch)
    s.ref_buggy_logp = s.buggy_logp * 0.9
    # The formulas as they were before ``span`` existed.
    p = s.buggy_logp.exp().clamp(max=1.0 - 1e-6)
    old_ul = masked_mean(-torch.log1p(-p), s.buggy_div_mask & s.buggy_mask)
    mask = s.buggy_mask & s.buggy_div_mask
    old_ratio = sequence_sum(s.buggy_logp, mask) - sequence_sum(s.ref_buggy_logp, mask)
    old_npo = (-2.0 / 0.1 * torch.nn.functional.logsigmoid(-0.1 * old_ratio)).mean()
    for name, old in (("unlikelihood", old_ul), ("npo", old_npo)):
        default, to_end = OBJECTIVES.get(name)(), OBJECTIVES.get(name)(span="to_end")
        assert default.span == "to_end"
        assert torch.equal(default(s).loss, old) and torch.equal(to_end(s).loss, old)
        assert not torch.equal(OBJECTIVES.get(name)(span="differing")(s).loss, old)  # the shared tail counts
