"""Files built to break a reader: a 2 KB workbook spanning seventeen billion cells, a megabyte that
unpacks to a gigabyte of whitespace, archives cut short. Each is refused in Chinese, naming the
bound it passes, by the CLI and by the API's upload alike, and the process lives on."""
from __future__ import annotations

import shutil
import time

import pytest

from graph.errors import InputError
from loaders.catalog import catalog_units
from loaders.rows import read_table
from loaders.tables import ISSUE_COLUMNS, load_table

from .bad_inputs import ISSUE_HEADER, _far_cell, _whitespace, issue, sheet_xml, xlsx_of
from .conftest import WANZHOU, run_cli


def test_a_far_cell_is_refused_by_the_cli_without_aborting(chongqing_template, tmp_path):
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    result = run_cli("load", "issues", str(_far_cell(tmp_path)), store=f"sqlite:///{db}")
    assert result.returncode == 2, result.stderr[-500:]
    assert "不超过 1,000 列的表" in result.stderr and "Traceback" not in result.stderr


def test_a_far_cell_through_the_api_upload_leaves_the_worker_serving(chongqing_template, tmp_path):
    from fastapi.testclient import TestClient

    from api.main import create_app
    from graph.access import create_token
    from graph.settings import Settings
    from graph.sqlite_store import SQLiteStore
    db = tmp_path / "api.db"
    shutil.copy(chongqing_template, db)
    store = SQLiteStore(db)
    token = create_token(store, "editor")[0]
    store.close()
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(Settings(XUNCHA_STORE=f"sqlite:///{db}"))) as client:
        response = client.post("/issues/upload", headers=headers,
                               files={"file": ("台账.xlsx", _far_cell(tmp_path).read_bytes())})
        assert response.status_code == 422
        assert "不超过 1,000 列的表" in response.text
        assert client.get("/health").status_code == 200   # the same process answers on


def test_a_ledger_after_a_run_of_whitespace_is_read_whole(chongqing, tmp_path):
    """The formula scan keeps no run of whitespace across chunks: an uncached formula after 3 MB of
    it is still found, and without one the rows after it load."""
    chongqing.upsert_units(catalog_units(chongqing, WANZHOU))
    rows = sheet_xml([issue("Q1"), issue("Q2")], first_row=2)
    path = xlsx_of(tmp_path / "台账.xlsx", ("台账", _whitespace(3 << 20, rows)))
    assert load_table(chongqing, "issues", path).inserted == 2
    formula = '<row r="4"><c r="H4"><f>1000*12</f></c></row>'
    path = xlsx_of(tmp_path / "公式.xlsx", ("台账", _whitespace(3 << 20, rows + formula)))
    with pytest.raises(InputError) as caught:
        load_table(chongqing, "issues", path)
    assert "单元格 H4" in caught.value.errors[0].column


@pytest.mark.slow
def test_the_formula_scan_is_linear_in_whitespace(tmp_path):
    """Before, a run of whitespace was carried into every next chunk: 64/128/256 MB took
    1.6/5.8/24.5 s. Now four times the whitespace takes about four times as long, not sixteen."""
    def seconds(size: int) -> float:
        path = xlsx_of(tmp_path / f"{size}.xlsx", ("台账", _whitespace(size, sheet_xml([issue("Q1")], 2))), level=1)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            table = read_table(path, ISSUE_COLUMNS)
            assert len(list(table.rows)) == 1
            best = min(best, time.perf_counter() - start)
        return best
    small, large = seconds(32 << 20), seconds(128 << 20)
    assert large / small < 8, (small, large)


def test_the_ledger_on_the_second_sheet_is_read_and_the_summary_says_so(chongqing, tmp_path):
    chongqing.upsert_units(catalog_units(chongqing, WANZHOU))
    path = xlsx_of(tmp_path / "台账.xlsx", ("封面", sheet_xml([["万州区2024年度巡察问题台账"], ["巡察办 制"]])),
                   ("问题台账", sheet_xml([ISSUE_HEADER, issue("Q1"), issue("Q2")])))
    summary = load_table(chongqing, "issues", path)
    assert summary.inserted == 2
    assert summary.source["sheet"] == "问题台账" and "读取工作表“问题台账”" in summary.source["described"]
