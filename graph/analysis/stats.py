"""Tail probabilities and multiple-testing control, on :mod:`scipy.stats`.

Hand-written tails got the lower tail wrong (a sum that starts at a pmf which underflows returns
0 instead of 1); SciPy's are tested over the whole range, so every tail here is one of theirs.
The one model of our own, :func:`excess_sf_array`, is a beta-binomial matched to two moments and is
tested against simulation and against Fisher's exact test in ``tests/test_stats.py``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import special, stats


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), both tails right.

    >>> round(binom_sf(3, 10, 0.1), 6)  # 1 - P(X <= 2)
    0.070191
    >>> binom_sf(0, 5, 0.3), binom_sf(6, 5, 0.3)
    (1.0, 0.0)
    >>> binom_sf(10, 9000, 0.087) > 0.999999  # far below the mean: almost certain
    True
    """
    if k <= 0:
        return 1.0
    return float(stats.binom.sf(k - 1, n, p))


def hypergeom_sf(k: int, total: int, marked: int, drawn: int) -> float:
    """P(X >= k) for X ~ Hypergeometric: ``drawn`` items from ``total`` of which ``marked`` are marked.
    The exact conditional test of two proportions (one-sided Fisher's exact test).

    >>> round(hypergeom_sf(3, 20, 5, 6), 6)  # 1 - P(X <= 2)
    0.131321
    >>> hypergeom_sf(0, 10, 3, 4), hypergeom_sf(4, 10, 3, 4)
    (1.0, 0.0)
    >>> hypergeom_sf(2, 2000, 900, 1000)
    1.0
    """
    if k <= 0:
        return 1.0
    return float(min(1.0, stats.hypergeom.sf(k - 1, total, marked, drawn)))


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input's order.

    >>> [round(q, 4) for q in benjamini_hochberg([0.01, 0.04, 0.03, 0.5])]
    [0.04, 0.0533, 0.0533, 0.5]
    >>> benjamini_hochberg([])
    []
    """
    if len(p_values) == 0:
        return []
    return [float(q) for q in stats.false_discovery_control(np.asarray(p_values, dtype=float), method="bh")]


def weighted_benjamini_hochberg(p_values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Weighted Benjamini–Hochberg (Genovese, Roeder and Wasserman 2006): BH on ``p / w``, with
    weights fixed before the data's p-values are seen (not dependent on them under the null) and
    averaging 1, which keeps the false-discovery rate. A weight of 0 never rejects.

    >>> [round(q, 4) for q in weighted_benjamini_hochberg([0.01, 0.04, 0.03, 0.5], [1, 1, 1, 1])]
    [0.04, 0.0533, 0.0533, 0.5]
    >>> [round(q, 4) for q in weighted_benjamini_hochberg([0.01, 0.04, 0.03, 0.5], [2, 1, 1, 0])]
    [0.02, 0.0533, 0.0533, 1.0]
    """
    p = np.asarray(p_values, dtype=float)
    w = np.asarray(weights, dtype=float)
    if p.size == 0:
        return []
    scaled = np.ones_like(p)
    positive = w > 0
    scaled[positive] = np.minimum(1.0, p[positive] / w[positive])
    return [float(q) for q in stats.false_discovery_control(scaled, method="bh")]


def excess_sf(observed: int, trials: int, mean: float, variance: float) -> float:
    """P(X >= observed) for a count of ``trials`` problems with the given null mean and variance:
    :func:`excess_sf_array` for one pair.

    >>> round(excess_sf(3, 10, 1.0, 0.9), 6) == round(binom_sf(3, 10, 0.1), 6)  # binomial variance
    True
    >>> excess_sf(12, 100, 5.0, 20.0) > binom_sf(12, 100, 0.05)  # overdispersed: a heavier tail
    True
    >>> excess_sf(0, 0, 0.0, 0.0), excess_sf(3, 10, 0.0, 0.0)
    (1.0, 0.0)
    """
    return float(excess_sf_array(np.array([observed], dtype=float), np.array([trials], dtype=float),
                                 np.array([mean], dtype=float), np.array([variance], dtype=float))[0])


