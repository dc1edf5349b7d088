"""Reports and templates are safe to open in Excel: ledger text never becomes a live formula,
characters a workbook cannot hold never crash a report, dates are date cells, every sheet has a
frozen header and an autofilter, and due dates count from the report's date."""
from __future__ import annotations

import csv
import datetime as dt
import json

import pytest
from openpyxl import load_workbook

from graph import service
from graph.reports import write_packages, write_root_causes, write_root_causes_csv
from loaders.catalog import catalog_units
from loaders.tables import load_table
from loaders.templates import write_templates

from .conftest import GAOSUNTANG, WANZHOU, run_cli, write_csv

HEADER = ["问题编号", "村(社区)代码", "巡察轮次", "发现日期", "问题类别", "问题描述", "严重程度", "整改状态", "整改时限"]
ATTACKS = ['=HYPERLINK("http://evil.example/x","点击")', "+1+1", "-2+3", "@SUM(A1:A2)", "=1+1"]


@pytest.fixture
def packaged(chongqing, tmp_path):
    """One township with a category far above the others, its descriptions written by an attacker."""
    chongqing.upsert_units(catalog_units(chongqing, WANZHOU))
    villages = [d.code for d in chongqing.divisions("village", within=WANZHOU)]
    in_gaosuntang = [v for v in villages if v.startswith(GAOSUNTANG)]
    rows, n = [], 0
    for v in villages:
        for category in ("低保特困救助", "村(居)务公开", "集体资金管理"):
            n += 1
            rows.append([f"Q{n}", v, "2024年第1轮", "2024-03-05", category, "记录不全", "一般", "整改中", "2024-06-05"])
    for k, v in enumerate(in_gaosuntang * 4):
        n += 1
        rows.append([f"Q{n}", v, "2024年第1轮", "2024-03-05", "低保特困救助", ATTACKS[k % len(ATTACKS)], "较重",
                     "未整改", "2024-06-05"])
    load_table(chongqing, "issues", write_csv(tmp_path / "台账.csv", HEADER, rows))
    packages = service.packages(chongqing, as_of=dt.date(2026, 11, 28))
    assert packages, "the planted township surfaces"
    return chongqing, packages


def cells(path):
    workbook = load_workbook(path)
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                yield sheet, cell


def test_no_report_cell_is_a_formula(packaged, tmp_path):
    store, packages = packaged
    write_packages(packages, tmp_path / "packages.xlsx")
    write_root_causes(service.root_causes(store), tmp_path / "rootcauses.xlsx")
    texts = set()
    for name in ("packages.xlsx", "rootcauses.xlsx"):
        for _, cell in cells(tmp_path / name):
            assert cell.data_type != "f", (name, cell.coordinate, cell.value)
            texts.add(cell.value)
    assert set(ATTACKS) <= texts  # the text is kept, as text


