"""Pages from a store: each reads the subgraph a view needs and calls the pure view function.
The CLI (`xuncha viz`) and the API share these."""
from __future__ import annotations

from graph import service
from graph.analysis.neighborhood import neighborhood
from graph.errors import NotFound
from graph.store import GraphStore

from . import views


def chain_page(store: GraphStore, issue_id: str) -> str:
    graph = store.chain_graph(issue_id)
    if f"issue:{issue_id}" not in graph:
        raise NotFound(f"没有编号为 {issue_id} 的问题 (no such issue)")
    return views.chain_view(graph, issue_id)


def area_page(store: GraphStore, code: str) -> str:
    division = store.division(code)
    if division is None or division.level not in ("district", "township"):
        raise NotFound(f"没有这个区县或乡镇(街道)：{code} (a loaded district or township code)")
    graph = store.projection(code[:6])
    return views.area_view(graph.subgraph(n for n in graph if not n[:1].isdigit() or n.startswith(code)
                                          or code.startswith(n)), code)


def root_cause_page(store: GraphStore, unit_id: str, category: str, candidates: list | None = None,
                    packages_of=None, projection_of=None) -> str:
    """The root-cause view of one tested pair. The API passes its cached analysis: the store's
    :func:`graph.service.surfaced` ``candidates``, ``packages_of(district)`` and
    ``projection_of(district)``; without them each is computed here."""
    cause = service.root_cause(store, unit_id, category, candidates)
    if cause is None:
        raise NotFound(f"没有检验过的组合：{unit_id} · {category} (no such unit and category)")
    packages = (packages_of or (lambda d: service.packages(store, district=d)))(cause["district_code"]) \
        if cause["surfaced"] else []
    package = next((p for p in packages if p["root_cause"]["unit_id"] == unit_id
                    and p["root_cause"]["category"] == category), None)
    graph = (projection_of or store.projection)(cause["district_code"])
    return views.root_cause_view(graph, cause, package)


def unit_page(store: GraphStore, unit_id: str, depth: int = 1, limit: int = 150) -> str:
    unit = next((u for u in store.units() if u.unit_id == unit_id), None)
    if unit is None:
        raise NotFound(f"没有这个单位：{unit_id} (no such unit)")
    graph = store.projection(unit.area_code[:6])
    nodes, _, cut = neighborhood(graph, f"unit:{unit_id}", depth, limit)
    page = views.unit_view(graph.subgraph(nodes), unit_id)
    return page
