"""Who may write what, tried as an attacker would, on both stores: a district's token never changes
another district's problem, package or key-village list, whatever its body says, and learns nothing
about it; the CLI applies the same rule as the API."""
from __future__ import annotations

import csv
import datetime as dt
import io
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph import open_workflow

from .conftest import run_cli
from .test_api import HEADER, HOME, OTHER, SCOPE, api  # noqa: F401  (the fixture, on both stores)

ROW = {"round_id": "2025年第1轮", "found_on": "2025-03-05", "severity": "一般"}


def ledger_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER + ["销号日期"])
    for r in rows:
        writer.writerow([r["issue_id"], r["village_code"], r["round_id"], r["found_on"], r["category"],
                         r["severity"], r["status"], r.get("closed_on", "")])
    return out.getvalue().encode("utf-8")


def outside(store, district: str, package_ids) -> tuple:
    """Everything of ``district`` a write could change: its problems (every field and note), its
    packages' recorded ends and its key-village list."""
    issues = sorted((tuple(sorted((k, str(v)) for k, v in i.__dict__.items())) for i in store.issues(district)))
    ends = open_workflow(store).package_ends([p for p in package_ids if p.split("-")[1].startswith(district)])
    return issues, repr(sorted(ends.items())), repr(open_workflow(store).key_villages(district))


def close_as_admin(api, issue: dict) -> None:
    closed = api.call("PATCH", f"/issues/{issue['issue_id']}", token="editor",
                      json={"status": "已销号", "closed_on": issue["found_on"], "note": "已整改"})
    assert closed.status_code == 200, closed.text


def test_another_districts_problem_is_not_found_whatever_the_body_says(api):
    """The takeover of issue 21: a 万州区 editor sends a 涪陵区 problem's id with a 万州区 village."""
    store = api.client.app.state.store
    other, home = api.other_issue, api.home_issue
    close_as_admin(api, other)  # closed: the old 422 said "exists and is closed"
    before = outside(store, OTHER, [])
    takeover = {**ROW, "issue_id": other["issue_id"], "village_code": home["village_code"],
                "category": other["category"], "description": "改写", "status": "整改中"}
    for allow_reopen in ("false", "true"):
        response = api.call("POST", f"/issues?allow_reopen={allow_reopen}", token="editor@home", json=[takeover])
        assert response.status_code == 404, response.text
        assert "已销号" not in response.text and "closed" not in response.text
        [detail] = response.json()["error"]["details"]
        assert (detail["row"], detail["column"], detail["value"]) == (1, "issue_id", other["issue_id"])
        upload = api.call("POST", f"/issues/upload?allow_reopen={allow_reopen}", token="editor@home",
                          files={"file": ("台账.csv", ledger_csv([takeover]))})
        assert upload.status_code == 404 and "已销号" not in upload.text, upload.text
        assert [(d["file"], d["row"], d["column"]) for d in upload.json()["error"]["details"]] == [("台账.csv", 2, "问题编号")]
    # One foreign row among good ones: nothing of the request is written.
    mixed = [{**ROW, "issue_id": "MINE-1", "village_code": home["village_code"], "category": home["category"],
              "status": "未整改"}, takeover]
    assert api.call("POST", "/issues", token="editor@home", json=mixed).status_code == 404
    assert api.call("GET", "/issues/MINE-1").status_code == 404
    # A new id sent with another district's village is refused the same way.
    moved = {**takeover, "issue_id": "NEW-X", "village_code": other["village_code"]}
    assert api.call("POST", "/issues", token="editor@home", json=[moved]).status_code == 404
    assert api.call("PATCH", f"/issues/{other['issue_id']}?allow_reopen=true", token="editor@home",
                    json={"status": "整改中"}).status_code == 404
    assert outside(store, OTHER, []) == before
    # An all-district editor still may.
    assert api.call("POST", "/issues?allow_reopen=true", token="editor", json=[takeover]).status_code == 201


