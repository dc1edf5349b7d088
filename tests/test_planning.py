"""Planning the term and following rectification, on generated ledgers: classification (from the
graph and from an office's base data), inspection modes, a plan that covers every village before
the term ends, deadline warnings, a reproducible back-check sample, effectiveness figures."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from graph import open_workflow, service
from graph.analysis.planning import ARTICLE, CORRUPTION_FORMS, DIRECT, JOINT, KEY, SPECIAL
from graph.errors import InputError
from loaders.base_data import read_base_data, read_config
from loaders.catalog import catalog_units
from loaders.scenario import generate_scenario
from loaders.tables import load_table

from .conftest import DONGFANG, WANZHOU, run_cli, write_csv


@pytest.fixture
def wanzhou(chongqing, tmp_path):
    chongqing.upsert_units(catalog_units(chongqing, WANZHOU))
    scenario = generate_scenario(chongqing, districts=[WANZHOU], seed=3)
    files = scenario.write(tmp_path / "scenario")
    for table in ("units", "duties", "issues"):
        load_table(chongqing, table, files[table])
    return chongqing


PLANNING_DAY = dt.date(2026, 12, 3)


@pytest.fixture(scope="module")
def wanzhou_term(chongqing_template, tmp_path_factory):
    """万州区 with the generated ledger of seed 9 (the term before) and its base data: the office
    plans the next five-year term. Loaded once; tests that write use ``wanzhou`` instead."""
    import shutil

    from graph.sqlite_store import SQLiteStore
    work = tmp_path_factory.mktemp("wanzhou9")
    shutil.copy(chongqing_template, work / "xuncha.db")
    store = SQLiteStore(work / "xuncha.db")
    store.upsert_units(catalog_units(store, WANZHOU))
    files = generate_scenario(store, districts=[WANZHOU], seed=9).write(work / "scenario")
    for table in ("units", "duties", "issues"):
        load_table(store, table, files[table])
    base = read_base_data(files["base"], {v.code for v in store.divisions("village", within=WANZHOU)})
    yield store, base
    store.close()


def test_classification_from_the_graph_and_from_base_data(wanzhou, tmp_path):
    classes = service.classification(wanzhou, WANZHOU, config=read_config())
    assert len(classes) == 610
    key = [c for c in classes if c.klass == KEY]
    assert 0 < len(key) < 610
    assert all(c.score >= read_config()["threshold"] for c in key)
    assert all(abs(sum(c.contributions.values()) - c.score) < 1e-9 for c in classes)
    quiet = min(classes, key=lambda c: c.score)
    # An office marks that quiet village 软弱涣散 in its base data (a GBK CSV, as Excel saves it):
    path = tmp_path / "基础信息.csv"
    path.write_bytes(f"村(社区)代码,人口,软弱涣散\n{quiet.village_code},800,是\n".encode("gbk"))
    base = read_base_data(path, {c.village_code for c in classes})
    again = {c.village_code: c for c in service.classification(wanzhou, WANZHOU, base, read_config())}
    assert again[quiet.village_code].klass == KEY and again[quiet.village_code].reasons[0] == "软弱涣散"


def test_bad_base_data_is_refused_with_its_place(wanzhou, tmp_path):
    path = write_csv(tmp_path / "基础信息.csv", ["村(社区)代码", "人口", "软弱涣散"],
                     [["500101001001", "很多", "是"], ["500102001001", "100", "否"], ["500101001002", "-3", "也许"]])
    with pytest.raises(InputError) as caught:
        read_base_data(path, {v.code for v in wanzhou.divisions("village", within=WANZHOU)})
    assert [(e.row, e.column) for e in caught.value.errors] == [(2, "人口"), (3, "村(社区)代码"), (4, "人口"),
                                                                (4, "软弱涣散")]


def test_modes_follow_the_class_and_special_inspections_are_proposed_apart(wanzhou):
    view = service.planning_view(wanzhou, WANZHOU, config=read_config())
    causes = [c for c in service.root_causes(wanzhou, district=WANZHOU) if c["level"] == "district"]
    assert causes, "seed 3 plants a district cause that surfaces"
    for m in view["modes"]:
        assert m["mode"] != SPECIAL, f"专项巡察不是村的巡察方式：{ARTICLE['special_supplement']}"
        assert (m["mode"] == DIRECT) == (m["class"] == KEY), ARTICLE["key_direct"]
    [proposal] = [p for p in view["special"] if p["cause"]["category"] == causes[0]["category"]]
    assert proposal["lead_unit"]["unit_name"] == causes[0]["unit_name"], ARTICLE["special_supplement"]
    assert proposal["scope"]["village_codes"] == sorted(causes[0]["villages"])
    assert proposal["topic"] == f"{causes[0]['category']}专项巡察"
    # Each township with 一般村 is itself inspected with them (乡村一体巡).
    joint = {m["township_code"] for m in view["modes"] if m["mode"] == JOINT}
    assert {t["township_code"] for t in view["townships"] if t["mode"] == JOINT} == joint, ARTICLE["joint_together"]


def _term_plan(store, teams=6, **options):
    """万州's plan for a five-year term beginning on the office's planning day."""
    return service.coverage_plan(store, WANZHOU, teams=teams, start=PLANNING_DAY, today=PLANNING_DAY,
                                 term_end=dt.date(2031, 12, 2), term_start=PLANNING_DAY, config=read_config(), **options)


def test_the_plan_covers_every_village_with_teams_dates_and_townships_kept_together(wanzhou_term):
    store, base = wanzhou_term
    plan = _term_plan(store, base_data=base)
    planned = [m["village_code"] for r in plan["rounds"] for m in r["villages"]]
    assert len(planned) == len(set(planned)) == 610 and plan["feasible"] and plan["covered"] == 610, ARTICLE["coverage"]
    assert all(r["within_term"] and r["ends_on"] <= "2031-12-02" for r in plan["rounds"])
    # Rounds follow each other: each ends the day before the next starts, all dated.
    for earlier, later in zip(plan["rounds"], plan["rounds"][1:]):
        assert dt.date.fromisoformat(earlier["ends_on"]) + dt.timedelta(days=1) == dt.date.fromisoformat(later["starts_on"])
    # Key villages by direct inspection, in the first half of the term.
    key = [(r, m) for r in plan["rounds"] for m in r["villages"] if m["class"] == KEY]
    assert key and all(m["mode"] == DIRECT and r["round"] <= plan["rounds_available"] / 2 for r, m in key), \
        ARTICLE["key_direct"]
    # Every township with 一般村 is visited, in the same round as all its 一般村, by a named team.
    rounds_of: dict[str, set[int]] = {}
    for r in plan["rounds"]:
        for o in r["villages"] + r["townships"]:
            assert o["team"].startswith("第") and o["team"].endswith("组")
            if o["mode"] == JOINT:
                rounds_of.setdefault(o["township_code"], set()).add(r["round"])
    visited = {t["township_code"] for r in plan["rounds"] for t in r["townships"]}
    assert visited == {t["township_code"] for t in plan["townships"] if t["mode"] == JOINT}, ARTICLE["joint_together"]
    assert all(len(rounds) == 1 for rounds in rounds_of.values()), ARTICLE["joint_together"]
    # No team holds more than its share of a round.
    for r in plan["rounds"]:
        load: dict[str, float] = {}
        for o in r["villages"] + r["townships"]:
            load[o["team"]] = load.get(o["team"], 0) + 1 / plan["per_team"][o["mode"]]
        assert max(load.values()) <= 1 + 1e-9 and len(load) <= 6
    # 专项巡察 proposals are listed beside the plan, not in it.
    assert plan["special"] and not any(m["mode"] == SPECIAL for r in plan["rounds"] for m in r["villages"])


def test_impossible_plans_are_refused_in_chinese(wanzhou_term):
    store, _ = wanzhou_term
    args = ["plan", "--district", WANZHOU, "--as-of", "2026-12-03", "--term-end", "2031-12-02"]
    for extra, option in ((["--teams", "0"], "--teams"), (["--teams", "6", "--direct", "0"], "--direct"),
                          (["--teams", "6", "--joint", "-1"], "--joint"),
                          (["--teams", "6", "--start", "2026-01-01"], "--start"),
                          (["--teams", "6", "--rounds-per-year", "5"], "--rounds-per-year")):
        refused = run_cli(*args, *extra, store=f"sqlite:///{store.path}")
        assert refused.returncode == 2 and option in refused.stderr and "应为" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    backwards = run_cli("plan", "--district", WANZHOU, "--teams", "6", "--as-of", "2026-12-03", "--start",
                        "2027-01-01", "--term-end", "2026-12-31", store=f"sqlite:///{store.path}")
    assert backwards.returncode == 2 and "--term-end" in backwards.stderr and "None" not in backwards.stderr


def test_a_plan_that_cannot_finish_says_what_it_would_take(wanzhou):
    args = ["plan", "--district", WANZHOU, "--as-of", "2026-12-03", "--start", "2027-01-01", "--term-end",
            "2027-12-31", "--term-start", "2030-01-01", "--json"]
    short = run_cli(*args, "--teams", "3", store=f"sqlite:///{wanzhou.path}")
    assert short.returncode == 1
    plan = json.loads(short.stdout)
    assert not plan["feasible"] and plan["covered"] < 610 and plan["rounds_needed"] > plan["rounds_available"]
    enough = run_cli(*args, "--teams", str(plan["teams_needed"]), store=f"sqlite:///{wanzhou.path}")
    assert enough.returncode == 0 and json.loads(enough.stdout)["covered"] == 610


def test_villages_inspected_this_term_are_not_planned_again_found_problems_or_not(wanzhou, tmp_path):
    found = {i.village_code for i in wanzhou.issues(WANZHOU)}
    quiet = sorted({v.code for v in wanzhou.divisions("village", within=WANZHOU)} - found)
    assert len(quiet) > 5, "seed 3 leaves villages where nothing was found"
    # The office records a round's visits, with no problem found in these villages.
    record = write_csv(tmp_path / "巡察记录.csv", ["对象代码", "巡察轮次", "开始日期", "结束日期", "巡察组"],
                       [[code, "2026年第1轮", "2026-09-01", "2026-10-15", "第1组"] for code in quiet])
    loaded = run_cli("inspections", "load", str(record), "--district", WANZHOU, "--json",
                     store=f"sqlite:///{wanzhou.path}")
    assert loaded.returncode == 0, loaded.stderr
    again = run_cli("inspections", "load", str(record), "--district", WANZHOU, "--json",
                    store=f"sqlite:///{wanzhou.path}")
    assert json.loads(again.stdout)["loaded"]["unchanged"] == len(quiet)  # loading twice changes nothing
    plan = service.coverage_plan(wanzhou, WANZHOU, teams=40, term_end=dt.date(2030, 12, 31), start=dt.date(2027, 1, 1),
                                 today=dt.date(2026, 12, 3), config=read_config())
    planned = {m["village_code"] for r in plan["rounds"] for m in r["villages"]}
    assert plan["inspected"] == len(found) + len(quiet) == 610 and not planned
    # A township whose villages were all visited is not planned again either.
    assert plan["rounds"] == [] and plan["feasible"]


def test_bad_inspection_records_are_refused_whole(wanzhou, tmp_path):
    bad = write_csv(tmp_path / "巡察记录.csv", ["对象代码", "巡察轮次", "开始日期", "结束日期"],
                    [[DONGFANG, "2026年第1轮", "2026-09-01", "2026-10-15"], ["500102001001", "2026年第1轮", "2026-09-01", ""],
                     [DONGFANG, "2026年第2轮", "2026-13-01", ""], [DONGFANG, "2026年第3轮", "2026-10-01", "2026-09-01"]])
    refused = run_cli("inspections", "load", str(bad), "--district", WANZHOU, store=f"sqlite:///{wanzhou.path}")
    assert refused.returncode == 2
    assert "第 3 行" in refused.stderr and "500102001001" in refused.stderr and "第 4 行" in refused.stderr
    assert "第 5 行" in refused.stderr and "不早于开始日期" in refused.stderr
    assert open_workflow(wanzhou).inspections(WANZHOU) == []  # nothing half-written


def test_warnings_back_check_and_effectiveness(wanzhou):
    status = service.rectification_status(wanzhou, WANZHOU, dt.date(2022, 8, 1))
    assert sum(status["counts"].values()) == len(wanzhou.issues(WANZHOU))
    assert status["counts"]["due_soon"] + status["counts"]["on_time"] > 0
    first = run_cli("backcheck", "--district", WANZHOU, "--seed", "9", "--json", store=f"sqlite:///{wanzhou.path}")
    second = run_cli("backcheck", "--district", WANZHOU, "--seed", "9", "--json", store=f"sqlite:///{wanzhou.path}")
    other = run_cli("backcheck", "--district", WANZHOU, "--seed", "10", "--json", store=f"sqlite:///{wanzhou.path}")
    sample = json.loads(first.stdout)["villages"]
    assert sample == json.loads(second.stdout)["villages"] != json.loads(other.stdout)["villages"]
    closed = {i.issue_id for i in wanzhou.issues(WANZHOU) if i.status in ("rectified", "closed")}
    with_closed = {i.village_code for i in wanzhou.issues(WANZHOU) if i.issue_id in closed}
    # Villages are sampled (5 % of those with done items), and each brings all its done items.
    assert len(sample) == -(-len(with_closed) * 5 // 100) and {v["village_code"] for v in sample} <= with_closed
    for v in sample:
        assert {i["issue_id"] for i in v["issues"]} == {i.issue_id for i in wanzhou.issues(WANZHOU)
                                                         if i.village_code == v["village_code"] and i.issue_id in closed}
    result = service.evaluation(wanzhou, WANZHOU, dt.date(2026, 11, 28))
    issues = wanzhou.issues(WANZHOU)
    assert result["share_closed"] == round(len(closed) / len(issues), 4)
    assert len(result["townships"]) == 52 and set(result["category_mix_by_round"]) == {i.round_id for i in issues}
    first_found = {r: min(i.found_on for i in issues if i.round_id == r) for r in result["shifts_by_round"]}
    assert list(result["shifts_by_round"]) == sorted(first_found, key=first_found.get), "rounds by date, not text"
    # The article's shifts, per round: 一肩挑 is its own category in the catalog.
    for round_id, shift in result["shifts_by_round"].items():
        in_round = [i for i in issues if i.round_id == round_id]
        share = sum(i.category == "书记主任“一肩挑”运行" for i in in_round) / len(in_round)
        assert shift["secretary_director"] == round(share, 4) and shift["problems"] == len(in_round)
        # The third shift: the forms of corruption the problems show (虚报冒领, 优亲厚友, …).
        shown = sum(any(f in i.description for f in CORRUPTION_FORMS) for i in in_round) / len(in_round)
        assert shift["corruption_forms"] == round(shown, 4) > 0, ARTICLE["shifts"]
        assert shift["forms"]["虚报冒领"] == sum("虚报冒领" in i.description for i in in_round)


def test_the_generator_writes_base_data_that_follows_the_ledger(chongqing, tmp_path):
    chongqing.upsert_units(catalog_units(chongqing, WANZHOU))
    scenario = generate_scenario(chongqing, districts=[WANZHOU], seed=3)
    files = scenario.write(tmp_path / "scenario")
    for table in ("units", "duties", "issues"):
        load_table(chongqing, table, files[table])
    villages = {v.code for v in chongqing.divisions("village", within=WANZHOU)}
    base = read_base_data(files["base"], villages)
    assert set(base) == villages
    problems: dict[str, int] = {}
    for issue in scenario.issues:
        problems[issue["village_code"]] = problems.get(issue["village_code"], 0) + 1
    # Disputes rise with the risk the ledger was drawn from: busier villages have more of them.
    ranked = sorted(villages, key=lambda v: problems.get(v, 0))
    quiet, busy = ranked[:150], ranked[-150:]
    mean = lambda vs: sum(base[v]["disputes"] for v in vs) / len(vs)  # noqa: E731
    assert mean(busy) > 1.3 * mean(quiet)
    # The same seed gives the same ledger with or without the base data's own random stream.
    again = generate_scenario(chongqing, districts=[WANZHOU], seed=3)
    assert again.issues == scenario.issues and again.base == scenario.base


def test_one_notice_per_receiving_unit_from_causes_and_inspectors_hints(wanzhou, tmp_path):
    """“根子在上级……需要“机关、基层”两端发力,联动整改”: every unit the analysis or the inspectors
    point at gets one notice, addressed to its leader in charge; done items are not re-listed."""
    from openpyxl import load_workbook
    store = f"sqlite:///{wanzhou.path}"
    [cause] = [c for c in service.root_causes(wanzhou, district=WANZHOU)][:1]
    units = write_csv(tmp_path / "单位.csv", ["单位编号", "单位名称", "层级", "所属区划代码", "职能", "分管领导"],
                      [[cause["unit_id"], cause["unit_name"], "区县" if cause["level"] == "district" else "乡镇",
                        cause["area_code"], cause["unit_id"].split("-", 1)[1], "王五（副区长）"]])
    assert run_cli("load", "units", str(units), store=store).returncode == 0
    assert run_cli("load", "units", str(units), "--json", store=store).stdout.count('"unchanged": 1') == 1
    # The inspectors name 组织部 as the root of two problems: one open, one closed in the term before.
    ledger = write_csv(tmp_path / "提示.csv", ["问题编号", "村(社区)代码", "巡察轮次", "发现日期", "问题类别", "严重程度",
                                              "整改状态", "销号日期", "根源单位"],
                       [["HINT-1", DONGFANG, "2026年第2轮", "2026-10-09", "基层党组织建设", "一般", "未整改", "",
                         "万州区委组织部"],
                        ["HINT-0", DONGFANG, "2021年第1轮", "2021-04-01", "基层党组织建设", "一般", "已销号", "2021-06-01",
                         "500101-organization"]])
    assert run_cli("load", "issues", str(ledger), store=store).returncode == 0, "hint by name or by id"
    result = run_cli("notice", "--district", WANZHOU, "--as-of", "2026-11-28", "--term-start", "2022-01-01",
                     "--out", str(tmp_path / "notices"), "--json", store=store)
    assert result.returncode == 0, result.stderr
    notices = {n["unit_id"]: n for n in json.loads(result.stdout)["notices"]}
    assert len(notices) == len(json.loads(result.stdout)["notices"]), "one notice per receiving unit"
    lead = notices[cause["unit_id"]]
    sheet = load_workbook(lead["xlsx"])["抄告单"]
    text = "\n".join(str(c.value) for row in sheet.iter_rows() for c in row if c.value)
    assert "巡察发现问题反馈移交抄告单" in text and "分管领导：王五（副区长）" in text and "2027-02-26" in text
    assert not re.search(r"\d+\.\d+ ?个", text), "counts are whole numbers"
    listing = load_workbook(lead["xlsx"])["基层端清单"]
    assert [c.value for c in listing[1]][:4] == ["村(社区)代码", "村(社区)", "乡镇(街道)", "问题编号"]
    statuses = {row[6] for row in listing.iter_rows(min_row=2, values_only=True)}
    assert statuses and statuses <= {"未整改", "整改中", "复发重开"}, "done items are counted, not re-listed"
    # The unit only the inspectors named has its notice too, with the open problem and not the old one.
    organisation = notices["500101-organization"]
    rows = list(load_workbook(organisation["xlsx"])["基层端清单"].iter_rows(min_row=2, values_only=True))
    assert [r[3] for r in rows] == ["HINT-1"] and rows[0][9] == "巡察组提示"
    page = open(organisation["html"], encoding="utf-8").read()
    assert "分管领导：____" in page and "HINT-1" in page and "HINT-0" not in page
    assert "http" not in page and "<script" not in page  # prints offline


def test_recurrence_links_in_the_history(wanzhou):
    from graph.analysis.planning import recurrence_links
    links = recurrence_links(wanzhou.issues(WANZHOU))
    assert links
    history = run_cli("history", links[0]["closed"], "--json", store=f"sqlite:///{wanzhou.path}")
    assert json.loads(history.stdout)["recurrence"][0]["reopened_by"] == links[0]["reopened_by"]


def test_a_package_closes_only_when_both_ends_are_done(wanzhou, tmp_path):
    [package, *_] = service.packages(wanzhou, district=WANZHOU)
    pid = package["package_id"]
    assert pid == f"PKG-{package['root_cause']['area_code']}-{package['root_cause']['category']}"
    assert not package["status"]["closable"] and package["status"]["grassroots_open"] > 0
    store = f"sqlite:///{wanzhou.path}"
    refused = run_cli("package", "close", pid, "--by", "巡察办张三", store=store)
    assert refused.returncode == 2 and "机关端整改尚未完成" in refused.stderr and "基层端还有" in refused.stderr
    assert run_cli("package", "agency-done", pid, "--by", "巡察办张三", store=store).returncode == 2  # no evidence note
    done = run_cli("package", "agency-done", pid, "--note", "已出台制度", "--on", "2026-11-01", "--by", "巡察办张三",
                   "--json", store=store)
    assert json.loads(done.stdout)["status"]["agency_done"]
    # One end done: still refused, the grassroots problems are open.
    again = run_cli("package", "close", pid, "--by", "巡察办张三", store=store)
    assert again.returncode == 2 and "机关端" not in again.stderr.split("；", 1)[1] and "基层端还有" in again.stderr
    # Every grassroots problem rectified: now it closes.
    rows = [[i["issue_id"], "已整改", "2026-11-20"] for v in package["grassroots_end"] for i in v["issues"]
            if i["status"] in ("open", "in_progress")]
    ids = {r[0] for r in rows}
    full = [[i.issue_id, i.village_code, i.round_id, i.found_on.isoformat(), i.category, i.severity,
             "rectified" if i.issue_id in ids else i.status, i.closed_on.isoformat() if i.closed_on else
             ("2026-11-20" if i.issue_id in ids else "")] for i in wanzhou.issues(WANZHOU)]
    load_table(wanzhou, "issues", write_csv(tmp_path / "rectified.csv", ["issue_id", "village_code", "round_id",
               "found_on", "category", "severity", "status", "closed_on"], full))
    closed = run_cli("package", "close", pid, "--on", "2026-11-25", "--by", "巡察办主任李四", "--json", store=store)
    assert closed.returncode == 0, closed.stderr
    assert json.loads(closed.stdout)["status"] | {} == {**json.loads(closed.stdout)["status"], "closed": True,
                                                         "closed_on": "2026-11-25"}
    # The category found again under the same root unit after the closure: the package reopens.
    village = package["grassroots_end"][0]["village_code"]
    category = package["root_cause"]["category"]
    load_table(wanzhou, "issues", write_csv(tmp_path / "later.csv", ["issue_id", "village_code", "round_id", "found_on",
               "category", "severity", "status"], [["LATER-1", village, "2026年第9轮", "2026-11-27", category, "一般",
                                                    "未整改"]]))
    preview = run_cli("reopen", "--district", WANZHOU, "--json", store=store)
    assert preview.returncode == 0, preview.stderr
    assert [p["reopened_by"] for p in json.loads(preview.stdout)["packages"] if p["package_id"] == pid] == [["LATER-1"]]
    assert service.packages(wanzhou, district=WANZHOU)[0]["status"]["closed"]  # the preview wrote nothing
    applied = run_cli("reopen", "--district", WANZHOU, "--apply", "--on", "2026-11-28", "--by", "巡察办张三", store=store)
    assert applied.returncode == 0 and "已重新打开" in applied.stdout, applied.stderr
    state = next(p for p in service.packages(wanzhou, district=WANZHOU) if p["package_id"] == pid)["status"]
    assert not state["closed"] and state["reopened_on"] == "2026-11-28" and "LATER-1" in state["reopened_note"]
    assert not state["closable"]  # the new problem is open at the grassroots end
    # Who did each step, and when, stays in the package's history.
    assert [(h["step"], h["on"], h["by"]) for h in state["history"]] == [
        ("agency", "2026-11-01", "巡察办张三"), ("closed", "2026-11-25", "巡察办主任李四"), ("reopened", "2026-11-28", "巡察办张三")]


def test_the_key_village_list_is_proposed_adjusted_and_approved(wanzhou, tmp_path):
    store = f"sqlite:///{wanzhou.path}"
    villages = wanzhou.divisions("village", within=WANZHOU)
    listed, extra, other = villages[0], villages[1], villages[2]
    # The townships' proposal, as Chinese Excel saves a CSV (GBK), with a title row above the header.
    proposal = tmp_path / "乡镇推荐重点村名单.csv"
    proposal.write_text(f"万州区乡镇推荐重点村名单\n村(社区)代码,村(社区)名称,推荐理由\n{listed.code},{listed.name},信访多\n",
                        encoding="gbk")
    bad = write_csv(tmp_path / "bad.csv", ["村(社区)代码", "推荐理由"], [[listed.code, "信访多"], ["500102001001", "外区"]])
    refused = run_cli("keylist", "propose", str(bad), "--district", WANZHOU, "--by", "各乡镇", store=store)
    assert refused.returncode == 2 and "bad.csv 第 3 行" in refused.stderr and "500102001001" in refused.stderr
    assert open_workflow(wanzhou).key_villages(WANZHOU) is None  # nothing half-written
    # the README's own order, the file after an option (argparse alone refused it)
    proposed = run_cli("keylist", "propose", "--district", WANZHOU, str(proposal), "--by", "各乡镇(街道)", "--json",
                       store=store)
    assert proposed.returncode == 0, proposed.stderr
    record = json.loads(proposed.stdout)
    assert record["status"] == "proposed" and list(record["villages"]) == [listed.code]
    assert record["villages"][listed.code]["reason"] == "信访多" and record["proposed"]["by"] == "各乡镇(街道)"
    # The office adjusts: a reason is required, and recorded with who made the change.
    no_reason = run_cli("keylist", "add", "--district", WANZHOU, "--village", extra.code, "--by", "巡察办张三", store=store)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    added = run_cli("keylist", "add", "--district", WANZHOU, "--village", extra.code, "--reason", "历年问题多",
                    "--by", "巡察办张三", "--json", store=store)
    change = json.loads(added.stdout)["changes"][0]
    assert (change["village_code"], change["action"], change["reason"], change["by"]) == (
        extra.code, "add", "历年问题多", "巡察办张三")
    # Not yet approved: classification is the indicators'.
    by_indicators = {c.village_code: c.klass for c in service.classification(wanzhou, WANZHOU, use_list=False)}
    assert {c.village_code: c.klass for c in service.classification(wanzhou, WANZHOU)} == by_indicators
    approved = json.loads(run_cli("keylist", "approve", "--district", WANZHOU, "--by", "巡察办主任李四", "--json",
                                  store=store).stdout)
    assert approved["status"] == "approved" and approved["approved"]["by"] == "巡察办主任李四" and approved["approved"]["at"]
    classes = {c.village_code: c for c in service.classification(wanzhou, WANZHOU)}
    assert classes[listed.code].klass == KEY and classes[listed.code].reasons == ["乡镇推荐：信访多"]
    assert classes[extra.code].klass == KEY and classes[extra.code].reasons == ["巡察办增列：历年问题多"]
    assert classes[other.code].klass != KEY and sum(c.klass == KEY for c in classes.values()) == 2
    assert run_cli("keylist", "approve", "--district", WANZHOU, "--by", "巡察办主任李四", store=store).returncode == 2
    # A change after approval sends the list back: the indicators decide again until it is approved.
    removed = run_cli("keylist", "remove", "--district", WANZHOU, "--village", extra.code, "--reason", "已整改到位",
                      "--by", "巡察办张三", store=store)
    assert removed.returncode == 0 and "待审定" in removed.stdout
    # on screen, times are the office's (+08:00 unless set), as every other command shows them
    at = dt.datetime.fromisoformat(record["proposed"]["at"]).astimezone(dt.timezone(dt.timedelta(hours=8)))
    on_screen = run_cli("keylist", "show", "--district", WANZHOU, store=store, env={"XUNCHA_TIMEZONE": "+08:00"})
    assert "+00:00" not in on_screen.stdout and at.strftime("%Y-%m-%d %H:%M:%S") in on_screen.stdout, on_screen.stdout
    assert {c.village_code: c.klass for c in service.classification(wanzhou, WANZHOU)} == by_indicators
    shown = json.loads(run_cli("keylist", "show", "--district", WANZHOU, "--json", store=store,
                               env={"XUNCHA_TIMEZONE": "+08:00"}).stdout)
    assert [c["action"] for c in shown["changes"]] == ["add", "remove"] and shown["approved"] is None
    # and in the JSON beside UTC, as `history --json` gives them
    assert shown["proposed"]["at_local"] == at.strftime("%Y-%m-%d %H:%M:%S")
    assert all(c["at_local"] and "+00:00" not in c["at_local"] for c in shown["changes"])
    assert set(shown["against_indicators"]) == {"listed_but_ordinary", "key_but_not_listed"}
    filed = run_cli("keylist", "show", "--district", WANZHOU, "--xlsx", str(tmp_path / "名单.xlsx"), store=store)
    assert filed.returncode == 0, filed.stderr
    sheets = _sheets_are_fileable(tmp_path / "名单.xlsx")
    changes = sheets["调整记录"][1:]
    assert [(r[0], r[2], r[4]) for r in changes] == [(extra.code, "增列", "巡察办张三"), (extra.code, "移出", "巡察办张三")]
    assert all(isinstance(r[5], dt.datetime) for r in changes)  # when, as a date-time cell in the office's zone


def test_a_weak_organisation_stays_key_and_direct_after_the_list_is_approved(wanzhou, tmp_path):
    """“直接巡村……主要适用于……党组织软弱涣散的村”: the townships' list, once approved, adjusts the
    other villages, never that rule."""
    store = f"sqlite:///{wanzhou.path}"
    villages = wanzhou.divisions("village", within=WANZHOU)
    weak, listed = [v.code for v in villages[10:13]], villages[0].code
    base = tmp_path / "基础信息.csv"
    base.write_bytes(("村(社区)代码,人口,软弱涣散\n" + "".join(f"{code},800,是\n" for code in weak)).encode("gbk"))
    proposal = write_csv(tmp_path / "名单.csv", ["村(社区)代码", "推荐理由"], [[listed, "信访多"]])
    assert run_cli("keylist", "propose", str(proposal), "--district", WANZHOU, "--by", "各乡镇(街道)",
                   store=store).returncode == 0
    assert run_cli("keylist", "add", "--district", WANZHOU, "--village", villages[1].code, "--reason", "历年问题多",
                   "--by", "巡察办张三", store=store).returncode == 0
    assert run_cli("keylist", "approve", "--district", WANZHOU, "--by", "巡察办主任", store=store).returncode == 0
    result = run_cli("classify", "--district", WANZHOU, "--base", str(base), "--json", store=store)
    rows = {r["village_code"]: r for r in json.loads(result.stdout)}
    for code in weak:
        assert rows[code]["class"] == KEY and rows[code]["mode"] == DIRECT, ARTICLE["direct_for"]
        assert rows[code]["reasons"][0].startswith("软弱涣散")
    assert rows[listed]["class"] == KEY and rows[villages[1].code]["class"] == KEY, ARTICLE["township_list"]
    assert sum(r["class"] == KEY for r in rows.values()) == 5
    # The townships send a corrected list: the office's addition (with its reason) is kept.
    again = run_cli("keylist", "propose", str(proposal), "--district", WANZHOU, "--by", "各乡镇(街道)", "--json",
                    store=store)
    record = json.loads(again.stdout)
    assert record["status"] == "adjusted" and record["villages"][villages[1].code]["reason"] == "历年问题多"
    assert [c["by"] for c in record["changes"]] == ["巡察办张三"]


def test_every_rule_quotes_the_article_and_the_table_names_it():
    """Each sentence a rule follows is the article's own (its parts, where “……” leaves words out),
    and docs/planning.md's table maps it to its rule and test."""
    from pathlib import Path
    table = (Path(__file__).resolve().parent.parent / "docs" / "planning.md").read_text(encoding="utf-8")
    tests = {name for module in Path(__file__).resolve().parent.glob("test_*.py")
             for name in re.findall(r"^def (test_\w+)", module.read_text(encoding="utf-8"), re.M)}
    for key, sentence in ARTICLE.items():
        rows = [line for line in table.splitlines() if line.startswith(f"| `{key}` |")]
        assert len(rows) == 1, f"docs/planning.md 缺少规则 {key}：{sentence}"
        row = rows[0]
        for part in sentence.split("……"):
            assert part in row, f"{key}: {part}"
        named = set(re.findall(r"`(test_\w+)`", row))
        assert named or "doctest" in row, f"{key} 没有对应的测试：{sentence}"
        assert named <= tests, f"{key}: {sorted(named - tests)}"


