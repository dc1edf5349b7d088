"""Step 5: district or township. An excess spread across a district is the district unit's; one
concentrated in townships that surface on their own is theirs; a district takes a township's
discovery only on what it shows outside that township."""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from scipy import stats

from ..stats import benjamini_hochberg
from .baselines import Baseline
from .candidate import DEFAULT_MIN_CONFIDENCE, Candidate, _sig
from .tally import Tally
from .tests import combine, excess_moments, excess_p_values, recurrence_p_values


# The level at which the rest of a district shows an excess when an excess is attributed
# between the district and a few of its townships (attribute_levels).
REST_LEVEL = 0.05


def attribute_levels(candidates: list[Candidate], tally: Tally, district_base: Baseline, rho: np.ndarray,
                     min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> None:
    """Settle each excess at one level, in place, by what the district shows outside its townships.

    * The townships of a surfaced district pair that pass for the category, on their own or in
      the family of the district's townships (hierarchical testing: a township is only tested
      there once its district pair stands), are *local*. The district pair is tested again
      without them (:func:`rest_of_district`: excess and recurrence).
    * The rest shows the excess or the recurrence at the discovery level (:func:`discovery_level`:
      a p-value the district family's Benjamini–Hochberg would count among its discoveries),
      or two or more townships are local and the district's own excess stands (the same problem
      in several townships is shared): the excess is the district's. Its surfaced townships are
      withdrawn, ``explained_by`` the district unit. Never on less: a township's discovery is not
      taken on evidence that lies in that township alone (a township ×4.7 withdrawn for a
      district standing on "84 found, 76.0 expected" and recurrences in that township's
      villages).
    * One township is local (or, under a pair standing on recurrence alone, fewer than half of
      them are), and the rest shows nothing (p above both the
      district level's cut-off and ``REST_LEVEL``; beside a single township, no discovery) and
      fits the baseline better than the district's rate, or the pair stands on recurrence alone
      and the rest does not show it: the excess was the local townships'. The district pair is
      withdrawn, ``explained_by`` them, and they are surfaced with the confidence of the family
      they passed in.
    * In between (the rest without every local township shows a little, not a discovery of its
      own): each local township is withdrawn for the district only where the district, without
      that one township, shows the excess or the recurrence at the discovery level; the others
      stand beside it. A district cannot take a township's discovery on evidence that lies in
      that township.

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
    discovery = discovery_level(alpha, len(passed), sum(c.level == "district" and c.tested for c in candidates))

    def rest_level(townships: list[Candidate]) -> float:
        # A township that surfaced on its own is a discovery of its own: the district takes it, or
        # stands beside it on a rest nearer the baseline, only where the rest is a discovery too.
        # One that passes only in its district's family (promoted) stands or falls with it.
        return discovery if any(t.surfaced for t in townships) else alpha

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
    taken: set[tuple[str, str]] = set()  # single townships whose excess the district shows without them
    candidates_by_pair = {(c.area_code, c.category): c for c in candidates if c.level == "district" and c.surfaced}
    for c in candidates:
        if not (c.level == "district" and c.surfaced):
            continue
        d, j = di[c.area_code], ci[c.category]
        if c.p_excess > alpha:
            c.reason = recurrence_alone_note(c, tally, d, j, district_base, rho, alpha, inside)
        local = by_pair.get((c.area_code, c.category), [])
        if not local:
            district_wide[(c.area_code, c.category)] = c  # none stands out: spread
            continue
        # A district standing on recurrence alone is not withdrawn for two or more townships that
        # are half or more of those inspected, but takes them only on what the rest shows (below).
        # One township is no spread, even where only two were inspected (a district beside its
        # township ×4.1, the other township at p 0.47, was a second cause).
        most = len(local) >= 2 and 2 * len(local) >= int((tally.district == d).sum())
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
        # A rest that fits the district's raised rate speaks for a district-wide excess only
        # where the district's excess stands: a pair standing on recurrence alone whose rest shows
        # nothing is the recurrence of its local townships.
        wide_rate = spread_fits and c.p_excess <= alpha
        level = rest_level(local)
        c.evidence["rest_discovery_level"] = _sig(level)  # what the rest had to reach to take them
        if rest <= level or (len(local) >= 2 and c.p_excess <= alpha):
            if rest > level:  # said beside the district: the rest alone would not have carried it
                c.evidence["shared_by_townships"] = sorted(t.area_code for t in local)
            # Two or more townships stand out in one category under a district whose own excess
            # stands: the excess is shared, a spread across the district, however little the
            # rest shows (mid-term, with half the townships inspected, a district-wide cause over
            # 60–90 % of them often shows clearly in only two or three: "3 of 8 inspected stand
            # out, the rest at p 0.15" was a planted district cause each of the seven times the
            # district was withdrawn for two to four townships, in eight cells' eighteen seeds and
            # 36 more of fixes_fail (c)). One township is not a spread; standing on recurrence
            # alone, a district takes nothing from its townships.
            district_wide[(c.area_code, c.category)] = c
        elif not most and not wide_rate and (rest > max(cutoff, REST_LEVEL) or c.p_excess > alpha
                                             or (len(local) == 1 and rest > level)):
            # The rest shows no excess at all (not merely less than the cut-off): a district-wide
            # cause keeps an excess without a township or two, a township's cause leaves none.
            # Judged at REST_LEVEL, not at a discovery threshold: it only chooses between two
            # explanations of a pair that already stands (mid-term, with half the townships
            # inspected, a district-wide cause often shows clearly in only a few of them).
            # Beside one township, which is no spread, the district stands only on a rest that
            # is a discovery of its own or fits its raised rate: a district "160 found, 105.2
            # expected" (p 9e-7) kept beside its township ×4.7 (44 found, 11.0 expected) on a
            # rest at p 0.018 nearer the baseline than its rate was a second, false cause.
            c.surfaced = False
            c.explained_by = sorted(t.area_code for t in local)
            c.evidence["explaining_p_values"] = {t.area_code: _sig(t.p_value) for t in local}
        elif len(local) > 1:
            # In between (the rest without every local township shows a little): each local
            # township is the district's only where the district shows the excess or the
            # recurrence outside *that* township at the discovery level (the others carry it).
            for t in local:
                alone_excess, alone_rec, _ = rest_of_district(tally, d, j, [ti[t.area_code]], district_base, rho, 1.0)
                alone = min(alone_excess, float(combine(np.array([alone_excess]), np.array([alone_rec]))[0]))
                if alone <= rest_level([t]):
                    taken.add((t.area_code, t.category))
        # else both stand: the district shows something outside its local townships, but not
        # enough to take their discoveries from them
        if (c.area_code, c.category) not in district_wide:
            for t in local:
                if (t.area_code, t.category) in taken:
                    continue
                if not t.surfaced:
                    t.q_value = promoted[(t.area_code, t.category)]
                    t.surfaced = True
                    t.evidence["tested_within_district"] = c.area_code
    for c in candidates:
        cause = district_wide.get((c.district_code, c.category)) if c.level == "township" else None
        if (c.level == "township" and (c.area_code, c.category) in taken
                and candidates_by_pair.get((c.district_code, c.category)) is not None):
            cause = candidates_by_pair[(c.district_code, c.category)]
        if cause is not None and c.surfaced:
            c.surfaced = False
            c.explained_by = [cause.unit_id]
            c.evidence["explaining_p_values"] = {cause.area_code: _sig(cause.p_value)}


def discovery_level(alpha: float, discoveries: int, tested: int) -> float:
    """The p-value a district pair must reach to be one of its family's discoveries: the step of
    Benjamini–Hochberg at the discoveries made (``alpha · k / m``; Bonferroni's ``alpha / m``
    where there are none). The rest of a district, judged without the townships that stand out,
    replaces the district's own p-value, so it is held to the same step, not to ``alpha`` alone:
    conditioned on its district standing, the rest is seldom ordinary, and at ``alpha`` a chance
    excess of a large district's rest (252 found, 210.6 expected, p 0.0045) took its township's
    ×4 cause (78 found, 19.1 expected, p 4e-24): three of twelve mid-term ledgers.

    >>> round(discovery_level(0.01, 12, 600), 6), discovery_level(0.01, 0, 600) == 0.01 / 600
    (0.0002, True)
    """
    if tested <= 0:
        return 0.0
    return alpha * max(discoveries, 1) / tested


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
                    district_base.reason[d:d + 1],
                    None if district_base.spread_var is None else district_base.spread_var[d:d + 1],
                    own_spread=None if district_base.own_spread is None else district_base.own_spread[d:d + 1])
    observed, _, mean, variance = excess_moments(x, n, nn, base, rho)
    p_excess = float(excess_p_values(x, n, nn, base, rho)[2][0, j])  # as the district's own test
    fits = district_wide_fits(float(observed[0, j]), float(mean[0, j]), float(variance[0, j]), ratio)
    in_district = tally.district == d
    rectified = tally.rectified[in_district, j].sum() - tally.rectified[rows, j].sum()
    recurred = tally.recurred[in_district, j].sum() - tally.recurred[rows, j].sum()
    rest_n = tally.rectified[~in_district, j].sum()  # 0 with one district: no test
    rest_k = tally.recurred[~in_district, j].sum()
    level = float(observed[0, j]) / float(mean[0, j]) if mean[0, j] > 0 else 1.0  # as the district's own test
    p_rec = recurrence_p_values(np.array([rectified]), np.array([recurred]), np.array([rest_n]), np.array([rest_k]),
                                level=np.array([level]))
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
    head = (f"仅凭整改后复发成立：问题数 {c.observed} 个，期望 {c.expected:.1f} 个，超出检验 p={_sig(c.p_excess):.2g}；"
            f"复发检验 p={_sig(c.p_recurrence or 1.0):.2g}")
    for size in range(1, min(CONCENTRATED_MAX, len(rows) - 1) + 1):
        chosen = [t for t in by_count[:size] if tally.recurred[t, j] > 0]
        if len(chosen) < size:
            break
        _, rest_rec, _ = rest_of_district(tally, d, j, chosen, district_base, rho, 1.0)
        if np.isnan(rest_rec) or rest_rec > alpha:
            held = int(tally.recurred[chosen, j].sum())
            where = "、".join(names.get(tally.townships[t], tally.townships[t]) for t in chosen)
            return (f"{head}；复发集中于 {where}（{total} 个复发村中 {held} 个，其余乡镇(街道)复发检验 "
                    f"p={_sig(rest_rec) if not np.isnan(rest_rec) else 1:.2g}）")
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
