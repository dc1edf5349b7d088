"""Root-cause surfacing: which higher-level unit's jurisdiction shows a category of problems far
more often than a fair baseline, and at which level the excess belongs.

Pure functions over :class:`graph.store.LedgerFacts`, the aggregates every store computes in the
same way. The steps, each a function one can read and test alone:

1. :func:`tally_ledger` — the ledger as arrays (township × village kind × category), inspected
   areas only: peers are areas with a ledger, not merely loaded divisions.
2. :func:`estimate_dispersion` — how much each category clusters in villages beyond chance
   (beta-binomial ρ, from the villages themselves), so repeated rounds, persisting problems and
   villages of very different risk widen the null instead of being thrown away.
3. :func:`township_baselines`, :func:`district_baselines` — the share each area is compared with,
   with its own uncertainty, and the reason where no valid baseline exists.
4. :func:`excess_p_values`, :func:`recurrence_p_values` — the two lines of evidence;
   :func:`village_p_values` tests the township pairs the sums single out again on the per-village
   evidence (:mod:`.village_evidence`).
5. :func:`attribute_levels` — district or township: an excess spread across a district is the
   district unit's; one concentrated in townships that surface on their own is theirs.
6. :func:`score_candidates` — ranking.

``docs/root-causes.md`` gives the model, its assumptions, and the benchmark matrix it is judged on.
"""
from __future__ import annotations

import functools
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

from ..model import DUTY_ORDER
from ..store import LedgerFacts
from .stats import benjamini_hochberg, excess_sf_array, weighted_benjamini_hochberg
from .village_evidence import ALT_MULTIPLIER, ALT_SHARE, SCREEN, village_tail

DEFAULT_MIN_CONFIDENCE = 0.99
KINDS = ("village", "community", "other")
KIND_INDEX = {kind: i for i, kind in enumerate(KINDS)}
# A district's share of a category is taken to stay within about ±10 % (one standard deviation) of
# a reference rate (catalog, office table) for reasons that have nothing to do with a root cause.
REFERENCE_CV = 0.10
# How far (in standard errors of an ordinary district) a district's share may be from the ordinary
# districts' and still be taken for an ordinary district.
ORDINARY_Z = 3.0
# Township pairs share the false-discovery rate by the chance each has of showing a cause: half
# the weight evenly, half by that chance (so a pair the model says cannot show one keeps half).
WEIGHT_FLOOR = 0.5
# The level at which the rest of a district shows an excess when an excess is attributed
# between the district and a few of its townships (attribute_levels).
REST_LEVEL = 0.05
# Townships this far beyond their district's share are left out of the estimate of ρ (estimate_dispersion):
# a probability the null practically never reaches, screened first by a normal z.
OUTLIER_P, OUTLIER_Z = 1e-6, 4.0
# Fewer (district, category) cells than this with 5 expected problems: the spread between districts
# is estimated per category (between_district_spread).
MIN_SPREAD_CELLS = 20

BASELINE_ZH = {
    "district_peers": "本区县其他已巡察乡镇(街道)",
    "wider_peers": "其他已巡察区县的乡镇(街道)",
    "other_districts": "其他已巡察区县",
    "reference": "问题类别参考比例",
}


@dataclass(slots=True)
class Candidate:
    """One tested pair (higher-level area, category) with the unit that answers for it."""

    level: str
    area_code: str
    area_name: str
    district_code: str
    category: str
    unit_id: str
    unit_name: str
    duty: str
    bearers: list[tuple]  # (duty order, unit_id, unit name, duty) of every duty bearer of the area
    # None where the pair was not tested: an untested pair has no figures that could pass for a test's
    observed: int | None
    expected: float | None
    p_excess: float | None
    p_recurrence: float | None
    p_value: float | None
    baseline: str | None = None
    tested: bool = True
    reason: str | None = None   # why a pair was not tested
    q_value: float | None = 1.0
    score: float = 0.0
    surfaced: bool = False
    explained_by: list[str] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)

    @property
    def confidence(self) -> float | None:
        return None if self.q_value is None else 1.0 - self.q_value

    def as_dict(self) -> dict:
        tested = self.tested
        evidence = {
            "observed": self.observed, "expected": round(self.expected, 3) if tested else None,
            "ratio": round(self.observed / self.expected, 3) if tested and self.expected > 0 else None,
            "p_excess": _sig(self.p_excess) if tested else None,
            "p_recurrence": None if self.p_recurrence is None else _sig(self.p_recurrence),
            "baseline": self.baseline, "baseline_zh": BASELINE_ZH.get(self.baseline or "", None),
            **self.evidence,
        }
        return {
            "unit_id": self.unit_id, "unit_name": self.unit_name, "level": self.level, "duty": self.duty,
            "area_code": self.area_code, "area_name": self.area_name, "district_code": self.district_code,
            "category": self.category, "score": round(self.score, 4),
            "p_value": _sig(self.p_value) if tested else None, "q_value": _sig(self.q_value) if tested else None,
            "confidence": round(self.confidence, 6) if tested else None, "surfaced": self.surfaced,
            "tested": self.tested, "reason": self.reason, "explained_by": self.explained_by,
            "responsible_units": [{"unit_id": u[1], "unit_name": u[2], "duty": u[3]} for u in self.bearers],
            "evidence": evidence,
        }


def _sig(x: float) -> float:
    """Round to 6 significant digits, so both stores print the same figures."""
    return float(f"{x:.6g}")


# -- 1. the ledger as arrays -----------------------------------------------------------------------
@dataclass
class Tally:
    """Sums over inspected villages, by township ``t``, village kind ``k`` and category ``c``.

    ``x``, ``xx``, ``xn``: Σ X_v, Σ X_v², Σ X_v N_v (shape t × k × c); ``n``, ``nn``: Σ N_v, Σ N_v²
    (t × k); ``rectified``, ``recurred``: villages (t × c); ``district``: each township's district
    index; per (t, c) severity weight, money and villages affected for the evidence.
    """

    townships: list[str]
    districts: list[str]
    categories: list[str]
    district: np.ndarray
    x: np.ndarray
    xx: np.ndarray
    xn: np.ndarray
    n: np.ndarray
    nn: np.ndarray
    rectified: np.ndarray
    recurred: np.ndarray
    weight: np.ndarray
    amount: np.ndarray
    affected: np.ndarray
    inspected: np.ndarray  # villages inspected per township
    loaded_townships: dict[str, int]  # district -> townships loaded (inspected or not)

    def by_district(self, array: np.ndarray) -> np.ndarray:
        out = np.zeros((len(self.districts),) + array.shape[1:])
        np.add.at(out, self.district, array)
        return out

    # District sums, computed once: every step below reads them.
    @functools.cached_property
    def district_x(self) -> np.ndarray:
        return self.by_district(self.x)

    @functools.cached_property
    def district_n(self) -> np.ndarray:
        return self.by_district(self.n)

    @functools.cached_property
    def district_nn(self) -> np.ndarray:
        return self.by_district(self.nn)