def test_csv_report_neutralises_formulas(packaged, tmp_path):
    store, _ = packaged
    causes = service.root_causes(store)
    for cause in causes:
        cause["unit_name"] = "=cmd|' /C calc'!A0"
    with open(write_root_causes_csv(causes, tmp_path / "r.csv"), encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[1][2] == "'=cmd|' /C calc'!A0"


def test_control_characters_never_crash_a_report(packaged, tmp_path):
    _, packages = packaged
    packages[0]["grassroots_end"][0]["issues"][0]["description"] = "低保\x00错评\x1b[31m"
    packages[0]["root_cause"]["category"] = "低保\x07特困"
    write_packages(packages, tmp_path / "p.xlsx")
    values = {cell.value for _, cell in cells(tmp_path / "p.xlsx")}
    assert "低保错评[31m" in values


def test_sheets_have_dates_frozen_headers_filters_and_one_row_per_problem(packaged, tmp_path):
    store, packages = packaged
    path = write_packages(packages, tmp_path / "p.xlsx")
    workbook = load_workbook(path)
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes and sheet.auto_filter.ref, sheet.title
    package = workbook.worksheets[1]
    header_row = next(r[0].row for r in package.iter_rows() if r[0].value == "村(社区)代码")
    found = [row[7].value for row in package.iter_rows(min_row=header_row + 1) if row[3].value]
    assert found and all(isinstance(v, dt.datetime) for v in found)  # date cells, not text
    problems = sum(len(v["issues"]) for v in packages[0]["grassroots_end"])
    assert len(found) == problems
    causes = load_workbook(write_root_causes(service.root_causes(store), tmp_path / "r.xlsx"))
    detail = causes["问题明细"]
    assert detail.max_row - 1 == sum(len(c["issue_ids"]) for c in service.root_causes(store))


def test_due_dates_count_from_the_report_date(packaged):
    _, packages = packaged
    for package in packages:
        assert package["agency_end"]["due_on"] == "2027-02-26"  # 90 days after 2026-11-28
        for village in package["grassroots_end"]:
            assert village["due_on"] >= "2026-11-28" and village["overdue"]  # the ledger's 2024 dates passed


@pytest.mark.slow
def test_cli_packages_print_no_date_in_the_past(packaged):
    store, _ = packaged
    result = run_cli("packages", "--json", "--as-of", "2026-11-28", store=f"sqlite:///{store.path}")
    assert result.returncode == 0, result.stderr
    assert all(p["agency_end"]["due_on"] > "2026-11-28" for p in json.loads(result.stdout))


@pytest.mark.slow
def test_templates_keep_existing_files_format_codes_as_text_and_list_the_categories(chongqing, tmp_path):
    paths = write_templates(tmp_path)
    result = run_cli("template", str(tmp_path))
    assert result.returncode == 2 and "--force" in result.stderr
    assert run_cli("template", str(tmp_path), "--force").returncode == 0
    workbook = load_workbook(paths["issues"])
    sheet = workbook.worksheets[0]
    headers = [c.value for c in sheet[1]]
    assert headers[1:4] == ["村(社区)代码", "村(社区)", "乡镇(街道)"]
    assert sheet.column_dimensions["B"].number_format == "@"  # 500101001001 keeps its digits
    lists = workbook["下拉列表"]
    assert lists.sheet_state == "hidden"
    assert sorted(c.value for c in lists["A"]) == sorted(c.name for c in chongqing.categories())
    sheet.append(["Q1", "500101001001"])
    sheet.append(["Q2", "500101001002"])
    assert [r[0].row for r in sheet.iter_rows(min_row=2) if r[0].value] == [2, 3]  # no pre-formatted rows
    own = write_templates(tmp_path / "own", categories=["自有类别甲", "自有类别乙"])
    assert [c.value for c in load_workbook(own["issues"])["下拉列表"]["A"]] == ["自有类别甲", "自有类别乙"]


def test_base_data_and_key_village_templates_load_once_filled(chongqing, tmp_path):
    """The planning templates' headers are the ones the readers take: a filled copy loads."""
    from loaders.base_data import read_base_data, read_key_village_proposal
    paths = write_templates(tmp_path)
    villages = {v.code: (v.name, v.parent_code) for v in chongqing.divisions("village", within="500101")}
    base = load_workbook(paths["base"])
    assert base.worksheets[0].column_dimensions["A"].number_format == "@"
    base.worksheets[0].append(["500101001001", "3200", "560000", "4", "6", "是", "否"])
    base.save(tmp_path / "filled-base.xlsx")
    assert read_base_data(tmp_path / "filled-base.xlsx", set(villages))["500101001001"]["weak_organisation"] == 1.0
    proposal = load_workbook(paths["key_villages"])
    proposal.worksheets[0].append(["500101001001", "", "", "信访件多"])
    proposal.save(tmp_path / "filled-proposal.xlsx")
    assert read_key_village_proposal(tmp_path / "filled-proposal.xlsx", villages)[0]["reason"] == "信访件多"
