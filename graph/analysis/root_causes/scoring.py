"""Step 6: the answering unit, the evidence shown with each pair, and the score it is ranked by."""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ...model import DUTY_ORDER
from ...store import LedgerFacts
from .candidate import Candidate
from .tally import Tally


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
    inspectors pointed at one of its duty bearers. An untested pair scores 0.

    >>> from types import SimpleNamespace
    >>> tally = SimpleNamespace(x=np.array([100.0]), weight=np.array([150.0]))  # mean weight 1.5
    >>> c = SimpleNamespace(tested=True, p_value=1e-6, observed=10, score=0.0,
    ...                     evidence={"severity_weight": 30.0, "hints": 5})      # twice as severe, half hinted
    >>> score_candidates([c], tally)
    >>> round(c.score, 3)                                                      # 6 · √2 · 1.5
    12.728
    """
    total_issues = tally.x.sum()
    mean_weight = tally.weight.sum() / total_issues if total_issues else 1.0
    for c in candidates:
        w = c.evidence.get("severity_weight", 0.0)
        severity_ratio = (w / c.observed / mean_weight) if c.observed and mean_weight else 1.0
        hint_share = c.evidence["hints"] / c.observed if c.observed else 0.0
        # + 0.0: p = 1 gives −0.0, printed "得分 -0.0"
        c.score = (-math.log10(max(c.p_value, 1e-300)) * math.sqrt(severity_ratio) * (1.0 + hint_share) + 0.0
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
