"""The HTTP API on both stores: every route behind its role, district tokens that see and change
their district only, writes through the same validation as files, an audit of every write,
read-only Cypher decided by Neo4j, one error shape, offline docs."""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
import shutil
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from graph.settings import Settings

from .conftest import API_SCOPE as SCOPE
from .conftest import NEO4J_PASSWORD, ROLES, ROOT, run_cli, two_districts, write_csv

HOME, OTHER = SCOPE

HEADER = ["问题编号", "村(社区)代码", "巡察轮次", "发现日期", "问题类别", "严重程度", "整改状态"]


@pytest.fixture(params=["sqlite", "neo4j"])
def api(request, tmp_path):
    """An app over a real store with two districts' ledgers, and a token of every role, all
    districts and scoped to 万州区."""
    if request.param == "sqlite":
        template, scenario, tokens = request.getfixturevalue("api_sqlite_template")
        shutil.copy(template, tmp_path / "api.db")
        url = f"sqlite:///{tmp_path / 'api.db'}"
    else:
        store = request.getfixturevalue("neo4j_store")
        url = store.url
        scenario, tokens = two_districts(store, tmp_path)
    settings = Settings(XUNCHA_STORE=url, NEO4J_PASSWORD=NEO4J_PASSWORD)
    with TestClient(create_app(settings)) as client:
        yield Api(client, tokens, scenario, request.param, url)


class Api:
    def __init__(self, client, tokens, scenario, kind, url):
        self.client, self.tokens, self.scenario, self.kind, self.url = client, tokens, scenario, kind, url
        self.home_issue = next(i for i in scenario.issues if i["village_code"].startswith(HOME))
        self.other_issue = next(i for i in scenario.issues if i["village_code"].startswith(OTHER))

    def call(self, method: str, path: str, token: str | None = "admin", **kwargs):
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return self.client.request(method, path, headers=headers, **kwargs)


def routes(api: Api) -> list[tuple[str, str, dict, str]]:
    """Every route with a valid request, and the least role it needs."""
    home, other = api.home_issue, api.other_issue
    new = {"issue_id": "API-1", "village_code": home["village_code"], "round_id": "2024年第1轮",
           "found_on": "2024-03-05", "category": "低保特困救助", "severity": "较重", "status": "整改中"}
    upload = {"files": {"file": ("台账.csv", ",".join(HEADER) + "\n" + ",".join(
        ["API-2", home["village_code"], "2024年第1轮", "2024-03-05", "低保特困救助", "一般", "未整改"]))}}
    return [
        ("GET", "/divisions", {}, "viewer"), ("GET", f"/divisions?parent={HOME}", {}, "viewer"),
        ("GET", "/divisions?q=高笋塘", {}, "viewer"), ("GET", f"/divisions/{HOME}", {}, "viewer"),
        ("GET", f"/units?district={HOME}", {}, "viewer"), ("GET", f"/units/{HOME}-civil_affairs", {}, "viewer"),
        ("GET", "/categories", {}, "viewer"), ("GET", "/duties", {}, "viewer"), ("GET", "/search?q=高笋塘", {}, "viewer"),
        ("GET", f"/views/chain/{home['issue_id']}", {}, "viewer"), ("GET", f"/views/area/{HOME}001", {}, "viewer"),
        ("GET", f"/views/unit/{HOME}-civil_affairs", {}, "viewer"),
        ("GET", "/me", {}, "viewer"), ("GET", f"/ui/area/{HOME}001", {}, "viewer"),
        ("GET", f"/ui/village/{home['village_code']}", {}, "viewer"), ("GET", f"/ui/rootcauses?district={HOME}", {}, "analyst"),
        ("GET", f"/stats?district={HOME}", {}, "viewer"),
        ("GET", f"/issues?district={HOME}&limit=5", {}, "viewer"), ("GET", f"/issues/{home['issue_id']}", {}, "viewer"),
        ("GET", f"/issues/{home['issue_id']}/chain", {}, "viewer"),
        ("GET", f"/graph/neighborhood?id={home['village_code'][:9]}&depth=1&limit=50", {}, "viewer"),
        ("GET", f"/graph/path?from={home['village_code']}&to=issue:{home['issue_id']}", {}, "viewer"),
        ("GET", f"/rootcauses?district={HOME}", {}, "analyst"), ("GET", f"/rootcauses.xlsx?district={HOME}", {}, "analyst"),
        ("GET", f"/packages?district={HOME}", {}, "analyst"), ("GET", f"/packages.xlsx?district={HOME}", {}, "analyst"),
        ("POST", "/issues", {"json": [new]}, "editor"),
        ("PATCH", f"/issues/{home['issue_id']}", {"json": {"note": "已核实"}}, "editor"),
        ("POST", "/issues/upload", upload, "editor"),
        ("GET", f"/classification?district={HOME}", {}, "analyst"),
        ("POST", "/base-data", {"files": {"file": ("基础信息.csv", f"村(社区)代码,人口\n{home['village_code']},1200\n"
                                                                    .encode("gbk"))}, "data": {"district": HOME}}, "editor"),
        ("GET", f"/plan?district={HOME}&teams=10&term_end=2030-12-31", {}, "analyst"),
        ("GET", f"/rectification?district={HOME}", {}, "analyst"), ("GET", f"/backcheck?district={HOME}", {}, "analyst"),
        ("GET", f"/evaluation?district={HOME}", {}, "analyst"),
        ("POST", "/rectification/reopen", {"json": {"district": HOME}}, "editor"),
        ("GET", "/tokens", {}, "admin"), ("POST", "/tokens", {"json": {"role": "viewer"}}, "admin"),
        ("GET", "/audit", {}, "admin"),
    ] + [("POST", f"/packages/{quote(p['package_id'])}/agency-done", {"json": {"note": "已出台制度"}}, "editor")
         for p in api.call("GET", f"/packages?district={HOME}&limit=1").json()["items"]]


