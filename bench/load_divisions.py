#!/usr/bin/env python3
"""Benchmark: load the national division codes (41,352 townships, 620,573 village-level units)
into a store, and run the baseline (a plain CSV-to-SQLite copy of the same rows) in the same run.

    python bench/load_divisions.py [--divisions ../shared/data/divisions] [--store sqlite|neo4j]

Each load runs in a fresh child process so its peak memory (ru_maxrss) is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent / "shared" / "data" / "divisions"
BASELINE = ROOT.parent / "shared" / "bench" / "baseline_divisions.py"


def child(store_url: str, divisions: str) -> None:
    sys.path.insert(0, str(ROOT))
    from graph import open_store
    from loaders.divisions import load_divisions
    started = time.perf_counter()
    store = open_store(store_url)
    summary = load_divisions(store, divisions, show_progress=False)
    store.close()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 2), "peak_mb": round(peak), "rows": summary.inserted + summary.updated
                      + summary.unchanged, "inserted": summary.inserted}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--divisions", default=str(DEFAULT))
    parser.add_argument("--store", choices=["sqlite", "neo4j"], default="sqlite")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.divisions)
        return
    if not Path(args.divisions).exists():
        sys.exit(f"no national division set at {args.divisions}")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/national.db" if args.store == "sqlite" else os.environ.get("XUNCHA_BENCH_NEO4J", "neo4j://127.0.0.1:7687")
        run = subprocess.run([sys.executable, __file__, "--child", url, "--divisions", args.divisions],
                             capture_output=True, text=True, check=True)
        result = json.loads(run.stdout)
        if args.store == "sqlite":
            again = subprocess.run([sys.executable, __file__, "--child", url, "--divisions", args.divisions],
                                   capture_output=True, text=True, check=True)
            result["reload_seconds"] = json.loads(again.stdout)["seconds"]
    baseline = subprocess.run([sys.executable, str(BASELINE), args.divisions], capture_output=True, text=True, check=True)
    words = baseline.stdout.split()
    baseline_seconds = float(words[words.index("in") + 1])
    result.update({"store": args.store, "baseline_seconds": baseline_seconds,
                   "ratio_to_baseline": round(result["seconds"] / baseline_seconds, 2),
                   "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"})
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
