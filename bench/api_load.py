#!/usr/bin/env python3
"""Benchmark: the HTTP API under 32 concurrent clients on loopback, over all of Chongqing's
generated term (as `make demo` builds it: seed 1, about 72,000 problems), one `xuncha serve`
(uvicorn) process, latency measured at the client.

Two mixes, each run for a fixed time after its warm-up:

* **spread**: what many offices and other systems ask at once — issue lists of random districts
  with random filters and pages; the chain of any problem; the neighbourhood of any village,
  township, unit or problem at depth 1 or 2; root causes by district and level. Warm-up computes
  the analyses once (root causes, the districts' and the province's projections); the chains and
  neighbourhoods asked during the run are mostly asked once.
* **warm**: the earlier, narrower mix, for comparison — 200 problems' chains, their townships'
  neighbourhoods, their districts' first page, the first page of all root causes.

Also timed: the served views that read the same analysis (/views/rootcause/…, /packages), cold
and cached, and the server's resident memory before and after warm-up.

    python bench/api_load.py                          # both stores, both mixes (a few minutes)
    python bench/api_load.py --store sqlite --mix spread --seconds 30
    python bench/api_load.py --store sqlite --data /tmp/cq.db   # keep the built store for re-runs

Results go to bench/results-api-load.json (``--out``); Neo4j runs on a throw-away engine from
tests/neo4j_engine.py.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from common import ROOT, chongqing_scenario, machine

from graph import Settings, open_store
from graph.access import create_token
from loaders.catalog import catalog_units
from loaders.tables import load_table

SEED = 1  # the term `make demo` generates
FILTERS = ("none", "township", "village", "category", "status", "severity", "overdue", "round")
STATUSES = ("open", "in_progress", "rectified", "closed")
SEVERITIES = ("minor", "serious", "grave")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return found.stdout.strip() + ("+changes" if dirty else "")


def rss_mb(pid: int) -> dict:
    """The process's resident memory now and at its peak, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {k: round(int(fields[key].split()[0]) / 1024) for k, key in (("rss_mb", "VmRSS"), ("peak_mb", "VmHWM"))}


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user and system): on cores shared with other work, the
    server's CPU per request says more than its wall-clock throughput."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_store(url: str, files_dir: Path) -> None:
    """All of Chongqing as `make demo` loads it: divisions, the catalog and its units for every
    district, the generated term's units, duties and problems."""
    store = open_store(url)
    try:
        _, files = chongqing_scenario(store, files_dir, seed=SEED)
        store.upsert_units([u for d in store.divisions("district") for u in catalog_units(store, d.code)])
        for table in ("units", "duties", "issues"):
            load_table(store, table, files[table])
    finally:
        store.close()


class Targets:
    """What the mixes draw from, read once from the loaded store."""

    def __init__(self, url: str):
        store = open_store(url, create=False, read_only=False)
        try:
            self.issues = store.issues(None)
            self.districts = sorted({i.village_code[:6] for i in self.issues})
            self.villages = [d.code for d in store.divisions("village", within="50")]
            self.townships = [d.code for d in store.divisions("township", within="50")]
            self.units = [u.unit_id for u in store.units()]
            self.categories = sorted({i.category for i in self.issues})
            self.rounds = sorted({i.round_id for i in self.issues})
            self.token = create_token(store, "analyst", name="bench")[0]
        finally:
            store.close()
        self.by_district: dict[str, list] = {}
        for i in self.issues:
            self.by_district.setdefault(i.village_code[:6], []).append(i)

    def spread(self) -> dict:
        """The spread mix: each route's request drawn afresh from everything loaded."""
        def issue_list(r: random.Random) -> str:
            district = r.choice(self.districts)
            query = f"/issues?district={district}&limit=50&offset={50 * r.randrange(10)}"
            kind, one = r.choice(FILTERS), r.choice(self.by_district[district])
            query += {"none": "", "township": f"&township={one.village_code[:9]}",
                      "village": f"&village={one.village_code}", "category": f"&category={quote(one.category)}",
                      "status": f"&status={r.choice(STATUSES)}", "severity": f"&severity={r.choice(SEVERITIES)}",
                      "overdue": f"&overdue={r.choice(['true', 'false'])}", "round": f"&round={quote(one.round_id)}"}[kind]
            return query

        def neighbourhood(r: random.Random) -> str:
            kind = r.randrange(4)
            node = (r.choice(self.villages) if kind == 0 else r.choice(self.townships) if kind == 1
                    else f"unit:{r.choice(self.units)}" if kind == 2 else f"issue:{r.choice(self.issues).issue_id}")
            return f"/graph/neighborhood?id={node}&depth={r.choice((1, 2))}&limit=100"

        def root_causes(r: random.Random) -> str:
            district = r.choice((None, *self.districts))
            level = r.choice((None, "township", "district"))
            return ("/rootcauses?limit=20" + (f"&district={district}" if district else "")
                    + (f"&level={level}" if level else "") + f"&offset={20 * r.randrange(3)}")
        return {"issues": issue_list, "chain": lambda r: f"/issues/{r.choice(self.issues).issue_id}/chain",
                "neighborhood": neighbourhood, "rootcauses": root_causes}

    def spread_warmup(self) -> list[str]:
        """The analyses the spread mix reads: computed once per data version, before the clock."""
        return ([f"/rootcauses?limit=20{f'&district={d}' if d else ''}{f'&level={lv}' if lv else ''}"
                 for d in (None, *self.districts) for lv in (None, "township", "district")]
                + [f"/graph/neighborhood?id={d}&limit=10" for d in self.districts]
                + [f"/issues?district={d}&limit=50" for d in self.districts]
                + [f"/graph/neighborhood?id=unit:{self.units[0]}&limit=10"])

    def warm(self) -> tuple[dict, list[str]]:
        """The earlier mix: 200 problems, their townships, their districts' first page."""
        sample = random.Random(1).sample(self.issues, 200)
        paths = {
            "chain": lambda r: f"/issues/{r.choice(sample).issue_id}/chain",
            "neighborhood": lambda r: f"/graph/neighborhood?id={r.choice(sample).village_code[:9]}&depth=1&limit=100",
            "issues": lambda r: f"/issues?district={r.choice(sample).village_code[:6]}&limit=50",
            "rootcauses": lambda r: "/rootcauses?limit=20",
        }
        warm_paths = ["/rootcauses?limit=20"] + [
            p for district in sorted({i.village_code[:6] for i in sample})
            for p in (f"/graph/neighborhood?id={district}&limit=10", f"/issues?district={district}&limit=50")]
        return paths, warm_paths


