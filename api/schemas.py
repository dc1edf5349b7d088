"""Response models, one family per entity, so the OpenAPI schema documents every shape."""
from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from graph.model import DISTRICT_CODE

T = TypeVar("T")


class ErrorDetail(BaseModel):
    file: str | None = None
    row: int | None = None
    column: str | None = Field(None, description="列名或字段路径 (column or field path)")
    value: str | None = None
    expected: str


class ErrorInfo(BaseModel):
    code: str = Field(description="not_found, invalid_input, unauthorized, forbidden, …")
    message: str
    details: list[ErrorDetail] = []


class ErrorBody(BaseModel):
    """The one error shape of every route, 404 and 422 included."""

    error: ErrorInfo


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class DivisionOut(BaseModel):
    code: str
    name: str
    level: Literal["province", "city", "district", "township", "village"]
    parent_code: str | None
    kind: str | None = None


class DivisionDetail(DivisionOut):
    ancestors: list[DivisionOut]
    children: dict[str, int] = Field(description="下辖各层级数量 (children by level)")


class UnitOut(BaseModel):
    unit_id: str
    name: str
    level: str
    area_code: str
    function: str


class CategoryOut(BaseModel):
    name: str
    key: str | None = None
    group: str = ""
    rate_village: float | None = None
    rate_community: float | None = None
    money: bool = False
    systemic_fix: str = ""


class DutyOut(BaseModel):
    category: str
    level: str
    function: str
    duty: str


class IssueOut(BaseModel):
    issue_id: str
    village_code: str
    township_code: str | None = None
    district_code: str | None = None
    round_id: str
    found_on: dt.date
    category: str
    description: str
    severity: str
    amount_yuan: float | None
    status: str
    immediate: bool
    due_on: dt.date | None
    closed_on: dt.date | None
    root_unit_hint: str | None


class StatusChangeOut(BaseModel):
    status: str
    closed_on: dt.date | None
    recorded_at: str


class IssueDetail(IssueOut):
    history: list[StatusChangeOut]
    extra: dict[str, str] = {}


class IssueCreate(BaseModel):
    """A problem as the ledger has it; validated exactly as a row of a ledger file."""

    issue_id: str
    village_code: str
    round_id: str
    found_on: str
    category: str
    severity: str
    status: str
    description: str | None = None
    amount_yuan: float | str | None = None
    immediate: bool | str | None = None
    due_on: str | None = None
    closed_on: str | None = None
    root_unit_hint: str | None = None
    term: str | None = Field(None, max_length=100,
                             description="届次（如 第十四届），与台账的“届次”列相同；不填则更新时保留原届次 "
                                         "(the ledger's 届次 column; left out, an update keeps the stored one)")


class IssuePatch(BaseModel):
    """What a rectification platform reports back: a status, dates and an evidence note."""

    status: str | None = None
    due_on: str | None = None
    closed_on: str | None = None
    note: str | None = Field(None, max_length=2000, description="整改佐证说明 (evidence note)")


class WriteOut(BaseModel):
    inserted: int
    updated: int
    unchanged: int
    source: dict[str, Any] | None = None


class ChainUnit(BaseModel):
    unit_id: str
    unit_name: str
    duty: str
    duty_zh: str


class ChainLevel(BaseModel):
    level: str
    code: str
    name: str
    units: list[ChainUnit]


class ChainOut(BaseModel):
    issue: dict[str, Any]
    levels: list[ChainLevel]
    hint: dict[str, Any] | None


class RootCauseOut(BaseModel):
    rank: int
    unit_id: str
    unit_name: str
    level: str
    area_code: str
    area_name: str
    category: str
    duty: str
    score: float | None = None        # None: the pair was not tested (see reason)
    confidence: float | None = None   # None: the pair was not tested (see reason)
    p_value: float | None = None
    surfaced: bool
    tested: bool
    district_code: str
    q_value: float | None = None
    reason: str | None = None
    explained_by: list[str] | str | None = None
    evidence: dict[str, Any]
    responsible_units: list[dict[str, Any]] = []
    villages: list[str] = []
    issue_ids: list[str] = []


class RootCausePage(Page[RootCauseOut]):
    term: str | None = Field(None, description="分析的届次（台账有“届次”列时；默认最近一届）")
    issues_without_term: int = Field(0, description="台账有“届次”列时，没有填写届次、不在任何一届分析中的问题数"
                                                    "（限于所查区县）")
    notice: str | None = Field(None, description="提示（中文），如有问题没有填写届次")
    notes: list[str] = Field(default_factory=list, description="说明（中文），同 xuncha rootcauses 列表上方所印："
                                                              "未检验的组合及原因、按本区县自身差异定的比较基线容差")


class PackageOut(BaseModel):
    package_id: str
    status: dict[str, Any] = Field(description="两端状态：机关端完成、基层端完成、可销号、已销号 (the state of both ends)")
    root_cause: dict[str, Any]
    agency_end: dict[str, Any]
    grassroots_end: list[dict[str, Any]]
    totals: dict[str, int]


class StatsOut(BaseModel):
    by_level: dict[str, int]
    villages_by_kind: dict[str, int]
    units: int
    categories: int
    duties: int
    issues: int
    districts: list[dict[str, Any]]


class GraphNode(BaseModel):
    id: str
    kind: str
    label: str
    properties: dict[str, Any]


class GraphEdge(BaseModel):
    source: str
    target: str
    type: str
    properties: dict[str, Any] = {}


class NeighborhoodOut(BaseModel):
    center: str
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool = Field(description="是否因上限截断 (whether the cap cut nodes off)")


class CypherIn(BaseModel):
    query: str = Field(min_length=1, max_length=20_000)
    parameters: dict[str, Any] = {}


class CypherOut(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool


class TokenIn(BaseModel):
    role: Literal["viewer", "analyst", "editor", "admin"]
    district: str | None = Field(None, pattern=DISTRICT_CODE)
    name: str = ""


class TokenOut(BaseModel):
    token_id: str
    name: str
    role: str
    district_code: str | None
    created_at: str
    revoked_at: str | None


class TokenCreated(TokenOut):
    token: str = Field(description="只显示这一次 (shown once)")


class AuditOut(BaseModel):
    seq: int | None
    at: str
    token_id: str | None
    token_name: str | None
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    district_code: str | None = Field(None, description="所涉区县；空：多个或全部区县")


class HealthOut(BaseModel):
    status: Literal["ok"]
    store: Literal["sqlite", "neo4j"]
    data_version: int


class IssueRef(BaseModel):
    issue_id: str
    village_code: str
    category: str


class Whereabouts(BaseModel):
    """The district and township a search hit lies in, to tell namesakes apart."""
    district_name: str = ""
    township_name: str = ""


class DivisionHit(DivisionOut, Whereabouts):
    pass


class UnitHit(UnitOut, Whereabouts):
    pass


class IssueHit(IssueRef, Whereabouts):
    description: str = ""
    village_name: str = ""


class SearchOut(BaseModel):
    divisions: list[DivisionHit]
    units: list[UnitHit]
    issues: list[IssueHit]
    categories: list[str] = []
