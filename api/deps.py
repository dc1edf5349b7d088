"""Typed dependencies: the one store and cache of the app (opened in the lifespan), the settings,
and the caller's token with its role and district scope."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from graph import GraphStore, Settings, service
from graph.access import ROLE_ZH, Scope, allows
from graph.errors import Forbidden, NotFound, Unauthorized
from graph.model import DISTRICT_CODE_OR_NAME
from graph.store import ApiToken

from .bodies import live_token
from .cache import VersionedCache


# The dependencies are coroutines: FastAPI runs a plain function in its thread pool, and four hops a
# request cost more than the work they do.
async def get_store(request: Request) -> GraphStore:
    return request.app.state.store


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_cache(request: Request) -> VersionedCache:
    return request.app.state.cache


StoreDep = Annotated[GraphStore, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CacheDep = Annotated[VersionedCache, Depends(get_cache)]
bearer = HTTPBearer(auto_error=False, description="xuncha token create 生成的令牌 (a token from `xuncha token create`)")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the token's id, name, role and district (None: every district)."""

    token: ApiToken

    @property
    def district(self) -> str | None:
        return self.token.district_code

    @property
    def access(self) -> Scope:
        """The token's scope, as the service layer's writes take it."""
        return Scope(self.token.district_code)

    def sees(self, code: str | None) -> bool:
        """Whether a division code (or an object's district) is inside the caller's scope."""
        return self.access.sees(code)

    def scope(self, district: str | None) -> str | None:
        """The district a list is limited to: the caller's own, whatever was asked; another
        district answers 404, as if it did not exist."""
        if self.district is None:
            return district
        if district is not None and district != self.district:
            raise NotFound("没有这个区县 (no such district)")
        return self.district

    def visible(self, code: str | None, what: str = "对象"):
        self.access.require(code, what)


async def _caller(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    if credentials is None:
        raise Unauthorized("需要令牌：Authorization: Bearer <token> (a bearer token is required)")
    # A write's token was checked at the door (api.bodies), before its body was read.
    token = getattr(request.state, "token", None) or await live_token(request.app.state, credentials.credentials)
    if token is None:
        raise Unauthorized("令牌无效或已撤销 (invalid or revoked token)")
    request.state.caller = token
    return Caller(token)


def role(needed: str):
    """A dependency that admits tokens of at least this role."""
    async def check(caller: Annotated[Caller, Depends(_caller)]) -> Caller:
        if not allows(caller.token.role, needed):
            raise Forbidden(f"需要“{ROLE_ZH[needed]}”及以上角色 (role {needed} or higher required)")
        return caller
    check.__name__ = f"role_{needed}"
    return check


Viewer = Annotated[Caller, Depends(role("viewer"))]
Analyst = Annotated[Caller, Depends(role("analyst"))]
Editor = Annotated[Caller, Depends(role("editor"))]
Admin = Annotated[Caller, Depends(role("admin"))]


# A district in a query: its 6-digit code or its full name (万州区), as the CLI's --district.
DISTRICT_PATTERN = DISTRICT_CODE_OR_NAME


def district_query(required: bool = False):
    """The ``district`` query parameter of the reading endpoints."""
    return Query(... if required else None, pattern=DISTRICT_PATTERN,
                 description="区县代码或区县全名（如 500101 或 万州区）")


def scoped_district(store: GraphStore, caller: Caller, district: str | None,
                    cache: VersionedCache | None = None) -> str | None:
    """The district a request reads: a name made its code first, then the caller's scope (another
    district answers 404, as if it did not exist, by name as by code), then a loaded district or
    404: a code of no district (a city's, a township's, a mistyped one) is not an empty list. A
    district token's name means its own district or nothing: no name it gives is refused as
    shared with districts of other provinces, nor answered with their codes (a caller of every
    district gets 422 and the codes). With ``cache``, the look-up is kept until the next write
    (a hot list's requests do not each ask the store)."""
    if district is not None and not district.isdigit() and caller.district is not None:
        own = store.division(caller.district)
        if own is None or own.name != district:
            raise NotFound("没有这个区县 (no such district)")
        district = caller.district
    elif district is not None and not district.isdigit():
        code = service.district_code(store, district)
        if code is None:
            raise NotFound("没有这个区县 (no such district)")
        district = code
    district = caller.scope(district)
    if district is not None and _level(store, district, cache) != "district":
        raise NotFound("没有这个区县 (no such district)")
    return district


def filter_division(store: GraphStore, caller: Caller, code: str | None, cache: VersionedCache | None = None,
                    within: str | None = None) -> str | None:
    """A township, village or area a list is filtered by: inside the caller's scope, loaded, and
    inside ``within`` (the district the request also names), else 404 as for a division that does
    not exist. A mistyped code is told so, not answered with an empty list."""
    if code is None:
        return None
    caller.visible(code, "区划")
    if (within is not None and not code.startswith(within)) or _level(store, code, cache) is None:
        raise NotFound("没有这个区划 (not found)")
    return code


def _level(store: GraphStore, code: str, cache: VersionedCache | None) -> str | None:
    """The level of a loaded division (None: not loaded), kept in ``cache`` until the next write."""
    def level() -> str | None:
        found = store.division(code)
        return None if found is None else found.level
    return level() if cache is None else cache.get(store, ("division level", code), level)
