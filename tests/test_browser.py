"""The views and the web UI in a real browser: Debian's chromium driven by Playwright (through
``executable_path``: no browser download), every request to anything but this machine refused and
failing the test, no console error, Chinese text shown, the expected nodes drawn. Screenshots go to
out/screenshots/ (the README shows them). Under CI=true a missing browser fails the run."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from .conftest import ROOT, WANZHOU, load_scope

SHOTS = ROOT / "out" / "screenshots"
LOCAL = ("file:", "data:", "blob:", "about:", "http://127.0.0.1", "http://localhost")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def browser():
    path = _chromium()
    missing = None if path else "no chromium on this machine (apt-get install chromium fonts-noto-cjk)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = missing or "Playwright is not installed (pip install playwright)"
    if missing and os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI=true needs a real browser: {missing}", pytrace=False)
    if missing:
        print(f"\nSKIP browser tests: {missing}")
        pytest.skip(missing)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Page:
    """A page that records console errors and refuses (and records) every outside request."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
        self.errors, self.outside = [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/*", self._route)

    def _route(self, route):
        if route.request.url.startswith(LOCAL):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def check(self):
        assert self.outside == [], f"requests outside this machine: {self.outside}"
        assert self.errors == [], f"console errors: {self.errors}"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A store with 万州区's generated ledger, and the API on a free loopback port."""
    import uvicorn

    from api.main import create_app
    from graph.access import create_token
    from graph.settings import Settings
    from graph.sqlite_store import SQLiteStore
    from loaders.catalog import catalog_units
    from loaders.scenario import generate_scenario
    from loaders.tables import load_table
    work = tmp_path_factory.mktemp("browser")
    store = SQLiteStore(work / "ui.db")
    load_scope(store, (WANZHOU, "500102"))
    for district in (WANZHOU, "500102"):
        store.upsert_units(catalog_units(store, district))
    scenario = generate_scenario(store, districts=[WANZHOU, "500102"], seed=3, causes=2)
    files = scenario.write(work / "scenario")
    for table in ("units", "duties", "issues"):
        load_table(store, table, files[table])
    tokens = {"analyst": create_token(store, "analyst")[0], "home": create_token(store, "viewer", WANZHOU)[0]}
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(XUNCHA_STORE=f"sqlite:///{work / 'ui.db'}")),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "tokens": tokens, "scenario": scenario, "db": work / "ui.db",
           "work": work}
    server.should_exit = True
    thread.join(timeout=10)


def expected_nodes(html: str) -> int:
    data = re.search(r'<script id="graph-data" type="application/json">(.*?)</script>', html, re.S).group(1)
    return len(json.loads(data)["nodes"])


def test_each_view_renders_offline_in_chromium(browser, served):
    import subprocess
    import sys
    scenario = served["scenario"]
    issue = next(i for i in scenario.issues if i["village_code"].startswith(WANZHOU))
    cause = scenario.causes[0]
    store = f"sqlite:///{served['db']}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    views = {"chain": ["chain", issue["issue_id"]], "area": ["area", WANZHOU],
             "township": ["area", issue["village_code"][:9]],
             "rootcause": ["rootcause", cause.unit_id, cause.category],
             "unit": ["unit", f"{issue['village_code'][:9]}-civil_affairs", "--depth", "2"]}
    for name, args in views.items():
        out = served["work"] / f"{name}.html"
        result = subprocess.run([sys.executable, "-m", "cli.main", "--store", store, "viz", *args, "-o", str(out)],
                                cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        html = out.read_text(encoding="utf-8")
        assert not re.findall(r'(?:src|href)="https?://', html)
        page = Page(browser)
        page.page.goto(out.as_uri())
        page.page.wait_for_selector("body[data-rendered=true]", timeout=15000)
        drawn = page.page.evaluate("window.xunchaNodes.length")
        assert drawn == expected_nodes(html) and drawn >= 3, (name, drawn)
        assert drawn <= 700, "a view never puts thousands of nodes in a browser"
        text = page.page.inner_text("header")
        assert re.search(r"[\u4e00-\u9fff]", text), text
        # A click on a node highlights its neighbourhood: the other nodes are dimmed.
        page.page.evaluate("""() => { const n = window.xunchaNodes.getIds()[0];
            window.xunchaNetwork.selectNodes([n]);
            window.xunchaNetwork.body.emitter.emit('click', {nodes: [n], edges: []}); }""")
        dimmed = page.page.evaluate("window.xunchaNodes.get().filter(n => n.color === '#e6e6e6').length")
        assert name in ("chain", "unit") or dimmed > 0
        page.page.screenshot(path=str(SHOTS / f"view-{name}.png"))
        page.check()
        page.page.close()


def test_the_web_ui_searches_expands_collapses_and_exports(browser, served):
    page = Page(browser)
    base = served["url"]
    page.page.goto(f"{base}/ui")
    page.page.evaluate("t => sessionStorage.setItem('xuncha-token', t)", served["tokens"]["analyst"])
    page.page.goto(f"{base}/ui#node={WANZHOU}001")
    page.page.reload()  # the same document with a new hash: load it again, as a shared link would
    page.page.wait_for_selector("body[data-nodes]", state="attached", timeout=15000)
    first = int(page.page.get_attribute("body", "data-nodes"))
    assert first > 5
    assert "高笋塘街道" in page.page.inner_text("#details")
    # Expand a village (double-click does this), then collapse it again.
    village = page.page.evaluate(
        "window.xunchaUi.nodes.get().find(n => n.kind === 'Village' && n.id.length === 12).id")
    page.page.evaluate("id => window.xunchaUi.showNode(id, false)", village)
    page.page.wait_for_function(f"Number(document.body.dataset.nodes) > {first}", timeout=10000)
    expanded = int(page.page.get_attribute("body", "data-nodes"))
    page.page.click("#collapse")
    assert int(page.page.get_attribute("body", "data-nodes")) == first < expanded
    # Search by name lists the township; the PNG export makes an image.
    page.page.fill("#query", "高笋塘")
    page.page.click("#search")
    page.page.wait_for_selector("#results li", timeout=10000)
    assert "高笋塘街道" in page.page.inner_text("#results")
    with page.page.expect_download() as download:
        page.page.click("#png")
    assert download.value.suggested_filename == "xuncha.png"
    assert page.page.evaluate("window.xunchaUi.lastPng").startswith("data:image/png;base64,")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.page.screenshot(path=str(SHOTS / "ui.png"))
    # A view opens inside the UI, and its URL can be shared.
    page.page.evaluate(f"window.xunchaUi.openView('/views/area/{WANZHOU}001')")
    page.page.wait_for_function("location.hash.startsWith('#view=')", timeout=10000)
    page.check()
    page.page.close()


def test_a_district_token_sees_only_its_district_in_the_ui(browser, served):
    page = Page(browser)
    base = served["url"]
    page.page.goto(f"{base}/ui")
    page.page.evaluate("t => sessionStorage.setItem('xuncha-token', t)", served["tokens"]["home"])
    page.page.reload()
    page.page.fill("#query", "涪陵")
    page.page.click("#search")
    page.page.wait_for_function("document.getElementById('status').textContent === '没有找到'", timeout=10000)
    assert page.page.locator("#results li").count() == 0
    page.page.fill("#query", "万州")
    page.page.click("#search")
    page.page.wait_for_selector("#results li", timeout=10000)
    page.page.evaluate("window.xunchaUi.showNode('500102', true)")
    page.page.wait_for_function("document.getElementById('status').className === 'error'", timeout=10000)
    assert "没有" in page.page.inner_text("#status")
    assert page.outside == []
