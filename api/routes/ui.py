"""The web UI at /ui (one static page over the API, no CDN), the compact JSON its explorer draws
(a root cause's map, an area, a village: villages grouped by township with their problems), and the
views as HTML pages."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from graph.analysis.root_causes import DEFAULT_MIN_CONFIDENCE
from graph.errors import NotFound
from graph.model import DISTRICT_CODE, DutyType, LEVEL_ZH, NODE_KIND_ZH, REL_ZH, Severity, Status, UnitLevel
from visualizations import pages

from ..deps import Analyst, CacheDep, StoreDep, Viewer
from . import analysis
from .analysis import _causes, _causes_async, _packages

router = APIRouter(tags=["可视化 (views)"])
STATIC = Path(__file__).resolve().parent.parent / "static"
VENDOR = Path(pages.__file__).resolve().parent / "vendor"
EXPORT_JS = Path(pages.__file__).resolve().parent / "templates" / "export.js"
HTML = {200: {"content": {"text/html": {}}, "description": "自包含的 HTML 页面 (a self-contained page)"}}
# ReDoc's bundle shows a "powered by" logo it loads from its CDN; offline it is left out.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


# The explorer reads this server only: a script it runs, or a view it frames, cannot send the
# token in its tab elsewhere (a crafted link once named another site as a view's address).
UI_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'")


@router.get("/ui", response_class=FileResponse, include_in_schema=False)
def ui():
    return FileResponse(STATIC / "ui.html", media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": UI_POLICY, "X-Content-Type-Options": "nosniff"})


@router.get("/ui/vis-network.min.js", response_class=FileResponse, include_in_schema=False)
def vis_network():
    return FileResponse(VENDOR / "vis-network.min.js", media_type="text/javascript")


@router.get("/ui/export.js", response_class=FileResponse, include_in_schema=False)
def export_js():
    """PNG, JSON and XLSX export: the same script the single-file views inline."""
    return FileResponse(EXPORT_JS, media_type="text/javascript")


@lru_cache(maxsize=1)
def _redoc_bundle() -> str:
    import fastapi_offline
    bundle = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
    return bundle.read_text(encoding="utf-8").replace(REDOC_LOGO, "data:,")


@router.get("/redoc", response_class=HTMLResponse, include_in_schema=False)
def redoc():
    return get_redoc_html(openapi_url="/openapi.json", title="xuncha 巡察 API - ReDoc",
                          redoc_js_url="/ui/redoc.standalone.js", with_google_fonts=False,
                          redoc_favicon_url="/static-offline-docs/favicon.png")


@router.get("/ui/redoc.standalone.js", include_in_schema=False)
def redoc_js():
    return Response(_redoc_bundle(), media_type="text/javascript")


class ScopeOut(BaseModel):
    name: str | None
    role: str
    district: str | None
    districts: list[dict[str, str]]
    labels: dict[str, dict[str, str]]


@router.get("/me", response_model=ScopeOut, summary="当前令牌：名称、角色、可见的区县，及界面用的中文名称")
def me(store: StoreDep, caller: Viewer):
    if caller.district:
        districts = [d for d in [store.division(caller.district)] if d is not None]
    else:
        districts = store.divisions("district")
    return {"name": caller.token.name, "role": caller.token.role, "district": caller.district,
            "districts": [{"code": d.code, "name": d.name} for d in districts],
            "labels": {"status": Status.zh_names(), "severity": Severity.zh_names(), "duty": DutyType.zh_names(),
                       "level": {**UnitLevel.zh_names(), **LEVEL_ZH},
                       "kind": {str(k): v for k, v in NODE_KIND_ZH.items()}, "rel": {str(k): v for k, v in REL_ZH.items()}}}


def _cause_row(cause: dict, names: dict[str, str]) -> dict:
    """One line of the root-cause list: what the analyst sorts and filters on."""
    e = cause["evidence"]
    return {"rank": cause["rank"], "unit_id": cause["unit_id"], "unit_name": cause["unit_name"],
            "level": cause["level"], "area_code": cause["area_code"], "area_name": cause["area_name"],
            "district_code": cause["district_code"], "district_name": names.get(cause["district_code"], ""),
            "category": cause["category"], "duty": cause["duty"], "confidence": cause["confidence"],
            "villages": len(cause.get("villages", [])), "observed": e.get("observed"),
            "expected": e.get("expected"), "amount_yuan": e.get("amount_yuan"),
            "recurrences": e.get("recurrences")}


@router.get("/ui/rootcauses", summary="根源单位一览（界面用：每个根源一行）")
async def root_cause_list(store: StoreDep, cache: CacheDep, caller: Analyst,
                          district: str | None = Query(None, pattern=DISTRICT_CODE)):
    causes = await _causes_async(store, cache, caller, district, None, DEFAULT_MIN_CONFIDENCE, False)
    names = store.division_names({c["district_code"] for c in causes})
    return {"items": [_cause_row(c, names) for c in causes]}


ISSUE_FIELDS = ("issue_id", "category", "status", "round_id", "found_on", "severity", "amount_yuan", "description")
MAP_FIELDS = ISSUE_FIELDS[:7]    # a map's problems: what its filters, counts and money need
AREA_FIELDS = ISSUE_FIELDS[:5]   # an area's thousands: what its filters and counts need


def _issue_row(issue, fields: tuple[str, ...]) -> list:
    return [getattr(issue, f).isoformat() if f == "found_on" else getattr(issue, f) for f in fields]


def _townships(store, villages: list[str], issues, fields: tuple[str, ...]) -> dict:
    """Villages grouped by township, each with its problems (every village, none left out); a
    problem as a row of ``fields``, named once (an area holds thousands)."""
    per_village: dict[str, list[list]] = defaultdict(list)
    for issue in issues:
        per_village[issue.village_code].append(_issue_row(issue, fields))
    codes = set(villages) | {v[:9] for v in villages}
    names = store.division_names(codes)
    grouped: dict[str, list[dict]] = defaultdict(list)
    for v in sorted(villages):
        grouped[v[:9]].append({"code": v, "name": names.get(v, v), "issues": per_village.get(v, [])})
    return {"issue_fields": fields,
            "townships": [{"code": t, "name": names.get(t, t), "villages": members} for t, members in grouped.items()]}


# The maps are large and read often: answered from the app's cache (per data version), as JSON
# without FastAPI's encoder walking thousands of rows.
@router.get("/ui/rootcause-map", summary="一个根源的地图数据：按乡镇分组的村(社区)及其问题、证据")
def root_cause_map(store: StoreDep, cache: CacheDep, caller: Analyst, unit_id: str, category: str):
    def answer():
        causes = _causes(store, cache, caller, None, None, DEFAULT_MIN_CONFIDENCE, False)
        cause = next((c for c in causes if c["unit_id"] == unit_id and c["category"] == category), None)
        if cause is None:
            raise NotFound("没有这个根源（单位与类别的组合未达阈值，或不在令牌的区县范围内）(no such root cause)")
        return JSONResponse({"cause": {k: v for k, v in cause.items() if k not in ("villages", "issue_ids")},
                             **_townships(store, cause.get("villages", []), store.issues_in(cause["area_code"], category),
                                          MAP_FIELDS)}).body
    body = cache.get(store, ("ui-map", caller.district, unit_id, category), answer)
    return Response(body, media_type="application/json")


@router.get("/ui/package", summary="一个根源的联动整改包（机关端与基层端）")
def root_cause_package(store: StoreDep, cache: CacheDep, caller: Analyst, unit_id: str, category: str,
                       district: str = Query(..., pattern=DISTRICT_CODE)):
    packages = _packages(store, cache, caller, district, None, dt.date.today())
    package = next((p for p in packages if p["root_cause"]["unit_id"] == unit_id
                    and p["root_cause"]["category"] == category), None)
    if package is None:
        raise NotFound("没有这个整改包 (no such package)")
    return package


@router.get("/ui/area/{code}", summary="一个区县或乡镇的地图数据：按乡镇分组的村(社区)及其问题")
def area_map(code: str, store: StoreDep, cache: CacheDep, caller: Viewer):
    caller.visible(code, "区划")

    def answer():
        division = store.division(code)
        if division is None or division.level not in ("district", "township"):
            raise NotFound("没有这个区县或乡镇(街道) (no such district or township)")
        villages = [d.code for d in store.divisions("village", within=code)]
        names = store.division_names({code[:6]})
        return JSONResponse({"area": {"code": code, "name": division.name, "level": division.level,
                                      "district_name": names.get(code[:6], "")},
                             "units": [u.__dict__ for u in store.units([code])],
                             **_townships(store, villages, store.issues(code), AREA_FIELDS)}).body
    return Response(cache.get(store, ("ui-area", code), answer), media_type="application/json")


@router.get("/ui/village/{code}", summary="一个村(社区)的问题，及其乡镇、区县")
def village(code: str, store: StoreDep, caller: Viewer) -> dict[str, Any]:
    caller.visible(code, "村(社区)")
    found = store.division(code)
    if found is None or found.level != "village":
        raise NotFound("没有这个村(社区) (no such village)")
    names = store.division_names({code[:6], code[:9]})
    return {"code": code, "name": found.name, "township_code": code[:9], "township_name": names.get(code[:9], ""),
            "district_code": code[:6], "district_name": names.get(code[:6], ""),
            "issues": [dict(zip(ISSUE_FIELDS, _issue_row(i, ISSUE_FIELDS))) for i in store.issues(code)]}


@router.get("/views/chain/{issue_id:path}", response_class=HTMLResponse, responses=HTML, summary="责任链视图")
def chain_view(issue_id: str, store: StoreDep, caller: Viewer):
    issue = store.issue(issue_id)
    if issue is None or not caller.sees(issue.village_code):
        raise NotFound("没有这个问题 (no such issue)")
    return HTMLResponse(pages.chain_page(store, issue_id))


@router.get("/views/area/{code}", response_class=HTMLResponse, responses=HTML, summary="区县或乡镇网络视图")
def area_view(code: str, store: StoreDep, caller: Viewer):
    caller.visible(code, "区划")
    return HTMLResponse(pages.area_page(store, code))


@router.get("/views/unit/{unit_id:path}", response_class=HTMLResponse, responses=HTML, summary="单位关系视图")
def unit_view(unit_id: str, store: StoreDep, caller: Viewer):
    unit = next((u for u in store.units() if u.unit_id == unit_id), None)
    if unit is None or not caller.sees(unit.area_code):
        raise NotFound("没有这个单位 (no such unit)")
    return HTMLResponse(pages.unit_page(store, unit_id))


@router.get("/views/rootcause/{unit_id:path}/{category}", response_class=HTMLResponse, responses=HTML,
            summary="根源图")
def root_cause_view(unit_id: str, category: str, store: StoreDep, cache: CacheDep, caller: Analyst):
    unit = next((u for u in store.units() if u.unit_id == unit_id), None)
    if unit is None or not caller.sees(unit.area_code):
        raise NotFound("没有这个单位 (no such unit)")
    return HTMLResponse(pages.root_cause_page(
        store, unit_id, category, candidates=analysis.surfaced(store, cache),
        packages_of=lambda district: analysis.district_packages(store, cache, district),
        projection_of=lambda district: cache.graphs.get(store, *analysis.projection_entry(store, district))))
