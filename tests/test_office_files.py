"""Files as inspection offices really have them: what Chinese Excel saves, title rows above the
header, other separators and formats; and every class of bad input, refused with its place and
nothing written (the classes are in tests/bad_inputs.py and docs/formats.md)."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from graph.errors import InputError
from loaders.catalog import catalog_units
from loaders.divisions import load_divisions
from loaders.rows import HEADER_SEARCH_ROWS
from loaders.tables import load_table

from .bad_inputs import CASES, ISSUE_HEADER, gzip_file, issue
from .conftest import DONGFANG, ROOT, WANZHOU, run_cli, write_csv

TITLE = "万州区2024年度村(社区)巡察问题台账"


@pytest.fixture
def wanzhou(chongqing):
    chongqing.upsert_units(catalog_units(chongqing, WANZHOU))
    return chongqing


def snapshot(store) -> tuple:
    """Everything a load could change."""
    return tuple(store.db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                 for t in ("issue", "issue_status", "unit", "duty", "category", "ledger_cell"))


def rows_of(store):
    return store.db.execute("SELECT issue_id, village_code, found_on, amount_yuan, status FROM issue "
                            "ORDER BY issue_id").fetchall()


# -- files as offices save them ---------------------------------------------------------------------
def test_gbk_csv_from_chinese_excel_with_a_title_row_loads(wanzhou, tmp_path):
    path = tmp_path / "台账.csv"
    lines = [TITLE, "", ",".join(ISSUE_HEADER), ",".join(issue("Q1")), "", ",".join(issue("Q2"))]
    path.write_bytes("\r\n".join(lines).encode("gbk"))
    summary = load_table(wanzhou, "issues", path)
    assert summary.inserted == 2
    assert summary.source["encoding"] == "gb18030" and summary.source["header_row"] == 3
    assert "GBK/GB18030" in summary.source["described"] and "表头在第 3 行" in summary.source["described"]
    assert wanzhou.issue("Q2").description == "低保对象动态管理不及时"


def test_row_numbers_are_the_ones_excel_shows(wanzhou, tmp_path):
    path = tmp_path / "台账.csv"
    bad = issue("Q3", 严重程度="很严重")
    lines = [TITLE, "", ",".join(ISSUE_HEADER), ",".join(issue("Q1")), "", ",,,", ",".join(bad)]
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, "issues", path)
    assert [e.row for e in caught.value.errors] == [7]


def test_title_row_xlsx_with_a_merged_title_loads(wanzhou, tmp_path):
    from openpyxl import Workbook
    workbook = Workbook()
    sheet = workbook.active
    sheet.append([TITLE])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(ISSUE_HEADER))
    sheet.append([])
    sheet.append(ISSUE_HEADER)
    row = issue("Q1")
    row[1], row[3], row[7] = int(DONGFANG), dt.datetime(2024, 3, 5), 12000.5
    sheet.append(row)
    sheet.append(issue("Q2", 严重程度="很严重"))
    workbook.save(tmp_path / "台账.xlsx")
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, "issues", tmp_path / "台账.xlsx")
    assert [(e.row, e.column) for e in caught.value.errors] == [(5, "严重程度")]
    sheet.delete_rows(5)
    workbook.save(tmp_path / "台账.xlsx")
    summary = load_table(wanzhou, "issues", tmp_path / "台账.xlsx")
    assert summary.inserted == 1 and summary.source["header_row"] == 3
    assert rows_of(wanzhou) == [("Q1", DONGFANG, "2024-03-05", 12000.5, "in_progress")]


@pytest.mark.parametrize("delimiter, encoding, name", [
    ("\t", "utf-16", "台账.csv"),        # Excel's "Unicode 文本"
    (";", "utf-8-sig", "台账.csv"),      # a European-locale export
    ("\t", "gb18030", "台账.txt"),
    (",", "utf-8", "台账.csv.gz"),
])
def test_other_separators_and_encodings_load_the_same(wanzhou, tmp_path, delimiter, encoding, name):
    import csv
    path = tmp_path / name.removesuffix(".gz")
    with open(path, "w", encoding=encoding, newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerows([ISSUE_HEADER, issue("Q1"), issue("Q2")])
    if name.endswith(".gz"):
        path = gzip_file(path)
    summary = load_table(wanzhou, "issues", path)
    assert summary.inserted == 2 and summary.source["delimiter"] == delimiter
    assert [r[0] for r in rows_of(wanzhou)] == ["Q1", "Q2"]


def test_old_mac_line_ends_and_a_broken_row_are_read_or_refused_cleanly(wanzhou, tmp_path):
    import csv
    path = tmp_path / "台账.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\r").writerows([ISSUE_HEADER, issue("Q1"), issue("Q2")])
    assert load_table(wanzhou, "issues", path).inserted == 2
    broken = tmp_path / "broken.csv"
    huge = issue("Q4")
    huge[ISSUE_HEADER.index("问题描述")] = "很长" * 100_000  # over the csv module's 128 KB field limit
    broken.write_text("\n".join(",".join(r) for r in (ISSUE_HEADER, issue("Q3"), huge)) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as refused:
        load_table(wanzhou, "issues", broken)
    assert "broken.csv 第 3 行" in str(refused.value) and "CSV 格式" in str(refused.value)
    assert [r[0] for r in rows_of(wanzhou)] == ["Q1", "Q2"]


def test_a_workbook_named_csv_and_an_xls_file_are_read_as_excel(wanzhou, tmp_path):
    import xlwt  # writes the .xls format of Excel 97-2003
    from openpyxl import Workbook
    workbook = Workbook()
    workbook.active.append(ISSUE_HEADER)
    workbook.active.append(issue("Q1"))
    workbook.save(tmp_path / "台账.csv")
    summary = load_table(wanzhou, "issues", tmp_path / "台账.csv")
    assert summary.source["format"] == "xlsx" and summary.source["renamed"]
    book = xlwt.Workbook()
    sheet = book.add_sheet("台账")
    dates = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for column, header in enumerate(ISSUE_HEADER):
        sheet.write(0, column, header)
    for row, values in enumerate([issue("Q1"), issue("Q2", 整改状态="已销号", 销号日期="2024-05-01")], start=1):
        for column, value in enumerate(values):
            if ISSUE_HEADER[column] == "发现日期":
                sheet.write(row, column, dt.datetime(2024, 3, 5), dates)
            else:
                sheet.write(row, column, value)
    book.save(str(tmp_path / "台账.xls"))
    summary = load_table(wanzhou, "issues", tmp_path / "台账.xls")
    assert summary.source["format"] == "xls" and (summary.inserted, summary.unchanged) == (1, 1)
    assert wanzhou.issue("Q2").closed_on == dt.date(2024, 5, 1)


def test_divisions_as_xlsx_with_numeric_codes_load(sqlite_store, tmp_path):
    from openpyxl import Workbook
    source = ROOT / "loaders" / "data" / "divisions" / "chongqing"
    for stem in ("provinces", "cities", "areas"):
        import csv
        with open(source / f"{stem}.csv", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        workbook = Workbook()
        workbook.active.append(rows[0])
        for row in rows[1:]:
            workbook.active.append([int(v) if v.isdigit() else v for v in row])
        workbook.save(tmp_path / f"{stem}.xlsx")
    summary = load_divisions(sqlite_store, tmp_path, show_progress=False)
    assert summary.inserted > 30 and sqlite_store.division("500101").name == "万州区"


def test_header_is_searched_only_near_the_top(wanzhou, tmp_path):
    rows = [[f"说明第{i}行"] for i in range(HEADER_SEARCH_ROWS)] + [ISSUE_HEADER, issue("Q1")]
    path = write_csv(tmp_path / "台账.csv", ["标题"], rows)
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, "issues", path)
    assert "前 30 行中有一行表头" in caught.value.errors[0].expected


def test_every_error_is_counted_and_the_first_are_shown(wanzhou, tmp_path):
    rows = [issue(f"Q{i}", 严重程度="很严重") for i in range(2500)]
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, "issues", write_csv(tmp_path / "台账.csv", ISSUE_HEADER, rows))
    assert len(caught.value.errors) == 2500
    text = caught.value.summary(limit=50)
    assert len(text.splitlines()) == 51 and "共 2,500 个" in text


# -- every class of bad input -------------------------------------------------------------------------
@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c.slow else c for c in CASES],
                         ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_its_place_and_nothing_is_written(wanzhou, tmp_path, case):
    if case.before:
        case.before(wanzhou, tmp_path)
    path = case.make(tmp_path)
    before = snapshot(wanzhou)
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, case.kind, path, **case.options)
    assert snapshot(wanzhou) == before
    matching = [e for e in caught.value.errors if case.expected in e.expected]
    assert matching, [str(e) for e in caught.value.errors]
    error = matching[0]
    if case.row is not None:
        assert error.row == case.row, str(error)
    if case.column is not None:
        assert (error.column or "").startswith(case.column.replace(" N ", " ")[:2]) and (
            case.column == error.column or " N " in case.column), str(error)
    assert error.file in (path.name, str(path))


def test_every_bad_input_class_is_documented():
    text = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", text, re.M))
    assert {c.id for c in CASES} <= documented, {c.id for c in CASES} - documented
    assert len(CASES) >= 30


def test_reopening_is_allowed_when_asked_and_the_history_is_readable(wanzhou, tmp_path):
    first = write_csv(tmp_path / "a.csv", ISSUE_HEADER, [issue("Q1", 整改状态="已销号", 销号日期="2024-05-01")])
    load_table(wanzhou, "issues", first)
    reopened = write_csv(tmp_path / "b.csv", ISSUE_HEADER, [issue("Q1", 整改状态="整改中")])
    assert load_table(wanzhou, "issues", reopened, allow_reopen=True).updated == 1
    result = run_cli("history", "Q1", "--json", store=f"sqlite:///{wanzhou.path}")
    import json
    history = json.loads(result.stdout)["history"]
    assert [h["status_zh"] for h in history] == ["已销号", "整改中"]
    assert history[0]["closed_on"] == "2024-05-01"


def test_cli_load_says_how_the_file_was_read(chongqing_template, tmp_path):
    import shutil
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    path = tmp_path / "台账.csv"
    path.write_bytes((TITLE + "\n" + ",".join(ISSUE_HEADER) + "\n" + ",".join(issue("Q1"))).encode("gb18030"))
    result = run_cli("load", "issues", str(path), store=f"sqlite:///{db}")
    assert result.returncode == 0, result.stderr
    assert "新增 1" in result.stdout and "编码 GBK/GB18030" in result.stdout and "表头在第 2 行" in result.stdout


def test_directory_as_a_file_is_exit_2_without_a_traceback(chongqing_template, tmp_path):
    import shutil
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    result = run_cli("load", "issues", str(tmp_path), store=f"sqlite:///{db}")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "而不是文件夹" in result.stderr


def test_the_encoding_is_decided_on_the_whole_file_not_its_start(tmp_path):
    from loaders.rows import detect_encoding
    # ASCII for megabytes (valid in both encodings), then one GBK line: the file is GBK.
    head = "\n".join(f"Q{i},{DONGFANG},2024-03-05,serious,open,{'x' * 60}" for i in range(30000)).encode()
    assert len(head) > 2 * (1 << 20)
    path = tmp_path / "台账.csv"
    path.write_bytes(head + "\n末行".encode("gbk"))   # valid UTF-8 for megabytes, GBK at the end
    assert detect_encoding(path) == "gb18030"
    path.write_bytes(head + "\n末行".encode("utf-8"))
    assert detect_encoding(path) == "utf-8"


def test_a_gbk_ledger_with_one_damaged_row_is_refused_at_that_row(wanzhou, tmp_path):
    """GB18030 is checked as the file is read: a damaged row deep in a GBK ledger is reported at
    the row Excel shows, with its bytes, and nothing is written."""
    before = snapshot(wanzhou)
    lines = [",".join(ISSUE_HEADER)] + [",".join(issue(f"Q{i}")) for i in range(1, 3001)]
    data = "\r\n".join(lines).encode("gbk").split(b"\r\n")
    data[2500] += b"\xff\xff"                       # the 2,501st line: Excel's row 2501
    path = tmp_path / "台账.csv"
    path.write_bytes(b"\r\n".join(data))
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, "issues", path)
    error = caught.value.errors[0]
    assert (error.file, error.row, error.value[:5]) == ("台账.csv", 2501, "ff ff")
    assert "UTF-8 或 GBK/GB18030" in error.expected
    assert snapshot(wanzhou) == before


# -- written as a Chinese input method types it ------------------------------------------------------
def test_full_width_digits_a_starred_header_and_a_full_width_comma_separator_load(wanzhou, tmp_path):
    header = ["*" + h if h in ("问题编号", "巡察轮次") else h for h in ISSUE_HEADER]
    row = issue("Q1", **{"村(社区)代码": "５００１０１００１００１", "涉及金额": "１２０００．５", "问题描述": "低保对象动态管理不及时"})
    path = tmp_path / "台账.csv"
    path.write_text("，".join(header) + "\n" + "，".join(row) + "\n", encoding="utf-8")
    summary = load_table(wanzhou, "issues", path)
    assert summary.inserted == 1 and summary.source["delimiter"] == "，"
    assert rows_of(wanzhou) == [("Q1", DONGFANG, "2024-03-05", 12000.5, "in_progress")]


def test_a_full_width_comma_inside_a_value_is_refused_saying_why(wanzhou, tmp_path):
    path = tmp_path / "台账.csv"
    row = issue("Q1", 问题描述="低保对象动态管理不及时，未公示")
    path.write_text("，".join(ISSUE_HEADER) + "\n" + "，".join(row) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, "issues", path)
    assert any("文字中的“，”也被当作了分隔符" in e.expected and e.row == 2 for e in caught.value.errors), caught.value.errors


def test_amounts_with_thousands_separators_or_yuan_are_read_as_written(wanzhou, tmp_path):
    path = write_csv(tmp_path / "台账.csv", ISSUE_HEADER,
                     [issue("Q1", 涉及金额="1,234.50"), issue("Q2", 涉及金额="12000元"), issue("Q3", 涉及金额="1,234,567")])
    load_table(wanzhou, "issues", path)
    assert [r[3] for r in rows_of(wanzhou)] == [1234.5, 12000.0, 1234567.0]


def test_full_width_brackets_never_make_a_look_alike_category(wanzhou, tmp_path):
    """The office's taxonomy and its ledger write 村（居）务公开 with full-width brackets: it is the
    catalog's 村(居)务公开, updated, not a 21st category beside it."""
    before = [c.name for c in wanzhou.categories()]
    path = write_csv(tmp_path / "问题类别.csv", ["问题类别", "类别分组"], [["村（居）务公开", "公开透明"]])
    summary = load_table(wanzhou, "categories", path)
    assert (summary.inserted, summary.updated) == (0, 1)
    assert sorted(c.name for c in wanzhou.categories()) == sorted(before)
    load_table(wanzhou, "issues", write_csv(tmp_path / "台账.csv", ISSUE_HEADER, [issue("Q1", 问题类别="村（居）务公开")]))
    assert wanzhou.issue("Q1").category == "村(居)务公开"


