"""How far districts' shares differ beyond their villages' variation (τ²): by moments (how far a
district may differ, for its townships' baselines) and robustly (how far an ordinary district
differs, for a district's own null)."""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from scipy import optimize, special, stats

from ..stats import benjamini_hochberg
from .dispersion import _design_effect, estimate_dispersion  # noqa: F401  (estimate_dispersion: the doctests)
from .skew import MEDIAN_RATIO, skew_factor
from .tally import Tally, tally_ledger  # noqa: F401


# How far (in standard errors of an ordinary district) a district's share may be from the ordinary
# districts' and still be taken for an ordinary district.
ORDINARY_Z = 3.0


# Fewer (district, category) cells than this with 5 expected problems: the spread between districts
# is estimated per category (between_district_spread).
MIN_SPREAD_CELLS = 20


# Cells with fewer expected problems than this do not enter the spread's estimate: the z² of a
# count of a few is far from χ²(1).
SPREAD_MIN_EXPECTED = 5


# Fewer districts than this: a district's own test allows the spread estimated without it, shrunk
# by its noise (spread_without). With more, one district barely moves the median over all of them,
# and leaving out the most extreme ones only ever lowers the spread they are judged with: under a
# heavy-tailed spread between thirty districts, a 2.8-sd local difference surfaced. The estimate
# over all of them is shrunk by the noise it would have without a spread (shrunk_by_noise).
FEW_DISTRICTS = 10


# A district's category this far above the other districts (z², the χ²(1) 99.9 % point, times the
# spread's inflation) is a likely cause: for the spread's estimate, the district's other shares are
# taken as shares of what remains without it (composition_free).
FLAG_Z2 = float(stats.chi2.ppf(0.999, 1))


# The median of a χ²(1) variable: med(z²) of standardised deviations when districts do not differ.
CHI2_1_MEDIAN = float(stats.chi2.median(1))


# The relative standard error of a median of M χ²(1) values is this over √M: the median's
# asymptotic variance is 1 / (4 M f(med)²), and 1 / (2 f(med) med) = 2.333 for χ²(1).
MEDIAN_RELATIVE_SE = 2.33


@functools.lru_cache(maxsize=None)
def median_moments(m: int) -> tuple[float, float]:
    """The mean of the median of ``m`` χ²(1) values over χ²(1)'s median, and its standard deviation
    over that mean: exact, from the order statistics' distribution (numpy's median: the middle
    one, or the average of the middle two), where ``MEDIAN_RELATIVE_SE`` is the asymptotic figure.
    A median of some twenty values is skewed to the right: its mean stands 9 % above χ²(1)'s
    median, and its spread about that mean is a little less than 2.33 / √M.

    >>> [tuple(round(v, 4) for v in median_moments(m)) for m in (5, 20, 21)]
    [(1.3539, 0.9105), (1.1011, 0.4899), (1.0917, 0.4917)]
    >>> round(2.33 / 21 ** 0.5, 4)
    0.5084
    """
    s = np.linspace(0.0, 9.0, 4001)          # |Z|, whose square is χ²(1): a smooth density
    g = 2 * stats.norm.pdf(s) * (s[1] - s[0])
    below = np.clip(special.erf(s / math.sqrt(2)), 1e-300, 1 - 1e-16)
    x = s ** 2
    k = (m + 1) // 2
    if m % 2:  # the k-th of m: its rank's beta
        w = g * np.exp(stats.beta.logpdf(below, k, m - k + 1))
        w /= w.sum()
        mean = float(w @ x)
        var = float(w @ x ** 2) - mean ** 2
    else:      # the average of the k-th and the next: their joint density, summed over j ≥ i
        a = g * np.exp((k - 1) * np.log(below))
        b = g * np.exp((m - k - 1) * np.log1p(-below))

        def from_here(v):  # Σ over j ≥ i, the two in one cell at half weight
            return np.cumsum(v[::-1])[::-1] - v / 2

        b0, b1, b2 = from_here(b), from_here(b * x), from_here(b * x ** 2)
        total = float(a @ b0)
        mean = float(a @ (x * b0 + b1)) / (2 * total)
        var = float(a @ (x ** 2 * b0 + 2 * x * b1 + b2)) / (4 * total) - mean ** 2
    return mean / CHI2_1_MEDIAN, math.sqrt(max(var, 0.0)) / mean


def median_noise(phi, typical, cells):
    """The variance of a relative spread φ estimated from the median of ``cells`` cells of size
    ``typical`` (their inflation ``1 + φ · typical`` known to ``MEDIAN_RELATIVE_SE`` / √M).

    >>> round(MEDIAN_RELATIVE_SE, 2), round(float(median_noise(0.0, 40.0, 84)) ** 0.5 * 40, 2)
    (2.33, 0.25)
    """
    return ((1 + phi * typical) * MEDIAN_RELATIVE_SE / (typical * np.sqrt(np.maximum(cells, 1)))) ** 2


class Spread(NamedTuple):
    """How far districts differ (:func:`between_district_spread`), per kind and category (k × c),
    and per district for a district's own test (d × k × c)."""

    share: np.ndarray        # the share over every inspected area
    tau2_all: np.ndarray     # by moments, every district counted
    tau2_usual: np.ndarray   # robustly, how far an ordinary district differs
    centre: np.ndarray       # the ordinary districts' share
    tau2_apart: np.ndarray   # d × k × c: tau2_usual estimated without the district, shrunk by its noise
    weights: np.ndarray      # d × k × c: each district's problems in the others' baselines (baseline_weights)