def tally_ledger(facts: LedgerFacts) -> Tally:
    """Arrays over the townships with a ledger (at least one problem found).

    >>> from graph.store import LedgerCell, Exposure, LedgerFacts
    >>> cells = [LedgerCell("500101001", "500101", "village", "低保", 2, 3, 5, 12, 3.0, 0.0, 1, 0)]
    >>> exposure = [Exposure("500101001", "500101", "village", 4, 2, 9, 45),
    ...             Exposure("500101002", "500101", "village", 5, 0, 0, 0)]
    >>> t = tally_ledger(LedgerFacts(cells, exposure, [], [], [], []))
    >>> t.townships, float(t.x[0, 0, 0]), float(t.n[0, 0]), t.loaded_townships
    (['500101001'], 3.0, 9.0, {'500101': 2})
    """
    township_district = {e.township_code: e.district_code for e in facts.exposure if e.issues > 0}
    loaded: dict[str, int] = defaultdict(int)
    for _, district in {(e.township_code, e.district_code) for e in facts.exposure}:
        loaded[district] += 1
    for c in facts.cells:  # a ledger whose villages are loaded without exposure rows
        township_district.setdefault(c.township_code, c.district_code)
    townships = sorted(township_district)
    districts = sorted(set(township_district.values()))
    categories = sorted({c.category for c in facts.cells} | {d.category for d in facts.duties})
    ti = {t: i for i, t in enumerate(townships)}
    di = {d: i for i, d in enumerate(districts)}
    ci = {c: i for i, c in enumerate(categories)}
    T, C = len(townships), len(categories)
    shape = (T, len(KINDS), C)
    tally = Tally(townships, districts, categories,
                  np.array([di[township_district[t]] for t in townships], dtype=int),
                  np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros((T, len(KINDS))),
                  np.zeros((T, len(KINDS))), np.zeros((T, C)), np.zeros((T, C)), np.zeros((T, C)),
                  np.zeros((T, C)), np.zeros((T, C)), np.zeros(T), dict(sorted(loaded.items())))
    # One vectorised scatter per column: the cells are tens of thousands.
    if facts.cells:
        t = np.fromiter((ti[c.township_code] for c in facts.cells), int, len(facts.cells))
        k = np.fromiter((KIND_INDEX[c.village_kind] for c in facts.cells), int, len(facts.cells))
        j = np.fromiter((ci[c.category] for c in facts.cells), int, len(facts.cells))
        columns = np.array([(c.issues, c.issues_sq, c.issues_cross, c.villages_rectified, c.villages_recurred,
                             c.severity_weight, c.amount_yuan, c.villages_affected) for c in facts.cells], dtype=float)
        for target, column in ((tally.x, 0), (tally.xx, 1), (tally.xn, 2)):
            np.add.at(target, (t, k, j), columns[:, column])
        for target, column in ((tally.rectified, 3), (tally.recurred, 4), (tally.weight, 5), (tally.amount, 6),
                               (tally.affected, 7)):
            np.add.at(target, (t, j), columns[:, column])
    for e in facts.exposure:
        row = ti.get(e.township_code)
        if row is not None:
            kind = KIND_INDEX[e.village_kind]
            tally.n[row, kind] += e.issues
            tally.nn[row, kind] += e.issues_sq
            tally.inspected[row] += e.inspected
    if not facts.exposure:  # totals from the cells alone (hand-made facts): N_v unknown, ρ taken as 0
        tally.n = tally.x.sum(axis=2)
        tally.nn = tally.n.copy()
        tally.xn = tally.xx.copy()
    return tally


# -- 2. overdispersion -------------------------------------------------------------------------------
def estimate_dispersion(tally: Tally, per_township: bool = False) -> np.ndarray:
    """Per category, the intra-village correlation ρ of its counts (beta-binomial), by moments
    around each district's own share, over the inspected villages of the ordinary townships; 0
    where nothing clusters. With ``per_township``, per township and category (t × c), each
    township's own villages left out: the ρ its own test uses.

    Under the generator's Poisson model with one risk per village the counts given the village
    totals are binomial and ρ ≈ 0; when a village's mix of problems persists over rounds, or a
    problem is found again, counts cluster and ρ > 0, and every test below widens by it.

    A root cause raises its township's villages far above the district's share; counted here it
    would widen every test of the category, its own first (a ×4 cause on 20 villages: ρ 0.057
    where the generator has 0, and p 1e-4 where 1e-9 was due). So a township is never tested
    with a ρ its own villages made (left out, which under the null costs nothing: the rest is
    independent of it), and townships far beyond their district (``OUTLIER_P`` at a first
    estimate: practically never under the null) are left out of every estimate.

    >>> from graph.store import LedgerCell, Exposure, LedgerFacts
    >>> cells, exposure = [], []
    >>> for t in range(10):  # ten townships of one village each; the first has 30 of 40 in 低保
    ...     code, low = f"50010100{t}", 30 if t == 0 else 4
    ...     cells += [LedgerCell(code, "500101", "village", "低保", 1, low, low * low, low * 40, low, 0, 0, 0),
    ...               LedgerCell(code, "500101", "village", "作风", 1, 40 - low, (40 - low) ** 2,
    ...                          (40 - low) * 40, 1, 0, 0, 0)]
    ...     exposure.append(Exposure(code, "500101", "village", 1, 1, 40, 1600))
    >>> tally = tally_ledger(LedgerFacts(cells, exposure, [], [], [], []))
    >>> float(estimate_dispersion(tally)[0])  # 低保 without the outlier: nothing clusters
    0.0
    >>> float(estimate_dispersion(tally, per_township=True)[0, 0])  # its own test: without it
    0.0
    """
    return dispersions(tally)[1 if per_township else 0]


def dispersions(tally: Tally) -> tuple[np.ndarray, np.ndarray]:
    """:func:`estimate_dispersion` both ways from one pass: per category (c), and per township
    and category without the township's own villages (t × c)."""
    numerator, denominator, keep = _clustering_parts(tally)
    numerator, denominator = numerator * keep, denominator * keep
    total_n, total_d = numerator.sum(axis=0), denominator.sum(axis=0)
    return _rho(total_n, total_d), _rho(total_n[None, :] - numerator, total_d[None, :] - denominator)


