"""Each domain rule in one home: the ledger's statuses and severity weights are graph/model.py's,
bound into the SQLite and Neo4j aggregations as parameters (no copy of them in the query text);
one walk up the division chain for the CLI and the API."""
from __future__ import annotations

import pytest

import json
import re
import shutil

from graph import model
from graph.analysis.ledger import finding, ledger_facts_from_findings
from graph.neo4j_store import LEDGER_CYPHER
from graph.sqlite_store import LEDGER_SQL, LEDGER_SQL_PARAMETERS

from .bad_inputs import ISSUE_HEADER, issue
from .conftest import run_cli, write_csv


def test_the_ledger_queries_hold_no_status_or_severity_of_their_own():
    literals = [m.value for m in (*model.Status, *model.Severity)]
    for query in (LEDGER_SQL, LEDGER_CYPHER):
        quoted = [v for v in literals if re.search(rf"""['"]{v}['"]""", query)]
        assert not quoted, quoted
        assert not re.search(r"THEN [0-9]+\.[0-9]", query)   # no weight written into the query


def test_the_sqlite_aggregation_reads_the_weights_it_is_given(chongqing, tmp_path):
    """Bound with other weights, the same query gives other sums: the weights come from the
    parameters, and with the model's they equal the Python reference."""
    from loaders.tables import load_table
    rows = [issue("Q1", 严重程度="一般"), issue("Q2", 严重程度="严重", 问题类别="作风问题"),
            issue("Q3", 严重程度="较重", 整改状态="已整改", 巡察轮次="2023年第2轮", 发现日期="2023-09-01")]
    load_table(chongqing, "issues", write_csv(tmp_path / "台账.csv", ISSUE_HEADER, rows))
    cells = chongqing.db.execute(LEDGER_SQL, LEDGER_SQL_PARAMETERS).fetchall()
    villages = {v.code: (v.parent_code, v.code[:6], v.kind) for v in chongqing.divisions("village", within="500101")}
    reference, *_ = ledger_facts_from_findings([finding(i) for i in chongqing.issues("500101")], villages)
    assert [(c[3], c[8], c[10]) for c in cells] == [(c.category, c.severity_weight, c.villages_rectified) for c in reference]
    doubled = {**LEDGER_SQL_PARAMETERS, **{k: 2 * v for k, v in LEDGER_SQL_PARAMETERS.items() if k.startswith("weight")}}
    assert [c[8] for c in chongqing.db.execute(LEDGER_SQL, doubled)] == [2 * c[8] for c in cells]


@pytest.mark.slow
def test_show_and_the_api_walk_up_the_same_chain(chongqing_template, tmp_path):
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    shown = json.loads(run_cli("show", "500101001001", "--json", store=f"sqlite:///{db}").stdout)
    from fastapi.testclient import TestClient

    from api.main import create_app
    from graph.access import create_token
    from graph.settings import Settings
    from graph.sqlite_store import SQLiteStore
    store = SQLiteStore(db)
    token = create_token(store, "viewer")[0]
    store.close()
    with TestClient(create_app(Settings(XUNCHA_STORE=f"sqlite:///{db}"))) as client:
        served = client.get("/divisions/500101001001", headers={"Authorization": f"Bearer {token}"}).json()
    assert [a["code"] for a in shown["ancestors"]] == [a["code"] for a in served["ancestors"]] == \
        ["50", "5001", "500101", "500101001"]
