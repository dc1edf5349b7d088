#!/usr/bin/env python3
"""The accuracy matrix of root-cause surfacing: ledger families × office usages, planted and null
scenarios, our method against an oracle.

Families (generator options, ``loaders/scenario.py``), none of them tuned for:
  (i)   standard     — today's generator: each township inspected once in 2 rounds, 回头看 at the end
  (ii)  multi_round  — every village in each of 2–4 rounds, a village's mix of problems persists
                       (Dirichlet, kappa 30), causes persist across rounds
  (iii) fixes_fail   — every village in 2 rounds plus a 回头看 round; fixes that do not hold
  (iv)  partial      — 40–70 % of villages inspected, 2 rounds, persisting mix
  (v)   office       — another province (宁夏, 64), an office's own catalog of 6–10 categories,
                       no rates, 3 rounds
  (vi)  terms        — two terms (届次) of 2 rounds each, persisting mix, districts differing for
                       local reasons (φ 0.02, stable over terms), causes new in the latest term:
                       surfaced against the earlier term
  (vii) local        — one term whose districts differ for local reasons (φ 0.02): what the spread
                       between districts must absorb, with no history to tell causes from it
Usages: (a) one district office (its ledger in the whole province's divisions); (b) a province
office, 60 % of districts inspected; (c) mid-term, half of the townships inspected; (d) everything;
(e) a city office of 4–8 districts (few districts to estimate their spread from), six causes.

The oracle is a likelihood-ratio test that knows the generating model (true category shares,
the villages a district cause multiplied and by how much, Dirichlet concentration, a cause's
multiplier 4 and share 0.8, the midpoints of the planted ranges) for every township pair, with its exact null distribution, at the same false-discovery
rate (Benjamini–Hochberg at 1 − min_confidence). It is the ceiling for township causes; our recall
is reported as a ratio to it.

Where districts differ for local reasons (terms, local), each oracle above knows every district's
own share, which one term does not reveal. Beside it the matrix reports the best test that knows
only how far districts differ: for districts, the count's tail over the local multiplier's law
(``oracle_spread_district_p_value``; terms: the two terms' counts); for townships, the township
oracle's own village-by-village statistic, its null tail averaged over the multiplier's posterior
given the district's other villages (``oracle_spread_township_p_value``), as any test must read it.

Ledger facts are computed by the reference implementation of the ledger rules
(``graph/analysis/ledger.py``), which the stores are tested against, to skip a store's load.

    python bench/accuracy.py [--seeds 2] [--first-seed 1] [--families standard,...] [--usages a,b,c,d] [--json out.json]
    python bench/accuracy.py --merge a.json b.json [--json all.json] [--brief]   # runs made in parallel
    python bench/accuracy.py --json runs.json --resume ...   # after every cell the runs so far; goes on from them
    python bench/accuracy.py --spread-scale 0 ...   # the district test told that districts do not differ
    python bench/accuracy.py --oracle-from bench/results-accuracy.json ...   # the oracles' verdicts as recorded
    python bench/accuracy.py --cache /tmp/scenarios ...   # generated scenarios kept and read back
    python bench/accuracy.py --null-only --first-seed 55 --seeds 200 ...   # more null ledgers for calibration

The oracles know the truth and read only the scenario and which pairs are tested, not the method
measured: ``--oracle-from`` takes their verdicts from the recorded runs of the same scenarios (as
many problems, the same causes tested alike, as many district and township pairs tested, where the
record counts them; a scenario that differs is judged again), in a third of the time when only the
method changed.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import math
import os
import pickle
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graph.analysis.ledger import finding, ledger_facts_from_findings  # noqa: E402
from graph.analysis.root_causes import DEFAULT_MIN_CONFIDENCE, surface_root_causes  # noqa: E402
from graph.analysis import root_causes as rc  # noqa: E402
from graph.analysis.stats import benjamini_hochberg, excess_sf_array  # noqa: E402
from graph.model import CategoryIn  # noqa: E402
from graph.sqlite_store import SQLiteStore  # noqa: E402
from graph.store import Duty, LedgerFacts, Unit  # noqa: E402
from loaders.catalog import CATALOG_DIR, load_default_catalog  # noqa: E402
from loaders.divisions import DEFAULT_DIVISIONS, load_divisions  # noqa: E402
from loaders.scenario import generate_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NATIONAL = ROOT.parent / "shared" / "data" / "divisions"

FAMILIES = {
    "standard": lambda seed: dict(rounds=2),
    "multi_round": lambda seed: dict(rounds=2 + seed % 3, every_round=True, kappa=30.0),
    "fixes_fail": lambda seed: dict(rounds=2, every_round=True, revisit=True),
    "partial": lambda seed: dict(rounds=2, every_round=True, kappa=30.0, coverage=0.4 + 0.3 * ((seed * 7) % 10) / 10),
    "office": lambda seed: dict(rounds=3, every_round=True, kappa=30.0, office_categories=6 + seed % 5),
    "terms": lambda seed: dict(rounds=2, every_round=True, kappa=30.0, terms=2, spread=TERMS_SPREAD),
    "local": lambda seed: dict(rounds=2, every_round=True, kappa=30.0, spread=TERMS_SPREAD),
}
# The terms family: districts differ for local reasons by φ = 0.02 (a 42 % coefficient of variation
# of a 10 % share, as tests/test_root_causes.py draws them), the same in both terms; causes are new
# in the latest term, which is surfaced with the earlier one as its baseline. The local family: the
# same local differences in one term, with no history to tell them from causes (an office's first
# term): what the spread between districts must absorb, in the excess and in the recurrence.
TERMS_SPREAD = 0.02
PROVINCE = {"office": "64"}  # the others: Chongqing (50)
USAGES = ("a", "b", "c", "d", "e")
ORACLE_M, ORACLE_F = 4.0, 0.8
# A district cause multiplies the rate ×2–3 in 60–90 % of the district's townships: the midpoints.
ORACLE_DISTRICT_M, ORACLE_DISTRICT_F = 2.5, 0.75
BRIEF = False
SPREAD_ORACLE = True  # --no-spread-oracle: the township spread oracle only as recorded (--oracle-from)
ORACLE_P: dict[tuple[str, str, str], float] = {}  # the last run's oracle p-values, by (level, area, category)


# -- the oracle ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _village_log_lr(n: int, share: float, kappa: float | None, m: float = ORACLE_M, f: float = ORACLE_F,
                    m0: float = 1.0):
    """Per village with N = n problems: values of log LR(x) and null probabilities, x = 0..n,
    for a cause multiplying the village's rate by ``m`` with probability ``f``. ``m0``: what the
    generator multiplied the village's rate by without the cause tested (a district cause over a
    township's villages): the oracle knows it, so its null is the village's true rate."""
    x = np.arange(n + 1)
    if kappa is None:
        share = m0 * share / (1 + (m0 - 1) * share)
        boosted = m * share / (1 + (m - 1) * share)
        p0 = stats.binom.pmf(x, n, share)
        log_ratio = stats.binom.logpmf(x, n, boosted) - stats.binom.logpmf(x, n, share)
    else:
        a, b = kappa * share * m0, kappa * (1 - share)
        p0 = stats.betabinom.pmf(x, n, a, b)
        log_ratio = stats.betabinom.logpmf(x, n, m * a, b) - stats.betabinom.logpmf(x, n, a, b)
    log_lr = log_ratio if f >= 1 else np.logaddexp(math.log(1 - f), math.log(f) + log_ratio)
    return log_lr, p0


@functools.lru_cache(maxsize=None)
def _village_grid(n: int, share: float, kappa: float | None, step: float, m: float = ORACLE_M,
                  f: float = ORACLE_F, m0: float = 1.0):
    log_lr, p0 = _village_log_lr(n, share, kappa, m, f, m0)
    m = float((log_lr * p0).sum())
    v = float((log_lr ** 2 * p0).sum()) - m ** 2
    keep = p0 > 1e-15
    return np.rint(log_lr[keep] / step).astype(int), p0[keep], m, v, log_lr


def oracle_p_value(villages: list[tuple[int, int, float, float]], kappa: float | None, step: float = 0.02) -> float:
    """Exact null tail of the oracle's statistic Σ log LR_v for villages ``(N_v, X_v, share_v, m0_v)``
    (``m0_v``: the village's multiplier from a district cause, 1 elsewhere), on a grid of ``step``
    nats (the observed value is put on the same grid)."""
    parts, observed, mean, var = [], 0, 0.0, 0.0
    for n, x, share, m0 in villages:
        if n == 0:
            continue
        grid, p0, m, v, log_lr = _village_grid(n, share, kappa, step, m0=m0)
        mean += m
        var += v
        observed += int(np.rint(log_lr[x] / step))
        parts.append((grid, p0))
    if not parts:
        return 1.0
    z = (observed * step - mean) / math.sqrt(max(var, 1e-12))
    if z < 1.0:  # far from any discovery: the normal approximation is plenty
        return float(stats.norm.sf(z))
    return _grid_tail(parts, observed)


def _grid_tail(parts, observed: int) -> float:
    """``P(Σ S_v ≥ observed)`` for independent integer scores: ``parts`` gives each one's values
    and their probabilities (convolved one by one)."""
    dist, offset = np.ones(1), 0
    for g, p in parts:
        g_min = int(g.min())
        new = np.zeros(len(dist) + int(g.max()) - g_min)
        for shift, prob in zip(g - g_min, p):
            new[shift:shift + len(dist)] += prob * dist
        dist, offset = new, offset + g_min
    index = observed - offset
    if index <= 0:
        return 1.0
    if index >= len(dist):
        return 0.0
    return float(min(1.0, dist[index:].sum()))


def oracle_district_p_value(villages: list[tuple[int, int, float, float]], kappa: float | None,
                            step: float = 0.05) -> float:
    """The district oracle: exact null tail of Σ log LR_v over a district's villages for a cause
    ×``ORACLE_DISTRICT_M`` on ``ORACLE_DISTRICT_F`` of them. Hundreds of villages: villages alike
    (same N and share) are convolved at once, as a power of their characteristic function (FFT)."""
    groups: dict[tuple[int, float, float], int] = defaultdict(int)
    observed, mean, var = 0, 0.0, 0.0
    args = (kappa, step, ORACLE_DISTRICT_M, ORACLE_DISTRICT_F)
    for n, x, share, m0 in villages:  # m0: a township cause's multiplier on the village, 1 elsewhere
        if n == 0:
            continue
        grid, p0, m, v, log_lr = _village_grid(n, share, *args, m0)
        groups[(n, share, m0)] += 1
        mean, var = mean + m, var + v
        observed += int(np.rint(log_lr[x] / step))
    if not groups:
        return 1.0
    z = (observed * step - mean) / math.sqrt(max(var, 1e-12))
    if z < 1.0:
        return float(stats.norm.sf(z))
    vectors, offset, support = [], 0, 1
    for (n, share, m0), count in groups.items():
        grid, p0 = _village_grid(n, share, *args, m0)[:2]
        low = int(grid.min())
        vector = np.zeros(int(grid.max()) - low + 1)
        np.add.at(vector, grid - low, p0)
        vectors.append((vector, count))
        offset += count * low
        support += count * (len(vector) - 1)
    size = 1 << (support - 1).bit_length()
    spectrum = np.ones(size // 2 + 1, dtype=complex)
    for vector, count in vectors:
        spectrum *= np.fft.rfft(vector, size) ** count
    dist = np.clip(np.fft.irfft(spectrum, size)[:support], 0.0, None)
    index = observed - offset
    if index <= 0:
        return 1.0
    if index >= support:
        return 0.0
    return float(min(1.0, dist[index:].sum() / dist.sum()))


def oracle_discoveries(scenario, pairs: list[tuple[str, str]], truth_shares: dict, kind_of: dict,
                       kappa: float | None, alpha: float, level: str = "township") -> set[tuple[str, str]]:
    """BH at ``alpha`` over the oracle's p-values for the pairs ``(area, category)`` of ``level``:
    townships (:func:`oracle_p_value`) or districts (:func:`oracle_district_p_value`).

    Each oracle's null is each village's true rate, the other level's causes included: the
    township oracle's holds a district cause's multiplier (it asks what a township cause adds),
    the district oracle's a township or recurrence cause's (it asks what a district cause adds).
    Against the catalog's shares alone, every township of a district cause would be one of the
    township oracle's discoveries, 0–55 a scenario; and a district with a township cause was one
    of the district oracle's, 13 false against 30 planted in standard (c) and 10 against 17 in
    office (c) over six seeds. Those lifted its Benjamini–Hochberg cut-off, so its recall was not
    the ceiling at the same false-discovery rate."""
    prefix, p_value = (9, oracle_p_value) if level == "township" else (6, oracle_district_p_value)
    local_share = _local_shares(scenario, truth_shares)
    boost = _boosts(scenario, "district" if level == "township" else "township")
    totals, counts, _ = _villages_by_district(scenario.issues)
    villages_of: dict[str, list[str]] = defaultdict(list)
    for village in totals:
        villages_of[village[:prefix]].append(village)
    p_values = [p_value([(totals[v], counts.get((v, category), 0), local_share(v, kind_of[v], category),
                          boost.get((v, category), 1.0)) for v in villages_of[area]], kappa)
                for area, category in pairs]
    q = benjamini_hochberg(p_values)
    ORACLE_P.update(zip(((level,) + pair for pair in pairs), p_values))
    return {pair for pair, qv in zip(pairs, q) if qv <= alpha}


def oracle_term_district_p_value(current: list[tuple[int, int, float, float]],
                                 last: list[tuple[int, int, float, float]], kappa: float | None) -> float:
    """The best test a district's own last term allows: the two terms' counts of a category,
    villages ``(N_v, X_v, share_v, m0_v)`` of each. A district's local share is a nuisance only its
    own counts reveal, so this oracle does not use its level: it compares the two counts, knowing
    everything else (each village's problems, the change of share between the terms that the
    villages inspected make, the Dirichlet concentration for the variance). ``z = (O − r·O′) /
    √(r·λ·w + r²·λ·w′)``, r = E/E′ from the generating model, λ = (O + O′)/(1 + r) the level both
    counts give under the null, w and w′ the villages' concentration widening each count: the
    score test of two Poisson rates (the exact test conditional on their sum, in normal form).

    >>> same = [(10, 1, 0.1, 1.0)] * 300
    >>> raised = [(10, 2, 0.1, 1.0)] * 300
    >>> oracle_term_district_p_value(same, same, 30.0) == 0.5
    True
    >>> oracle_term_district_p_value(raised, same, 30.0) < 1e-12
    True
    """
    def moments(villages):
        observed = expected = variance = 0.0
        for n, x, share, m0 in villages:
            if n == 0:
                continue
            s = m0 * share / (1 + (m0 - 1) * share)
            widen = 1.0 if kappa is None else (kappa * (m0 * share + 1 - share) + n) / (kappa * (m0 * share + 1 - share) + 1)
            observed, expected, variance = observed + x, expected + n * s, variance + n * s * (1 - s) * widen
        return observed, expected, variance
    o, e, v = moments(current)
    o_last, e_last, v_last = moments(last)
    if e <= 0 or e_last <= 0:
        return 1.0
    r = e / e_last
    # the common rate under the null from both counts (the score test of two Poisson rates, the
    # exact conditional test's normal form), each count widened as the generating model widens it
    level = (o + o_last) / (1 + r)
    variance = r * level * v / e + r * r * level * v_last / e_last
    return float(stats.norm.sf((o - r * o_last) / math.sqrt(max(variance, 1e-12))))


def _boosts(scenario, level: str) -> dict[tuple[str, str], float]:
    """(village, category) -> the multiplier a planted cause of ``level`` put on the village."""
    boost: dict[tuple[str, str], float] = {}
    for cause in scenario.causes:
        if cause.level == level:
            for village in cause.affected:
                if len(village) == 12:
                    boost[(village, cause.category)] = cause.multiplier
    return boost


def _villages_by_district(issues: list[dict]):
    """Per village its problems, per (village, category) its count, per district its villages."""
    totals: dict[str, int] = defaultdict(int)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for issue in issues:
        totals[issue["village_code"]] += 1
        counts[(issue["village_code"], issue["category"])] += 1
    by: dict[str, list[str]] = defaultdict(list)
    for village in totals:
        by[village[:6]].append(village)
    return totals, counts, by


def oracle_spread_district_p_value(villages: list[tuple[int, int, float, float]], kappa: float | None,
                                   phi: float, share: float) -> float:
    """The best test of a district's count in one term when districts differ for local reasons:
    the oracle knows the generating model and how far districts differ (the local multiplier's
    Gamma law, relative variance ``phi · (1 − share) / share``), but not the district's own
    multiplier, which no single term reveals. Villages ``(N_v, X_v, catalog share_v, m0_v)``; the
    null tail of the count ``P(O ≥ o)`` averaged over the multiplier's law (quadrature over g), the
    count given g beta-binomial with the villages' moments (each widened by the concentration).

    >>> villages = [(10, 1, 0.1, 1.0)] * 300
    >>> 0.3 < oracle_spread_district_p_value(villages, 30.0, 0.02, 0.1) < 0.7
    True
    >>> tight = oracle_spread_district_p_value([(10, 2, 0.1, 1.0)] * 300, 30.0, 0.0005, 0.1)
    >>> wide = oracle_spread_district_p_value([(10, 2, 0.1, 1.0)] * 300, 30.0, 0.02, 0.1)
    >>> tight < 1e-6 < 0.01 < wide          # ×2 is certain between alike districts, not between these
    True
    """
    g, log_prior = _spread_grid(phi, share, points=800)
    return _spread_tail(_spread_moments(villages, g, kappa), None, log_prior)


def oracle_spread_discoveries(scenario, pairs: list[tuple[str, str]], truth_shares: dict, kind_of: dict,
                              kappa: float | None, alpha: float) -> set[tuple[str, str]]:
    """BH at ``alpha`` over :func:`oracle_spread_district_p_value` of the district ``pairs``: the
    ceiling of a one-term district test where districts differ for local reasons (the local
    family), which knows how far they differ but not how far each one does."""
    boost = _boosts(scenario, "township")  # a township's cause is in the null of a district test
    totals, counts, by = _villages_by_district(scenario.issues)
    phi = scenario.meta["spread"]
    total = sum(c.rate_village for c in scenario.categories)
    generating = {c.name: c.rate_village / total for c in scenario.categories}
    p_values = [oracle_spread_district_p_value(
        [(totals[v], counts.get((v, c), 0), truth_shares[(kind_of[v], c)], boost.get((v, c), 1.0)) for v in by[d]],
        kappa, phi, generating[c]) for d, c in pairs]
    q = benjamini_hochberg(p_values)
    ORACLE_P.update(zip((("district_spread", d, c) for d, c in pairs), p_values))
    return {pair for pair, qv in zip(pairs, q) if qv <= alpha}


def _spread_grid(phi: float, share: float, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """The local multiplier g's grid and its Gamma law's log-density (relative variance
    ``phi · (1 − share) / share``)."""
    v = phi * (1 - share) / share
    law = stats.gamma(1 / v, scale=v)
    g = np.linspace(law.ppf(1e-10), law.ppf(1 - 1e-13), points)
    return g, law.logpdf(g)


def _spread_moments(villages: list[tuple[int, int, float, float]], g: np.ndarray, kappa: float | None):
    """Villages ``(N_v, X_v, share_v, m0_v)``: their count, problems, and the count's mean and
    variance at each multiplier of ``g`` (widened by the concentration)."""
    live = [(n, x, s, m0) for n, x, s, m0 in villages if n > 0]
    if not live:
        return 0.0, 0.0, np.zeros(len(g)), np.zeros(len(g))
    n, x, s, m0 = (np.array(column, dtype=float) for column in zip(*live))
    lifted = (m0[None, :] * g[:, None]) * s[None, :]
    s_g = lifted / (1 + lifted - s[None, :])                      # the village's share at multiplier g
    widen = 1.0 if kappa is None else (kappa + n[None, :]) / (kappa + 1)
    return x.sum(), n.sum(), (n[None, :] * s_g).sum(axis=1), (n[None, :] * s_g * (1 - s_g) * widen).sum(axis=1)


def _spread_tail(own, rest, log_prior: np.ndarray) -> float:
    """A count's null tail averaged over g's law, or its posterior given the rest's count (moments
    as :func:`_spread_moments` gives them; a normal likelihood of the rest's count at each g)."""
    o, n, mean, variance = own
    if n <= 0:
        return 1.0
    weight = _spread_weights(rest, log_prior)
    tails = excess_sf_array(np.full(len(mean), o), np.full(len(mean), n), mean, variance)
    return float(min(1.0, (weight * tails).sum()))


def _spread_weights(rest, log_prior: np.ndarray) -> np.ndarray:
    """g's law on its grid, or its posterior given the rest's count (a normal likelihood at each g)."""
    log_weight = log_prior
    o_rest, n_rest, mean_rest, variance_rest = rest if rest is not None else (0.0, 0.0, None, None)
    if n_rest > 0:
        variance_rest = np.maximum(variance_rest, 1e-9)
        log_weight = log_weight - 0.5 * ((o_rest - mean_rest) ** 2 / variance_rest + np.log(variance_rest))
    weight = np.exp(log_weight - log_weight.max())
    return weight / weight.sum()


def oracle_spread_township_p_value(township: list[tuple[int, int, float, float]],
                                   rest: list[tuple[int, int, float, float]], kappa: float | None,
                                   phi: float, share: float) -> float:
    """The best test of a township when districts differ for local reasons and the district's own
    share is not known: the oracle knows the generating model and how far districts differ (the
    local multiplier g's Gamma law, relative variance ``phi · (1 − share) / share``), every planted
    cause's multiplier and the cause's shape, and reads g, as any test must, from the district's
    other villages (``rest``). Villages ``(N_v, X_v, catalog share_v, m0_v)``.

    The statistic is the township oracle's, village by village (Σ log LR_v of a cause ×4 on 80 %
    of the villages), at the shares g's posterior mean gives; its null tail is averaged over g's
    posterior given the rest's count. Given the rest, that is the test's exact conditional level.

    >>> ordinary = [(10, 1, 0.1, 1.0)] * 300
    >>> 0.1 < oracle_spread_township_p_value([(10, 1, 0.1, 1.0)] * 10, ordinary, 30.0, 0.02, 0.1) < 0.9
    True
    >>> raised = [(10, 4, 0.1, 1.0)] * 8 + [(10, 1, 0.1, 1.0)] * 2
    >>> known = oracle_spread_township_p_value(raised, ordinary, 30.0, 0.0005, 0.1)
    >>> unknown = oracle_spread_township_p_value(raised, [(10, 1, 0.1, 1.0)] * 20, 30.0, 0.02, 0.1)
    >>> known < unknown < 0.01             # a rate read from few villages is less certain
    True
    """
    g, log_prior = _spread_grid(phi, share)
    return _spread_village_tail(township, _spread_moments(rest, g, kappa), g, log_prior, kappa)


def _village_laws(n: int, share: float, kappa: float | None, m0: np.ndarray) -> np.ndarray:
    """A village's null probabilities of x = 0..n problems of the category (N = n), one row per
    multiplier of ``m0`` (as :func:`_village_log_lr` gives one)."""
    x = np.arange(n + 1)[None, :]
    m0 = np.asarray(m0, dtype=float)[:, None]
    if kappa is None:
        return stats.binom.pmf(x, n, m0 * share / (1 + (m0 - 1) * share))
    return stats.betabinom.pmf(x, n, kappa * share * m0, kappa * (1 - share))


def _spread_village_tail(township, rest, g: np.ndarray, log_prior: np.ndarray, kappa: float | None,
                         points: int = 24, step: float = 0.02) -> float:
    """:func:`oracle_spread_township_p_value` given the rest's moments on ``g``'s grid: g's
    posterior taken at ``points`` equally likely quantiles (g multiplies a village's odds as a
    cause's multiplier does, so it enters the village's law as ``m0 · g``)."""
    live = [(n, x, share, m0) for n, x, share, m0 in township if n > 0]
    if not live:
        return 1.0
    weight = _spread_weights(rest, log_prior)
    at = g[np.minimum(np.searchsorted(np.cumsum(weight), (np.arange(points) + 0.5) / points), len(g) - 1)]
    # The statistic's village laws are cached by multiplier: g's mean to three significant digits.
    g_hat = float(f"{float((weight * g).sum()):.3g}")
    scores, laws, observed = [], [], 0
    for n, x, share, m0 in live:
        score = np.rint(_village_log_lr(n, share, kappa, ORACLE_M, ORACLE_F, m0 * g_hat)[0] / step).astype(int)
        observed += int(score[x])
        scores.append(score)
        laws.append(_village_laws(n, share, kappa, m0 * at))     # one row per g of ``at``
    # Far from any discovery a normal tail at each g is plenty.
    mean = sum(law @ score for score, law in zip(scores, laws))
    var = sum(law @ score ** 2 - (law @ score) ** 2 for score, law in zip(scores, laws))
    normal = stats.norm.sf((observed - mean) / np.sqrt(np.maximum(var, 1e-12)))
    if float(np.mean(normal)) > 0.2:
        return float(np.mean(normal))
    return float(np.mean([_grid_tail([(score[law[k] > 1e-15], law[k][law[k] > 1e-15])
                                      for score, law in zip(scores, laws)], observed) for k in range(len(at))]))


def oracle_spread_township_discoveries(scenario, pairs: list[tuple[str, str]], truth_shares: dict, kind_of: dict,
                                       kappa: float | None, alpha: float) -> set[tuple[str, str]]:
    """BH at ``alpha`` over :func:`oracle_spread_township_p_value` of the township ``pairs``: the
    ceiling of a township test where districts differ for local reasons (the local family), which
    knows how far they differ but not how far each one does. Its null holds a district cause's
    multiplier, as the township oracle's does; the rest of the district holds every cause's. The
    district's moments are summed once and each township's taken from them."""
    district_boost, township_boost = _boosts(scenario, "district"), _boosts(scenario, "township")
    totals, counts, by = _villages_by_district(scenario.issues)
    phi = scenario.meta["spread"]
    total = sum(c.rate_village for c in scenario.categories)
    generating = {c.name: c.rate_village / total for c in scenario.categories}
    grids = {c: _spread_grid(phi, share) for c, share in generating.items()}

    def rows(villages, c, boosts):
        return [(totals[v], counts.get((v, c), 0), truth_shares[(kind_of[v], c)],
                 math.prod(boost.get((v, c), 1.0) for boost in boosts)) for v in villages]
    whole: dict[tuple[str, str], tuple] = {}
    p_values = []
    for t, c in pairs:
        g, log_prior = grids[c]
        d = t[:6]
        if (d, c) not in whole:
            whole[(d, c)] = _spread_moments(rows(by[d], c, (district_boost, township_boost)), g, kappa)
        mine = [v for v in by[d] if v.startswith(t)]
        own_all = _spread_moments(rows(mine, c, (district_boost, township_boost)), g, kappa)
        rest = tuple(a - b for a, b in zip(whole[(d, c)], own_all))
        own = rows(mine, c, (district_boost,))
        # A count unremarkable given the rest (its tail > 0.1) is no discovery of a test that adds
        # the villages' spread to it (BH's bar is below 0.1): only the others take the village test.
        counted = _spread_tail(_spread_moments(own, g, kappa), rest, log_prior)
        p_values.append(counted if counted > 0.1 else _spread_village_tail(own, rest, g, log_prior, kappa))
    q = benjamini_hochberg(p_values)
    ORACLE_P.update(zip((("township_spread", t, c) for t, c in pairs), p_values))
    return {pair for pair, qv in zip(pairs, q) if qv <= alpha}


def oracle_term_discoveries(scenario, before: list[dict], pairs: list[tuple[str, str]], truth_shares: dict,
                            kind_of: dict, kappa: float | None, alpha: float) -> set[tuple[str, str]]:
    """BH at ``alpha`` over :func:`oracle_term_district_p_value` of the district ``pairs``: the
    ceiling of a test against the district's own last term (the terms family)."""
    local_share = _local_shares(scenario, truth_shares)
    boost = _boosts(scenario, "township")  # a township's cause is in the null of a district test
    now, last = _villages_by_district(scenario.issues), _villages_by_district(before)

    def rows(term, district, category, boosted):
        totals, counts, by = term
        return [(totals[v], counts.get((v, category), 0), local_share(v, kind_of[v], category),
                 boost.get((v, category), 1.0) if boosted else 1.0) for v in by[district]]
    p_values = [oracle_term_district_p_value(rows(now, d, c, True), rows(last, d, c, False), kappa)
                for d, c in pairs]
    q = benjamini_hochberg(p_values)
    ORACLE_P.update(zip((("district_term", d, c) for d, c in pairs), p_values))
    return {pair for pair, qv in zip(pairs, q) if qv <= alpha}


def _local_shares(scenario, truth_shares: dict):
    """The true share of a category in a village: the catalog's, or with districts that differ for
    local reasons (``scenario.local``), the district's own (the oracle knows it)."""
    if not scenario.local:
        return lambda village, kind, category: truth_shares[(kind, category)]
    kinds = {kind for kind, _ in truth_shares}
    shares = {}
    for district in {d for d, _ in scenario.local}:
        for kind in kinds:
            weights = {c: truth_shares[(kind, c)] * scenario.local[(district, c)] for _, c in truth_shares if _ == kind}
            total = sum(weights.values())
            shares.update({(district, kind, c): w / total for c, w in weights.items()})
    return lambda village, kind, category: shares[(village[:6], kind, category)]


# -- one run ---------------------------------------------------------------------------------------
def scope_for(usage: str, districts: list[str], villages_in: dict[str, int], rng: np.random.Generator) -> dict:
    if usage == "a":
        big = [d for d in districts if villages_in[d] >= 300] or districts
        return {"districts": [big[int(rng.integers(len(big)))]], "causes": 3}
    if usage == "b":
        chosen = sorted(rng.choice(districts, size=max(2, round(0.6 * len(districts))), replace=False).tolist())
        return {"districts": chosen}
    if usage == "c":
        return {"districts": districts, "township_share": 0.5}
    if usage == "e":
        size = 4 + int(rng.integers(5))
        return {"districts": sorted(rng.choice(districts, size=size, replace=False).tolist()), "causes": 6}
    return {"districts": districts}


# The oracles' verdicts of earlier runs (--oracle-from): (family, usage, seed, null) -> run.
ORACLE_RUNS: dict[tuple, dict] = {}
ORACLE_FIELDS = ("oracle_false", "district_oracle_false", "term_oracle_false")
CAUSE_ORACLE_FIELDS = ("oracle", "oracle_p", "term_oracle", "term_oracle_p", "spread_oracle", "spread_oracle_p")


def earlier_oracle(result: dict, rows: list[dict]) -> dict | None:
    """The recorded run (``ORACLE_RUNS``) of the scenario ``result`` describes, where it is the same
    scenario judged over the same pairs: as many problems, the same causes (``rows``) tested alike,
    as many district pairs tested, and as many township pairs where the record counts them. The
    oracles know the truth and read only the scenario and which pairs are tested, so their
    verdicts do not depend on the method measured."""
    run = ORACLE_RUNS.get((result["family"], result["usage"], result["seed"], result["null"]))
    if run is None or run["issues"] != result["issues"] or run.get("district_tests") != result["district_tests"]:
        return None
    if run.get("township_tests", result["township_tests"]) != result["township_tests"]:
        return None
    same = [(c["level"], c["area"], c["category"], c["tested"]) for c in run["causes"]]
    return run if same == [(r["level"], r["area"], r["category"], r["tested"]) for r in rows] else None


# --cache DIR: each generated scenario kept there, under a key of everything its generation reads
# (the generator's and the catalog's sources, the division files, the family's settings, the usage's
# scope, the seed), and read back instead of generated again: generation is four fifths of a run.
SCENARIO_CACHE: Path | None = None
GENERATOR_SOURCES = ("loaders/scenario.py", "loaders/catalog.py", "loaders/divisions.py", "graph/model.py")


@functools.lru_cache(maxsize=None)
def _generator_stamp(divisions: Path) -> str:
    digest = hashlib.sha256()
    for name in GENERATOR_SOURCES:
        digest.update((ROOT / name).read_bytes())
    for path in sorted(CATALOG_DIR.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    for path in sorted(divisions.iterdir()):  # large files: their names, sizes and times
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def generated(store: SQLiteStore, province: str, seed: int, options: dict, scope: dict):
    """The scenario of ``generate_scenario`` and the seconds its generation took, from
    ``SCENARIO_CACHE`` where the same generator made it from the same inputs before (written
    whole or not at all, so processes run in parallel share it)."""
    path = None
    if SCENARIO_CACHE is not None:
        divisions = DEFAULT_DIVISIONS if province == "50" else NATIONAL
        key = hashlib.sha256(repr((_generator_stamp(divisions), province, seed, sorted(options.items()),
                                   sorted(scope.items()))).encode()).hexdigest()[:24]
        path = SCENARIO_CACHE / f"{key}.pickle.gz"
        if path.exists():
            with gzip.open(path, "rb") as f:
                return pickle.load(f)
    started = time.perf_counter()
    made = generate_scenario(store, seed=seed, **options, **scope), time.perf_counter() - started
    if path is not None:
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        with gzip.open(partial, "wb", compresslevel=1) as f:
            pickle.dump(made, f, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)
    return made


def run_one(store: SQLiteStore, province: str, family: str, usage: str, seed: int, null: bool) -> dict:
    districts = [d.code for d in store.divisions("district", within=province)]
    villages = store.divisions("village", within=province)
    villages_in: dict[str, int] = defaultdict(int)
    for v in villages:
        villages_in[v.code[:6]] += 1
    options = FAMILIES[family](seed)
    scope = scope_for(usage, districts, villages_in, np.random.default_rng(1000 + seed))
    if null:
        scope["causes"] = 0
    scenario, generation_seconds = generated(store, province, seed, options, scope)
    kind_of = {v.code: v.kind for v in villages}
    village_map = {v.code: (v.parent_code, v.code[:6], v.kind) for v in villages}
    terms = options.get("terms", 1)
    latest = f"第{terms}届"
    current = [i for i in scenario.issues if i.get("term", latest) == latest]
    cells, exposure, hints, counts = ledger_facts_from_findings((finding(i) for i in current), village_map)
    names = {c.name for c in scenario.categories}
    duties = [Duty(d.category, d.level, d.function, d.duty) for d in store.duties() if d.category in names]
    units = [Unit(u.unit_id, u.name, u.level.value, u.area_code, u.function) for u in scenario.units]
    categories = ([CategoryIn(name=c.name, group=c.group) for c in scenario.categories] if scenario.office
                  else scenario.categories)
    facts = LedgerFacts(cells, exposure, hints, units, duties, categories, village_counts=counts_for(counts))
    earlier = None
    if terms > 1:
        before = [i for i in scenario.issues if i["term"] == f"第{terms - 1}届"]
        e_cells, e_exposure, e_hints, e_counts = ledger_facts_from_findings((finding(i) for i in before), village_map)
        earlier = LedgerFacts(e_cells, e_exposure, e_hints, units, duties, categories, village_counts=counts_for(e_counts))
    scenario.issues = current  # the oracles see the term surfaced
    started = time.perf_counter()
    candidates = surface_root_causes(facts, min_confidence=DEFAULT_MIN_CONFIDENCE, earlier=earlier)
    seconds = time.perf_counter() - started

    planted = {(c.level, c.area_code, c.category): c for c in scenario.causes}
    surfaced = [c for c in candidates if c.surfaced]
    groups = defaultdict(list)
    for c in candidates:
        if c.tested:
            groups[(c.level, c.district_code, c.category)].append(c)
    result = {"family": family, "usage": usage, "seed": seed, "null": null, "issues": len(scenario.issues),
              "generate_seconds": round(generation_seconds, 2), "surface_seconds": round(seconds, 3),
              "false": [f"{c.level}:{c.area_code}:{c.category}" for c in surfaced
                        if (c.level, c.area_code, c.category) not in planted],
              "min_surfaced_confidence": min((c.confidence for c in surfaced), default=None),
              "causes": [], "district_tests": sum(c.tested for c in candidates if c.level == "district"),
              "township_tests": sum(c.tested for c in candidates if c.level == "township"),
              "notes": sorted({c.reason for c in candidates if c.reason})}
    by_key = {(c.level, c.area_code, c.category): c for c in candidates}
    # Oracle over every tested township pair.
    township_pairs = [(c.area_code, c.category) for c in candidates if c.level == "township" and c.tested]
    oracle: set = set()
    targets = [c for c in scenario.causes if c.kind == "township_supervision"]
    shares = {}
    for kind, attribute in (("village", "rate_village"), ("community", "rate_community"),
                            ("other", "rate_community")):
        total = sum(getattr(c, attribute) for c in scenario.categories)
        for c in scenario.categories:
            shares[(kind, c.name)] = getattr(c, attribute) / total
    ORACLE_P.clear()

    def cause_row(cause) -> dict:
        c = by_key.get((cause.level, cause.area_code, cause.category))
        ranking = groups[(cause.level, cause.area_code[:6], cause.category)]
        return {"kind": cause.kind, "level": cause.level, "area": cause.area_code, "category": cause.category,
                "multiplier": round(cause.multiplier, 2), "villages_affected": len(cause.affected),
                "tested": bool(c and c.tested), "surfaced": bool(c and c.surfaced and c.unit_id == cause.unit_id),
                "rank": next((i for i, r in enumerate(ranking, 1) if r.area_code == cause.area_code), None),
                "p": c.p_value if c else None}

    rows = [cause_row(cause) for cause in scenario.causes]

    def township_spread_oracle() -> None:
        # Districts that differ for local reasons (the local family): beside the township oracle that
        # knows each district's local share, the best township test that reads it as a test must.
        if not (scenario.local and township_pairs and targets and earlier is None):
            return
        if reused is not None and "township_spread_oracle_false" in reused:  # recorded: it reads no method
            result["township_spread_oracle_false"] = reused["township_spread_oracle_false"]
            return
        if not SPREAD_ORACLE:
            return
        started = time.perf_counter()
        found = oracle_spread_township_discoveries(scenario, township_pairs, shares, kind_of, options.get("kappa"),
                                                   1 - DEFAULT_MIN_CONFIDENCE)
        result["township_spread_oracle_seconds"] = round(time.perf_counter() - started, 2)
        result["township_spread_oracle_false"] = len([p for p in found if ("township",) + p not in planted])
        for cause, row in zip(scenario.causes, result["causes"]):
            if cause.level == "township":
                row["spread_oracle"] = (cause.area_code, cause.category) in found
                row["spread_oracle_p"] = ORACLE_P.get(("township_spread", cause.area_code, cause.category))
    reused = earlier_oracle(result, rows)
    if reused is not None:
        result.update({k: reused[k] for k in ORACLE_FIELDS if k in reused}, oracle_from=reused["oracle_source"])
        result["causes"] = [dict(row, **{k: recorded[k] for k in CAUSE_ORACLE_FIELDS if k in recorded})
                            for row, recorded in zip(rows, reused["causes"])]
        township_spread_oracle()
        if null:
            result["null_p"] = randomised_null_p(facts, seed, earlier)
        return result
    if township_pairs and (targets or null):
        started = time.perf_counter()
        oracle = oracle_discoveries(scenario, township_pairs, shares, kind_of, options.get("kappa"),
                                    1 - DEFAULT_MIN_CONFIDENCE)
        result["oracle_seconds"] = round(time.perf_counter() - started, 2)
        result["oracle_false"] = len([p for p in oracle if ("township",) + p not in planted])
    district_pairs = [(c.area_code, c.category) for c in candidates if c.level == "district" and c.tested]
    district_oracle: set = set()
    if district_pairs and any(c.level == "district" for c in scenario.causes):
        started = time.perf_counter()
        district_oracle = oracle_discoveries(scenario, district_pairs, shares, kind_of, options.get("kappa"),
                                             1 - DEFAULT_MIN_CONFIDENCE, level="district")
        result["district_oracle_seconds"] = round(time.perf_counter() - started, 2)
        result["district_oracle_false"] = len([p for p in district_oracle if ("district",) + p not in planted])
    term_oracle: set | None = None
    if earlier is not None and district_pairs and any(c.level == "district" for c in scenario.causes):
        started = time.perf_counter()
        term_oracle = oracle_term_discoveries(scenario, before, district_pairs, shares, kind_of, options.get("kappa"),
                                              1 - DEFAULT_MIN_CONFIDENCE)
        result["term_oracle_seconds"] = round(time.perf_counter() - started, 2)
        result["term_oracle_false"] = len([p for p in term_oracle if ("district",) + p not in planted])
    spread_oracle: set | None = None
    if earlier is None and scenario.local and district_pairs and any(c.level == "district" for c in scenario.causes):
        started = time.perf_counter()
        spread_oracle = oracle_spread_discoveries(scenario, district_pairs, shares, kind_of, options.get("kappa"),
                                                  1 - DEFAULT_MIN_CONFIDENCE)
        result["spread_oracle_seconds"] = round(time.perf_counter() - started, 2)
        result["term_oracle_false"] = len([p for p in spread_oracle if ("district",) + p not in planted])
    for cause, row in zip(scenario.causes, rows):
        result["causes"].append(dict(
            row, oracle=((cause.area_code, cause.category) in oracle if cause.level == "township"
                         else (cause.area_code, cause.category) in district_oracle),
            oracle_p=ORACLE_P.get((cause.level, cause.area_code, cause.category))))
        if term_oracle is not None and cause.level == "district":
            result["causes"][-1]["term_oracle"] = (cause.area_code, cause.category) in term_oracle
            result["causes"][-1]["term_oracle_p"] = ORACLE_P.get(("district_term", cause.area_code, cause.category))
        if spread_oracle is not None and cause.level == "district":
            result["causes"][-1]["term_oracle"] = (cause.area_code, cause.category) in spread_oracle
            result["causes"][-1]["term_oracle_p"] = ORACLE_P.get(("district_spread", cause.area_code, cause.category))
    township_spread_oracle()
    if null:
        result["null_p"] = randomised_null_p(facts, seed, earlier)
    return result


def counts_for(counts):
    """``LedgerFacts.village_counts`` over the reference's full list, as a store answers it."""
    by_township = defaultdict(list)
    for c in counts:
        by_township[c.village_code[:9]].append(c)
    return lambda townships: [c for t in sorted(set(townships)) for c in by_township.get(t, [])]


def randomised_null_p(facts: LedgerFacts, seed: int, earlier: LedgerFacts | None = None) -> dict[str, list[float]]:
    """Randomised excess p-values of every testable pair, ``P(X > x) + U · P(X = x)``: exactly
    uniform under a calibrated null whatever the discreteness of the counts, so their distance from
    uniform (KS) measures calibration, not the conservatism of small counts."""
    tally = rc.tally_ledger(facts)
    if not tally.townships:
        return {"township": [], "district": []}
    rho, rho_t = rc.dispersions(tally)
    spread = rc.between_district_spread(tally, rho)
    reference, why = rc.reference_shares(facts, tally.categories)
    rng = np.random.default_rng(seed)
    out = {}
    own_history = None
    if earlier is not None:  # districts against their own last term, townships' prior from it, as surfacing
        own_history = rc.term_test(tally, rc.tally_ledger(earlier), rho, "district").baseline
    bases = {"township": rc.township_baselines(tally, rho, spread, reference, own_history)}
    for level in ("township", "district"):
        if level == "district":
            # as surfacing: the spread read without the excess of the townships their own test finds
            local_causes = rc.local_causes_found(township_p, 1 - DEFAULT_MIN_CONFIDENCE)
            if local_causes.any():
                spread = rc.between_district_spread(tally, rho, local_causes)
            bases[level] = (own_history if own_history is not None
                            else rc.district_baselines(tally, rho, spread, reference, why))
        base = bases[level]
        arrays = ((tally.x, tally.n, tally.nn) if level == "township"
                  else (tally.district_x, tally.district_n, tally.district_nn))
        level_rho = rho_t if level == "township" else rho
        # as surfacing: a district's p-value weights its kinds of village (kind_weighted_moments)
        moments = rc.excess_moments if level == "township" else rc.kind_weighted_moments
        observed, trials, mean, variance = moments(*arrays, base, level_rho)
        tested = np.array([r is None for r in base.reason])[:, None] & (trials > 0) & (mean > 0)
        if level == "township":
            at = excess_sf_array(observed, trials, mean, variance)
            above = excess_sf_array(observed + 1, trials, mean, variance)
        else:  # as surfacing: against the rates, averaged over the district's own spread
            at = rc.excess_p_values(*arrays, base, level_rho)[2]
            above = rc.excess_p_values(*arrays, base, level_rho, beyond=1)[2]
        if level == "township":  # the screened pairs' per-village test, randomised the same way
            village_at, village_above = rc.village_p_values(tally, base, level_rho, at, facts.village_counts)
            screened = ~np.isnan(village_above)
            at, above = np.where(screened, village_at, at), np.where(screened, village_above, above)
            township_p = np.where(tested, at, np.nan)
        p = above + rng.uniform(size=at.shape) * (at - above)
        out[level] = p[tested].round(6).tolist()
    return out


# -- the matrix --------------------------------------------------------------------------------------
def summarise(runs: list[dict]) -> list[dict]:
    rows = []
    for family in FAMILIES:
        for usage in USAGES:
            group = [r for r in runs if r["family"] == family and r["usage"] == usage]
            if not group:
                continue
            planted_runs = [r for r in group if not r["null"]]
            null_runs = [r for r in group if r["null"]]
            causes = [c for r in planted_runs for c in r["causes"]]
            district = [c for c in causes if c["level"] == "district" and c["tested"]]
            township = [c for c in causes if c["kind"] == "township_supervision"]
            recurrence = [c for c in causes if c["kind"] == "recurrence"]
            ranked = [c for c in causes if c["rank"] is not None]
            ours, oracle = sum(c["surfaced"] for c in township), sum(bool(c["oracle"]) for c in township)
            spread_seen = sum(bool(c.get("spread_oracle")) for c in township)
            null_p = [p for r in null_runs for p in r.get("null_p", {}).get("township", [])]
            null_pd = [p for r in null_runs for p in r.get("null_p", {}).get("district", [])]
            rows.append({
                "family": family, "usage": usage, "planted_scenarios": len(planted_runs),
                "null_scenarios": len(null_runs),
                "district_causes": len([c for c in causes if c["level"] == "district"]),
                "district_tested": len(district),
                "district_recall": _ratio(sum(c["surfaced"] for c in district), len(district)),
                "district_oracle_recall": _ratio(sum(bool(c["oracle"]) for c in district), len(district)),
                "district_ratio_to_oracle": _ratio(sum(c["surfaced"] for c in district),
                                                   sum(bool(c["oracle"]) for c in district)),
                # Against the district's own last term (the terms family): the best test those
                # two counts allow, which cannot know a district's local share either. In one term
                # (the local family): the best test of its count knowing how far districts differ.
                "district_term_oracle_recall": _ratio(sum(bool(c.get("term_oracle")) for c in district),
                                                      len(district) if any("term_oracle" in c for c in district) else 0),
                "district_ratio_to_term_oracle": _ratio(sum(c["surfaced"] for c in district),
                                                        sum(bool(c.get("term_oracle")) for c in district)),
                "term_oracle_false_per_planted": (_ratio(sum(r.get("term_oracle_false", 0) for r in planted_runs),
                                                         len(planted_runs))
                                                  if any("term_oracle_false" in r for r in planted_runs) else None),
                # The district oracle's own false discoveries (it should have as few as we do).
                "district_oracle_false_per_planted": _ratio(sum(r.get("district_oracle_false", 0)
                                                                for r in planted_runs), len(planted_runs)),
                "township_causes": len(township),
                "township_recall": _ratio(ours, len(township)),
                "oracle_recall": _ratio(oracle, len(township)),
                # The township oracle's own false discoveries where causes were planted: a ledger
                # can show a township far above its share by chance, to the best test too.
                "oracle_false_per_planted": _ratio(sum(r.get("oracle_false", 0) for r in planted_runs),
                                                   len(planted_runs)),
                "ratio_to_oracle": _ratio(ours, oracle),
                # Districts that differ for local reasons: the township test that reads the
                # district's share from its other villages, as any test must (where measured).
                **({"township_spread_oracle_recall": _ratio(spread_seen, len(township)),
                    "township_ratio_to_spread_oracle": _ratio(ours, spread_seen),
                    "township_spread_oracle_false_per_planted": _ratio(
                        sum(r.get("township_spread_oracle_false", 0) for r in planted_runs), len(planted_runs))}
                   if any("spread_oracle" in c for c in township) else {}),
                "recurrence_causes": len(recurrence),
                "recurrence_recall": _ratio(sum(c["surfaced"] for c in recurrence), len(recurrence)),
                "ranked_first": _ratio(sum(c["rank"] == 1 for c in ranked), len(ranked)),
                # A cause the oracle cannot see either is one the ledger does not show: its rank is chance.
                "ranked_first_seen": _ratio(sum(c["rank"] == 1 for c in ranked if c["oracle"]),
                                            sum(bool(c["oracle"]) for c in ranked)),
                "false_per_planted": _ratio(sum(len(r["false"]) for r in planted_runs), len(planted_runs)),
                "false_per_null": _ratio(sum(len(r["false"]) for r in null_runs), len(null_runs)),
                "oracle_false_per_null": _ratio(sum(r.get("oracle_false", 0) for r in null_runs), len(null_runs)),
                "min_confidence": min((r["min_surfaced_confidence"] for r in group
                                       if r["min_surfaced_confidence"] is not None), default=None),
                "null_township_tests": len(null_p),
                "ks_township": _ks(null_p), "p_le_0.01": _tail(null_p, 0.01), "p_le_0.05": _tail(null_p, 0.05),
                "ks_district": _ks(null_pd), "null_district_tests": len(null_pd),
                "district_p_le_0.01": _tail(null_pd, 0.01),
                "surface_seconds_max": max(r["surface_seconds"] for r in group),
                "notes": sorted({n for r in group for n in r["notes"]}),
            })
    return rows


QQ_LEVELS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75)


def qq_by_family(runs: list[dict]) -> list[dict]:
    """Per family and level, quantiles of the pooled randomised null p-values at ``QQ_LEVELS``:
    a QQ plot against the uniform as a table (a calibrated test gives quantile ≈ level)."""
    rows = []
    for family in FAMILIES:
        for level in ("township", "district"):
            p = [x for r in runs if r["family"] == family and r["null"] for x in r.get("null_p", {}).get(level, [])]
            if len(p) >= 100:
                rows.append({"family": family, "level": level, "n": len(p), "ks": _ks(p),
                             "quantiles": [round(float(q), 4) for q in np.quantile(p, QQ_LEVELS)]})
    return rows


def _ratio(a, b):
    return None if not b else round(a / b, 3)


def _ks(p):
    """KS distance of the null p-values from uniform, and its p-value: 'D (p)'."""
    if len(p) < 20:
        return None
    test = stats.kstest(p, "uniform")
    return f"{test.statistic:.4f} ({test.pvalue:.2g})"


def _tail(p, alpha):
    """Share of null p-values at or below alpha, over alpha (1 for a calibrated test)."""
    return None if len(p) < 100 else round(sum(x <= alpha for x in p) / len(p) / alpha, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=1,
                        help="seeds FIRST … FIRST+SEEDS−1 (more scenarios for a cell, beside the committed ones)")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--usages", default=",".join(USAGES))
    parser.add_argument("--json", help="write every run and the summary to this file")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="summarise the runs of earlier --json files (runs made in parallel) instead of running")
    parser.add_argument("--spread-scale", type=float, metavar="F",
                        help="scale the spread between districts each district's test allows by F (0: told that "
                             "districts do not differ, as the oracle knows): what estimating it costs")
    parser.add_argument("--oracle-from", metavar="JSON",
                        help="take the oracles' verdicts from the runs of the same scenarios in this file (the "
                             "committed results): they read only the scenario and which pairs are tested")
    parser.add_argument("--cache", metavar="DIR",
                        help="keep each generated scenario in DIR and read it back on later runs (the "
                             "generator's sources, the catalog, the division files and the settings in its key)")
    parser.add_argument("--brief", action="store_true",
                        help="leave the null p-values out of --json (the committed results; they cannot be merged)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in the --json file (written after every cell) and run only "
                             "the others: a matrix that takes hours goes on where it stopped")
    parser.add_argument("--null-only", action="store_true",
                        help="only the null scenarios of each seed: more null ledgers for a cell's calibration "
                             "(P(p ≤ 0.01) over a thousand tests is ±30 %% of 0.01 by chance alone)")
    parser.add_argument("--no-spread-oracle", action="store_true",
                        help="the local family's township spread oracle only where --oracle-from recorded it "
                             "(it takes most of such a run)")
    args = parser.parse_args()
    global BRIEF, SCENARIO_CACHE, SPREAD_ORACLE
    BRIEF = args.brief
    SPREAD_ORACLE = not args.no_spread_oracle
    if args.cache:
        SCENARIO_CACHE = Path(args.cache)
        SCENARIO_CACHE.mkdir(parents=True, exist_ok=True)
    if args.spread_scale is not None:
        scale_spread(args.spread_scale)
    if args.oracle_from:
        recorded = json.loads(Path(args.oracle_from).read_text(encoding="utf-8"))
        ORACLE_RUNS.update({(r["family"], r["usage"], r["seed"], r["null"]): dict(r, oracle_source=Path(args.oracle_from).name)
                            for r in recorded["runs"]})
    runs = []
    if args.resume:
        if not args.json:
            parser.error("--resume needs --json")
        if Path(args.json).exists():
            runs = json.loads(Path(args.json).read_text(encoding="utf-8"))["runs"]
            print(f"resuming: {len(runs)} runs already in {args.json}", file=sys.stderr)
    done = {(r["family"], r["usage"], r["seed"], r["null"]) for r in runs}
    if args.merge:
        for path in args.merge:
            runs += json.loads(Path(path).read_text(encoding="utf-8"))["runs"]
        print_summary(summarise(runs), args.json, runs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        for family in args.families.split(","):
            province = PROVINCE.get(family, "50")
            if province not in stores:
                store = SQLiteStore(Path(tmp) / f"{province}.db")
                source = DEFAULT_DIVISIONS if province == "50" else NATIONAL
                load_divisions(store, source, province=province, show_progress=False)
                load_default_catalog(store)
                stores[province] = store
            for usage in args.usages.split(","):
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    for null in ((True,) if args.null_only else (False, True)):
                        if (family, usage, seed, null) in done:
                            continue
                        run = run_one(stores[province], province, family, usage, seed, null)
                        runs.append(run)
                        brief = {k: v for k, v in run.items() if k != "null_p"}
                        print(json.dumps(brief, ensure_ascii=False), file=sys.stderr, flush=True)
                if args.json:  # every cell kept as it ends: --resume goes on from here
                    partial = Path(args.json).with_suffix(".partial")
                    partial.write_text(json.dumps({"runs": runs}, ensure_ascii=False), encoding="utf-8")
                    partial.replace(args.json)
    print_summary(summarise(runs), args.json, runs)


def scale_spread(factor: float) -> None:
    """Surface with the spread a district's own test allows (``tau2_apart``) scaled by ``factor``:
    0 tells the test what the oracle knows, that districts do not differ. A diagnosis of the method,
    not a usage: an office cannot know it."""
    estimate = rc.between_district_spread

    def scaled(tally, rho, local_causes=None):
        spread = estimate(tally, rho, local_causes)
        return spread._replace(tau2_apart=spread.tau2_apart * factor)
    rc.between_district_spread = scaled


def print_summary(summary: list[dict], json_path: str | None, runs: list[dict]) -> None:
    if json_path:
        # The null p-values are kept for --merge; --brief leaves them out (the QQ table stays).
        kept = [{k: v for k, v in r.items() if k != "null_p"} for r in runs] if BRIEF else runs
        Path(json_path).write_text(json.dumps({"summary": summary, "qq": qq_by_family(runs), "runs": kept},
                                              ensure_ascii=False, indent=1), encoding="utf-8")
    print("| family | usage | district recall | oracle (its false/planted) | ratio | township recall | oracle (its false/planted) | ratio | recurrence recall | "
          "ranked first (oracle sees it) | false/planted | false/null | KS township (n) | P(p≤.01)/.01 | KS district | "
          "district P(p≤.01)/.01 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in summary:
        print(f"| {r['family']} | {r['usage']} | {r['district_recall']} ({r['district_tested']}/{r['district_causes']}) "
              f"| {r.get('district_oracle_recall')} ({r.get('district_oracle_false_per_planted')}) "
              f"| {r.get('district_ratio_to_oracle')} "
              f"| {r['township_recall']} ({r['township_causes']}) | {r['oracle_recall']} ({r.get('oracle_false_per_planted')}) "
              f"| {r['ratio_to_oracle']} "
              f"| {r['recurrence_recall']} ({r['recurrence_causes']}) | {r['ranked_first']} ({r.get('ranked_first_seen')}) | {r['false_per_planted']} "
              f"| {r['false_per_null']} | {r['ks_township']} ({r['null_township_tests']}) | {r['p_le_0.01']} "
              f"| {r['ks_district']} | {r.get('district_p_le_0.01')} |")
    terms = [r for r in summary if r.get("district_term_oracle_recall") is not None]
    if terms:
        print()
        print("Districts that differ for local reasons: the oracle that knows each district's local share, and the "
              "best test that cannot know it (terms: of the two terms' counts; local: of the one term's count, "
              "knowing how far districts differ)")
        print("| family | usage | district recall | oracle knowing local shares | ratio | best test without them "
              "(its false/planted) | ratio |")
        print("|---|---|---|---|---|---|---|")
        for r in terms:
            print(f"| {r['family']} | {r['usage']} | {r['district_recall']} | {r['district_oracle_recall']} "
                  f"| {r['district_ratio_to_oracle']} | {r['district_term_oracle_recall']} "
                  f"({r['term_oracle_false_per_planted']}) | {r['district_ratio_to_term_oracle']} |")
    local = [r for r in summary if r.get("township_spread_oracle_recall") is not None]
    if local:
        print()
        print("Townships where districts differ for local reasons: the oracle that knows each district's local "
              "share, and the best test that reads it from the district's other villages, knowing how far districts differ")
        print("| family | usage | township recall | oracle knowing local shares | ratio | best test without them "
              "(its false/planted) | ratio |")
        print("|---|---|---|---|---|---|---|")
        for r in local:
            print(f"| {r['family']} | {r['usage']} | {r['township_recall']} | {r['oracle_recall']} "
                  f"| {r['ratio_to_oracle']} | {r['township_spread_oracle_recall']} "
                  f"({r['township_spread_oracle_false_per_planted']}) | {r['township_ratio_to_spread_oracle']} |")
    print()
    print("QQ of randomised null p-values (pooled over usages): quantile at each level; calibrated ≈ level")
    print("| family | level | null p-values | KS D (p) | " + " | ".join(f"q{x}" for x in QQ_LEVELS) + " |")
    print("|---|---|---|---|" + "---|" * len(QQ_LEVELS))
    for q in qq_by_family(runs):
        print(f"| {q['family']} | {q['level']} | {q['n']} | {q['ks']} | " + " | ".join(map(str, q["quantiles"])) + " |")

if __name__ == "__main__":
    main()
