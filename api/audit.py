"""Every write through the API goes to the audit log: who, when, what, before and after."""
from __future__ import annotations

import json

from graph.access import now
from graph.store import AuditEntry

from .deps import Caller


def audit(store, caller: Caller, action: str, target: str, before, after) -> None:
    """One entry; ``before`` None where there was nothing before (a new token)."""
    store.add_audit(AuditEntry(now(), caller.token.token_id, caller.token.name, action, target,
                               None if before is None else json.dumps(before, ensure_ascii=False, default=str),
                               json.dumps(after, ensure_ascii=False, default=str)))
