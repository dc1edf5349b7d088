"""The HTTP API: thin routers over ``graph/`` and ``loaders/``.

One store per app, opened in the lifespan and closed at shutdown (for Neo4j, one driver and its
pool); settings read once. Bearer tokens with roles and an optional district scope
(:mod:`api.deps`). One JSON error body for every error. Docs at /docs and /redoc work offline
(fastapi-offline ships Swagger UI and ReDoc). Binds to 127.0.0.1 unless configured otherwise.
"""
from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from graph import Settings, __version__, get_settings, open_store
from graph.errors import InputError, StoreBusy, XunchaError
from graph.model import expected_zh

from .audit import refusal
from .bodies import Doors
from .cache import VersionedCache
from .deps import StoreDep
from .routes import admin, analysis, issues, planning, reference, ui
from .schemas import ErrorBody, HealthOut

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         413: "too_large", 422: "invalid_input", 501: "not_supported", 503: "unavailable", 507: "disk_full"}
ERROR_RESPONSES = {status: {"model": ErrorBody, "description": description} for status, description in (
    (401, "没有令牌或令牌无效"), (403, "角色或区县范围不允许"), (404, "不存在，或不在令牌的区县范围内"),
    (422, "输入有误：逐项列出"), (500, "存储出错"), (501, "当前存储不支持"), (503, "存储不可用"))}


FRAMEWORK_ZH = {"Not Found": "没有这个地址 (not found)", "Method Not Allowed": "这个地址不接受该请求方法 (method not allowed)"}


def error_body(status: int, message: str, details: list[dict] | None = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, headers=headers, content={"error": {
        "code": CODES.get(status, "error"), "message": message, "details": details or []}})


def _shown(value) -> str | None:
    """What a request sent where it was refused, in a line: a scalar as sent (cut at 200
    characters), an object or a list by its shape (a body wrapped as ``{"issues": [...]}`` where a
    list of problems is expected says so), nothing where nothing was sent."""
    if value is None:
        return None
    if isinstance(value, dict):
        keys = "、".join(str(k) for k in list(value)[:5]) + ("…" if len(value) > 5 else "")
        return f"对象（键：{keys}）(an object)" if value else "空对象 (an empty object)"
    if isinstance(value, list):
        return f"列表（{len(value)} 项）(a list)"
    return str(value)[:200]


def warm(store, cache: VersionedCache) -> None:
    """Compute the cached root-cause analysis of the store's current data (the one every
    root-cause list, package and served view reads). A failure here is the first request's to
    report, not the start's."""
    try:
        analysis.surfaced(store, cache)
    except Exception:  # noqa: BLE001 - logged; the first request computes it again and answers the error
        logging.getLogger("xuncha.api").warning("预先计算根源分析未完成 (warm-up of the analysis failed)", exc_info=True)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Reads never create a store: a mistyped path is an error at start, not an empty store.
        app.state.store = open_store(settings.store, settings, create=False, read_only=False)
        app.state.settings = settings
        app.state.cache = VersionedCache()
        # The root-cause analysis is computed once per data version (seconds for a province): begun
        # at start, beside the requests, so an analyst's first list does not wait for it.
        warming = threading.Thread(target=warm, args=(app.state.store, app.state.cache), name="xuncha-warm",
                                   daemon=True)
        warming.start()
        try:
            yield
        finally:
            warming.join(timeout=60)  # the store is not closed under it
            app.state.store.close()

    # /redoc is served by routes/ui.py: the bundle without its CDN logo.
    app = FastAPIOffline(title="xuncha 巡察 API", version=__version__, lifespan=lifespan, responses=ERROR_RESPONSES,
                         redoc_url=None,
                         description="村(社区)巡察责任链图谱：区划、单位、问题、责任链、根源单位与联动整改包。"
                                     "所有接口需要 `Authorization: Bearer <令牌>`（`xuncha token create`）。")
    app.add_middleware(Doors, error=error_body)
    if settings.cors_origins.strip():
        app.add_middleware(CORSMiddleware, allow_origins=[o.strip() for o in settings.cors_origins.split(",")],
                           allow_methods=["GET", "POST", "PATCH", "DELETE"], allow_headers=["Authorization"])

    @app.exception_handler(XunchaError)
    def project_error(request: Request, exc: XunchaError) -> JSONResponse:
        """Every project error, mapped once, with the HTTP status it knows. Messages never carry a
        store path or a stack trace."""
        details = [e.as_dict() for e in getattr(exc, "errors", ())]
        message = "输入有误 (invalid input)" if isinstance(exc, InputError) else str(exc).split("\n")[0]
        if exc.http_status >= 500 and exc.http_status not in (501, 503, 507):
            message = "存储出错，请查看服务日志 (store error; see the server log)"
        elif isinstance(exc, StoreBusy):
            logging.getLogger("xuncha.api").warning("write refused, store busy: %s %s", request.method, request.url.path)
        elif exc.http_status == 503:
            # the reason names a file or a server address: the log keeps it, the caller does not
            logging.getLogger("xuncha.api").error("store unavailable: %s", exc)
            message = "存储不可用，请查看服务日志 (store unavailable; see the server log)"
        token = getattr(request.state, "token", None)  # set at the door for writes only
        if exc.http_status in (403, 404) and token is not None:
            try:
                refusal(request.app.state.store, token, request, exc.http_status, message)
            except XunchaError:  # the refusal is answered even when the log cannot be written
                logging.getLogger("xuncha.api").exception("refused write not logged")
        # A busy store tells the caller when to try again (another process's load holds it).
        retry = getattr(exc, "retry_after", None)
        return error_body(exc.http_status, message, details, {"Retry-After": str(retry)} if retry else None)

    @app.exception_handler(RequestValidationError)
    def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"column": ".".join(str(p) for p in e.get("loc", ())), "value": _shown(e.get("input")),
                    "expected": expected_zh(e)} for e in exc.errors()]
        return error_body(422, "请求参数有误 (invalid request)", details)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # the framework's own answers (no such route, a method it does not take) in Chinese too
        return error_body(exc.status_code, FRAMEWORK_ZH.get(str(exc.detail), str(exc.detail)))

    @app.exception_handler(Exception)
    def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logging.getLogger("xuncha.api").exception("unexpected error")
        return error_body(500, "内部错误，请查看服务日志 (internal error)")

    @app.get("/health", response_model=HealthOut, tags=["服务 (service)"], summary="服务状态（无需令牌）")
    def health(store: StoreDep):
        return {"status": "ok", "store": "neo4j" if store.url.startswith(("neo4j", "bolt")) else "sqlite",
                "data_version": store.data_version()}

    # analysis before issues: /issues/{id}/chain is matched before /issues/{id}, an id may hold "/"
    for module in (reference, analysis, issues, planning, admin, ui):
        app.include_router(module.router)
    return app


app = create_app()