@pytest.mark.slow
def test_every_route_admits_its_roles_and_refuses_the_others(api):
    for method, path, kwargs, needed in routes(api):
        assert api.call(method, path, token=None, **kwargs).status_code == 401, path
        for role in ROLES:
            response = api.call(method, path, token=role, **kwargs)
            if ROLES.index(role) >= ROLES.index(needed):
                assert response.status_code in (200, 201), (role, method, path, response.text[:300])
            else:
                assert response.status_code == 403, (role, method, path, response.status_code)
                assert response.json()["error"]["code"] == "forbidden"


def test_a_query_takes_a_district_s_name_as_the_cli_does_and_a_name_opens_no_other_district(api):
    """Another system or an analyst in the API docs may give ``district`` as 万州区, as the CLI's
    --district takes it: the same answer as its code. A district token asking for another district
    by name gets the 404 it gets by code; a name no loaded district has is a 404 too; a write's
    body still takes codes only."""
    home_name = api.call("GET", f"/divisions/{HOME}").json()["name"]
    other_name = api.call("GET", f"/divisions/{OTHER}").json()["name"]
    for path in ("/rootcauses?all=true&limit=500&district={}", "/packages?limit=500&district={}",
                 "/stats?district={}", "/issues?limit=5&district={}", "/units?limit=500&district={}",
                 "/evaluation?district={}"):
        by_code = api.call("GET", path.format(HOME))
        by_name = api.call("GET", path.format(home_name))
        assert by_code.status_code == by_name.status_code == 200, (path, by_name.status_code, by_name.text[:200])
        assert by_name.json() == by_code.json(), path
    for token, path in (("analyst@home", "/rootcauses?district={}"), ("analyst@home", "/packages?district={}"),
                        ("analyst@home", "/classification?district={}"), ("viewer@home", "/issues?district={}"),
                        ("viewer@home", "/units?district={}"), ("viewer@home", "/stats?district={}")):
        for asked in (other_name, "不存在区"):
            response = api.call("GET", path.format(asked), token=token)
            assert response.status_code == 404, (token, path, asked, response.status_code)
            assert response.json()["error"]["code"] == "not_found"
    assert api.call("GET", "/rootcauses?district=不存在区").status_code == 404
    assert api.call("GET", "/rootcauses?district=5001").status_code == 422
    # Names two provinces share: a caller of every district is told both codes; a district token
    # is answered for its own name only, and of another province's districts it learns nothing.
    from graph.model import Division
    api.client.app.state.store.upsert_divisions([
        Division("32", "江苏省", "province", None), Division("3201", "南京市", "city", "32"),
        Division("320106", "鼓楼区", "district", "3201"), Division("35", "福建省", "province", None),
        Division("3501", "福州市", "city", "35"), Division("350102", "鼓楼区", "district", "3501"),
        Division("350198", home_name, "district", "3501")])
    shared = api.call("GET", "/stats?district=鼓楼区")
    assert shared.status_code == 422 and "320106" in shared.text and "350102" in shared.text
    assert api.call("GET", f"/stats?district={home_name}").status_code == 422
    own = api.call("GET", f"/stats?district={home_name}", token="viewer@home")
    assert own.status_code == 200 and own.json() == api.call("GET", f"/stats?district={HOME}").json()
    for asked in ("鼓楼区", other_name):
        refused = api.call("GET", f"/stats?district={asked}", token="viewer@home")
        assert refused.status_code == 404 and "3201" not in refused.text and "3501" not in refused.text
    assert api.call("GET", "/stats?district=%E6%B6%AA%E9%99%B5%E5%8C%BA%1F").status_code == 422  # a control character


