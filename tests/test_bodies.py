"""Bodies at the door, as an attacker would send them, on both stores: without a live token a write
is refused before its body is read, however large or broken; bodies are capped while they are read
(413); a lone surrogate or a bad file name is a 422 naming the field, never a 500."""
from __future__ import annotations

import asyncio
import json

from .test_api import HEADER, api  # noqa: F401  (the fixture, on both stores)

MB = 2**20


def asgi_request(app, method: str, path: str, headers: dict, chunks: int, chunk: bytes = b"x" * MB,
                 declared: int | None = None, head: bytes = b"") -> tuple[int, dict, int]:
    """Send a request straight to the ASGI app with a body of ``chunks`` chunks (the first after
    ``head``), made only when the app asks for them: (status, JSON answer, chunks the app read)."""
    read = 0
    sent: list[dict] = []

    async def receive():
        nonlocal read
        if read >= chunks:
            return {"type": "http.disconnect"}
        read += 1
        return {"type": "http.request", "body": (head if read == 1 else b"") + chunk, "more_body": read < chunks}

    async def send(message):
        sent.append(message)
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if declared is not None:
        raw.append((b"content-length", str(declared).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": raw,
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), read


def test_no_token_is_refused_before_the_body_is_read(api):
    app = api.client.app
    for headers in ({"content-type": "application/json"}, {"content-type": "application/json",
                                                           "authorization": "Bearer xc_forged"},
                    {"content-type": "multipart/form-data; boundary=x"}):
        for path in ("/issues", "/issues/upload", "/tokens", "/cypher"):
            status, answer, read = asgi_request(app, "POST", path, headers, chunks=200, declared=200 * MB)
            assert (status, answer["error"]["code"], read) == (401, "unauthorized", 0), (path, headers)
    # Malformed JSON without a token: 401, not 422.
    broken = api.client.post("/issues", content=b"[{", headers={"content-type": "application/json"})
    assert broken.status_code == 401
    assert api.client.post("/issues", content=b"[{", headers={
        "content-type": "application/json", "authorization": f"Bearer {api.tokens['editor']}"}).status_code == 422


def test_bodies_are_capped_while_they_are_read(api):
    app = api.client.app
    editor = {"authorization": f"Bearer {api.tokens['editor']}", "content-type": "application/json"}
    # A declared length over the route's limit: refused before reading.
    status, answer, read = asgi_request(app, "POST", "/issues", editor, chunks=200, declared=200 * MB)
    assert (status, answer["error"]["code"], read) == (413, "too_large", 0)
    # No declared length (chunked): cut off as soon as the limit (8 MB for /issues) is passed.
    status, _, read = asgi_request(app, "POST", "/issues", editor, chunks=200)
    assert status == 413 and read == 9
    status, _, read = asgi_request(app, "POST", "/cypher", editor, chunks=200)
    assert status == 413 and read == 1  # 256 KB for every small body
    upload = {**editor, "content-type": "multipart/form-data; boundary=x"}
    part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
    status, answer, read = asgi_request(app, "POST", "/issues/upload", upload, chunks=200, head=part)
    assert status == 413 and read == 51 and answer["error"]["code"] == "too_large"
    # Through the ordinary client: a 2 MB file against a 1 MB limit.
    api.client.app.state.settings = api.client.app.state.settings.model_copy(update={"max_upload_mb": 1})
    big = api.call("POST", "/issues/upload", token="editor", files={"file": ("big.csv", b"x" * (2 * MB))})
    assert big.status_code == 413 and "KB" in big.json()["error"]["message"]
    assert api.call("GET", "/issues?limit=1").status_code == 200


def test_a_lone_surrogate_or_a_bad_file_name_is_422_naming_the_field(api):
    home = api.home_issue
    row = {"issue_id": "SUR-1", "village_code": home["village_code"], "round_id": "2025年第1轮",
           "found_on": "2025-03-05", "category": home["category"], "severity": "一般", "status": "未整改"}
    editor = {"authorization": f"Bearer {api.tokens['editor']}", "content-type": "application/json"}
    for method, path, body, field in (
            ("POST", "/issues", '[{"description": "\\ud800", %s}]' % json.dumps(row)[1:-1], "body.0.description"),
            ("PATCH", f"/issues/{home['issue_id']}", '{"note": "a\\udfffb"}', "body.note"),
            ("POST", "/tokens", '{"role": "viewer", "name": "\\ud83d"}', "body.name"),
            ("POST", "/cypher", '{"query": "RETURN 1", "parameters": {"\\ud800": 1}}', "body.parameters"),
            ("POST", "/key-villages/adjust", '{"district": "500101", "village_code": "%s", "action": "add", '
                                             '"reason": "\\udc00"}' % home["village_code"], "body.reason")):
        response = api.client.request(method, path, content=body.encode(), headers=editor if path != "/tokens" else {
            **editor, "authorization": f"Bearer {api.tokens['admin']}"})
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["details"][0]["column"] == field
    # A surrogate pair (an emoji) is ordinary text.
    ok = api.client.post("/issues", content=('[{"description": "\\ud83d\\ude00", %s}]' % json.dumps(row)[1:-1]).encode(),
                         headers=editor)
    assert ok.status_code == 201, ok.text
    assert api.call("GET", "/issues/SUR-1").json()["description"] == "\U0001F600"
    text = ",".join(HEADER) + "\n"
    for name in ("台账\x00.csv", "台账." + "x" * 300, "x" * 300 + ".csv"):
        # Written by hand: an ordinary client would escape the NUL.
        body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="' + name.encode() + b'"\r\n\r\n'
                + text.encode() + b"\r\n--b--\r\n")
        response = api.client.post("/issues/upload", content=body, headers={
            "content-type": "multipart/form-data; boundary=b", "authorization": f"Bearer {api.tokens['editor']}"})
        assert response.status_code == 422, (name, response.text)
        assert response.json()["error"]["details"][0]["column"] == "file.filename"
