"""The ledger rules in plain Python: what each store's aggregation (``LEDGER_SQL`` in the SQLite
store, ``LEDGER_CYPHER`` in the Neo4j store) must compute. It is the reference both are tested
against on small hand-made ledgers, and what benchmarks use to skip a store's load.

Rules
-----
* Every finding counts, in every round.
* A village's findings of a category are *rectified before the latest round* when one of them is
  rectified, closed or reopened after its fix (已整改/已销号/复发重开) and was made in a round other than the ledger's latest (the
  round of its latest finding), so a later round could have seen the category again.
* Such a village *recurred* when, after its earliest rectified/closed finding of the category (by
  date, then round), the category was found again on a later date in another round.
* Severity weights: 一般 1, 较重 2, 严重 4 (``graph.model.SEVERITY_WEIGHT``).

The statuses and weights are defined once, in :mod:`graph.model`; the stores' queries take them as
bound parameters (``graph.model.LEDGER_PARAMETERS``), so SQL, Cypher and this reference read the same rule.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from ..model import ONCE_RECTIFIED, SEVERITY_WEIGHT, UNKNOWN_SEVERITY_WEIGHT
from ..store import Exposure, HintCount, LedgerCell, VillageCount

DONE = ONCE_RECTIFIED


@dataclass(frozen=True)
class Finding:
    """The fields of a problem the ledger rules read."""

    village_code: str
    category: str
    round_id: str
    found_on: str  # ISO date
    status: str
    severity: str
    amount_yuan: float | None = None
    root_unit_hint: str | None = None


def finding(issue) -> Finding:
    """A :class:`Finding` from an issue record or row (``graph.store.Issue``, ``IssueIn``, a dict)."""
    get = issue.get if isinstance(issue, dict) else lambda k: getattr(issue, k)
    found_on = get("found_on")
    amount = get("amount_yuan")
    status, severity = get("status"), get("severity")
    return Finding(get("village_code"), get("category"), get("round_id"),
                   found_on.isoformat() if isinstance(found_on, dt.date) else str(found_on),
                   getattr(status, "value", status), getattr(severity, "value", severity),
                   float(amount) if amount not in (None, "") else None, get("root_unit_hint") or None)


def came_back(found) -> bool:
    """Whether one village's findings of one category *recurred*: after the earliest finding that
    was rectified or closed (by date, then round), the category was found again on a later date in
    another round. ``found``: records with ``found_on``, ``round_id`` and ``status``. The one home of
    this rule: the ledger's cells, the classification's indicator and the assessment all call it.

    >>> from types import SimpleNamespace as F
    >>> came_back([F(found_on="2023-01-05", round_id="R1", status="closed"),
    ...            F(found_on="2023-07-05", round_id="R2", status="open")])
    True
    >>> came_back([F(found_on="2023-01-05", round_id="R1", status="closed"),
    ...            F(found_on="2023-01-09", round_id="R1", status="open")])  # the same round: not again
    False
    """
    done = [f for f in found if f.status in DONE]
    if not done:
        return False
    first = min(done, key=lambda f: (f.found_on, f.round_id))
    return any(found_again(f, first) for f in found)


def found_again(later, earlier) -> bool:
    """Whether ``later`` finds ``earlier``'s category again: on a later date, in another round."""
    return later.found_on > earlier.found_on and later.round_id != earlier.round_id


def ledger_facts_from_findings(findings: Iterable[Finding], villages: dict[str, tuple[str, str, str]]
                               ) -> tuple[list[LedgerCell], list[Exposure], list[HintCount], list[VillageCount]]:
    """Cells, exposure, hints and per-village counts from findings; ``villages`` maps every loaded
    village code to ``(township, district, kind)``. Sorted as the stores sort them.

    >>> villages = {"500101001001": ("500101001", "500101", "village"),
    ...             "500101001002": ("500101001", "500101", "village")}
    >>> rows = [Finding("500101001001", "低保", "R1", "2023-01-05", "closed", "minor"),
    ...         Finding("500101001001", "低保", "R2", "2023-07-05", "open", "grave"),
    ...         Finding("500101001001", "作风", "R2", "2023-07-06", "open", "minor")]
    >>> cells, exposure, hints, counts = ledger_facts_from_findings(rows, villages)
    >>> [(c.category, c.issues, c.issues_sq, c.issues_cross, c.villages_rectified, c.villages_recurred)
    ...  for c in cells]
    [('低保', 2, 4, 6, 1, 1), ('作风', 1, 1, 3, 0, 0)]
    >>> exposure[0].villages, exposure[0].inspected, exposure[0].issues, exposure[0].issues_sq
    (2, 1, 3, 9)
    >>> [(c.category, c.issues) for c in counts]
    [('低保', 2), ('作风', 1)]
    """
    findings = list(findings)
    latest = max(((f.found_on, f.round_id) for f in findings), default=(None, None))[1]
    by_vc: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in findings:
        by_vc[(f.village_code, f.category)].append(f)
    totals: dict[str, int] = defaultdict(int)
    for (village, _), found in by_vc.items():
        totals[village] += len(found)
    cells: dict[tuple[str, str, str, str], list] = {}
    for (village, category), found in by_vc.items():
        township, district, kind = villages[village]
        rectified = any(f.status in DONE and f.round_id != latest for f in found)
        recurred = rectified and came_back(found)
        n = len(found)
        key = (township, district, kind, category)
        cell = cells.setdefault(key, [0, 0, 0, 0, 0.0, 0.0, 0, 0])
        cell[0] += 1
        cell[1] += n
        cell[2] += n * n
        cell[3] += n * totals[village]
        cell[4] += sum(SEVERITY_WEIGHT.get(f.severity, UNKNOWN_SEVERITY_WEIGHT) for f in found)
        cell[5] += sum(f.amount_yuan or 0.0 for f in found)
        cell[6] += int(rectified)
        cell[7] += int(recurred)
    out_cells = [LedgerCell(t, d, k, c, v[0], v[1], v[2], v[3], v[4], round(v[5], 2), v[6], v[7])
                 for (t, d, k, c), v in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][3]))]
    exposure: dict[tuple[str, str, str], list[int]] = {}
    for village, (township, district, kind) in villages.items():
        row = exposure.setdefault((township, district, kind), [0, 0, 0, 0])
        n = totals.get(village, 0)
        row[0] += 1
        row[1] += int(n > 0)
        row[2] += n
        row[3] += n * n
    out_exposure = [Exposure(t, d, k, *v) for (t, d, k), v in sorted(exposure.items(), key=lambda kv: (kv[0][0], kv[0][2]))]
    hints: dict[tuple[str, str, str], int] = defaultdict(int)
    for f in findings:
        if f.root_unit_hint:
            hints[(villages[f.village_code][0], f.category, f.root_unit_hint)] += 1
    out_hints = [HintCount(t, c, u, n) for (t, c, u), n in sorted(hints.items())]
    out_counts = [VillageCount(village, villages[village][2], category, len(found))
                  for (village, category), found in sorted(by_vc.items())]
    return out_cells, out_exposure, out_hints, out_counts
