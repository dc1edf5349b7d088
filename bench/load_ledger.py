#!/usr/bin/env python3
"""Benchmark: load one 200,000-row problem ledger, as CSV (UTF-8 and GBK) and as XLSX, into a
SQLite store that has Chongqing's divisions, the catalog and its units: reading, validating every
row against the store, and writing in one transaction. Each load runs in its own process, so its
peak memory (max RSS) is its own.

    python bench/load_ledger.py [--rows 200000]

Targets (issue 9): CSV ≤ 6 s and ≤ 300 MB peak; XLSX ≤ 15 s. Beside the UTF-8 load, the
lower-bound anchor (:func:`anchor`: read and copy the raw rows, nothing checked), so the machine's
drift shows as a ratio.

    python bench/load_ledger.py --against e20c635 [--pairs 3] [--file csv]

loads the UTF-8 file with the code of another commit (here the one issue 9 measured, 10.3 s when
it was filed) and with this tree's, in turns, each in a process of its own on a store built by its
own code: the ratio of the two is the machine's drift taken out.
"""
from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, commit_tree, machine

WORK = Path(tempfile.gettempdir()) / "xuncha-bench-ledger"
HEADER = ["问题编号", "村(社区)代码", "巡察轮次", "发现日期", "问题类别", "问题描述", "严重程度", "涉及金额", "整改状态",
          "立行立改", "整改时限", "销号日期", "根源单位"]


def prepare(rows: int) -> dict[str, Path]:
    from graph.sqlite_store import SQLiteStore
    WORK.mkdir(exist_ok=True)
    template = WORK / "template.db"
    load_with(ROOT, template)  # built once, by this tree's code, as every load's starting store
    store = SQLiteStore(template)
    villages = [v.code for v in store.divisions("village")]
    categories = [c.name for c in store.categories()]
    store.close()
    # v2: the rows vary as real ones do (v1 repeated one date and one description).
    files = {"csv": WORK / f"ledger-v2-{rows}.csv", "csv-gbk": WORK / f"ledger-v2-{rows}-gbk.csv",
             "xlsx": WORK / f"ledger-v2-{rows}.xlsx"}
    if not files["csv"].exists():
        import datetime as dt
        import random
        rng = random.Random(9)
        # As offices write them: dates spread over each round's weeks, a description of its own
        # on every row, amounts on some rows, a few immediate fixes.
        data = []
        for i in range(rows):
            status = ("未整改", "整改中", "已整改", "已销号")[i % 4]
            round_no = i % 2 + 1
            found = dt.date(2024, 3 if round_no == 1 else 9, 1) + dt.timedelta(days=rng.randrange(60))
            closed = (found + dt.timedelta(days=rng.randrange(20, 90))).isoformat() if i % 4 >= 2 else ""
            village = villages[(i * 7919) % len(villages)]
            category = categories[i % len(categories)]
            description = (f"{category}：村务公开不及时，{rng.choice(('财务票据不规范', '台账缺失', '程序不到位'))}，"
                           f"涉及{rng.randrange(1, 40)}户，第{i % 997}号线索")
            amount = str(rng.randrange(100, 500_000)) if rng.random() < 0.4 else ""
            data.append([f"Q{i:07d}", village, f"2024年第{round_no}轮", found.isoformat(), category, description,
                         ("一般", "较重", "严重")[i % 3], amount, status, "是" if rng.random() < 0.1 else "否",
                         (found + dt.timedelta(days=90)).isoformat(), closed, ""])
        for key, encoding in (("csv", "utf-8-sig"), ("csv-gbk", "gb18030")):
            with open(files[key], "w", encoding=encoding, newline="") as f:
                writer = csv.writer(f)
                writer.writerow(HEADER)
                writer.writerows(data)
        from openpyxl import Workbook
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("问题台账")
        sheet.append(HEADER)
        for row in data:
            sheet.append(row)
        workbook.save(files["xlsx"])
    return {"template": template, **files}


def anchor(path: Path) -> dict:
    """The lower bound the load is measured against, as ``../shared/bench/baseline_divisions.py``
    is for divisions: the same CSV read by ``csv.reader`` and its raw rows copied into one plain
    SQLite table (text columns, the id as primary key) in one transaction, nothing checked. Run
    beside each load, it turns the machine's drift into a ratio."""
    import sqlite3
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        db = sqlite3.connect(Path(tmp) / "anchor.db")
        db.execute("PRAGMA journal_mode=WAL")
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            db.execute(f"CREATE TABLE issue ({', '.join(f'c{i} TEXT' for i in range(len(header)))}, "
                       "PRIMARY KEY (c0))")
            with db:
                db.executemany(f"INSERT INTO issue VALUES ({', '.join('?' * len(header))})", reader)
        db.close()
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