def test_a_district_editor_learns_nothing_of_another_districts_units_or_villages(api):
    """Found by trying the API as a 万州区 editor: naming 涪陵区's unit as a problem's responsible
    unit was refused with "涪陵区财政局（500102-finance）属于区县 500102", and a village named
    without its code was listed with every district's namesakes and their codes. To a district's
    caller another district's units and villages do not exist: a name means its own village."""
    store = api.client.app.state.store
    unit = api.call("GET", f"/units/{OTHER}-civil_affairs").json()
    home = api.home_issue
    row = {**ROW, "issue_id": "万州-新-1", "village_code": home["village_code"], "category": home["category"],
           "status": "整改中"}
    for hint in (unit["unit_id"], unit["name"]):
        refused = api.call("POST", "/issues", token="editor@home", json=[{**row, "root_unit_hint": hint}])
        assert refused.status_code == 422, refused.text
        [detail] = refused.json()["error"]["details"]
        assert detail["column"] == "root_unit_hint" and detail["value"] == hint
        assert OTHER not in detail["expected"] and unit["name"] not in detail["expected"], detail
    assert store.issues_by_id(["万州-新-1"]) == {}

    def upload(village: str):
        text = ("问题编号,村(社区),巡察轮次,发现日期,问题类别,严重程度,整改状态\n"
                f"万州-新-2,{village},2025年第1轮,2025-03-05,{home['category']},一般,整改中\n")
        return api.call("POST", "/issues/upload", token="editor@home",
                        files={"file": ("台账.csv", text.encode("gbk"))})
    # 大东门社区 is a village of 涪陵区 alone: to 万州区 no such village, and no code of it shown
    foreign = upload("大东门社区")
    assert foreign.status_code in (404, 422) and "500102" not in foreign.text, foreign.text
    # 永宁村 is in both districts: to 万州区's editor it is 万州区's, not ambiguous
    written = upload("永宁村")
    assert written.status_code == 201, written.text
    assert store.issues_by_id(["万州-新-2"])["万州-新-2"].village_code == "500101017201"


def test_a_district_editor_may_not_touch_another_districts_packages_reopen_or_key_villages(api):
    store = api.client.app.state.store
    packages = {d: [p["package_id"] for p in api.call("GET", f"/packages?district={d}&limit=50").json()["items"]]
                for d in SCOPE}
    assert packages[OTHER], "the scenario surfaces a package in each district"
    before = outside(store, OTHER, packages[OTHER])
    for action in ("agency-done", "close"):
        response = api.call("POST", f"/packages/{quote(packages[OTHER][0])}/{action}", token="editor@home",
                            json={"note": "已出台制度"})
        assert response.status_code == 404, response.text
    assert api.call("POST", "/rectification/reopen", token="editor@home",
                    json={"district": OTHER, "apply": True}).status_code == 404
    village = api.other_issue["village_code"]
    assert api.call("POST", "/key-villages/adjust", token="editor@home", json={
        "district": OTHER, "village_code": village, "action": "add", "reason": "x"}).status_code == 404
    assert api.call("POST", "/key-villages/approve", token="editor@home", json={"district": OTHER}).status_code == 404
    upload = {"file": ("名单.csv", f"村(社区)代码,推荐理由\n{village},信访多\n".encode())}
    assert api.call("POST", "/key-villages/propose", token="editor@home", files=upload,
                    data={"district": OTHER, "by": "乡镇"}).status_code == 404
    # Its own district's list cannot carry another district's village either.
    proposed = api.call("POST", "/key-villages/propose", token="editor@home", files=upload,
                        data={"district": HOME, "by": "乡镇"})
    assert proposed.status_code == 422, proposed.text
    assert outside(store, OTHER, packages[OTHER]) == before


@pytest.mark.slow
def test_the_cli_applies_the_same_ownership_rule(tmp_path, chongqing):
    from loaders.catalog import catalog_units
    from loaders.scenario import generate_scenario
    from loaders.tables import load_table
    for district in SCOPE:
        chongqing.upsert_units(catalog_units(chongqing, district))
    files = generate_scenario(chongqing, districts=list(SCOPE), seed=3, causes=2).write(tmp_path / "s")
    for table in ("units", "duties", "issues"):
        load_table(chongqing, table, files[table])
    other = next(i for i in chongqing.issues(OTHER))
    home = next(i for i in chongqing.issues(HOME))
    before = chongqing.issues(OTHER)
    url = f"sqlite:///{chongqing.path}"
    row = {**ROW, "issue_id": other.issue_id, "village_code": home.village_code, "category": other.category,
           "status": "整改中"}
    ledger = tmp_path / "万州台账.csv"
    ledger.write_bytes(ledger_csv([row]))
    refused = run_cli("load", "issues", str(ledger), "--district", HOME, "--allow-reopen", store=url)
    assert refused.returncode == 2, refused.stderr
    assert f"区县 {HOME} 没有这个问题" in refused.stderr and "万州台账.csv 第 2 行，列“问题编号”" in refused.stderr
    assert chongqing.issues(OTHER) == before
    package = f"PKG-{OTHER}001-{other.category}"
    refused = run_cli("package", "agency-done", package, "--note", "x", "--by", "万州区巡察办",
                      "--district", HOME, store=url)
    assert refused.returncode == 2 and "没有这个整改包" in refused.stderr
    # Without --district the operator's CLI writes anywhere, as an all-district token does.
    assert run_cli("load", "issues", str(ledger), "--allow-reopen", store=url).returncode == 0


