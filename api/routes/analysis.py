"""Responsibility chains, root causes, joint packages (JSON and Excel), the neighbourhood of a node
for visual exploration, and read-only Cypher. Chains and neighbourhoods for viewers; root causes,
packages and Cypher for analysts."""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any, Callable, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from fastapi.responses import Response

from graph import service
from graph.analysis.neighborhood import neighborhood as neighbourhood_of
from graph.analysis.neighborhood import path_between
from graph.analysis.root_causes import DEFAULT_MIN_CONFIDENCE
from graph.errors import Forbidden, NotFound
from graph.model import DISTRICT_CODE
from graph.reports import write_packages, write_root_causes

from ..audit import audit
from ..cache import VersionedCache, run_read
from ..deps import Analyst, CacheDep, Caller, Editor, SettingsDep, StoreDep, Viewer, district_query, scoped_district
from ..schemas import ChainOut, CypherIn, CypherOut, NeighborhoodOut, PackageOut, Page, RootCausePage
from .issues import scoped_issue
from .reference import Limit, Offset

router = APIRouter(tags=["分析 (analysis)"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Level = Query(None, description="township 乡镇 或 district 区县")


@router.get("/issues/{issue_id:path}/chain", response_model=ChainOut, summary="一个问题的责任链")
async def chain(issue_id: str, store: StoreDep, cache: CacheDep, caller: Viewer):
    def answer():  # a few milliseconds even cold: on the loop for SQLite, one thread hop for Neo4j
        scoped_issue(store, caller, issue_id)
        return cache.get(store, ("chain", issue_id), lambda: service.chain(store, issue_id))
    return await run_read(store, answer)


def surfaced(store, cache: VersionedCache, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
             term: str | None = None) -> list:
    """The root-cause analysis of the whole store (of one term: ``term``, default the latest), once
    per data version: every selection by district and level, the packages and the served views read it."""
    key = ("surfaced", min_confidence) + ((term,) if term is not None else ())
    return cache.analysis.get(store, key,
                              lambda: service.surfaced(store, min_confidence, term))


def _causes_key(store, cache, caller, district, level, min_confidence, include_all, term=None):
    district = scoped_district(store, caller, district, cache)
    return (("rootcauses", district, level, min_confidence, include_all, term),
            lambda: service.root_causes(store, district=district, level=level, min_confidence=min_confidence,
                                        include_all=include_all, term=term,
                                        candidates=surfaced(store, cache, min_confidence, term)))


def _causes(store, cache, caller, district, level, min_confidence, include_all):
    return cache.analysis.get(store, *_causes_key(store, cache, caller, district, level, min_confidence,
                                                  include_all))


async def _causes_async(store, cache, caller, district, level, min_confidence, include_all, term=None):
    key = await run_read(store, lambda: _causes_key(store, cache, caller, district, level, min_confidence,
                                                    include_all, term))
    return await cache.analysis.aget(store, *key)


def _notes(store, cache, caller, district, level, min_confidence, term=None) -> list[str]:
    """What ``rootcauses`` prints above its list (pairs untested and why, a widened baseline), for
    the caller's scope, once per data version: another system shows its analyst the same."""
    district = scoped_district(store, caller, district, cache)
    return cache.analysis.get(store, ("rootcause_notes", district, level, min_confidence, term),
                              lambda: service.root_cause_report(
                                  store, district=district, level=level, min_confidence=min_confidence, term=term,
                                  with_issues=False, candidates=surfaced(store, cache, min_confidence, term))[1])


def _term_notice(store, cache, caller, district, term):
    """The term analysed, the problems without a 届次 in the caller's scope, and what to tell of
    problems dated in another term's time, once per data version."""
    district = scoped_district(store, caller, district, cache)
    whole = caller.district is None  # counted over the whole ledger: told only to a caller who sees all of it

    def notice():
        dates = store.term_dates()
        current, without_term = service.term_notice(store, term, district, dates)
        return current, without_term, service.terms(store, dates)[1] if current is not None and whole else None
    return cache.analysis.get(store, ("term_notice", district, term, whole), notice)


@router.get("/rootcauses", response_model=RootCausePage, summary="上级根源单位（含证据），分页")
async def rootcauses(store: StoreDep, cache: CacheDep, caller: Analyst,
                     district: str | None = district_query(),
                     level: Literal["township", "district"] | None = Level,
                     min_confidence: float = Query(DEFAULT_MIN_CONFIDENCE, ge=0, le=1),
                     all: bool = Query(False, description="所有组合，不只是高于阈值的（未检验的只给出原因）"),
                     term: str | None = Query(None, max_length=50,
                                              description="届次（台账“届次”列；默认最近一届，以上一届为基线）"),
                     limit: int = Limit, offset: int = Offset):
    # one read (one thread hop on Neo4j): the analysis's key and the term's notice
    key, (analysed, without_term, misdated) = await run_read(store, lambda: (
        _causes_key(store, cache, caller, district, level, min_confidence, all, term),
        _term_notice(store, cache, caller, district, term)))
    causes = await cache.analysis.aget(store, *key)
    notes = await run_read(store, lambda: _notes(store, cache, caller, district, level, min_confidence, term))
    return {"items": causes[offset:offset + limit], "total": len(causes), "limit": limit, "offset": offset,
            "term": analysed, "issues_without_term": without_term,
            "notice": "\n".join(n for n in (service.without_term_notice(without_term), misdated) if n) or None,
            "notes": notes}


@router.get("/rootcauses.xlsx", response_class=Response, summary="根源单位 Excel 报告",
            responses={200: {"content": {XLSX: {}}, "description": "Excel 工作簿"}})
def rootcauses_xlsx(store: StoreDep, cache: CacheDep, caller: Analyst,
                    district: str | None = district_query(),
                    level: Literal["township", "district"] | None = Level):
    causes = _causes(store, cache, caller, district, level, DEFAULT_MIN_CONFIDENCE, False)
    notes = _notes(store, cache, caller, district, level, DEFAULT_MIN_CONFIDENCE)
    return _xlsx(lambda data, path: write_root_causes(data, path, notes), causes, "rootcauses.xlsx")


def district_packages(store, cache: VersionedCache, district: str | None, level: str | None = None,
                      as_of: dt.date | None = None) -> list[dict]:
    """The joint packages of a district (or all), from the cached analysis, once per data version."""
    as_of = as_of or dt.date.today()
    return cache.analysis.get(store, ("packages", district, level, as_of),
                              lambda: service.packages(store, district=district, level=level, as_of=as_of,
                                                       candidates=surfaced(store, cache)))


def _packages(store, cache, caller, district, level, as_of):
    return district_packages(store, cache, scoped_district(store, caller, district, cache), level, as_of)


@router.get("/packages", response_model=Page[PackageOut], summary="机关+基层联动整改包，分页")
def packages(store: StoreDep, cache: CacheDep, caller: Analyst, district: str | None = district_query(),
             level: Literal["township", "district"] | None = Level,
             as_of: dt.date | None = Query(None, description="报告日期，时限从此日算起（默认今天）"),
             limit: int = Query(20, ge=1, le=500), offset: int = Offset):
    found = _packages(store, cache, caller, district, level, as_of)
    return {"items": found[offset:offset + limit], "total": len(found), "limit": limit, "offset": offset}


@router.get("/packages.xlsx", response_class=Response, summary="联动整改包 Excel 报告",
            responses={200: {"content": {XLSX: {}}, "description": "Excel 工作簿"}})
def packages_xlsx(store: StoreDep, cache: CacheDep, caller: Analyst,
                  district: str | None = district_query(),
                  level: Literal["township", "district"] | None = Level, as_of: dt.date | None = None):
    found = _packages(store, cache, caller, district, level, as_of)
    return _xlsx(write_packages, found, "packages.xlsx")


def _xlsx(writer, data, name: str) -> Response:
    with tempfile.TemporaryDirectory() as tmp:
        content = writer(data, Path(tmp) / name).read_bytes()
    return Response(content, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def projection_entry(store, district: str | None) -> tuple[tuple, Callable]:
    """The cache key and computation of a district's projection (None: the province's), kept in
    the pool sized by graph nodes, once per data version: no flood of chains or neighbourhoods
    evicts it. The projection carries its neighbours' order, remembered as walks go through it."""
    def compute():
        graph = store.projection(district)
        graph.graph["neighbour_order"] = {}  # filled as walks go through (no cycle back to the graph)
        return graph
    return ("projection", district), compute


def _node_district(node: str, attrs: dict) -> str | None:
    """The district code a projection node belongs to (None: shared, such as a category)."""
    if node[:1].isdigit():
        return node
    for key in ("village_code", "area_code"):
        if attrs.get(key):
            return attrs[key]
    return None


def _visible_to(caller: Caller, attributes) -> Callable[[str], bool]:
    """Whether the caller may see a projection node: its own district's, those above it (its city
    and province) and shared ones (categories, rounds); never another district's."""
    def allowed(node: str) -> bool:
        code = _node_district(node, attributes[node])
        return code is None or caller.sees(code) or (caller.district or "").startswith(code)
    return allowed


def _check_node(graph, caller: Caller, id: str) -> None:
    """A node of the graph the caller may see (a division code was checked before the graph was read)."""
    if id not in graph or not caller.sees(_node_district(id, graph.nodes[id]) or caller.district):
        raise NotFound(f"没有这个节点：{id} (no such node)")


def _graph_out(attributes, center: str, nodes, edges, cut: bool) -> dict:
    shown = []
    for n in nodes:
        a = attributes[n]
        shown.append({"id": n, "kind": str(a.get("kind", "")), "label": str(a.get("name") or a.get("description") or n),
                      "properties": _props(a)})
    return {"center": center, "truncated": cut, "nodes": shown,
            "edges": [{"source": u, "target": v, "type": str(d.pop("type", "")), "properties": _props(d)}
                      for u, v, d in edges]}


@router.get("/graph/neighborhood", response_model=NeighborhoodOut, summary="一个节点的邻域（供可视化），有上限")
async def neighborhood(store: StoreDep, cache: CacheDep, caller: Viewer,
                       id: str = Query(..., min_length=1, description="区划代码，或 unit:ID、issue:ID、category:名称"),
                       depth: int = Query(1, ge=1, le=3), limit: int = Query(200, ge=1, le=500)):
    district = id[:6] if id[:1].isdigit() and len(id) >= 6 else caller.district
    if id[:1].isdigit():
        caller.visible(id, "节点")
    graph = await cache.graphs.aget(store, *projection_entry(store, district))
    _check_node(graph, caller, id)
    attributes = graph.nodes  # one lookup per node below: a hub's walk asks for thousands
    nodes, edges, cut = neighbourhood_of(graph, id, depth, limit, _visible_to(caller, attributes),
                                         graph.graph.get("neighbour_order"))
    return _graph_out(attributes, id, nodes, edges, cut)


@router.get("/graph/path", response_model=NeighborhoodOut, summary="两个节点之间的最短路径（供可视化）")
async def path(store: StoreDep, cache: CacheDep, caller: Viewer,
               source: str = Query(..., alias="from", min_length=1, description="起点：区划代码，或 unit:ID、issue:ID、category:名称"),
               target: str = Query(..., alias="to", min_length=1, description="终点，写法同起点")):
    """Through the nodes the token may see only; the two ends' district's graph when they share
    one (or the token's district), else the province's."""
    for end in (source, target):
        if end[:1].isdigit():
            caller.visible(end, "节点")
    districts = {end[:6] for end in (source, target) if end[:1].isdigit() and len(end) >= 6}
    district = caller.district or (districts.pop() if len(districts) == 1 else None)
    graph = await cache.graphs.aget(store, *projection_entry(store, district))
    for end in (source, target):
        _check_node(graph, caller, end)
    found = path_between(graph, source, target, _visible_to(caller, graph.nodes))
    if found is None:
        raise NotFound("这两个节点之间没有可见的路径 (no path between the two nodes)")
    return _graph_out(graph.nodes, source, *found, False)


def _props(attrs: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v if isinstance(v, (str, int, float, bool)) or v is None
                else str(v)) for k, v in attrs.items()}


@router.post("/cypher", response_model=CypherOut, summary="只读 Cypher 查询（Neo4j 存储；分析员，不限区县的令牌）")
def cypher(body: CypherIn, store: StoreDep, settings: SettingsDep, caller: Analyst):
    if caller.district is not None:
        raise Forbidden("限定区县的令牌不能使用 Cypher：Cypher 可以读到任何区县 (district tokens cannot use Cypher)")
    columns, rows, cut = store.cypher(body.query, body.parameters, settings.cypher_row_limit,
                                      settings.cypher_timeout_s, settings.cypher_max_mb * 2**20)
    return {"columns": columns, "rows": rows, "truncated": cut}


class PackageEndIn(BaseModel):
    on: dt.date | None = None
    note: str = Field("", max_length=2000, description="佐证说明 (evidence)")


@router.post("/packages/{package_id}/agency-done", response_model=PackageOut, summary="记录机关端整改完成")
def package_agency_done(package_id: str, body: PackageEndIn, store: StoreDep, caller: Editor):
    return _package_end(store, caller, package_id, "packages.agency_done", service.complete_agency_end,
                        body.on or dt.date.today(), body.note)


@router.post("/packages/{package_id}/close", response_model=PackageOut, summary="整改包销号（两端都完成后）")
def package_close(package_id: str, body: PackageEndIn, store: StoreDep, caller: Editor):
    return _package_end(store, caller, package_id, "packages.close", service.close_package,
                        body.on or dt.date.today(), body.note)


class ReopenIn(BaseModel):
    district: str = Field(pattern=DISTRICT_CODE, description="区县代码")
    apply: bool = Field(False, description="写入；false 只预览")
    on: dt.date | None = Field(None, description="整改包重新打开的日期（默认今天）")


class ReopenOut(BaseModel):
    district: str
    applied: bool
    issues: list[dict[str, Any]]
    packages: list[dict[str, Any]]


@router.post("/rectification/reopen", response_model=ReopenOut,
             summary="整改后复发：问题和已销号整改包重新打开并记录关联")
def reopen(body: ReopenIn, store: StoreDep, caller: Editor):
    district = caller.scope(body.district)
    found = store.division(district)
    if found is None or found.level != "district":
        raise NotFound("没有这个区县 (no such district)")
    with store.atomic():
        result = service.reopen_recurrences(store, district, apply=body.apply, on=body.on, scope=caller.access)
        before = result.pop("before")
        if body.apply and (result["issues"] or result["packages"]):
            ids = [link["closed"] for link in result["issues"]]
            after = store.issues_by_id(ids)
            audit(store, caller, "rectification.reopen", district, before, {
                "issues": {i: {"status": after[i].status, "extra": after[i].extra} for i in ids},
                "packages": {p["package_id"]: {"reopened_by": p["reopened_by"]} for p in result["packages"]}},
                district)
    return result


def _package_end(store, caller: Caller, package_id: str, action: str, record, on: dt.date, note: str) -> dict:
    with store.atomic():
        before, package = record(store, package_id, on, note, scope=caller.access)
        audit(store, caller, action, package_id, before, package["status"], package["root_cause"]["area_code"][:6])
    return package

