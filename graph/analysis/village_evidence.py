"""Per-village evidence for a township cause: a likelihood-ratio statistic summed over the
township's villages, with its exact null distribution.

Why: a township unit that does not supervise raises its category in most of its villages. The sum
of the villages' counts (the excess test in :mod:`.root_causes`) weighs a village by its count, so
under village clustering (a village's mix of problems persists over rounds) one village with many
findings looks like a cause and a modest rise in every village does not. The likelihood ratio of
"×``ALT_MULTIPLIER`` in ``ALT_SHARE`` of the villages" against the null scores each village
on its own and adds the scores: it grows with the number of villages that show the rise, and only
slowly with one village's count. The alternative is the smallest cause the project is asked to
find (×3 on 70 % of the villages); it is fixed, never fitted to a ledger.

The null: each village's count of the category given its total ``N_v`` is beta-binomial with the
baseline's share (its kind's) and the category's clustering ρ, as in the excess test. The
statistic is put on a grid of ``STEP`` nats, and its null distribution on that grid is computed
exactly by convolving the villages' distributions, so the p-value is exact for the statistic as
computed (no normal approximation). The baseline share is itself uncertain: the tail is averaged
over it (three-point Gauss–Hermite), as the excess test adds the share's variance.

Only pairs the excess test already puts at ``p ≤ SCREEN`` are scored this way (a few hundred of
tens of thousands); the others keep the excess test's p-value. The combined p-value is valid:
for α < SCREEN, ``P(p ≤ α) ≤ P(p_village ≤ α) ≤ α``; for α ≥ SCREEN it is at most
``P(p_excess ≤ α) ≤ α``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

ALT_MULTIPLIER = 3.0
ALT_SHARE = 0.7
STEP = 0.05
SCREEN = 0.01
# Three-point Gauss–Hermite for a standard normal: nodes and weights.
NODES = (np.array([-math.sqrt(3.0), 0.0, math.sqrt(3.0)]), np.array([1 / 6, 2 / 3, 1 / 6]))
_TINY = 1e-300
_KEEP = 1e-18  # support points below this share of a village's most likely count are left out


def _log_pmf(x, n, share, rho, multiplier: float = 1.0):
    """log P(X = x) for beta-binomial counts (binomial where ρ = 0), element-wise; ``multiplier``
    raises the share the way a cause does (the beta's first parameter, or the odds)."""
    log_choose = special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
    if rho <= 1e-9:
        s = multiplier * share / (1 + (multiplier - 1) * share)
        return log_choose + x * np.log(s) + (n - x) * np.log1p(-s)
    concentration = 1 / rho - 1
    a, b = multiplier * concentration * share, concentration * (1 - share)
    return log_choose + special.betaln(x + a, n - x + b) - special.betaln(a, b)


def village_tail(n, x, share, share_sd, rho: float, step: float = STEP) -> tuple[float, float]:
    """``(P(T ≥ t), P(T > t))`` under the null for the statistic ``T = Σ_v LLR_v(X_v)`` of one
    township and category: villages with ``n`` problems, ``x`` of them in the category, the
    baseline ``share`` of each village's kind and its standard deviation ``share_sd``.

    >>> n, share = np.array([10] * 8), np.full(8, 0.1)
    >>> flat = village_tail(n, np.array([1] * 8), share, np.zeros(8), 0.0)
    >>> risen = village_tail(n, np.array([3] * 8), share, np.zeros(8), 0.0)
    >>> flat[0] > 0.3, risen[0] < 1e-5, risen[1] <= risen[0]
    (True, True, True)

    One village with many findings is weaker evidence than the same number spread over seven:

    >>> one = village_tail(n, np.array([10, 0, 1, 1, 1, 1, 1, 1]), share, np.zeros(8), 0.05)[0]
    >>> spread = village_tail(n, np.array([1, 3, 3, 3, 3, 3, 2, 1]), share, np.zeros(8), 0.05)[0]
    >>> bool(spread < one)
    True
    """
    n = np.asarray(n, dtype=float)
    x = np.asarray(x, dtype=float)
    share = np.clip(np.asarray(share, dtype=float), 1e-9, 1 - 1e-9)
    share_sd = np.asarray(share_sd, dtype=float)
    keep = n > 0
    n, x, share, share_sd = n[keep], x[keep], share[keep], share_sd[keep]
    if n.size == 0:
        return 1.0, 1.0
    sizes = (n + 1).astype(np.int64)
    owner = np.repeat(np.arange(n.size), sizes)
    support = np.arange(owner.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    nn, ss = n[owner], share[owner]
    # The statistic, at the baseline's share: log(1 - f + f · P_alt(x) / P_null(x)).
    log_ratio = _log_pmf(support, nn, ss, rho, ALT_MULTIPLIER) - _log_pmf(support, nn, ss, rho)
    score = np.logaddexp(math.log(1 - ALT_SHARE), math.log(ALT_SHARE) + log_ratio)
    grid = np.rint(score / step).astype(np.int64)
    starts = np.cumsum(sizes) - sizes
    observed = int(grid[starts + x.astype(np.int64)].sum())
    uncertain = bool((share_sd > 0).any())
    nodes, weights = NODES if uncertain else (np.zeros(1), np.ones(1))
    # One null distribution per node of the share; the statistic's grid is the same for all.
    shifted = np.clip(share[None, :] + nodes[:, None] * share_sd[None, :], share / 10, 1 - 1e-9)
    prob = np.exp(_log_pmf(support[None, :], nn[None, :], shifted[:, owner], rho))
    ge, gt = _tail_of_sum(grid, prob, sizes, observed)
    return float(min(1.0, max(weights @ ge, _TINY))), float(min(1.0, max(weights @ gt, 0.0)))


def _tail_of_sum(grid, prob, sizes, observed: int) -> tuple[np.ndarray, np.ndarray]:
    """P(Σ ≥ observed) and P(Σ > observed), one per row of ``prob`` (the share's nodes), for
    independent villages each taking ``grid`` values with ``prob`` (flattened village by village).

    Convolved one village at a time by adding each support point's shifted copy (the points are
    few; a dense kernel would be mostly zeros). Only the window that can still end at the
    observed value is kept: sums too low to reach it whatever the remaining villages add are
    dropped, and sums already above it whatever they add are counted and dropped."""
    rows = prob.shape[0]
    supports, start = [], 0
    for size in sizes.tolist():
        g, p = grid[start:start + size], prob[:, start:start + size]
        start += size
        mask = p.max(axis=0) >= p.max() * _KEEP
        supports.append((g[mask], p[:, mask]))
    highs = np.array([int(g.max()) for g, _ in supports])
    lows = np.array([int(g.min()) for g, _ in supports])
    rest_high = np.concatenate([np.cumsum(highs[::-1])[::-1][1:], [0]])
    rest_low = np.concatenate([np.cumsum(lows[::-1])[::-1][1:], [0]])
    dist, offset = np.ones((rows, 1)), 0
    above = np.zeros(rows)  # mass certain to end above the observed value
    for (g, p), low, high, reach_high, reach_low in zip(supports, lows, highs, rest_high, rest_low):
        width = dist.shape[1]
        new = np.zeros((rows, width + high - low))
        for shift, column in zip((g - low).tolist(), p.T):
            new[:, shift:shift + width] += column[:, None] * dist
        offset += low
        first = max(observed - reach_high - offset, 0)   # below: cannot reach the observed value
        last = observed - reach_low - offset              # beyond: above it whatever comes
        if last + 1 < new.shape[1]:
            above += new[:, max(last + 1, 0):].sum(axis=1)
        dist, offset = new[:, first:max(last + 1, first)], offset + first
        if dist.shape[1] == 0:
            return above, above.copy()
    # Every village added: what is left sits exactly at the observed value.
    return above + dist[:, 0], above
