#!/usr/bin/env python3
"""Benchmark: each view of 万州区 (610 village-level units, a generated term of problems) opened in
headless chromium (Debian's, through Playwright's executable_path): seconds from navigation until
the network is drawn, and each page's size.

    python bench/viz_render.py
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from common import machine

from graph.sqlite_store import SQLiteStore
from loaders.catalog import catalog_units, load_default_catalog
from loaders.divisions import DEFAULT_DIVISIONS, load_divisions
from loaders.scenario import generate_scenario
from loaders.tables import load_table
from visualizations import pages


def main() -> None:
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "viz.db")
        load_divisions(store, DEFAULT_DIVISIONS, district="500101", show_progress=False)
        load_default_catalog(store)
        store.upsert_units(catalog_units(store, "500101"))
        scenario = generate_scenario(store, districts=["500101"], seed=3)
        files = scenario.write(Path(tmp) / "files")
        for table in ("units", "duties", "issues"):
            load_table(store, table, files[table])
        cause = scenario.causes[0]
        issue = scenario.issues[0]
        made = {}
        for name, build in (("area 万州区", lambda: pages.area_page(store, "500101")),
                            ("area 高笋塘街道", lambda: pages.area_page(store, "500101001")),
                            ("chain", lambda: pages.chain_page(store, issue["issue_id"])),
                            ("rootcause", lambda: pages.root_cause_page(store, cause.unit_id, cause.category)),
                            ("unit", lambda: pages.unit_page(store, "500101-civil_affairs", depth=2))):
            started = time.perf_counter()
            html = build()
            path = Path(tmp) / f"{len(made)}.html"
            path.write_text(html, encoding="utf-8")
            made[name] = (path, round(time.perf_counter() - started, 2), len(html.encode()))
        results = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            for name, (path, build_s, size) in made.items():
                times = []
                for _ in range(3):
                    page = browser.new_page(viewport={"width": 1400, "height": 900})
                    started = time.perf_counter()
                    page.goto(path.as_uri())
                    page.wait_for_selector("body[data-rendered=true]", timeout=30000)
                    times.append(time.perf_counter() - started)
                    nodes = page.evaluate("window.xunchaNodes.length")
                    page.close()
                results[name] = {"open_s": round(sorted(times)[1], 2), "nodes": nodes, "page_kb": round(size / 1024),
                                 "build_s": build_s}
            browser.close()
        store.close()
    print(json.dumps({"views": results, "machine": machine(), "date": time.strftime("%Y-%m-%d")},
                     ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
