"""Problems: list with filters, one with its status history, create, patch (status, dates, an
evidence note), upload a ledger file through the same validating loaders as the CLI. Reads for
viewers, writes for editors; every write is audited with the object before and after."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BeforeValidator

from graph.errors import InputError, NotFound
from graph.model import TERM_HEADER, TOWNSHIP_CODE, VILLAGE_CODE, BilingualEnum, Severity, Status
from graph.store import Issue, IssueQuery
from loaders.tables import known_category, validate_rows, validate_table, write_table

from ..audit import audit
from ..cache import data_version, reading, run_read
from ..deps import CacheDep, Caller, Editor, StoreDep, Viewer, district_query, filter_division, scoped_district
from ..schemas import IssueCreate, IssueDetail, IssueOut, IssuePatch, Page, WriteOut
from ..uploads import file_sha256, uploaded
from .reference import Limit, Offset

router = APIRouter(tags=["问题 (problems)"])


def _spelled(enum: type[BilingualEnum]) -> BeforeValidator:
    """A filter written as the ledger writes it: the English value or the Chinese name."""
    return BeforeValidator(lambda value: value if value is None else enum.parse(value).value)


StatusFilter = Annotated[str | None, _spelled(Status), Query(description=f"整改状态：{Status.choices()}")]
SeverityFilter = Annotated[str | None, _spelled(Severity), Query(description=f"严重程度：{Severity.choices()}")]


def issue_dict(issue: Issue) -> dict:
    out = dict(issue.__dict__)
    out["township_code"], out["district_code"] = issue.village_code[:9], issue.village_code[:6]
    return out


def scoped_issue(store, caller: Caller, issue_id: str) -> Issue:
    issue = store.issue(issue_id)
    if issue is None or not caller.sees(issue.village_code):
        raise NotFound("没有这个问题 (no such issue)")
    return issue


@router.get("/issues", response_model=Page[IssueOut], summary="问题列表，可按区县、乡镇、村、类别、状态、轮次、严重程度、逾期筛选")
async def issues(store: StoreDep, cache: CacheDep, caller: Viewer,
                 district: str | None = district_query(),
                 township: str | None = Query(None, pattern=TOWNSHIP_CODE),
                 village: str | None = Query(None, pattern=VILLAGE_CODE),
                 category: str | None = Query(None, description="问题类别：类别名称或其英文键"),
                 status: StatusFilter = None,
                 round: str | None = Query(None, alias="round"),
                 severity: SeverityFilter = None,
                 overdue: bool | None = Query(None, description="超过整改时限仍未整改 (past due and not rectified)"),
                 limit: int = Limit, offset: int = Offset):
    district = (caller.scope(None) if district is None
                else await run_read(store, lambda: scoped_district(store, caller, district, cache)))
    if township is not None or village is not None:
        def check():
            for code in (township, village):
                filter_division(store, caller, code, cache, district)
        await run_read(store, check)
    if category is not None:  # as a ledger names it; one no ledger could name is bad input
        category = await run_read(store, lambda: known_category(store, category))
    query = IssueQuery(area=village or township or district or "", category=category, status=status,
                       round_id=round, severity=severity, overdue=overdue, as_of=dt.date.today())
    # The ids a filter selects are cached until the next write, so paging through them costs a
    # slice and one read of the page's problems. After a write, a list is a query on the store's
    # indexes: every problem of the district read again took 0.8 s for all of Chongqing.
    key = ("issue ids", query)
    for _ in range(3):
        version = await run_read(store, lambda: data_version(store))  # the data the cache answers for
        if district is None:  # every district's problems: selected in the thread pool
            ids = await cache.aget(store, key, lambda: store.issue_ids(query))
        else:  # a district's few thousand: a few milliseconds, less than a hop to a thread and back
            ids = await run_read(store, lambda: cache.get(store, key, lambda: store.issue_ids(query)))
        wanted = ids[offset:offset + limit]
        found = await run_read(store, lambda: store.issues_by_id(wanted)) if wanted else {}
        # A write committed between the ids and their page (a page had shown a problem no longer
        # open under status=open): both read again, from the data as it is now.
        if await run_read(store, store.data_version) == version:
            break
        reading()
    return {"items": [issue_dict(found[i]) for i in wanted if i in found], "total": len(ids),
            "limit": limit, "offset": offset}


@router.get("/issues/{issue_id:path}", response_model=IssueDetail, summary="一个问题及其整改状态记录")
def issue(issue_id: str, store: StoreDep, caller: Viewer):
    found = scoped_issue(store, caller, issue_id)
    history = [{"status": h.status, "closed_on": h.closed_on, "recorded_at": h.recorded_at}
               for h in store.issue_history(issue_id)]
    return {**issue_dict(found), "history": history}


def _write(store, caller: Caller, validate, action: str, file: dict | None = None) -> dict:
    """Validate (ownership first), write and audit in one transaction. The entry lists every
    problem the write changed, whatever its size: the fields that changed, before and after (a new
    problem: before null, after all its fields); an upload adds its file's name and SHA-256."""
    with store.atomic():
        validated = validate()
        ids = [r.issue_id for r in validated.records]
        before = store.issues_by_id(ids)
        summary = write_table(store, "issues", validated)
        after = store.issues_by_id(ids)
        old, new = {}, {}
        for issue_id in ids:
            was, now = _json(before.get(issue_id)), _json(after[issue_id])
            if was != now:
                changed = [k for k in now if was is None or was[k] != now[k]]
                old[issue_id] = None if was is None else {k: was[k] for k in changed}
                new[issue_id] = {k: now[k] for k in changed}
        target = ",".join(ids[:20]) + ("…" if len(ids) > 20 else "")
        districts = {r.village_code[:6] for r in validated.records}
        audit(store, caller, action, target, {"issues": old},
              {"issues": new, "summary": summary.as_dict(), **({"file": file} if file else {})},
              districts.pop() if len(districts) == 1 else caller.district)
    return summary.as_dict()


