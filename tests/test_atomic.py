"""One call, one transaction, on both stores: a load killed with SIGKILL in the middle of its write
leaves the store exactly as it was before, and the same load run again gives the after state."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from loaders.catalog import catalog_units
from loaders.tables import load_table

from .conftest import NEO4J_PASSWORD, ROOT, WANZHOU, load_scope, write_csv

HEADER = ["问题编号", "村(社区)代码", "巡察轮次", "发现日期", "问题类别", "严重程度", "整改状态"]


def ledger(path, store, n: int, status: str = "整改中"):
    villages = [d.code for d in store.divisions("village", within=WANZHOU)]
    categories = [c.name for c in store.categories()]
    rows = [[f"K{i:06d}", villages[i % len(villages)], "2024年第1轮", "2024-03-05", categories[i % len(categories)],
             "一般", status] for i in range(n)]
    return write_csv(path, HEADER, rows)


def state(store) -> tuple:
    """What a load of issues changes, read through the store's own interface."""
    issues = sorted((i.issue_id, i.status) for i in store.issues())
    history = sum(len(store.issue_history(i)) for i, _ in issues[:50])
    facts = store.ledger_facts()
    return len(issues), tuple(issues[:50]), history, sum(c.issues for c in facts.cells)


def kill_mid_write(store_url: str, path, env: dict) -> str:
    """Run ``xuncha load issues`` and SIGKILL it once its write transaction has begun (the first
    batch is written and the progress line says so, with more batches to come)."""
    command = [sys.executable, "-m", "cli.main", "--store", store_url, "load", "issues", str(path)]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env, "XUNCHA_PROGRESS": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("写入问题 [") and "/" in line:
            done, total = (int(x.replace(",", "")) for x in line.rsplit(" ", 1)[1].split("/"))
            if 0 < done < total:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                return line
    process.wait()
    pytest.fail(f"the load ended before it could be killed mid-write (rc {process.returncode}): {seen[-5:]}")


def check_kill(store, url: str, tmp_path, n: int, env: dict | None = None):
    store.upsert_units(catalog_units(store, WANZHOU))
    # Before: a first part of the ledger loaded, open.
    load_table(store, "issues", ledger(tmp_path / "first.csv", store, 3_000, status="未整改"))
    before = state(store)
    line = kill_mid_write(url, ledger(tmp_path / "all.csv", store, n), env or {})
    assert state(store) == before, f"killed at {line!r}: the store is neither before nor after"
    summary = load_table(store, "issues", tmp_path / "all.csv")
    assert (summary.inserted, summary.updated) == (n - 3_000, 3_000)
    after = state(store)
    assert after[0] == n and after != before


@pytest.mark.slow
def test_sqlite_load_killed_mid_write_leaves_the_store_as_before(chongqing, tmp_path):
    # SQLite writes in batches of 50,000 inside one transaction: 120,000 rows give a mid-write moment.
    check_kill(chongqing, f"sqlite:///{chongqing.path}", tmp_path, 120_000)
    assert chongqing.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def raw_issue_nodes(store) -> int:
    """Every problem node in the graph, staged or replaced versions too (what the reads filter)."""
    with store.driver.session() as session:
        return session.run("MATCH (i:Issue) RETURN count(i) AS n").single()["n"]


def test_neo4j_load_killed_mid_write_leaves_the_store_as_before(neo4j_store, tmp_path):
    # A 200,000-row ledger on the engine's 1 GB heap: its batches are committed one by one as
    # they are staged, so the kill leaves staged versions the readers must not see.
    load_scope(neo4j_store, districts=(WANZHOU,))
    check_kill(neo4j_store, neo4j_store.url, tmp_path, 200_000, env={"NEO4J_PASSWORD": NEO4J_PASSWORD})
    assert raw_issue_nodes(neo4j_store) == 200_000  # the dead load's staging and replaced versions gone


def test_repair_removes_what_a_killed_neo4j_load_staged(neo4j_store, tmp_path):
    load_scope(neo4j_store, districts=(WANZHOU,))
    neo4j_store.upsert_units(catalog_units(neo4j_store, WANZHOU))
    load_table(neo4j_store, "issues", ledger(tmp_path / "first.csv", neo4j_store, 3_000, status="未整改"))
    before = state(neo4j_store)
    kill_mid_write(neo4j_store.url, ledger(tmp_path / "all.csv", neo4j_store, 30_000),
                   {"NEO4J_PASSWORD": NEO4J_PASSWORD})
    assert raw_issue_nodes(neo4j_store) > 3_000  # staged, unseen
    result = subprocess.run([sys.executable, "-m", "cli.main", "--store", neo4j_store.url, "repair", "--json"],
                            cwd=ROOT, env={**os.environ, "NEO4J_PASSWORD": NEO4J_PASSWORD},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert raw_issue_nodes(neo4j_store) == 3_000 and state(neo4j_store) == before


@pytest.mark.slow
def test_a_full_disk_is_reported_as_such_and_the_store_is_unchanged(tmp_path):
    from graph.sqlite_store import SQLiteStore
    disk = tmp_path / "disk"
    disk.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small file system here (needs root): {made.stderr.strip()}")
    try:
        url = f"sqlite:///{disk / 'x.db'}"
        for args in (["load", "divisions", "--district", WANZHOU], ["catalog", "load"]):
            subprocess.run([sys.executable, "-m", "cli.main", "--store", url, *args], cwd=ROOT, check=True,
                           capture_output=True)
        store = SQLiteStore(disk / "x.db")
        before = state(store)
        path = ledger(tmp_path / "big.csv", store, 60_000)
        store.close()
        result = subprocess.run([sys.executable, "-m", "cli.main", "--store", url, "load", "issues", str(path)],
                                cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 1 and "磁盘已满" in result.stderr, result.stderr
        assert "no transaction is active" not in result.stderr and "Traceback" not in result.stderr
        store = SQLiteStore(disk / "x.db")
        assert state(store) == before
        store.close()
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.slow
def test_a_load_neo4j_refuses_for_memory_says_so_in_chinese_and_writes_nothing(tmp_path):
    """An engine whose transactions may use 2 MB (db.memory.transaction.max) refuses the batch of
    Chongqing's villages: the analyst reads why and what to change, not a traceback."""
    from graph.neo4j_store import Neo4jStore

    from . import neo4j_engine
    reason = neo4j_engine.java_available()
    if reason and not neo4j_engine.required():
        pytest.skip(reason)
    engine = neo4j_engine.start(tmp_path / "small", neo4j_engine.free_port(), NEO4J_PASSWORD,
                                settings={"NEO4J_DEV_TX_MAX_MB": "2"})
    try:
        result = subprocess.run([sys.executable, "-m", "cli.main", "--store", engine.uri, "load", "divisions"],
                                cwd=ROOT, env={**os.environ, "NEO4J_PASSWORD": NEO4J_PASSWORD},
                                capture_output=True, text=True)
        assert result.returncode == 1, result.stderr
        assert "内存不足" in result.stderr and "NEO4J_DEV_HEAP" in result.stderr and "没有写入任何数据" in result.stderr
        assert "Traceback" not in result.stderr
        store = Neo4jStore(engine.uri, user="neo4j", password=NEO4J_PASSWORD)
        assert store.counts()["by_level"]["village"] == 0
        store.close()
    finally:
        engine.stop()