def between_district_spread(tally: Tally, rho: np.ndarray, local_causes: np.ndarray | None = None) -> Spread:
    """Per kind and category, the share over every inspected area, two estimates of τ², the
    variance of the districts' true shares beyond their sampling variance (0 with fewer than three
    districts), and the share of the ordinary districts (those near the median district; the share
    over every area where fewer than three):

    * ``tau2_all``, by moments (DerSimonian–Laird): every district counts, those with a root cause
      in the category too. How far a district may differ from the rest: the weight of the share
      over every area in a township's baseline, which must keep a district's own level.
    * ``tau2_usual``, robustly: around the median district share, from the median of the squared
      standardised deviations (``med(z²) / 0.455 = 1 + τ² / sampling``). How far an ordinary
      district differs: the spread a district's own test allows. Districts with a root cause are
      outliers that the moments would turn into spread, hiding themselves and each other (a ×2.4
      cause on 420 villages came out at p = 0.02); the median ignores them while they are fewer
      than half. A relative spread, ``τ² = φ · π(1 − π)`` (districts' shares beta-distributed
      around the ordinary share), from the median over every category's
      districts (:func:`relative_spread`), and per category as far as the categories differ
      beyond their noise (:func:`category_spreads`): the median of some twenty districts' z²
      alone is too noisy (±50 %), and clipped at zero its noise only ever widened a district's
      null (a ×2.3 cause at p = 0.047 where the oracle gives 1e-5). Per category alone where a
      kind has too few districts with enough problems for the pooled median.
    * ``tau2_apart``, per district, with fewer than ``FEW_DISTRICTS`` districts, the same robust
      estimate made *without* that district, from the others alone, the district in none of their
      medians (:func:`spread_without`); with more, the estimate over
      all, each township whose own test finds a cause (``local_causes``) counted without its
      excess (:func:`without_local_causes`), the likely causes' share of their districts' composition
      taken out (:func:`composition_free`) and shrunk by the noise it would have without a spread
      (:func:`shrunk_by_noise`): the spread a district's own test allows. With four to eight districts a cause inside the estimate widens its own null (a ×2.6 cause on a third of the
      ledger at p = 0.012), and the estimate's noise, never below zero, made the district test
      four times too cautious under the null (P(p ≤ 0.01) = 0.0026).

    >>> from graph.store import LedgerCell, Exposure, LedgerFacts
    >>> cells, exposure = [], []
    >>> for d in range(1, 9):  # eight districts with the same share, one with three times as much
    ...     t = f"50010{d}001"
    ...     low = 60 if d == 1 else 20
    ...     cells += [LedgerCell(t, t[:6], "village", "低保", 10, low, low, low, low, 0, 0, 0),
    ...               LedgerCell(t, t[:6], "village", "作风", 10, 180, 180, 180, 180, 0, 0, 0)]
    ...     exposure.append(Exposure(t, t[:6], "village", 200, 200, 180 + low, 180 + low))
    >>> tally = tally_ledger(LedgerFacts(cells, exposure, [], [], [], []))
    >>> share, tau2_all, tau2_usual, centre, _, _ = between_district_spread(tally, estimate_dispersion(tally))
    >>> bool(tau2_all[0].max() > 0), float(tau2_usual[0].max())
    (True, 0.0)
    """
    xd, nd, nnd = tally.district_x, tally.district_n, tally.district_nn
    share = (xd.sum(axis=0) + 0.5) / (nd.sum(axis=0)[:, None] + 1.0)          # k × c
    # A district's own test reads each township found with a cause of its own (``local_causes``,
    # t × c, the township test's) without its excess: a township's cause is no difference
    # between districts.
    xs, ns, nns = without_local_causes(tally, local_causes)
    tau2_all, tau2_usual, centres = np.zeros_like(share), np.zeros_like(share), share.copy()
    tau2_apart = np.zeros((len(tally.districts),) + share.shape)
    present = nd > 0                                                            # d × k
    weights = np.ones(tau2_apart.shape)
    if len(tally.districts) < 3:
        return Spread(share, tau2_all, tau2_usual, centres, tau2_apart, weights)
    design = _design_effect(nd, nnd, rho)
    design_free = design if xs is xd else _design_effect(ns, nns, rho)
    # The kind with the most problems first: a kind too thin for an estimate of its own borrows
    # its relative spread (sparse_kind).
    kinds = sorted(range(share.shape[0]), key=lambda k: -nd[:, k].sum())
    main_phi, main_apart, main_pooled = None, None, (None, math.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(present[:, :, None], xd / nd[:, :, None], np.nan)
        own_free = own if xs is xd else np.where(present[:, :, None], xs / ns[:, :, None], np.nan)
        for k in kinds:
            rows = present[:, k]
            m = int(rows.sum())
            if m < 3:
                continue
            o, n, de = own[rows, k, :], nd[rows, k][:, None], design[rows, k, :]
            # by moments, around the share over every area
            w = n / (share[k] * (1 - share[k]) * de)
            q = (w * (o - share[k]) ** 2).sum(axis=0)
            c = w.sum(axis=0) - (w ** 2).sum(axis=0) / w.sum(axis=0)
            tau2_all[k] = np.maximum(0.0, (q - (m - 1)) / c)
            # robustly, around the median district
            centre = np.median(o, axis=0)
            sampling = centre * (1 - centre) * de / n
            # Each district against the median of the others: around a median it helped make, a
            # district's deviation runs small (with four districts, two of them nearly vanish).
            others = np.array([np.median(np.delete(o, d, axis=0), axis=0) for d in range(m)])
            centre_var = math.pi / (2 * (m - 1)) * np.median(sampling, axis=0)  # a median's variance
            z2 = (o - others) ** 2 / (sampling + centre_var)
            # z² ≈ χ²(1) · (1 + φ · size): τ² enters the district and, as much, the median's variance
            size = (1 + math.pi / (2 * (m - 1))) * centre * (1 - centre) / (sampling + centre_var)
            phi = category_spreads(z2, size, n * centre, share=centre)
            tau2_usual[k] = (phi * centre * (1 - centre) if phi is not None
                             else np.maximum(0.0, np.median(z2, axis=0) / CHI2_1_MEDIAN - 1) * np.median(sampling, axis=0))
            # A district's own test: how far districts differ, the causes' share of their
            # districts' composition taken out (the townships' baselines keep the shares as they are)
            with np.errstate(invalid="ignore", divide="ignore"):
                phi_all = np.nan_to_num(tau2_usual[k] / (centre * (1 - centre)))
            likely = likely_causes(o, others, sampling + centre_var, 1 + phi_all * size)
            weights[np.flatnonzero(rows), k] = baseline_weights(o, others, likely)
            # ... with the townships found with a cause of their own counted without its excess:
            # a township's cause is no difference between districts (without_local_causes)
            if xs is xd:  # none found: the districts as they stand
                of, nf, others_free, variance_free, flagged = o, n, others, sampling + centre_var, likely
            else:
                of, nf = own_free[rows, k, :], ns[rows, k][:, None]
                sampling_free = centre * (1 - centre) * design_free[rows, k, :] / nf
                others_free = np.array([np.median(np.delete(of, d, axis=0), axis=0) for d in range(m)])
                variance_free = sampling_free + math.pi / (2 * (m - 1)) * np.median(sampling_free, axis=0)
                flagged = likely_causes(of, others_free, variance_free, 1 + phi_all * size)
            free = composition_free(of, others_free, variance_free, flagged=flagged, leave_out=True)
            size_free = (1 + math.pi / (2 * (m - 1))) * centre * (1 - centre) / variance_free
            phi_free = category_spreads(free, size_free, nf * centre, share=centre)
            pooled, noise, null_noise = pooled_spread(free, size_free, nf * centre, share=centre)
            # the districts that can show a spread in this kind: a cell with enough expected problems
            counted = int(((nf * centre >= SPREAD_MIN_EXPECTED) & np.isfinite(free)).any(axis=1).sum())
            if main_phi is not None and (phi_free is None or counted < FEW_DISTRICTS):
                # too few of them to tell spread from noise: a district's own test allows the
                # main kind's relative spread (the townships' baselines keep this kind's own)
                apart = sparse_kind(main_phi, main_apart, rows)
            elif m < FEW_DISTRICTS:
                # Estimated from the other districts, the district tested in none of their
                # medians either: with four districts each other one was compared with a median
                # of three that held it, and its cause widened its own null (宁夏, a ×2.8 cause:
                # 180 found against 81.2 expected at p 0.0013).
                apart = np.array([spread_without(of, design_free[rows, k, :], nf, d) for d in range(m)])
            else:
                if phi_free is None:
                    with np.errstate(invalid="ignore", divide="ignore"):
                        phi_free = np.nan_to_num(np.maximum(0.0, np.median(free, axis=0) / CHI2_1_MEDIAN - 1)
                                                 / np.median(size_free, axis=0))
                own_phi = shrunk_by_noise(phi_free, pooled, null_noise)
                if main_phi is not None:  # a kind whose districts do not differ beyond its noise from the main kind's
                    own_phi = toward_main_kind(own_phi, pooled, noise, main_phi, *main_pooled)
                apart = np.broadcast_to(own_phi, (m, len(centre)))
            tau2_apart[np.flatnonzero(rows), k] = apart * (centre * (1 - centre))[None, :]
            if main_phi is None and phi_free is not None:
                # a district without this kind: its estimate over all, shrunk by its noise as the others'
                main_phi = shrunk_by_noise(phi_free, pooled, null_noise)
                main_apart = np.full((len(tally.districts), len(centre)), np.nan)
                main_pooled = (pooled, noise)
                main_apart[np.flatnonzero(rows)] = apart
            # The ordinary districts' own share, pooled (the median of small shares runs low):
            # those within ORDINARY_Z of the median district, as a township's baseline judges.
            ordinary = np.abs(o - centre) <= ORDINARY_Z * np.sqrt(sampling + tau2_usual[k])
            x_ordinary = (np.where(ordinary, o * n, 0.0)).sum(axis=0)
            n_ordinary = (np.where(ordinary, n, 0.0)).sum(axis=0)
            centres[k] = (x_ordinary + 0.5) / (n_ordinary + 1.0)
    return Spread(share, np.nan_to_num(tau2_all), np.nan_to_num(tau2_usual), centres, np.nan_to_num(tau2_apart),
                  weights)


def local_causes_found(p_excess: np.ndarray, alpha: float) -> np.ndarray:
    """The township pairs (t × c) whose own excess test finds a cause: Benjamini–Hochberg over
    every tested pair (``p_excess``, NaN where untested) at the discovery level ``alpha``. Their
    excess is left out of the spread a district's own test allows (:func:`without_local_causes`).
    A fixed per-pair level (0.001) also took the chance extremes of ledgers without any cause:
    between thirty districts that differ for local reasons (φ = 0.02), two such townships trimmed
    the spread enough for a district far in its right tail to surface.

    >>> local_causes_found(np.array([[1e-9, 0.0004], [np.nan, 0.3]]), 0.01).tolist()
    [[True, True], [False, False]]
    >>> bool(local_causes_found(np.array([[0.0004, 0.2]] + [[0.5, 0.9]] * 99), 0.01).any())  # one in 200
    False
    """
    tested = np.isfinite(p_excess)
    found = np.zeros(p_excess.shape, dtype=bool)
    if tested.any():
        found[tested] = np.array(benjamini_hochberg(p_excess[tested])) <= alpha
    return found


def without_local_causes(tally: Tally, local_causes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """District sums ``x`` (d × k × c), ``n`` and ``nn`` (d × k) with each township that has a
    cause of its own (``local_causes``, t × c: :func:`local_causes_found`) counted as it would be
    without it: that category at the share of the
    rest of its district, its other categories as they are (its problems fewer by the excess). A
    township's cause raises its district's share of the category and lowers the others, as a
    district's does, but any district may hold one: taken for a difference between districts, it
    widened every district's null (twenty districts that do not differ, a third with a township
    ×4, were allowed 83 % of a district's own variance). Under a district cause the rest of the
    district is raised too, and the township stays raised with it.

    >>> from graph.store import LedgerCell, Exposure, LedgerFacts
    >>> cells, exposure = [], []
    >>> for t in range(1, 5):  # four townships of one district, the first with three times as much 低保
    ...     code = f"50010100{t}"
    ...     low = 60 if t == 1 else 20
    ...     cells += [LedgerCell(code, "500101", "village", "低保", 10, low, low, low, low, 0, 0, 0),
    ...               LedgerCell(code, "500101", "village", "作风", 10, 180, 180, 180, 180, 0, 0, 0)]
    ...     exposure.append(Exposure(code, "500101", "village", 10, 10, 180 + low, 180 + low))
    >>> tally = tally_ledger(LedgerFacts(cells, exposure, [], [], [], []))
    >>> found = np.array([[True, False], [False, False], [False, False], [False, False]])
    >>> x, n, _ = without_local_causes(tally, found)
    >>> int(tally.district_x[0, 0, 0]), int(x[0, 0, 0]), int(n[0, 0]), int(x[0, 0, 1])
    (120, 84, 804, 720)
    """
    xd, nd, nnd = tally.district_x, tally.district_n, tally.district_nn
    if local_causes is None or not len(tally.townships) or not local_causes.any():
        return xd, nd, nnd
    x, n = tally.x, tally.n
    rest_x, rest_n = xd[tally.district] - x, nd[tally.district] - n
    with np.errstate(invalid="ignore", divide="ignore"):
        at_rest = np.where(rest_n[:, :, None] > 0, n[:, :, None] * rest_x / rest_n[:, :, None], x)
    # the excess only: a township below the rest of its district keeps its count
    x_free = np.where(local_causes[:, None, :], np.minimum(x, at_rest), x)
    n_free = n - (x - x_free).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        nn_free = np.where(n > 0, tally.nn * (n_free / np.where(n > 0, n, 1.0)) ** 2, 0.0)
    return tally.by_district(x_free), tally.by_district(n_free), tally.by_district(nn_free)


def composition_free(own: np.ndarray, others: np.ndarray, variance: np.ndarray,
                     inflation: np.ndarray | float = 1.0, flagged: np.ndarray | None = None,
                     leave_out: bool = False) -> np.ndarray:
    """Each district's squared standardised deviation from the other districts (d × c), the
    district's other categories compared as shares of what remains without a category far above
    them (``z² > FLAG_Z2`` times the cell's ``inflation`` by the spread estimated with every cell,
    a likely cause). That category's own cell is kept: the medians count it above them, as
    before. Far is judged against the spread already estimated: districts that differ widely for
    local reasons are not taken for causes. Shares sum to one: a ×2.5 cause in a
    category of 15 % lowers every other share of its district by 14 %, which in a district of
    800 problems is 1.4 standard errors in each, and the spread estimated from them rose with
    the causes planted (宁夏 with no spread between districts: φ 0.004, a ×2.4 cause at p 0.0015
    where the oracle gives 2e-10).

    Between districts (``leave_out``) that cell is left out (NaN) instead: no median counts it.
    An ordinary district's cell is flagged one time in a thousand, and leaving those out moves a
    median by nothing one can see; a cause counted above the medians moved them up by half a
    cell each. With three district causes among 22 districts' eight categories, the spread of a
    term with none was estimated at one to two standard errors of its noise, and a ×2.6 cause
    stood at p 2.3e-4 where the oracle gives 8e-5, short of the discovery level of its 154 tests.
    A district against the catalog's rates (:func:`.baselines.reference_spread`) keeps it: there
    a district that differs for local reasons has a few far categories of its own, and without
    them its spread fell and they surfaced.

    >>> own = np.array([[0.27, 0.73 * 0.5, 0.73 * 0.5], [0.15, 0.425, 0.425]])
    >>> others = np.array([[0.15, 0.425, 0.425]] * 2)
    >>> composition_free(own, others, np.full((2, 3), 0.0002)).round(2).tolist()
    [[72.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    >>> composition_free(own, others, np.full((2, 3), 0.0002), leave_out=True).round(2).tolist()
    [[nan, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    if flagged is None:  # the likely causes, where the caller has not found them already
        flagged = likely_causes(own, others, variance, inflation)
    with np.errstate(invalid="ignore", divide="ignore"):
        z2 = composition_free_deviation(own, others, flagged) ** 2 / variance
    # the cause's own cell as it is (above the medians, as a cause counts in them), or left out
    return np.where(flagged, np.nan, z2) if leave_out else z2


def composition_free_deviation(own: np.ndarray, others: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Each share's deviation from ``others`` (d × c), a row's shares taken as shares of what
    remains without its ``flagged`` categories (``own · (1 − others_F) / (1 − own_F)``), the
    flagged cells' own deviation as it is: what :func:`composition_free` squares.

    >>> own = np.array([[0.27, 0.365, 0.365]])
    >>> composition_free_deviation(own, np.array([[0.15, 0.425, 0.425]]), np.array([[True, False, False]])).round(3).tolist()
    [[0.12, 0.0, 0.0]]
    """
    deviation = own - others
    if not flagged.any():
        return deviation
    with np.errstate(invalid="ignore", divide="ignore"):
        rest_own = 1 - np.where(flagged, own, 0.0).sum(axis=1, keepdims=True)
        rest_others = 1 - np.where(flagged, others, 0.0).sum(axis=1, keepdims=True)
        rows = flagged.any(axis=1, keepdims=True) & (rest_own > 0) & (rest_others > 0)
        renormalised = own * rest_others / rest_own - others
    return np.where(flagged, deviation, np.where(rows, renormalised, deviation))


def likely_causes(own: np.ndarray, others: np.ndarray, variance: np.ndarray,
                  inflation: np.ndarray | float = 1.0) -> np.ndarray:
    """The (district, category) cells far above the other districts: ``z² > FLAG_Z2`` (χ²(1)'s
    99.9 % point) times the cell's ``inflation`` by the spread between districts. Taken out of the
    shares for the spread's estimate (:func:`composition_free`) and out of the other districts'
    baseline (:func:`.baselines.district_baselines`).

    >>> likely_causes(np.array([[0.27, 0.15]]), np.array([[0.15, 0.15]]), np.full((1, 2), 0.0002)).tolist()
    [[True, False]]
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        z2 = (own - others) ** 2 / variance
        return (z2 > FLAG_Z2 * inflation) & (own > others)


def baseline_weights(own: np.ndarray, others: np.ndarray, likely: np.ndarray) -> np.ndarray:
    """How much of each district's problems (d × c) counts in the other districts' baseline of a
    category: none of a likely cause's own cell (``likely``, :func:`likely_causes`); in its other
    categories, the problems it would have had were the likely causes at the other districts'
    shares (``(1 − own_F) / (1 − others_F)`` of them), so that its lowered shares, a cause's
    doing, do not lower the baseline either; all of them elsewhere.

    >>> own = np.array([[0.27, 0.365, 0.365], [0.15, 0.425, 0.425]])
    >>> others = np.array([[0.15, 0.425, 0.425]] * 2)
    >>> baseline_weights(own, others, np.array([[True, False, False], [False] * 3])).round(3).tolist()
    [[0.0, 0.859, 0.859], [1.0, 1.0, 1.0]]
    """
    lifted = np.where(likely, own, 0.0).sum(axis=1, keepdims=True)
    usual = np.where(likely, others, 0.0).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where((usual < 1) & (lifted < 1), (1 - lifted) / (1 - usual), 0.0)
    return np.where(likely, 0.0, np.broadcast_to(scale, likely.shape))


def sparse_kind(main_phi: np.ndarray, main_apart: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The relative spread a district's own test allows in a kind of village too thin for an
    estimate of its own (fewer than ``FEW_DISTRICTS`` districts with a cell of
    ``SPREAD_MIN_EXPECTED`` problems, or too few such cells for any estimate): the main kind's
    (the most problems), per district as estimated without it (``main_apart``, a row per district
    loaded), or its estimate over all (``main_phi``) for a district without that kind. How far a
    category differs between districts is the category's: the medians of a few cells of one or
    two expected problems are no estimate of it (宁夏's "other" village-level units, in five
    districts with 30 problems or more, gave 40 %, and a ×2.3 cause of 97 found against 42
    expected stood at p 0.04).

    >>> sparse_kind(np.array([0.01, 0.02]), np.array([[0.008, 0.02], [np.nan, np.nan]]),
    ...             np.array([True, True])).tolist()
    [[0.008, 0.02], [0.01, 0.02]]
    """
    apart = main_apart[rows]
    return np.where(np.isnan(apart), main_phi[None, :], apart)


def pooled_spread(z2: np.ndarray, size: np.ndarray, expected: np.ndarray,
                  share: np.ndarray | None = None) -> tuple[float | None, float, float]:
    """The relative spread φ of one kind over every category (:func:`relative_spread`), its
    noise (the variance of a median of M χ²(1) cells, relative standard error 2.33 / √M, in φ's
    units, at the cells' typical size) and that noise where districts do not differ (φ = 0).
    (None, inf, inf) where too few cells.

    >>> rng = np.random.default_rng(2)
    >>> size = np.full((12, 7), 40.0)
    >>> phi, noise, null_noise = pooled_spread(rng.chisquare(1, (12, 7)), size, size * 0.15)
    >>> round(phi * 40, 2), round(math.sqrt(noise) * 40, 2)     # 40φ is 0, known to ±0.3
    (0.19, 0.3)
    """
    pooled = relative_spread(z2, size, expected, share)
    if pooled is None:
        return None, math.inf, math.inf
    valid = np.isfinite(z2) & (expected >= SPREAD_MIN_EXPECTED) & (size > 0)
    typical = float(np.median(size[valid]))
    return pooled, float(median_noise(pooled, typical, int(valid.sum()))), float(median_noise(0.0, typical, int(valid.sum())))


def toward_main_kind(phi: np.ndarray, pooled: float | None, noise: float, main_phi: np.ndarray,
                     main_pooled: float | None, main_noise: float) -> np.ndarray:
    """A kind's relative spread per category (``phi``) for a district's own test, shrunk toward
    the main kind's (``main_phi``, the kind with the most problems) by as much as the two kinds'
    pooled estimates do not differ beyond their noise (empirical Bayes with one comparison:
    ``B = max(0, d² − v − v_main)``, weight ``B / (B + v)``). How far a category differs between
    districts is the category's; a kind's own estimate from a dozen districts of a few dozen
    problems is ±0.3 of their sampling variance, and that noise, never below zero, weighs on the
    largest district most (τ² grows with the square of its size): 宁夏's communities, with no
    spread at all, were given φ = 0.0085, and 兴庆区's ×2.6 cause stood at p = 4e-4 where the
    oracle gives 4e-13. A kind whose districts do differ, many times the noise, keeps its own.

    >>> main = np.array([0.0003, 0.0003])
    >>> toward_main_kind(np.array([0.0085, 0.009]), 0.0085, 0.01 ** 2, main, 0.0003, 1e-8).tolist()
    [0.0003, 0.0003]
    >>> toward_main_kind(np.array([0.05, 0.06]), 0.055, 0.005 ** 2, main, 0.0003, 1e-8).round(4).tolist()
    [0.0496, 0.0595]
    """
    if pooled is None or main_pooled is None or not math.isfinite(noise):
        return phi
    between = max(0.0, (pooled - main_pooled) ** 2 - noise - main_noise)
    weight = between / (between + noise) if between + noise > 0 else 1.0
    return np.maximum(0.0, main_phi + weight * (phi - main_phi))


def spread_apart(z2: np.ndarray, size: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Per district (row) and category, the relative spread φ between ordinary districts estimated
    from the *other* districts (:func:`category_spreads`, or the median of the category's z²
    where too few cells), shrunk by the pooled estimate's noise (:func:`shrunk_by_noise`, φ̄ the
    median over categories, the noise that of a median of the M cells pooled). With few
    districts the estimate is mostly noise where districts do not differ, and its noise (never
    below zero) only widens a district's null; where they do differ it is many times its noise
    and kept.

    >>> rng = np.random.default_rng(5)
    >>> size = np.full((6, 8), 2000.0)
    >>> flat = spread_apart(rng.chisquare(1, (6, 8)), size, size * 0.1) * 2000
    >>> bool(flat.max() < 0.3)                       # districts alike: almost nothing allowed
    True
    >>> local = spread_apart(rng.chisquare(1, (6, 8)) * 6, size, size * 0.1) * 2000
    >>> bool(2 < np.median(local) < 9)               # 2000φ is 5: kept
    True
    """
    m = z2.shape[0]
    out = np.zeros(z2.shape)
    for d in range(m):
        rest = np.delete(np.arange(m), d)
        out[d] = spread_of_few(z2[rest], size[rest], expected[rest])
    return out


def spread_of_few(z: np.ndarray, s: np.ndarray, e: np.ndarray, share: np.ndarray | None = None) -> np.ndarray:
    """Per category, the relative spread φ of a few districts' cells (z², sizes and expected
    counts, district × category), shrunk by the pooled estimate's own noise: what a district's
    own test allows when estimated from the others (:func:`spread_apart`). One spread for every
    category: a category's own is a median of three to seven districts, known to ±100 %, and
    shrunk toward the others by a noise figure made for many cells it kept its chance lows (five
    districts spread by φ = 0.02, three of them alike in one category: φ 0.004 allowed there, and
    a district at 2.6 times the others, a chance of one in a hundred, stood at p = 3e-6)."""
    pooled_phi = relative_spread(z, s, e, share)
    phi = None if pooled_phi is None else np.full(z.shape[1], pooled_phi)
    valid = np.isfinite(z) & (e >= SPREAD_MIN_EXPECTED) & (s > 0)
    if phi is None:  # too few cells to pool: each category's own median, as in tau2_usual
        with np.errstate(invalid="ignore", divide="ignore"):
            inflation = np.median(z, axis=0) / CHI2_1_MEDIAN
            phi = np.nan_to_num(np.maximum(0.0, inflation - 1) / np.median(s, axis=0))
    # One shrinkage for every category, from the pooled estimate's own noise: with four to
    # eight districts a category's own estimate is a median of a handful of values, and
    # shrunk by a noise figure of all the cells its noise was understated (a ×2.2 cause
    # at p = 7e-4 where the pooled shrinkage gave 5e-5).
    cells = max(int(valid.sum()), 1)
    typical = float(np.median(s[valid])) if valid.any() else float(np.median(s))
    pooled = float(np.median(phi))
    return shrunk_by_noise(phi, pooled, float(median_noise(pooled, typical, cells)))


def spread_without(own: np.ndarray, design: np.ndarray, n: np.ndarray, d: int) -> np.ndarray:
    """The relative spread per category a district's own test allows (:func:`spread_of_few`),
    estimated from the other districts alone (``own``: each district's shares, d × c; ``design``,
    its design effects; ``n``, its problems, d × 1), district ``d`` in none of the medians, the
    centre, or the likely causes' flags: its own count cannot widen its own null.

    >>> rng = np.random.default_rng(4)
    >>> n = np.full((5, 1), 800.0)
    >>> own = rng.binomial(800, [0.1, 0.2, 0.3, 0.4] * 5, (5, 20)) / 800
    >>> raised = own.copy(); raised[0, 0] *= 3
    >>> bool((spread_without(own, np.ones((5, 20)), n, 0) == spread_without(raised, np.ones((5, 20)), n, 0)).all())
    True
    """
    keep = np.delete(np.arange(own.shape[0]), d)
    sub, nk = own[keep], n[keep]
    centre = np.median(sub, axis=0)
    sampling = centre * (1 - centre) * design[keep] / nk
    # a first pass flags no cause; its spread sets how far above the others a cause must stand
    z2, size, _ = deviations(sub, sampling, centre, np.inf)
    first = category_spreads(z2, size, nk * centre, share=centre)
    z2, size, _ = deviations(sub, sampling, centre, 0.0 if first is None else first)
    return spread_of_few(z2, size, nk * centre, share=centre)


def deviations(own: np.ndarray, sampling: np.ndarray, centre: np.ndarray,
               phi: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each district's squared standardised deviation (d × c) from the median of the *other*
    districts of ``own`` (their shares, d × c; ``sampling``, their sampling variances), the likely
    causes' share of their district's composition taken out (:func:`composition_free`: a cell
    far above the others, its variance inflated by the relative spread ``phi``), with each cell's size
    (``1 + φ · size`` its inflation by a relative spread φ) and the likely causes.

    >>> own = np.array([[0.10, 0.9], [0.11, 0.89], [0.09, 0.91], [0.10, 0.9]])
    >>> z2, size, likely = deviations(own, np.full((4, 2), 1e-4), np.array([0.1, 0.9]))
    >>> z2[:, 0].round(2).tolist(), bool(likely.any())
    ([0.0, 0.66, 0.66, 0.0], False)
    """
    m = own.shape[0]
    others = np.array([np.median(np.delete(own, d, axis=0), axis=0) for d in range(m)])
    variance = sampling + math.pi / (2 * (m - 1)) * np.median(sampling, axis=0)  # and the median's
    size = (1 + math.pi / (2 * (m - 1))) * centre * (1 - centre) / variance
    likely = likely_causes(own, others, variance, 1 + phi * size)
    return composition_free(own, others, variance, flagged=likely, leave_out=True), size, likely


def shrunk_by_noise(phi: np.ndarray, pooled: float | None, noise: float) -> np.ndarray:
    """A spread estimate ``phi`` (per category) shrunk by how far the estimate pooled over every
    category (``pooled``, φ̄) stands from its ``noise`` (a variance, :func:`median_noise`):
    ``φ · φ̄² / (φ̄² + v)``. An estimate never below zero is noise that only ever widens a
    district's null; where districts do differ, φ̄ is many times its noise and φ is kept.

    * With fewer than ``FEW_DISTRICTS`` districts (:func:`spread_without`), ``v`` is the pooled
      estimate's own noise: a median of a handful of districts is mostly noise either way.
    * With more, ``v`` is the noise the estimate would have were there no spread (φ = 0), smaller
      where there is one, so that a spread many times it is kept whole (shrunk by its own noise,
      thirty districts spread by φ = 0.02 let a local difference surface). Where districts do not
      differ, a term's causes alone (a third of twenty districts held one, a township's or the
      district's) raised φ̄, and that spread left a ×2.7 district cause at p 0.009 (the
      oracle's 1e-8).

    ``pooled`` None: too few cells for a pooled estimate, ``phi`` as it is.

    >>> shrunk_by_noise(np.array([0.002, 0.004]), 0.003, 0.003 ** 2).tolist()   # φ̄ at its noise: halved
    [0.001, 0.002]
    >>> shrunk_by_noise(np.array([0.02]), 0.02, 0.002 ** 2).round(4).tolist()     # ten times it: kept
    [0.0198]
    """
    if pooled is None or not math.isfinite(noise):
        return phi
    return phi * (pooled ** 2 / (pooled ** 2 + noise) if pooled > 0 else 0.0)


def relative_spread(z2: np.ndarray, size: np.ndarray, expected: np.ndarray,
                    share: np.ndarray | None = None) -> float | None:
    """The relative spread φ between ordinary districts (``τ² = φ · π(1 − π)``) of one kind: the
    φ at which the median over every (district, category) of ``z² / (1 + φ · size)`` is that of a
    χ²(1) variable, ``1 + φ · size`` being a cell's inflation (``size``: about a district's
    problems over its design effect). Cells with fewer than 5 expected problems are left out
    (their z² is far from χ²). None where fewer than ``MIN_SPREAD_CELLS`` cells remain. With the
    categories' ordinary ``share`` (broadcast to the cells), each cell's median as the beta spread
    skews it (:func:`.skew.skew_factor`): a small category's districts spread with a long right
    tail, and their median alone read half the spread.

    >>> rng = np.random.default_rng(1)
    >>> size = np.full((30, 8), 400.0)
    >>> relative_spread(rng.chisquare(1, (30, 8)), size, size * 0.1) < 0.001   # no spread
    True
    >>> round(relative_spread(rng.chisquare(1, (30, 8)) * 5, size, size * 0.1) * 400, 1)  # 400φ is 4
    3.8
    """
    valid = np.isfinite(z2) & (expected >= SPREAD_MIN_EXPECTED) & (size > 0)
    if valid.sum() < MIN_SPREAD_CELLS:
        return None
    shares = None if share is None else np.broadcast_to(share, valid.shape)[valid]
    z2, size = z2[valid], size[valid]
    target = CHI2_1_MEDIAN

    def excess(phi: float) -> float:
        inflation = 1 + phi * size
        if shares is not None:
            inflation = inflation * skew_factor(phi, shares, size)
        return float(np.median(z2 / inflation)) - target

    if excess(0.0) <= 0:
        return 0.0
    high = 1.0 / float(np.median(size))
    while excess(high) > 0 and high < 1.0:
        high *= 2
    if excess(high) > 0:  # wider than any beta spread (φ < 1): the widest
        return 1.0
    return float(optimize.brentq(excess, 0.0, high, xtol=1e-12))


# A district against the reference rates: its own spread is read from no fewer categories than
# this (spread_posterior), its likely causes found from those within χ²(1)'s 80 % point of a
# first estimate (_trimmed_start).
MIN_OWN_CELLS = 5
TRIM_Z2 = float(stats.chi2.ppf(0.8, 1))


def _within(level: float) -> float:
    """``E[χ²(1) | χ²(1) ≤ level]``: the consistency of a scale read from the cells below a cut."""
    return float(stats.chi2.cdf(level, 3) / stats.chi2.cdf(level, 1))


def _likeliest(z2: np.ndarray, size: np.ndarray, consistency: float) -> float:
    """The φ at which the cells' ``z² / (1 + φ · size)`` average ``consistency``, each weighed by its
    size (the likelihood's score); 0 where they do at no spread, 1 (the widest beta spread) at most."""
    def score(phi: float) -> float:
        inflation = 1 + phi * size
        return float(np.sum(size * (z2 / inflation - consistency) / inflation))
    if len(z2) == 0 or score(0.0) <= 0:
        return 0.0
    high = 1.0 / float(np.median(size))
    while score(high) > 0 and high < 1.0:
        high *= 2
    return 1.0 if score(high) > 0 else float(optimize.brentq(score, 0.0, high, xtol=1e-12))


def _trimmed_start(z2: np.ndarray, size: np.ndarray) -> float:
    """A first estimate of one district's relative spread φ from the rates, which no few far cells
    move, each cell's ``z²`` being ``(1 + φ · size) · χ²(1)``: the likeliest φ (:func:`_likeliest`)
    over the cells within χ²(1)'s 80 % point of it, consistent by ``E[χ²(1) | χ²(1) ≤ q]`` (a
    trimmed estimate of a scale). The cells it leaves out are refound at each step, from the
    estimate over every cell (above the spread where there are causes) down; from nothing up, it
    stopped at the few cells nearest the rates, a tenth of a wide spread. A cell above χ²(1)'s
    99.9 % point times its inflation by this estimate is a likely cause (:func:`spread_posterior`),
    judged against the spread of the district without it, while a district that differs widely
    for local reasons keeps its far categories as ordinary ones. A median over a district's cells
    read the spread from where it fell between a few large village cells and many small community
    ones, and put the village cells' inflation above 1.4 in a fifth of districts whose shares were
    the catalog's; counted up to the flag instead (Huber's estimate, which one cell in eight
    breaks), a ×3 cause among an office's eight categories widened its own tolerance to ±55 %.

    >>> rng = np.random.default_rng(3)
    >>> size = np.repeat([2500.0, 500.0], 20)
    >>> inflated = rng.chisquare(1, 40) * (1 + 0.002 * size)        # φ = 0.002: ×6 and ×2
    >>> 0.001 < _trimmed_start(inflated, size) < 0.004
    True
    """
    trimmed = _within(TRIM_Z2)
    first = _likeliest(z2, size, 1.0)
    for _ in range(50):
        inner = z2 <= TRIM_Z2 * (1 + first * size)
        estimate = _likeliest(z2[inner], size[inner], trimmed)
        if abs(estimate - first) <= 1e-12 + 1e-9 * first:
            break
        first = estimate
    return first


# A district's spread from the rates, before its cells are read: four to one that the rates are
# its own (φ = 0: the catalog's shares are an office's usual mix), the rest spread evenly over
# log φ, from where the largest cell would show it (an inflation of ``SLAB_FLOOR``) to the widest
# beta spread (1), in steps of ``SLAB_STEP`` (a tenth of the width of log φ read from a handful of
# cells). At even odds the slab's lower stretch, where the cells cannot tell φ from 0, kept a
# third of the weight off φ = 0 where the rates were exact, and the district test's null
# ``P(p ≤ 0.01)`` was 0.6 of 0.01 (the standard and partial families, null seeds 255–454; 0.78
# and 0.8 at four to one; chosen on those seeds and 1–54, judged on 55–254).
SPIKE_PRIOR = 0.8
SLAB_FLOOR = 1e-3
SLAB_STEP = 0.05


class OwnSpread(NamedTuple):
    """What a district's own cells say of its relative spread from the rates: the values of φ
    and their posterior weights (summing to one), the first of them 0."""

    phi: np.ndarray
    weight: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.phi @ self.weight)


