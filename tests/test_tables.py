"""The three tables inspection offices keep in Excel: units, duties and the problem ledger.
Every class of validation error is reported with its place, and nothing is written."""
from __future__ import annotations

import datetime as dt

import pytest

from graph.errors import InputError
from loaders.catalog import catalog_units
from loaders.tables import load_table
from loaders.templates import write_templates

from .conftest import DONGFANG, GAOSUNTANG, WANZHOU, run_cli, write_csv, write_xlsx

UNIT_HEADER = ["unit_id", "name", "level", "area_code", "function"]
ISSUE_HEADER = ["issue_id", "village_code", "round_id", "found_on", "category", "description", "severity",
                "amount_yuan", "status", "immediate", "due_on", "closed_on", "root_unit_hint"]
CHINESE_ISSUE_HEADER = ["问题编号", "村(社区)代码", "巡察轮次", "发现日期", "问题类别", "问题描述", "严重程度", "涉及金额",
                        "整改状态", "立行立改", "整改时限", "销号日期", "根源单位"]


def issue_row(issue_id="Q1", village=DONGFANG, category="低保特困救助", status="open", **overrides):
    row = {"issue_id": issue_id, "village_code": village, "round_id": "2024年第1轮", "found_on": "2024-03-05",
           "category": category, "description": "低保对象动态管理不及时", "severity": "serious",
           "amount_yuan": "12000", "status": status, "immediate": "no", "due_on": "2024-06-05", "closed_on": "",
           "root_unit_hint": ""}
    row.update(overrides)
    return [row[c] for c in ISSUE_HEADER]


@pytest.fixture
def wanzhou(chongqing):
    chongqing.upsert_units(catalog_units(chongqing, WANZHOU))
    return chongqing


def issue_rows(store):
    return store.db.execute("SELECT * FROM issue ORDER BY issue_id").fetchall()


def test_issues_csv_and_xlsx_load_the_same(wanzhou, tmp_path):
    rows = [issue_row("Q1"), issue_row("Q2", category="party_building", severity="较重", status="整改中", immediate="是")]
    summary = load_table(wanzhou, "issues", write_csv(tmp_path / "issues.csv", ISSUE_HEADER, rows))
    assert summary.inserted == 2
    from_csv = issue_rows(wanzhou)
    wanzhou.db.execute("DELETE FROM issue")
    load_table(wanzhou, "issues", write_xlsx(tmp_path / "issues.xlsx", CHINESE_ISSUE_HEADER, rows))
    assert issue_rows(wanzhou) == from_csv
    q2 = wanzhou.issue("Q2")
    assert q2.category == "基层党组织建设"  # the English key resolves to the catalog's name
    assert (q2.severity, q2.status, q2.immediate) == ("serious", "in_progress", True)


def test_a_ledger_without_the_optional_columns_in_its_own_order(wanzhou, tmp_path):
    # The plain rows are read by position: a file that lacks 涉及金额, 整改时限, 销号日期, 立行立改
    # and 根源单位, with its columns in another order, gives the same values as the full file.
    rows = [issue_row("Q1"), issue_row("Q2", status="已销号", closed_on="2024-05-01", immediate="是")]
    load_table(wanzhou, "issues", write_csv(tmp_path / "full.csv", ISSUE_HEADER, rows))
    full = {i: wanzhou.issue(i) for i in ("Q1", "Q2")}
    wanzhou.db.execute("DELETE FROM issue")
    kept = ["status", "category", "issue_id", "found_on", "village_code", "round_id", "severity", "description",
            "closed_on"]
    short = [[row[ISSUE_HEADER.index(c)] for c in kept] for row in rows]
    summary = load_table(wanzhou, "issues", write_csv(tmp_path / "short.csv", kept, short))
    assert summary.inserted == 2
    for issue_id, before in full.items():
        after = wanzhou.issue(issue_id)
        assert (after.village_code, after.category, after.status, after.found_on, after.closed_on,
                after.description) == (before.village_code, before.category, before.status, before.found_on,
                                       before.closed_on, before.description)
        assert (after.amount_yuan, after.due_on, after.immediate, after.root_unit_hint) == (None, None, False, None)
    assert full["Q1"].amount_yuan == 12000.0 and full["Q2"].immediate is True


def test_xlsx_date_cells_and_numeric_codes(wanzhou, tmp_path):
    row = issue_row()
    row[1] = int(DONGFANG)                     # typed as a number in Excel
    row[3] = dt.datetime(2024, 3, 5)           # a date cell
    row[10] = "2024年6月5日"
    load_table(wanzhou, "issues", write_xlsx(tmp_path / "issues.xlsx", ISSUE_HEADER, [row]))
    issue = wanzhou.issue("Q1")
    assert issue.village_code == DONGFANG and issue.found_on == dt.date(2024, 3, 5)
    assert issue.due_on == dt.date(2024, 6, 5)


