#!/usr/bin/env python3
"""Accuracy of root-cause surfacing on generated scenarios with planted causes (and null
scenarios with none), on the embedded store.

AC@k: the share of planted causes whose unit is ranked within the first k among the candidates of
the same level for their district and category (the full ranking, ``--all``). Recall: the share
surfaced at the default threshold at the right level with the right unit. False candidates: the
candidates surfaced in a null scenario (nothing planted).

    python bench/accuracy.py [--province 50] [--seeds 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graph.analysis.root_causes import DEFAULT_MIN_CONFIDENCE, surface_root_causes  # noqa: E402
from graph.sqlite_store import SQLiteStore  # noqa: E402
from loaders.catalog import load_default_catalog  # noqa: E402
from loaders.divisions import DEFAULT_DIVISIONS, load_divisions  # noqa: E402
from loaders.scenario import generate_scenario  # noqa: E402
from loaders.tables import load_table  # noqa: E402


THRESHOLDS = (0.999, 0.99, 0.95, 0.9)


def run_one(template: Path, work: Path, province: str, seed: int, noise: float, causes: int | None) -> dict:
    db = work / f"s{seed}-{noise}-{causes}.db"
    shutil.copy(template, db)
    store = SQLiteStore(db)
    scenario = generate_scenario(store, province=province, seed=seed, noise=noise, causes=causes)
    paths = scenario.write(work / db.stem)
    for table in ("units", "duties", "issues"):
        load_table(store, table, paths[table])
    facts = store.ledger_facts()
    store.close()
    started = time.perf_counter()
    candidates = surface_root_causes(facts, min_confidence=DEFAULT_MIN_CONFIDENCE)
    seconds = time.perf_counter() - started
    # The same tests at other thresholds: recall against false candidates.
    trade_off = {}
    for threshold in THRESHOLDS:
        others = surface_root_causes(facts, min_confidence=threshold)
        planted_keys = {(c.level, c.area_code, c.category, c.unit_id) for c in scenario.causes}
        found = {(c.level, c.area_code, c.category, c.unit_id) for c in others if c.surfaced}
        trade_off[threshold] = {"recalled": len(found & planted_keys), "false": len(
            {k[:3] for k in found} - {k[:3] for k in planted_keys})}
    groups = defaultdict(list)  # (level, district, category) -> candidates in ranked order
    for c in candidates:
        groups[(c.level, c.district_code, c.category)].append(c)
    ranks, recalled = [], 0
    by_kind: dict[str, list[int]] = {}
    for cause in scenario.causes:
        district = cause.area_code[:6]
        ranking = groups[(cause.level, district, cause.category)]
        rank = next((i for i, c in enumerate(ranking, 1)
                     if c.area_code == cause.area_code and c.unit_id == cause.unit_id), None)
        ranks.append(rank)
        hit = any(c.surfaced and c.area_code == cause.area_code and c.unit_id == cause.unit_id for c in ranking)
        recalled += hit
        by_kind.setdefault(cause.kind, []).append(int(hit))
    planted = {(c.level, c.area_code, c.category) for c in scenario.causes}
    false = [c for c in candidates if c.surfaced and (c.level, c.area_code, c.category) not in planted]
    return {"seed": seed, "noise": noise, "planted": len(scenario.causes), "issues": len(scenario.issues),
            "ranks": ranks, "recalled": recalled, "false_candidates": len(false),
            "false": [f"{c.level}:{c.area_code}:{c.category}" for c in false], "surface_seconds": round(seconds, 3),
            "trade_off": trade_off, "recalled_by_kind": by_kind}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--province", default="50")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--noises", default="0.3,0.5,0.8")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    noises = [float(x) for x in args.noises.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        template = work / "divisions.db"
        store = SQLiteStore(template)
        load_divisions(store, DEFAULT_DIVISIONS, province=args.province, show_progress=False)
        load_default_catalog(store)
        store.close()
        runs = []
        for noise in noises:
            for seed in range(1, args.seeds + 1):
                for causes in (None, 0):
                    run = run_one(template, work, args.province, seed, noise, causes)
                    run["null"] = causes == 0
                    runs.append(run)
                    print(json.dumps(run, ensure_ascii=False), file=sys.stderr)
    table = []
    for noise in noises:
        planted = [r for r in runs if r["noise"] == noise and not r["null"]]
        null = [r for r in runs if r["noise"] == noise and r["null"]]
        ranks = [k for r in planted for k in r["ranks"]]
        n = len(ranks) or 1
        table.append({
            "noise": noise, "scenarios": len(planted), "null_scenarios": len(null), "planted": len(ranks),
            "ac1": round(sum(1 for k in ranks if k == 1) / n, 3),
            "ac3": round(sum(1 for k in ranks if k is not None and k <= 3) / n, 3),
            "recall_at_threshold": round(sum(r["recalled"] for r in planted) / n, 3),
            "false_per_planted_scenario": round(sum(r["false_candidates"] for r in planted) / max(len(planted), 1), 3),
            "false_per_null_scenario": round(sum(r["false_candidates"] for r in null) / max(len(null), 1), 3),
            "surface_seconds_max": max(r["surface_seconds"] for r in planted + null),
        })
    kinds: dict[str, list[int]] = {}
    for r in runs:
        for kind, hits in r["recalled_by_kind"].items():
            kinds.setdefault(kind, []).extend(hits)
    recall_by_kind = {kind: round(sum(h) / len(h), 3) for kind, h in sorted(kinds.items())}
    trade = []
    for threshold in THRESHOLDS:
        planted = [r for r in runs if not r["null"]]
        null = [r for r in runs if r["null"]]
        n = sum(r["planted"] for r in planted) or 1
        trade.append({"min_confidence": threshold,
                      "recall": round(sum(r["trade_off"][threshold]["recalled"] for r in planted) / n, 3),
                      "false_per_planted_scenario": round(sum(r["trade_off"][threshold]["false"] for r in planted)
                                                          / max(len(planted), 1), 3),
                      "false_per_null_scenario": round(sum(r["trade_off"][threshold]["false"] for r in null)
                                                       / max(len(null), 1), 3)})
    if args.json:
        print(json.dumps({"by_noise": table, "by_threshold": trade, "recall_by_kind": recall_by_kind}, indent=1))
    else:
        print("| noise | scenarios | planted causes | AC@1 | AC@3 | recall at threshold | false / planted scenario "
              "| null scenarios | false / null scenario |")
        print("|---|---|---|---|---|---|---|---|---|")
        for t in table:
            print(f"| {t['noise']} | {t['scenarios']} | {t['planted']} | {t['ac1']} | {t['ac3']} | "
                  f"{t['recall_at_threshold']} | {t['false_per_planted_scenario']} | {t['null_scenarios']} | "
                  f"{t['false_per_null_scenario']} |")
        print()
        print("| min confidence | recall | false / planted scenario | false / null scenario |")
        print("|---|---|---|---|")
        for t in trade:
            print(f"| {t['min_confidence']} | {t['recall']} | {t['false_per_planted_scenario']} | "
                  f"{t['false_per_null_scenario']} |")
        print()
        print("| planted kind | recall at the default threshold |")
        print("|---|---|")
        for kind, recall in recall_by_kind.items():
            print(f"| {kind} | {recall} |")


if __name__ == "__main__":
    main()
