#!/usr/bin/env python3
"""Benchmark: load the Chongqing-wide generated scenario (about 70,000 problems) into a store:
validation and writing of units, duties and issues, then the same files again (nothing changes).

    python bench/load_scenario.py [--store sqlite|neo4j]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from common import chongqing_scenario, machine

from graph import open_store
from loaders.tables import load_table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=["sqlite", "neo4j"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if args.store == "sqlite" else os.environ.get("XUNCHA_BENCH_NEO4J", "neo4j://127.0.0.1:7687")
        store = open_store(url)
        scenario, files = chongqing_scenario(store, Path(tmp) / "files")
        result = {"store": args.store, "issues": len(scenario.issues), "machine": machine()}
        for attempt in ("first", "again"):
            started = time.perf_counter()
            for table in ("units", "duties", "issues"):
                load_table(store, table, files[table])
            result[f"{attempt}_seconds"] = round(time.perf_counter() - started, 2)
        store.close()
    result["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