def test_with_no_category_loaded_the_message_says_how_to_load_them(tmp_path):
    from graph.sqlite_store import SQLiteStore
    from loaders.divisions import DEFAULT_DIVISIONS
    store = SQLiteStore(tmp_path / "x.db")
    load_divisions(store, DEFAULT_DIVISIONS, district=WANZHOU, show_progress=False)
    with pytest.raises(InputError) as caught:
        load_table(store, "issues", write_csv(tmp_path / "台账.csv", ISSUE_HEADER, [issue("Q1")]))
    store.close()
    expected = caught.value.errors[0].expected
    assert "先运行 xuncha catalog load 或 xuncha load categories" in expected and "：；" not in expected


def test_a_column_the_file_lacks_is_named_in_the_files_header_language(wanzhou, tmp_path):
    header = [h for h in ISSUE_HEADER if h != "销号日期"]
    row = [v for h, v in zip(ISSUE_HEADER, issue("Q1", 整改状态="已销号")) if h != "销号日期"]
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, "issues", write_csv(tmp_path / "台账.csv", header, [row]))
    assert caught.value.errors[0].column == "销号日期"
    english = ["issue_id", "village_code", "round_id", "found_on", "category", "severity", "status"]
    values = ["Q1", DONGFANG, "2024年第1轮", "2024-03-05", "低保特困救助", "一般", "已销号"]
    with pytest.raises(InputError) as caught:
        load_table(wanzhou, "issues", write_csv(tmp_path / "ledger.csv", english, [values]))
    assert caught.value.errors[0].column == "closed_on"


