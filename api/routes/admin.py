"""Tokens and the audit log: admins only."""
from __future__ import annotations

import json

from fastapi import APIRouter, Query

from graph.access import create_token, now
from graph.errors import NotFound

from ..audit import audit as record_audit
from ..deps import Admin, StoreDep
from ..schemas import AuditOut, Page, TokenCreated, TokenIn, TokenOut
from .reference import Offset

router = APIRouter(tags=["令牌与审计 (tokens and audit)"])


def token_out(t) -> dict:
    return {k: getattr(t, k) for k in TokenOut.model_fields}


@router.get("/tokens", response_model=list[TokenOut], summary="令牌列表（不含令牌本身）")
def tokens(store: StoreDep, caller: Admin):
    return [token_out(t) for t in store.tokens()]


@router.post("/tokens", response_model=TokenCreated, status_code=201, summary="新建令牌（只显示一次）")
def new_token(body: TokenIn, store: StoreDep, caller: Admin):
    plain, record = create_token(store, body.role, body.district, body.name)
    record_audit(store, caller, "tokens.create", record.token_id, None, token_out(record))
    return {**token_out(record), "token": plain}


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="撤销令牌")
def revoke(token_id: str, store: StoreDep, caller: Admin):
    if not store.revoke_token(token_id, now()):
        raise NotFound("没有这个有效令牌 (no such live token)")
    record = next(t for t in store.tokens() if t.token_id == token_id)
    record_audit(store, caller, "tokens.revoke", token_id, None, token_out(record))
    return token_out(record)


@router.get("/audit", response_model=Page[AuditOut], summary="审计日志：谁、何时、做了什么、前后对比")
def audit(store: StoreDep, caller: Admin, limit: int = Query(100, ge=1, le=500), offset: int = Offset):
    entries, total = store.audit(limit, offset)
    items = [{**e.__dict__, "before": json.loads(e.before) if e.before else None,
              "after": json.loads(e.after) if e.after else None} for e in entries]
    return {"items": items, "total": total, "limit": limit, "offset": offset}
