"""Networkx projection of the responsibility graph: node ids and attributes every store shares, so
the pure analysis functions see the same graph whichever store built it.

Node ids: a division's statistical code; ``unit:ID``, ``category:NAME``, ``issue:ID``, ``round:ID``.
"""
from __future__ import annotations

import networkx as nx

from .model import Division, KIND_BY_LEVEL, NodeKind, Rel
from .store import GraphStore, Issue, Unit


def add_division(g: nx.MultiDiGraph, d: Division) -> None:
    g.add_node(d.code, kind=KIND_BY_LEVEL[d.level], name=d.name, level=d.level, division_kind=d.kind)
    if d.parent_code:
        g.add_edge(d.code, d.parent_code, key=Rel.PART_OF, type=Rel.PART_OF)


def add_unit(g: nx.MultiDiGraph, u: Unit) -> None:
    node = f"unit:{u.unit_id}"
    g.add_node(node, kind=NodeKind.UNIT, unit_id=u.unit_id, name=u.name, level=u.level,
               area_code=u.area_code, function=u.function)
    g.add_edge(node, u.area_code, key=Rel.BELONGS_TO, type=Rel.BELONGS_TO)


def add_category_duties(g: nx.MultiDiGraph, categories, duties, unit_nodes) -> None:
    for c in categories:
        g.add_node(f"category:{c.name}", kind=NodeKind.CATEGORY, name=c.name)
    by_function: dict[tuple[str, str], list[str]] = {}
    for node in unit_nodes:
        attrs = g.nodes[node]
        by_function.setdefault((attrs["level"], attrs["function"]), []).append(node)
    for d in duties:
        for node in by_function.get((d.level, d.function), []):
            g.add_edge(node, f"category:{d.category}", key=f"{Rel.DUTY}:{d.duty}", type=Rel.DUTY, duty=d.duty)


def add_issue(g: nx.MultiDiGraph, i: Issue) -> None:
    node = f"issue:{i.issue_id}"
    g.add_node(node, kind=NodeKind.ISSUE, issue_id=i.issue_id, category=i.category, severity=i.severity,
               status=i.status, found_on=i.found_on, round_id=i.round_id, description=i.description,
               amount_yuan=i.amount_yuan, root_unit_hint=i.root_unit_hint)
    g.add_node(f"round:{i.round_id}", kind=NodeKind.ROUND, name=i.round_id)
    g.add_node(f"category:{i.category}", kind=NodeKind.CATEGORY, name=i.category)
    g.add_edge(node, i.village_code, key=Rel.FOUND_IN, type=Rel.FOUND_IN)
    g.add_edge(node, f"category:{i.category}", key=Rel.OF_CATEGORY, type=Rel.OF_CATEGORY)
    g.add_edge(node, f"round:{i.round_id}", key=Rel.IN_ROUND, type=Rel.IN_ROUND)


def link_hint(g: nx.MultiDiGraph, i: Issue) -> None:
    if i.root_unit_hint and f"unit:{i.root_unit_hint}" in g:
        g.add_edge(f"issue:{i.issue_id}", f"unit:{i.root_unit_hint}", key=Rel.ROOT_CAUSE_AT,
                   type=Rel.ROOT_CAUSE_AT, source="hint")


def lineage(store: GraphStore, code: str | None) -> list[Division]:
    """The division ``code`` and its ancestors, bottom-up, by parent code (the one walk up the
    PART_OF chain; a missing division ends it)."""
    found = []
    while code:
        division = store.division(code)
        if division is None:
            break
        found.append(division)
        code = division.parent_code
    return found


def chain_graph(store: GraphStore, issue_id: str) -> nx.MultiDiGraph:
    """The issue, its village and ancestors, their units with DUTY edges for the issue's category,
    and the hinted unit: everything :func:`graph.analysis.chains.responsibility_chain` walks."""
    issue = store.issue(issue_id)
    if issue is None:
        return nx.MultiDiGraph()
    areas = lineage(store, issue.village_code)
    units = store.units([a.code for a in areas])
    if issue.root_unit_hint and all(u.unit_id != issue.root_unit_hint for u in units):
        units += [u for u in store.units() if u.unit_id == issue.root_unit_hint]
    return chain_of(issue, areas, units, [c for c in store.categories() if c.name == issue.category],
                    [d for d in store.duties() if d.category == issue.category])


def chain_of(issue: Issue, areas: list[Division], units: list[Unit], categories, duties) -> nx.MultiDiGraph:
    """The chain graph of :func:`chain_graph` from its parts, however a store read them: the areas
    from the village up, the units of those areas by id (then the hinted unit if elsewhere), the
    issue's category and its duties."""
    g = nx.MultiDiGraph()
    add_issue(g, issue)
    for division in areas:
        add_division(g, division)
    for unit in units:
        add_unit(g, unit)
    add_category_duties(g, categories, duties, [f"unit:{u.unit_id}" for u in units])
    link_hint(g, issue)
    return g


def projection(store: GraphStore, district: str | None = None) -> nx.MultiDiGraph:
    """The whole graph, or one district's subtree (with its ancestors), as a networkx graph."""
    g = nx.MultiDiGraph()
    if district:
        code = district
        while code:
            division = store.division(code)
            if division is None:
                break
            add_division(g, division)
            code = division.parent_code
    for level in ("province", "city", "district", "township", "village"):
        for division in store.divisions(level, within=district):
            add_division(g, division)
    units = [u for u in store.units() if district is None or u.area_code.startswith(district)]
    for unit in units:
        add_unit(g, unit)
    add_category_duties(g, store.categories(), store.duties(), [f"unit:{u.unit_id}" for u in units])
    for issue in store.issues(district):
        add_issue(g, issue)
        link_hint(g, issue)
    return g
