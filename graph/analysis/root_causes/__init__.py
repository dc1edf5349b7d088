"""Root-cause surfacing: which higher-level unit's jurisdiction shows a category of problems far
more often than a fair baseline, and at which level the excess belongs.

Pure functions over :class:`graph.store.LedgerFacts`, the aggregates every store computes in the
same way. The steps, each a module one can read and test alone:

1. :mod:`.tally` — the ledger as arrays (township × village kind × category), inspected
   areas only: peers are areas with a ledger, not merely loaded divisions.
2. :mod:`.dispersion` — how much each category clusters in villages beyond chance
   (beta-binomial ρ, from the villages themselves), so repeated rounds, persisting problems and
   villages of very different risk widen the null instead of being thrown away.
3. :mod:`.spread` — how far districts differ beyond their villages' variation;
   :mod:`.baselines` — the share each area is compared with, with its own uncertainty, and the
   reason where no valid baseline exists.
4. :mod:`.tests` — the two lines of evidence, excess and recurrence; the township pairs the sums
   single out are tested again on the per-village evidence (:mod:`..village_evidence`).
5. :mod:`.attribution` — district or township: an excess spread across a district is the
   district unit's; one concentrated in townships that surface on their own is theirs.
6. :mod:`.scoring` — the answering unit, the evidence and the ranking.

With an earlier term (届次), :mod:`.terms` adds each area's own history as a baseline: a district
is judged against its last term (its peers' test shown beside), a township against its peers (its
last term shown beside), and the reason says whether a cause is new this term, persists from the
last one, or is a local difference that was always there.

This module runs them in order (:func:`surface_root_causes`). ``docs/root-causes.md`` gives the
model, its assumptions, and the benchmark matrix it is judged on.
"""
from __future__ import annotations

import numpy as np

from ...store import LedgerFacts
from ..stats import benjamini_hochberg, excess_sf_array, weighted_benjamini_hochberg
from ..gc_pause import gc_paused
from .attribution import (CONCENTRATED_MAX, REST_LEVEL, attribute_levels, district_wide_fits,  # noqa: F401
                          recurrence_alone_note, rest_of_district)
from .baselines import (RATES_TOLERANCE, UNUSED_CATEGORY, Baseline, _posterior, _standardised, district_baselines,  # noqa: F401
                        district_prior, rate_gaps, reference_prior, reference_shares, township_baselines,
                        tolerance_widened, untested_district_reason)
from .candidate import BASELINE_ZH, DEFAULT_MIN_CONFIDENCE, Candidate, _sig, attribution_notes  # noqa: F401
from .dispersion import (OUTLIER_P, OUTLIER_Z, _clustering_parts, _design_effect, _rho, dispersions,  # noqa: F401
                         estimate_dispersion)
from .scoring import _candidate, _duty_bearers, _hint_counts, add_evidence, score_candidates  # noqa: F401
from .spread import (CHI2_1_MEDIAN, MIN_SPREAD_CELLS, ORDINARY_Z, between_district_spread,  # noqa: F401
                     category_spreads, local_causes_found, pooling_weight, relative_spread)
from .tally import KIND_INDEX, KINDS, Tally, tally_ledger  # noqa: F401
from .terms import (TermTest, add_history, merged_baseline, order_terms, past_terms, tell_terms_apart,  # noqa: F401
                    term_test)
from .tests import (WEIGHT_FLOOR, _village_arrays, combine, excess_moments, excess_p_values,  # noqa: F401
                    kind_weighted_moments, recurrence_p_values, township_weights, village_p_values)