def test_a_table_of_its_own_rates_keeps_what_the_catalog_says_of_each_category(chongqing, tmp_path):
    """An office loads a table of only its rates (问题类别, 村参考问题数, 社区参考问题数) over the
    catalog: the rates change, and each category keeps its English key, group, whether money is
    involved and its agency-side fix. Loading such a table had blanked all four, and with them the
    money shown beside each cause."""
    before = {c.name: c for c in chongqing.categories()}
    money = [name for name, c in before.items() if c.money]
    assert money and all(c.group and c.systemic_fix for c in before.values())
    path = tmp_path / "参考问题数.csv"
    path.write_text("问题类别,村参考问题数,社区参考问题数\n"
                    + "".join(f"{name},1.5,0.5\n" for name in before), encoding="gbk")
    load_table(chongqing, "categories", path)
    after = {c.name: c for c in chongqing.categories()}
    assert {(c.rate_village, c.rate_community) for c in after.values()} == {(1.5, 0.5)}
    for name, c in after.items():
        kept = before[name]
        assert (c.key, c.group, c.money, c.systemic_fix) == (kept.key, kept.group, kept.money, kept.systemic_fix)
    # a column it does give, it changes; a blank cell keeps what was there
    path.write_text("问题类别,类别分组,涉及资金\n" f"{money[0]},本办分组,否\n" f"{money[1]},,\n", encoding="utf-8")
    load_table(chongqing, "categories", path)
    changed = {c.name: c for c in chongqing.categories()}
    assert (changed[money[0]].group, changed[money[0]].money) == ("本办分组", False)
    assert (changed[money[1]].group, changed[money[1]].money) == (before[money[1]].group, True)
    assert (changed[money[0]].rate_village, changed[money[0]].systemic_fix) == (1.5, before[money[0]].systemic_fix)