def test_bom_and_extra_columns_are_kept(wanzhou, tmp_path):
    path = write_csv(tmp_path / "issues.csv", ISSUE_HEADER + ["巡察组"], [issue_row() + ["第三巡察组"]],
                     encoding="utf-8-sig")
    load_table(wanzhou, "issues", path)
    extra = wanzhou.db.execute("SELECT extra FROM issue WHERE issue_id = 'Q1'").fetchone()[0]
    assert "第三巡察组" in extra


@pytest.mark.parametrize("change, column, value, expected", [
    ({"severity": "huge"}, "severity", "huge", "以下之一：一般 (minor)、较重 (serious)、严重 (grave)"),
    ({"status": "done"}, "status", "done", "未整改 (open)"),
    ({"found_on": "2024-13-45"}, "found_on", "2024-13-45", "日历上存在的日期"),
    ({"found_on": "05/03/2024"}, "found_on", "05/03/2024", "日期，如 2024-03-05"),
    ({"village_code": "5001010010"}, "village_code", "5001010010", "12 位村(社区)统计代码"),
    ({"village_code": "500101001999"}, "village_code", "500101001999", "已加载区划中的村(社区)代码"),
    ({"category": "天气不好"}, "category", "天气不好", "问题类别表中的类别：乡村振兴项目、书记主任“一肩挑”运行、低保特困救助"),
    ({"amount_yuan": "很多"}, "amount_yuan", "很多", "数字"),
    ({"immediate": "maybe"}, "immediate", "maybe", "是 或 否"),
    ({"root_unit_hint": "500101-nobody"}, "root_unit_hint", "500101-nobody", "已加载单位的单位编号或名称"),
    ({"closed_on": "2024-01-01", "status": "closed"}, "closed_on", "2024-01-01", "不早于发现日期 2024-03-05"),
])
def test_each_issue_error_names_row_column_value_and_writes_nothing(wanzhou, tmp_path, change, column, value,
                                                                   expected):
    path = write_csv(tmp_path / "issues.csv", ISSUE_HEADER, [issue_row("Q1"), issue_row("Q2", **change)])
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, "issues", path)
    [error] = caught.value.errors
    assert (error.file, error.row, error.column, error.value) == ("issues.csv", 3, column, value)
    assert expected in error.expected
    assert issue_rows(wanzhou) == []


def test_all_errors_are_reported_at_once(wanzhou, tmp_path):
    rows = [issue_row("Q1", severity="x"), issue_row("Q1"), issue_row("Q3", status="y", category="z")]
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, "issues", write_csv(tmp_path / "issues.csv", ISSUE_HEADER, rows))
    found = {(e.row, e.column) for e in caught.value.errors}
    assert found == {(2, "severity"), (3, "issue_id"), (4, "status"), (4, "category")}


def test_missing_column_is_named_with_its_chinese_header(wanzhou, tmp_path):
    header = [h for h in ISSUE_HEADER if h != "severity"]
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, "issues", write_csv(tmp_path / "issues.csv", header, [issue_row()[:6] + issue_row()[7:]]))
    assert caught.value.errors[0].row == 1 and "严重程度" in caught.value.errors[0].expected


def test_reloading_changes_nothing_and_a_later_file_updates_with_history(wanzhou, tmp_path):
    first = write_csv(tmp_path / "issues.csv", ISSUE_HEADER, [issue_row("Q1"), issue_row("Q2")])
    assert load_table(wanzhou, "issues", first).inserted == 2
    again = load_table(wanzhou, "issues", first)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    later = write_csv(tmp_path / "later.csv", ISSUE_HEADER,
                      [issue_row("Q1", status="closed", closed_on="2024-05-01"), issue_row("Q2")])
    summary = load_table(wanzhou, "issues", later)
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 1, 1)
    assert [h.status for h in wanzhou.issue_history("Q1")] == ["open", "closed"]
    assert [h.status for h in wanzhou.issue_history("Q2")] == ["open"]
    assert wanzhou.issue("Q1").closed_on == dt.date(2024, 5, 1)


def test_villages_by_name_including_an_ambiguous_one(wanzhou, tmp_path):
    header = ["问题编号", "村(社区)", "乡镇(街道)", "巡察轮次", "发现日期", "问题类别", "严重程度", "整改状态"]
    base = ["2024年第1轮", "2024-03-05", "低保特困救助", "一般", "未整改"]
    # 东方广场社区 lies in 高笋塘街道; 龙驹 names several villages across Chongqing.
    rows = [["Q1", "东方广场社区", "高笋塘街道"] + base]
    load_table(wanzhou, "issues", write_csv(tmp_path / "named.csv", header, rows))
    assert wanzhou.issue("Q1").village_code == DONGFANG
    duplicates = wanzhou.db.execute(
        "SELECT name FROM division WHERE level = 'village' GROUP BY name HAVING COUNT(*) > 1 LIMIT 1").fetchone()[0]
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, "issues", write_csv(tmp_path / "ambiguous.csv", header, [["Q9", duplicates, ""] + base]))
    error = caught.value.errors[0]
    assert error.column == "村(社区)" and error.value == duplicates and "同名的有" in error.expected
    assert wanzhou.issue("Q9") is None