class Client:
    """Requests over keep-alive connections to the server, timed at the client."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.head = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"

    async def connect(self):
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def get(self, reader, writer, path: str) -> tuple[int, float, bytes]:
        """One request on a keep-alive connection: status, seconds, body (the API always sends a
        Content-Length)."""
        started = time.perf_counter()
        writer.write(f"GET {path} HTTP/1.1\r\n{self.head}".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:"))
        body = await reader.readexactly(length)
        return int(lines[0].split(" ", 2)[1]), time.perf_counter() - started, body

    async def sequence(self, paths: list[str]) -> list[tuple[str, int, float]]:
        reader, writer = await self.connect()
        try:
            return [(p, *(await self.get(reader, writer, p))[:2]) for p in paths]
        finally:
            writer.close()

    async def run(self, mix: dict, clients: int, seconds: float) -> tuple[dict, dict, float]:
        """``clients`` connections, each sending requests drawn evenly from the mix's routes until
        the time is up. The clients are coroutines on one event loop: 32 threads would contend for
        this process's GIL and add their waiting to the latencies they measure."""
        latencies: dict[str, list[float]] = {k: [] for k in mix}
        errors: dict[str, int] = {}
        routes = list(mix)
        deadline = time.perf_counter() + seconds

        async def client(seed: int):
            r = random.Random(seed)
            reader, writer = await self.connect()
            while time.perf_counter() < deadline:
                kind = r.choice(routes)
                status, took, _ = await self.get(reader, writer, mix[kind](r))
                latencies[kind].append(took)
                if status != 200:
                    errors[f"{kind} {status}"] = errors.get(f"{kind} {status}", 0) + 1
            writer.close()
        started = time.perf_counter()
        await asyncio.gather(*(client(1000 + i) for i in range(clients)))
        return latencies, errors, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def summary(latencies: dict, errors: dict, elapsed: float) -> dict:
    ms = lambda v: round(v * 1000, 1)  # noqa: E731

    def stats(values):
        return {"requests": len(values), "p50_ms": ms(percentile(values, .5)), "p95_ms": ms(percentile(values, .95)),
                "p99_ms": ms(percentile(values, .99)), "max_ms": ms(max(values, default=float("nan")))}
    every = [v for values in latencies.values() for v in values]
    return {"seconds": round(elapsed, 1), "throughput_rps": round(len(every) / elapsed), **stats(every),
            "errors": errors, "by_route": {k: stats(v) for k, v in latencies.items()}}


def start_server(url: str, env: dict, workers: int, log: Path, code: Path = ROOT) -> tuple[subprocess.Popen, int]:
    """`xuncha serve` of the tree ``code`` (this one, or another commit's) on a free port."""
    port = free_port()
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "cli.main", "--store", url, "serve", "--port", str(port),
                                   "--workers", str(workers), "--quiet"], cwd=code, env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            if server.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not open its port within 120 s")


