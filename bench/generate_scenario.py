#!/usr/bin/env python3
"""Benchmark: `xuncha generate scenario` over Chongqing in the shapes the accuracy matrix draws
(bench/accuracy.py's families: one term of two rounds; three rounds with villages' problem mixes;
a follow-up round; two terms with local differences; an office's own categories over part of the
townships), each timed, with a digest of everything it made (problems, planted causes, villages'
base data, settings, local differences): the same seed must make the same ledger.

    python bench/generate_scenario.py [--json]
    python bench/generate_scenario.py --against c6035c7 [--pairs 3]

``--against`` runs another commit's generator and this tree's in turns (A, B, A, B …), each in a
process of its own on a store built by its own code, and says whether their digests agree.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, commit_tree, machine

# The shapes, as bench/accuracy.py's families draw them (Chongqing, every district).
SHAPES = {
    "standard": dict(seed=2025),
    "multi_round": dict(seed=3, rounds=3, every_round=True, kappa=30.0),
    "fixes_fail": dict(seed=5, rounds=2, every_round=True, revisit=True),
    "terms": dict(seed=7, rounds=2, every_round=True, kappa=30.0, terms=2, spread=0.02),
    "office_partial": dict(seed=9, rounds=2, every_round=True, kappa=30.0, coverage=0.55, township_share=0.5,
                           office_categories=8),
}

# Run as ``python -c GENERATE TREE STORE SHAPES_JSON`` with that tree's modules: the store (Chongqing's
# divisions and the catalog) built by its code where missing, then each shape generated and timed.
GENERATE = """
import hashlib, json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from graph.sqlite_store import SQLiteStore
from loaders.catalog import load_default_catalog
from loaders.divisions import DEFAULT_DIVISIONS, load_divisions
from loaders.scenario import generate_scenario
path = Path(sys.argv[2])
fresh = not path.exists()
store = SQLiteStore(path)
if fresh:
    load_divisions(store, DEFAULT_DIVISIONS, show_progress=False)
    load_default_catalog(store)
out = {}
for name, options in json.loads(sys.argv[3]).items():
    started = time.perf_counter()
    s = generate_scenario(store, province='50', **options)
    seconds = time.perf_counter() - started
    made = (s.issues, [(c.kind, c.area_code, c.category, c.multiplier, sorted(c.affected), sorted(c.villages))
                       for c in s.causes], s.base, s.meta, sorted(s.local.items()))
    digest = hashlib.sha256(json.dumps(made, ensure_ascii=False).encode()).hexdigest()[:16]
    out[name] = {'seconds': round(seconds, 2), 'problems': len(s.issues), 'digest': digest}
store.close()
print(json.dumps(out, ensure_ascii=False))
"""


def generate_with(tree: Path, store: Path, shapes: dict = SHAPES) -> dict:
    """:data:`GENERATE` with ``tree``'s code in a process of its own; ``shapes`` empty: the store only."""
    out = subprocess.run([sys.executable, "-c", GENERATE, str(tree), str(store), json.dumps(shapes)],
                         capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def against(revision: str, pairs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        trees = {revision: commit_tree(revision, Path(tmp) / "other"), "this tree": ROOT}
        stores = {name: Path(tmp) / f"store-{i}.db" for i, name in enumerate(trees)}
        for name, tree in trees.items():  # each store built by its own code, before the timed runs
            generate_with(tree, stores[name], {})
        runs: dict[str, list] = {name: [] for name in trees}
        for _ in range(pairs):
            for name, tree in trees.items():
                runs[name].append(generate_with(tree, stores[name]))
    totals = {name: [round(sum(r["seconds"] for r in run.values()), 2) for run in results]
              for name, results in runs.items()}
    ratios = [round(b / a, 2) for a, b in zip(totals[revision], totals["this tree"])]
    same = all(runs[revision][0][shape]["digest"] == run[shape]["digest"]
               for results in runs.values() for run in results for shape in SHAPES)
    return {"shapes": {shape: {name: statistics.median(r[shape]["seconds"] for r in results)
                               for name, results in runs.items()} | {"problems": runs[revision][0][shape]["problems"]}
                       for shape in SHAPES},
            "total_seconds": totals, "ratio_this_to_other": ratios, "median_ratio": statistics.median(ratios),
            "same_ledgers": same}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", metavar="COMMIT", help="compare with the generator of this commit, in turns")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="the figures as JSON on one line (indented without it)")
    args = parser.parse_args()
    result = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M")}
    if args.against:
        result |= {"against": args.against, **against(args.against, args.pairs)}
    else:
        with tempfile.TemporaryDirectory() as tmp:
            generate_with(ROOT, Path(tmp) / "store.db", {})  # the store, before the timed run
            result["shapes"] = generate_with(ROOT, Path(tmp) / "store.db")
    print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
