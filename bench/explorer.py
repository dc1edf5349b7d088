#!/usr/bin/env python3
"""Benchmark: the web explorer at /ui in headless chromium (Debian's, through Playwright's
executable_path) over the term ``make demo`` loads (all of Chongqing, scenario seed 1), served by
``xuncha serve`` on a loopback port.

Times, each the median of ``--repeat`` runs, measured inside the page (performance.now()):
- the root-cause list: from navigation to its rows on screen, the server's analysis cached (as after
  the first request of a data version) and, once, cold (the first request after the server started);
- the map of the cause with the most villages (255 or more): from the click on its row to the network
  drawn, its groups collapsed as it opens; and with every group and every village opened;
- 万州区 (52 townships, 610 villages) as an area: to drawn, and with every group opened;
- expanding one township group: the redraw, synchronous, until the network has drawn it.

    python bench/explorer.py [--store out/demo.db] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine

from graph.access import create_token
from graph.sqlite_store import SQLiteStore


# One township group opened as a click does it; every group and every village opened (the redraw is
# synchronous: the network has drawn when it returns).
EXPAND = """k => { const t = xunchaUi.active(), started = performance.now();
    xunchaUi.toggle(t.groups[k].code); return performance.now() - started; }"""
ALL_OPEN = """() => { const t = xunchaUi.active(), started = performance.now();
    t.groups.forEach(g => { t.open[g.code] = true; t.more[g.code] = true; });
    t.redraw(); t.network.redraw(); return performance.now() - started; }"""


# The machine's state beside the figures: a fixed loop of plain JavaScript in the same page (its time
# grows with the load of other processes on the machine).
YARDSTICK = """() => { const started = performance.now(); let x = 0;
    for (let i = 0; i < 2e7; i++) { x += i % 7; } return performance.now() - started; }"""


def build_term(path: Path, work: Path) -> None:
    """The store ``make demo`` builds, through the same CLI commands."""
    cli = [sys.executable, "-m", "cli.main", "--store", f"sqlite:///{path}"]
    for args in (["load", "divisions"], ["catalog", "load"], ["catalog", "units"],
                 ["generate", "scenario", "--province", "50", "--seed", "1", "--out", str(work / "scenario")],
                 ["load", "units", str(work / "scenario" / "units.csv")],
                 ["load", "duties", str(work / "scenario" / "duties.csv")],
                 ["load", "issues", str(work / "scenario" / "issues.csv")]):
        subprocess.run(cli + args, cwd=ROOT, check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(path: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "--store", f"sqlite:///{path}", "serve",
                               "--port", str(port), "--quiet"], cwd=ROOT)
    import urllib.request
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the server did not start")


def median(values: list[float]) -> float:
    return round(statistics.median(values))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path, help="a store with the demo term (default: build one)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "term.db"
        if args.store:
            shutil.copy(args.store, path)
        else:
            build_term(path, Path(tmp))
        store = SQLiteStore(path)
        token = create_token(store, "analyst", name="bench")[0]
        store.close()
        port = free_port()
        server = serve(path, port)
        base = f"http://127.0.0.1:{port}"
        results: dict[str, list[float]] = {}
        facts: dict[str, int] = {}

        def record(name: str, ms: float) -> None:
            results.setdefault(name, []).append(ms)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])

                def open_ui():
                    context = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = context.new_page()
                    page.goto(f"{base}/ui")
                    page.evaluate("t => sessionStorage.setItem('xuncha-token', t)", token)
                    page.goto(f"{base}/ui?again")   # a new document, the token in this tab's session
                    page.wait_for_selector("#causes tbody tr", timeout=120000)
                    return context, page

                def measure(page, kind: str, attempt: int, group: int) -> None:
                    """A tab just opened: to drawn, one group expanded, every group and village opened."""
                    page.wait_for_selector(f".pane[data-kind={kind}][data-drawn]", timeout=120000)
                    record(f"{kind}_ms" if attempt else f"{kind}_first_ms", page.evaluate("xunchaUi.active().drawnMs"))
                    record(f"{kind}_expand_ms", page.evaluate(EXPAND, group))
                    record(f"{kind}_all_open_ms", page.evaluate(ALL_OPEN))
                    facts[f"{kind}_nodes_all_open"] = page.evaluate("xunchaUi.active().nodes.length")

                for attempt in range(args.repeat + 1):
                    context, page = open_ui()
                    listed = page.evaluate("Number(document.body.dataset.listAt)")
                    record("list_cold_ms" if attempt == 0 else "list_ms", listed)
                    # The cause with the most villages, from its row.
                    page.click("#causes th[data-key=villages]")
                    page.click("#causes th[data-key=villages]")
                    facts["map_villages"] = int(page.inner_text("#causes tbody tr >> nth=0 >> td >> nth=6"))
                    page.click("#causes tbody tr >> nth=0")
                    measure(page, "map", attempt, 0)
                    page.evaluate("xunchaUi.openTab({kind: 'area', code: '500101'})")
                    measure(page, "area", attempt, 1)
                    record("yardstick_ms", page.evaluate(YARDSTICK))
                    context.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps({"median_ms": {k: median(v) for k, v in results.items()},
                      "runs_ms": {k: [round(x) for x in v] for k, v in results.items()}, **facts,
                      "repeat": args.repeat, "machine": machine(), "load": os.getloadavg(),
                      "date": time.strftime("%Y-%m-%d")}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