def test_a_code_of_no_district_is_a_404_and_a_code_of_the_wrong_shape_is_told_its_shape(api):
    """Another system that mistypes a district, or asks for one this office has not loaded, is told
    there is none: an empty list would read as a district without problems. A code of the wrong
    shape (a city's 4 digits, a township's 8, full-width digits, a name with an invisible character
    after it) is told in words what was expected, not a regular expression."""
    home_name = api.call("GET", f"/divisions/{HOME}").json()["name"]
    for path in ("/issues?district={}", "/units?district={}", "/stats?district={}",
                 "/rootcauses?district={}", "/packages?district={}"):
        for code in ("500199", "500103"):  # no such district; 渝中区, not loaded by this office
            response = api.call("GET", path.format(code))
            assert response.status_code == 404, (path, code, response.status_code, response.text[:200])
            assert response.json()["error"]["code"] == "not_found"
        refused = api.call("GET", path.format("5001"))  # the city's code
        assert refused.status_code == 422, (path, refused.status_code)
        [detail] = refused.json()["error"]["details"]
        assert detail["column"] == "query.district" and detail["value"] == "5001"
        assert detail["expected"].startswith("6 位区县代码或区县全名") and "\\d" not in detail["expected"], detail
    for path, words in (("/issues?township=50010100", "9 位乡镇(街道)代码"), ("/issues?village=5001", "12 位村(社区)代码"),
                        ("/units?area=5001010", "6 位区县代码或 9 位乡镇(街道)代码"),
                        ("/issues?district=%EF%BC%95%EF%BC%90%EF%BC%90%EF%BC%91%EF%BC%90%EF%BC%91", "6 位区县代码"),  # ５００１０１
                        (f"/issues?district={quote(home_name)}%E2%80%8B", "6 位区县代码"),  # a zero-width space after it
                        (f"/issues?district={quote(home_name)}%C2%9B", "6 位区县代码")):    # a C1 control character
        [detail] = api.call("GET", path).json()["error"]["details"]
        assert detail["expected"].startswith(words) and "\\d" not in detail["expected"], (path, detail)
    # The filters below a district: a township or village of no loaded division, or outside the
    # district the request names, is a 404 too; a real one lists its problems.
    township = api.home_issue["village_code"][:9]
    other_township = api.other_issue["village_code"][:9]
    listed = api.call("GET", f"/issues?limit=500&district={HOME}&township={township}").json()
    assert listed["total"] > 0 and all(i["village_code"].startswith(township) for i in listed["items"])
    assert api.call("GET", f"/units?area={township}").json()["total"] > 0
    for path in ("/issues?township=500103001", f"/issues?township={HOME}999", "/issues?village=500199001001",
                 f"/issues?district={HOME}&township={other_township}", "/units?area=500199",
                 "/units?area=500103", f"/units?district={HOME}&area={other_township}"):
        response = api.call("GET", path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", (path, response.text)
    missing = api.call("GET", f"/plan?district={HOME}").json()["error"]["details"]
    assert {"column": "query.teams", "value": None} == {k: missing[0][k] for k in ("column", "value")}, missing


def test_a_district_token_sees_and_changes_its_district_only(api):
    other = api.other_issue
    for role in ROLES:
        token = f"{role}@home"
        listed = api.call("GET", "/issues?limit=500", token=token).json()
        assert listed["total"] > 0 and all(i["district_code"] == HOME for i in listed["items"])
        assert {d["code"] for d in api.call("GET", f"/divisions?q={OTHER}", token=token).json()["items"]} == set()
        for path in (f"/issues/{other['issue_id']}", f"/issues/{other['issue_id']}/chain", f"/divisions/{OTHER}",
                     f"/units?district={OTHER}", f"/units/{OTHER}-civil_affairs", f"/stats?district={OTHER}",
                     f"/issues?district={OTHER}", f"/graph/neighborhood?id={other['village_code']}",
                     f"/graph/path?from={api.home_issue['village_code']}&to={other['village_code']}",
                     f"/graph/path?from=issue:{api.home_issue['issue_id']}&to=issue:{other['issue_id']}"):
            response = api.call("GET", path, token=token)
            assert response.status_code == 404, (token, path, response.status_code)
            assert response.json()["error"]["code"] == "not_found"
        units = api.call("GET", "/units?limit=500", token=token).json()["items"]
        assert units and all(u["area_code"].startswith(HOME) for u in units)
        # The search box finds problems of its district by their words and ids, no other district's.
        for text in (other["issue_id"], other["issue_id"][:8], other["description"][:6]):
            found = api.call("GET", f"/search?q={quote(text)}&limit=100", token=token).json()["issues"]
            assert all(i["village_code"].startswith(HOME) for i in found), (token, text)
        home = api.home_issue
        found = api.call("GET", f"/search?q={quote(home['issue_id'][:-1])}&limit=100", token=token).json()["issues"]
        assert home["issue_id"] in [i["issue_id"] for i in found] and len(found) <= 10
        seen = api.call("GET", f"/graph/neighborhood?id={HOME}&depth=2&limit=500", token=token).json()
        assert all(not n["id"].startswith(OTHER) for n in seen["nodes"])
    for path in (f"/rootcauses?district={OTHER}", f"/packages?district={OTHER}", f"/plan?district={OTHER}&teams=3&term_end=2030-01-01",
                 f"/classification?district={OTHER}", f"/evaluation?district={OTHER}", f"/backcheck?district={OTHER}"):
        assert api.call("GET", path, token="analyst@home").status_code == 404
    causes = api.call("GET", "/rootcauses?all=true&limit=500", token="analyst@home").json()["items"]
    assert all(c["district_code"] == HOME for c in causes)
    # Writes: another district's problem is invisible, and rows of another district are refused.
    assert api.call("PATCH", f"/issues/{other['issue_id']}", token="editor@home", json={"note": "x"}).status_code == 404
    row = {"issue_id": "X-1", "village_code": other["village_code"], "round_id": "R", "found_on": "2024-03-05",
           "category": "低保特困救助", "severity": "一般", "status": "未整改"}
    assert api.call("POST", "/issues", token="editor@home", json=[row]).status_code == 404
    assert api.call("GET", "/issues/X-1", token="admin").status_code == 404
    assert api.call("POST", "/cypher", token="analyst@home", json={"query": "RETURN 1 AS one"}).status_code == 403
    assert api.call("POST", "/rectification/reopen", token="editor@home",
                    json={"district": OTHER, "apply": True}).status_code == 404
    assert api.call("POST", f"/packages/{quote('PKG-' + OTHER + '-低保特困救助')}/agency-done", token="editor@home",
                    json={"note": "x"}).status_code == 404


def test_cypher_is_read_only_and_decided_by_the_engine(api):
    if api.kind == "sqlite":
        response = api.call("POST", "/cypher", token="analyst", json={"query": "RETURN 1 AS one"})
        assert response.status_code == 501 and "Neo4j" in response.json()["error"]["message"]
        return
    driver = api.client.app.state.store.driver
    # The graph's own nodes, counted by the engine (refused writes add audit entries, not the graph's).
    count = lambda: driver.execute_query(  # noqa: E731
        "MATCH (n) WHERE NOT n:AuditEntry AND NOT n:Meta RETURN count(n) AS n").records[0]["n"]
    before = count()
    for query in ("CREATE (:Intruder {name: 'x'})", "MATCH (i:Issue) DETACH DELETE i",
                  "MATCH (i:Issue) SET i.status = 'closed'", "CREATE INDEX x IF NOT EXISTS FOR (n:X) ON (n.y)",
                  "/* read */ MATCH (n) WITH n LIMIT 1 CREATE (:Intruder)"):
        response = api.call("POST", "/cypher", token="analyst", json={"query": query})
        assert response.status_code == 403, (query, response.text)
    assert count() == before
    refused = [e for e in api.call("GET", "/audit?limit=50").json()["items"] if e["action"] == "refused"]
    assert len(refused) == 5 and {e["target"] for e in refused} == {"POST /cypher"}
    rows = api.call("POST", "/cypher", token="analyst", json={
        "query": "MATCH (d:District {code: $code}) RETURN d.name AS name", "parameters": {"code": HOME}}).json()
    assert rows == {"columns": ["name"], "rows": [{"name": "万州区"}], "truncated": False}
    bad = api.call("POST", "/cypher", token="analyst", json={"query": "MATCH (n RETURN n"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"


def test_a_bad_query_parameter_is_explained_in_chinese(api):
    """Another system's developer reads pydantic's words; the analyst behind it reads Chinese."""
    refused = api.call("GET", f"/rootcauses?district={HOME}&min_confidence=1.5&limit=abc")
    assert refused.status_code == 422
    expected = {d["column"]: d["expected"] for d in refused.json()["error"]["details"]}
    assert expected["query.min_confidence"].startswith("不大于 1 的数 (")
    assert expected["query.limit"].startswith("整数 (")


def test_a_bad_upload_writes_nothing_and_lists_every_row_error(api):
    before = api.call("GET", "/issues?limit=1").json()["total"]
    text = "\n".join([",".join(HEADER),
                      ",".join(["U-1", api.home_issue["village_code"], "R1", "2024-13-45", "低保特困救助", "一般", "未整改"]),
                      ",".join(["U-2", api.home_issue["village_code"], "R1", "2024-03-05", "没有这个类别", "一般", "未整改"]),
                      ",".join(["U-3", api.home_issue["village_code"], "R1", "2024-03-05", "低保特困救助", "很大", "未整改"])])
    response = api.call("POST", "/issues/upload", token="editor", files={"file": ("台账.csv", text.encode("gbk"))})
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert [(d["file"], d["row"], d["column"]) for d in details] == [
        ("台账.csv", 2, "发现日期"), ("台账.csv", 3, "问题类别"), ("台账.csv", 4, "严重程度")]
    assert api.call("GET", "/issues?limit=1").json()["total"] == before


def test_the_audit_records_a_patch_with_before_and_after(api):
    issue_id = api.home_issue["issue_id"]
    response = api.call("PATCH", f"/issues/{issue_id}", token="editor",
                        json={"status": "已销号", "closed_on": "2024-09-30", "note": "已退回违规资金"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "closed" and response.json()["history"][-1]["status"] == "closed"
    [entry] = [e for e in api.call("GET", "/audit").json()["items"] if e["action"] == "issues.patch"]
    assert entry["token_name"] == "editor-全部" and entry["target"] == issue_id
    assert entry["before"]["issues"][issue_id]["status"] == api.home_issue["status"]
    assert entry["after"]["issues"][issue_id]["status"] == "closed"
    assert entry["after"]["issues"][issue_id]["extra"] == {"整改佐证": "已退回违规资金"}
    # A closed problem goes back to open only when asked.
    reopen = api.call("PATCH", f"/issues/{issue_id}", token="editor", json={"status": "整改中"})
    assert reopen.status_code == 422 and "--allow-reopen" in reopen.text
    assert api.call("PATCH", f"/issues/{issue_id}?allow_reopen=true", token="editor",
                    json={"status": "整改中"}).json()["status"] == "in_progress"


def test_a_problem_numbered_with_slashes_is_read_changed_and_chained_like_any_other(api):
    """Found by a trial of the explorer: offices number problems "WZ/2022/9001", the ledger takes
    any text as 问题编号, and the API answered "Not Found" (in English) for such a problem's chain."""
    from urllib.parse import quote
    issue = api.home_issue
    new = {"issue_id": "WZ/2026/9001", "village_code": issue["village_code"], "round_id": "2026年第9轮",
           "found_on": "2026-11-27", "category": issue["category"], "severity": "一般", "status": "未整改"}
    assert api.call("POST", "/issues", token="editor", json=[new]).status_code == 201
    path = "/issues/" + quote(new["issue_id"], safe="")
    assert api.call("GET", path).json()["issue_id"] == new["issue_id"]
    assert api.call("GET", path + "/chain").json()["issue"]["issue_id"] == new["issue_id"]
    assert api.call("PATCH", path, token="editor", json={"status": "整改中"}).json()["status"] == "in_progress"
    assert api.call("GET", "/views/chain/" + quote(new["issue_id"], safe="")).status_code == 200
    # and the framework's own answers are in Chinese too
    missing = api.call("GET", "/no/such/route").json()["error"]["message"]
    assert missing.startswith("没有这个地址")


def test_a_unit_numbered_with_a_slash_is_read_and_drawn_like_any_other(api):
    """Found by a trial of the explorer: the units table takes any text as 单位编号, and a unit
    numbered "500101-组织/人事" could not be read or drawn ("没有这个地址")."""
    from urllib.parse import quote
    from graph import open_store
    from graph.model import UnitIn
    store = open_store(api.url, settings=Settings(XUNCHA_STORE=api.url, NEO4J_PASSWORD=NEO4J_PASSWORD))
    try:
        store.upsert_units([UnitIn(unit_id=f"{HOME}-组织/人事", name="万州区组织人事科", level="district",
                                   area_code=HOME, function="organization")])
    finally:
        store.close()
    path = quote(f"{HOME}-组织/人事", safe="")
    assert api.call("GET", f"/units/{path}").json()["name"] == "万州区组织人事科"
    drawn = api.call("GET", f"/views/unit/{path}")
    assert drawn.status_code == 200 and "万州区组织人事科的关系" in drawn.text
    # a slash in an id that names no unit is a unit not found, said in Chinese, not a missing route
    missing = api.call("GET", f"/units/{quote(OTHER + '-x/y', safe='')}")
    assert missing.status_code == 404 and missing.json()["error"]["message"].startswith("没有这个单位")



def test_two_editors_updating_one_problem_at_once_both_keep_their_change(api):
    """Found by a trial of the API under load: the township's system set a problem's status while
    the district's added its evidence note, both answered 200, and on up to half of the problems
    one of the two changes was gone: each update re-wrote every field as read before the other's
    write."""
    import threading
    open_ones = [i["issue_id"] for i in api.scenario.issues
                 if i["village_code"].startswith(HOME) and i["status"] in ("未整改", "open")][:12]
    assert len(open_ones) == 12
    start, answers = threading.Barrier(2), []

    def editor(token, body):
        for issue_id in open_ones:
            start.wait(30)
            answers.append(api.call("PATCH", "/issues/" + quote(issue_id, safe=""), token=token, json=body).status_code)

    both = [threading.Thread(target=editor, args=("editor@home", {"status": "整改中"})),
            threading.Thread(target=editor, args=("editor", {"note": "已提交整改佐证"}))]
    for t in both:
        t.start()
    for t in both:
        t.join(120)
    assert answers == [200] * 24
    for issue_id in open_ones:
        shown = api.call("GET", "/issues/" + quote(issue_id, safe="")).json()
        assert shown["status"] == "in_progress" and shown["extra"].get("整改佐证") == "已提交整改佐证", shown


def test_a_problem_sent_over_the_api_carries_its_term_and_an_update_keeps_it(api):
    """Found by an office's trial: the API had no field for 届次, so a problem created over it was
    in no term's analysis, and one updated over it left its term. ``term`` is the ledger's 届次
    column; an update without it keeps the stored one."""
    issue = api.home_issue
    new = {"issue_id": "TERM-1", "village_code": issue["village_code"], "round_id": "2026年第9轮",
           "found_on": "2026-11-27", "category": issue["category"], "severity": "一般", "status": "未整改",
           "term": "第十五届"}
    assert api.call("POST", "/issues", token="editor", json=[new]).status_code == 201
    assert api.call("GET", "/issues/TERM-1").json()["extra"] == {"届次": "第十五届"}
    without = {k: v for k, v in new.items() if k != "term"}
    updated = api.call("POST", "/issues", token="editor", json=[{**without, "status": "整改中"}])
    assert updated.status_code == 201 and updated.json()["updated"] == 1, updated.text
    shown = api.call("GET", "/issues/TERM-1").json()
    assert shown["status"] == "in_progress" and shown["extra"] == {"届次": "第十五届"}
    patched = api.call("PATCH", "/issues/TERM-1", token="editor", json={"note": "已约谈"})
    assert patched.json()["extra"] == {"届次": "第十五届", "整改佐证": "已约谈"}


def test_a_recurrence_reopens_the_closed_problem_with_its_link(api):
    issue = api.home_issue
    closed = api.call("PATCH", f"/issues/{issue['issue_id']}", token="editor",
                      json={"status": "已销号", "closed_on": issue["found_on"], "note": "已整改到位"})
    assert closed.status_code == 200, closed.text
    later = {"issue_id": "LATER-1", "village_code": issue["village_code"], "round_id": "2026年第9轮",
             "found_on": "2026-11-27", "category": issue["category"], "severity": "一般", "status": "未整改"}
    assert api.call("POST", "/issues", token="editor", json=[later]).status_code == 201
    preview = api.call("POST", "/rectification/reopen", token="editor", json={"district": HOME}).json()
    assert {"closed": issue["issue_id"], "reopened_by": "LATER-1"}.items() <= next(
        link for link in preview["issues"] if link["closed"] == issue["issue_id"]).items()
    assert api.call("GET", f"/issues/{issue['issue_id']}").json()["status"] == "closed"
    applied = api.call("POST", "/rectification/reopen", token="editor", json={"district": HOME, "apply": True})
    assert applied.status_code == 200 and applied.json()["applied"]
    now = api.call("GET", f"/issues/{issue['issue_id']}").json()
    assert now["status"] == "reopened" and "LATER-1" in now["extra"]["复发重开"]
    assert now["extra"]["整改佐证"] == "已整改到位"  # the earlier note is kept
    assert [h["status"] for h in now["history"]][-2:] == ["closed", "reopened"]
    [entry] = [e for e in api.call("GET", "/audit").json()["items"] if e["action"] == "rectification.reopen"]
    assert entry["before"]["issues"][issue["issue_id"]]["status"] == "closed"
    assert entry["after"]["issues"][issue["issue_id"]]["status"] == "reopened"


def test_the_key_village_list_over_http(api):
    villages = sorted({i["village_code"] for i in api.scenario.issues if i["village_code"].startswith(HOME)})
    listed, added = villages[0], villages[1]
    assert api.call("GET", f"/key-villages?district={HOME}", token="viewer").status_code == 403
    assert api.call("GET", f"/key-villages?district={HOME}", token="analyst").status_code == 404  # none yet
    upload = {"file": ("乡镇推荐名单.csv", f"村(社区)代码,推荐理由\n{listed},信访多\n".encode("gbk"))}
    form = {"district": HOME, "by": "各乡镇(街道)"}
    assert api.call("POST", "/key-villages/propose", token="analyst", files=upload, data=form).status_code == 403
    assert api.call("POST", "/key-villages/propose", token="editor@home", files=upload,
                    data={**form, "district": OTHER}).status_code == 404
    bad = {"file": ("名单.csv", "村(社区)代码\n500000000000\n".encode())}
    refused = api.call("POST", "/key-villages/propose", token="editor", files=bad, data=form)
    [detail] = refused.json()["error"]["details"]
    assert refused.status_code == 422 and (detail["file"], detail["row"], detail["value"]) == ("名单.csv", 2, "500000000000")
    proposed = api.call("POST", "/key-villages/propose", token="editor@home", files=upload, data=form)
    assert proposed.status_code == 200, proposed.text
    assert proposed.json()["status"] == "proposed" and list(proposed.json()["villages"]) == [listed]
    change = {"district": HOME, "village_code": added, "action": "add", "reason": "历年问题多"}
    assert api.call("POST", "/key-villages/adjust", token="editor", json={**change, "reason": ""}).status_code == 422
    adjusted = api.call("POST", "/key-villages/adjust", token="editor", json=change).json()
    assert adjusted["changes"][0]["by"] == "editor-全部" and adjusted["status"] == "adjusted"
    approved = api.call("POST", "/key-villages/approve", token="editor@home", json={"district": HOME}).json()
    assert approved["status"] == "approved" and approved["approved"]["by"] == f"editor-{HOME}"
    classes = {c["village_code"]: c for c in api.call("GET", f"/classification?district={HOME}").json()}
    assert classes[listed]["class_"] == "重点村" and classes[added]["class_"] == "重点村"
    assert sum(c["class_"] == "重点村" for c in classes.values()) == 2
    actions = [e["action"] for e in api.call("GET", "/audit?limit=500").json()["items"]]
    assert {"key_villages.propose", "key_villages.adjust", "key_villages.approve"} <= set(actions)


@pytest.mark.slow
def test_base_data_loaded_once_scores_alike_in_the_api_and_the_cli(api):
    """The office's base data (人口、集体资金 … 软弱涣散), loaded once by upload or ``xuncha load
    base``, is what every classification scores on: the API's and the CLI's agree village by village."""
    villages = sorted({i["village_code"] for i in api.scenario.issues if i["village_code"].startswith(HOME)})[:3]
    weak, big, plain = villages
    table = ("村(社区)代码,人口,集体资金,项目数,矛盾纠纷和信访,软弱涣散,廉政风险\n"
             f"{weak},800,20000,1,2,是,否\n{big},5200,3000000,9,14,否,是\n{plain},900,10000,0,0,否,否\n")
    upload = {"file": ("村(社区)基础信息.csv", table.encode("gbk"))}
    before = {c["village_code"]: c for c in api.call("GET", f"/classification?district={HOME}").json()}
    assert api.call("POST", "/base-data", token="analyst", files=upload, data={"district": HOME}).status_code == 403
    assert api.call("POST", "/base-data", token="editor@home", files=upload,
                    data={"district": OTHER}).status_code == 404  # a district token, another district
    foreign = api.other_issue["village_code"]  # another district's village in this district's table
    refused = api.call("POST", "/base-data", token="editor", files={"file": (
        "基础信息.csv", f"村(社区)代码,人口\n{weak},800\n{foreign},700\n".encode("gbk"))}, data={"district": HOME})
    [detail] = refused.json()["error"]["details"]
    assert refused.status_code == 422 and (detail["row"], detail["column"], detail["value"]) == (3, "村(社区)代码", foreign)
    assert api.call("GET", f"/classification?district={HOME}").json() == list(before.values())  # nothing written
    loaded = api.call("POST", "/base-data", token="editor@home", files=upload, data={"district": HOME})
    assert loaded.status_code == 201 and loaded.json()["inserted"] == 3, loaded.text
    again = api.call("POST", "/base-data", token="editor@home", files=upload, data={"district": HOME}).json()
    assert (again["inserted"], again["unchanged"]) == (0, 3)  # loading twice changes nothing
    after = {c["village_code"]: c for c in api.call("GET", f"/classification?district={HOME}").json()}
    # “对软弱涣散村党组织 … 直接巡村”: the weak organisation is key and inspected directly.
    assert after[weak]["class_"] == "重点村" and after[weak]["mode"] == "直接巡村"
    assert after[big]["score"] > before[big]["score"]
    cli = run_cli("classify", "--district", HOME, "--json", store=api.url, env={"NEO4J_PASSWORD": NEO4J_PASSWORD})
    assert cli.returncode == 0, cli.stderr
    by_cli = {c["village_code"]: c for c in json.loads(cli.stdout)}
    assert {code: (round(c["score"], 6), c["class"], c["mode"]) for code, c in by_cli.items()} == \
        {code: (round(c["score"], 6), c["class_"], c["mode"]) for code, c in after.items()}
    actions = [e["action"] for e in api.call("GET", "/audit?limit=500").json()["items"]]
    assert actions.count("base_data.upload") == 2
    first = next(e for e in reversed(api.call("GET", "/audit?limit=500").json()["items"])
                 if e["action"] == "base_data.upload")
    assert first["before"]["villages"][weak] is None and first["after"]["villages"][weak]["weak_organisation"] == 1
    assert first["after"]["file"]["name"] == "村(社区)基础信息.csv" and len(first["after"]["file"]["sha256"]) == 64


def test_a_term_the_ledger_does_not_have_is_refused_in_chinese(api):
    """/rootcauses takes the CLI's --term; on a ledger without a 届次 column it is bad input, said
    in Chinese, and the analysis without it is the one every other view reads."""
    response = api.call("GET", "/rootcauses?term=第1届", token="analyst")
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert (detail["file"], detail["value"]) == ("所选届次 (--term, term)", "第1届") and "没有届次" in detail["expected"]
    plain = api.call("GET", "/rootcauses?all=true&limit=500", token="analyst").json()["items"]
    assert plain and not any("last_term" in c["evidence"] for c in plain)


def test_one_error_shape_and_bounded_lists(api):
    for response in (api.call("GET", "/no-such-route"), api.call("GET", "/issues/NOPE"),
                     api.call("GET", "/issues?limit=501"), api.call("GET", "/issues?status=done"),
                     api.call("GET", "/rootcauses?district=500199"), api.call("GET", "/issues", token=None)):
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
        assert "Traceback" not in response.text and ".db" not in response.text
    details = api.call("GET", "/issues?limit=501").json()["error"]["details"]
    assert details[0]["column"] == "query.limit"
    # a body wrapped as {"issues": [...]} where the list itself is expected: said by its shape
    wrapped = api.call("POST", "/issues", token="editor", json={"issues": [{"issue_id": "W-1"}]})
    assert wrapped.status_code == 422
    [detail] = wrapped.json()["error"]["details"]
    assert detail["column"] == "body" and "issues" in detail["value"] and "对象" in detail["value"], detail
    page = api.call("GET", "/rootcauses?all=true&limit=500").json()
    assert len(page["items"]) <= 500 and page["total"] >= len(page["items"])


def test_tokens_are_stored_hashed_and_revocable(api):
    created = api.call("POST", "/tokens", json={"role": "viewer", "district": HOME, "name": "城市大屏"}).json()
    plain = created["token"]
    listed = api.call("GET", "/tokens").text
    assert plain not in listed and created["token_id"] in listed
    headers = {"Authorization": f"Bearer {plain}"}
    assert api.client.get("/categories", headers=headers).status_code == 200
    assert api.call("DELETE", f"/tokens/{created['token_id']}").status_code == 200
    assert api.client.get("/categories", headers=headers).status_code == 401


def test_docs_work_offline(api):
    for path in ("/docs", "/redoc"):
        page = api.client.get(path)
        assert page.status_code == 200
        resources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert resources and not [r for r in resources if r.startswith(("http://", "https://", "//"))], resources
        for resource in resources:
            assert api.client.get(resource).status_code == 200, resource


def test_every_route_documents_its_response_model(api):
    schema = api.client.get("/openapi.json").json()
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            ok = operation["responses"].get("200") or operation["responses"].get("201")
            assert ok and ok.get("content"), (method, path)
            assert "404" in operation["responses"] and "422" in operation["responses"], (method, path)


def test_health_and_warm_analysis_is_cached(api):
    import time
    health = api.client.get("/health").json()
    assert health["status"] == "ok" and health["store"] == api.kind
    api.call("GET", "/rootcauses", token="analyst")
    started = time.perf_counter()
    api.call("GET", "/rootcauses", token="analyst")
    warm = time.perf_counter() - started
    assert warm < 0.5, warm  # a cached answer, not a recomputation
    version = api.client.get("/health").json()["data_version"]
    api.call("PATCH", f"/issues/{api.home_issue['issue_id']}", token="editor", json={"note": "复核"})
    assert api.client.get("/health").json()["data_version"] > version


def test_default_bind_is_loopback(monkeypatch):
    monkeypatch.delenv("XUNCHA_API_HOST", raising=False)
    assert Settings().api_host == "127.0.0.1"


def test_several_workers_accept_connections_with_nagle_off():
    """``xuncha serve --workers N`` hands its workers a socket it bound itself; connections
    accepted on it must have TCP_NODELAY, or every keep-alive request waits ~40 ms."""
    import asyncio
    import socket

    from api.server import APP, _TcpConfig
    listening = _TcpConfig(APP, host="127.0.0.1", port=0, workers=2).bind_socket()
    assert listening.proto == socket.IPPROTO_TCP
    accepted = []

    class Record(asyncio.Protocol):
        def connection_made(self, transport):
            sock = transport.get_extra_info("socket")
            accepted.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def accept_one():
        server = await asyncio.get_running_loop().create_server(Record, sock=listening)
        port = listening.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if accepted:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(accept_one())
    assert accepted and accepted[0] != 0


def test_a_mistyped_store_path_fails_at_start_and_creates_nothing(tmp_path):
    settings = Settings(XUNCHA_STORE=f"sqlite:///{tmp_path / 'typo' / 'x.db'}")
    with pytest.raises(Exception, match="没有存储"):
        with TestClient(create_app(settings)):
            pass
    assert not (tmp_path / "typo").exists()


def test_a_path_between_two_nodes_walks_the_graph_and_stays_in_the_token_district(api):
    """The analyst picks two nodes (a village and another village's problem) and sees how they are
    linked; a district token's path never passes through another district's node."""
    home = api.home_issue
    other_home = next(i for i in api.scenario.issues
                      if i["village_code"].startswith(HOME) and i["village_code"] != home["village_code"])
    for token in ("viewer", "viewer@home"):
        found = api.call("GET", f"/graph/path?from={home['village_code']}&to=issue:{other_home['issue_id']}",
                         token=token)
        assert found.status_code == 200, found.text
        body = found.json()
        ids = [n["id"] for n in body["nodes"]]
        assert ids[0] == home["village_code"] and ids[-1] == f"issue:{other_home['issue_id']}"
        assert len(ids) == len(set(ids)) >= 3  # not the same village: at least one node between
        # Each edge joins two nodes next to each other on the path, in either stored direction.
        assert len(body["edges"]) == len(ids) - 1
        for (a, b), edge in zip(zip(ids, ids[1:]), body["edges"]):
            assert {edge["source"], edge["target"]} == {a, b} and edge["type"]
        if token == "viewer@home":
            assert not any(n.startswith(OTHER) or n.startswith(f"issue:{api.other_issue['issue_id']}") for n in ids)
    # Across the two districts: found with an all-district token, a 404 for the district's.
    across = f"/graph/path?from={home['village_code']}&to={api.other_issue['village_code']}"
    assert api.call("GET", across, token="viewer").status_code == 200
    refused = api.call("GET", across, token="viewer@home")
    assert refused.status_code == 404 and OTHER not in refused.json()["error"]["message"]
    assert api.call("GET", f"/graph/path?from={home['village_code']}&to=unit:不存在", token="viewer").status_code == 404


# ---- a write beside another process's load (SQLite: one writer at a time per file) ----

HOLD = """
import sys, time
from graph.sqlite_store import SQLiteStore, SQLiteWorkflow
store = SQLiteStore(sys.argv[1])
with store.atomic():  # as a load does: one write transaction, held while it writes
    SQLiteWorkflow(store).save_key_villages("500000", {"held": True}, "2026-12-07T00:00:00+00:00")
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_the_store(path, seconds: float):
    """Another process that holds the file's write lock for ``seconds``, as a long load does."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


EDITORS = """
import sys, threading, time
from graph.sqlite_store import SQLiteStore, SQLiteWorkflow
store = SQLiteStore(sys.argv[1])
stop = time.monotonic() + float(sys.argv[2])

def editor(n):
    while time.monotonic() < stop:
        with store.atomic():  # an editor's change, held as long as one takes with its audit
            SQLiteWorkflow(store).save_key_villages(f"50000{n}", {"n": time.monotonic()}, "2026-12-07T00:00:00+00:00")
            time.sleep(0.02)

threads = [threading.Thread(target=editor, args=(n,)) for n in range(6)]
[t.start() for t in threads]
print("writing", flush=True)
[t.join() for t in threads]
"""


def test_the_office_s_load_gets_in_between_editors_writing_without_pause(sqlite_api):
    # Six editors of the API's process pass the file from one change to the next. SQLite's own
    # wait tries less and less often (every 100 ms): a load of another process landed in none of
    # the moments the file was free and gave up after its wait.
    path, scenario, _ = sqlite_api
    home = [i for i in scenario.issues if i["village_code"].startswith(HOME)][:200]
    ledger = write_csv(path.parent / "台账.csv", HEADER, [
        [f"EDIT-{n}", i["village_code"], "2024年第1轮", "2024-03-05", "低保特困救助", "一般", "未整改"]
        for n, i in enumerate(home)])
    editors = subprocess.Popen([sys.executable, "-c", EDITORS, str(path), "20"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert editors.stdout.readline().strip() == "writing"
        started = time.monotonic()
        load = run_cli("load", "issues", str(ledger), store=f"sqlite:///{path}", env={"XUNCHA_SQLITE_BUSY_TIMEOUT": "10"})
        took = time.monotonic() - started
        assert editors.poll() is None, "the editors stopped before the load was tried"
    finally:
        editors.kill()
        editors.wait()
    assert load.returncode == 0, load.stderr
    assert took < 5, took


@pytest.fixture
def sqlite_api(api_sqlite_template, tmp_path):
    template, scenario, tokens = api_sqlite_template
    shutil.copy(template, tmp_path / "api.db")
    return tmp_path / "api.db", scenario, tokens


def test_an_editor_s_change_waits_for_another_process_s_load_and_is_kept(sqlite_api):
    # SQLite's own wait (5 s) is about what a 200,000-problem load holds the file for: the change
    # was refused with "database is locked" beside such a load.
    path, scenario, tokens = sqlite_api
    issue_id = next(i["issue_id"] for i in scenario.issues if i["village_code"].startswith(HOME))
    with TestClient(create_app(Settings(XUNCHA_STORE=f"sqlite:///{path}"))) as client:
        editor = {"Authorization": f"Bearer {tokens['editor']}"}
        load = hold_the_store(path, 6.5)
        started = time.monotonic()
        response = client.patch(f"/issues/{quote(issue_id, safe='')}", headers=editor, json={"note": "已核实"})
        waited = time.monotonic() - started
        assert load.wait() == 0
        assert response.status_code == 200, response.text
        assert waited > 4, "the change did not wait for the load: the test held nothing"
        assert client.get(f"/issues/{quote(issue_id, safe='')}", headers=editor).json()["extra"] == {"整改佐证": "已核实"}


def test_past_the_wait_a_change_is_refused_in_chinese_with_when_to_retry_and_nothing_is_written(sqlite_api):
    path, scenario, tokens = sqlite_api
    home = [i for i in scenario.issues if i["village_code"].startswith(HOME)]
    issue_id = home[0]["issue_id"]
    settings = Settings(XUNCHA_STORE=f"sqlite:///{path}", XUNCHA_SQLITE_BUSY_TIMEOUT=0.5)
    with TestClient(create_app(settings)) as client:
        editor = {"Authorization": f"Bearer {tokens['editor']}"}
        before = client.get(f"/issues/{quote(issue_id, safe='')}", headers=editor).json()
        load = hold_the_store(path, 4)
        response = client.patch(f"/issues/{quote(issue_id, safe='')}", headers=editor, json={"note": "已核实"})
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "unavailable" and "存储正忙" in error["message"] and "请稍后重试" in error["message"]
        assert str(path) not in response.text and response.headers["Retry-After"] == "5"
        # editors writing at once share the one wait: each answered within it, not one after another
        with ThreadPoolExecutor(6) as pool:
            started = time.monotonic()
            answers = list(pool.map(lambda n: (client.patch(f"/issues/{quote(home[n]['issue_id'], safe='')}",
                                                            headers=editor, json={"note": "并发"}), time.monotonic()),
                                    range(6)))
        assert [a.status_code for a, _ in answers] == [503] * 6
        assert max(at for _, at in answers) - started < 1.5, [round(at - started, 2) for _, at in answers]
        # the office's own command, beside the same load: exit 1, the reason in Chinese, nothing loaded
        ledger = write_csv(path.parent / "台账.csv", HEADER, [
            ["BUSY-1", home[0]["village_code"], "2024年第1轮", "2024-03-05", "低保特困救助", "一般", "未整改"]])
        cli = run_cli("load", "issues", str(ledger), store=f"sqlite:///{path}",
                      env={"XUNCHA_SQLITE_BUSY_TIMEOUT": "0.5"})
        assert load.wait() == 0
        assert cli.returncode == 1 and "存储正忙" in cli.stderr, cli.stderr
        after = client.get(f"/issues/{quote(issue_id, safe='')}", headers=editor).json()
        assert after == before
        assert client.get("/issues/BUSY-1", headers=editor).status_code == 404
        # once the load is over the same change goes through
        assert client.patch(f"/issues/{quote(issue_id, safe='')}", headers=editor,
                            json={"note": "已核实"}).status_code == 200
