"""Planning and the closed loop over HTTP: classification and modes, the coverage plan, deadline
warnings, the back-check sample, effectiveness. Analysts and above; a district token, its district."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from graph import open_workflow, service
from graph.model import DISTRICT_CODE, VILLAGE_CODE
from loaders.base_data import read_config

from ..audit import audit
from ..deps import Analyst, CacheDep, Caller, Editor, StoreDep, district_query, scoped_district
from ..schemas import WriteOut
from ..uploads import file_sha256, uploaded

router = APIRouter(tags=["计划与整改闭环 (planning and the closed loop)"])
District = district_query(required=True)


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
    rounds: list[dict[str, Any]] = Field(description="轮次：起止日期、各组对象（乡镇(街道)和村(社区)）")
    rounds_available: int
    first_half: int = Field(description="前半届轮数：重点村安排在这些轮次")
    key_in_first_half: bool
    spare_team_rounds: int = Field(description="届内空余组次，可安排专项巡察和回头看")
    feasible: bool
    covered: int
    teams: int
    per_team: dict[str, int]
    townships: list[dict[str, Any]] = Field(description="各乡镇(街道)的巡察方式")
    special: list[dict[str, Any]] = Field(description="专项巡察建议，列在计划之外")
    teams_needed: int | None = None
    rounds_needed: int | None = None


class RectificationOut(BaseModel):
    district: str
    as_of: str
    counts: dict[str, int]
    immediate_days: int = Field(description="立行立改整改时限（自发现之日起的天数）")
    immediate: dict[str, int]
    immediate_overdue: list[str] = Field(description="逾期的立行立改事项（问题编号）")
    issues: list[dict[str, Any]]


class BackCheckOut(BaseModel):
    district: str
    seed: int
    share: float
    closed: int
    villages_with_closed: int
    villages: list[dict[str, Any]] = Field(description="抽中的村(社区)及其已整改问题（含已录入的抽查结果）")
    sample: list[str] = Field(description="抽中村(社区)的已整改问题编号")


class EvaluationOut(BaseModel):
    district: str
    problems: int
    on_time_rate: float | None
    share_closed: float | None
    recurrence_after_closure: float | None
    villages_rectified: int
    villages_recurred: int
    category_mix_by_round: dict[str, dict[str, int]]
    shifts_by_round: dict[str, dict[str, Any]] = Field(description="按轮次（日期先后）：三个变化，含腐败表现形式")
    townships: list[dict[str, Any]]
    departments: list[dict[str, Any]] = Field(description="各部门：牵头的整改包和巡察组指出根源在该部门的问题")
    packages: list[dict[str, Any]]
    back_checks: dict[str, Any]


@router.get("/classification", response_model=list[ClassOut], summary="村(社区)分类与巡察方式")
def classification(store: StoreDep, cache: CacheDep, caller: Analyst, district: str = District):
    district = scoped_district(store, caller, district)

    def compute():
        classes, modes = service.classified_modes(store, district, config=read_config())
        by_village = {m["village_code"]: m for m in modes}
        return [{**c.as_dict(), "class_": c.klass, "mode": by_village[c.village_code]["mode"],
                 "reasons": by_village[c.village_code]["reasons"]} for c in classes]
    return cache.get(store, ("classification", district), compute)


@router.get("/plan", response_model=PlanOut, summary="届内全覆盖巡察计划（专项巡察建议另列）")
def plan(store: StoreDep, caller: Analyst, district: str = District, teams: int = Query(..., ge=1, le=500),
         term_end: dt.date = Query(...), start: dt.date | None = None, term_start: dt.date | None = None,
         rounds_per_year: int | None = Query(None, ge=1, le=12)):
    district = scoped_district(store, caller, district)
    return service.coverage_plan(store, district, teams=teams, term_end=term_end, start=start,
                                 rounds_per_year=rounds_per_year, config=read_config(), term_start=term_start)


@router.get("/rectification", response_model=RectificationOut, summary="整改预警")
def rectification(store: StoreDep, caller: Analyst, district: str = District, as_of: dt.date | None = None):
    return service.rectification_status(store, scoped_district(store, caller, district), as_of, config=read_config())


@router.get("/backcheck", response_model=BackCheckOut, summary="已整改问题随机抽查（种子可复现）")
def backcheck(store: StoreDep, caller: Analyst, district: str = District, share: float = Query(0.05, gt=0, le=1),
              seed: int = Query(1, ge=0, le=2**31)):
    return service.back_check(store, scoped_district(store, caller, district), share, seed)


@router.get("/evaluation", response_model=EvaluationOut, summary="成效评估")
def evaluation(store: StoreDep, caller: Analyst, district: str = District, as_of: dt.date | None = None):
    return service.evaluation(store, scoped_district(store, caller, district), as_of)


# -- the key-village list: proposed by the townships, adjusted and approved by the office ------------
class KeyVillageListOut(BaseModel):
    district: str
    status: str = Field(description="proposed 待审定 / adjusted 已调整待审定 / approved 已审定")
    status_zh: str
    villages: dict[str, dict[str, str]]
    proposed: dict[str, Any]
    changes: list[dict[str, str]]
    approved: dict[str, str] | None
    against_indicators: dict[str, list[str]]


class KeyVillageChangeIn(BaseModel):
    district: str = Field(pattern=DISTRICT_CODE, description="区县代码")
    village_code: str = Field(pattern=VILLAGE_CODE, description="村(社区)代码")
    action: Literal["add", "remove"] = Field(description="add 增列；remove 移出")
    reason: str = Field(min_length=1, description="调整理由")


class KeyVillageApproveIn(BaseModel):
    district: str = Field(pattern=DISTRICT_CODE, description="区县代码")


@router.get("/key-villages", response_model=KeyVillageListOut, summary="重点村名单及其与指标分类的差异")
def key_villages(store: StoreDep, caller: Analyst, district: str = District):
    return service.key_village_list(store, scoped_district(store, caller, district), config=read_config())


@router.post("/key-villages/propose", response_model=KeyVillageListOut, summary="导入乡镇推荐的重点村名单（CSV 或 Excel）")
async def propose_key_villages(file: UploadFile, store: StoreDep, caller: Editor,
                               district: str = Form(..., pattern=DISTRICT_CODE),
                               by: str = Form(..., min_length=1, description="推荐单位")):
    from loaders.base_data import read_key_village_proposal
    district = scoped_district(store, caller, district)
    villages = {v.code: (v.name, v.parent_code) for v in store.divisions("village", within=district)}
    async with uploaded(file) as (name, path):
        rows = read_key_village_proposal(path, villages)
    return _key_list_write(store, caller, district, "key_villages.propose",
                           lambda: service.propose_key_villages(store, district, rows, by, file=name,
                                                                scope=caller.access))


@router.post("/base-data", response_model=WriteOut, status_code=201,
             summary="上传村(社区)基础信息表（CSV 或 Excel），逐行校验，有错则不写入；分类从此用它")
async def upload_base_data(file: UploadFile, store: StoreDep, caller: Editor,
                           district: str = Form(..., pattern=DISTRICT_CODE, description="区县代码")):
    from loaders.base_data import load_base_data
    district = scoped_district(store, caller, district)
    workflow = open_workflow(store)
    async with uploaded(file) as (name, path):
        source = {"name": name, "sha256": file_sha256(path)}

        def write():
            # The audit entry lists each village the upload changed, its values before and after.
            with store.atomic():
                before = workflow.base_data(district)
                summary = load_base_data(store, path, district)
                after = workflow.base_data(district)
                changed = sorted(code for code, values in after.items() if before.get(code) != values)
                audit(store, caller, "base_data.upload", district, {"villages": {c: before.get(c) for c in changed}},
                      {"villages": {c: after[c] for c in changed}, "summary": summary.as_dict(), "file": source},
                      district)
            return summary
        summary = await run_in_threadpool(write)
    return summary.as_dict()


@router.post("/key-villages/adjust", response_model=KeyVillageListOut, summary="巡察办增列或移出一个村（附理由）")
def adjust_key_villages(body: KeyVillageChangeIn, store: StoreDep, caller: Editor):
    district = scoped_district(store, caller, body.district)
    return _key_list_write(store, caller, district, "key_villages.adjust", lambda: service.adjust_key_villages(
        store, district, body.village_code, body.action, body.reason, _who(caller), scope=caller.access))


@router.post("/key-villages/approve", response_model=KeyVillageListOut, summary="巡察办审定重点村名单（记录审定人和时间）")
def approve_key_villages(body: KeyVillageApproveIn, store: StoreDep, caller: Editor):
    district = scoped_district(store, caller, body.district)
    return _key_list_write(store, caller, district, "key_villages.approve",
                           lambda: service.approve_key_villages(store, district, _who(caller), scope=caller.access))


def _who(caller: Caller) -> str:
    return caller.token.name or caller.token.token_id


def _key_list_write(store, caller: Caller, district: str, action: str, change) -> dict:
    with store.atomic():
        before, after = change()
        audit(store, caller, action, district, before, after, district)
    return service.key_village_list(store, district, config=read_config())
