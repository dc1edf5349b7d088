"""Exact tail probabilities and multiple-testing control, in plain Python (no SciPy needed).

Each function is small and checked against known values in its doctest.
"""
from __future__ import annotations

import math
from typing import Sequence


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p).

    >>> round(binom_sf(3, 10, 0.1), 6)  # 1 - P(X <= 2)
    0.070191
    >>> binom_sf(0, 5, 0.3), binom_sf(6, 5, 0.3)
    (1.0, 0.0)
    """
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    log_term = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                + k * math.log(p) + (n - k) * math.log1p(-p))
    term, total, ratio = math.exp(log_term), 0.0, p / (1 - p)
    for x in range(k, n + 1):
        total += term
        if term < total * 1e-16:
            break
        term *= (n - x) / (x + 1) * ratio
    return min(total, 1.0)


def nbinom_sf(k: int, mean: float, shape: float) -> float:
    """P(X >= k) for a negative binomial with the given mean and shape (size) ``r``:
    variance ``mean + mean²/r``. A sum of ``n`` villages' Poisson counts whose rates vary by a
    Gamma(shape ``s``) factor is negative binomial with shape ``n·s``. A very large shape is Poisson.

    >>> round(nbinom_sf(5, 2.0, 1e9), 6)  # Poisson(2): 1 - P(X <= 4)
    0.052653
    >>> round(nbinom_sf(3, 2.0, 1.0), 6)  # geometric with mean 2: (2/3)**3
    0.296296
    """
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    q = mean / (mean + shape)       # probability of a "failure" step
    log_q, log_p = math.log(q), math.log1p(-q)

    def log_pmf(x: int) -> float:
        return (math.lgamma(x + shape) - math.lgamma(shape) - math.lgamma(x + 1)
                + shape * log_p + x * log_q)

    mode = max(0, math.floor((shape - 1) * q / (1 - q))) if shape > 1 else 0
    if k > mode:  # sum the upper tail directly: exact for tiny probabilities
        total, x = 0.0, k
        term = math.exp(log_pmf(k))
        while True:
            total += term
            if term < total * 1e-16 or term == 0.0:
                break
            term *= (x + shape) / (x + 1) * q
            x += 1
        return min(total, 1.0)
    below = sum(math.exp(log_pmf(x)) for x in range(k))
    return max(0.0, 1.0 - below)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input's order.

    >>> [round(q, 4) for q in benjamini_hochberg([0.01, 0.04, 0.03, 0.5])]
    [0.04, 0.0533, 0.0533, 0.5]
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(running, 1.0)
    return adjusted


def hypergeom_sf(k: int, total: int, marked: int, drawn: int) -> float:
    """P(X >= k) for X ~ Hypergeometric: ``drawn`` items from ``total`` of which ``marked`` are marked.
    The exact conditional test of two proportions (one-sided Fisher's exact test).

    >>> round(hypergeom_sf(3, 20, 5, 6), 6)  # 1 - P(X <= 2)
    0.131321
    >>> hypergeom_sf(0, 10, 3, 4), hypergeom_sf(4, 10, 3, 4)
    (1.0, 0.0)
    """
    low, high = max(0, drawn + marked - total), min(drawn, marked)
    if k <= low:
        return 1.0
    if k > high:
        return 0.0

    def log_choose(n: int, r: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)

    log_term = log_choose(marked, k) + log_choose(total - marked, drawn - k) - log_choose(total, drawn)
    term, sum_ = math.exp(log_term), 0.0
    for x in range(k, high + 1):
        sum_ += term
        if term < sum_ * 1e-16:
            break
        term *= (marked - x) * (drawn - x) / ((x + 1) * (total - marked - drawn + x + 1))
    return min(sum_, 1.0)


def stratified_excess_sf(observed: int, strata: list[tuple[float, float, float]]) -> float:
    """Upper tail of the total marked count drawn across independent hypergeometric strata, each
    ``(total, marked, drawn)``, by a normal approximation with continuity correction (the
    conditional test of a Mantel–Haenszel design; fit for counts in the tens and up).

    >>> round(stratified_excess_sf(10, [(40, 10, 20)]), 4)  # mean 5, sd ≈ 1.39
    0.0006
    """
    mean = variance = 0.0
    for total, marked, drawn in strata:
        if total <= 1:
            continue
        share = marked / total
        mean += drawn * share
        variance += drawn * share * (1 - share) * (total - drawn) / (total - 1)
    if variance <= 0:
        return 1.0 if observed <= mean else 0.0
    z = (observed - 0.5 - mean) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2))
