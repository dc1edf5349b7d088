"""Step 2: how much each category clusters in villages beyond chance (beta-binomial ρ, from the
villages themselves), so repeated rounds, persisting problems and villages of very different risk
widen the null instead of being thrown away; a cause never makes the ρ of its own test."""
from __future__ import annotations

import numpy as np

from ..stats import excess_sf_array
from .tally import Tally, tally_ledger  # noqa: F401  (tally_ledger: the doctests)


# Townships this far beyond their district's share are left out of the estimate of ρ (estimate_dispersion):
# a probability the null practically never reaches, screened first by a normal z.
OUTLIER_P, OUTLIER_Z = 1e-6, 4.0


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
    and category without the township's own villages (t × c), the latter never below the
    categories' pooled reading where they do not differ beyond their noise
    (:func:`township_dispersion`)."""
    numerator, denominator, keep = _clustering_parts(tally)
    numerator, denominator = numerator * keep, denominator * keep
    total_n, total_d = numerator.sum(axis=0), denominator.sum(axis=0)
    return _rho(total_n, total_d), township_dispersion(numerator, denominator)


def township_dispersion(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Per township and category (t × c), the ρ of the township's own test: the category's moment
    estimate without the township's villages (``numerator`` / ``denominator``, t × c, the
    townships' parts of it), raised by as much as the category's reading stands below that
    reading shrunk toward the one pooled over every category (empirical Bayes: by as much as
    the categories' own readings differ beyond their noise).

    Why: a township's test is as wide as its ρ, and in a small ledger one category's ρ is noisy,
    read low as often as high. Read low, the test is too narrow: in an office's ledger of 5,228
    problems over nine categories whose villages all cluster alike (ρ 0.032), 土地和宅基地 read
    0.0075 and 惠民惠农资金 0.021, and two townships with no cause surfaced in exactly those
    (p 1e-5). Never lowered: a district cause over part of a district's villages leaves real
    clustering in its category around the district's share (Chongqing, 矛盾纠纷和信访 read 0.0116
    against 0.0001–0.008 for the others), and pooled down to 0.0029 four of that cause's
    townships surfaced in its place. Each township keeps its own difference from the category's
    reading: without its villages a township's ρ is lower where its own cause made the clustering
    (万州, a township ×4 in 基层党组织建设: 0.0014 against the category's 0.0124), and in the
    pooled reading's place it was tested with the clustering of other categories' causes
    (p 1.3e-5 → 3.1e-5, not surfaced). Where categories do cluster
    differently, their readings differ far beyond their noise and each keeps its own. The noise
    of a category's estimate is its sandwich variance over townships,
    ``Σ_t (num_t − ρ̂ den_t)² / (Σ_t den_t)²``. Only the townships' tests use this: the
    district test's null is the spread between districts, read with the categories' own ρ, and
    a shrunk ρ there moved what that spread takes in (two district causes of an office's ledgers
    lost, nothing gained in calibration).

    >>> rng = np.random.default_rng(7)
    >>> den = np.full((30, 6), 10.0)                       # thirty townships, six categories
    >>> num = 0.03 * den + rng.normal(0, 0.6, den.shape)   # every category clusters alike
    >>> _rho(num.sum(axis=0) - num, den.sum(axis=0) - den)[0].round(3).tolist()  # two read low
    [0.008, 0.026, 0.023, 0.01, 0.026, 0.027]
    >>> township_dispersion(num, den)[0].round(3).tolist()  # raised to about the pooled 0.02
    [0.019, 0.026, 0.023, 0.021, 0.026, 0.027]
    >>> num[:, 0] += 0.12 * den[:, 0]             # one category clusters far more: each its own
    >>> township_dispersion(num, den)[0].round(3).tolist()
    [0.128, 0.027, 0.024, 0.012, 0.026, 0.027]
    """
    total_n, total_d = numerator.sum(axis=0), denominator.sum(axis=0)
    own = _rho(total_n[None, :] - numerator, total_d[None, :] - denominator)
    read = total_d > 0
    if read.sum() < 2:
        return own
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(read, total_n / np.where(read, total_d, 1.0), 0.0)
        noise = np.where(read, ((numerator - rho * denominator) ** 2).sum(axis=0) / np.where(read, total_d, 1.0) ** 2,
                         np.inf)
    pooled = max(float(total_n[read].sum() / total_d[read].sum()), 0.0)
    between = max(0.0, float(np.mean((rho[read] - pooled) ** 2) - np.mean(noise[read])))
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(read & (between + noise > 0), between / (between + noise), 1.0)
    shrunk = np.clip(pooled + weight * (rho - pooled), 0.0, 0.5)
    # The category's reading is lifted, each township's own difference from it kept: without its
    # villages a township's ρ is lower where its own cause made the clustering (it must not be
    # tested with the clustering its cause made, nor with the pooled reading in its place).
    lift = np.where(read, np.maximum(shrunk - np.clip(rho, 0.0, 0.5), 0.0), 0.0)  # rho clipped: the category's ρ
    return np.clip(own + lift[None, :], 0.0, 0.5)


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


def _design_effect(n: np.ndarray, nn: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Per area, kind and category (a × k × c), how much the villages' clustering (ρ) widens a
    count over the binomial: ``1 + ρ (Σn² / Σn − 1)`` from an area's problems ``n`` and the sum of
    its villages' squared totals ``nn`` (a × k, or a × k × c where what is counted differs by
    category); 1 where an area has none."""
    if n.ndim == 2:
        n, nn = n[:, :, None], nn[:, :, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 + rho[None, None, :] * np.where(n > 0, (nn - n) / n, 0.0)
