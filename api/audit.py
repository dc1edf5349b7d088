"""Every write through the API goes to the audit log: who, when, what, before and after, and the
district it concerns (a district's admin reads its own). Written inside the change's own
``store.atomic()`` block, an entry commits with the change or not at all; a refused write is
logged too, as a refusal."""
from __future__ import annotations

import json

from graph import open_access
from graph.access import now
from graph.store import AuditEntry

from .deps import Caller


def refusal(store, token, request, status: int, message: str) -> None:
    """A write refused for its role or scope (403, 404): who tried what, logged in its own
    transaction (nothing else was written), under the caller's district."""
    open_access(store).add_audit(AuditEntry(
        now(), token.token_id, token.name, "refused", f"{request.method} {request.url.path}", None,
        json.dumps({"status": status, "message": message}, ensure_ascii=False), token.district_code))


def audit(store, caller: Caller, action: str, target: str, before, after, district: str | None) -> None:
    """One entry; ``before`` None where there was nothing before (a new token)."""
    open_access(store).add_audit(AuditEntry(
        now(), caller.token.token_id, caller.token.name, action, target,
        None if before is None else json.dumps(before, ensure_ascii=False, default=str),
        json.dumps(after, ensure_ascii=False, default=str), district))