# -- the property: no write by a district's token changes anything outside its district -------------
def _write_requests(api, packages: list[str]):
    """A strategy of (token, method, path, request kwargs): every kind of write, with ids, villages,
    districts and packages of both districts mixed at random."""
    issues = [i for i in api.scenario.issues if i["village_code"][:6] in SCOPE]
    ids = st.sampled_from([i["issue_id"] for i in issues[:40]] + ["NEW-1", "NEW-2"])
    villages = st.sampled_from(sorted({i["village_code"] for i in issues})[:30])
    categories = st.sampled_from(sorted({i["category"] for i in issues}))
    statuses = st.sampled_from(["未整改", "整改中", "已整改", "已销号"])
    rows = st.lists(st.fixed_dictionaries({"issue_id": ids, "village_code": villages, "category": categories,
                                           "status": statuses, **{k: st.just(v) for k, v in ROW.items()}},
                                          optional={"closed_on": st.just("2025-06-01"),
                                                    "description": st.text(max_size=20)}),
                    min_size=1, max_size=4)
    tokens = st.sampled_from([f"editor@{d}" for d in SCOPE] + [f"admin@{d}" for d in SCOPE])
    reopen = st.sampled_from(["false", "true"])
    district = st.sampled_from(SCOPE)
    json_write = st.tuples(tokens, st.just("POST"), reopen.map(lambda r: f"/issues?allow_reopen={r}"),
                           rows.map(lambda b: {"json": b}))
    upload = st.tuples(tokens, st.just("POST"), reopen.map(lambda r: f"/issues/upload?allow_reopen={r}"),
                       rows.map(lambda b: {"files": {"file": ("台账.csv", ledger_csv(b))}}))
    patch = st.tuples(tokens, st.just("PATCH"), st.tuples(ids, reopen).map(lambda t: f"/issues/{t[0]}?allow_reopen={t[1]}"),
                      st.fixed_dictionaries({}, optional={"status": statuses, "note": st.text(max_size=10),
                                                          "closed_on": st.just("2025-06-01")}).map(lambda b: {"json": b}))
    reopen_write = st.tuples(tokens, st.just("POST"), st.just("/rectification/reopen"),
                             district.map(lambda d: {"json": {"district": d, "apply": True}}))
    package = st.tuples(tokens, st.just("POST"), st.tuples(st.sampled_from(packages), st.sampled_from(["agency-done", "close"]))
                        .map(lambda t: f"/packages/{quote(t[0])}/{t[1]}"), st.just({"json": {"note": "已完成"}}))
    propose = st.tuples(tokens, st.just("POST"), st.just("/key-villages/propose"), st.tuples(
        district, st.lists(villages, min_size=1, max_size=3, unique=True)).map(lambda t: {
            "data": {"district": t[0], "by": "乡镇"},
            "files": {"file": ("名单.csv", ("村(社区)代码,推荐理由\n" + "".join(f"{v},多\n" for v in t[1])).encode())}}))
    adjust = st.tuples(tokens, st.just("POST"), st.just("/key-villages/adjust"), st.tuples(
        district, villages, st.sampled_from(["add", "remove"])).map(lambda t: {"json": {
            "district": t[0], "village_code": t[1], "action": t[2], "reason": "调整"}}))
    approve = st.tuples(tokens, st.just("POST"), st.just("/key-villages/approve"),
                        district.map(lambda d: {"json": {"district": d}}))
    return st.one_of(json_write, upload, patch, reopen_write, package, propose, adjust, approve)