def test_units_errors(chongqing, tmp_path):
    rows = [["U1", "万州区民政局", "区县", WANZHOU, "civil_affairs"],
            ["U1", "重复", "district", WANZHOU, "finance"],
            ["U3", "乡镇单位", "township", WANZHOU, "finance"],
            ["U4", "不存在的乡镇", "乡镇", "500101999", "finance"],
            ["U5", "层级错", "province", WANZHOU, "finance"]]
    with pytest.raises(InputError) as caught:
        load_table(chongqing, "units", write_csv(tmp_path / "units.csv", UNIT_HEADER, rows))
    found = {(e.row, e.column) for e in caught.value.errors}
    assert found == {(3, "unit_id"), (4, "area_code"), (5, "area_code"), (6, "level")}
    assert chongqing.units() == []


def test_duties_define_the_taxonomy(chongqing, tmp_path):
    path = write_csv(tmp_path / "duties.csv", ["问题类别", "层级", "职能", "责任类型"],
                     [["自建类别", "乡镇", "civil_affairs", "主体责任"], ["自建类别", "区县", "finance", "guidance"]])
    with pytest.raises(InputError) as caught:  # a new category, and functions no unit has, only when asked
        load_table(chongqing, "duties", path)
    assert {(e.row, e.column) for e in caught.value.errors} == {(2, "问题类别"), (2, "职能"), (3, "问题类别"),
                                                                (3, "职能")}
    assert "--new-category" in caught.value.errors[0].expected
    summary = load_table(chongqing, "duties", path, new_category=True, new_function=True)
    assert summary.inserted == 2
    assert "自建类别" in {c.name for c in chongqing.categories()}
    bad = write_csv(tmp_path / "bad.csv", ["category", "level", "function", "duty"],
                    [["自建类别", "乡镇", "civil_affairs", "责任很大"], ["自建类别", "乡镇", "civil_affairs", "主体责任"],
                     ["自建类别", "乡镇", "civil_affairs", "主体责任"]])
    with pytest.raises(InputError) as caught:
        load_table(chongqing, "duties", bad, new_function=True)
    assert {(e.row, e.column) for e in caught.value.errors} == {(2, "duty"), (4, "category")}


def test_filled_in_templates_load(chongqing, tmp_path):
    from openpyxl import load_workbook
    paths = write_templates(tmp_path)
    fills = {
        "units": [["500101-civil_affairs", "万州区民政局", "区县", "500101", "civil_affairs"],
                  [f"{GAOSUNTANG}-civil_affairs", "高笋塘街道社会事务办", "乡镇", GAOSUNTANG, "civil_affairs"]],
        "duties": [["低保特困救助", "乡镇", "civil_affairs", "指导责任"]],
        "issues": [["Q1", DONGFANG, None, None, "2024年第1轮", dt.datetime(2024, 3, 5), "低保特困救助", "错评漏评", "较重", 1200,
                    "整改中", "否", dt.datetime(2024, 6, 5), None, "高笋塘街道社会事务办"]],
    }
    for kind in ("units", "duties", "issues"):
        workbook = load_workbook(paths[kind])
        sheet = workbook.worksheets[0]
        assert sheet.data_validations.dataValidation or kind == "units"
        for row in fills[kind]:
            sheet.append(row)
        workbook.save(paths[kind])
        assert load_table(chongqing, kind, paths[kind]).inserted == len(fills[kind])
    issue = chongqing.issue("Q1")
    assert issue.root_unit_hint == f"{GAOSUNTANG}-civil_affairs" and issue.status == "in_progress"


def test_template_has_chinese_headers_dropdowns_and_an_example(tmp_path):
    from openpyxl import load_workbook
    workbook = load_workbook(write_templates(tmp_path)["issues"])
    sheet, guide = workbook.worksheets[:2]
    assert [c.value for c in sheet[1]] == CHINESE_ISSUE_HEADER[:2] + ["村(社区)", "乡镇(街道)"] + CHINESE_ISSUE_HEADER[2:]
    lists = {v.formula1 for v in sheet.data_validations.dataValidation}
    assert '"一般,较重,严重"' in lists and '"是,否"' in lists
    assert guide.title == "填写说明" and guide.cell(row=2, column=3).value == "Q2024-0001"


def test_cli_load_issues_bad_file_exits_2(chongqing_template, tmp_path):
    import shutil
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    path = write_csv(tmp_path / "issues.csv", ISSUE_HEADER, [issue_row(severity="huge")])
    result = run_cli("load", "issues", str(path), store=f"sqlite:///{db}")
    assert result.returncode == 2
    assert "issues.csv 第 2 行，列“severity”，值“huge”：应为 以下之一" in result.stderr