def _rho(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(denominator > 0, numerator / denominator, 0.0)
    return np.clip(rho, 0.0, 0.5)


def _clustering_parts(tally: Tally) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per township and category (t × c): its villages' squared deviations from the district's
    share beyond the binomial (the moment estimate's numerator) and their weight (denominator),
    and whether it is ordinary (1, or 0 where it is beyond ``OUTLIER_P`` at the estimate over
    every township). The shares are then those of the ordinary townships."""
    n, nn = tally.n[:, :, None], tally.nn[:, :, None]
    keep = np.ones(tally.x.shape[::2])

    def moments(keep):
        xd = tally.by_district(tally.x * keep[:, None, :])
        nd = tally.by_district(n * keep[:, None, :])
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(nd > 0, xd / nd, 0.0)[tally.district]  # t × k × c
        var = share * (1 - share)
        numerator = (tally.xx - 2 * share * tally.xn + share ** 2 * nn - n * var).sum(axis=1)
        return share, var, numerator, (var * (nn - n)).sum(axis=1)

    share, var, numerator, denominator = moments(keep)
    # each township judged with a ρ its own villages did not make (else a cause hides itself)
    rho = _rho(numerator.sum(axis=0)[None, :] - numerator, denominator.sum(axis=0)[None, :] - denominator)
    mean = (n * share).sum(axis=1)
    variance = (var * (n + rho[:, None, :] * (nn - n))).sum(axis=1)
    observed = tally.x.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(variance > 0, (observed - mean) / np.sqrt(variance), 0.0)
    screened = np.argwhere(z > OUTLIER_Z)  # the exact tail only where the normal one is far out
    if screened.size == 0:
        return numerator, denominator, keep
    t, j = screened[:, 0], screened[:, 1]
    far = excess_sf_array(observed[t, j], tally.n.sum(axis=1)[t], mean[t, j], variance[t, j]) < OUTLIER_P
    if not far.any():
        return numerator, denominator, keep
    keep[t[far], j[far]] = 0.0
    return moments(keep)[2:] + (keep,)


# -- 3. baselines ------------------------------------------------------------------------------------
@dataclass
class Baseline:
    """Expected shares and their uncertainty for a set of areas (a × k × c), and per area the
    name of the baseline, or the reason no test can be made."""

    share: np.ndarray
    share_var: np.ndarray
    usable: np.ndarray        # a × k: kinds with a baseline
    label: list[str | None]   # per area
    reason: list[str | None]  # per area, where nothing is usable


def _design_effect(n: np.ndarray, nn: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Per area, kind and category (a × k × c), how much the villages' clustering (ρ) widens a
    count over the binomial: ``1 + ρ (Σn² / Σn − 1)`` from an area's problems ``n`` and the sum of
    its villages' squared totals ``nn`` (a × k); 1 where an area has none."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 + rho[None, None, :] * np.where(n[:, :, None] > 0, (nn - n)[:, :, None] / n[:, :, None], 0.0)


def _standardised(x: np.ndarray, n: np.ndarray, nn: np.ndarray, rho: np.ndarray, centre: np.ndarray,
                  tau2: np.ndarray) -> np.ndarray:
    """How many standard errors each area's own share lies from ``centre`` (k × c), areas
    differing by ``tau2`` beyond their villages' variation; 0 where an area has no problems."""
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(n[:, :, None] > 0, x / n[:, :, None], centre[None])
        sampling = centre * (1 - centre) * _design_effect(n, nn, rho) / np.maximum(n[:, :, None], 1)
        return np.nan_to_num((own - centre[None]) / np.sqrt(sampling + tau2[None]))


def _posterior(x_rest: np.ndarray, n_rest: np.ndarray, nn_rest: np.ndarray, rho: np.ndarray,
               prior_share: np.ndarray | None = None, prior_weight: np.ndarray | None = None):
    """The baseline's share and its variance. The prior is the share over every inspected area
    with the weight that the spread between districts allows (empirical Bayes, see
    :func:`pooling_weight`), or Jeffreys' (never exactly 0 or 1) where nothing can be
    pooled. The baseline's own village clustering shrinks its effective size by the design effect."""
    if prior_share is None:
        prior_share, prior_weight = np.full(x_rest.shape[1:], 0.5), np.ones(x_rest.shape[1:])
    design = _design_effect(n_rest, nn_rest, rho)
    effective = n_rest[:, :, None] / design
    share = (x_rest / design + prior_weight * prior_share) / (effective + prior_weight)
    return share, share * (1 - share) / (effective + prior_weight + 1.0)


# The median of a χ²(1) variable: med(z²) of standardised deviations when districts do not differ.
CHI2_1_MEDIAN = float(stats.chi2.median(1))


def between_district_spread(tally: Tally, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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

    >>> from graph.store import LedgerCell, Exposure, LedgerFacts
    >>> cells, exposure = [], []
    >>> for d in range(1, 9):  # eight districts with the same share, one with three times as much
    ...     t = f"50010{d}001"
    ...     low = 60 if d == 1 else 20
    ...     cells += [LedgerCell(t, t[:6], "village", "低保", 10, low, low, low, low, 0, 0, 0),
    ...               LedgerCell(t, t[:6], "village", "作风", 10, 180, 180, 180, 180, 0, 0, 0)]
    ...     exposure.append(Exposure(t, t[:6], "village", 200, 200, 180 + low, 180 + low))
    >>> tally = tally_ledger(LedgerFacts(cells, exposure, [], [], [], []))
    >>> share, tau2_all, tau2_usual, centre = between_district_spread(tally, estimate_dispersion(tally))
    >>> bool(tau2_all[0].max() > 0), float(tau2_usual[0].max())
    (True, 0.0)
    """
    xd, nd, nnd = tally.district_x, tally.district_n, tally.district_nn
    share = (xd.sum(axis=0) + 0.5) / (nd.sum(axis=0)[:, None] + 1.0)          # k × c
    tau2_all, tau2_usual, centres = np.zeros_like(share), np.zeros_like(share), share.copy()
    present = nd > 0                                                            # d × k
    if len(tally.districts) < 3:
        return share, tau2_all, tau2_usual, centres
    design = _design_effect(nd, nnd, rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(present[:, :, None], xd / nd[:, :, None], np.nan)
        for k in range(share.shape[0]):
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
            phi = category_spreads(z2, size, n * centre)
            if phi is None:
                inflation = np.median(z2, axis=0) / CHI2_1_MEDIAN
                tau2_usual[k] = np.maximum(0.0, inflation - 1) * np.median(sampling, axis=0)
            else:
                tau2_usual[k] = phi * centre * (1 - centre)
            # The ordinary districts' own share, pooled (the median of small shares runs low):
            # those within ORDINARY_Z of the median district, as a township's baseline judges.
            ordinary = np.abs(o - centre) <= ORDINARY_Z * np.sqrt(sampling + tau2_usual[k])
            x_ordinary = (np.where(ordinary, o * n, 0.0)).sum(axis=0)
            n_ordinary = (np.where(ordinary, n, 0.0)).sum(axis=0)
            centres[k] = (x_ordinary + 0.5) / (n_ordinary + 1.0)
    return share, np.nan_to_num(tau2_all), np.nan_to_num(tau2_usual), centres


def relative_spread(z2: np.ndarray, size: np.ndarray, expected: np.ndarray) -> float | None:
    """The relative spread φ between ordinary districts (``τ² = φ · π(1 − π)``) of one kind: the
    φ at which the median over every (district, category) of ``z² / (1 + φ · size)`` is that of a
    χ²(1) variable, ``1 + φ · size`` being a cell's inflation (``size``: about a district's
    problems over its design effect). Cells with fewer than 5 expected problems are left out
    (their z² is far from χ²). None where fewer than ``MIN_SPREAD_CELLS`` cells remain.

    >>> rng = np.random.default_rng(1)
    >>> size = np.full((30, 8), 400.0)
    >>> relative_spread(rng.chisquare(1, (30, 8)), size, size * 0.1) < 0.001   # no spread
    True
    >>> round(relative_spread(rng.chisquare(1, (30, 8)) * 5, size, size * 0.1) * 400, 1)  # 400φ is 4
    3.8
    """
    valid = np.isfinite(z2) & (expected >= 5) & (size > 0)
    if valid.sum() < MIN_SPREAD_CELLS:
        return None
    z2, size = z2[valid], size[valid]
    target = CHI2_1_MEDIAN

    def excess(phi: float) -> float:
        return float(np.median(z2 / (1 + phi * size))) - target

    if excess(0.0) <= 0:
        return 0.0
    high = 1.0 / float(np.median(size))
    while excess(high) > 0:
        high *= 2
    return float(optimize.brentq(excess, 0.0, high, xtol=1e-12))


def category_spreads(z2: np.ndarray, size: np.ndarray, expected: np.ndarray) -> np.ndarray | None:
    """Per category, the relative spread φ_c between ordinary districts (``τ² = φ_c · π(1 − π)``):
    each category's own robust estimate (the median of its districts' z², ±50 % with some twenty
    districts) shrunk toward the estimate over every category (:func:`relative_spread`) by as
    much as the categories' own estimates differ beyond that noise (empirical Bayes). Where the
    categories do not differ, φ_c is the pooled estimate; a category whose districts differ
    for local reasons keeps its own. None where too few cells for the pooled estimate.

    >>> rng = np.random.default_rng(3)
    >>> size = np.full((30, 6), 400.0)
    >>> z2 = rng.chisquare(1, (30, 6))
    >>> z2[:, 0] *= 9                                  # one category's districts differ: 400φ = 8
    >>> (category_spreads(z2, size, size * 0.1) * 400).round(1).tolist()
    [8.8, 0.2, 0.0, 0.0, 0.2, 1.0]
    """
    pooled = relative_spread(z2, size, expected)
    if pooled is None:
        return None
    valid = np.isfinite(z2) & (expected >= 5) & (size > 0)
    count = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        typical = np.array([np.median(size[valid[:, c], c]) if count[c] else np.nan for c in range(z2.shape[1])])
        inflation = np.array([np.median(z2[valid[:, c], c]) if count[c] else np.nan for c in range(z2.shape[1])])
        own = (inflation / CHI2_1_MEDIAN - 1) / typical
        # the median of m χ²(1) values over its median: relative standard error 2.33 / √m
        noise = ((1 + pooled * typical) * 2.33 / (typical * np.sqrt(np.maximum(count, 1)))) ** 2
    usable = (count >= 5) & np.isfinite(own)
    phi = np.full(z2.shape[1], pooled)
    if usable.sum() < 2:
        return phi
    between = max(0.0, float(np.mean((own[usable] - pooled) ** 2) - np.mean(noise[usable])))
    weight = between / (between + noise[usable])
    phi[usable] = np.maximum(0.0, pooled + weight * (own[usable] - pooled))
    return phi


def pooling_weight(share: np.ndarray, tau2: np.ndarray) -> np.ndarray:
    """The weight (in problems) of the share over every area in a district's baseline,
    ``π(1-π)/τ² - 1``: near-full pooling where districts do not differ."""
    with np.errstate(divide="ignore"):
        weight = np.where(tau2 > 0, share * (1 - share) / tau2 - 1, 1e6)
    return np.clip(weight, 1.0, 1e6)


def district_prior(tally: Tally, rho: np.ndarray, spread, x_rest, n_rest, nn_rest) -> tuple[np.ndarray, np.ndarray]:
    """The share each township's baseline (the rest of its district) is pooled toward, and its
    weight in problems (t × k × c).

    Where the rest of the district looks like an ordinary district (within ``ORDINARY_Z``
    standard errors of the ordinary districts' share, given how much ordinary districts differ,
    ``tau2_usual``), it is pooled as an ordinary district is: toward that share by
    ``tau2_usual``, so a thin district baseline borrows the province's precision. A district that
    stands out (a district-wide cause, local conditions) keeps its own level: pooled toward the
    share over every area only by ``tau2_all``, the spread with such districts counted, so its
    townships are not each taken for a cause.
    """
    share, tau2_all, tau2_usual, centre = spread
    ordinary = np.abs(_standardised(x_rest, n_rest, nn_rest, rho, centre, tau2_usual)) <= ORDINARY_Z
    return (np.where(ordinary, centre[None], share[None]),
            np.where(ordinary, pooling_weight(centre, tau2_usual)[None], pooling_weight(share, tau2_all)[None]))


def reference_prior(tally: Tally, rho: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where fewer than three districts have a ledger: the share each township's baseline is pooled
    toward, and its weight in problems (t × k × c). The reference shares, trusted to
    ±``REFERENCE_CV``, where the township's district as a whole is within ``ORDINARY_Z`` standard
    errors of them; else none (a weight of one problem): a district whose share stands out (a
    district-wide cause, local conditions) keeps its own level. The whole district decides, so its
    townships are judged alike, and a township with a cause of its own only makes the district
    less ordinary (no pooling, the cautious side).

    >>> from graph.store import LedgerCell, Exposure, LedgerFacts
    >>> cells, exposure = [], []
    >>> for t in range(1, 5):
    ...     code = f"500101{t:03d}"
    ...     cells += [LedgerCell(code, "500101", "village", "低保", 10, 30, 30, 30, 30, 0, 0, 0),
    ...               LedgerCell(code, "500101", "village", "作风", 10, 70, 70, 70, 70, 0, 0, 0)]
    ...     exposure.append(Exposure(code, "500101", "village", 10, 10, 100, 100))
    >>> tally = tally_ledger(LedgerFacts(cells, exposure, [], [], [], []))
    >>> near, weight = reference_prior(tally, np.zeros(2), np.array([[0.3, 0.7]] * 3))
    >>> float(near[0, 0, 0]), int(weight[0, 0, 0])     # the district agrees: pooled, by ~230 problems
    (0.3, 232)
    >>> far, weight = reference_prior(tally, np.zeros(2), np.array([[0.1, 0.9]] * 3))
    >>> int(weight[0, 0, 0])                           # three times the reference: its own level
    1
    """
    tau2 = (REFERENCE_CV * reference) ** 2
    z = _standardised(tally.district_x, tally.district_n, tally.district_nn, rho, reference, tau2)
    ordinary = (np.abs(z) <= ORDINARY_Z)[tally.district]                        # t × k × c
    return (np.broadcast_to(reference, ordinary.shape).copy(),
            np.where(ordinary, pooling_weight(reference, tau2)[None], 1.0))


def township_baselines(tally: Tally, rho: np.ndarray, spread: tuple[np.ndarray, np.ndarray, np.ndarray],
                       reference: np.ndarray | None = None) -> Baseline:
    """Each township against the other inspected townships of its district; where those are fewer
    problems than the township's own, against every other inspected township loaded. With three
    or more districts, the district's share is pooled toward the ordinary districts' share by as
    much as districts do not differ (:func:`district_prior`, ``spread``: :func:`between_district_spread`).
    With fewer, toward the ``reference`` shares (:func:`reference_shares`) where there are any, by
    as much as the reference is trusted (±``REFERENCE_CV``): a district office's thin ledger
    (partial coverage, mid-term) borrows the catalog's precision as a province's borrows its
    districts' (:func:`reference_prior`). A district that stands out from the reference keeps its
    own level."""
    xd, nd, nnd = tally.district_x, tally.district_n, tally.district_nn
    x_rest = xd[tally.district] - tally.x
    n_rest = nd[tally.district] - tally.n
    nn_rest = nnd[tally.district] - tally.nn
    x_all = tally.x.sum(axis=0) - tally.x
    n_all = tally.n.sum(axis=0) - tally.n
    nn_all = tally.nn.sum(axis=0) - tally.nn
    own = n_rest >= np.maximum(tally.n, 1)                       # t × k
    wide = ~own & (n_all >= np.maximum(tally.n, 1))
    if len(tally.districts) >= 3:
        prior = district_prior(tally, rho, spread, x_rest, n_rest, nn_rest)
    elif reference is not None:
        prior = reference_prior(tally, rho, reference)
    else:
        prior = (None, None)
    share_d, var_d = _posterior(x_rest, n_rest, nn_rest, rho, *prior)
    share_w, var_w = _posterior(x_all, n_all, nn_all, rho)
    share = np.where(own[:, :, None], share_d, share_w)
    share_var = np.where(own[:, :, None], var_d, var_w)
    usable = (own | wide) & (tally.n > 0)
    labels, reasons = [], []
    for t in range(len(tally.townships)):
        kinds = tally.n[t] > 0
        if usable[t][kinds].all():
            labels.append("district_peers" if own[t][kinds].all() else "wider_peers")
            reasons.append(None)
        elif usable[t].any():
            labels.append("district_peers" if own[t][usable[t]].all() else "wider_peers")
            reasons.append(None)
        else:
            labels.append(None)
            reasons.append("没有可比的已巡察乡镇(街道)：本区县和其他区县都没有足够的台账；"
                           "载入本区县其他乡镇(街道)或其他区县的台账后可检验")
    return Baseline(share, share_var, usable, labels, reasons)


def reference_shares(facts: LedgerFacts, categories: list[str]) -> tuple[np.ndarray | None, str | None]:
    """Each category's expected share of a village's problems, by kind, from the categories table's
    rates (the catalog's or the office's own: ``xuncha load categories``); None, with the reason,
    when a category of the ledger has no rate: a uniform share would be an invention.

    >>> from graph.model import CategoryIn
    >>> from graph.store import LedgerFacts
    >>> rated = [CategoryIn(name="低保", rate_village=0.1, rate_community=0.2),
    ...          CategoryIn(name="作风", rate_village=0.3, rate_community=0.2)]
    >>> shares, why = reference_shares(LedgerFacts([], [], [], [], [], rated), ["作风", "低保"])
    >>> shares[0].round(6).tolist(), why
    ([0.75, 0.25], None)
    >>> reference_shares(LedgerFacts([], [], [], [], [], [CategoryIn(name="低保")]), ["低保"])[1][:10]
    '问题类别“低保”没有'
    """
    rates = {c.name: c for c in facts.categories}
    shares = np.zeros((len(KINDS), len(categories)))
    for j, name in enumerate(categories):
        category = rates.get(name)
        if category is None or category.rate_village is None or category.rate_community is None:
            return None, (f"问题类别“{name}”没有参考比例(rate_village/rate_community)，区县层级无法与参考比较；"
                          "可用 xuncha load categories 载入带比例的问题类别表")
        if category.rate_village <= 0 or category.rate_community <= 0:
            # Nothing is expected against which a count could be judged: any count would be
            # infinitely surprising (p = 0), which is the table's silence, not evidence.
            return None, (f"问题类别“{name}”的参考比例为 0，零期望无法作为比较基准，区县层级未与参考比较；"
                          "请在问题类别表中填写正数比例 (a zero rate is no baseline)")
        shares[0, j], shares[1, j], shares[2, j] = category.rate_village, category.rate_community, category.rate_community
    totals = shares.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        return None, "问题类别参考比例全为 0，区县层级无法与参考比较"
    return shares / totals, None


def rate_gaps(facts: LedgerFacts, categories: list[str]) -> dict[str, str]:
    """The categories whose reference rate is missing (``"none"``) or zero (``"zero"``): with one
    district inspected, every district pair needs every category's rate (a category's share is its
    rate over the sum of all of them).

    >>> from graph.model import CategoryIn
    >>> rates = [CategoryIn(name="低保", rate_village=0.1, rate_community=0.2), CategoryIn(name="作风")]
    >>> rate_gaps(LedgerFacts([], [], [], [], [], rates), ["低保", "作风", "集体资金"])
    {'作风': 'none', '集体资金': 'none'}
    """
    rates = {c.name: c for c in facts.categories}
    gaps = {}
    for name in categories:
        c = rates.get(name)
        if c is None or c.rate_village is None or c.rate_community is None:
            gaps[name] = "none"
        elif c.rate_village <= 0 or c.rate_community <= 0:
            gaps[name] = "zero"
    return gaps


def untested_district_reason(category: str, gaps: dict[str, str]) -> str:
    """Why a district pair of ``category`` is not tested when one district has a ledger and some
    categories have no usable rate (:func:`rate_gaps`), naming the pair's own category and what
    would make it testable.

    >>> untested_district_reason("低保", {"作风": "none"})[:44]
    '只有一个区县有台账；问题类别“低保”有参考比例，但“作风”没有参考比例：各类别的参考份额'
    >>> "参考比例为 0" in untested_district_reason("低保", {"低保": "zero"})
    True
    """
    what = {"none": "没有参考比例", "zero": "的参考比例为 0"}
    if category in gaps:
        own = f"问题类别“{category}”{what[gaps[category]]}"
        if gaps[category] == "zero":
            own += "，零期望无法作为比较基准"
    else:
        first = sorted(gaps)[0]
        more = f"等 {len(gaps)} 个类别" if len(gaps) > 1 else ""
        own = (f"问题类别“{category}”有参考比例，但“{first}”{more}{what[gaps[first]]}："
               "各类别的参考份额要由全部类别的比例算出")
    return (f"只有一个区县有台账；{own}，区县层级未检验。在问题类别表中补齐正数比例(xuncha load categories)，"
            "或载入其他区县的台账后可检验；乡镇(街道)层级照常检验")


def district_baselines(tally: Tally, rho: np.ndarray, spread: tuple[np.ndarray, np.ndarray, np.ndarray],
                       reference: np.ndarray | None, reference_reason: str | None) -> Baseline:
    """Each district against the other districts with a ledger; with one district inspected,
    against the reference shares (uncertain by ``REFERENCE_CV``); else no test, and why."""
    xd, nd, nnd = tally.district_x, tally.district_n, tally.district_nn
    D = len(tally.districts)
    if D >= 2:
        share, share_var = _posterior(xd.sum(axis=0) - xd, nd.sum(axis=0) - nd, nnd.sum(axis=0) - nnd, rho)
        # Ordinary districts differ beyond their villages' variation (τ²): a district is a root
        # cause only beyond that spread.
        share_var = share_var + spread[2][None, :, :]
        usable = (nd.sum(axis=0) - nd > 0) & (nd > 0)
        return Baseline(share, share_var, usable, ["other_districts"] * D, [None] * D)
    if reference is not None:
        share = np.broadcast_to(reference, (D,) + reference.shape).copy()
        return Baseline(share, (REFERENCE_CV * share) ** 2, nd > 0, ["reference"] * D, [None] * D)
    why = ("只有一个区县有台账，" + (reference_reason or "问题类别没有参考比例")
           + "。区县层级未检验；乡镇(街道)层级照常检验")
    empty = np.zeros((D, len(KINDS), len(tally.categories)))
    return Baseline(empty, empty, np.zeros((D, len(KINDS)), dtype=bool), [None] * D, [why] * D)


# -- 4. the two lines of evidence ----------------------------------------------------------------------
def excess_moments(x, n, nn, baseline: Baseline, rho: np.ndarray):
    """Observed count, problems, null mean and null variance of every (area, category), over the
    kinds that have a baseline. The null: each village's count of the category given its total is
    beta-binomial with the baseline's share and the category's ρ (``rho``: per category, or per
    area and category); the share itself is uncertain (its posterior variance). Returns arrays a × c.
    """
    use = baseline.usable[:, :, None]
    xs, ns = np.where(use, x, 0.0), np.where(use[:, :, 0], n, 0.0)
    pairs = np.where(use[:, :, 0], nn - n, 0.0)
    observed = xs.sum(axis=1)
    trials = ns.sum(axis=1)[:, None] * np.ones_like(observed)
    mean = (ns[:, :, None] * baseline.share).sum(axis=1)
    s = baseline.share
    rho = rho[:, None, :] if rho.ndim == 2 else rho[None, None, :]  # per area (townships) or per category
    variance = (s * (1 - s) * (ns[:, :, None] + rho * pairs[:, :, None])
                + ns[:, :, None] ** 2 * baseline.share_var).sum(axis=1)
    return observed, trials, mean, variance


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


def excess_p_values(x, n, nn, baseline: Baseline, rho: np.ndarray):
    """Observed count, null mean and upper-tail p-value (:func:`excess_moments`) of every pair."""
    observed, trials, mean, variance = excess_moments(x, n, nn, baseline, rho)
    return observed, mean, excess_sf_array(observed, trials, mean, variance)


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


def recurrence_p_values(rectified, recurred, rectified_rest, recurred_rest):
    """Villages where a rectified category came back, against the baseline's villages (one-sided
    Fisher's exact test; the baseline's rate is itself uncertain). NaN where no test can be made:
    nothing rectified that a later round could have seen again, or no baseline.

    >>> recurrence_p_values(np.array([4.0]), np.array([4.0]), np.array([40.0]), np.array([2.0])).round(6).tolist()  # 15 / C(44, 4)
    [0.00011]
    """
    k, n = np.rint(recurred), np.rint(rectified)
    k_rest, n_rest = np.rint(recurred_rest), np.rint(rectified_rest)
    p = np.full(np.shape(k), np.nan)
    valid = (n > 0) & (n_rest > 0)
    p[valid & (k == 0)] = 1.0
    test = valid & (k > 0)
    if test.any():
        p[test] = np.minimum(1.0, stats.hypergeom.sf(k[test] - 1, (n + n_rest)[test], (k + k_rest)[test], n[test]))
    return p


def combine(p_excess: np.ndarray, p_recurrence: np.ndarray) -> np.ndarray:
    """Excess and recurrence are two views of one root; either may show it alone. The smaller
    p-value, doubled (Bonferroni), is valid whatever their dependence; a recurrence test that
    could not be made is no evidence either way.

    >>> combine(np.array([0.01, 0.01, 0.3]), np.array([np.nan, 0.2, 0.001])).tolist()
    [0.01, 0.02, 0.002]
    """
    both = ~np.isnan(p_recurrence)
    out = p_excess.copy()
    out[both] = np.minimum(1.0, 2 * np.minimum(p_excess[both], p_recurrence[both]))
    return out


# -- the whole run --------------------------------------------------------------------------------------
def surface_root_causes(facts: LedgerFacts, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> list[Candidate]:
    """Test every (township, category) and (district, category) pair with a ledger and a duty
    bearer, attribute each excess to the right level, and return every pair, best first;
    ``surfaced`` marks the candidates (never one whose confidence is below ``min_confidence``).

    Parameters
    ----------
    facts : LedgerFacts
        The store's aggregates: problems per township, village kind and category, units, duties.
    min_confidence : float
        ``1 - q`` (Benjamini–Hochberg, per level) a pair needs to be surfaced.

    Returns
    -------
    list of Candidate
        Sorted by ``surfaced``, ``tested``, then ``score`` (descending), area code and category.
        Pairs that could not be tested carry ``tested=False`` and the ``reason``.

    Examples
    --------
    Two districts of four townships; township 110101001 has far more 低保 problems than its
    neighbours and its unit bears primary duty for them:

    >>> from graph.store import LedgerCell, LedgerFacts, Unit, Duty
    >>> cells = []
    >>> for d in ("110101", "110102"):
    ...     for i in range(1, 5):
    ...         t = f"{d}00{i}"
    ...         low = 40 if t == "110101001" else 4
    ...         cells.append(LedgerCell(t, d, "village", "低保", 5, low, low, low, low, 0, 0, 0))
    ...         cells.append(LedgerCell(t, d, "village", "作风", 5, 30, 30, 30, 30, 0, 0, 0))
    >>> units = [Unit(f"{t}-ca", f"{t}民政办", "township", t, "civil_affairs")
    ...          for t in [c.township_code for c in cells[::2]]]
    >>> facts = LedgerFacts(cells, [], [], units, [Duty("低保", "township", "civil_affairs", "primary")], [])
    >>> top = surface_root_causes(facts)[0]
    >>> top.unit_id, top.level, top.surfaced, top.observed, round(top.expected, 1), top.baseline
    ('110101001-ca', 'township', True, 40, 8.5, 'district_peers')
    """
    tally = tally_ledger(facts)
    if not tally.townships:
        return []
    rho, rho_t = dispersions(tally)
    bearers = _duty_bearers(facts, set(tally.townships) | set(tally.districts))  # areas with a ledger only
    hints = _hint_counts(facts, tally)
    reference, reference_reason = reference_shares(facts, tally.categories)
    gaps = rate_gaps(facts, tally.categories)

    spread = between_district_spread(tally, rho)
    township_base = township_baselines(tally, rho, spread, reference)
    observed_t, trials_t, expected_t, variance_t = excess_moments(tally.x, tally.n, tally.nn, township_base, rho_t)
    p_sum_t = excess_sf_array(observed_t, trials_t, expected_t, variance_t)
    p_ex_t, _ = village_p_values(tally, township_base, rho_t, p_sum_t, facts.village_counts)
    rect_d, recur_d = tally.by_district(tally.rectified), tally.by_district(tally.recurred)
    p_rec_t = recurrence_p_values(tally.rectified, tally.recurred, rect_d[tally.district] - tally.rectified,
                                  recur_d[tally.district] - tally.recurred)

    district_base = district_baselines(tally, rho, spread, reference, reference_reason)
    # District pairs keep the sums: the per-village statistic was tried for them (saddlepoint
    # tail) and changed little, the spread between districts dominating their null.
    observed_d, expected_d, p_ex_d = excess_p_values(tally.district_x, tally.district_n, tally.district_nn,
                                                     district_base, rho)
    if len(tally.districts) >= 2:
        p_rec_d = recurrence_p_values(rect_d, recur_d, rect_d.sum(axis=0) - rect_d, recur_d.sum(axis=0) - recur_d)
    else:  # one district: no baseline for its recurrence. Other categories are none: a frequent
        # category is found again more often wherever it is, root or not.
        p_rec_d = np.full(rect_d.shape, np.nan)

    candidates: list[Candidate] = []
    levels = (("township", tally.townships, [tally.districts[d] for d in tally.district], township_base,
               observed_t, expected_t, p_ex_t, p_rec_t, p_sum_t),
              ("district", tally.districts, tally.districts, district_base, observed_d, expected_d, p_ex_d, p_rec_d,
               p_ex_d))
    for level, areas, area_districts, base, observed, expected, p_ex, p_rec, p_sum in levels:
        # Plain lists: indexing numpy arrays element by element costs more than the tests.
        # Pairs whose p-value the per-village test gave: their evidence says so, with the sums' p.
        by_villages = {(a, j): _sig(float(p_sum[a, j])) for a, j in np.argwhere(p_ex != p_sum).tolist()}
        p_all = combine(p_ex, p_rec).tolist()
        observed, expected = np.rint(observed).astype(int).tolist(), expected.tolist()
        p_ex, p_rec = p_ex.tolist(), np.where(np.isnan(p_rec), -1.0, p_rec).tolist()
        for a, area in enumerate(areas):
            tested = base.reason[a] is None
            name = facts.names.get(area, area)
            for j, category in enumerate(tally.categories):
                units = bearers.get((level, area, category))
                if not units:
                    continue
                if tested:
                    rec = p_rec[a][j] if p_rec[a][j] >= 0 else None
                    candidate = _candidate(level, area, name, area_districts[a], category, units, observed[a][j],
                                           expected[a][j], p_ex[a][j], rec, p_all[a][j], base.label[a], None, hints)
                else:  # no figures: an untested pair must not look tested
                    reason = (untested_district_reason(category, gaps) if level == "district" and gaps
                              else base.reason[a])
                    candidate = _candidate(level, area, name, area_districts[a], category, units, None, None, None,
                                           None, None, None, reason, hints)
                if by_villages and tested and (a, j) in by_villages:
                    candidate.evidence["p_excess_sum"] = by_villages[(a, j)]
                    candidate.evidence["test"] = "villages"
                candidates.append(candidate)

    for level in ("township", "district"):
        tested = [c for c in candidates if c.level == level and c.tested]
        if level == "township":
            # Weighted by each pair's chance of showing a cause (township_weights): pairs too
            # small to show one no longer dilute the false-discovery rate of those that can.
            row = {code: i for i, code in enumerate(tally.townships)}
            col = {category: j for j, category in enumerate(tally.categories)}
            at = (np.array([row[c.area_code] for c in tested], dtype=int),
                  np.array([col[c.category] for c in tested], dtype=int))
            mask = np.zeros(expected_t.shape, bool)
            mask[at] = True
            weights = township_weights(expected_t, variance_t, mask, 1 - min_confidence)[at]
            q_values = weighted_benjamini_hochberg([c.p_value for c in tested], weights)
            for c, w in zip(tested, np.round(weights, 3).tolist()):
                c.evidence["fdr_weight"] = w
        else:
            q_values = benjamini_hochberg([c.p_value for c in tested])
        for c, q in zip(tested, q_values):
            c.q_value = q
            c.surfaced = c.confidence >= min_confidence
    attribute_levels(candidates, tally, district_base, rho, min_confidence)
    add_evidence(candidates, tally, rho, rho_t)
    score_candidates(candidates, tally)
    candidates.sort(key=lambda c: (not c.surfaced, not c.tested, -round(c.score, 9),
                                   c.p_value if c.tested else 1.0, c.level, c.area_code, c.category))
    return candidates


# -- 5. attribution ------------------------------------------------------------------------------------
def attribute_levels(candidates: list[Candidate], tally: Tally, district_base: Baseline, rho: np.ndarray,
                     min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> None:
    """Settle each excess at one level, in place, by what the district shows outside its townships.

    * The townships of a surfaced district pair that pass for the category, on their own or in
      the family of the district's townships (hierarchical testing: a township is only tested
      there once its district pair stands), are *local*. Where they are fewer than half of the
      district's inspected townships, the district pair is tested again without them
      (:func:`rest_of_district`: excess and recurrence).
    * The rest shows the excess or the recurrence at the discovery level (``1 - min_confidence``),
      or the local townships are more than half: the excess is the district's. Its surfaced
      townships are withdrawn, ``explained_by`` the district unit.
    * The rest shows nothing (p above both the district level's cut-off and ``REST_LEVEL``) and
      its count fits the baseline better than the district's rate: the excess was the local
      townships'. The district pair is withdrawn, ``explained_by`` them, and they are surfaced with
      the confidence of the family they passed in.
    * In between (the rest shows a little, not enough to be a discovery of its own): both stand.
      A district cannot take a township's discovery on evidence that lies in that township.

    A district pair whose excess alone would not stand (it stands on recurrence) says so in its
    ``reason``, with the townships its recurrences are concentrated in, where a few hold them. The
    withdrawn side carries ``explaining_p_values``: the p-value of each pair that explains it.
    No pair is ever surfaced here that did not pass the threshold on its own test.
    """
    inside = defaultdict(list)
    for c in candidates:
        if c.level == "township" and c.tested:
            inside[(c.district_code, c.category)].append(c)
    passed = [c.p_value for c in candidates if c.level == "district" and c.surfaced]
    cutoff = max(passed) if passed else 0.0
    alpha = 1 - min_confidence
    by_pair = defaultdict(list)
    promoted: dict[tuple[str, str], float] = {}  # townships that pass only in their district's family, with that q
    for c in candidates:
        if c.level == "district" and c.surfaced:
            # Hierarchical testing: once a district pair stands, its townships are tested again
            # in the family of that district's townships (Benjamini–Hochberg within it).
            family = inside.get((c.area_code, c.category), [])
            for t, q in zip(family, benjamini_hochberg([t.p_value for t in family])):
                if t.surfaced or (alpha > 0 and q <= alpha):
                    by_pair[(c.area_code, c.category)].append(t)
                    if not t.surfaced:
                        promoted[(t.area_code, t.category)] = q
    ti = {t: i for i, t in enumerate(tally.townships)}
    di = {d: i for i, d in enumerate(tally.districts)}
    ci = {c: i for i, c in enumerate(tally.categories)}
    district_wide: dict[tuple[str, str], Candidate] = {}  # district pairs whose excess is theirs
    for c in candidates:
        if not (c.level == "district" and c.surfaced):
            continue
        d, j = di[c.area_code], ci[c.category]
        if c.p_excess > alpha:
            c.reason = recurrence_alone_note(c, tally, d, j, district_base, rho, alpha, inside)
        local = by_pair.get((c.area_code, c.category), [])
        if not local or 2 * len(local) >= int((tally.district == d).sum()):
            district_wide[(c.area_code, c.category)] = c  # none stand out, or half or more: spread
            continue
        rest_excess, rest_rec, spread_fits = rest_of_district(
            tally, d, j, [ti[t.area_code] for t in local], district_base, rho,
            c.observed / c.expected if c.expected > 0 else 1.0)
        # either line of evidence showing in the rest keeps it the district's (combined with a
        # recurrence line that shows nothing, a clear excess would be diluted away)
        rest = min(rest_excess, float(combine(np.array([rest_excess]), np.array([rest_rec]))[0]))
        c.evidence["p_without_local_townships"] = _sig(rest)
        c.evidence["p_excess_without_local_townships"] = _sig(rest_excess)
        if not np.isnan(rest_rec):
            c.evidence["p_recurrence_without_local_townships"] = _sig(rest_rec)
        if spread_fits:
            c.evidence["rest_fits_district_rate"] = True
        if rest <= alpha:
            district_wide[(c.area_code, c.category)] = c
        elif rest > max(cutoff, REST_LEVEL) and not spread_fits:
            # The rest shows no excess at all (not merely less than the cut-off): a district-wide
            # cause keeps an excess without a township or two, a township's cause leaves none.
            # Judged at REST_LEVEL, not at a discovery threshold: it only chooses between two
            # explanations of a pair that already stands (mid-term, with half the townships
            # inspected, a district-wide cause often shows clearly in only a few of them).
            c.surfaced = False
            c.explained_by = sorted(t.area_code for t in local)
            c.evidence["explaining_p_values"] = {t.area_code: _sig(t.p_value) for t in local}
        # else both stand: the district shows something outside its local townships, but not
        # enough to take their discoveries from them
        if (c.area_code, c.category) not in district_wide:
            for t in local:
                if not t.surfaced:
                    t.q_value = promoted[(t.area_code, t.category)]
                    t.surfaced = True
                    t.evidence["tested_within_district"] = c.area_code
    for c in candidates:
        cause = district_wide.get((c.district_code, c.category)) if c.level == "township" else None
        if cause is not None and c.surfaced:
            c.surfaced = False
            c.explained_by = [cause.unit_id]
            c.evidence["explaining_p_values"] = {cause.area_code: _sig(cause.p_value)}


def rest_of_district(tally: Tally, d: int, j: int, rows: list[int], district_base: Baseline, rho: np.ndarray,
                     ratio: float) -> tuple[float, float, bool]:
    """District ``d``'s pair of category ``j`` without the townships ``rows``: the excess p-value
    of the rest, its recurrence p-value against the other districts (NaN where no test can be
    made), and whether the rest's count fits the district's own rate (``ratio`` × the baseline)
    better than the baseline (:func:`district_wide_fits`)."""
    x = tally.district_x[d:d + 1] - tally.x[rows].sum(axis=0, keepdims=True)
    n = tally.district_n[d:d + 1] - tally.n[rows].sum(axis=0, keepdims=True)
    nn = tally.district_nn[d:d + 1] - tally.nn[rows].sum(axis=0, keepdims=True)
    base = Baseline(district_base.share[d:d + 1], district_base.share_var[d:d + 1],
                    district_base.usable[d:d + 1] & (n > 0), district_base.label[d:d + 1],
                    district_base.reason[d:d + 1])
    observed, trials, mean, variance = excess_moments(x, n, nn, base, rho)
    p_excess = float(excess_sf_array(observed, trials, mean, variance)[0, j])
    fits = district_wide_fits(float(observed[0, j]), float(mean[0, j]), float(variance[0, j]), ratio)
    in_district = tally.district == d
    rectified = tally.rectified[in_district, j].sum() - tally.rectified[rows, j].sum()
    recurred = tally.recurred[in_district, j].sum() - tally.recurred[rows, j].sum()
    rest_n = tally.rectified[~in_district, j].sum()  # 0 with one district: no test
    rest_k = tally.recurred[~in_district, j].sum()
    p_rec = recurrence_p_values(np.array([rectified]), np.array([recurred]), np.array([rest_n]), np.array([rest_k]))
    return p_excess, float(p_rec[0]), fits


# At most this many townships are named as where a district's recurrences are concentrated.
CONCENTRATED_MAX = 3


def recurrence_alone_note(c: Candidate, tally: Tally, d: int, j: int, district_base: Baseline, rho: np.ndarray,
                          alpha: float, inside: dict) -> str:
    """The reason of a district pair that stands on recurrence alone (its excess test would not
    surface it): said in so many words, with the townships its recurrences are concentrated in,
    the fewest (up to ``CONCENTRATED_MAX``, most recurrences first) without which the rest of the
    district shows no recurrence at ``alpha``; none named where they are spread wider."""
    rows = np.flatnonzero(tally.district == d)
    by_count = sorted(rows.tolist(), key=lambda t: (-tally.recurred[t, j], tally.townships[t]))
    names = {t.area_code: t.area_name for t in inside.get((c.area_code, c.category), [])}
    total = int(tally.recurred[rows, j].sum())
    head = (f"仅凭整改后复发成立：问题数 {c.observed} 个，期望 {c.expected:.1f} 个，超出检验 p={_sig(c.p_excess):g}；"
            f"复发检验 p={_sig(c.p_recurrence or 1.0):g}")
    for size in range(1, min(CONCENTRATED_MAX, len(rows) - 1) + 1):
        chosen = [t for t in by_count[:size] if tally.recurred[t, j] > 0]
        if len(chosen) < size:
            break
        _, rest_rec, _ = rest_of_district(tally, d, j, chosen, district_base, rho, 1.0)
        if np.isnan(rest_rec) or rest_rec > alpha:
            held = int(tally.recurred[chosen, j].sum())
            where = "、".join(names.get(tally.townships[t], tally.townships[t]) for t in chosen)
            return (f"{head}；复发集中于 {where}（{total} 个复发村中 {held} 个，其余乡镇(街道)复发检验 "
                    f"p={_sig(rest_rec) if not np.isnan(rest_rec) else 1:g}）")
    return f"{head}；复发分布于本区县多个乡镇(街道)"


def district_wide_fits(observed: float, mean: float, variance: float, ratio: float) -> bool:
    """Whether the count of a district's other townships (null ``mean`` and ``variance``) is more
    likely at the district's own rate (``ratio`` × the baseline, a district-wide cause) than at
    the baseline (a cause of the local townships only): normal likelihoods of the two.

    >>> district_wide_fits(60, 40.0, 44.0, 1.8)   # the rest is raised as the district is
    True
    >>> district_wide_fits(43, 40.0, 44.0, 1.8)   # the rest is ordinary: the excess was local
    False
    """
    if ratio <= 1.0 or variance <= 0 or mean <= 0:
        return False
    wide = stats.norm.logpdf(observed, ratio * mean, math.sqrt(ratio * variance))
    return bool(wide > stats.norm.logpdf(observed, mean, math.sqrt(variance)))


# -- 6. evidence and score ------------------------------------------------------------------------------
def add_evidence(candidates: list[Candidate], tally: Tally, rho: np.ndarray, rho_t: np.ndarray | None = None) -> None:
    """Villages inspected and affected, money, severity, rectified and recurred villages, and the
    ρ each pair's test used (``rho_t``: the township pairs', without their own villages)."""
    ti = {t: i for i, t in enumerate(tally.townships)}
    di = {d: i for i, d in enumerate(tally.districts)}
    ci = {c: i for i, c in enumerate(tally.categories)}
    present = (tally.x.sum(axis=1) > 0).astype(float)
    tables = {}
    for level, reduce in (("township", lambda a: a), ("district", tally.by_district)):
        tables[level] = [np.round(reduce(a), 2).tolist() for a in (tally.affected, tally.amount, tally.weight,
                                                                     tally.rectified, tally.recurred, present)]
        tables[level].append(reduce(tally.inspected[:, None])[:, 0].tolist())
    townships_inspected = np.bincount(tally.district, minlength=len(tally.districts)).tolist()
    rhos = [round(float(r), 4) for r in rho]
    township_rhos = np.round(rho_t, 4).tolist() if rho_t is not None else None
    for c in candidates:
        level_index = ti if c.level == "township" else di
        a, j = level_index[c.area_code], ci[c.category]
        affected, amount, weight, rectified, recurred, present_in, inspected = tables[c.level]
        c.evidence["villages_inspected"] = int(inspected[a])
        c.evidence["villages_affected"] = int(affected[a][j])
        c.evidence["amount_yuan"] = amount[a][j]
        c.evidence["severity_weight"] = weight[a][j]
        c.evidence["villages_rectified"] = int(rectified[a][j])
        c.evidence["recurrences"] = int(recurred[a][j])
        c.evidence["dispersion_rho"] = (township_rhos[a][j] if township_rhos is not None and c.level == "township"
                                        else rhos[j])
        if c.level == "district":
            c.evidence["townships_affected"] = int(present_in[a][j])
            c.evidence["townships_inspected"] = townships_inspected[a]
            c.evidence["townships"] = tally.loaded_townships.get(c.area_code, townships_inspected[a])


def score_candidates(candidates: list[Candidate], tally: Tally) -> None:
    """``score = −log10(p) · √(severity ratio) · (1 + hint share)``: the severity ratio is the
    pair's mean severity weight over the ledger's; the hint share, the share of its problems whose
    inspectors pointed at one of its duty bearers."""
    total_issues = tally.x.sum()
    mean_weight = tally.weight.sum() / total_issues if total_issues else 1.0
    for c in candidates:
        w = c.evidence.get("severity_weight", 0.0)
        severity_ratio = (w / c.observed / mean_weight) if c.observed and mean_weight else 1.0
        hint_share = c.evidence["hints"] / c.observed if c.observed else 0.0
        c.score = (-math.log10(max(c.p_value, 1e-300)) * math.sqrt(severity_ratio) * (1.0 + hint_share)
                   if c.tested else 0.0)


def _hint_counts(facts: LedgerFacts, tally: Tally) -> dict[tuple[str, str, str], int]:
    """(area, category, unit) -> problems whose inspectors named the unit, for townships and districts."""
    district_of = {t: tally.districts[d] for t, d in zip(tally.townships, tally.district)}
    hints: dict[tuple[str, str, str], int] = defaultdict(int)
    for h in facts.hints:
        hints[(h.township_code, h.category, h.unit_id)] += h.issues
        hints[(district_of.get(h.township_code, h.township_code[:6]), h.category, h.unit_id)] += h.issues
    return hints


def _duty_bearers(facts: LedgerFacts, areas: set[str] | None = None) -> dict[tuple[str, str, str], list[tuple[int, str, str, str]]]:
    """(level, area, category) -> [(duty order, unit_id, unit name, duty)] from units and duties,
    for the units of ``areas`` (every unit without it)."""
    order = {duty.value: rank for duty, rank in DUTY_ORDER.items()}
    by_function: dict[tuple[str, str], list[tuple[str, int, str]]] = defaultdict(list)
    for d in facts.duties:
        by_function[(d.level, d.function)].append((d.category, order[d.duty], d.duty))
    out: dict[tuple[str, str, str], list] = defaultdict(list)
    for u in facts.units:
        if areas is not None and u.area_code not in areas:
            continue
        for category, rank, duty in by_function.get((u.level, u.function), ()):
            out[(u.level, u.area_code, category)].append((rank, u.unit_id, u.name, duty))
    for bearers in out.values():
        if len(bearers) > 1:
            bearers.sort()
    return out


def _candidate(level, area, area_name, district, category, units, observed, expected, p_excess, p_rec, p_value,
               baseline, reason, hints) -> Candidate:
    # The answering unit: the one inspectors hinted at most, else the highest duty (primary first).
    # (``units`` is sorted by duty order and unit id, so without hints the first one answers.)
    # Positional arguments: this runs once per tested pair, tens of thousands of times.
    best, hinted = 0, 0
    if hints:
        counts = [hints.get((area, category, u[1]), 0) for u in units]
        hinted = sum(counts)
        if hinted:
            best = min(range(len(units)), key=lambda i: (-counts[i], units[i][0], units[i][1]))
    _, unit_id, unit_name, duty = units[best]
    tested = reason is None
    return Candidate(level, area, area_name, district, category, unit_id, unit_name, duty, units, observed, expected,
                     p_excess, p_rec, p_value, baseline, tested, reason, 1.0 if tested else None, 0.0, False, [],
                     {"hints": hinted})
