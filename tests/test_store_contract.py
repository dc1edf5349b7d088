"""One contract, two stores: every test here runs against a real SQLite file and a real Neo4j 5
engine. The differential test at the end requires identical answers from both."""
from __future__ import annotations

import dataclasses

import pytest

from graph import service
from graph.errors import InputError
from graph.sqlite_store import SQLiteStore
from loaders.catalog import catalog_units
from loaders.divisions import DEFAULT_DIVISIONS, load_divisions
from loaders.scenario import generate_scenario
from loaders.tables import load_table

from .conftest import DONGFANG, SMALL_SCOPE, WANZHOU, load_scope, write_csv
from .test_tables import ISSUE_HEADER, issue_row


def test_divisions_counts_and_idempotence(any_store):
    load_scope(any_store)
    counts = any_store.counts()
    assert counts["by_level"] == {"province": 1, "city": 1, "district": 4, "township": 121, "village": 1603}
    assert next(d for d in counts["districts"] if d["code"] == WANZHOU)["village_level_units"] == 610
    again = load_divisions(any_store, DEFAULT_DIVISIONS, district=WANZHOU, show_progress=False)
    assert (again.inserted, again.updated) == (0, 0)
    assert any_store.counts() == counts


def test_division_reads(any_store):
    load_scope(any_store, (WANZHOU,))
    assert any_store.division("500101001").name == "高笋塘街道"
    assert any_store.division("500101001").parent_code == WANZHOU
    assert any_store.division("999999") is None
    assert any_store.children_counts(WANZHOU) == {"township": 52, "village": 610}
    assert len(any_store.divisions("township", within=WANZHOU)) == 52
    assert any_store.existing_codes([WANZHOU, "500101001", "123456"]) == {WANZHOU, "500101001"}
    [village] = any_store.villages_named("东方广场社区", "高笋塘街道")
    assert village.code == DONGFANG and village.kind == "community"


def test_units_duties_issues_and_history(any_store, tmp_path):
    load_scope(any_store, (WANZHOU,))
    units = catalog_units(any_store, WANZHOU)
    assert any_store.upsert_units(units).inserted == len(units)
    assert any_store.upsert_units(units).unchanged == len(units)
    first = write_csv(tmp_path / "issues.csv", ISSUE_HEADER,
                      [issue_row("Q1", root_unit_hint="500101001-civil_affairs"), issue_row("Q2")])
    assert load_table(any_store, "issues", first).inserted == 2
    assert load_table(any_store, "issues", first).unchanged == 2
    later = write_csv(tmp_path / "later.csv", ISSUE_HEADER,
                      [issue_row("Q1", status="closed", closed_on="2024-05-01", root_unit_hint="500101001-civil_affairs")])
    assert load_table(any_store, "issues", later).updated == 1
    assert [h.status for h in any_store.issue_history("Q1")] == ["open", "closed"]
    issue = any_store.issue("Q1")
    assert issue.status == "closed" and issue.root_unit_hint == "500101001-civil_affairs"
    chain = service.chain(any_store, "Q1")
    assert chain["hint"] == {"unit_id": "500101001-civil_affairs", "unit_name": "高笋塘街道社会事务办",
                             "level": "township", "bears_duty": True}


def test_bad_file_leaves_the_store_as_it_was(any_store, tmp_path):
    load_scope(any_store, (WANZHOU,))
    before = any_store.counts()
    bad = write_csv(tmp_path / "issues.csv", ISSUE_HEADER, [issue_row("Q1"), issue_row("Q2", severity="x")])
    with pytest.raises(InputError):
        load_table(any_store, "issues", bad)
    assert any_store.counts() == before and any_store.issue("Q1") is None


def test_projection_is_a_rooted_tree_with_the_ledger(any_store, tmp_path):
    load_scope(any_store, (WANZHOU,))
    any_store.upsert_units(catalog_units(any_store, WANZHOU))
    load_table(any_store, "issues", write_csv(tmp_path / "i.csv", ISSUE_HEADER, [issue_row("Q1")]))
    graph = any_store.projection(WANZHOU)
    kinds = {}
    for _, attrs in graph.nodes(data=True):
        kinds[attrs["kind"]] = kinds.get(attrs["kind"], 0) + 1
    assert kinds["Village"] == 610 and kinds["Township"] == 52 and kinds["Issue"] == 1
    assert kinds["Province"] == 1 and kinds["City"] == 1 and kinds["District"] == 1
    assert ("issue:Q1", DONGFANG, "FOUND_IN") in graph.edges(keys=True)


# The generator's default shape, and one with every village in three rounds plus a 回头看 round,
# a persisting mix of problems and an office's own categories without rates (Chinese headers).
LEDGER_SHAPES = {"standard": {}, "multi_round_office": {"rounds": 3, "every_round": True, "revisit": True,
                                                         "kappa": 30.0, "office_categories": 8}}


@pytest.mark.parametrize("shape", sorted(LEDGER_SHAPES))
def test_both_stores_give_identical_answers(neo4j_store, tmp_path, shape):
    """The differential test: the same generated scenario in both stores, and the same chains,
    root-cause rankings and packages out of both."""
    sqlite_store = SQLiteStore(tmp_path / "differential.db")
    stores = (sqlite_store, neo4j_store)
    for store in stores:
        load_scope(store)
    scenario = generate_scenario(sqlite_store, districts=list(SMALL_SCOPE), seed=9, causes=3,
                                 **LEDGER_SHAPES[shape])
    files = scenario.write(tmp_path / "scenario")
    tables = ("categories", "units", "duties", "issues") if "categories" in files else ("units", "duties", "issues")
    for store in stores:
        for table in tables:
            load_table(store, table, files[table])
    try:
        facts = [s.ledger_facts() for s in stores]
        for field in ("cells", "exposure", "hints", "units", "duties", "categories", "names"):
            assert getattr(facts[0], field) == getattr(facts[1], field), field
        assert stores[0].counts() == stores[1].counts()
        ranked = [service.root_causes(s, include_all=True) for s in stores]
        assert ranked[0] == ranked[1]
        assert any(c["surfaced"] for c in ranked[0])
        assert service.packages(stores[0]) == service.packages(stores[1])
        sample = [i["issue_id"] for i in scenario.issues[:: max(1, len(scenario.issues) // 25)]]
        for issue_id in sample:
            assert service.chain(stores[0], issue_id) == service.chain(stores[1], issue_id)
        assert dataclasses.asdict(stores[0].issue(sample[0])) == dataclasses.asdict(stores[1].issue(sample[0]))
    finally:
        sqlite_store.close()
