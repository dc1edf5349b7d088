"""Use cases shared by the CLI and the API: they read from a store, call the pure analysis
functions and return plain data. No I/O formatting here."""
from __future__ import annotations

import datetime as dt

from .analysis.chains import responsibility_chain
from .analysis.packages import build_packages
from .analysis.root_causes import DEFAULT_MIN_CONFIDENCE, surface_root_causes
from .errors import NotFound
from .store import GraphStore

BULK_FROM = 100  # candidates from which their problems are read in one pass


def root_causes(store: GraphStore, **options) -> list[dict]:
    """Surfaced root causes (or, with ``include_all``, every pair), best first, as dicts with their
    villages and issue ids; see :func:`root_cause_report`."""
    return root_cause_report(store, **options)[0]


def root_cause_report(store: GraphStore, *, district: str | None = None, level: str | None = None,
                      top: int | None = None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                      include_all: bool = False, with_issues: bool = True) -> tuple[list[dict], list[str]]:
    """The root causes and, for the pairs in scope that could not be tested, each distinct reason
    (no baseline, no reference rates). Baselines always use everything loaded; ``district`` filters."""
    candidates = surface_root_causes(store.ledger_facts(), min_confidence=min_confidence)
    notes = sorted({c.reason for c in candidates if c.reason and (district is None or c.district_code == district)
                    and (level is None or c.level == level)})
    selected = [c for c in candidates
                if (include_all or c.surfaced)
                and (district is None or c.district_code == district)
                and (level is None or c.level == level)]
    if top is not None:
        selected = selected[:top]
    if with_issues and len(selected) > BULK_FROM:
        # Many candidates (--all): one pass over the ledger beats a query per candidate.
        under: dict[tuple[str, str], list] = {}
        for issue in sorted(store.issues(district), key=lambda i: (i.village_code, i.found_on, i.issue_id)):
            for area in (issue.village_code[:9], issue.village_code[:6]):
                under.setdefault((area, issue.category), []).append(issue)
        issues_of = lambda c: under.get((c.area_code, c.category), [])  # noqa: E731
    else:
        issues_of = lambda c: store.issues_in(c.area_code, c.category)  # noqa: E731
    out = []
    for rank, candidate in enumerate(selected, start=1):
        item = {"rank": rank, **candidate.as_dict()}
        if with_issues:
            issues = issues_of(candidate)
            item["villages"] = sorted({i.village_code for i in issues})
            item["issue_ids"] = [i.issue_id for i in issues]
        out.append(item)
    return out, notes


def chain(store: GraphStore, issue_id: str) -> dict:
    graph = store.chain_graph(issue_id)
    if f"issue:{issue_id}" not in graph:
        raise NotFound(f"没有编号为 {issue_id} 的问题 (no such issue)")
    return responsibility_chain(graph, issue_id)


def packages(store: GraphStore, as_of: dt.date | None = None, **options) -> list[dict]:
    """Joint rectification packages for the surfaced causes; due dates count from ``as_of`` (today)."""
    causes = root_causes(store, with_issues=False, **options)
    issues = {c["rank"]: store.issues_in(c["area_code"], c["category"]) for c in causes}
    villages = {i.village_code for found in issues.values() for i in found}
    townships = {code[:9] for code in villages}
    names = store.division_names(villages | townships)
    duties = store.duties()
    categories = {c.name: c for c in store.categories()}
    return build_packages(causes, issues, names, store.units(townships), duties, categories, as_of=as_of)
