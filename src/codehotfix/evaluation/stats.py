"""Statistics for comparing a base model with its hotfixed version on the same problems.

Every statistic is reported only where it is defined: pass@k with k > n is ``None``, never 1.0
(human-eval issue #35). Paired tests compare the *same* problems before and after the hotfix, which
is far more sensitive than comparing two pass rates as if they were independent.

Usage::

    from codehotfix.evaluation import stats
    stats.pass_at_k(n=10, c=3, k=1)                  # 0.3
    stats.mcnemar_exact(base_passed, new_passed)     # McNemarResult(..., p_value=0.62)
    stats.describe_change(0.62)                      # "no significant change (p=0.62)"
    stats.sign_flip_test(base_rates, new_rates)      # paired permutation test on per-case rates
    stats.holm([0.01, 0.04, 0.03, 0.005])            # [0.03, 0.06, 0.06, 0.02]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = [
    "pass_at_k", "mean_pass_at_k", "McNemarResult", "mcnemar_exact", "PairedTestResult",
    "wilcoxon_paired", "paired_bootstrap_ci", "wilson_interval", "bootstrap_mean_ci", "perplexity_change_ci",
    "format_p", "describe_change", "holm", "sign_flip_test",
]


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """Unbiased estimate of pass@k from ``n`` samples of which ``c`` passed (Chen et al. 2021, eq. 1).

    In words: one minus the probability that ``k`` samples drawn without replacement from the ``n``
    are all incorrect, ``1 - C(n-c, k) / C(n, k)``, computed as a stable product
    ``1 - prod_{i=n-c+1..n} (1 - k/i)``.

    Returns:
        The estimate in [0, 1], or ``None`` when ``k > n`` (pass@k is not defined by n samples).

    Raises:
        ValueError: if ``n < 0``, ``k < 1`` or ``c`` is outside ``[0, n]``.
    """
    if n < 0 or k < 1 or not 0 <= c <= n:
        raise ValueError(f"pass_at_k needs n >= 0, k >= 1 and 0 <= c <= n; got n={n}, c={c}, k={k}")
    if k > n:
        return None
    if n - c < k:  # every draw of k samples contains a correct one
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float | None:
    """Mean pass@k over problems given ``(n, c)`` per problem; ``None`` if any problem has ``n < k``
    or there are no problems."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    if not values or any(v is None for v in values):
        return None
    return float(np.mean(values))


@dataclass(frozen=True)
class McNemarResult:
    """Discordant pairs and the exact two-sided p-value.

    ``lost``: problems the base passed and the new model fails; ``gained``: the reverse.
    """

    lost: int
    gained: int
    n: int
    p_value: float


def mcnemar_exact(base: Sequence[bool], new: Sequence[bool]) -> McNemarResult:
    """McNemar's exact test for paired pass/fail outcomes (e.g. greedy HumanEval, same problems).

    In words: only problems whose outcome changed carry information; under no effect, each change is
    equally likely to be a gain or a loss, so the number of gains among the ``b + c`` discordant pairs
    is Binomial(b + c, 1/2), tested two-sided (scipy.stats.binomtest). No change at all gives p = 1.

    Raises:
        ValueError: if the sequences differ in length.
    """
    if len(base) != len(new):
        raise ValueError(f"paired outcomes differ in length: {len(base)} base vs {len(new)} new")
    lost = sum(1 for b, a in zip(base, new) if b and not a)
    gained = sum(1 for b, a in zip(base, new) if a and not b)
    if lost + gained == 0:
        return McNemarResult(lost, gained, len(base), 1.0)
    from scipy.stats import binomtest

    p = binomtest(gained, lost + gained, 0.5, alternative="two-sided").pvalue
    return McNemarResult(lost, gained, len(base), float(min(1.0, p)))


@dataclass(frozen=True)
class PairedTestResult:
    """A paired test on per-problem rates: the mean difference (new - base), statistic, p-value."""

    mean_difference: float
    statistic: float
    p_value: float
    n_nonzero: int