def views(targets: Targets, client: Client) -> dict:
    """The served root-cause views and package lists, asked twice each: cold (first) and cached."""
    async def timed():
        reader, writer = await client.connect()
        try:
            top = json.loads((await client.get(reader, writer, "/rootcauses?limit=3"))[2])["items"]
            paths = [f"/views/rootcause/{quote(c['unit_id'])}/{quote(c['category'])}" for c in top]
            paths += [f"/packages?district={c['district_code']}" for c in top]
            out = {}
            for path in paths:
                first = await client.get(reader, writer, path)
                again = await client.get(reader, writer, path)
                out[path] = {"status": first[0], "first_s": round(first[1], 3), "again_s": round(again[1], 3)}
            return out
        finally:
            writer.close()
    return asyncio.run(timed())


def bench_store(kind: str, args, work: Path) -> dict:
    env = dict(os.environ)
    engine = None
    if kind == "sqlite":
        path = Path(args.data) if args.data else work / "api.db"
        url = f"sqlite:///{path}"
        if not path.exists():
            print(f"building {path} …", file=sys.stderr)
            build_store(url, work / "files")
    else:
        sys.path.insert(0, str(ROOT))
        from tests import neo4j_engine
        password = secrets.token_urlsafe(16)
        env["NEO4J_PASSWORD"] = password
        os.environ["NEO4J_PASSWORD"] = password
        engine = neo4j_engine.start(work / "neo4j", neo4j_engine.free_port(), password)
        url = engine.uri
        print(f"loading Neo4j on {url} …", file=sys.stderr)
        try:
            build_store(url, work / "files")
        except BaseException:
            engine.stop()
            raise
    result: dict = {"store": kind, "workers": args.workers, "clients": args.clients}
    server = None
    try:
        targets = Targets(url)
        result["problems"] = len(targets.issues)
        log = Path(tempfile.gettempdir()) / f"xuncha-api-load-{kind}.log"
        print(f"server log: {log}", file=sys.stderr)
        server, port = start_server(url, env, args.workers, log)
        print(f"server pid {server.pid}", file=sys.stderr)
        client = Client(port, targets.token)
        result["memory_at_start"] = rss_mb(server.pid)
        for mix in args.mix:
            print(f"{kind}: {mix} mix …", file=sys.stderr)
            if mix == "spread":
                paths, warm_paths = targets.spread(), targets.spread_warmup()
            else:
                paths, warm_paths = targets.warm()
            started = time.perf_counter()
            asyncio.run(client.sequence(warm_paths))
            warm_s = time.perf_counter() - started
            # A short unmeasured run, so that what Python and the store warm on first use is not
            # counted against the mix.
            asyncio.run(client.run(paths, args.clients, args.settle))
            memory = rss_mb(server.pid)
            load_before, cpu_before = load_average(), cpu_seconds(server.pid)
            latencies, errors, elapsed = asyncio.run(client.run(paths, args.clients, args.seconds))
            cpu = cpu_seconds(server.pid) - cpu_before
            result[mix] = {"warmup_s": round(warm_s, 1), "warmup_requests": len(warm_paths),
                           "memory_after_warmup": memory, **summary(latencies, errors, elapsed),
                           "server_cpu_s": round(cpu, 1),
                           "server_cpu_ms_per_request": round(1000 * cpu / sum(map(len, latencies.values())), 2),
                           "memory_after_run": rss_mb(server.pid),
                           "uptime_before": load_before, "uptime_after": load_average()}
            print(json.dumps({k: v for k, v in result[mix].items() if k != "by_route"}), file=sys.stderr)
        if args.views:
            result["views"] = views(targets, client)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        if engine is not None:
            engine.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "neo4j", "both"], default="both")
    parser.add_argument("--mix", choices=["spread", "warm", "both"], default="both")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30, help="measured time per mix, after warm-up")
    parser.add_argument("--settle", type=float, default=5, help="unmeasured run of the mix before the clock")
    parser.add_argument("--no-views", dest="views", action="store_false", help="skip timing the served views")
    parser.add_argument("--data", help="SQLite file to keep the built store in (built when missing)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-api-load.json"))
    args = parser.parse_args()
    args.mix = ["spread", "warm"] if args.mix == "both" else [args.mix]
    stores = ["sqlite", "neo4j"] if args.store == "both" else [args.store]
    run = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "commit": commit(),
           "machine": machine(), "uptime_at_start": load_average(), "seconds": args.seconds, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in stores:
            work = Path(tmp) / kind
            work.mkdir()
            run["runs"].append(bench_store(kind, args, work))
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(run, indent=1, ensure_ascii=False)
    Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
