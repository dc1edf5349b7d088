"""Divisions (browse and search), units, categories, duties, statistics: viewer and above."""
from __future__ import annotations

from fastapi import APIRouter, Query

from graph import service
from graph.errors import InputError, NotFound, RowError
from graph.model import DISTRICT_OR_TOWNSHIP_CODE, DIVISION_PREFIX

from ..deps import CacheDep, StoreDep, Viewer, district_query, filter_division, scoped_district
from ..schemas import CategoryOut, DivisionDetail, DivisionOut, DutyOut, Page, SearchOut, StatsOut, UnitOut

router = APIRouter(tags=["区划与单位 (divisions and units)"])
Limit = Query(100, ge=1, le=500, description="每页条数，最多 500")
Offset = Query(0, ge=0, le=10_000_000)
CHILD_LEVEL = {"province": "city", "city": "district", "district": "township", "township": "village"}


def page(items: list, limit: int, offset: int) -> dict:
    return {"items": items[offset:offset + limit], "total": len(items), "limit": limit, "offset": offset}


@router.get("/divisions", response_model=Page[DivisionOut], summary="区划：按上级浏览或按名称、代码搜索")
def divisions(store: StoreDep, caller: Viewer, parent: str | None = Query(None, pattern=DIVISION_PREFIX),
              q: str | None = Query(None, min_length=1, max_length=50), limit: int = Limit, offset: int = Offset):
    if q is not None:
        found = [d for d in store.find_divisions(q, limit=1000) if caller.sees(d.code)]
    elif parent is not None:
        caller.visible(parent, "区划") if len(parent) >= 6 else None
        division = store.division(parent)
        if division is None or division.level not in CHILD_LEVEL:
            raise NotFound("没有这个区划 (no such division)")
        found = [d for d in store.divisions(CHILD_LEVEL[division.level], within=parent)
                 if d.parent_code == parent and caller.sees(d.code)]
    elif caller.district:
        found = [store.division(caller.district)]
    else:
        found = store.divisions("province")
    return page([d._asdict() for d in found], limit, offset)


@router.get("/divisions/{code}", response_model=DivisionDetail, summary="一个区划：上级与下辖数量")
def division(code: str, store: StoreDep, caller: Viewer):
    caller.visible(code, "区划")
    found = store.division(code)
    if found is None:
        raise NotFound("没有这个区划 (no such division)")
    return {**found._asdict(), "ancestors": [d._asdict() for d in service.ancestors(store, found)],
            "children": store.children_counts(code)}


@router.get("/units", response_model=Page[UnitOut], summary="单位：按区划、职能筛选")
def units(store: StoreDep, caller: Viewer, district: str | None = district_query(),
          area: str | None = Query(None, pattern=DISTRICT_OR_TOWNSHIP_CODE), function: str | None = None,
          limit: int = Limit, offset: int = Offset):
    district = scoped_district(store, caller, district)
    filter_division(store, caller, area, within=district)
    found = [u for u in store.units([area] if area else None)
             if (district is None or u.area_code.startswith(district)) and (function is None or u.function == function)]
    return page([u.__dict__ for u in found], limit, offset)


@router.get("/units/{unit_id:path}", response_model=UnitOut, summary="一个单位")
def unit(unit_id: str, store: StoreDep, caller: Viewer):
    found = next((u for u in store.units() if u.unit_id == unit_id), None)
    if found is None or not caller.sees(found.area_code):
        raise NotFound("没有这个单位 (no such unit)")
    return found.__dict__


@router.get("/categories", response_model=list[CategoryOut], summary="问题类别表")
def categories(store: StoreDep, caller: Viewer):
    return [c.model_dump(exclude={"extra"}) for c in store.categories()]


@router.get("/duties", response_model=list[DutyOut], summary="权责清单")
def duties(store: StoreDep, caller: Viewer):
    return [d.__dict__ for d in store.duties()]


@router.get("/stats", response_model=StatsOut, summary="统计：各层级数量与各区县村、社区数")
def stats(store: StoreDep, caller: Viewer, district: str | None = district_query()):
    return store.counts(scoped_district(store, caller, district))


def _whereabouts(names: dict[str, str], code: str, within: bool = False) -> dict[str, str]:
    """The district and township above a division code (``within``: the code's own area too, as
    for a unit's)."""
    reach = len(code) + within
    return {"district_name": names.get(code[:6], "") if reach > 6 else "",
            "township_name": names.get(code[:9], "") if reach > 9 else ""}


@router.get("/search", response_model=SearchOut,
            summary="按名称或代码查找村、乡镇、区县、单位、问题类别和问题（附所在区县、乡镇）")
def search(store: StoreDep, cache: CacheDep, caller: Viewer, q: str = Query(..., min_length=1, max_length=50),
           limit: int = Query(20, ge=1, le=100)):
    q = q.strip()
    if not q:  # spaces alone (a full-width one, a tab) would have matched every name
        raise InputError(RowError("查找内容 (q)", None, "query.q", None, "至少 1 个非空白字符 (some text to find)"))
    divisions = [d._asdict() for d in store.find_divisions(q, limit=limit * 5) if caller.sees(d.code)][:limit]
    units = [u.__dict__ for u in store.units() if (q in u.name or u.unit_id.startswith(q))
             and caller.sees(u.area_code)][:limit]
    categories = [c.name for c in store.categories() if q in c.name][:limit]
    issue = store.issue(q)
    if issue is not None and caller.sees(issue.village_code):
        issues = [issue]
    else:  # by description, or the start of a problem number
        issues = cache.get(store, ("find issues", q, caller.district, limit),
                           lambda: store.find_issues(q, caller.district or "", limit))
    issues = [{"issue_id": i.issue_id, "village_code": i.village_code, "category": i.category,
               "description": i.description} for i in issues]
    codes = {d["code"] for d in divisions} | {u["area_code"] for u in units} | {i["village_code"] for i in issues}
    names = store.division_names({c[:n] for c in codes for n in (6, 9, 12) if len(c) >= n})
    for d in divisions:
        d.update(_whereabouts(names, d["code"]))
    for u in units:
        u.update(_whereabouts(names, u["area_code"], within=True))
    for i in issues:
        i.update(_whereabouts(names, i["village_code"]), village_name=names.get(i["village_code"], ""))
    return {"divisions": divisions, "units": units, "issues": issues, "categories": categories}
