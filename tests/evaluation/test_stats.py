"""Statistics against hand-computed values and their edges (zero correct, all correct, k > n)."""

from __future__ import annotations

import math
from math import comb

import pytest

from codehotfix.evaluation import stats


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (5, 2, 1, 2 / 5),
        (5, 2, 2, 1 - comb(3, 2) / comb(5, 2)),  # 1 - 3/10 = 0.7
        (10, 3, 5, 1 - comb(7, 5) / comb(10, 5)),
        (5, 0, 1, 0.0),  # zero correct
        (5, 0, 5, 0.0),
        (5, 5, 3, 1.0),  # all correct
        (4, 1, 4, 1.0),  # any 4 of 4 include the correct one
        (1, 1, 1, 1.0),
    ],
)
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert stats.pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("c", [0, 1, 3])
def test_pass_at_k_is_undefined_when_k_exceeds_n(c):
    # human-eval #35 returned 1.0 here even with zero correct samples.
    assert stats.pass_at_k(3, c, 5) is None


@pytest.mark.parametrize("n, c, k", [(3, 4, 1), (3, -1, 1), (3, 1, 0), (-1, 0, 1)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        stats.pass_at_k(n, c, k)


def test_mean_pass_at_k():
    assert stats.mean_pass_at_k([(2, 1), (2, 2), (2, 0)], 1) == pytest.approx(0.5)
    assert stats.mean_pass_at_k([(2, 1), (2, 2), (2, 0)], 2) == pytest.approx(2 / 3)
    assert stats.mean_pass_at_k([(2, 1), (1, 1)], 2) is None  # one problem has too few samples
    assert stats.mean_pass_at_k([], 1) is None


def test_mcnemar_exact_hand_computed():
    # 1 lost, 9 gained, 5 passed by both: p = 2 * P(X <= 1 | Bin(10, 1/2)) = 2 * 11 / 1024.
    base = [True] * 1 + [False] * 9 + [True] * 5
    new = [False] * 1 + [True] * 9 + [True] * 5
    res = stats.mcnemar_exact(base, new)
    assert (res.lost, res.gained, res.n) == (1, 9, 15)
    assert res.p_value == pytest.approx(22 / 1024)


def test_mcnemar_exact_symmetric_and_identical_runs():
    assert stats.mcnemar_exact([True, False], [False, True]).p_value == pytest.approx(1.0)
    same = [True, False, True, True]
    res = stats.mcnemar_exact(same, same)
    assert (res.lost, res.gained, res.p_value) == (0, 0, 1.0)
    with pytest.raises(ValueError):
        stats.mcnemar_exact([True], [True, False])


def test_wilcoxon_paired_hand_computed():
    # All five differences positive: exact two-sided p = 2 / 2**5.
    res = stats.wilcoxon_paired([0, 0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4, 0.5])
    assert res.p_value == pytest.approx(2 / 32)
    assert res.statistic == 0.0
    assert res.n_nonzero == 5
    assert res.mean_difference == pytest.approx(0.3)


def test_wilcoxon_paired_all_zero_differences():
    res = stats.wilcoxon_paired([0.5, 1.0, 0.0], [0.5, 1.0, 0.0])
    assert (res.p_value, res.n_nonzero, res.mean_difference) == (1.0, 0, 0.0)
    with pytest.raises(ValueError):
        stats.wilcoxon_paired([], [])


def test_paired_bootstrap_ci():
    assert stats.paired_bootstrap_ci([0.2, 0.4, 1.0], [0.2, 0.4, 1.0]) == (0.0, 0.0)
    assert stats.paired_bootstrap_ci([0.0, 0.5, 0.5], [0.5, 1.0, 1.0]) == pytest.approx((0.5, 0.5))
    low, high = stats.paired_bootstrap_ci([0.0] * 50 + [1.0] * 50, [1.0] * 50 + [0.0] * 50, seed=1)
    assert low < 0 < high
    # Same seed, same interval.
    once = stats.paired_bootstrap_ci([0, 1, 0], [1, 1, 0], seed=3)
    assert once == stats.paired_bootstrap_ci([0, 1, 0], [1, 1, 0], seed=3)


def test_wilson_interval_known_values():
    assert stats.wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert stats.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert stats.wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    assert stats.wilson_interval(0, 10)[0] == 0.0
    with pytest.raises(ValueError):
        stats.wilson_interval(1, 0)
    with pytest.raises(ValueError):
        stats.wilson_interval(11, 10)


def test_bootstrap_mean_ci_brackets_the_mean():
    values = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] * 5
    low, high = stats.bootstrap_mean_ci(values)
    assert low < 0.5 < high
    assert stats.bootstrap_mean_ci([1.0, 1.0]) == (1.0, 1.0)


def test_describe_change_sentences():
    assert stats.describe_change(0.62) == "no significant change (p=0.62)"
    assert stats.describe_change(0.62, 0.01) == "no significant change (+1.0 points, p=0.62)"
    assert stats.describe_change(0.012, -0.03) == "significant drop (-3.0 points, p=0.012)"
    assert stats.describe_change(0.0001, 0.05) == "significant improvement (+5.0 points, p<0.001)"
    assert stats.describe_change(1.0) == "no significant change (p=1.00)"


def test_holm_step_down_on_a_known_vector():
    from codehotfix.evaluation.stats import holm

    # sorted: 0.005×4=0.02, 0.01×3=0.03, 0.03×2=0.06, 0.04×1=0.04 → kept monotone at 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_sign_flip_test_exact_and_monte_carlo():
    from codehotfix.evaluation.stats import sign_flip_test

    # Three cases each up by 1: of the 8 sign patterns only +++ and --- reach |sum| 3 → p = 2/8.
    r = sign_flip_test([0, 0, 0, 0.5], [1, 1, 1, 0.5])
    assert (r.p_value, r.n_nonzero, r.statistic, r.mean_difference) == (0.25, 3, 3.0, 0.75)
    assert sign_flip_test([0.5, 0.5], [1.0, 0.0]).p_value == 1.0  # +0.5 and −0.5 cancel
    assert sign_flip_test([1, 2], [1, 2]).p_value == 1.0
    # 20 cases all up: the exact p is 2/2^20; Monte-Carlo with 20000 draws reports (0 + 1)/(20000 + 1).
    mc = sign_flip_test([0] * 20, [1] * 20)
    assert mc.p_value == pytest.approx(1 / 20001)


def test_perplexity_change_ci_is_the_ratio_when_every_text_moves_alike():
    tokens = [10.0, 40.0, 25.0]
    base = [12.0, 50.0, 31.0]
    # every text's NLL rises by 0.1 nats a token: every resample gives exp(0.1) - 1
    low, high = stats.perplexity_change_ci(base, [b + 0.1 * t for b, t in zip(base, tokens)], tokens)
    assert low == pytest.approx(math.exp(0.1) - 1) and high == pytest.approx(math.exp(0.1) - 1)
    assert stats.perplexity_change_ci([1.0], [2.0], [3.0]) is None  # one text: no interval


def test_perplexity_change_ci_brackets_a_mixed_change():
    tokens = [20.0] * 8
    base = [30.0] * 8
    new = [30.0 + d for d in (4, -1, 3, 0, 5, -2, 2, 1)]
    low, high = stats.perplexity_change_ci(base, new, tokens)
    point = math.exp(sum(n - b for n, b in zip(new, base)) / sum(tokens)) - 1
    assert low < point < high and low < 0.05 and high > 0