def excess_sf_array(observed, trials, mean, variance) -> np.ndarray:
    """Upper tails, element-wise: the beta-binomial with the given two moments (the binomial where
    the variance is not above the binomial's, which is then conservative: a sum of binomials with
    different shares is less spread than the binomial of the same mean).

    The counts it serves are sums over villages of beta-binomial counts, with an estimated share;
    one beta-binomial with the summed variance has the heavier tail, so the test errs on the side
    of not surfacing. A positive count against a zero mean has p = 0.
    """
    observed, trials = np.rint(observed), np.rint(trials)
    p = np.ones(np.shape(mean), dtype=float)
    positive = (observed > 0) & (trials > 0) & (mean > 0) & (observed <= trials)
    share = np.where(positive, np.minimum(mean / np.maximum(trials, 1), 1 - 1e-12), 0.5)
    binomial_var = trials * share * (1 - share)
    over = positive & (trials > 1) & (variance > binomial_var * (1 + 1e-12))
    plain = positive & ~over
    if plain.any():
        p[plain] = stats.binom.sf(observed[plain] - 1, trials[plain], share[plain])
    if over.any():
        rho = np.minimum((variance[over] / binomial_var[over] - 1) / (trials[over] - 1), 1 - 1e-9)
        concentration = 1 / rho - 1
        sh = share[over]
        p[over] = betabinom_sf_array(observed[over], trials[over], sh * concentration, (1 - sh) * concentration)
    p[(observed > 0) & (trials > 0) & ((mean <= 0) | (observed > trials))] = 0.0
    return np.clip(p, 0.0, 1.0)


def betabinom_sf_array(k, n, a, b, width: float = 40.0) -> np.ndarray:
    """P(X >= k) for X ~ BetaBinomial(n, a, b), element-wise over arrays, in one pass.

    SciPy's ``betabinom.sf`` sums the pmf in a Python-level loop per element (about 30 µs each, so
    0.6 s for the 20,000 pairs of a province). This sums the same pmf (from SciPy's special
    functions), vectorised: the upper tail term by term from ``k`` when ``k`` is above the mean
    (so tiny p-values keep their precision), else one minus the lower tail; terms beyond ``width``
    standard deviations are below 1e-300 of the sum and left out. ``tests/test_stats.py`` checks
    it against ``scipy.stats.betabinom.sf`` over thousands of random inputs.

    >>> mine = betabinom_sf_array(np.array([3]), np.array([10]), np.array([2.0]), np.array([5.0]))
    >>> bool(abs(mine[0] - stats.betabinom.sf(2, 10, 2.0, 5.0)) < 1e-12)
    True
    """
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    out = np.ones(k.shape)
    if k.size == 0:
        return out
    mean = n * a / (a + b)
    sd = np.sqrt(n * a * b * (a + b + n) / ((a + b) ** 2 * (a + b + 1)))
    span = np.ceil(width * sd + 50)
    upper = k > mean
    start = np.where(upper, k, np.maximum(0, np.floor(mean - span)))
    stop = np.where(upper, np.minimum(n, k + span), k - 1)  # inclusive
    valid = (k > 0) & (k <= n)
    out[k > n] = 0.0
    counts = np.where(valid, np.maximum(stop - start + 1, 0), 0).astype(np.int64)
    rows = np.repeat(np.arange(k.size), counts)
    if rows.size:
        offsets = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
        x = start[rows] + offsets
        # log C(n, x) + log B(x + a, n - x + b) - log B(a, b), with the parts that do not depend
        # on x once per element: four log-gammas a term instead of nine (a province's township
        # pairs sum over a million terms).
        const = special.gammaln(n + 1) - special.gammaln(n + a + b) - special.betaln(a, b)
        nn, aa, bb = n[rows], a[rows], b[rows]
        log_pmf = (const[rows] - special.gammaln(x + 1) - special.gammaln(nn - x + 1)
                   + special.gammaln(x + aa) + special.gammaln(nn - x + bb))
        sums = np.bincount(rows, weights=np.exp(log_pmf), minlength=k.size)
        tail = np.where(upper, sums, 1.0 - sums)
        out[valid] = tail[valid]
    return np.clip(out, 0.0, 1.0)
