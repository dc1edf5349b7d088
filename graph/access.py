"""API tokens and roles. A token is 32 random bytes shown once; the store keeps its SHA-256 only
(a random token needs no slow hash: there is nothing to guess). Roles are ordered: viewer <
analyst < editor < admin. A token scoped to a district sees and changes that district only."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, replace
from typing import Iterable

from . import open_access
from .errors import Forbidden, InputError, NotFound, RowError
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


@dataclass(frozen=True)
class Scope:
    """Where a caller may read and write: one district (its 6-digit code), or every district (None).

    >>> Scope("500101").sees("500101001001"), Scope("500101").sees("500102001001"), Scope().sees(None)
    (True, False, True)
    """

    district: str | None = None

    def sees(self, code: str | None) -> bool:
        """Whether a division code (or an object's district) lies inside the scope."""
        return self.district is None or (code is not None and code.startswith(self.district))

    def require(self, code: str | None, what: str = "对象") -> None:
        """Outside the scope is answered as if it did not exist."""
        if not self.sees(code):
            raise NotFound(f"没有这个{what} (not found)")


EVERY_DISTRICT = Scope()


class OutsideScope(NotFound):
    """Rows a district's caller may not write: answered 404, as if the problems did not exist,
    before anything about them (such as being closed) is looked at."""

    def __init__(self, errors: list[RowError], district: str):
        self.errors, self.district = errors, district
        lines = [str(e) for e in errors[:20]] + ([f"…… 共 {len(errors):,} 行"] if len(errors) > 20 else [])
        super().__init__("\n".join([f"区县 {district} 没有这个问题或村(社区)，什么也没有写入 "
                                     f"(no such problem or village in district {district}; nothing written)"] + lines))


def refuse_foreign_issues(store: GraphStore, scope: Scope, rows: Iterable[tuple[int, str | None, str | None]],
                          file: str = "请求", headers: dict | None = None) -> None:
    """The ownership rule of every write of problems, from the API and the CLI alike: a row is
    refused when the problem as stored, or the village as sent, lies outside ``scope``. ``rows``:
    (row number, issue id, village code as sent). Nothing is said of the stored problem beyond
    that the caller may not touch it; the caller's own values are echoed back."""
    if scope.district is None:
        return
    rows = list(rows)
    stored = {i: issue.village_code for i, issue in store.issues_by_id(i for _, i, _ in rows if i).items()}
    header = (headers or {}).get
    expected = f"区县 {scope.district} 的问题 (a problem of your district)"
    errors = []
    for number, issue_id, village in rows:
        if issue_id in stored and not scope.sees(stored[issue_id]):
            errors.append(RowError(file, number, header("issue_id", "issue_id"), issue_id, expected))
        elif village is not None and not scope.sees(village):
            errors.append(RowError(file, number, header("village_code", "village_code"), village, expected))
    if errors:
        raise OutsideScope(errors, scope.district)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def create_token(store: GraphStore, role: str, district: str | None = None, name: str = "", *,
                 by: Scope = EVERY_DISTRICT) -> tuple[str, ApiToken]:
    """A new token: the plain text (to print once) and what is stored. ``by``: the scope of the
    admin who asks; a district's admin mints tokens of its own district only (never an
    all-district one), so no token is wider than the admin who made it."""
    if role not in ROLES:
        raise InputError(f"角色为 {'、'.join(ROLES)} 之一 (a role), 而不是 {role!r}")
    if by.district is not None and district != by.district:
        raise Forbidden(f"限定区县的管理员只能新建本区县 {by.district} 的令牌：请给出 district={by.district} "
                        "(a district admin mints tokens of its own district only)")
    if district is not None:
        division = store.division(district)
        if division is None or division.level != "district":
            raise InputError(f"已加载的 6 位区县代码 (a loaded district code), 而不是 {district!r}")
    plain = PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(token_id=secrets.token_hex(6), name=name or f"{role}-{district or '全部'}", role=role,
                      district_code=district, token_hash=token_hash(plain), created_at=now())
    open_access(store).save_token(record)
    return plain, record


def tokens(store: GraphStore, by: Scope = EVERY_DISTRICT) -> list[ApiToken]:
    """The tokens an admin of scope ``by`` administers: a district's own, or all."""
    return open_access(store).tokens(by.district)


def revoke_token(store: GraphStore, token_id: str, by: Scope = EVERY_DISTRICT) -> ApiToken:
    """Revoke a live token the admin administers (another district's is not found); the token after."""
    access = open_access(store)
    at = now()
    found = next((t for t in access.tokens(by.district) if t.token_id == token_id), None)
    if found is None or not access.revoke_token(token_id, at):
        raise NotFound("没有这个有效令牌 (no such live token)")
    return replace(found, revoked_at=at)


def authenticate(store: GraphStore, plain: str) -> ApiToken | None:
    """The live token whose hash matches, or None."""
    record = open_access(store).token_by_hash(token_hash(plain))
    if record is None or record.revoked_at is not None:
        return None
    return record
