"""The door of every request that carries a body (POST, PATCH, PUT, DELETE), an ASGI middleware
in front of the routes:

1. the bearer token is checked before a byte of the body is read: without a live token the answer
   is 401 at once, whatever the size or shape of the body;
2. the body is capped per route while it is read, before anything parses it: 413 as soon as the
   declared length or the bytes received pass the route's limit;
3. a JSON body is refused (422, the field named) when a string in it holds a lone surrogate
   (``"\\ud800"``), which no UTF-8 store, file or response can carry.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable

from fastapi import HTTPException

from graph.access import authenticate, token_hash

from .cache import reading, run_read

READS = {"GET", "HEAD", "OPTIONS"}
SMALL_BODY = 256 * 2**10   # a token, a note, a Cypher query: every body but the two below
FORM_SLACK = 64 * 2**10    # the form's other fields and the multipart boundaries around an upload
# A JSON escape of a surrogate code point: only then is the body parsed here to look for a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def body_limit(method: str, path: str, settings) -> int:
    """The most bytes a request's body may have: ledgers as JSON or files are large, the rest small."""
    if (method, path) == ("POST", "/issues"):
        return settings.max_json_mb * 2**20
    if (method, path) in (("POST", "/issues/upload"), ("POST", "/key-villages/propose")):
        return settings.max_upload_mb * 2**20 + FORM_SLACK
    return SMALL_BODY


async def live_token(state, plain: str):
    """The live token of a bearer credential, or None; cached per data version (creating or
    revoking a token is a write, so a revoked token is refused from the next request on)."""
    store, cache = state.store, state.cache
    return await run_read(store, lambda: cache.get(store, ("token", token_hash(plain)),
                                                   lambda: authenticate(store, plain)))


def bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            return credential.strip() or None if scheme.lower() == "bearer" else None
    return None


def lone_surrogate(value: Any, path: tuple = ("body",)) -> str | None:
    """The dotted path of the first string holding a lone surrogate, or None.

    >>> lone_surrogate([{"note": "ok"}, {"note": "\\ud800"}])
    'body.1.note'
    >>> lone_surrogate({"emoji": "\\U0001F600"}) is None
    True
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return ".".join(str(p) for p in path)
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and (found := lone_surrogate(key, path)):
            return found
        if found := lone_surrogate(item, path + (key,)):
            return found
    return None


class Doors:
    """See the module's docstring. ``error(status, message, details)`` makes the response."""

    def __init__(self, app, error: Callable):
        self.app, self.error = app, error

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in READS:
            if scope["type"] == "http":
                reading()
            return await self.app(scope, receive, send)
        state = scope["app"].state
        plain = bearer(scope["headers"])
        token = await live_token(state, plain) if plain else None
        if token is None:
            return await self.error(401, "需要有效令牌：Authorization: Bearer <token> (a live bearer token is required)"
                                    )(scope, receive, send)
        scope.setdefault("state", {})["token"] = token
        limit = body_limit(scope["method"], scope["path"], state.settings)
        too_large = f"请求体超过此接口的上限 {limit // 2**10:,} KB (request body too large)"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self.error(413, too_large)(scope, receive, send)
        content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip()
        if content_type == b"application/json" or content_type.endswith(b"+json"):
            body, more, received = [], True, 0
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return
                body.append(message.get("body", b""))
                received += len(body[-1])
                if received > limit:
                    return await self.error(413, too_large)(scope, receive, send)
                more = message.get("more_body", False)
            whole = b"".join(body)
            if _SURROGATE_ESCAPE.search(whole):
                try:
                    field = lone_surrogate(json.loads(whole))
                except ValueError:
                    field = None  # malformed JSON: the route says so
                if field:
                    return await self.error(422, "请求参数有误 (invalid request)", [{
                        "file": None, "row": None, "column": field, "value": None,
                        "expected": "不含孤立代理字符 (\\ud800–\\udfff) 的文本 (text without lone surrogates)"}]
                    )(scope, receive, send)
            replayed = False

            async def replay():
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": whole, "more_body": False}
                return await receive()
            return await self.app(scope, replay, send)

        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's reading of the body: FastAPI passes an HTTPException on.
                    raise HTTPException(413, too_large)
            return message
        return await self.app(scope, counted, send)
