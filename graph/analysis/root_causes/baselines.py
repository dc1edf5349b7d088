"""Step 3: the share each area is compared with, with its own uncertainty, and the reason where no
valid baseline exists: townships against their district's other townships (pooled toward the
ordinary districts or the reference rates), districts against the other districts or the rates."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...store import LedgerFacts
from .dispersion import _design_effect
from .spread import (ORDINARY_Z, between_district_spread, likely_causes,  # noqa: F401  (the doctests)
                     MIN_OWN_CELLS, SPREAD_MIN_EXPECTED, OwnSpread, category_spreads, composition_free_deviation,
                     median_noise, pooling_weight, relative_spread, spread_posterior)
from .tally import KINDS, Tally, tally_ledger  # noqa: F401


# How far a district's share of a category may stand from a reference rate (catalog, office table)
# without a cause, one standard deviation as a share of the rate, where the district's own
# categories cannot tell (fewer than MIN_OWN_CELLS of them: reference_tolerance); elsewhere it is
# what they show (reference_spread), whatever its size, and an office is told it where it is more.
RATES_TOLERANCE = 0.10


@dataclass
class Baseline:
    """Expected shares and their uncertainty for a set of areas (a × k × c), and per area the
    name of the baseline, or the reason no test can be made."""

    share: np.ndarray
    share_var: np.ndarray
    usable: np.ndarray        # a × k: kinds with a baseline
    label: list[str | None]   # per area
    reason: list[str | None]  # per area, where nothing is usable
    # the part of ``share_var`` that is the spread between areas beyond their villages (a
    # district's own difference, the same in each of its kinds: no weighting of kinds escapes it)
    spread_var: np.ndarray | None = None
    # per area, against the reference rates: the tolerance is assumed (±RATES_TOLERANCE), its
    # categories too few to show how far the district stands from the rates
    assumed: np.ndarray | None = None
    # per area, against the reference rates: what its own cells say of its spread from them
    # (.spread.OwnSpread; None where assumed), over which its test's tails are averaged
    own_spread: list | None = None


def _standardised(x: np.ndarray, n: np.ndarray, nn: np.ndarray, rho: np.ndarray, centre: np.ndarray,
                  tau2: np.ndarray) -> np.ndarray:
    """How many standard errors each area's own share lies from ``centre`` (k × c, or a × k × c:
    each area its own), areas differing by ``tau2`` beyond their villages' variation; 0 where an
    area has no problems."""
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(n[:, :, None] > 0, x / n[:, :, None], centre)
        sampling = centre * (1 - centre) * _design_effect(n, nn, rho) / np.maximum(n[:, :, None], 1)
        return np.nan_to_num((own - centre) / np.sqrt(sampling + tau2))


def _posterior(x_rest: np.ndarray, n_rest: np.ndarray, nn_rest: np.ndarray, rho: np.ndarray,
               prior_share: np.ndarray | None = None, prior_weight: np.ndarray | None = None):
    """The baseline's share and its variance. The prior is the share over every inspected area
    with the weight that the spread between districts allows (empirical Bayes, see
    :func:`pooling_weight`), or Jeffreys' (never exactly 0 or 1) where nothing can be
    pooled. The baseline's own village clustering shrinks its effective size by the design effect."""
    if prior_share is None:
        prior_share, prior_weight = np.full(x_rest.shape[1:], 0.5), np.ones(x_rest.shape[1:])
    design = _design_effect(n_rest, nn_rest, rho)
    effective = (n_rest if n_rest.ndim == 3 else n_rest[:, :, None]) / design
    share = (x_rest / design + prior_weight * prior_share) / (effective + prior_weight)
    return share, share * (1 - share) / (effective + prior_weight + 1.0)


def _ordinary_rest(rho: np.ndarray, spread, x_rest, n_rest, nn_rest) -> np.ndarray:
    """Where the rest of each township's district (t × k × c) is within ``ORDINARY_Z`` standard
    errors of the ordinary districts' share, given how much ordinary districts differ."""
    centre, tau2_usual = spread[3], spread[2]
    return np.abs(_standardised(x_rest, n_rest, nn_rest, rho, centre, tau2_usual)) <= ORDINARY_Z


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
    share, tau2_all, tau2_usual, centre = spread[:4]
    ordinary = _ordinary_rest(rho, spread, x_rest, n_rest, nn_rest)
    return (np.where(ordinary, centre[None], share[None]),
            np.where(ordinary, pooling_weight(centre, tau2_usual)[None], pooling_weight(share, tau2_all)[None]))


def _at(level: np.ndarray, log_g: np.ndarray) -> np.ndarray:
    """Shares at ``level`` with their odds multiplied by ``exp(log_g)``."""
    g = np.exp(log_g)
    return level * g / (1 + level * (g - 1))


