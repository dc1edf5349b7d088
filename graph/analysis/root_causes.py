"""Root-cause surfacing: which higher-level unit's jurisdiction shows a category of problems far
more often than a fair baseline, and at which level the excess belongs.

Pure functions over :class:`graph.store.LedgerFacts`, the aggregates every store computes
in the same way; see ``docs/root-causes.md`` for the method, its assumptions and its limits.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from ..model import DUTY_ORDER
from ..store import LedgerFacts
from .stats import benjamini_hochberg, binom_sf, hypergeom_sf, stratified_excess_sf

DEFAULT_MIN_CONFIDENCE = 0.99
PRIOR_WEIGHT = 200.0  # pseudo-problems of the wider baseline added to every peer baseline
KINDS = ("village", "community", "other")


@dataclass
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
    observed: int
    expected: float
    p_excess: float
    p_recurrence: float | None
    p_value: float
    q_value: float = 1.0
    score: float = 0.0
    surfaced: bool = False
    explained_by: list[str] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        return 1.0 - self.q_value

    def as_dict(self) -> dict:
        evidence = {
            "observed": self.observed, "expected": round(self.expected, 3),
            "ratio": round(self.observed / self.expected, 3) if self.expected > 0 else None,
            "p_excess": _sig(self.p_excess),
            "p_recurrence": None if self.p_recurrence is None else _sig(self.p_recurrence),
            **self.evidence,
        }
        return {
            "unit_id": self.unit_id, "unit_name": self.unit_name, "level": self.level, "duty": self.duty,
            "area_code": self.area_code, "area_name": self.area_name, "district_code": self.district_code,
            "category": self.category, "score": round(self.score, 4), "p_value": _sig(self.p_value),
            "q_value": _sig(self.q_value), "confidence": round(self.confidence, 6), "surfaced": self.surfaced,
            "explained_by": self.explained_by,
            "responsible_units": [{"unit_id": u[1], "unit_name": u[2], "duty": u[3]} for u in self.bearers],
            "evidence": evidence,
        }


def _sig(x: float) -> float:
    """Round to 6 significant digits, so both stores print the same figures."""
    return float(f"{x:.6g}")


KIND_INDEX = {kind: i for i, kind in enumerate(KINDS)}
ZERO = (0.0, 0.0, 0.0)


def _plus(a, b):
    """Problems by village kind (village, community, other), added."""
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _minus(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _sum(vectors):
    out = ZERO
    for v in vectors:
        out = _plus(out, v)
    return out


def surface_root_causes(facts: LedgerFacts, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> list[Candidate]:
    """Test every (township, category) and (district, category) pair, attribute each excess to
    the right level, and return every tested pair, best first; ``surfaced`` marks the candidates.

    Parameters
    ----------
    facts : LedgerFacts
        The store's aggregates: problems per township, village kind and category, units, duties.
    min_confidence : float
        ``1 - q`` (Benjamini–Hochberg) a pair needs to be surfaced.

    Returns
    -------
    list of Candidate
        Sorted by ``surfaced`` then ``score`` (descending), then area code and category.

    Examples
    --------
    Two districts of four townships; township 110101001 has far more 低保 problems than its
    neighbours and its unit bears primary duty for them:

    >>> from graph.store import LedgerCell, LedgerFacts, Unit, Duty
    >>> cells = []
    >>> for d in ("110101", "110102"):
    ...     for i in range(1, 5):
    ...         t = f"{d}00{i}"
    ...         cells.append(LedgerCell(t, d, "village", "低保", 5, 40 if t == "110101001" else 4, 0, 0, 0, 0))
    ...         cells.append(LedgerCell(t, d, "village", "作风", 5, 30, 30, 0, 0, 0))
    >>> units = [Unit(f"{t}-ca", f"{t}民政办", "township", t, "civil_affairs")
    ...          for t in [c.township_code for c in cells[::2]]]
    >>> facts = LedgerFacts(cells, [], [], units, [Duty("低保", "township", "civil_affairs", "primary")], [])
    >>> top = surface_root_causes(facts)[0]
    >>> top.unit_id, top.level, top.surfaced, top.observed, round(top.expected, 1)
    ('110101001-ca', 'township', True, 40, 13.0)
    """
    categories = sorted({c.category for c in facts.cells} | {d.category for d in facts.duties})
    township_district: dict[str, str] = {}
    counts: dict[tuple[str, str], tuple] = {}       # (township, category) -> problems by kind
    totals: dict[str, tuple] = {}                   # township -> problems of every category, by kind
    closed: dict[tuple[str, str], int] = defaultdict(int)
    recurrent: dict[tuple[str, str], int] = defaultdict(int)
    weight: dict[tuple[str, str], float] = defaultdict(float)
    amount: dict[tuple[str, str], float] = defaultdict(float)
    villages_affected: dict[tuple[str, str], int] = defaultdict(int)
    for c in facts.cells:
        key = (c.township_code, c.category)
        township_district[c.township_code] = c.district_code
        # The excess test counts first findings only: a recurrence is the recurrence test's
        # evidence, and counting it twice would make the two tests dependent.
        vector = [0.0, 0.0, 0.0]
        vector[KIND_INDEX[c.village_kind]] = c.issues - c.recurrent_issues
        vector = tuple(vector)
        counts[key] = _plus(counts.get(key, ZERO), vector)
        totals[c.township_code] = _plus(totals.get(c.township_code, ZERO), vector)
        closed[key] += c.closed_issues
        recurrent[key] += c.recurrent_issues
        weight[key] += c.severity_weight
        amount[key] += c.amount_yuan
        villages_affected[key] += c.villages_affected
    inspected: dict[str, int] = defaultdict(int)
    for e in facts.exposure:
        inspected[e.township_code] += e.inspected
        township_district.setdefault(e.township_code, e.district_code)
    townships_of: dict[str, list[str]] = defaultdict(list)
    for township, district in sorted(township_district.items()):
        townships_of[district].append(township)
    single = len(townships_of) == 1  # then districts are compared with the catalog's rates

    total_issues = sum(sum(t) for t in totals.values())
    total_weight = sum(weight.values())
    mean_weight = total_weight / total_issues if total_issues else 1.0
    bearers = _duty_bearers(facts)
    hints = defaultdict(int)  # (area, category, unit) -> hinted issues
    for h in facts.hints:
        hints[(h.township_code, h.category, h.unit_id)] += h.issues
        hints[(township_district.get(h.township_code, h.township_code[:6]), h.category, h.unit_id)] += h.issues
    catalog_share = _catalog_shares(facts)

    # Sums per district and over everything, so a "rest" is a subtraction, not a loop.
    district_counts = {(d, cat): _sum(counts.get((t, cat), ZERO) for t in ts)
                       for d, ts in townships_of.items() for cat in categories}
    district_totals = {d: _sum(totals.get(t, ZERO) for t in ts) for d, ts in townships_of.items()}
    all_counts = {cat: _sum(district_counts[(d, cat)] for d in townships_of) for cat in categories}
    all_totals = _sum(district_totals.values())
    all_closed = {cat: sum(closed[(t, cat)] for t in township_district) for cat in categories}
    all_recurrent = {cat: sum(recurrent[(t, cat)] for t in township_district) for cat in categories}
    # The baseline share is shrunk toward the share over everything loaded (or the catalog's), so
    # a thin baseline (few peers of this kind) cannot claim a near-zero rate.
    prior = {cat: tuple(all_counts[cat][k] / all_totals[k] if all_totals[k] > 0
                        else catalog_share.get((cat, kind), 0.0) for k, kind in enumerate(KINDS))
             for cat in categories}

    def township_excess(observed, total, rest_c, rest_t, category: str):
        """Share of the category among a township's problems against the rest of its district, per
        kind. The district is far larger than one township, so its share is taken as known
        (binomial), after shrinking it toward the share over everything loaded so a thin baseline
        (few peers of a kind) cannot claim a near-zero rate."""
        p = prior[category]
        expected = sum(total[k] * (rest_c[k] + PRIOR_WEIGHT * p[k]) / (rest_t[k] + PRIOR_WEIGHT)
                       for k in range(3) if total[k] > 0)
        return _binomial_excess(observed, total, expected)

    def district_excess(observed, total, category: str, set_aside_c=ZERO, set_aside_t=ZERO):
        """A district against the other loaded districts: they are not much larger than it, so the
        test conditions on both (stratified hypergeometric: Fisher's exact test per kind, combined).
        With one district loaded, against the catalog's expected shares (binomial). ``set_aside``
        counts (townships withdrawn from the district) belong to neither side."""
        if single:
            shares = [catalog_share.get((category, kind), 0.0) for kind in KINDS]
            expected = sum(total[k] * shares[k] for k in range(3))
            return _binomial_excess(observed, total, expected)
        rest_c = _minus(_minus(all_counts[category], observed), set_aside_c)
        rest_t = _minus(_minus(all_totals, total), set_aside_t)
        strata = [(total[k] + rest_t[k], observed[k] + rest_c[k], total[k]) for k in range(3) if total[k] > 0]
        expected = sum(drawn * marked / pool for pool, marked, drawn in strata if pool > 0)
        o = int(round(sum(observed)))
        return o, expected, stratified_excess_sf(o, strata)

    def recurrence_test(k: int, n: int, base_k: int, base_n: int) -> float | None:
        """Recurrences among rectified findings against the baseline's, conditioning on both
        (Fisher's exact test): the baseline's recurrences are few, so their rate is not known.
        None when there is nothing to test: no rectified finding a later round could have seen
        again (a township inspected only in the latest round), or no baseline."""
        if n == 0 or base_n <= 0:
            return None
        if k == 0:
            return 1.0
        k = min(k, n)
        return hypergeom_sf(k, n + base_n, k + min(base_k, base_n), n)

    candidates: list[Candidate] = []
    # -- townships against the other townships of their district ---------------------------------
    for district, townships in townships_of.items():
        for category in categories:
            d_counts, d_total = district_counts[(district, category)], district_totals[district]
            d_closed = sum(closed[(t, category)] for t in townships)
            d_recurrent = sum(recurrent[(t, category)] for t in townships)
            for township in townships:
                units = bearers.get(("township", township, category))
                if not units or township not in totals:
                    continue
                observed, total = counts.get((township, category), ZERO), totals[township]
                rest_c, rest_t = _minus(d_counts, observed), _minus(d_total, total)
                o, e, p_excess = township_excess(observed, total, rest_c, rest_t, category)
                k, n = recurrent[(township, category)], closed[(township, category)]
                p_rec = recurrence_test(k, n, d_recurrent - k, d_closed - n)
                candidates.append(_candidate("township", township, district, category, units, o, e, p_excess,
                                             p_rec, facts, hints))
    # -- districts against the other loaded districts (or the catalog's rates) --------------------
    for district, townships in townships_of.items():
        for category in categories:
            units = bearers.get(("district", district, category))
            if not units:
                continue
            observed, total = district_counts[(district, category)], district_totals[district]
            o, e, p_excess = district_excess(observed, total, category)
            k = sum(recurrent[(t, category)] for t in townships)
            n = sum(closed[(t, category)] for t in townships)
            if single:  # the district's other categories are its own baseline for recurrence
                base_k = sum(recurrent[(t, c)] for t in townships for c in categories) - k
                base_n = sum(closed[(t, c)] for t in townships for c in categories) - n
            else:
                base_k, base_n = all_recurrent[category] - k, all_closed[category] - n
            p_rec = recurrence_test(k, n, base_k, base_n)
            candidate = _candidate("district", district, district, category, units, o, e, p_excess, p_rec,
                                   facts, hints)
            candidate.evidence["townships_affected"] = sum(1 for t in townships
                                                           if sum(counts.get((t, category), ZERO)) > 0)
            candidate.evidence["townships"] = len(townships)
            candidates.append(candidate)

    # -- multiple testing, per level ---------------------------------------------------------------
    for level in ("township", "district"):
        tested = [c for c in candidates if c.level == level]
        for c, q in zip(tested, benjamini_hochberg([c.p_value for c in tested])):
            c.q_value = q
            c.surfaced = c.confidence >= min_confidence
    # -- attribution: an excess concentrated in a few townships is theirs ---------------------------
    # A surfaced district pair is tested again without its surfaced townships, or, when none is,
    # without the one township that carries at least half of the district's excess (observed minus
    # expected). If what remains is no longer significant,
    # the excess was local: the district pair is withdrawn and those townships are surfaced as
    # localised from it (the district test, corrected over all district pairs, is their evidence).
    by_pair = defaultdict(list)
    for c in candidates:
        if c.level == "township":
            by_pair[(c.district_code, c.category)].append(c)
    passed = [c.p_value for c in candidates if c.level == "district" and c.surfaced]
    cutoff = max(passed) if passed else 0.0
    for c in candidates:
        if c.level != "district" or not c.surfaced:
            continue
        inside = by_pair.get((c.area_code, c.category), [])
        local = [t for t in inside if t.surfaced]
        if not local and inside:
            # Only a township that carries most of the district's excess can explain it.
            largest = max(inside, key=lambda t: (t.observed - t.expected, -t.p_value))
            local = [largest] if largest.observed - largest.expected >= 0.5 * (c.observed - c.expected) else []
        if not local:
            continue
        withdrawn = {t.area_code for t in local}
        keep = [t for t in townships_of[c.area_code] if t not in withdrawn]
        observed = _sum(counts.get((t, c.category), ZERO) for t in keep)
        total = _sum(totals.get(t, ZERO) for t in keep)
        # The other districts stay the baseline; the withdrawn townships leave the pool entirely.
        dropped_c = _minus(district_counts[(c.area_code, c.category)], observed)
        dropped_t = _minus(district_totals[c.area_code], total)
        _, _, p_rest = district_excess(observed, total, c.category, dropped_c, dropped_t)
        c.evidence["p_without_local_townships"] = _sig(p_rest)
        if p_rest > cutoff:
            c.surfaced = False
            c.explained_by = sorted(withdrawn)
            for township in local:
                if not township.surfaced:
                    township.surfaced = True
                    township.evidence["localised_from_district_p"] = _sig(c.p_value)

    # -- ... and a township's excess inside a district-wide one belongs to the district unit ---------
    district_causes = {(c.area_code, c.category): c.unit_id for c in candidates if c.level == "district" and c.surfaced}
    for c in candidates:
        if c.level == "township" and c.surfaced and (c.district_code, c.category) in district_causes:
            c.surfaced = False
            c.explained_by = [district_causes[(c.district_code, c.category)]]

    # -- evidence and score ------------------------------------------------------------------------
    for c in candidates:
        if c.level == "township":
            key = (c.area_code, c.category)
            c.evidence["villages_inspected"] = inspected.get(c.area_code, 0)
            w = weight.get(key, 0.0)
            c.evidence["villages_affected"] = villages_affected.get(key, 0)
            c.evidence["amount_yuan"] = round(amount.get(key, 0.0), 2)
            c.evidence["closed_before_latest_round"] = closed.get(key, 0)
            c.evidence["recurrences"] = recurrent.get(key, 0)
        else:
            keys = [(t, c.category) for t in townships_of[c.area_code]]
            c.evidence["villages_inspected"] = sum(inspected.get(t, 0) for t in townships_of[c.area_code])
            w = sum(weight.get(k, 0.0) for k in keys)
            c.evidence["villages_affected"] = sum(villages_affected.get(k, 0) for k in keys)
            c.evidence["amount_yuan"] = round(sum(amount.get(k, 0.0) for k in keys), 2)
            c.evidence["closed_before_latest_round"] = sum(closed.get(k, 0) for k in keys)
            c.evidence["recurrences"] = sum(recurrent.get(k, 0) for k in keys)
        c.evidence["severity_weight"] = round(w, 2)
        severity_ratio = (w / c.observed / mean_weight) if c.observed else 1.0
        hint_share = c.evidence["hints"] / c.observed if c.observed else 0.0
        c.score = -math.log10(max(c.p_value, 1e-300)) * math.sqrt(severity_ratio) * (1.0 + hint_share)
    candidates.sort(key=lambda c: (not c.surfaced, -round(c.score, 9), c.p_value, c.level, c.area_code, c.category))
    return candidates


def _binomial_excess(observed, total, expected: float):
    n_total = int(round(sum(total)))
    o = int(round(sum(observed)))
    if n_total == 0 or expected <= 0:
        return o, expected, (1.0 if o == 0 else 0.0)
    return o, expected, binom_sf(o, n_total, min(expected / n_total, 1.0))


def _catalog_shares(facts: LedgerFacts) -> dict[tuple[str, str], float]:
    """Each category's expected share of a village's problems, by kind, from the catalog's rates."""
    shares = {}
    for kind, attribute in (("village", "rate_village"), ("community", "rate_community"), ("other", "rate_community")):
        total = sum(getattr(c, attribute) for c in facts.categories)
        for c in facts.categories:
            shares[(c.name, kind)] = getattr(c, attribute) / total if total else 0.0
    return shares


def _duty_bearers(facts: LedgerFacts) -> dict[tuple[str, str, str], list[tuple[int, str, str, str]]]:
    """(level, area, category) -> [(duty order, unit_id, unit name, duty)] from units and duties."""
    by_function: dict[tuple[str, str], list] = defaultdict(list)
    for d in facts.duties:
        by_function[(d.level, d.function)].append(d)
    out: dict[tuple[str, str, str], list] = defaultdict(list)
    order = {duty.value: rank for duty, rank in DUTY_ORDER.items()}
    for u in facts.units:
        for d in by_function.get((u.level, u.function), []):
            out[(u.level, u.area_code, d.category)].append((order[d.duty], u.unit_id, u.name, d.duty))
    for key in out:
        out[key].sort()
    return out


def _candidate(level, area, district, category, units, observed, expected, p_excess, p_rec, facts, hints):
    hinted = [hints.get((area, category, u[1]), 0) for u in units] if hints else [0] * len(units)
    # The answering unit: the one inspectors hinted at most, else the highest duty (primary first).
    best = min(range(len(units)), key=lambda i: (-hinted[i], units[i][0], units[i][1]))
    _, unit_id, unit_name, duty = units[best]
    # Excess and recurrence are two views of one root; either may show it alone. The smaller
    # p-value, doubled (Bonferroni), is valid whatever the dependence between the two. A recurrence
    # test that could not be made is no evidence either way, and is left out.
    p_value = p_excess if p_rec is None else min(1.0, 2.0 * min(p_excess, p_rec))
    candidate = Candidate(
        level=level, area_code=area, area_name=facts.names.get(area, area), district_code=district,
        category=category, unit_id=unit_id, unit_name=unit_name, duty=duty, bearers=units,
        observed=observed, expected=expected, p_excess=p_excess, p_recurrence=p_rec, p_value=p_value)
    candidate.evidence = {"observed": observed, "hints": sum(hinted)}
    return candidate
