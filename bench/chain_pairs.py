#!/usr/bin/env python3
"""Benchmark, paired: the responsibility chains of the same 300 problems read by another commit's
Neo4j store (``--against``: a checkout of it, e.g. ``git archive COMMIT | tar -x -C DIR``) and by
this tree's, alternating which goes first, on one Neo4j engine holding Chongqing's generated term;
the two answers are asserted equal. The machine's drift is shared by both sides.

    python bench/chain_pairs.py --against DIR
"""
import argparse, importlib.util, json, os, random, shutil, statistics, sys, tempfile, threading, time
from pathlib import Path
MINE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(MINE))
parser = argparse.ArgumentParser()
parser.add_argument("--against", required=True, help="a checkout of the other commit")
args = parser.parse_args()
from tests import neo4j_engine
from graph import open_store, service
from graph.analysis.chains import responsibility_chain
from loaders.catalog import load_default_catalog
from loaders.divisions import DEFAULT_DIVISIONS, load_divisions
from loaders.scenario import generate_scenario
from loaders.tables import load_table
spec = importlib.util.spec_from_file_location("graph.main_neo4j_store", str(Path(args.against) / "graph" / "neo4j_store.py"),
                                              submodule_search_locations=None)
main_mod = importlib.util.module_from_spec(spec); main_mod.__package__ = "graph"; spec.loader.exec_module(main_mod)
home = Path(tempfile.mkdtemp(prefix="xuncha-chain-"))
engine = neo4j_engine.start(home, neo4j_engine.free_port(), "bench-chain-password")
os.environ["NEO4J_PASSWORD"] = "bench-chain-password"
try:
    store = open_store(engine.uri)
    load_divisions(store, DEFAULT_DIVISIONS, show_progress=False)
    load_default_catalog(store)
    with tempfile.TemporaryDirectory() as tmp:
        files = generate_scenario(store, province="50", seed=1).write(Path(tmp))
        for t in ("units", "duties", "issues"):
            load_table(store, t, files[t])
    old = main_mod.Neo4jStore.__new__(main_mod.Neo4jStore)
    old.driver, old.url, old.database, old._local = store.driver, store.url, store.database, threading.local()
    ids = [i.issue_id for i in store.issues()]
    sample = random.Random(1).sample(ids, 300)
    times = {"against": [], "this": []}
    for n, issue_id in enumerate(sample):
        order = [("against", old), ("this", store)] if n % 2 else [("this", store), ("against", old)]
        answers = []
        for name, s in order:
            started = time.perf_counter()
            answers.append(responsibility_chain(s.chain_graph(issue_id), issue_id))
            times[name].append(time.perf_counter() - started)
        assert answers[0] == answers[1], issue_id
    print(json.dumps({name: {"median_ms": round(statistics.median(t) * 1000, 2),
                             "p90_ms": round(sorted(t)[int(len(t) * 0.9)] * 1000, 2), "max_ms": round(max(t) * 1000, 1)}
                      for name, t in times.items()} | {"load_avg": open("/proc/loadavg").read().split()[:3]}))
finally:
    engine.stop()
    shutil.rmtree(home, ignore_errors=True)