def _fitted_level(x: np.ndarray, n: np.ndarray, design: np.ndarray, level: np.ndarray,
                  prior_var: np.ndarray, counted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log g`` (… × c) fitted to the ``counted`` kinds' counts (… × k × c: ``x`` of ``n``
    problems at shares ``level`` moved by ``g`` on the odds, each count widened by its
    ``design`` effect) by Fisher scoring from a normal prior of variance ``prior_var`` around 0;
    and its information (the inverse of its variance)."""
    log_g = np.zeros(prior_var.shape)
    for _ in range(8):
        s = _at(level, log_g[..., None, :])
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(counted, (x - n * s) / design, 0.0).sum(axis=-2) - log_g / prior_var
            information = 1 / prior_var + np.where(counted, n * s * (1 - s) / design, 0.0).sum(axis=-2)
        log_g = log_g + np.clip(np.nan_to_num(score / information), -2.0, 2.0)
    s = _at(level, log_g[..., None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        information = 1 / prior_var + np.where(counted, n * s * (1 - s) / design, 0.0).sum(axis=-2)
    return log_g, information


def between_kind_spread(tally: Tally, rho: np.ndarray, spread) -> np.ndarray:
    """Per category, how far a district's kinds differ beyond one multiplier of the odds (the
    relative spread φ_c, ``τ² = φ_c · π(1 − π)``, :func:`.spread.category_spreads`): each
    district's share of a category in its other kinds against the one its main kind's
    multiplier predicts, over every district, robustly (medians: a district whose communities
    stand apart from its villages does not count), each category's toward every category's as
    far as they do not differ beyond their noise. 1.0 (no borrowing between kinds) where too few
    cells tell it.

    >>> from graph.store import LedgerCell, Exposure, LedgerFacts
    >>> rng = np.random.default_rng(5)
    >>> def ledger(apart):
    ...     cells, exposure = [], []
    ...     for d in range(1, 25):
    ...         g = rng.gamma(1 / 0.18, 0.18)           # districts differ (φ = 0.02 at 10 %)
    ...         for kind, share, n, lift in (("village", 0.1, 800, g), ("community", 0.15, 300, g * rng.gamma(1 / apart, apart))):
    ...             for c, p in enumerate([share * lift, 0.3, 0.2, 0.25, 0.15]):
    ...                 x = int(rng.binomial(n, p / (share * lift + 0.9)))
    ...                 cells.append(LedgerCell(f"5001{d:02d}001", f"5001{d:02d}", kind, f"类别{c}", 10, x, x, x, x, 0, 0, 0))
    ...             exposure.append(Exposure(f"5001{d:02d}001", f"5001{d:02d}", kind, 10, 10, n, n * n // 10))
    ...     tally = tally_ledger(LedgerFacts(cells, exposure, [], [], [], []))
    ...     return between_kind_spread(tally, np.zeros(5), between_district_spread(tally, np.zeros(5)))[tally.categories.index("类别0")]
    >>> bool(ledger(1e-6) < 0.005)      # one multiplier in both kinds
    True
    >>> bool(ledger(0.3) > 0.01)        # each district's communities their own (φ ≈ 0.05 at 15 %)
    True
    """
    centre = spread.centre
    xd, nd = tally.district_x, tally.district_n
    if len(tally.districts) < 3:
        return np.ones(len(tally.categories))
    main = int(np.argmax(nd.sum(axis=0)))
    design = _design_effect(nd, tally.district_nn, rho)                              # d × k × c
    with np.errstate(divide="ignore", invalid="ignore"):
        own_main = (xd[:, main] + 0.5) / (nd[:, main][:, None] + 1.0)                 # d × c
        log_g = (np.log(own_main / (1 - own_main)) - np.log(centre[main] / (1 - centre[main])))
        log_g_var = design[:, main] / (nd[:, main][:, None] * own_main * (1 - own_main))
        z2, size, expected = [], [], []
        for k in range(nd.shape[1]):
            if k == main:
                continue
            rows = (nd[:, k] > 0) & (nd[:, main] > 0)
            s = _at(centre[k][None], log_g[rows])
            sampling = s * (1 - s) * design[rows, k] / nd[rows, k][:, None]
            predicted = (s * (1 - s)) ** 2 * log_g_var[rows]
            z2.append((xd[rows, k] / nd[rows, k][:, None] - s) ** 2 / (sampling + predicted))
            size.append(s * (1 - s) / (sampling + predicted))
            expected.append(nd[rows, k][:, None] * s)
    if not z2:
        return np.ones(len(tally.categories))
    z2, size, expected = np.concatenate(z2), np.concatenate(size), np.concatenate(expected)
    phi = category_spreads(z2, size, expected)
    if phi is None:
        return np.ones(len(tally.categories))
    # A median of a few dozen cells reads 0 as often as not where kinds differ a little, and a 0
    # let a kind borrow another's level as if it were its own (a 街道 whose district's communities
    # stood apart from its villages surfaced three times as often): one standard error of the
    # estimate (.spread.median_noise) is added, so what is borrowed is never taken as exact.
    cells = np.isfinite(z2) & (expected >= SPREAD_MIN_EXPECTED) & (size > 0)
    noise = median_noise(float(np.median(phi)), float(np.median(size[cells])), int(cells.sum()))
    return phi + math.sqrt(float(noise))


def district_level(tally: Tally, rho: np.ndarray, spread, x_rest: np.ndarray, n_rest: np.ndarray,
                   nn_rest: np.ndarray, kinds_apart: np.ndarray | float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The share each township's baseline (t × k × c) is pooled toward, and its weight in problems,
    read from the other kinds of the rest of its district: the district's level of a category as
    one multiplier ``g`` of the odds in all its kinds, whose prior is how far ordinary districts
    differ (``tau2_usual`` around ``centre``; ``tau2_all`` around the share over every area where
    the rest of the district stands out, as :func:`district_prior` judges), fitted to the other
    kinds' counts (:func:`_fitted_level`), the prior as wide as the widest kind's. The kind's share
    at that ``g`` is uncertain by ``g``'s uncertainty, by the ordinary share's own, and by how far
    a district's kinds differ beyond one multiplier (``kinds_apart``, :func:`between_kind_spread`,
    never read as exactly 0); where the kind's own count in the rest of the
    district stands more than ``ORDINARY_Z`` standard errors from it, the kind keeps the
    :func:`district_prior` alone (its kinds differ).

    A district's communities are few where its townships are rural: a 街道 of such a district,
    compared with the district's handful of communities pooled toward every district's, had a
    baseline ~2× too uncertain and high by a fifth (0.158 ± 0.022 where the share was 0.132), and
    its cause (p 2e-4) fell short; the district's villages tell its level as well.

    >>> from graph.store import LedgerCell, Exposure, LedgerFacts
    >>> cells, exposure = [], []
    >>> for d in range(1, 7):          # six districts: 20 % 低保 in villages, 10 % in communities
    ...     for t, kind, n in ((1, "village", 400), (2, "village", 400), (3, "community", 40), (4, "community", 200)):
    ...         code, x = f"50010{d}00{t}", (n // 5 if kind == "village" else n // 10)
    ...         x = x * 3 // 2 if d == 1 else x   # district 1: half as much again, in every kind
    ...         cells += [LedgerCell(code, code[:6], kind, "低保", 10, x, x, x, x, 0, 0, 0),
    ...                   LedgerCell(code, code[:6], kind, "作风", 10, n - x, n - x, n - x, n - x, 0, 0, 0)]
    ...         exposure.append(Exposure(code, code[:6], kind, 10, 10, n, n * n // 10))
    >>> tally = tally_ledger(LedgerFacts(cells, exposure, [], [], [], []))
    >>> rho = np.zeros(2)
    >>> spread = between_district_spread(tally, rho)
    >>> t = tally.townships.index("500101004")   # the district's larger community township
    >>> xd, nd, nnd = tally.district_x, tally.district_n, tally.district_nn
    >>> rest = (xd[tally.district] - tally.x, nd[tally.district] - tally.n, nnd[tally.district] - tally.nn)
    >>> c = tally.categories.index("低保")
    >>> share, weight = district_level(tally, rho, spread, *rest, kinds_apart=0.0)
    >>> round(float(share[t, 1, c]), 3), bool(weight[t, 1, c] > 500)   # 800 village problems: 0.15, firmly
    (0.153, True)
    >>> share, weight = district_level(tally, rho, spread, *rest, kinds_apart=1.0)
    >>> int(weight[t, 1, c])                                         # kinds that differ at will: nothing borrowed
    1
    """
    share_all, tau2_all, tau2_usual, centre = spread[:4]
    if kinds_apart is None:
        kinds_apart = between_kind_spread(tally, rho, spread)
    design = _design_effect(n_rest, nn_rest, rho)                                     # t × k × c
    n3 = np.broadcast_to(n_rest[:, :, None], x_rest.shape).astype(float)
    usual = _ordinary_rest(rho, spread, x_rest, n_rest, nn_rest).all(axis=1)[:, None, :]  # every kind, as district_prior                                          # t × 1 × c
    level = np.where(usual, centre[None], share_all[None])                            # t × k × c
    tau2 = np.where(usual, tau2_usual[None], tau2_all[None])
    counted = (level > 0) & (level < 1) & (n3 > 0)
    # the prior's width: the widest any kind of the rest of the district reads (a kind whose
    # districts seem not to differ would pin every kind to the ordinary share)
    with np.errstate(divide="ignore", invalid="ignore"):
        widths = np.where(counted, log_multiplier_variance(tau2, level * (1 - level)), 0.0)
    prior_var = np.maximum(np.nan_to_num(widths).max(axis=1), 1e-6)                 # t × c
    kinds = x_rest.shape[1]
    # each kind's level from the other kinds (k × t × c), the kind itself left out
    others = counted[None] & ~np.eye(kinds, dtype=bool)[:, None, :, None]
    log_g, information = _fitted_level(x_rest[None], n3[None], design[None], level[None], prior_var[None], others)
    predicted = np.stack([_at(level[:, k], log_g[k]) for k in range(kinds)], axis=1)  # t × k × c
    slope = predicted * (1 - predicted)
    # ... and as uncertain as the ordinary share it starts from (its problems over every district)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre_var = np.nan_to_num(slope ** 2 / (level * (1 - level) * np.maximum(tally.district_n.sum(axis=0), 1)[None, :, None]))
    variance = (slope ** 2 / np.moveaxis(information, 0, 1) + centre_var
                + np.broadcast_to(np.asarray(kinds_apart, float), level.shape[2:]) * slope)
    with np.errstate(divide="ignore", invalid="ignore"):
        # the kind's own count in the rest of the district against that level
        z = np.where(counted, (x_rest - n3 * predicted) / np.sqrt(n3 * slope * design + n3 ** 2 * variance), 0.0)
    holds = np.abs(np.nan_to_num(z)) <= ORDINARY_Z
    weight = np.where(holds, pooling_weight(predicted, variance), 1.0)
    return predicted, weight


def log_multiplier_variance(tau2: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """The variance of ``log g`` that a district's share varies by ``tau2`` around a share of
    binomial variance ``spread`` (``π(1 − π)``) means: ``τ² / (π(1 − π))²``, the share's slope in
    ``log g`` being ``π(1 − π)``.

    >>> float(log_multiplier_variance(np.array(0.0009), np.array(0.09)))   # ±0.03 around 0.1: log g ± 0.33
    0.11111111111111112
    """
    return tau2 / spread ** 2


def reference_prior(tally: Tally, rho: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where fewer than three districts have a ledger: the share each township's baseline is pooled
    toward, and its weight in problems (t × k × c). The reference shares, trusted as far as the
    district's categories differ from them (:func:`reference_tolerance`), where the township's
    district as a whole is within ``ORDINARY_Z`` standard errors of them; else none (a weight of one problem): a district whose
    share stands out (a district-wide cause, local conditions) keeps its own level. The whole
    district decides, so its townships are judged alike, and a township with a cause of its own
    only makes the district less ordinary (no pooling, the cautious side).

    >>> from graph.store import LedgerCell, Exposure, LedgerFacts
    >>> cells, exposure = [], []
    >>> for t in range(1, 5):
    ...     code = f"500101{t:03d}"
    ...     cells += [LedgerCell(code, "500101", "village", "低保", 10, 30, 30, 30, 30, 0, 0, 0),
    ...               LedgerCell(code, "500101", "village", "作风", 10, 70, 70, 70, 70, 0, 0, 0)]
    ...     exposure.append(Exposure(code, "500101", "village", 10, 10, 100, 100))
    >>> tally = tally_ledger(LedgerFacts(cells, exposure, [], [], [], []))
    >>> near, weight = reference_prior(tally, np.zeros(2), np.array([[0.3, 0.7]] * 3))
    >>> float(near[0, 0, 0]), int(weight[0, 0, 0])     # the district agrees (its ±10 %, two categories): pooled
    (0.3, 232)
    >>> far, weight = reference_prior(tally, np.zeros(2), np.array([[0.1, 0.9]] * 3))
    >>> int(weight[0, 0, 0])                           # three times the reference: its own level
    1
    """
    tau2 = reference_tolerance(tally, rho, reference)[0]                       # d × k × c
    z = _standardised(tally.district_x, tally.district_n, tally.district_nn, rho, reference, tau2)
    ordinary = (np.abs(z) <= ORDINARY_Z)[tally.district]                        # t × k × c
    return (np.broadcast_to(reference, ordinary.shape).copy(),
            np.where(ordinary, pooling_weight(reference, tau2)[tally.district], 1.0))


def tolerance_widened(tolerance: float | None) -> bool:
    """Whether a district pair's ``reference_tolerance`` is more than ``RATES_TOLERANCE`` as printed
    (whole percent): where the office is told how far its own mix lets it stand from the rates.

    >>> tolerance_widened(0.104), tolerance_widened(0.43), tolerance_widened(None)
    (False, True, False)
    """
    return tolerance is not None and round(tolerance * 100) > round(RATES_TOLERANCE * 100)


def reference_tolerance(tally: Tally, rho: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """How far each district's shares (d × k × c) may stand from the ``reference`` shares without
    a cause, and the part of it that is the district's own, one difference in every kind alike (its
    ``spread_var``): the local difference its own categories show (:func:`reference_spread`), all
    of it the district's own; where they are too few to show it, ``RATES_TOLERANCE`` of the rates,
    each rate's own (the village one's and the community one's apart); and per district the
    cells it was read from. The district's test allows it (and says where it is assumed:
    :func:`district_baselines`), and its townships' baselines are pooled toward the rates only
    where the district is within it.

    >>> from graph.store import LedgerCell, Exposure, LedgerFacts
    >>> cells = [LedgerCell("500101001", "500101", "village", c, 10, x, x, x, x, 0, 0, 0)
    ...          for c, x in (("低保", 20), ("作风", 80))]
    >>> tally = tally_ledger(LedgerFacts(cells, [Exposure("500101001", "500101", "village", 10, 10, 100, 100)],
    ...                                  [], [], [], []))
    >>> tolerance, own, cells, _ = reference_tolerance(tally, np.zeros(2), np.array([[0.2, 0.8]] * 3))
    >>> round(float(np.sqrt(tolerance[0, 0, 0]) / 0.2), 6), float(own[0, 0, 0]), cells.tolist()   # two cannot tell
    (0.1, 0.0, [2])
    """
    local, cells, posteriors = reference_spread(tally, rho, reference)
    unread = np.isnan(local)
    assumed = (RATES_TOLERANCE * np.broadcast_to(reference, local.shape)) ** 2
    return np.where(unread, assumed, local), np.where(unread, 0.0, local), cells, posteriors


def last_term_prior(tally: Tally, rho: np.ndarray, prior: tuple, own_history: Baseline,
                    x_rest: np.ndarray, n_rest: np.ndarray, nn_rest: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The prior of each township's baseline (t × k × c) where its district has a last term
    (``own_history``: the district's share then, moved by the other districts' trend, and its
    uncertainty, :func:`.terms.term_test`): that share, weighing as many problems as it is precise
    (``π(1 − π)/var − 1``), where the rest of the district this term is within ``ORDINARY_Z``
    standard errors of it; ``prior`` (the peers' or the reference's) elsewhere. A district that
    differs from others for local reasons has the same reasons in both terms: its last term knows
    its level, the peers do not. A district whose share moved this term (a district-wide cause)
    keeps its own level, as against its peers. Returns the prior and where the last term is it
    (t × k × c)."""
    share_h = own_history.share[tally.district]
    var_h = own_history.share_var[tally.district]
    usable = own_history.usable[tally.district][:, :, None] & (var_h > 0)
    ordinary = np.abs(_standardised(x_rest, n_rest, nn_rest, rho, share_h, var_h)) <= ORDINARY_Z
    weight = pooling_weight(share_h, var_h)
    prior_share, prior_weight = prior
    if prior_share is None:
        prior_share, prior_weight = np.full(share_h.shape, 0.5), np.ones(share_h.shape)
    use = usable & ordinary
    return (np.where(use, share_h, prior_share), np.where(use, weight, prior_weight)), use


def township_baselines(tally: Tally, rho: np.ndarray, spread: tuple[np.ndarray, np.ndarray, np.ndarray],
                       reference: np.ndarray | None = None, own_history: Baseline | None = None) -> Baseline:
    """Each township against the other inspected townships of its district; where those are fewer
    problems than the township's own and there is no district level to pool them toward, against
    every other inspected township loaded. With three
    or more districts, the district's share is pooled toward the ordinary districts' share by as
    much as districts do not differ (:func:`district_prior`, ``spread``: :func:`between_district_spread`).
    With fewer, toward the ``reference`` shares (:func:`reference_shares`) where there are any, by
    as much as the district's own categories trust it (:func:`reference_tolerance`): a district
    office's thin ledger (partial coverage, mid-term) borrows the catalog's precision as a province's borrows its
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
    # A district level to pool toward (the other districts', the reference's, its own last term's):
    # a township whose district has too few other inspected townships is compared with what there
    # is of them, pooled toward it by as much as districts differ, not with every other township
    # loaded as if its district could not differ. Between districts that differ for local reasons
    # (φ = 0.02), 江北区's 石马河街道, most of its district's communities, stood at p 3e-10 against
    # the province's communities (47 found, 13.3 expected) with no cause: its district's share is
    # twice the province's.
    informed = np.full(x_rest.shape, len(tally.districts) >= 3 or reference is not None)
    if own_history is not None:
        prior, from_history = last_term_prior(tally, rho, prior, own_history, x_rest, n_rest, nn_rest)
        informed = informed | from_history
    if len(tally.districts) >= 3:
        # the district's level read from its other kinds too, where they agree (district_level)
        level, weight = district_level(tally, rho, spread, x_rest, n_rest, nn_rest)
        # ... where it is the more precise of the two: between districts that do not differ the
        # ordinary share is known better than any one district's level can be read from its other
        # kinds, and pooled toward that level instead, standard (c) lost 4 of 66 townships
        borrowed = weight > prior[1] if prior[1] is not None else weight > 1.0
        if own_history is not None:
            borrowed &= ~from_history
        prior = (np.where(borrowed, level, prior[0]), np.where(borrowed, weight, prior[1]))
    share_d, var_d = _posterior(x_rest, n_rest, nn_rest, rho, *prior)
    share_w, var_w = _posterior(x_all, n_all, nn_all, rho)
    pooled = own[:, :, None] | (informed & ((tally.n > 0) & (n_all > 0))[:, :, None])  # others inspected
    share = np.where(pooled, share_d, share_w)
    share_var = np.where(pooled, var_d, var_w)
    usable = (own | wide | pooled.any(axis=2)) & (tally.n > 0)
    own = pooled.all(axis=2)  # the district's own baseline in every category, pooled
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


def reference_shares(facts: LedgerFacts, categories: list[str],
                     in_use: np.ndarray | None = None) -> tuple[np.ndarray | None, str | None]:
    """Each category's expected share of a village's problems, by kind, from the categories table's
    rates (the catalog's or the office's own: ``xuncha load categories``); None, with the reason,
    when a category of the ledger has no rate: a uniform share would be an invention.

    Only the categories ``in_use`` (a mask over ``categories``; all by default) share the
    problems: a category of the catalog that the ledger never uses is the office's way of
    classifying, not a deficit, and its rate would otherwise lower every used category's
    expected share (an office using 8 of the 20 catalog categories was expected 35 % of its
    problems and allowed ±130–200 % around that). Such a category gets share 0 and needs no rate.

    >>> from graph.model import CategoryIn
    >>> from graph.store import LedgerFacts
    >>> rated = [CategoryIn(name="低保", rate_village=0.1, rate_community=0.2),
    ...          CategoryIn(name="作风", rate_village=0.3, rate_community=0.2)]
    >>> shares, why = reference_shares(LedgerFacts([], [], [], [], [], rated), ["作风", "低保"])
    >>> shares[0].round(6).tolist(), why
    ([0.75, 0.25], None)
    >>> reference_shares(LedgerFacts([], [], [], [], [], [CategoryIn(name="低保")]), ["低保"])[1][:10]
    '问题类别“低保”没有'
    >>> rated.append(CategoryIn(name="集体资金"))   # no rate, and no problem in the ledger
    >>> shares, why = reference_shares(LedgerFacts([], [], [], [], [], rated), ["作风", "低保", "集体资金"],
    ...                                np.array([True, True, False]))
    >>> shares[0].round(6).tolist(), why
    ([0.75, 0.25, 0.0], None)
    """
    rates = {c.name: c for c in facts.categories}
    shares = np.zeros((len(KINDS), len(categories)))
    for j, name in enumerate(categories):
        if in_use is not None and not in_use[j]:
            continue
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


def rate_gaps(facts: LedgerFacts, categories: list[str], in_use: np.ndarray | None = None) -> dict[str, str]:
    """The categories whose reference rate is missing (``"none"``) or zero (``"zero"``): with one
    district inspected, every district pair needs every used category's rate (a category's share is
    its rate over the sum of all of the used ones: :func:`reference_shares`).

    >>> from graph.model import CategoryIn
    >>> rates = [CategoryIn(name="低保", rate_village=0.1, rate_community=0.2), CategoryIn(name="作风")]
    >>> rate_gaps(LedgerFacts([], [], [], [], [], rates), ["低保", "作风", "集体资金"])
    {'作风': 'none', '集体资金': 'none'}
    >>> rate_gaps(LedgerFacts([], [], [], [], [], rates), ["低保", "作风"], np.array([True, False]))
    {}
    """
    rates = {c.name: c for c in facts.categories}
    gaps = {}
    for j, name in enumerate(categories):
        if in_use is not None and not in_use[j]:
            continue
        c = rates.get(name)
        if c is None or c.rate_village is None or c.rate_community is None:
            gaps[name] = "none"
        elif c.rate_village <= 0 or c.rate_community <= 0:
            gaps[name] = "zero"
    return gaps


# Why a pair of a category with no problem in the ledger is not tested (.tally.Tally.in_use).
UNUSED_CATEGORY = ("台账中没有问题类别“{category}”的问题（只见于问题类别表或权责清单）：不检验，"
                   "也不计入其他类别的参考份额；台账记入其问题后可检验")


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
    return (f"只有一个区县有台账；{own}，区县层级未检验。在问题类别表中补齐正数比例(xuncha load categories)、"
            "载入其他区县的台账，或载入本区县上一届的台账(台账带“届次”列)后可检验；乡镇(街道)层级照常检验")


def reference_spread(tally: Tally, rho: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
    """How far each district's shares (d × k × c) stand from the ``reference`` shares for local
    reasons (τ²; NaN where fewer than ``MIN_OWN_CELLS`` categories can tell), per district the
    categories with enough expected problems to tell it from, and what they say of it (per
    district a :class:`.spread.OwnSpread`, None where too few): the relative spread φ its own
    categories show (``τ² = φ · π(1 − π)``, :func:`.spread.spread_posterior`: each category's
    squared standardised distance from the rates over its kinds of village
    (:func:`category_cells`), its likely causes left out and what they take from the other
    categories' shares taken out). τ² is its posterior mean, the district test averages its
    tails over the posterior (:func:`.tests.spread_averaged_tails`). A district whose shares
    differ from the catalog's in most categories differs for local reasons: with one district
    and no peers, its own categories are the only measure of how far; where they are as close to
    the rates as sampling allows, the test allows next to nothing more. (A fixed ±10 % on top of
    it made the test miss four in five of its own level where the rates are right: the null
    ``P(p ≤ 0.01)`` was 0.1–0.3 of 0.01.)

    >>> from graph.store import LedgerCell, Exposure, LedgerFacts
    >>> from .tally import tally_ledger
    >>> rng = np.random.default_rng(7)
    >>> reference = np.full(20, 0.05)
    >>> def spread_of(multipliers):
    ...     counts = rng.binomial(4000, reference * multipliers / (reference * multipliers).sum())
    ...     cells = [LedgerCell("500101001", "500101", "village", f"类别{c}", 400, int(x), int(x), int(x), int(x),
    ...                         0, 0, 0) for c, x in enumerate(counts)]
    ...     facts = LedgerFacts(cells, [Exposure("500101001", "500101", "village", 400, 400, 4000, 4000)], [], [], [], [])
    ...     tally = tally_ledger(facts)
    ...     ref = np.broadcast_to(reference, (len(KINDS), 20)) * 1.0
    ...     tau2 = reference_spread(tally, np.zeros(20), ref)[0][0, 0]
    ...     return round(float(np.median(np.sqrt(tau2) / reference)), 2)   # the coefficient of variation
    >>> spread_of(np.ones(20)) < 0.05              # shares as the catalog's: next to no allowance
    True
    >>> 0.4 < spread_of(rng.gamma(2.5, 0.4, 20)) < 0.9   # differing by φ = 0.02 (62 % at 5 %): its own spread
    True
    """
    share = np.broadcast_to(reference, tally.district_x.shape[:1] + reference.shape)
    xd, nd = tally.district_x, tally.district_n
    design = _design_effect(nd, tally.district_nn, rho)
    out = np.zeros(share.shape)
    counted = np.zeros(len(tally.districts), dtype=int)
    posteriors: list[OwnSpread | None] = [None] * len(tally.districts)
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(nd[:, :, None] > 0, xd / nd[:, :, None], np.nan)
        sampling = share * (1 - share) * design / nd[:, :, None]
        size = np.where(nd[:, :, None] > 0, nd[:, :, None] / design, 0.0)
    for d in range(len(tally.districts)):
        expected = nd[d][:, None] * share[d]
        # Shares sum to one: a cause lowers every other share of its district (a ×2.8 cause in a
        # 10 % category, 17 % each), which read as spread. Its share is taken out of the others,
        # as between districts (.spread.composition_free_deviation), once a first estimate says how far
        # above the rates a cell must stand to be a likely cause.
        with np.errstate(invalid="ignore", divide="ignore"):
            first = relative_spread((own[d] - share[d]) ** 2 / sampling[d], size[d], expected) or 0.0
        flagged = likely_causes(own[d], share[d], sampling[d], 1 + first * size[d])
        # One local difference per category, in every kind alike (.tests.summed_variance): its
        # village and community cells are one reading of it, not two. Read as two, a district
        # of forty cells had the certainty of forty draws where it had twenty, and the spread
        # it plugged in ran at half the truth often enough for local differences to surface.
        z2, cell_size = category_cells(composition_free_deviation(own[d], share[d], flagged), nd[d],
                                       sampling[d], share[d])
        cells = np.isfinite(z2) & (np.nansum(expected, axis=0) >= SPREAD_MIN_EXPECTED) & (cell_size > 0)
        counted[d] = int(cells.sum())
        if cells.sum() < MIN_OWN_CELLS:  # too few to tell: reference_tolerance assumes one
            out[d] = np.nan
            continue
        # what its cells say of φ (.spread.spread_posterior); the tolerance is its mean: an
        # estimate never below zero is noise that only ever widens the null, and where the
        # rates are right the weight stays on φ = 0; a spread many times its noise is kept whole
        posteriors[d] = spread_posterior(z2[cells], cell_size[cells])
        out[d] = posteriors[d].mean * share[d] * (1 - share[d])
    return out, counted, posteriors


def category_cells(deviation: np.ndarray, n: np.ndarray, sampling: np.ndarray,
                   share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One district's categories as cells of its spread from the rates (c): each category's
    deviations in its kinds of village (``deviation``, k × c, in shares of the kind's ``n``
    problems, sampling variance ``sampling``) summed as counts, ``z² = (Σ_k n_k d_k)² / Σ_k
    n_k² v_k``, and its size, the inflation a relative spread φ gives that sum per unit of φ:
    ``(Σ_k n_k √(π_k(1 − π_k)))² / Σ_k n_k² v_k`` (one difference in every kind alike,
    :func:`.tests.summed_variance`). NaN where no kind has problems.

    >>> z2, size = category_cells(np.array([[0.02], [0.02]]), np.array([1000.0, 1000.0]),
    ...                           np.array([[0.0001], [0.0001]]), np.array([[0.1], [0.1]]))
    >>> z2.round(6).tolist(), size.round(6).tolist()       # two kinds alike: one cell of twice the size
    ([8.0], [1800.0])
    """
    present = (n > 0)[:, None] & np.isfinite(deviation) & np.isfinite(sampling)
    with np.errstate(invalid="ignore", divide="ignore"):
        counts = np.where(present, n[:, None] * deviation, 0.0).sum(axis=0)
        variance = np.where(present, n[:, None] ** 2 * sampling, 0.0).sum(axis=0)
        spread_sd = np.where(present, n[:, None] * np.sqrt(share * (1 - share)), 0.0).sum(axis=0)
        return (np.where(variance > 0, counts ** 2 / variance, np.nan),
                np.where(variance > 0, spread_sd ** 2 / variance, 0.0))


def district_baselines(tally: Tally, rho: np.ndarray, spread: tuple[np.ndarray, np.ndarray, np.ndarray],
                       reference: np.ndarray | None, reference_reason: str | None) -> Baseline:
    """Each district against the other districts with a ledger; with one district inspected,
    against the reference shares (uncertain by as much as its own categories differ from them:
    :func:`reference_tolerance`); else no test, and why."""
    xd, nd, nnd = tally.district_x, tally.district_n, tally.district_nn
    D = len(tally.districts)
    if D >= 2:
        # The other districts as they would be without their likely causes (.spread.baseline_weights):
        # a cause raises its district's share of the category and lowers its every other share,
        # and neither is part of another district's baseline. With four districts, a ×3 cause in
        # one of them lifted the others' baseline above a ×2.2 cause's count (p 1.0 where the
        # oracle gives 1e-4); with a third of the ledger in it, its lowered shares made the other
        # districts' other categories look like causes.
        w = spread.weights                                                      # d × k × c
        x_kept = np.where(w > 0, xd, 0.0)
        n_kept, nn_kept = w * nd[:, :, None], w * nnd[:, :, None]  # the design effect as it was
        x_rest, n_rest, nn_rest = x_kept.sum(axis=0) - x_kept, n_kept.sum(axis=0) - n_kept, nn_kept.sum(axis=0) - nn_kept
        sq_rest = (n_kept ** 2).sum(axis=0) - n_kept ** 2
        every = n_rest <= 0   # nothing else counted: every other district as it is
        x_rest = np.where(every, xd.sum(axis=0) - xd, x_rest)
        n_rest = np.where(every, (nd.sum(axis=0) - nd)[:, :, None], n_rest)
        nn_rest = np.where(every, (nnd.sum(axis=0) - nnd)[:, :, None], nn_rest)
        sq_rest = np.where(every, ((nd ** 2).sum(axis=0) - nd ** 2)[:, :, None], sq_rest)
        share, share_var = _posterior(x_rest, n_rest, nn_rest, rho)
        # Ordinary districts differ beyond their villages' variation (τ², estimated without the
        # district tested): a district is a root cause only beyond that spread. The other
        # districts' share differs from theirs by as much, averaged over them by size
        # (Σ n_i² / (Σ n_i)²): with four districts that is a third of τ² again.
        with np.errstate(invalid="ignore", divide="ignore"):
            concentration = np.where(n_rest > 0, sq_rest / np.maximum(n_rest, 1) ** 2, 0.0)
        spread_var = spread.tau2_apart * (1 + concentration)
        usable = (nd.sum(axis=0) - nd > 0) & (nd > 0)
        return Baseline(share, share_var + spread_var, usable, ["other_districts"] * D, [None] * D, spread_var)
    if reference is not None:
        share = np.broadcast_to(reference, (D,) + reference.shape).copy()
        # The rates' own tolerance is each rate's, the village one's and the community one's apart;
        # a district's local difference beyond it is one in every kind alike (.tests.summed_variance).
        tolerance, local, cells, posteriors = reference_tolerance(tally, rho, reference)
        # Too few cells to read how far the district stands from the rates: ±10 % is assumed,
        # and said (.candidate: evidence "reference_tolerance_assumed"): the test's confidence
        # is only as good as that assumption. Where read, the test averages over what the
        # cells say of it (own_spread), not the tolerance alone.
        return Baseline(share, tolerance, nd > 0, ["reference"] * D, [None] * D, local,
                        assumed=cells < MIN_OWN_CELLS, own_spread=posteriors)
    why = ("只有一个区县有台账，" + (reference_reason or "问题类别没有参考比例")
           + "。区县层级未检验；乡镇(街道)层级照常检验")
    empty = np.zeros((D, len(KINDS), len(tally.categories)))
    return Baseline(empty, empty, np.zeros((D, len(KINDS)), dtype=bool), [None] * D, [why] * D)
