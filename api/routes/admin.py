"""Tokens and the audit log: admins only. An admin scoped to a district administers that district:
its tokens (none wider than itself) and its audit entries."""
from __future__ import annotations

import json

from fastapi import APIRouter, Query

from graph import access, open_access

from ..audit import audit as record_audit
from ..deps import Admin, StoreDep
from ..schemas import AuditOut, Page, TokenCreated, TokenIn, TokenOut
from .reference import Offset

router = APIRouter(tags=["令牌与审计 (tokens and audit)"])


def token_out(t) -> dict:
    return {k: getattr(t, k) for k in TokenOut.model_fields}


@router.get("/tokens", response_model=list[TokenOut], summary="令牌列表（不含令牌本身；区县管理员只见本区县的）")
def tokens(store: StoreDep, caller: Admin):
    return [token_out(t) for t in access.tokens(store, caller.access)]


@router.post("/tokens", response_model=TokenCreated, status_code=201,
             summary="新建令牌（只显示一次；区县管理员只能新建本区县的）")
def new_token(body: TokenIn, store: StoreDep, caller: Admin):
    with store.atomic():
        plain, record = access.create_token(store, body.role, body.district, body.name, by=caller.access)
        record_audit(store, caller, "tokens.create", record.token_id, None, token_out(record), record.district_code)
    return {**token_out(record), "token": plain}


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="撤销令牌（区县管理员只能撤销本区县的）")
def revoke(token_id: str, store: StoreDep, caller: Admin):
    with store.atomic():
        record = access.revoke_token(store, token_id, caller.access)
        record_audit(store, caller, "tokens.revoke", token_id, {**token_out(record), "revoked_at": None},
                     token_out(record), record.district_code)
    return token_out(record)


@router.get("/audit", response_model=Page[AuditOut], summary="审计日志：谁、何时、做了什么、前后对比（区县管理员只见本区县的）")
def audit(store: StoreDep, caller: Admin, limit: int = Query(100, ge=1, le=500), offset: int = Offset):
    entries, total = open_access(store).audit(limit, offset, caller.district)
    items = [{**e.__dict__, "before": json.loads(e.before) if e.before else None,
              "after": json.loads(e.after) if e.after else None} for e in entries]
    return {"items": items, "total": total, "limit": limit, "offset": offset}
