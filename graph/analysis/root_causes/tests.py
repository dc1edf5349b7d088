"""Step 4: the two lines of evidence, excess (sums, then the per-village test for the pairs the sums
single out) and recurrence, one p-value from both, and the township pairs' weights in the
false-discovery rate."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy import stats

from ..stats import excess_sf_array
from ..village_evidence import ALT_MULTIPLIER, ALT_SHARE, SCREEN, village_tail
from .baselines import Baseline
from .candidate import DEFAULT_MIN_CONFIDENCE
from .tally import KIND_INDEX, Tally


# Township pairs share the false-discovery rate by the chance each has of showing a cause: half
# the weight evenly, half by that chance (so a pair the model says cannot show one keeps half).
WEIGHT_FLOOR = 0.5


def excess_moments(x, n, nn, baseline: Baseline, rho: np.ndarray):
    """Observed count, problems, null mean and null variance of every (area, category), over the
    kinds that have a baseline. The null: each village's count of the category given its total is
    beta-binomial with the baseline's share and the category's ρ (``rho``: per category, or per
    area and category); the share itself is uncertain (its posterior variance). Returns arrays a × c.
    """
    xs, ns, mean, variance = _kind_moments(x, n, nn, baseline, rho)
    return (xs.sum(axis=1), ns.sum(axis=1)[:, None] * np.ones(mean.shape[::2]), mean.sum(axis=1),
            summed_variance(np.ones(mean.shape), ns, variance, baseline.spread_var))


def summed_variance(weights, ns, variance, spread_var):
    """The variance of an area's count summed over its kinds of village (``Σ_k w_k X_k``, a × c)
    from each kind's null variance (a × k × c). The spread between districts (``spread_var``, the
    part of each kind's share variance that is a district's own difference; None for townships)
    is one difference in every kind alike: a district where a category is commoner for local
    reasons has more of it in its villages and in its communities, so the kinds' parts add as
    standard deviations, not as variances. Added as variances, a district with as many community
    as village problems was allowed half the spread it has (between districts that differ by
    φ = 0.02, the district test's null ``P(p ≤ 0.01)`` was three times 0.01).

    >>> v, spread = np.array([[[5.0], [5.0]]]), np.array([[[1e-4], [1e-4]]])
    >>> ns = np.array([[100.0, 100.0]])
    >>> float(summed_variance(np.ones((1, 2, 1)), ns, v, None)[0, 0])
    10.0
    >>> float(summed_variance(np.ones((1, 2, 1)), ns, v, spread)[0, 0])   # 8 own + (1 + 1)²
    12.0
    """
    if spread_var is None:
        return (weights ** 2 * variance).sum(axis=1)
    between = ns[:, :, None] ** 2 * spread_var
    own = variance - between
    return (weights ** 2 * own).sum(axis=1) + (weights * np.sqrt(np.maximum(between, 0.0))).sum(axis=1) ** 2


def _kind_moments(x, n, nn, baseline: Baseline, rho: np.ndarray):
    """Per area, kind and category (a × k × c): the count, the problems (a × k), the null mean and
    the null variance of :func:`excess_moments`, kinds without a baseline at zero."""
    use = baseline.usable[:, :, None]
    xs, ns = np.where(use, x, 0.0), np.where(use[:, :, 0], n, 0.0)
    pairs = np.where(use[:, :, 0], nn - n, 0.0)
    s = baseline.share
    rho = rho[:, None, :] if rho.ndim == 2 else rho[None, None, :]  # per area (townships) or per category
    variance = (s * (1 - s) * (ns[:, :, None] + rho * pairs[:, :, None])
                + ns[:, :, None] ** 2 * baseline.share_var)
    return xs, ns, ns[:, :, None] * s, variance


def kind_weighted_moments(x, n, nn, baseline: Baseline, rho: np.ndarray):
    """:func:`excess_moments` with each kind of village weighted as a cause that raises the rate
    in every kind alike is best seen (the locally most powerful sum: each kind's excess over its
    null variance, ``w_k ∝ mean_k / variance_k``, scaled so that ``Σ w_k mean_k`` is the mean;
    the variance without the spread between districts, which no weighting escapes).
    Summed as they stand, a kind whose baseline is thin weighs by the area's own problems: 西夏区
    with 546 community problems against 520 in the other districts' communities (their share
    uncertain by ±10 %), and 186 village problems against 2,156, its villages at 2.1 times their
    baseline and its communities at 1.3 times, stands at z 4.2 (below, without clustering), at
    z 5.6 weighted. Any fixed weights keep the null (each kind's excess has mean 0 and the
    weights come from the null moments, not the area's count); with one kind, or kinds alike,
    the weights are 1 and nothing changes. Returns the weighted count, the problems, the mean and
    the weighted count's variance (a × c).

    >>> from .baselines import Baseline
    >>> base = Baseline(np.array([[[0.164], [0.2465]]]), np.array([[[0.0109 ** 2], [0.0254 ** 2]]]),
    ...                 np.ones((1, 2), bool), ["other_districts"], [None])
    >>> x, n, nn = np.array([[[65.0], [175.0]]]), np.array([[186.0, 546.0]]), np.array([[186.0, 546.0]])
    >>> o, t, m, v = excess_moments(x, n, nn, base, np.zeros(1))
    >>> round(float((o - m)[0, 0] / np.sqrt(v[0, 0])), 2)
    4.17
    >>> o, t, m, v = kind_weighted_moments(x, n, nn, base, np.zeros(1))
    >>> round(float((o - m)[0, 0] / np.sqrt(v[0, 0])), 2), round(float(m[0, 0]), 1)
    (5.6, 165.1)
    """
    return _weighted(*_kind_moments(x, n, nn, baseline, rho), baseline)


def _weighted(xs, ns, mean, variance, baseline: Baseline):
    """:func:`kind_weighted_moments` from the per-kind moments of :func:`_kind_moments`."""
    # The spread between districts is a district's own difference, in every kind alike: no
    # weighting escapes it, so it does not decide the weights (it stays in the variance). Left
    # to decide, it took a district's main kind, where a cause stood ×1.8, for noise and weighed
    # its few communities, in townships the cause had spared (p 4e-5 → 8e-4).
    own = variance if baseline.spread_var is None else variance - ns[:, :, None] ** 2 * baseline.spread_var
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = np.where(own > 0, mean / own, 0.0)          # a kind's excess per unit of its own noise
        total = mean.sum(axis=1)
        scale = np.where(total > 0, total / (lift * mean).sum(axis=1), 0.0)
    weights = lift * scale[:, None, :]
    return ((weights * xs).sum(axis=1), ns.sum(axis=1)[:, None] * np.ones(total.shape), total,
            summed_variance(weights, ns, variance, baseline.spread_var))


def township_weights(mean: np.ndarray, variance: np.ndarray, tested: np.ndarray,
                     alpha: float = 1 - DEFAULT_MIN_CONFIDENCE) -> np.ndarray:
    """Weights for the township pairs' weighted Benjamini–Hochberg (:func:`.stats.
    weighted_benjamini_hochberg`), from each pair's null moments only: ``WEIGHT_FLOOR`` plus the
    rest in proportion to the chance (normal approximation) that a township cause as the
    per-village test defines it (×``ALT_MULTIPLIER`` on ``ALT_SHARE`` of villages) reaches the
    family's Bonferroni level α/m. The moments come from the pair's totals and its peers, not
    from its own count of the category, so under the null the weights do not depend on its
    p-value. Averages 1 over the ``tested`` pairs; 0 elsewhere.

    >>> w = township_weights(np.array([[0.5, 8.0, 40.0]]), np.array([[0.6, 10.0, 60.0]]), np.ones((1, 3), bool))
    >>> w.round(3).tolist(), round(float(w.mean()), 6)
    ([[0.6, 1.079, 1.321]], 1.0)
    """
    weights = np.zeros(mean.shape)
    m = int(tested.sum())
    if m == 0:
        return weights
    z = stats.norm.isf(alpha / m)
    lift = 1 + ALT_SHARE * (ALT_MULTIPLIER - 1)
    sd0 = np.sqrt(np.maximum(variance, 1e-12))
    critical = mean + z * sd0
    power = stats.norm.sf((critical - lift * mean) / (sd0 * np.sqrt(lift)))
    power = np.where(tested, power, 0.0)
    average = power.sum() / m
    if average <= 0:
        return np.where(tested, 1.0, 0.0)
    return np.where(tested, WEIGHT_FLOOR + (1 - WEIGHT_FLOOR) * power / average, 0.0)


def excess_p_values(x, n, nn, baseline: Baseline, rho: np.ndarray, beyond: int = 0):
    """Observed count and null mean (:func:`excess_moments`) of every pair, and its upper-tail
    p-value ``P(X ≥ x + beyond)``, the kinds of village weighted (:func:`kind_weighted_moments`).
    An area whose spread from the rates its own cells read (``baseline.own_spread``) has its tail
    averaged over what they say of it (:func:`spread_averaged_tails`)."""
    xs, ns, mean, variance = _kind_moments(x, n, nn, baseline, rho)  # once, for both
    weighted, trials, total, summed = _weighted(xs, ns, mean, variance, baseline)
    p = excess_sf_array(weighted + beyond, trials, total, summed)
    if baseline.own_spread is not None:
        for a, own in enumerate(baseline.own_spread):
            if own is not None:
                p[a] = spread_averaged_tails(x[a], n[a], nn[a], baseline, a, own, rho, beyond)
    return xs.sum(axis=1), mean.sum(axis=1), p


def spread_averaged_tails(x, n, nn, baseline: Baseline, a: int, own, rho: np.ndarray, beyond: int = 0) -> np.ndarray:
    """Area ``a``'s upper tails (c) averaged over the posterior of its spread from the rates
    (``own``, :class:`.spread.OwnSpread`): ``Σ_g w_g P(X ≥ x | φ_g)``, each φ_g allowing
    ``φ_g · π(1 − π)`` in every kind alike. The weighted count and its kinds' weights do not
    depend on φ (:func:`_weighted`): one statistic, its null a mixture. Plugged in at one φ, a
    spread read from a district's few large cells gave the far tail of a t distribution of few
    degrees of freedom the thinness of a normal one.

    >>> from .baselines import Baseline
    >>> from .spread import OwnSpread
    >>> share = np.full((1, 1, 1), 0.1)
    >>> x, n, nn = np.array([[[160.0]]]), np.array([[1000.0]]), np.array([[1000.0]])
    >>> def p(own):
    ...     base = Baseline(share, np.zeros((1, 1, 1)), np.ones((1, 1), bool), ["reference"], [None],
    ...                     np.zeros((1, 1, 1)), own_spread=[own])
    ...     return float(excess_p_values(x, n, nn, base, np.zeros(1))[2][0, 0])
    >>> exact = p(None)                                          # the rates exact: φ = 0
    >>> bool(abs(p(OwnSpread(np.array([0.0, 0.05]), np.array([1.0, 0.0]))) - exact) < 1e-12)
    True
    >>> half = p(OwnSpread(np.array([0.0, 0.05]), np.array([0.5, 0.5])))
    >>> wide = p(OwnSpread(np.array([0.05]), np.array([1.0])))
    >>> bool(abs(half - (exact + wide) / 2) < 1e-12), exact < 1e-6 < wide
    (True, True)
    """
    g = len(own.phi)
    tau2 = own.phi[:, None, None] * baseline.share[a] * (1 - baseline.share[a])       # G × k × c
    grid = Baseline(np.broadcast_to(baseline.share[a], tau2.shape), tau2,
                    np.broadcast_to(baseline.usable[a], (g,) + baseline.usable.shape[1:]),
                    [baseline.label[a]] * g, [None] * g, tau2)
    rho_a = rho if rho.ndim == 1 else np.broadcast_to(rho[a], (g,) + rho.shape[1:])
    xs, ns, mean, variance = _kind_moments(np.broadcast_to(x, (g,) + x.shape), np.broadcast_to(n, (g,) + n.shape),
                                           np.broadcast_to(nn, (g,) + nn.shape), grid, rho_a)
    weighted, trials, total, summed = _weighted(xs, ns, mean, variance, grid)
    tails = excess_sf_array(weighted + beyond, trials, total, summed)                 # G × c
    return own.weight @ tails


def village_p_values(tally: Tally, baseline: Baseline, rho: np.ndarray, p_excess: np.ndarray,
                     village_counts=None):
    """The township pairs the excess test puts at ``p ≤ SCREEN``, tested again on the per-village
    evidence (:mod:`.village_evidence`): their p-values replace the excess test's. ``village_counts``
    gives the (village, category) counts of the townships asked (``LedgerFacts.village_counts``);
    without it nothing changes. Returns the p-values (t × c) and the randomised ``P(T > t)``
    alongside (for calibration), NaN where the excess test's p-value stands."""
    p = p_excess.copy()
    above = np.full(p.shape, np.nan)
    screened = np.argwhere(p_excess <= SCREEN)
    if village_counts is None or screened.size == 0:
        return p, above
    townships = sorted({tally.townships[t] for t in screened[:, 0]})
    villages = _village_arrays(village_counts(townships), tally)
    for t, j in screened.tolist():
        code = tally.townships[t]
        if code not in villages:
            continue
        n, x, kind = villages[code]
        usable = baseline.usable[t, kind]
        if not usable.any():
            continue
        n, x, kind = n[usable], x[usable, j], kind[usable]
        p[t, j], above[t, j] = village_tail(n, x, baseline.share[t, kind, j],
                                            np.sqrt(baseline.share_var[t, kind, j]),
                                            float(rho[t, j] if rho.ndim == 2 else rho[j]))
    return p, above


def _village_arrays(counts, tally: Tally) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per township: its villages' problems N_v, counts X_v (village × category) and kinds."""
    ci = {c: i for i, c in enumerate(tally.categories)}
    rows: dict[str, dict[str, list]] = defaultdict(dict)
    kinds: dict[str, int] = {}
    for village, kind, category, issues in counts:
        row = rows[village[:9]].setdefault(village, [0.0] * len(ci))
        row[ci[category]] += issues
        kinds[village] = KIND_INDEX.get(kind or "other", 2)
    out = {}
    for township, by_village in rows.items():
        x = np.array(list(by_village.values()))
        out[township] = (x.sum(axis=1), x, np.array([kinds[v] for v in by_village], dtype=int))
    return out


def recurrence_p_values(rectified, recurred, rectified_rest, recurred_rest, level=None):
    """Villages where a rectified category came back, against the baseline's villages. NaN where
    no test can be made: nothing rectified that a later round could have seen again, or no baseline.

    Without ``level`` (townships against the rest of their district, a district against its own
    last term): one-sided Fisher's exact test, the baseline's rate itself uncertain.

    With ``level`` (a district against the other districts): the baseline's chance of finding the
    category again raised to what the pair's own level of it predicts (its count over its expected
    count, never below 1). A village is counted as recurred when the category is found there again,
    for whatever reason, so where it is commoner for local reasons it is found again more often,
    root or not: with findings at ``level`` times the rate, a chance ``q`` of being found again
    becomes ``1 − (1 − q)^level``. A fix that does not hold shows as more recurrence than that. The
    baseline's rate is uncertain: a beta-binomial tail, its spread carried from the baseline's
    villages (delta method).

    >>> recurrence_p_values(np.array([4.0]), np.array([4.0]), np.array([40.0]), np.array([2.0])).round(6).tolist()  # 15 / C(44, 4)
    [0.00011]
    >>> at = lambda level: recurrence_p_values(np.array([100.0]), np.array([40.0]), np.array([1000.0]),
    ...                                        np.array([200.0]), np.array([level]))[0]
    >>> bool(at(1.0) < 1e-4), bool(at(2.0) > 0.05)   # 40 % found again: alarming at 20 %, as expected at 36 %
    (True, True)
    >>> bool(at(0.5) == at(1.0))   # a district with less of the category is held to the baseline's rate
    True
    """
    k, n = np.rint(recurred), np.rint(rectified)
    k_rest, n_rest = np.rint(recurred_rest), np.rint(rectified_rest)
    p = np.full(np.shape(k), np.nan)
    valid = (n > 0) & (n_rest > 0)
    p[valid & (k == 0)] = 1.0
    test = valid & (k > 0)
    if not test.any():
        return p
    if level is None:
        p[test] = np.minimum(1.0, stats.hypergeom.sf(k[test] - 1, (n + n_rest)[test], (k + k_rest)[test], n[test]))
        return p
    lvl = np.maximum(1.0, np.nan_to_num(np.broadcast_to(level, np.shape(k))[test], nan=1.0))
    # the baseline's rate, kept off 0 and 1 (half a village each way) so its spread is defined
    q = (k_rest[test] + 0.5) / (n_rest[test] + 1.0)
    mean = 1.0 - (1.0 - q) ** lvl
    var = (lvl * (1.0 - q) ** (lvl - 1.0)) ** 2 * q * (1.0 - q) / (n_rest[test] + 1.0)
    size = np.maximum(mean * (1.0 - mean) / np.maximum(var, 1e-300) - 1.0, 1e-6)
    p[test] = np.minimum(1.0, stats.betabinom.sf(k[test] - 1, n[test], mean * size, (1.0 - mean) * size))
    return p


# A root cause is, first, more problems than its baseline; recurrence is the second view, for a
# cause whose count looks ordinary but whose fixes do not hold. A fix that fails is found again, so
# such a cause mostly shows in the count as well. The excess test gets four fifths of the level and
# recurrence one fifth (weighted Bonferroni, Holm 1979; the 4 : 1 split of a primary and a
# secondary end point); an even split cost the excess test half of its level.
EXCESS_SHARE = 0.8


def combine(p_excess: np.ndarray, p_recurrence: np.ndarray, excess_share: float = EXCESS_SHARE) -> np.ndarray:
    """Excess and recurrence are two views of one root; either may show it alone. Each p-value is
    divided by its share of the level and the smaller is kept (weighted Bonferroni: valid whatever
    their dependence, as the shares sum to 1); a recurrence test that could not be made is no
    evidence either way, and the excess test then keeps the whole level.

    >>> [round(float(p), 12) for p in combine(np.array([0.008, 0.008, 0.3]), np.array([np.nan, 0.2, 0.001]))]
    [0.008, 0.01, 0.005]
    >>> [round(float(p), 12) for p in combine(np.array([0.01, 0.3]), np.array([0.2, 0.001]), excess_share=0.5)]
    [0.02, 0.002]
    """
    both = ~np.isnan(p_recurrence)
    out = p_excess.copy()
    out[both] = np.minimum(1.0, np.minimum(p_excess[both] / excess_share,
                                           p_recurrence[both] / (1.0 - excess_share)))
    return out