def spread_posterior(z2: np.ndarray, size: np.ndarray, flag: float = FLAG_Z2) -> OwnSpread:
    """The posterior of one district's relative spread φ from the reference shares (``τ² = φ ·
    π(1 − π)``), its likely causes left out (:func:`_trimmed_start`), each cell's ``z²`` being
    ``(1 + φ · size) · χ²(1)``. The prior:
    ``SPIKE_PRIOR`` on φ = 0, the rest log-uniform (a scale) from where the largest cell's
    inflation would be ``1 + SLAB_FLOOR`` up to 1. The cells are the district's categories, each
    one reading of its local difference (:func:`.baselines.category_cells`).

    A single estimate of φ plugged into the district's test is read from some forty cells, few of
    them large: with the spread a district's local reasons give (φ = 0.02), its own test's null
    ``P(p ≤ 0.001)`` was four times 0.001 and ``P(p ≤ 0.0002)`` twelve times, the tail of a t
    distribution of few degrees of freedom read as a normal one, and one null ledger in thirteen
    surfaced a district cause. The test averages its tails over this posterior instead
    (:func:`.tests.excess_p_values`): where the rates are right the weight stays on φ = 0, where
    the district differs widely its spread's uncertainty widens the far tail, not the near one.

    >>> rng = np.random.default_rng(3)
    >>> size = np.repeat([2500.0, 500.0], 20)
    >>> none = spread_posterior(rng.chisquare(1, 40), size)           # no spread: mostly φ = 0
    >>> bool(none.weight[0] > 0.5), round(float(none.weight.sum()), 9)
    (True, 1.0)
    >>> wide = spread_posterior(rng.chisquare(1, 40) * (1 + 0.002 * size), size)   # φ = 0.002
    >>> bool(wide.weight[0] < 1e-6), 0.001 < wide.mean < 0.004
    (True, True)
    >>> inflated = rng.chisquare(1, 40) * (1 + 0.002 * size)
    >>> caused = inflated.copy(); caused[0] = 1e4                     # a cause: left out
    >>> bool(abs(spread_posterior(caused, size).mean / spread_posterior(inflated, size).mean - 1) < 0.05)
    True
    """
    z2, size = np.asarray(z2, dtype=float), np.asarray(size, dtype=float)
    first = _trimmed_start(z2, size)
    kept = z2 <= flag * (1 + first * size)
    z2, size = z2[kept], size[kept]
    low = math.log10(SLAB_FLOOR / float(size.max()))
    slab = np.logspace(low, 0.0, max(2, int(math.ceil(-low / SLAB_STEP)) + 1))
    phi = np.concatenate([[0.0], slab])
    inflation = 1 + phi[:, None] * size[None, :]                      # G × cells
    # Not truncated at the cut: at a fixed cut the truncated likelihood levels off as φ grows (a
    # wide enough spread makes every z² below the cut alike), and an office of eight categories
    # whose rates were right was allowed ±64 %; below χ²(1)'s 99.9 % point the truncation is
    # nothing one can see.
    log_like = (-0.5 * np.log(inflation) - z2 / (2 * inflation)).sum(axis=1)
    log_prior = np.concatenate([[math.log(SPIKE_PRIOR)], np.full(len(slab), math.log((1 - SPIKE_PRIOR) / len(slab)))])
    log_post = log_like + log_prior
    weight = np.exp(log_post - log_post.max())
    weight[weight < 1e-12] = 0.0   # out of the tails' average: nothing it could move
    return OwnSpread(phi, weight / weight.sum())


