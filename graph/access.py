"""API tokens and roles. A token is 32 random bytes shown once; the store keeps its SHA-256 only
(a random token needs no slow hash: there is nothing to guess). Roles are ordered: viewer <
analyst < editor < admin. A token scoped to a district sees and changes that district only."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from .errors import InputError
from .store import ApiToken, GraphStore

ROLES = ("viewer", "analyst", "editor", "admin")
ROLE_ZH = {"viewer": "查看", "analyst": "分析", "editor": "编辑", "admin": "管理"}
PREFIX = "xc_"


def token_hash(token: str) -> str:
    """The stored form of a token.

    >>> token_hash("xc_abc") == token_hash("xc_abc") != token_hash("xc_abd")
    True
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def allows(role: str, needed: str) -> bool:
    """Whether ``role`` includes ``needed``.

    >>> allows("editor", "analyst"), allows("viewer", "analyst")
    (True, False)
    """
    return ROLES.index(role) >= ROLES.index(needed)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def create_token(store: GraphStore, role: str, district: str | None = None, name: str = "") -> tuple[str, ApiToken]:
    """A new token: the plain text (to print once) and what is stored."""
    if role not in ROLES:
        raise InputError(f"角色为 {'、'.join(ROLES)} 之一 (a role), 而不是 {role!r}")
    if district is not None:
        division = store.division(district)
        if division is None or division.level != "district":
            raise InputError(f"已加载的 6 位区县代码 (a loaded district code), 而不是 {district!r}")
    plain = PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(token_id=secrets.token_hex(6), name=name or f"{role}-{district or '全部'}", role=role,
                      district_code=district, token_hash=token_hash(plain), created_at=now())
    store.save_token(record)
    return plain, record


def authenticate(store: GraphStore, plain: str) -> ApiToken | None:
    """The live token whose hash matches, or None."""
    record = store.token_by_hash(token_hash(plain))
    if record is None or record.revoked_at is not None:
        return None
    return record