def surface_root_causes(facts: LedgerFacts, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                        earlier: LedgerFacts | None = None, terms: tuple[str, str] | None = None) -> list[Candidate]:
    """Test every (township, category) and (district, category) pair with a ledger and a duty
    bearer, attribute each excess to the right level, and return every pair, best first;
    ``surfaced`` marks the candidates (never one whose confidence is below ``min_confidence``).

    Parameters
    ----------
    facts : LedgerFacts
        The store's aggregates: problems per township, village kind and category, units, duties.
    min_confidence : float
        ``1 - q`` (Benjamini–Hochberg, per level) a pair needs to be surfaced. The analysis itself
        (which townships have a cause of their own, which level an excess belongs to) runs at the
        stricter of it and ``DEFAULT_MIN_CONFIDENCE``: a lower threshold only lists more pairs above
        their expected count, with the same confidence, and takes none away (at 0.02 every
        district pair, at 0.036 and some below their expected count, had taken a township's cause).
    earlier : LedgerFacts, optional
        The same office's ledger of the term before (届次): each district's baseline becomes its own
        last term (:func:`.terms.term_test`), and every pair's evidence shows both baselines.
    terms : (str, str), optional
        The labels of the current and the earlier term, for the evidence.

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
    level = max(min_confidence, DEFAULT_MIN_CONFIDENCE)
    with gc_paused():  # tens of thousands of small objects, no cycles (graph.analysis.gc_pause)
        candidates = _surface(facts, level, earlier, terms)
    if min_confidence < level:
        below = [c for c in candidates if c.tested and not c.surfaced and not c.explained_by
                 and c.confidence >= min_confidence and c.observed > c.expected]
        for c in below:
            c.surfaced = True
        if below:
            candidates.sort(key=_order)
    return candidates


def _order(c: Candidate) -> tuple:
    """Surfaced first, then tested, best score, smallest p-value; ties by level, area and category."""
    return (not c.surfaced, not c.tested, -round(c.score, 9), c.p_value if c.tested else 1.0, c.level,
            c.area_code, c.category)


def _surface(facts: LedgerFacts, min_confidence: float, earlier: LedgerFacts | None,
             terms: tuple[str, str] | None) -> list[Candidate]:
    tally = tally_ledger(facts)
    if not tally.townships:
        return []
    rho, rho_t = dispersions(tally)
    bearers = _duty_bearers(facts, set(tally.townships) | set(tally.districts))  # areas with a ledger only
    hints = _hint_counts(facts, tally)
    reference, reference_reason = reference_shares(facts, tally.categories, tally.in_use)
    gaps = rate_gaps(facts, tally.categories, tally.in_use)

    spread = between_district_spread(tally, rho)
    history = past_terms(tally, tally_ledger(earlier), rho) if earlier is not None else None
    township_base = township_baselines(tally, rho, spread, reference,
                                       history["district"].baseline if history is not None else None)
    observed_t, trials_t, expected_t, variance_t = excess_moments(tally.x, tally.n, tally.nn, township_base, rho_t)
    p_sum_t = excess_sf_array(observed_t, trials_t, expected_t, variance_t)
    p_ex_t, _ = village_p_values(tally, township_base, rho_t, p_sum_t, facts.village_counts)
    rect_d, recur_d = tally.by_district(tally.rectified), tally.by_district(tally.recurred)
    p_rec_t = recurrence_p_values(tally.rectified, tally.recurred, rect_d[tally.district] - tally.rectified,
                                  recur_d[tally.district] - tally.recurred)

    # A district's own test allows the spread read without the excess of the townships found
    # with a cause of their own: a township's cause is no difference between districts.
    tested_t = np.array([r is None for r in township_base.reason])[:, None] & (trials_t > 0) & (expected_t > 0)
    local_causes = local_causes_found(np.where(tested_t, p_ex_t, np.nan), 1 - min_confidence)
    if local_causes.any():
        spread = between_district_spread(tally, rho, local_causes)
    district_base = district_baselines(tally, rho, spread, reference, reference_reason)
    # District pairs keep the sums: the per-village statistic was tried for them (saddlepoint
    # tail) and changed little, the spread between districts dominating their null.
    observed_d, expected_d, p_ex_d = excess_p_values(tally.district_x, tally.district_n, tally.district_nn,
                                                     district_base, rho)
    if len(tally.districts) >= 2:
        # against the other districts' rate at the district's own level of the category: one where
        # it is commoner for local reasons finds it again more often, root or not
        level_d = np.divide(observed_d, expected_d, out=np.ones_like(expected_d, dtype=float), where=expected_d > 0)
        p_rec_d = recurrence_p_values(rect_d, recur_d, rect_d.sum(axis=0) - rect_d, recur_d.sum(axis=0) - recur_d,
                                      level=level_d)
    else:  # one district: no baseline for its recurrence. Other categories are none: a frequent
        # category is found again more often wherever it is, root or not.
        p_rec_d = np.full(rect_d.shape, np.nan)
    own = None
    if history is not None:
        # A district's own last term decides where it has one; the peers' test stays as evidence.
        own = ~np.isnan(history["district"].p_value)
        history["peers"] = (expected_d.copy(), p_ex_d.copy(), np.array([r is None for r in district_base.reason]))
        p_ex_d = np.where(own, history["district"].p_value, p_ex_d)
        expected_d = np.where(own, history["district"].expected, expected_d)
        observed_d = np.where(own, history["district"].observed, observed_d)
        district_base = merged_baseline(district_base, history["district"].baseline, own)
        # and its recurrences against its own last term's: a category commoner for local reasons
        # is also found again more often, in both terms
        since = history["district_recurrence"]
        p_rec_d = np.where(own, since, p_rec_d)

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
        own_history = own is not None and level == "district"
        in_use = tally.in_use.tolist()
        unused = in_use.count(False)
        for a, area in enumerate(areas):
            tested_area = base.reason[a] is None
            name = facts.names.get(area, area)
            for j, category in enumerate(tally.categories):
                units = bearers.get((level, area, category))
                if not units:
                    continue
                by_term = own_history and bool(own[a, j])
                # a category without a problem in the ledger is the office's way of classifying:
                # nothing to expect, nothing to test (.baselines.reference_shares)
                tested = by_term or (tested_area and in_use[j])
                if not in_use[j] and not tested and level == "township":
                    continue  # said once per district, not once per township (636 rows of --all)
                if tested:
                    rec = p_rec[a][j] if p_rec[a][j] >= 0 else None
                    label = "last_term" if by_term else base.label[a]
                    candidate = _candidate(level, area, name, area_districts[a], category, units, observed[a][j],
                                           expected[a][j], p_ex[a][j], rec, p_all[a][j], label, None, hints)
                else:  # no figures: an untested pair must not look tested
                    reason = (UNUSED_CATEGORY.format(category=category) if not in_use[j]
                              else untested_district_reason(category, gaps) if level == "district" and gaps
                              else base.reason[a])
                    candidate = _candidate(level, area, name, area_districts[a], category, units, None, None, None,
                                           None, None, None, reason, hints)
                if history is not None and tested:
                    add_history(candidate, history, level, a, j, terms)
                if level == "district" and tested and label == "reference":
                    # how far the district may stand from the rates without a cause (its own
                    # categories' local difference), in its main kind of village
                    k = int(np.argmax(tally.district_n[a]))
                    candidate.evidence["reference_tolerance"] = round(
                        float(np.sqrt(base.share_var[a, k, j]) / base.share[a, k, j]), 3)
                    # ±10 % assumed, not read: too few of its categories to show its own difference
                    candidate.evidence["reference_tolerance_assumed"] = bool(base.assumed is not None
                                                                             and base.assumed[a])
                    # the catalog's categories the ledger never uses are left out of the shares
                    candidate.evidence["reference_unused"] = unused
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
    if earlier is not None:
        tell_terms_apart(candidates, surface_root_causes(earlier, min_confidence=min_confidence), min_confidence)
    add_evidence(candidates, tally, rho, rho_t)
    score_candidates(candidates, tally)
    candidates.sort(key=_order)
    return candidates