# The store template (divisions, catalog, every district's units) built by the code of the tree in
# argv[1] where argv[2] does not exist yet; then, given argv[3], one timed load of that file into a
# copy of it. Run as ``python -c LOAD TREE TEMPLATE [FILE]`` in a process of its own (its peak
# memory is the load's), with that tree's modules: this tree's, or another commit's (--against).
LOAD = """
import json, resource, shutil, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from graph.sqlite_store import SQLiteStore
from loaders.catalog import catalog_units, load_default_catalog
from loaders.divisions import DEFAULT_DIVISIONS, load_divisions
from loaders.tables import load_table
template = Path(sys.argv[2])
if not template.exists():
    store = SQLiteStore(template.with_suffix('.building'))
    load_divisions(store, DEFAULT_DIVISIONS, show_progress=False)
    load_default_catalog(store)
    for district in store.divisions('district'):
        store.upsert_units(catalog_units(store, district.code))
    store.close()
    template.with_suffix('.building').rename(template)
if len(sys.argv) > 3:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / 'load.db'
        shutil.copy(template, db)
        store = SQLiteStore(db)
        started = time.perf_counter()
        summary = load_table(store, 'issues', Path(sys.argv[3]))
        seconds = time.perf_counter() - started
        store.close()
    source = getattr(summary, 'source', None)  # older commits' summaries do not say how a file was read
    print(json.dumps({'seconds': round(seconds, 2), 'inserted': summary.inserted,
                      'peak_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      **({'read_as': source['described']} if source else {})}, ensure_ascii=False))
"""


def load_with(tree: Path, template: Path, path: Path | None = None) -> dict | None:
    """:data:`LOAD` in a process of its own: the template built by ``tree``'s code if missing, then
    the load of ``path`` (its figures), if one is given."""
    out = subprocess.run([sys.executable, "-c", LOAD, str(tree), str(template)] + ([str(path)] if path else []),
                         capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1]) if path else None


def against(revision: str, path: Path, pairs: int) -> dict:
    """Loads of ``path`` by the code of ``revision`` and by this tree's, in turns (A, B, A, B …)."""
    with tempfile.TemporaryDirectory() as tmp:
        trees = {revision: commit_tree(revision, Path(tmp) / "other"), "this tree": ROOT}
        # Each tree's template built by its own code, afresh each run (a kept one could predate a
        # schema change), in a process before the timed ones (its memory is not the load's).
        templates = {name: Path(tmp) / f"template-{i}.db" for i, name in enumerate(trees)}
        for name, tree in trees.items():
            load_with(tree, templates[name])
        runs: dict[str, list] = {name: [] for name in trees}
        for _ in range(pairs):
            for name, tree in trees.items():
                runs[name].append(load_with(tree, templates[name], path))
    ratios = [round(b["seconds"] / a["seconds"], 2) for a, b in zip(runs[revision], runs["this tree"])]
    return {"file": path.name, "runs": runs, "ratio_this_to_other": ratios,
            "median_ratio": sorted(ratios)[len(ratios) // 2]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--anchor", help=argparse.SUPPRESS)  # internal: the lower bound in this process
    parser.add_argument("--against", metavar="COMMIT", help="compare with the code of this commit, in turns")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--file", choices=("csv", "csv-gbk", "xlsx"), default="csv")
    args = parser.parse_args()
    if args.against:
        files = prepare(args.rows)
        result = {"rows": args.rows, "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
                  "against": args.against, **against(args.against, files[args.file], args.pairs)}
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return
    if args.anchor:
        print(json.dumps(anchor(Path(args.anchor))))
        return
    files = prepare(args.rows)
    result = {"rows": args.rows, "machine": machine(), "date": time.strftime("%Y-%m-%d")}
    for key in ("csv", "csv-gbk", "xlsx"):
        result[key] = load_with(ROOT, files["template"], files[key])
        result[key]["file_mb"] = round(files[key].stat().st_size / 2**20, 1)
        if key == "csv":  # the anchor right after the load it is compared with
            out = subprocess.run([sys.executable, __file__, "--anchor", str(files[key])],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            result["anchor"] = json.loads(out.stdout)
            result["csv"]["ratio_to_anchor"] = round(result["csv"]["seconds"] / result["anchor"]["seconds"], 2)
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
