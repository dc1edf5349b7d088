"""/cypher tried as an attacker with an all-district analyst token would, on the real Neo4j engine:
no file or URL is read, no procedure outside the allow-list runs, tokens and audit entries cannot be
reached, and rows, bytes and time are capped by the server. The embedded store has no Cypher (501)."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from .test_api import HOME, api  # noqa: F401  (the fixture, on both stores)

ATTACKS = [
    ("LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row", {}),
    ("MATCH (t:ApiToken) RETURN t.token_hash AS h", {}),
    ("MATCH (a:AuditEntry) RETURN a.before AS b", {}),
    ("MATCH (n) WHERE n.token_hash IS NOT NULL RETURN n.token_hash AS h", {}),
    ("MATCH (n) RETURN n LIMIT 5", {}),
    ("MATCH (n:!Issue) RETURN n.token_hash AS h", {}),
    ("MATCH (n:%) WHERE n.role = 'admin' RETURN n", {}),
    ("MATCH (n) WHERE elementId(n) = $id RETURN n", {"id": "4:x:0"}),
    ("MATCH (n) WHERE id(n) = 0 RETURN n", {}),
    ("MATCH (n:$($label)) RETURN n", {"label": "ApiToken"}),
    ("CALL dbms.listConfig() YIELD name RETURN name", {}),
    ("CALL db.index.fulltext.listAvailableAnalyzers() YIELD analyzer RETURN analyzer", {}),
    ("SHOW TRANSACTIONS", {}),
    ("CALL { MATCH (n) RETURN n } RETURN count(n) AS c", {}),
]


class Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"a,b\n1,2\n")

    def log_message(self, *args):
        pass


def test_every_attack_of_the_review_is_refused_and_reads_nothing(api):
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/ledger.csv"
    try:
        for query, parameters in [(f"LOAD CSV FROM '{url}' AS row RETURN row", {})] + ATTACKS:
            response = api.call("POST", "/cypher", token="analyst", json={"query": query, "parameters": parameters})
            expected = 501 if api.kind == "sqlite" else 403
            assert response.status_code == expected, (query, response.text)
            if api.kind == "neo4j":
                assert response.json()["error"]["code"] == "forbidden"
    finally:
        server.shutdown()
    assert Recorder.hits == []  # the engine never fetched the URL


def test_allowed_schema_procedures_and_labelled_queries_run(api):
    if api.kind == "sqlite":
        assert api.call("POST", "/cypher", token="analyst", json={"query": "RETURN 1 AS x"}).status_code == 501
        return
    labels = api.call("POST", "/cypher", token="analyst",
                      json={"query": "CALL db.labels() YIELD label RETURN label ORDER BY label"}).json()
    assert {"label": "Issue"} in labels["rows"]
    counted = api.call("POST", "/cypher", token="analyst", json={
        "query": "MATCH (i:Issue) WHERE i.district_code = $d RETURN count(i) AS n", "parameters": {"d": HOME}}).json()
    assert counted["rows"][0]["n"] > 0
    assert api.call("POST", "/cypher", token="analyst", json={"query": "MATCH (n) RETURN count(n) AS n"}).status_code == 200
    # A call that cannot be wrapped in the row cap says how to write it.
    bare = api.call("POST", "/cypher", token="analyst", json={"query": "CALL db.labels()"})
    assert bare.status_code == 422 and "YIELD" in bare.json()["error"]["details"][0]["expected"]


def test_rows_bytes_and_time_are_capped_by_the_server(api):
    if api.kind == "sqlite":
        return
    settings = api.client.app.state.settings
    api.client.app.state.settings = settings.model_copy(update={"cypher_row_limit": 100, "cypher_max_mb": 1})
    many = api.call("POST", "/cypher", token="analyst", json={"query": "UNWIND range(1, 10000000) AS x RETURN x"})
    assert many.status_code == 200 and len(many.json()["rows"]) == 100 and many.json()["truncated"]
    # About 28 KB of JSON a row: the answer stops before its 1 MB.
    wide = api.call("POST", "/cypher", token="analyst", json={
        "query": "UNWIND range(1, 90) AS x RETURN x, [i IN range(1, 2000) | 'xxxxxxxxxx'] AS pad"})
    body = wide.json()
    assert wide.status_code == 200 and body["truncated"] and 30 <= len(body["rows"]) < 45, len(body["rows"])
    one_row = api.call("POST", "/cypher", token="analyst", json={
        "query": "RETURN [i IN range(1, 300000) | 'xxxxxxxx'] AS huge"}).json()
    assert one_row["rows"] == [] and one_row["truncated"]
    api.client.app.state.settings = settings.model_copy(update={"cypher_timeout_s": 1.0})
    slow = api.call("POST", "/cypher", token="analyst", json={
        "query": "UNWIND range(1, 2000000000) AS x WITH x WHERE x % 7 = 0 RETURN count(x) AS n"})
    assert slow.status_code == 422 and "秒" in slow.json()["error"]["details"][0]["expected"], slow.text