def category_spreads(z2: np.ndarray, size: np.ndarray, expected: np.ndarray,
                     share: np.ndarray | None = None) -> np.ndarray | None:
    """Per category, the relative spread φ_c between ordinary districts (``τ² = φ_c · π(1 − π)``):
    each category's own robust estimate (the median of its districts' z², ±50 % with some twenty
    districts) shrunk toward the estimate over every category (:func:`relative_spread`) by as
    much as the categories' own estimates differ beyond that noise (empirical Bayes; that
    difference read from each median at its mean, with its exact noise: :func:`median_moments`).
    Where the categories do not differ, φ_c is the pooled estimate; a category whose districts
    differ for local reasons keeps its own. None where too few cells for the pooled estimate. With the
    categories' ordinary ``share`` (c), each median as the beta spread skews it
    (:func:`relative_spread`, :func:`own_spread`).

    >>> rng = np.random.default_rng(3)
    >>> size = np.full((30, 6), 400.0)
    >>> z2 = rng.chisquare(1, (30, 6))
    >>> z2[:, 0] *= 9                                  # one category's districts differ: 400φ = 8
    >>> (category_spreads(z2, size, size * 0.1) * 400).round(1).tolist()
    [8.8, 0.2, 0.0, 0.0, 0.2, 1.0]
    """
    pooled = relative_spread(z2, size, expected, share)
    if pooled is None:
        return None
    valid = np.isfinite(z2) & (expected >= SPREAD_MIN_EXPECTED) & (size > 0)
    count = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        typical = np.array([np.median(size[valid[:, c], c]) if count[c] else np.nan for c in range(z2.shape[1])])
        inflation = np.array([np.median(z2[valid[:, c], c]) if count[c] else np.nan for c in range(z2.shape[1])])
        own = own_spread(inflation / CHI2_1_MEDIAN, typical, share)
        # How far the categories differ is a moment estimate: each reading taken at its mean (a
        # median of M values stands above χ²(1)'s median on average) with its exact noise. Read
        # at the median's scale, the skew alone made categories that do not differ seem to (by
        # some 15 % of the noise's variance), and a chance-high category kept its own reading.
        moments = np.array([median_moments(int(c)) if c else (np.nan, np.nan) for c in count])
        own_mean = own_spread(inflation / (CHI2_1_MEDIAN * moments[:, 0]), typical, share)
        noise = ((1 + pooled * typical) * moments[:, 1] / typical) ** 2
        if share is not None:
            # a skewed category's median moves less with φ (its inflation times the skew's
            # factor): the same noise in the median is more of it in φ
            noise = noise / skew_factor(pooled, share, typical) ** 2
    usable = (count >= 5) & np.isfinite(own)
    phi = np.full(z2.shape[1], pooled)
    if usable.sum() < 2:
        return phi
    between = max(0.0, float(np.mean((own_mean[usable] - pooled) ** 2) - np.mean(noise[usable])))
    weight = between / (between + noise[usable])
    # ... while the spread a district's test allows moves toward the category's reading at the
    # median's scale, as the pooled one is read: at the mean's scale a category truly spread
    # reads a tenth lower, and a spread plugged into a test that runs low as often as high
    # lets local differences through (the local-difference test's seed 20: 低保's φ 0.0136 →
    # 0.0125, and a district at 2.3 times the share from local reasons alone surfaced)
    phi[usable] = np.maximum(0.0, pooled + weight * (own[usable] - pooled))
    return phi


