#!/usr/bin/env python3
"""Benchmark: the HTTP API under 32 concurrent clients on loopback, over the Chongqing scenario
(about 70,000 problems): responsibility chains, neighbourhoods, issue lists and warm root causes.
Runs `xuncha serve` (uvicorn) in a subprocess and measures each request's latency from the client.

    python bench/api_load.py [--clients 32] [--requests 3000] [--store sqlite|neo4j]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, chongqing_scenario, machine

from graph import open_store
from graph.access import create_token
from loaders.tables import load_table


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--store", choices=["sqlite", "neo4j"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/api.db" if args.store == "sqlite" else os.environ.get(
            "XUNCHA_BENCH_NEO4J", "neo4j://127.0.0.1:7687")
        store = open_store(url)
        scenario, files = chongqing_scenario(store, Path(tmp) / "files")
        from loaders.catalog import catalog_units
        for d in store.divisions("district"):
            store.upsert_units(catalog_units(store, d.code))
        for table in ("units", "duties", "issues"):
            load_table(store, table, files[table])
        token = create_token(store, "analyst", name="bench")[0]
        store.close()
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "cli.main", "--store", url, "serve", "--port", str(port),
                                   "--workers", str(args.workers), "--quiet"],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            headers = {"Authorization": f"Bearer {token}"}
            issues = random.Random(1).sample(scenario.issues, 200)
            paths = {
                "chain": lambda r: f"/issues/{r.choice(issues)['issue_id']}/chain",
                "neighborhood": lambda r: f"/graph/neighborhood?id={r.choice(issues)['village_code'][:9]}&depth=1&limit=100",
                "issues": lambda r: f"/issues?district={r.choice(issues)['village_code'][:6]}&limit=50",
                "rootcauses": lambda r: "/rootcauses?limit=20",
            }
            # Warm up: the first root-cause and projection computations are not what is measured.
            warm = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            started = time.perf_counter()
            warm.request("GET", "/rootcauses?limit=20", headers=headers)
            warm.getresponse().read()
            cold_rootcauses = time.perf_counter() - started
            for district in sorted({i["village_code"][:6] for i in issues}):
                warm.request("GET", f"/graph/neighborhood?id={district}&limit=10", headers=headers)
                warm.getresponse().read()
                warm.request("GET", f"/issues?district={district}&limit=50", headers=headers)
                warm.getresponse().read()
            latencies: dict[str, list[float]] = {k: [] for k in paths}
            errors = []
            per_client = args.requests // args.clients

            def client(seed: int):
                r = random.Random(seed)
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                connection.connect()
                # Without it, Nagle's algorithm and delayed ACKs add 40 ms to a keep-alive request.
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for _ in range(per_client):
                    kind = r.choice(list(paths))
                    t = time.perf_counter()
                    connection.request("GET", paths[kind](r), headers=headers)
                    response = connection.getresponse()
                    response.read()
                    latencies[kind].append(time.perf_counter() - t)
                    if response.status != 200:
                        errors.append(response.status)
            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait()
    every = [v for values in latencies.values() for v in values]
    ms = lambda v: round(v * 1000, 1)  # noqa: E731
    result = {"store": args.store, "workers": args.workers, "clients": args.clients, "requests": len(every), "errors": len(errors),
              "seconds": round(elapsed, 2), "throughput_rps": round(len(every) / elapsed),
              "p50_ms": ms(percentile(every, .5)), "p95_ms": ms(percentile(every, .95)),
              "p99_ms": ms(percentile(every, .99)), "cold_rootcauses_s": round(cold_rootcauses, 2),
              "by_route": {k: {"p50_ms": ms(percentile(v, .5)), "p95_ms": ms(percentile(v, .95))}
                           for k, v in latencies.items()},
              "machine": machine(), "date": time.strftime("%Y-%m-%d")}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
