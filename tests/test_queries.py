"""Every saved analyst query in queries/ runs against the real Neo4j engine on a generated ledger
and answers what its comment says."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from loaders.scenario import generate_scenario
from loaders.tables import load_table

from .conftest import NEO4J_PASSWORD, SMALL_SCOPE, load_scope, write_csv

QUERIES = sorted((Path(__file__).resolve().parent.parent / "queries").glob("*.cypher"))


def example_params(path: Path) -> dict:
    match = re.search(r"^// params: (\{.*\})$", path.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"{path.name} documents its parameters"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def ledger(neo4j_server, tmp_path_factory):
    from graph.neo4j_store import Neo4jStore
    store = Neo4jStore(neo4j_server.uri, password=NEO4J_PASSWORD)
    with store.driver.session() as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
    load_scope(store)
    # The first seed from 5 that plants a township cause: the tests below need one of each level.
    for seed in range(5, 60):
        scenario = generate_scenario(store, districts=list(SMALL_SCOPE), seed=seed, causes=3)
        if {c.level for c in scenario.causes} == {"township", "district"}:
            break
    files = scenario.write(tmp_path_factory.mktemp("queries"))
    for table in ("units", "duties", "issues"):
        load_table(store, table, files[table])
    # One problem whose inspectors hint at a unit that bears no duty for its category (query 08).
    duties = {(d.category, d.level, d.function) for d in store.duties()}
    unit = next(u for u in store.units(["500101"]) if ("作风问题", u.level, u.function) not in duties)
    row = {**scenario.issues[0], "issue_id": "Q-hint", "category": "作风问题", "root_unit_hint": unit.unit_id}
    header = list(scenario.issues[0])
    hint = tmp_path_factory.mktemp("hint") / "hint.csv"
    load_table(store, "issues", write_csv(hint, header, [[row[h] for h in header]]))
    yield store, scenario
    store.close()


def run(store, path: Path, **params):
    records, _, _ = store.driver.execute_query(path.read_text(encoding="utf-8"), {**example_params(path), **params},
                                               routing_="r")
    return [r.data() for r in records]


def query(name: str) -> Path:
    return next(p for p in QUERIES if p.name.startswith(name))


def test_there_are_at_least_ten_documented_queries():
    assert len(QUERIES) >= 10
    for path in QUERIES:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("// ") and lines[1].startswith("// "), path.name
        example_params(path)


def test_every_query_answers_with_its_example_parameters(ledger):
    store, _ = ledger
    empty = [path.name for path in QUERIES if not run(store, path)]
    assert empty == [], f"queries with no answer on the generated ledger: {empty}"


def test_chain_of_issue(ledger):
    store, scenario = ledger
    issue = scenario.issues[0]
    [row] = run(store, query("01"), issue_id=issue["issue_id"])
    assert row["category"] == issue["category"] and row["village"].startswith("东方广场社区")
    assert row["township"] == "高笋塘街道" and row["district"] == "万州区"
    assert row["township_units"] and row["district_units"]


def test_overrepresented_categories_find_a_planted_township(ledger):
    store, scenario = ledger
    planted = next(c for c in scenario.causes if c.level == "township")
    rows = run(store, query("02"), township=planted.area_code)
    assert planted.category in [r["category"] for r in rows[:3]]


def test_recurrence_lists_primary_units(ledger):
    store, _ = ledger
    rows = run(store, query("03"))
    assert rows and all(r["recurrences"] >= r["villages"] >= 1 for r in rows)


def test_villages_not_inspected(ledger):
    store, scenario = ledger
    inspected = {i["village_code"] for i in scenario.issues if i["village_code"].startswith("500101")}
    rows = run(store, query("04"))
    assert sum(r["not_inspected"] for r in rows) == 610 - len(inspected)
    assert sum(r["not_inspected"] for r in run(store, query("04"), term_start="2030-01-01")) == 610


def test_package_ends(ledger):
    store, scenario = ledger
    cause = scenario.causes[0]
    [agency] = run(store, query("05"), unit_id=cause.unit_id, category=cause.category)
    assert agency["villages"] >= len(cause.villages) and agency["systemic_fix"]
    grassroots = run(store, query("06"), area_code=cause.area_code, category=cause.category)
    assert {r["village_code"] for r in grassroots} >= cause.villages
    assert all(r["township_units"] for r in grassroots)


def test_overdue_and_gaps_and_key_villages(ledger):
    store, _ = ledger
    assert run(store, query("07"), today="2099-01-01")
    assert run(store, query("07"), today="2000-01-01") == []
    primary = {(d.category, d.level) for d in store.duties() if d.duty == "primary"}
    expected = {(c.name, level) for c in store.categories() for level in ("district", "township")} - primary
    gaps = {(r["category"], r["level"]) for r in run(store, query("10"))}
    assert gaps == expected and ("作风问题", "district") in gaps
    villages = run(store, query("11"))
    assert len(villages) == 20 and all(v["village_code"].startswith("500101") for v in villages)
    shares = run(store, query("12"))
    assert len(shares) == 52 and all(0 <= r["share"] <= 1 for r in shares)


def test_hints_and_district_comparison(ledger):
    store, _ = ledger
    rows = run(store, query("08"))
    assert [(r["category"], r["hinted_problems"]) for r in rows] == [("作风问题", 1)]
    districts = {r["district"] for r in run(store, query("09"))}
    assert districts == {"万州区", "涪陵区", "渝中区", "綦江区"}
