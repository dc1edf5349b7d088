"""The web UI at /ui (one static page over the API, no CDN) and the views as HTML pages."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from graph.errors import NotFound
from visualizations import pages

from ..deps import Analyst, CacheDep, StoreDep, Viewer
from . import analysis

router = APIRouter(tags=["可视化 (views)"])
STATIC = Path(__file__).resolve().parent.parent / "static"
VENDOR = Path(pages.__file__).resolve().parent / "vendor"
HTML = {200: {"content": {"text/html": {}}, "description": "自包含的 HTML 页面 (a self-contained page)"}}


@router.get("/ui", response_class=FileResponse, include_in_schema=False)
def ui():
    return FileResponse(STATIC / "ui.html", media_type="text/html; charset=utf-8")


@router.get("/ui/vis-network.min.js", response_class=FileResponse, include_in_schema=False)
def vis_network():
    return FileResponse(VENDOR / "vis-network.min.js", media_type="text/javascript")


@router.get("/views/chain/{issue_id}", response_class=HTMLResponse, responses=HTML, summary="责任链视图")
def chain_view(issue_id: str, store: StoreDep, caller: Viewer):
    issue = store.issue(issue_id)
    if issue is None or not caller.sees(issue.village_code):
        raise NotFound("没有这个问题 (no such issue)")
    return HTMLResponse(pages.chain_page(store, issue_id))


@router.get("/views/area/{code}", response_class=HTMLResponse, responses=HTML, summary="区县或乡镇网络视图")
def area_view(code: str, store: StoreDep, caller: Viewer):
    caller.visible(code, "区划")
    return HTMLResponse(pages.area_page(store, code))


@router.get("/views/unit/{unit_id}", response_class=HTMLResponse, responses=HTML, summary="单位关系视图")
def unit_view(unit_id: str, store: StoreDep, caller: Viewer):
    unit = next((u for u in store.units() if u.unit_id == unit_id), None)
    if unit is None or not caller.sees(unit.area_code):
        raise NotFound("没有这个单位 (no such unit)")
    return HTMLResponse(pages.unit_page(store, unit_id))


@router.get("/views/rootcause/{unit_id}/{category}", response_class=HTMLResponse, responses=HTML,
            summary="根源图")
def root_cause_view(unit_id: str, category: str, store: StoreDep, cache: CacheDep, caller: Analyst):
    unit = next((u for u in store.units() if u.unit_id == unit_id), None)
    if unit is None or not caller.sees(unit.area_code):
        raise NotFound("没有这个单位 (no such unit)")
    return HTMLResponse(pages.root_cause_page(
        store, unit_id, category, candidates=analysis.surfaced(store, cache),
        packages_of=lambda district: analysis.district_packages(store, cache, district),
        projection_of=lambda district: cache.graphs.get(store, *analysis.projection_entry(store, district))))