def own_spread(inflation: np.ndarray, typical: np.ndarray, share: np.ndarray | None = None) -> np.ndarray:
    """Per category, the relative spread φ at which a cell of the ``typical`` size has its
    median z² inflated by ``inflation`` (over χ²(1)'s): ``(inflation − 1) / typical`` where
    deviations are normal (below zero where the median fell below χ²(1)'s, as noise does), and
    with the categories' ordinary ``share``, the φ whose inflation the beta's skew lowers by
    :func:`.skew.skew_factor` to that (bisection: the product rises with φ, the skew capped).

    >>> own_spread(np.array([0.8, 41.0, 41.0]), np.array([2000.0] * 3)).round(4).tolist()
    [-0.0001, 0.02, 0.02]
    >>> skewed = 41.0 * float(skew_factor(0.02, 0.02, 2000.0))   # a 2 % category: its median at 0.56 of it
    >>> own_spread(np.array([0.8, 41.0, skewed]), np.array([2000.0] * 3), np.array([0.5, 0.5, 0.02])).round(4).tolist()
    [-0.0001, 0.02, 0.02]
    """
    plain = (inflation - 1) / typical
    if share is None:
        return plain
    share = np.broadcast_to(share, plain.shape)
    above = np.isfinite(plain) & (plain > 0)
    # the root lies between the normal reading and the one the smallest factor would give
    lo = np.where(above, plain, 0.0)
    hi = np.where(above, (inflation / MEDIAN_RATIO.min() - 1) / typical, 0.0)
    for _ in range(24):
        mid = (lo + hi) / 2
        rises = (1 + mid * typical) * skew_factor(mid, share, typical) < inflation
        lo, hi = np.where(rises, mid, lo), np.where(rises, hi, mid)
    return np.where(above, np.minimum((lo + hi) / 2, 1.0), plain)


def pooling_weight(share: np.ndarray, tau2: np.ndarray) -> np.ndarray:
    """The weight (in problems) of the share over every area in a district's baseline,
    ``π(1-π)/τ² - 1``: near-full pooling where districts do not differ."""
    with np.errstate(divide="ignore", invalid="ignore"):  # a category the ledger never uses: share 0
        weight = np.where(tau2 > 0, share * (1 - share) / tau2 - 1, 1e6)
    return np.clip(weight, 1.0, 1e6)
