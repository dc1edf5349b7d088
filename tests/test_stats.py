"""The tails every root-cause test rests on, checked against SciPy over thousands of random inputs,
lower tails and extreme totals included."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from graph.analysis.stats import excess_sf_array as _excess_sf_array
from graph.analysis.stats import betabinom_sf_array, binom_sf, excess_sf, hypergeom_sf


def test_lower_tails_are_almost_one_not_zero():
    # The cases that the hand-written sums got wrong (a pmf that underflows at the start).
    assert binom_sf(10, 9000, 0.087) == pytest.approx(1.0)
    assert binom_sf(5, 3500, 0.2) == pytest.approx(1.0)
    assert hypergeom_sf(2, 2000, 900, 1000) == pytest.approx(1.0)
    assert excess_sf(1, 12000, 1200.0, 1400.0) == pytest.approx(1.0)


@pytest.mark.slow
def test_binomial_and_hypergeometric_tails_equal_scipy_over_random_inputs():
    rng = np.random.default_rng(20261128)
    for _ in range(5000):
        n = int(rng.integers(1, 20000))
        k = int(rng.integers(0, n + 2))
        p = float(rng.uniform(1e-4, 0.9))
        assert binom_sf(k, n, p) == pytest.approx(float(stats.binom.sf(k - 1, n, p)), rel=1e-9, abs=1e-300)
        total = int(rng.integers(2, 5000))
        marked, drawn = int(rng.integers(0, total + 1)), int(rng.integers(0, total + 1))
        k = int(rng.integers(0, min(marked, drawn) + 2))
        assert hypergeom_sf(k, total, marked, drawn) == pytest.approx(
            min(1.0, float(stats.hypergeom.sf(k - 1, total, marked, drawn))), rel=1e-9, abs=1e-300)


def test_vectorised_beta_binomial_tail_equals_scipy_over_random_inputs():
    rng = np.random.default_rng(7)
    size = 5000
    n = rng.integers(1, 3000, size)
    k = rng.integers(0, n + 2)
    a, b = rng.uniform(0.05, 500, size), rng.uniform(0.05, 5000, size)
    mine = betabinom_sf_array(k, n, a, b)
    reference = stats.betabinom.sf(k - 1, n, a, b)
    # SciPy's sf is one minus its cdf, so below ~1e-10 it has lost its digits: there the
    # reference is the direct sum of SciPy's own pmf.
    tiny = reference < 1e-10
    assert np.allclose(mine[~tiny], reference[~tiny], rtol=1e-6, atol=1e-10)
    for i in np.flatnonzero(tiny)[:300]:
        direct = np.exp(stats.betabinom.logpmf(np.arange(k[i], n[i] + 1), n[i], a[i], b[i])).sum()
        assert mine[i] == pytest.approx(direct, rel=1e-6, abs=1e-300)


def test_excess_tail_is_the_binomial_without_overdispersion_and_heavier_with_it():
    observed, trials, mean = np.array([30.0]), np.array([150.0]), np.array([10.0])
    binomial_var = 150 * (10 / 150) * (1 - 10 / 150)
    plain = _excess_sf_array(observed, trials, mean, np.array([binomial_var]))[0]
    assert plain == pytest.approx(stats.binom.sf(29, 150, 10 / 150))
    wider = _excess_sf_array(observed, trials, mean, np.array([2 * binomial_var]))[0]
    assert wider > 10 * plain


def test_overdispersed_null_is_calibrated_by_simulation():
    """Sums of village beta-binomial counts: the matched-moment tail does not under-state p."""
    rng = np.random.default_rng(3)
    villages = rng.integers(3, 30, 20)
    share, rho = 0.06, 0.05
    c = 1 / rho - 1
    sims = np.array([rng.binomial(villages, rng.beta(share * c, (1 - share) * c, len(villages))).sum()
                     for _ in range(40000)])
    n, pairs = villages.sum(), (villages * (villages - 1)).sum()
    mean, variance = n * share, share * (1 - share) * (n + rho * pairs)
    for quantile in (0.95, 0.99, 0.999):
        x = int(np.quantile(sims, quantile)) + 1
        empirical = (sims >= x).mean()
        assert excess_sf(x, int(n), mean, variance) >= 0.8 * empirical


def test_village_statistic_tail_equals_enumeration_of_every_outcome():
    """The per-village statistic's tail is the exact sum over every joint outcome of the villages
    (three small villages: every combination enumerated), both tails, with and without clustering."""
    import itertools

    from graph.analysis import village_evidence as ve
    n, share = np.array([4, 3, 5]), np.array([0.2, 0.3, 0.15])
    for rho in (0.0, 0.1):
        pmfs, grids = [], []
        for nv, sv in zip(n, share):
            x = np.arange(nv + 1)
            log_null = ve._log_pmf(x, nv, sv, rho)
            log_alt = ve._log_pmf(x, nv, sv, rho, ve.ALT_MULTIPLIER)
            score = np.logaddexp(np.log(1 - ve.ALT_SHARE), np.log(ve.ALT_SHARE) + log_alt - log_null)
            pmfs.append(np.exp(log_null))
            grids.append(np.rint(score / ve.STEP).astype(int))
        assert all(abs(p.sum() - 1) < 1e-12 for p in pmfs)
        for observed in itertools.product(*(range(v + 1) for v in n)):
            t = sum(g[x] for g, x in zip(grids, observed))
            ge = gt = 0.0
            for outcome in itertools.product(*(range(v + 1) for v in n)):
                value = sum(g[x] for g, x in zip(grids, outcome))
                weight = np.prod([p[x] for p, x in zip(pmfs, outcome)])
                ge += weight * (value >= t)
                gt += weight * (value > t)
            mine = ve.village_tail(n, np.array(observed), share, np.zeros(3), rho)
            assert mine == pytest.approx((ge, gt), rel=1e-9, abs=1e-15), (rho, observed)


@pytest.mark.slow
@pytest.mark.parametrize("rho", [0.0, 0.05])
def test_village_statistic_null_p_values_are_uniform(rho):
    """Randomised p-values of the per-village statistic under its null, simulated: uniform (KS),
    and the rate at p ≤ 0.01 where it should be."""
    from graph.analysis.village_evidence import village_tail
    rng = np.random.default_rng(7)
    n = rng.integers(2, 30, size=10)
    share = np.where(rng.random(10) < 0.5, 0.05, 0.12)
    concentration = 1 / rho - 1 if rho else None
    p = []
    for _ in range(1500):
        x = (stats.binom.rvs(n, share, random_state=rng) if rho == 0 else
             stats.betabinom.rvs(n, concentration * share, concentration * (1 - share), random_state=rng))
        ge, gt = village_tail(n, x, share, np.zeros(10), rho)
        p.append(gt + rng.random() * (ge - gt))
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert np.mean(np.array(p) <= 0.01) < 0.02


def test_weighted_bh_keeps_the_false_discovery_rate_and_gains_where_weights_point():
    """Weighted BH with weights fixed before the data (mean 1): under the global null any rejection
    is a false discovery, and it happens at most at the nominal rate; with the signal where the
    weights are high, it finds more than plain BH."""
    from graph.analysis.stats import benjamini_hochberg, weighted_benjamini_hochberg
    rng = np.random.default_rng(11)
    m, alpha = 2000, 0.05
    weights = np.where(np.arange(m) < 400, 4.2, 0.2)          # a fifth of the pairs can show a cause
    weights = weights / weights.mean()
    assert weighted_benjamini_hochberg([0.01, 0.2], [1, 1]) == benjamini_hochberg([0.01, 0.2])
    any_false = 0
    for _ in range(400):
        q = np.array(weighted_benjamini_hochberg(rng.uniform(size=m), weights))
        any_false += bool((q <= alpha).any())
    # FDR = P(any rejection) under the global null: ≤ α, with simulation slack (400 runs, sd ≈ 0.011)
    assert any_false / 400 <= alpha + 0.035, any_false
    found_weighted = found_plain = 0
    for _ in range(100):
        p = rng.uniform(size=m)
        signal = rng.choice(400, size=20, replace=False)     # causes where the weights are high
        p[signal] = stats.norm.sf(rng.normal(4.0, 1.0, size=20))
        found_weighted += int((np.array(weighted_benjamini_hochberg(p, weights))[signal] <= alpha).sum())
        found_plain += int((np.array(benjamini_hochberg(p))[signal] <= alpha).sum())
    assert found_weighted > 1.1 * found_plain, (found_weighted, found_plain)
