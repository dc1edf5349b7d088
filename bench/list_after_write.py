"""Benchmark: the problems list an analyst or another system reads right after an editor's change,
over HTTP, on a store that already holds a large ledger. Every write makes the API's cached
answers of the older data unreachable, so the first list read after it is computed afresh: this
is what each read costs while editors write.

    python bench/list_after_write.py                      # 200,000 problems, 20 edits
    python bench/list_after_write.py --against 48bf4ae    # that commit's code and this tree's, in turns

The store is ``bench/edit_latency.py``'s (the Chongqing divisions and catalog, then
``bench/load_ledger.py``'s ledger of 200,000 problems over every village), built once by this
tree's code; each run serves a copy of it from a server process of its own (one uvicorn worker).
Each round: one editor's PATCH (a status and an evidence note), then, timed at the client, the
first read of three lists and the same reads again (cached):

* ``province``: every district's open problems, first page (an unscoped token);
* ``district``: one district's overdue problems, a page deep in the list;
* ``township``: one township's problems of one category.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from common import ROOT, in_turns, machine

sys.path.insert(0, str(ROOT / "bench"))
from api_load import start_server  # noqa: E402
from edit_latency import build  # noqa: E402

TOKENS = r"""
import json, sys
from graph.sqlite_store import SQLiteStore
from graph.access import create_token
store = SQLiteStore(sys.argv[1])
print(json.dumps({"viewer": create_token(store, "viewer", name="bench")[0],
                  "editor": create_token(store, "editor", name="bench")[0]}))
store.close()
"""


def targets(store_path: Path) -> dict:
    """What the rounds edit and ask for, read once from the built store."""
    sys.path.insert(0, str(ROOT))
    from graph.sqlite_store import SQLiteStore
    store = SQLiteStore(store_path)
    try:
        ids = [r[0] for r in store.db.execute(
            "SELECT issue_id FROM issue WHERE status IN ('open', 'in_progress') ORDER BY issue_id")]
        district, township, category = store.db.execute(
            "SELECT district_code, township_code, category FROM issue GROUP BY 2, 3 ORDER BY COUNT(*) DESC LIMIT 1").fetchone()
    finally:
        store.close()
    return {"ids": ids, "district": district, "township": township, "category": category}


def run(code: Path, store: Path, edits: int, found: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "served.db"
        shutil.copy(store, copy)
        tokens = json.loads(subprocess.run([sys.executable, "-c", TOKENS, str(copy)], cwd=code, check=True,
                                           capture_output=True, text=True,
                                           env={**os.environ, "PYTHONPATH": str(code)}).stdout)
        server, port = start_server(f"sqlite:///{copy}", {**os.environ, "PYTHONPATH": str(code)}, 1,
                                    Path(tmp) / "server.log", code=code)
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

            def call(method: str, path: str, role: str, body: dict | None = None) -> tuple[int, float]:
                headers = {"Authorization": f"Bearer {tokens[role]}"}
                if body is not None:
                    headers["Content-Type"] = "application/json"
                started = time.perf_counter()
                connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
                response = connection.getresponse()
                response.read()
                return response.status, time.perf_counter() - started
            lists = {"province": "/issues?status=open&limit=50",
                     "district": f"/issues?district={found['district']}&overdue=true&limit=50&offset=200",
                     "township": f"/issues?township={found['township']}&category={quote(found['category'])}&limit=50"}
            for path in lists.values():  # the first reads of the server's life are not counted
                call("GET", path, "viewer")
            first: dict[str, list[float]] = {k: [] for k in lists}
            again: dict[str, list[float]] = {k: [] for k in lists}
            for k in range(edits):
                issue_id = found["ids"][(k * 7919) % len(found["ids"])]
                status, _ = call("PATCH", f"/issues/{quote(issue_id, safe='')}", "editor",
                                 {"status": "in_progress", "note": f"第 {k} 次核实"})
                assert status == 200, status
                for name, path in lists.items():
                    status, seconds = call("GET", path, "viewer")
                    assert status == 200, (name, status)
                    first[name].append(seconds)
                    again[name].append(call("GET", path, "viewer")[1])
        finally:
            server.terminate()
            server.wait()
    ms = lambda values: round(1000 * statistics.median(values), 1)  # noqa: E731
    return {"edits": edits, "first_read_ms": {k: ms(v) for k, v in first.items()},
            "cached_read_ms": {k: ms(v) for k, v in again.items()},
            "first_read_max_ms": {k: round(1000 * max(v), 1) for k, v in first.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--against", metavar="COMMIT", help="that commit's code and this tree's, in turns")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    store = build(args.rows)
    found = targets(store)
    result = {"machine": machine(), "rows": args.rows,
              "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "district": found["district"]}
    if args.against:
        turns = in_turns(args.against, args.pairs, lambda code: run(code, store, args.edits, found))
        result["turns"] = turns
        result["first_read_ms"] = {k: {name: statistics.median(r["first_read_ms"][name] for r in v)
                                       for name in v[0]["first_read_ms"]} for k, v in turns.items()}
    else:
        result.update(run(ROOT, store, args.edits, found))
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
