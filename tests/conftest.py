"""Fixtures: real SQLite files and a real Neo4j 5 engine, the shipped Chongqing divisions, and
small factories for the tables inspection offices keep."""
from __future__ import annotations

import csv
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graph.sqlite_store import SQLiteStore
from loaders.catalog import load_default_catalog
from loaders.divisions import DEFAULT_DIVISIONS, load_divisions

from . import neo4j_engine

ROOT = Path(__file__).resolve().parent.parent
WANZHOU = "500101"          # 万州区: 52 townships, 610 village-level units
GAOSUNTANG = "500101001"    # 高笋塘街道, a township of 万州区
DONGFANG = "500101001001"   # 东方广场社区居委会
# A few districts of different shapes for contract and differential tests: a large rural county,
# a mixed district, an urban core.
SMALL_SCOPE = ("500101", "500102", "500103", "500110")
# A fresh password for each test session's throwaway engine: none is written in code.
NEO4J_PASSWORD = secrets.token_urlsafe(18)


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list]) -> Path:
    from openpyxl import Workbook
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def run_cli(*args: str, store: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cli.main"] + (["--store", store] if store else []) + list(args)
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env} if env else None)


@pytest.fixture(scope="session")
def chongqing_template(tmp_path_factory) -> Path:
    """A SQLite file with the shipped Chongqing divisions and the default catalog, made once."""
    path = tmp_path_factory.mktemp("template") / "chongqing.db"
    store = SQLiteStore(path)
    load_divisions(store, DEFAULT_DIVISIONS, show_progress=False)
    load_default_catalog(store)
    store.close()
    return path


def district_office(template: Path, folder: Path, *options: str) -> tuple[str, Path]:
    """One district office's store: a copy of ``template`` with a generated ledger of 万州区
    (``generate scenario --district 500101`` and ``options``) loaded through the CLI, as an office
    loads its files. Returns the store's URL and the scenario's folder (truth.json, the tables)."""
    db = folder / "office.db"
    shutil.copy(template, db)
    store = f"sqlite:///{db}"
    out = folder / "scenario"
    assert run_cli("generate", "scenario", "--district", "500101", *options, "--out", str(out),
                   store=store).returncode == 0
    for table in ("units", "duties", "issues"):
        assert run_cli("load", table, str(out / f"{table}.csv"), store=store).returncode == 0
    return store, out


@pytest.fixture
def chongqing(chongqing_template, tmp_path):
    """A fresh copy of the Chongqing store for one test."""
    path = tmp_path / "xuncha.db"
    shutil.copy(chongqing_template, path)
    store = SQLiteStore(path)
    yield store
    store.close()


@pytest.fixture
def sqlite_store(tmp_path):
    store = SQLiteStore(tmp_path / "empty.db")
    yield store
    store.close()


# -- Neo4j ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory):
    """A real Neo4j 5 engine for the session. Under CI=true it must start (a missing Java or Maven
    fails the run); elsewhere it is skipped on a machine without them, and the reason is printed."""
    reason = neo4j_engine.java_available()
    if reason and neo4j_engine.required():
        pytest.fail(f"CI=true needs the real Neo4j engine: {reason}", pytrace=False)
    if reason:
        print(f"\nSKIP Neo4j tests: {reason}", file=sys.stderr)
        pytest.skip(reason)
    engine = neo4j_engine.start(tmp_path_factory.mktemp("neo4j"), neo4j_engine.free_port(), NEO4J_PASSWORD)
    yield engine
    engine.stop()


@pytest.fixture
def neo4j_store(neo4j_server):
    from graph.neo4j_store import Neo4jStore
    store = Neo4jStore(neo4j_server.uri, user="neo4j", password=NEO4J_PASSWORD)
    with store.driver.session() as session:  # auto-commit: CALL ... IN TRANSACTIONS needs it
        # Relationships first: a node's DETACH DELETE takes all its relationships into one batch,
        # and a round or category of a 200,000-row ledger has that many.
        session.run("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS").consume()
        session.run("MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS").consume()
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "neo4j"])
def any_store(request, tmp_path):
    """Each contract test runs against both stores."""
    if request.param == "sqlite":
        store = SQLiteStore(tmp_path / "contract.db")
        yield store
        store.close()
    else:
        yield request.getfixturevalue("neo4j_store")


def load_scope(store, districts=SMALL_SCOPE):
    for district in districts:
        load_divisions(store, DEFAULT_DIVISIONS, district=district, show_progress=False)
    load_default_catalog(store)


@pytest.fixture(scope="session")
def chongqing_scenario(chongqing_template, tmp_path_factory):
    """The whole of Chongqing with one term's generated ledger (about 70,000 problems), loaded once.
    Returns (store path, scenario)."""
    from loaders.scenario import generate_scenario
    from loaders.tables import load_table
    work = tmp_path_factory.mktemp("scenario")
    path = work / "chongqing.db"
    shutil.copy(chongqing_template, path)
    store = SQLiteStore(path)
    scenario = generate_scenario(store, province="50", seed=7)
    files = scenario.write(work / "files")
    for table in ("units", "duties", "issues"):
        load_table(store, table, files[table])
    store.close()
    return path, scenario, files


# -- the edit-test loop --------------------------------------------------------------------------
# `pytest -m "not slow"` (under a minute) leaves out what needs a real Neo4j engine, a real browser,
# the whole of Chongqing's generated ledger or a district's generated term for planning; CI runs
# everything. Tests that are slow for another reason (many runs of the command line, property
# tests, simulations) are marked where they are written.
SLOW_FIXTURES = {"neo4j_server", "neo4j_store", "browser", "chongqing_scenario", "wanzhou", "wanzhou_term"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(item, "callspec", None)
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or (
                params is not None and "neo4j" in params.params.values()):
            item.add_marker(pytest.mark.slow)


# -- the API's two districts -----------------------------------------------------------------------
API_SCOPE = ("500101", "500102")   # 万州区 and 涪陵区
ROLES = ("viewer", "analyst", "editor", "admin")


def two_districts(store, work: Path):
    """万州区 and 涪陵区 with their units, duties and a generated ledger, and a token of every role,
    all districts and scoped to 万州区 (the plain tokens by role)."""
    from graph.access import create_token
    from loaders.catalog import catalog_units
    from loaders.scenario import generate_scenario
    from loaders.tables import load_table
    load_scope(store, API_SCOPE)
    for district in API_SCOPE:
        store.upsert_units(catalog_units(store, district))
    scenario = generate_scenario(store, districts=list(API_SCOPE), seed=3, causes=2)
    files = scenario.write(work / "scenario")
    for table in ("units", "duties", "issues"):
        load_table(store, table, files[table])
    tokens = {role: create_token(store, role)[0] for role in ROLES}
    tokens.update({f"{role}@home": create_token(store, role, API_SCOPE[0])[0] for role in ROLES})
    return scenario, tokens


@pytest.fixture(scope="session")
def api_sqlite_template(tmp_path_factory):
    """The two districts in a SQLite file, made once: each test gets a copy of its own."""
    work = tmp_path_factory.mktemp("api-template")
    store = SQLiteStore(work / "api.db")
    scenario, tokens = two_districts(store, work)
    store.close()
    return work / "api.db", scenario, tokens
