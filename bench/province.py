#!/usr/bin/env python3
"""Benchmark: a province's generated term, and several terms of it, on both stores.

    python bench/province.py [--province 51] [--terms 3] [--stores sqlite neo4j] [--heap 1g]
                             [--pagecache-mb 512] [--divisions PATH] [--out bench/results-province.json]

The divisions come from the national set (``../shared/data/divisions``): the province's every
district, township and village. The term is generated over all of them (every township inspected,
``--rounds`` rounds); the terms before it repeat it with ids of their own and every date five
years earlier per term (a 届 of inspection is five years), so the store holds a history that grows. Chongqing's
term (the project's own default scenario) is measured alongside as the smallest point.

For each data set and store, in a process of its own (peak memory, max RSS, is its own): the units,
duties and problems validated and loaded into a store holding the province's divisions and the
catalog; root-cause surfacing (``xuncha rootcauses`` without printing, median of ``--repeat``); the
responsibility chains of 200 problems drawn at random; the neighbourhood of three districts as the
API's explorer answers it (a district's projection, then two steps around the district). On Neo4j
the JVM's heap in use is sampled every half second (``jstat -gc``) and its peak reported; each Neo4j
run has an engine of its own, started empty by ``tests/neo4j_engine.py`` with the heap and page
cache given.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TERM_YEARS = 5
PASSWORD = "bench-province-password"


def national_divisions() -> Path:
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / "shared" / "data" / "divisions").exists():
            return base / "shared" / "data" / "divisions"
    return ROOT.parent / "shared" / "data" / "divisions"


def later(value: str, years: int) -> str:
    """An ISO date (or empty) ``years`` later (earlier if negative); 29 February becomes the 28th."""
    if not value:
        return value
    day = dt.date.fromisoformat(value)
    try:
        return day.replace(year=day.year + years).isoformat()
    except ValueError:
        return day.replace(year=day.year + years, day=28).isoformat()


def terms_file(issues: Path, terms: int, out: Path) -> int:
    """``terms`` terms of the ledger in one file, the last as generated, each earlier one with ids
    prefixed by its term and dates (and the year in the round's name) ``TERM_YEARS`` earlier."""
    with open(issues, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    at = {name: header.index(name) for name in header}
    dates = [at[c] for c in ("found_on", "due_on", "closed_on") if c in at]
    with open(out, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for term in range(terms):
            years = (term - terms + 1) * TERM_YEARS  # the last term is the generated one: no date in the future
            for row in rows:
                if years:
                    row = list(row)
                    row[at["issue_id"]] = f"T{term + 1}-{row[at['issue_id']]}"
                    for i in dates:
                        row[i] = later(row[i], years)
                    round_id = row[at["round_id"]]
                    year = next((round_id[k:k + 4] for k in range(len(round_id) - 3) if round_id[k:k + 4].isdigit()), None)
                    if year:
                        row[at["round_id"]] = round_id.replace(year, str(int(year) + years), 1)
                writer.writerow(row)
    return len(rows) * terms


def prepare(args, work: Path) -> dict:
    """The SQLite template (the province's divisions and the catalog; Chongqing's too) and the
    files of every data set."""
    from graph.sqlite_store import SQLiteStore
    from loaders.catalog import load_default_catalog
    from loaders.divisions import load_divisions
    from loaders.scenario import generate_scenario
    template = work / "template.db"
    store = SQLiteStore(template)
    for province in ("50", args.province):
        load_divisions(store, args.divisions, province=province, show_progress=False)
    load_default_catalog(store)
    sets = {}
    chongqing = generate_scenario(store, province="50", seed=1).write(work / "chongqing")
    sets["chongqing"] = {**chongqing, "province": "50"}
    term = generate_scenario(store, province=args.province, seed=1, rounds=args.rounds).write(work / "term")
    sets["term"] = {**term, "province": args.province}
    many = work / f"terms{args.terms}"
    many.mkdir()
    rows = terms_file(term["issues"], args.terms, many / "issues.csv")
    sets[f"terms{args.terms}"] = {**term, "issues": many / "issues.csv", "province": args.province}
    store.close()
    for name, files in sets.items():
        with open(files["issues"], encoding="utf-8") as f:
            files["rows"] = sum(1 for _ in f) - 1
    assert sets[f"terms{args.terms}"]["rows"] == rows
    return {"template": template, "sets": sets}


class HeapSampler:
    """The peak of the JVM's heap in use (survivor, eden and old generations), every half second."""

    def __init__(self, pid: int):
        self.pid, self.peak_mb, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        process = subprocess.Popen(["jstat", "-gc", str(self.pid), "500"], stdout=subprocess.PIPE, text=True)
        header = None
        for line in process.stdout:
            fields = line.split()
            if header is None:
                header = fields
                continue
            if fields == header:
                continue
            values = dict(zip(header, fields))
            used = sum(float(values.get(k, 0)) for k in ("S0U", "S1U", "EU", "OU")) / 1024
            self.peak_mb = max(self.peak_mb, used)
            if self._stop.is_set():
                break
        process.terminate()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(timeout=5)
        return round(self.peak_mb)


def uptime() -> str:
    """The load averages (1, 5, 15 minutes), as ``uptime`` shows them: the machine is shared."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def child(args) -> None:
    """One data set on one store: load, surface, chains, neighbourhoods. Prints JSON."""
    from graph import open_store, service
    from graph.analysis.neighborhood import neighborhood
    from loaders.tables import load_table
    files = json.loads(args.child_files)
    store = open_store(args.child)
    result = {"load_avg_before": uptime()}
    sampler = HeapSampler(args.jvm_pid) if args.jvm_pid else None
    for table in ("units", "duties", "issues"):
        started = time.perf_counter()
        summary = load_table(store, table, files[table])
        result[f"{table}_seconds"] = round(time.perf_counter() - started, 2)
        result[f"{table}_inserted"] = summary.inserted
    result["load_seconds"] = round(sum(result[f"{t}_seconds"] for t in ("units", "duties", "issues")), 2)
    result["load_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if sampler:
        result["load_jvm_heap_peak_mb"] = sampler.stop()
        sampler = HeapSampler(args.jvm_pid)
    surfacing = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        ranked = service.root_causes(store)
        surfacing.append(time.perf_counter() - started)
    result["surfacing_seconds"] = [round(s, 2) for s in surfacing]
    result["surfacing_median"] = round(statistics.median(surfacing), 2)
    result["surfaced"] = sum(1 for c in ranked if c.get("surfaced", True))
    if sampler:
        result["surfacing_jvm_heap_peak_mb"] = sampler.stop()
    ids = [i.issue_id for i in store.issues(files["district"])]
    rng = random.Random(1)
    chains = []
    for issue_id in rng.sample(ids, min(200, len(ids))):
        started = time.perf_counter()
        service.chain(store, issue_id)
        chains.append(time.perf_counter() - started)
    result["chain_ms_median"] = round(statistics.median(chains) * 1000, 2)
    result["chain_ms_max"] = round(max(chains) * 1000, 1)
    around = []
    for district in files["districts"]:
        started = time.perf_counter()
        graph = store.projection(district)
        neighborhood(graph, district, depth=2, limit=200)
        around.append(time.perf_counter() - started)
    result["neighbourhood_seconds"] = [round(s, 2) for s in around]
    result["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["load_avg_after"] = uptime()
    store.close()
    print(json.dumps(result))


def run(args, store_kind: str, files: dict, template: Path, work: Path) -> dict:
    from graph.sqlite_store import SQLiteStore
    reference = SQLiteStore(template)
    districts = [d.code for d in reference.divisions("district", within=files["province"])]
    reference.close()
    payload = {k: str(v) for k, v in files.items() if k in ("units", "duties", "issues")}
    payload.update(district=districts[0], districts=[districts[0], districts[len(districts) // 2], districts[-1]])
    engine = None
    if store_kind == "sqlite":
        path = work / f"run-{time.monotonic_ns()}.db"
        shutil.copy(template, path)
        url = f"sqlite:///{path}"
    else:
        os.environ["NEO4J_DEV_PAGECACHE_MB"] = str(args.pagecache_mb)
        os.environ["NEO4J_DEV_HEAP"] = args.heap
        import importlib

        from tests import neo4j_engine
        importlib.reload(neo4j_engine)  # the heap is read when the module loads
        engine = neo4j_engine.start(work / f"neo4j-{time.monotonic_ns()}", neo4j_engine.free_port(), PASSWORD)
        url = engine.uri
        os.environ["NEO4J_PASSWORD"] = PASSWORD
        from graph import open_store
        from loaders.catalog import load_default_catalog
        from loaders.divisions import load_divisions
        store = open_store(url)
        load_divisions(store, args.divisions, province=files["province"], show_progress=False)
        load_default_catalog(store)
        store.close()
    try:
        command = [sys.executable, __file__, "--child", url, "--child-files", json.dumps(payload),
                   "--repeat", str(args.repeat)]
        if engine:
            command += ["--jvm-pid", str(engine.process.pid)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            return {"failed": done.stderr[-3000:]}
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if engine:
            result["store_mb"] = round(sum(p.stat().st_size for p in engine.home.rglob("*") if p.is_file()) / 2**20)
        else:
            result["store_mb"] = round(path.stat().st_size / 2**20)
            path.unlink()
        return result
    finally:
        if engine:
            engine.stop()
            shutil.rmtree(engine.home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--province", default="51")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--terms", type=int, default=3)
    parser.add_argument("--stores", nargs="+", default=["sqlite", "neo4j"], choices=["sqlite", "neo4j"])
    parser.add_argument("--sets", nargs="+", help="only these data sets (chongqing, term, termsN)")
    parser.add_argument("--heap", default="1g", help="the Neo4j engine's heap (the launcher's default 1g)")
    parser.add_argument("--pagecache-mb", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--divisions", default=str(national_divisions()))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-province.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-files", help=argparse.SUPPRESS)
    parser.add_argument("--jvm-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    import platform
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"),
               "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                        text=True).stdout.strip(),
               "heap": args.heap, "pagecache_mb": args.pagecache_mb, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        prepared = prepare(args, work)
        results["prepare_seconds"] = round(time.perf_counter() - started, 1)
        for name, files in prepared["sets"].items():
            if args.sets and name not in args.sets:
                continue
            for store_kind in args.stores:
                result = {"set": name, "store": store_kind, "problems": files["rows"],
                          **run(args, store_kind, files, prepared["template"], work)}
                results["runs"].append(result)
                print(json.dumps(result, ensure_ascii=False), file=sys.stderr)
                Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
