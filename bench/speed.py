#!/usr/bin/env python3
"""Benchmark: root-cause surfacing for the Chongqing scenario (store aggregation + analysis, the
whole `xuncha rootcauses` path without printing), and one responsibility chain.

    python bench/speed.py [--store sqlite|neo4j] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from common import chongqing_scenario, machine

from graph import open_store, service
from graph.analysis.root_causes import surface_root_causes
from loaders.tables import load_table


def timed(function, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=["sqlite", "neo4j"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if args.store == "sqlite" else os.environ.get("XUNCHA_BENCH_NEO4J", "neo4j://127.0.0.1:7687")
        store = open_store(url)
        scenario, files = chongqing_scenario(store, Path(tmp) / "files")
        for table in ("units", "duties", "issues"):
            load_table(store, table, files[table])
        facts = store.ledger_facts()
        surfacing = timed(lambda: service.root_causes(store), args.repeat)
        aggregation = timed(store.ledger_facts, args.repeat)
        analysis = timed(lambda: surface_root_causes(facts), args.repeat)
        ids = [i["issue_id"] for i in scenario.issues[:: len(scenario.issues) // 50]]
        chains = []
        for issue_id in ids:
            chains += timed(lambda: service.chain(store, issue_id), 1)
        store.close()
    print(json.dumps({
        "store": args.store, "issues": len(scenario.issues), "machine": machine(),
        "surfacing_seconds_median": round(statistics.median(surfacing), 3),
        "surfacing_seconds_max": round(max(surfacing), 3),
        "aggregation_seconds_median": round(statistics.median(aggregation), 3),
        "analysis_seconds_median": round(statistics.median(analysis), 3),
        "chain_ms_median": round(statistics.median(chains) * 1000, 2),
        "chain_ms_max": round(max(chains) * 1000, 2),
    }, indent=1))


if __name__ == "__main__":
    main()