def _sheets_are_fileable(path) -> dict:
    """Every sheet of a report: Chinese headers, a frozen header row, no formula anywhere, dates
    as date cells. The sheets by title, as rows of values."""
    from openpyxl import load_workbook
    workbook = load_workbook(path)
    out = {}
    for sheet in workbook.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        cells = [c for row in sheet.iter_rows() for c in row]
        assert not any(c.data_type == "f" for c in cells), f"{path} {sheet.title}: a formula"
        assert not any(isinstance(c.value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", c.value) for c in cells), \
            f"{path} {sheet.title}: a date written as text"
        header = next((r for r in rows if r and all(isinstance(v, str) for v in r if v is not None)), None)
        if sheet.title != "抄告单":
            assert sheet.freeze_panes and header and all(re.search(r"[\u4e00-\u9fff]", h) for h in header if h), \
                f"{path} {sheet.title}: {header}"
        out[sheet.title] = rows
    return out


def test_the_plan_and_its_proposals_are_fileable(wanzhou_term, tmp_path):
    """The plan an office files: one row per team's object with dates, the townships' modes, and the
    专项巡察 proposals on a sheet of their own (“可作为对村(社区)巡察的补充方式”)."""
    store, base_data = wanzhou_term
    columns = {"population": "人口", "collective_funds": "集体资金", "projects": "项目数", "disputes": "矛盾纠纷和信访",
               "weak_organisation": "软弱涣散", "integrity_risk": "廉政风险"}
    base = write_csv(tmp_path / "基础信息.csv", ["村(社区)代码", *columns.values()],
                     [[code, *(values.get(k, 0) if k not in ("weak_organisation", "integrity_risk") else
                               ("是" if values.get(k) else "否") for k in columns)] for code, values in base_data.items()])
    weak = sum(1 for values in base_data.values() if values.get("weak_organisation"))
    path = tmp_path / "计划.xlsx"
    result = run_cli("plan", "--district", WANZHOU, "--teams", "6", "--as-of", "2026-12-03", "--term-end", "2031-12-02",
                     "--term-start", "2026-12-03", "--base", str(base), "--xlsx", str(path), store=f"sqlite:///{store.path}")
    assert result.returncode == 0, result.stderr
    sheets = _sheets_are_fileable(path)
    assert set(sheets) == {"巡察计划", "轮次", "乡镇(街道)", "专项巡察建议"}
    header, *rows = sheets["巡察计划"]
    assert header[:5] == ("轮次", "巡察轮次", "开始日期", "结束日期", "巡察组")
    assert len([r for r in rows if r[5] == "村(社区)"]) == 610 and all(isinstance(r[2], dt.datetime) for r in rows)
    topics = {r[1]: r for r in sheets["专项巡察建议"][1:]}
    assert "软弱涣散村党组织专项巡察" in topics and topics["软弱涣散村党组织专项巡察"][3] == weak > 0, ARTICLE["special_for"]
    assert topics["软弱涣散村党组织专项巡察"][6] == "万州区委组织部"
    # A finished round loads back from the plan as inspection records, and is not planned again.
    work = tmp_path / "term.db"
    import shutil
    shutil.copy(store.path, work)
    loaded = run_cli("inspections", "load", str(path), "--district", WANZHOU, "--round", rows[0][1], "--json",
                     store=f"sqlite:///{work}")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["loaded"]["inserted"] == sum(r[1] == rows[0][1] for r in rows)
    again = run_cli("plan", "--district", WANZHOU, "--teams", "6", "--as-of", "2026-12-03", "--term-end", "2031-12-02",
                    "--term-start", "2026-12-03", "--json", store=f"sqlite:///{work}")
    first_round = {r[6] for r in rows if r[1] == rows[0][1]}
    assert not first_round & {m["village_code"] for r in json.loads(again.stdout)["rounds"] for m in r["villages"]}


def test_every_follow_up_report_is_fileable(wanzhou, tmp_path):
    store = f"sqlite:///{wanzhou.path}"
    reports = {"classify": ["classify", "--district", WANZHOU],
               "rectify": ["rectify", "--district", WANZHOU, "--as-of", "2022-08-01"],
               "backcheck": ["backcheck", "--district", WANZHOU, "--seed", "3"],
               "evaluate": ["evaluate", "--district", WANZHOU, "--as-of", "2026-11-28"],
               "reopen": ["reopen", "--district", WANZHOU, "--on", "2026-11-28"],
               "inspections": ["inspections", "show", "--district", WANZHOU],
               "packages": ["packages", "--district", WANZHOU, "--as-of", "2026-11-28"],
               "rootcauses": ["rootcauses", "--district", WANZHOU, "--all"]}
    sheets = {}
    for name, args in reports.items():
        result = run_cli(*args, "--xlsx", str(tmp_path / f"{name}.xlsx"), store=store)
        assert result.returncode == 0, (name, result.stderr)
        sheets[name] = _sheets_are_fileable(tmp_path / f"{name}.xlsx")
    # Warnings name the village, the township and who answers for it.
    header, *rows = sheets["rectify"]["整改预警"]
    assert header[2:4] == ("村(社区)", "乡镇(街道)") and header[-1] == "责任单位"
    assert rows and all(r[2] and r[3] and r[-1].startswith("村(社区)“两委”") for r in rows)
    assert {"各乡镇(街道)", "各部门", "各整改包", "三个变化(按轮次)"} <= set(sheets["evaluate"])
    assert [r[0] for r in sheets["evaluate"]["三个变化(按轮次)"][1:]] == ["2022年第1轮", "2022年第2轮"]
    assert "腐败表现形式占比" in sheets["evaluate"]["三个变化(按轮次)"][0]
    assert len(sheets["evaluate"]["各乡镇(街道)"]) == 53


def test_back_check_by_village_and_its_results_load_back(wanzhou, tmp_path):
    """“最后需要有人来评估、来验收,形成闭环机制”: the office checks sampled villages on site and files
    what it found, who checked and when."""
    from openpyxl import load_workbook
    store = f"sqlite:///{wanzhou.path}"
    sample = tmp_path / "抽查.xlsx"
    assert run_cli("backcheck", "--district", WANZHOU, "--seed", "2026", "--xlsx", str(sample), store=store).returncode == 0
    workbook = load_workbook(sample)
    sheet = workbook["抽查结果"]
    header = [c.value for c in sheet[1]]
    result, on, note = header.index("抽查结果") + 1, header.index("抽查日期") + 1, header.index("说明") + 1
    ids = [sheet.cell(row=r, column=4).value for r in range(2, sheet.max_row + 1)]
    assert len(ids) >= 2
    for r, verdict in ((2, "整改到位"), (3, "未整改到位")):  # the rest not checked yet
        sheet.cell(row=r, column=result, value=verdict)
        sheet.cell(row=r, column=on, value=dt.date(2026, 12, 10))
    sheet.cell(row=3, column=note, value="台账未更新")
    workbook.save(sample)
    recorded = run_cli("backcheck", "record", str(sample), "--district", WANZHOU, "--by", "巡察办李四", "--json",
                       store=store)
    assert recorded.returncode == 0, recorded.stderr
    assert json.loads(recorded.stdout)["not_fixed"] == [ids[1]] and json.loads(recorded.stdout)["recorded"]["inserted"] == 2
    again = run_cli("backcheck", "record", str(sample), "--district", WANZHOU, "--by", "巡察办李四", "--json", store=store)
    assert json.loads(again.stdout)["recorded"]["unchanged"] == 2  # loading twice changes nothing
    shown = json.loads(run_cli("backcheck", "--district", WANZHOU, "--seed", "2026", "--json", store=store).stdout)
    checked = {i["issue_id"]: i for v in shown["villages"] for i in v["issues"] if "result" in i}
    assert checked[ids[1]] == {**checked[ids[1]], "result": "未整改到位", "checked_on": "2026-12-10", "checked_by": "巡察办李四"}
    evaluated = service.evaluation(wanzhou, WANZHOU, dt.date(2026, 12, 11))["back_checks"]
    assert evaluated == {"checked": 2, "fixed": 1, "not_fixed": [ids[1]]}
    # A result the sheet does not offer is refused, with its row.
    sheet.cell(row=4, column=result, value="差不多")
    sheet.cell(row=4, column=on, value=dt.date(2026, 12, 10))
    workbook.save(sample)
    refused = run_cli("backcheck", "record", str(sample), "--district", WANZHOU, "--by", "巡察办李四", store=store)
    assert refused.returncode == 2 and "第 4 行" in refused.stderr and "差不多" in refused.stderr


def test_immediate_fixes_have_their_own_short_deadline_and_overdue_list(wanzhou, tmp_path):
    """“通过立行立改“短平快”解决百姓身边“小急难”问题”: a 立行立改 item is due within days, not
    with the rest; its lateness has a list of its own."""
    store = f"sqlite:///{wanzhou.path}"
    ledger = write_csv(tmp_path / "立行立改.csv", ["问题编号", "村(社区)代码", "巡察轮次", "发现日期", "问题类别", "严重程度",
                                                 "整改状态", "立行立改", "整改时限"],
                       [["NOW-1", DONGFANG, "2026年第2轮", "2026-11-01", "供水供电供气", "一般", "未整改", "是", "2027-01-30"],
                        ["LATER-1", DONGFANG, "2026年第2轮", "2026-11-01", "供水供电供气", "一般", "未整改", "否", "2027-01-30"]])
    assert run_cli("load", "issues", str(ledger), store=store).returncode == 0
    status = json.loads(run_cli("rectify", "--district", WANZHOU, "--as-of", "2026-11-28", "--json", store=store).stdout)
    rows = {r["issue_id"]: r for r in status["issues"]}
    assert rows["NOW-1"]["due_on"] == "2026-11-16" and rows["NOW-1"]["warning"] == "overdue", ARTICLE["immediate"]
    assert rows["LATER-1"]["due_on"] == "2027-01-30" and rows["LATER-1"]["warning"] == "on_time"
    assert "NOW-1" in status["immediate_overdue"] and "LATER-1" not in status["immediate_overdue"]
    # The office sets its own short deadline.
    config = tmp_path / "配置.toml"
    config.write_text(open("loaders/data/planning/classification.toml", encoding="utf-8").read()
                      .replace("immediate_days = 15", "immediate_days = 30"), encoding="utf-8")
    longer = json.loads(run_cli("rectify", "--district", WANZHOU, "--as-of", "2026-11-28", "--config", str(config),
                                "--json", store=store).stdout)
    assert "NOW-1" not in longer["immediate_overdue"] and longer["immediate_days"] == 30