@pytest.mark.slow
def test_no_write_by_a_district_token_changes_a_row_outside_its_district(api):
    for district in SCOPE:
        for role in ("editor", "admin"):
            created = api.call("POST", "/tokens", json={"role": role, "district": district})
            api.tokens[f"{role}@{district}"] = created.json()["token"]
    packages = [p["package_id"] for d in SCOPE
                for p in api.call("GET", f"/packages?district={d}&limit=50").json()["items"]]
    store = api.client.app.state.store
    answered: dict[int, int] = {}

    @given(request=_write_requests(api, packages))
    @settings(max_examples=60 if api.kind == "sqlite" else 15, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def no_row_outside_changes(request):
        token, method, path, kwargs = request
        district = token.split("@")[1]
        others = [d for d in SCOPE if d != district]
        before = [outside(store, d, packages) for d in others]
        response = api.call(method, path, token=token, **kwargs)
        assert response.status_code < 500, (path, response.text)
        answered[response.status_code] = answered.get(response.status_code, 0) + 1
        assert [outside(store, d, packages) for d in others] == before, (token, path, kwargs, response.text)
    no_row_outside_changes()
    # The property is not vacuous: some writes were accepted, some refused as not found.
    assert answered.get(404) and (answered.get(200, 0) + answered.get(201, 0)), answered


# -- scoped admins and the role table of the README -------------------------------------------------
# (role, scope) -> what it may do; "own" = its district only. The README's table, walked below.
ROLE_TABLE = {
    "viewer":  {"read": True, "analyse": False, "write": False, "tokens": None},
    "analyst": {"read": True, "analyse": True, "write": False, "tokens": None},
    "editor":  {"read": True, "analyse": True, "write": True, "tokens": None},
    "admin":   {"read": True, "analyse": True, "write": True, "tokens": "scope"},
}


@pytest.mark.slow
def test_the_role_table_of_the_readme_holds_for_every_role_and_scope(api):
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "| 角色 (role) | 范围 (scope) |" in readme
    store = api.client.app.state.store
    home_issue = api.home_issue
    for role, may in ROLE_TABLE.items():
        for scope in ("all", "home"):
            token = role if scope == "all" else f"{role}@home"
            assert f"| {role} | {'全部区县' if scope == 'all' else '一个区县'} |" in readme, (role, scope)
            read = api.call("GET", f"/issues/{home_issue['issue_id']}", token=token)
            assert read.status_code == 200
            analyse = api.call("GET", f"/rootcauses?district={HOME}", token=token)
            assert (analyse.status_code == 200) == may["analyse"], (token, analyse.status_code)
            write = api.call("PATCH", f"/issues/{home_issue['issue_id']}", token=token, json={"note": f"{token} 核实"})
            assert (write.status_code == 200) == may["write"], (token, write.status_code)
            foreign = api.call("PATCH", f"/issues/{api.other_issue['issue_id']}", token=token, json={"note": "x"})
            assert foreign.status_code == (200 if may["write"] and scope == "all" else 404 if may["write"] else 403)
            listed = api.call("GET", "/tokens", token=token)
            if may["tokens"] is None:
                assert listed.status_code == 403
                assert api.call("POST", "/tokens", token=token, json={"role": "viewer", "district": HOME}).status_code == 403
                continue
            # An admin: all-district administers everything; a district's admin its district only.
            districts = {t["district_code"] for t in listed.json()}
            assert districts == ({None, HOME} if scope == "all" else {HOME}), districts
            for body in ({"role": "admin"}, {"role": "viewer"}, {"role": "viewer", "district": OTHER}):
                minted = api.call("POST", "/tokens", token=token, json=body)
                assert minted.status_code == (201 if scope == "all" else 403), (token, body, minted.text)
            own = api.call("POST", "/tokens", token=token, json={"role": "admin", "district": HOME})
            assert own.status_code == 201 and own.json()["district_code"] == HOME
            everywhere = next(t for t in api.call("GET", "/tokens").json() if t["district_code"] is None
                              and t["revoked_at"] is None and t["role"] == "viewer")
            if scope == "home":
                assert api.call("DELETE", f"/tokens/{everywhere['token_id']}", token=token).status_code == 404
                assert api.call("DELETE", f"/tokens/{own.json()['token_id']}", token=token).status_code == 200
                entries = api.call("GET", "/audit?limit=500", token=token).json()["items"]
                assert entries and all(e["district_code"] == HOME for e in entries)
                # The all-district admin sees what this district's admin cannot.
                everything = api.call("GET", "/audit?limit=500").json()["items"]
                assert any(e["district_code"] != HOME for e in everything)
    # Refused writes are in the log, as refusals, under the district of the token that tried.
    refused = [e for e in store_audit(store) if e.action == "refused"]
    assert any(e.target == f"PATCH /issues/{api.other_issue['issue_id']}" and e.district_code == HOME
               for e in refused), refused[:3]


def store_audit(store):
    from graph import open_access
    return open_access(store).audit(10_000)[0]


def test_an_audit_entry_commits_with_its_change_or_not_at_all(api, monkeypatch):
    """If the audit entry cannot be written, the change it records is not written either."""
    from graph import open_access
    store = api.client.app.state.store
    issue = api.home_issue
    access_type = type(open_access(store))

    def broken(self, entry):
        raise RuntimeError("audit log unavailable")
    monkeypatch.setattr(access_type, "add_audit", broken)
    from fastapi.testclient import TestClient
    unraised = TestClient(api.client.app, raise_server_exceptions=False)  # the app's state is already open
    response = unraised.patch(f"/issues/{issue['issue_id']}", json={"note": "不应写入"},
                              headers={"Authorization": f"Bearer {api.tokens['editor']}"})
    assert response.status_code == 500
    monkeypatch.undo()
    assert "整改佐证" not in api.call("GET", f"/issues/{issue['issue_id']}").json()["extra"]
    # An upload of any size lists every problem it changed, with the file's hash.
    rows = [{**ROW, "issue_id": f"BULK-{n}", "village_code": issue["village_code"], "category": issue["category"],
             "status": "未整改"} for n in range(250)]
    content = ledger_csv(rows)
    assert api.call("POST", "/issues/upload", token="editor", files={"file": ("台账.csv", content)}).status_code == 201
    [entry] = [e for e in api.call("GET", "/audit").json()["items"] if e["action"] == "issues.upload"]
    import hashlib
    assert entry["after"]["file"] == {"name": "台账.csv", "sha256": hashlib.sha256(content).hexdigest()}
    assert sorted(entry["after"]["issues"]) == sorted(r["issue_id"] for r in rows)
    assert entry["before"]["issues"]["BULK-249"] is None and entry["after"]["issues"]["BULK-249"]["status"] == "open"


def test_the_access_store_keeps_tokens_and_audit_beside_the_graph(any_store):
    """The AccessStore contract on both stores: a district's tokens and entries filtered, and an
    entry written in ``atomic()`` rolled back with the change when the block fails."""
    from graph import open_access
    from graph.access import Scope, create_token, tokens
    from graph.store import AuditEntry

    from .conftest import load_scope
    load_scope(any_store, SCOPE)
    access = open_access(any_store)
    create_token(any_store, "editor", HOME)
    create_token(any_store, "viewer")
    with pytest.raises(Exception, match="本区县"):
        create_token(any_store, "viewer", OTHER, by=Scope(HOME))
    assert [t.district_code for t in tokens(any_store, Scope(HOME))] == [HOME]
    assert sorted(t.district_code or "" for t in tokens(any_store)) == ["", HOME]
    entry = AuditEntry("2026-12-03T00:00:00+00:00", "t1", "editor", "issues.patch", "X-1", None, "{}", HOME)
    version = any_store.data_version()
    with pytest.raises(RuntimeError):
        with any_store.atomic():
            access.add_audit(entry)
            open_workflow(any_store).mark_package_end(f"PKG-{HOME}001-低保特困救助", "agency", dt.date(2026, 1, 5), "x", "now")
            raise RuntimeError("the change fails after its entry was written")
    assert access.audit()[1] == 0 and open_workflow(any_store).package_ends([f"PKG-{HOME}001-低保特困救助"]) == {}
    assert any_store.data_version() == version
    with any_store.atomic():
        access.add_audit(entry)
        access.add_audit(AuditEntry(entry.at, "t2", "admin", "tokens.create", "t3", None, "{}", None))
    assert [e.target for e in access.audit(district=HOME)[0]] == ["X-1"]
    assert access.audit()[1] == 2 and any_store.data_version() > version
