"""The HTTP API: read-only endpoints over the same service functions the CLI calls.

It binds to 127.0.0.1 unless configured otherwise (``XUNCHA_API_HOST``). Token authentication
and district-scoped tokens belong to the API issue and are not here yet: do not expose this beyond
loopback until they are.
"""
from __future__ import annotations

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from graph import service
from graph.analysis.root_causes import DEFAULT_MIN_CONFIDENCE
from graph.errors import InputError, XunchaError

from .deps import StoreDep

# No /docs page: FastAPI's Swagger UI loads its scripts from a CDN, and users are often offline.
# The schema is at /openapi.json.
app = FastAPI(title="xuncha 巡察", description="Responsibility-chain graph for village inspection",
              docs_url=None, redoc_url=None)


@app.exception_handler(XunchaError)
def project_error(request: Request, exc: XunchaError) -> JSONResponse:
    """Every project error, mapped once, with the HTTP status it knows."""
    body = {"error": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, InputError):
        body["errors"] = [e.as_dict() for e in exc.errors]
    return JSONResponse(status_code=exc.http_status, content=body)


@app.get("/health")
def health(store: StoreDep) -> dict:
    return {"status": "ok", "store": store.url.split("://")[0]}


@app.get("/stats")
def stats(store: StoreDep, district: str | None = None) -> dict:
    return store.counts(district)


@app.get("/issues/{issue_id}/chain")
def chain(issue_id: str, store: StoreDep) -> dict:
    return service.chain(store, issue_id)


@app.get("/rootcauses")
def rootcauses(store: StoreDep, district: str | None = None, level: str | None = Query(None, pattern="^(township|district)$"),
               top: int | None = Query(None, ge=1), min_confidence: float = Query(DEFAULT_MIN_CONFIDENCE, ge=0, le=1),
               all: bool = False) -> list[dict]:
    return service.root_causes(store, district=district, level=level, top=top, min_confidence=min_confidence,
                               include_all=all)


@app.get("/packages")
def packages(store: StoreDep, district: str | None = None, level: str | None = Query(None, pattern="^(township|district)$"),
             top: int | None = Query(None, ge=1)) -> list[dict]:
    return service.packages(store, district=district, level=level, top=top)
