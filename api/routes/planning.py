"""Planning and the closed loop over HTTP: classification and modes, the coverage plan, deadline
warnings, the back-check sample, effectiveness. Analysts and above; a district token, its district."""
from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from graph import service
from graph.errors import NotFound
from loaders.base_data import read_config

from ..deps import Analyst, CacheDep, StoreDep

router = APIRouter(tags=["计划与整改闭环 (planning and the closed loop)"])
District = Query(..., pattern=r"^\d{6}$", description="区县代码")


class ClassOut(BaseModel):
    village_code: str
    name: str
    township_code: str
    class_: str
    score: float
    mode: str
    reasons: list[str]
    contributions: dict[str, float]


class PlanOut(BaseModel):
    district: str
    villages: int
    inspected: int
    to_inspect: int
    rounds: list[dict[str, Any]]
    rounds_available: int
    feasible: bool
    covered: int
    teams: int
    teams_needed: int | None = None
    rounds_needed: int | None = None


class RectificationOut(BaseModel):
    district: str
    as_of: str
    counts: dict[str, int]
    immediate: dict[str, int]
    issues: list[dict[str, Any]]


class BackCheckOut(BaseModel):
    district: str
    seed: int
    share: float
    closed: int
    sample: list[str]


class EvaluationOut(BaseModel):
    district: str
    problems: int
    on_time_rate: float | None
    share_closed: float | None
    recurrence_after_closure: float | None
    villages_rectified: int
    villages_recurred: int
    category_mix_by_round: dict[str, dict[str, int]]
    shifts_by_round: dict[str, dict[str, float]]
    townships: list[dict[str, Any]]


def _district(store, caller, district: str) -> str:
    district = caller.scope(district)
    found = store.division(district)
    if found is None or found.level != "district":
        raise NotFound("没有这个区县 (no such district)")
    return district


@router.get("/classification", response_model=list[ClassOut], summary="村(社区)分类与巡察方式")
def classification(store: StoreDep, cache: CacheDep, caller: Analyst, district: str = District):
    district = _district(store, caller, district)

    def compute():
        classes, modes = service.classified_modes(store, district, config=read_config())
        by_village = {m["village_code"]: m for m in modes}
        return [{**c.as_dict(), "class_": c.klass, "mode": by_village[c.village_code]["mode"],
                 "reasons": by_village[c.village_code]["reasons"]} for c in classes]
    return cache.get(store, ("classification", district), compute)


@router.get("/plan", response_model=PlanOut, summary="届内全覆盖巡察计划")
def plan(store: StoreDep, caller: Analyst, district: str = District, teams: int = Query(..., ge=1, le=500),
         term_end: dt.date = Query(...), start: dt.date | None = None, term_start: dt.date | None = None,
         rounds_per_year: int = Query(2, ge=1, le=12)):
    district = _district(store, caller, district)
    return service.coverage_plan(store, district, teams=teams, term_end=term_end, start=start,
                                 rounds_per_year=rounds_per_year, config=read_config(), term_start=term_start)


@router.get("/rectification", response_model=RectificationOut, summary="整改预警")
def rectification(store: StoreDep, caller: Analyst, district: str = District, as_of: dt.date | None = None):
    return service.rectification_status(store, _district(store, caller, district), as_of)


@router.get("/backcheck", response_model=BackCheckOut, summary="已整改问题随机抽查（种子可复现）")
def backcheck(store: StoreDep, caller: Analyst, district: str = District, share: float = Query(0.05, gt=0, le=1),
              seed: int = Query(1, ge=0, le=2**31)):
    return service.back_check(store, _district(store, caller, district), share, seed)


@router.get("/evaluation", response_model=EvaluationOut, summary="成效评估")
def evaluation(store: StoreDep, caller: Analyst, district: str = District, as_of: dt.date | None = None):
    return service.evaluation(store, _district(store, caller, district), as_of)