def _paired_arrays(base: Sequence[float], new: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired rates need two 1-D sequences of equal length; got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("paired rates are empty")
    return a, b


def wilcoxon_paired(base: Sequence[float], new: Sequence[float]) -> PairedTestResult:
    """Wilcoxon signed-rank test on per-problem pass rates (scipy.stats.wilcoxon, two-sided).

    In words: rank the non-zero per-problem differences by size and ask whether the ranks of the
    positive ones are larger than chance. Zero differences are dropped (``zero_method="wilcox"``);
    when every difference is zero nothing changed and p = 1.

    Raises:
        ValueError: if the sequences are empty or differ in length.
    """
    a, b = _paired_arrays(base, new)
    diff = b - a
    nonzero = int(np.count_nonzero(diff))
    if nonzero == 0:
        return PairedTestResult(0.0, 0.0, 1.0, 0)
    from scipy.stats import wilcoxon

    res = wilcoxon(b, a, zero_method="wilcox", alternative="two-sided")
    return PairedTestResult(float(diff.mean()), float(res.statistic), float(res.pvalue), nonzero)


def sign_flip_test(base: Sequence[float], new: Sequence[float], *, exact_max: int = 16,
                   n_resamples: int = 20_000, seed: int = 0) -> PairedTestResult:
    """Paired permutation (sign-flip) test of the mean per-case difference ``new - base``, two-sided.

    In words: under no effect, each case's before and after could be swapped, i.e. the sign of each
    per-case difference is a fair coin. The p-value is the share of the 2^m sign patterns of the m
    non-zero differences whose mean is at least as far from 0 as the observed one (Fisher 1935;
    Good, *Permutation Tests*, 2000). With m <= ``exact_max`` every pattern is enumerated (exact);
    above, ``n_resamples`` seeded random patterns give the Monte-Carlo estimate (k + 1) / (N + 1)
    (Phipson & Smyth 2010), which never reports p = 0. Unlike Wilcoxon's normal approximation, it
    stays exact with the many ties of counts out of k samples. ``statistic`` is the sum of the
    differences; no difference at all gives p = 1.

    Raises:
        ValueError: if the sequences are empty or differ in length.
    """
    a, b = _paired_arrays(base, new)
    diff = b - a
    d = diff[diff != 0]
    m = int(d.size)
    if m == 0:
        return PairedTestResult(0.0, 0.0, 1.0, 0)
    observed = abs(d.sum())
    # A small tolerance so patterns whose sum equals the observed one up to rounding count as "as extreme".
    tol = 1e-9 * max(1.0, observed)
    if m <= exact_max:
        signs = 1 - 2 * ((np.arange(2 ** m)[:, None] >> np.arange(m)) & 1)
        p = float(np.mean(np.abs(signs @ d) >= observed - tol))
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(n_resamples, m))
        hits = int(np.sum(np.abs(signs @ d) >= observed - tol))
        p = (hits + 1) / (n_resamples + 1)
    return PairedTestResult(float(diff.mean()), float(d.sum()), min(1.0, p), m)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of several p-values for the family-wise error rate (Holm 1979,
    "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6:65-70).

    In words: sort the m p-values ascending; the i-th smallest (i = 1..m) is multiplied by
    (m - i + 1), capped at 1, and made no smaller than the adjusted value before it, so adjusted
    p-values keep the order of the raw ones. Rejecting where the adjusted p < alpha is Holm's test.
    Returned in the input order; an empty input gives [].
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def paired_bootstrap_ci(
    base: Sequence[float], new: Sequence[float], *, confidence: float = 0.95,
    n_resamples: int = 10_000, seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean per-problem difference ``new - base``.

    In words: resample problems with replacement (keeping each problem's pair together), take the mean
    difference of each resample, and report the central ``confidence`` share of those means.
    """
    a, b = _paired_arrays(base, new)
    return bootstrap_mean_ci(b - a, confidence=confidence, n_resamples=n_resamples, seed=seed)


def bootstrap_mean_ci(
    values: Sequence[float], *, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of ``values`` (e.g. per-problem pass rates)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("bootstrap needs a non-empty 1-D sequence")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def perplexity_change_ci(base_nll: Sequence[float], new_nll: Sequence[float], tokens: Sequence[float], *,
                         n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float] | None:
    """95% interval of the token-weighted perplexity ratio new / base − 1 over paired texts.

    In words: resample texts with replacement (each text's two NLLs and its token count together,
    ``scipy.stats.bootstrap`` with ``paired=True``), recompute exp((Σ new − Σ base) / Σ tokens) − 1 for
    each resample, and take the central 95% (percentile method). None with fewer than 2 texts.
    """
    if len(tokens) < 2:
        return None
    from scipy.stats import bootstrap

    def relative(b, h, t, axis=-1):
        return np.exp((h.sum(axis) - b.sum(axis)) / t.sum(axis)) - 1.0

    arrays = tuple(np.asarray(x, dtype=float) for x in (base_nll, new_nll, tokens))
    res = bootstrap(arrays, relative, paired=True, vectorized=True, method="percentile",
                    n_resamples=n_resamples, random_state=seed)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a rate (Wilson 1927); well-behaved at 0 and n successes.

    In words: the set of true rates p for which the observed rate is within z standard errors, with
    the standard error computed at p rather than at the observed rate.

    Raises:
        ValueError: if ``n < 1`` or ``successes`` is outside ``[0, n]``.
    """
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval needs n >= 1 and 0 <= successes <= n; got {successes}/{n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    from scipy.stats import norm

    z = float(norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 or n successes the bound is exactly 0 or 1; computed, it misses by rounding.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return low, high


def format_p(p: float) -> str:
    """``p=0.62``, ``p=0.012``, ``p<0.001``."""
    if p < 0.001:
        return "p<0.001"
    return f"p={p:.2f}" if p >= 0.1 else f"p={p:.2g}"


def describe_change(p_value: float, difference: float | None = None, *, alpha: float = 0.05,
                    unit: str = "points") -> str:
    """One sentence for a report: whether the change is significant at ``alpha``.

    Args:
        p_value: the paired test's p-value.
        difference: new minus base as a fraction (0.03 = 3 points); gives direction and size.
        alpha: significance level.
        unit: what ``100 * difference`` is measured in.

    Returns:
        e.g. "no significant change (p=0.62)" or "significant drop (-3.0 points, p=0.012)".
    """
    p = format_p(p_value)
    if p_value >= alpha:
        size = f"{100 * difference:+.1f} {unit}, " if difference is not None else ""
        return f"no significant change ({size}{p})"
    if difference is None:
        return f"significant change ({p})"
    direction = "improvement" if difference > 0 else "drop" if difference < 0 else "change"
    return f"significant {direction} ({100 * difference:+.1f} {unit}, {p})"
