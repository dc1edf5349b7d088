#!/usr/bin/env python3
"""Benchmark: the HTTP API under 32 concurrent clients on loopback, over the Chongqing scenario
(about 70,000 problems): responsibility chains, neighbourhoods, issue lists and warm root causes.
Runs `xuncha serve` (uvicorn) in a subprocess and measures each request's latency from the client.

    python bench/api_load.py [--clients 32] [--requests 3000] [--store sqlite|neo4j]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
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


async def read_response(reader) -> tuple[int, int]:
    """One HTTP/1.1 response with a Content-Length (as the API sends): its status and size."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = next(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return status, length


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
            # Several connections at once, so that with --workers every worker process (each
            # with its own cache) is reached.
            warm_paths = ["/rootcauses?limit=20"] + [
                p for district in sorted({i["village_code"][:6] for i in issues})
                for p in (f"/graph/neighborhood?id={district}&limit=10", f"/issues?district={district}&limit=50")]
            cold = []

            async def warm(connections: int) -> float:
                """One round of warm-up on new connections; the slowest request's time."""
                slowest = [0.0]

                async def one():
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    for path in warm_paths:
                        t = time.perf_counter()
                        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                     f"Authorization: Bearer {token}\r\n\r\n".encode())
                        await read_response(reader)
                        slowest[0] = max(slowest[0], time.perf_counter() - t)
                        if path.startswith("/rootcauses"):
                            cold.append(time.perf_counter() - t)
                    writer.close()
                await asyncio.gather(*(one() for _ in range(connections)))
                return slowest[0]
            # Rounds until no request is slow: which worker accepts a connection is the kernel's
            # choice, so one round may leave a worker cold.
            for _ in range(10):
                if asyncio.run(warm(4 * args.workers)) < 0.2:
                    break
            cold_rootcauses = max(cold)
            latencies: dict[str, list[float]] = {k: [] for k in paths}
            errors = []
            per_client = args.requests // args.clients
            request_head = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"

            # The clients are coroutines on one event loop in this process, each with its own
            # keep-alive connection: 32 client threads would contend for this process's GIL and
            # add their waiting to the latencies they measure.
            async def client(seed: int):
                r = random.Random(seed)
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                for _ in range(per_client):
                    kind = r.choice(list(paths))
                    t = time.perf_counter()
                    writer.write(f"GET {paths[kind](r)} HTTP/1.1\r\n{request_head}".encode())
                    status, length = await read_response(reader)
                    latencies[kind].append(time.perf_counter() - t)
                    if status != 200:
                        errors.append(status)
                writer.close()

            async def run_all():
                await asyncio.gather(*(client(i) for i in range(args.clients)))

            started = time.perf_counter()
            asyncio.run(run_all())
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
