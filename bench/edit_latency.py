"""Benchmark: one editor's change to one problem (a note, a status) on a store that already holds a
large ledger, as the API's PATCH writes it: validated and written in one transaction. How long
that transaction holds the file is how long every other writer (a load in another process, the
other editors) waits.

    python bench/edit_latency.py                      # 200,000 problems, 60 edits
    python bench/edit_latency.py --against d904f87    # that commit's code and this tree's, in turns

The store is built once (the Chongqing divisions and catalog, then ``bench/load_ledger.py``'s
ledger of 200,000 problems over every village) by this tree's code; each run edits a copy of it in
a process of its own. Edits spread over the ledger's townships: a status, a note, a problem moved
to another village, each one row.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, in_turns, machine

WORK = Path(tempfile.gettempdir()) / "xuncha-bench-ledger"


def build(rows: int) -> Path:
    """The store with the ledger loaded (made once, kept under WORK)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from load_ledger import prepare
    files = prepare(rows)
    store_path = WORK / f"edited-{rows}.db"
    if not store_path.exists():
        shutil.copy(files["template"], WORK / "building.db")
        subprocess.run([sys.executable, "-m", "cli.main", "--store", f"sqlite:///{WORK / 'building.db'}",
                        "load", "issues", str(files["csv"])], cwd=ROOT, check=True, capture_output=True)
        (WORK / "building.db").replace(store_path)
    return store_path


EDIT = r"""
import json, statistics, sys, time
from graph.sqlite_store import SQLiteStore
from loaders.tables import validate_rows, write_table
store = SQLiteStore(sys.argv[1])
count = int(sys.argv[2])
ids = [r[0] for r in store.db.execute("SELECT issue_id FROM issue ORDER BY issue_id")]
villages = [r[0] for r in store.db.execute("SELECT code FROM division WHERE level = 'village' ORDER BY code")]
seconds = []
for k in range(count):
    current = store.issue(ids[(k * 7919) % len(ids)])
    row = {"issue_id": current.issue_id, "village_code": current.village_code, "round_id": current.round_id,
           "found_on": current.found_on.isoformat(), "category": current.category,
           "description": current.description, "severity": current.severity, "status": current.status,
           "immediate": "是" if current.immediate else "否", "extra": {"整改佐证": f"第 {k} 次核实"}}
    if current.due_on:
        row["due_on"] = current.due_on.isoformat()
    if k % 3 == 1 and current.status in ("open", "in_progress"):
        row["status"] = "rectified"
        row["closed_on"] = "2024-12-01"
    elif current.closed_on:
        row["closed_on"] = current.closed_on.isoformat()
    if k % 3 == 2:
        row["village_code"] = villages[(k * 104729) % len(villages)]
    started = time.perf_counter()
    with store.atomic():
        write_table(store, "issues", validate_rows(store, "issues", [row], allow_reopen=True))
    seconds.append(time.perf_counter() - started)
seconds.sort()
print(json.dumps({"edits": count, "median_ms": round(1000 * statistics.median(seconds), 2),
                  "p95_ms": round(1000 * seconds[int(0.95 * (count - 1))], 2),
                  "max_ms": round(1000 * seconds[-1], 2)}))
"""


def run(code: Path, store: Path, count: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "edit.db"
        shutil.copy(store, copy)
        out = subprocess.run([sys.executable, "-c", EDIT, str(copy), str(count)], cwd=code, check=True,
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(code)})
        return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--edits", type=int, default=60)
    parser.add_argument("--against", metavar="COMMIT", help="that commit's code and this tree's, in turns")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    store = build(args.rows)
    result = {"machine": machine(), "rows": args.rows, "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if args.against:
        turns = in_turns(args.against, args.pairs, lambda code: run(code, store, args.edits))
        result["turns"] = turns
        result["median_ms"] = {k: statistics.median(r["median_ms"] for r in v) for k, v in turns.items()}
    else:
        result.update(run(ROOT, store, args.edits))
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