def _ledger_row(body: IssueCreate) -> dict:
    """A problem sent over the API as a ledger row: its ``term`` is the ledger's 届次 column."""
    row = body.model_dump(exclude_none=True)
    term = row.pop("term", None)
    if term is not None:
        row["extra"] = {TERM_HEADER: term}
    return row


def _json(issue: Issue | None):
    return None if issue is None else {k: (v.isoformat() if isinstance(v, dt.date) else v)
                                       for k, v in issue.__dict__.items()}


@router.post("/issues", response_model=WriteOut, status_code=201, summary="新增或更新问题（与台账文件同样校验）")
def create_issues(body: list[IssueCreate], store: StoreDep, caller: Editor,
                  allow_reopen: bool = Query(False, description="允许把已销号的问题改回其他状态")):
    if not body or len(body) > 5000:
        raise InputError("1 到 5,000 个问题 (1 to 5,000 problems a request)")
    rows = [_ledger_row(b) for b in body]
    return _write(store, caller, lambda: validate_rows(store, "issues", rows, allow_reopen=allow_reopen,
                                                       scope=caller.access), "issues.create")


@router.patch("/issues/{issue_id:path}", response_model=IssueDetail, summary="更新整改状态、时限、销号日期和佐证说明")
def patch_issue(issue_id: str, body: IssuePatch, store: StoreDep, caller: Editor,
                allow_reopen: bool = Query(False, description="允许把已销号的问题改回其他状态")):
    scoped_issue(store, caller, issue_id)

    def validate():
        # Read inside the write's transaction, the problem held: another editor's update of it at
        # the same moment is kept, not overwritten by fields read before it was written.
        store.lock_issues([issue_id])
        current = scoped_issue(store, caller, issue_id)
        row = {k: v for k, v in _json(current).items() if v is not None and k in IssueCreate.model_fields}
        row["immediate"] = "是" if current.immediate else "否"
        changes = body.model_dump(exclude_none=True)
        note = changes.pop("note", None)
        row.update(changes)
        if changes.get("status") in ("open", "in_progress", "未整改", "整改中") and "closed_on" not in changes:
            row.pop("closed_on", None)
        # Notes written before (整改佐证, 复发重开) are kept; a new evidence note replaces the old one.
        row["extra"] = {**{k: str(v) for k, v in current.extra.items()},
                        **({"整改佐证": note} if note is not None else {})}
        return validate_rows(store, "issues", [row], allow_reopen=allow_reopen, scope=caller.access)
    _write(store, caller, validate, "issues.patch")
    return issue(issue_id, store, caller)


@router.post("/issues/upload", response_model=WriteOut, status_code=201,
             summary="上传问题台账（CSV 或 Excel），逐行校验，有错则不写入")
async def upload_issues(file: UploadFile, store: StoreDep, caller: Editor,
                        allow_reopen: bool = Query(False)):
    async with uploaded(file) as (name, path):
        return await run_in_threadpool(_write, store, caller, lambda: validate_table(
            store, "issues", path, allow_reopen=allow_reopen, scope=caller.access), "issues.upload",
            {"name": name, "sha256": file_sha256(path)})
