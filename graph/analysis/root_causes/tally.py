"""Step 1: the ledger as arrays (township × village kind × category), inspected areas only: peers
are areas with a ledger, not merely loaded divisions."""
from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ...store import LedgerFacts


KINDS = ("village", "community", "other")


KIND_INDEX = {kind: i for i, kind in enumerate(KINDS)}


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

    @functools.cached_property
    def in_use(self) -> np.ndarray:
        """The categories the ledger uses (a problem of it in some inspected village): the others
        are in the catalog or the duties only, and an office that classifies its problems its own
        way has none of them (.baselines.reference_shares)."""
        return self.x.sum(axis=(0, 1)) > 0

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
