"""Loading the national statistical division codes: the shipped Chongqing extract, idempotence,
and every class of bad input, which must leave the store exactly as it was."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from graph.errors import InputError
from graph.sqlite_store import SQLiteStore
from loaders.divisions import DEFAULT_DIVISIONS, load_divisions

from .conftest import WANZHOU, run_cli, write_csv


def test_chongqing_counts(chongqing):
    counts = chongqing.counts()
    assert counts["by_level"] == {"province": 1, "city": 2, "district": 38, "township": 1031, "village": 11270}
    assert counts["villages_by_kind"] == {"village": 7946, "community": 3323, "other": 1}
    wanzhou = next(d for d in counts["districts"] if d["code"] == WANZHOU)
    assert wanzhou["name"] == "万州区" and wanzhou["village_level_units"] == 610
    assert sum(d["village_level_units"] for d in counts["districts"]) == 11270


def test_township_kinds_come_from_names(chongqing):
    kinds = {t.kind for t in chongqing.divisions("township", within=WANZHOU)}
    assert kinds <= {"乡", "镇", "街道"} and {"镇", "街道"} <= kinds
    assert chongqing.division("500101001").kind == "街道"  # 高笋塘街道


def test_bare_village_names_are_villages_and_communities(sqlite_store, tmp_path):
    """中宁县's units carry no committee suffix in the 2023 codes (振兴社区, 石喇叭村): they are
    communities and villages, not the odd units ("other") a district's test compares apart."""
    directory = tmp_path / "ningxia"
    directory.mkdir()
    write_csv(directory / "provinces.csv", ["code", "name"], [["64", "宁夏回族自治区"]])
    write_csv(directory / "cities.csv", ["code", "name", "provinceCode"], [["6405", "中卫市", "64"]])
    write_csv(directory / "areas.csv", ["code", "name", "cityCode", "provinceCode"], [["640521", "中宁县", "6405", "64"]])
    write_csv(directory / "streets.csv", ["code", "name", "areaCode", "provinceCode", "cityCode"],
              [["640521100", "宁安镇", "640521", "64", "6405"]])
    write_csv(directory / "villages.csv", ["code", "name", "streetCode", "provinceCode", "cityCode", "areaCode"],
              [["640521100001", "振兴社区", "640521100", "64", "6405", "640521"],
               ["640521100101", "石喇叭村", "640521100", "64", "6405", "640521"],
               ["640521100102", "宁安社区工作站", "640521100", "64", "6405", "640521"]])
    load_divisions(sqlite_store, directory, show_progress=False)
    assert [v.kind for v in sqlite_store.divisions("village", within="640521")] == ["community", "village", "other"]
    assert sqlite_store.counts()["villages_by_kind"] == {"village": 1, "community": 1, "other": 1}


def test_loading_twice_changes_nothing(chongqing):
    before = chongqing.counts()
    summary = load_divisions(chongqing, DEFAULT_DIVISIONS, show_progress=False)
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 0, 12342)
    assert chongqing.counts() == before


def test_district_scope_loads_the_district_and_its_ancestors(sqlite_store):
    summary = load_divisions(sqlite_store, DEFAULT_DIVISIONS, district=WANZHOU, show_progress=False)
    counts = sqlite_store.counts()
    assert counts["by_level"] == {"province": 1, "city": 1, "district": 1, "township": 52, "village": 610}
    assert summary.inserted == 1 + 1 + 1 + 52 + 610


def test_show_lists_ancestors_and_children(chongqing_template, tmp_path):
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    result = run_cli("show", "500101001", "--json", store=f"sqlite:///{db}")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert [a["name"] for a in shown["ancestors"]] == ["重庆市", "市辖区", "万州区"]
    assert shown["children"] == {"village": 10}


def test_cli_stats_json_reports_chongqing(tmp_path):
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run_cli("load", "divisions", store=store).returncode == 0
    result = run_cli("stats", "--json", store=store)
    stats = json.loads(result.stdout)
    assert stats["by_level"]["district"] == 38 and stats["by_level"]["township"] == 1031
    assert stats["by_level"]["village"] == 11270
    assert stats["villages_by_kind"]["village"] == 7946 and stats["villages_by_kind"]["community"] == 3323


# -- bad input ------------------------------------------------------------------------------------
def _copy_divisions(tmp_path: Path) -> Path:
    target = tmp_path / "divisions"
    shutil.copytree(DEFAULT_DIVISIONS, target)
    return target


def _snapshot(store: SQLiteStore):
    return store.db.execute("SELECT code, name, level, parent_code, kind FROM division ORDER BY code").fetchall()


def _streets(directory: Path) -> list[list[str]]:
    import csv
    with open(directory / "streets.csv", encoding="utf-8") as f:
        return list(csv.reader(f))


def _break_streets(directory: Path, change) -> None:
    rows = _streets(directory)
    change(rows)
    write_csv(directory / "streets.csv", rows[0], rows[1:])


@pytest.mark.parametrize("case, change, expected", [
    ("missing column", lambda rows: [r.pop(2) for r in rows], ("streets.csv", 1, "areaCode", None, "表头中有列 areaCode")),
    ("malformed code", lambda rows: rows[5].__setitem__(0, "50010100X"),
     ("streets.csv", 6, "code", "50010100X", "9 位乡镇(街道)代码")),
    ("unknown parent", lambda rows: rows[3].__setitem__(2, "500199"),
     ("streets.csv", 4, "areaCode", "500199", "文件中或已加载的上级区划代码")),
])
def test_bad_streets_name_file_row_column_value_and_write_nothing(chongqing, tmp_path, case, change, expected):
    directory = _copy_divisions(tmp_path)
    _break_streets(directory, change)
    if case == "unknown parent":  # a fresh township whose district nobody knows
        rows = _streets(directory)
        rows[3][0] = "500199001"
        write_csv(directory / "streets.csv", rows[0], rows[1:])
    before = _snapshot(chongqing)
    with pytest.raises(InputError) as caught:
        load_divisions(chongqing, directory, show_progress=False)
    error = caught.value.errors[0]
    file, row, column, value, message = expected
    assert (error.file, error.row, error.column) == (file, row, column)
    assert error.value == value and message in error.expected
    assert _snapshot(chongqing) == before


def test_village_whose_township_is_unknown(sqlite_store, tmp_path):
    directory = _copy_divisions(tmp_path)
    with gzip.open(directory / "villages.csv.gz", "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    lines[7] = lines[7].replace("500101001", "500101999", 2)  # its code and its streetCode
    with gzip.open(directory / "villages.csv.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with pytest.raises(InputError) as caught:
        load_divisions(sqlite_store, directory, show_progress=False)
    error = caught.value.errors[0]
    assert (error.file, error.row, error.column, error.value) == ("villages.csv.gz", 8, "streetCode", "500101999")
    assert sqlite_store.counts()["by_level"]["village"] == 0 and sqlite_store.counts()["by_level"]["province"] == 0


def test_gbk_file_loads_and_bytes_in_no_encoding_are_refused(sqlite_store, tmp_path):
    directory = _copy_divisions(tmp_path)
    text = (directory / "areas.csv").read_text(encoding="utf-8")
    (directory / "areas.csv").write_bytes(text.encode("gb18030"))  # as Chinese Excel saves "CSV (逗号分隔)"
    load_divisions(sqlite_store, directory, show_progress=False)
    assert sqlite_store.division("500101").name == "万州区"
    (directory / "areas.csv").write_bytes(text.encode("utf-8").replace("万州".encode(), b"\xff\xfe\xff"))
    with pytest.raises(InputError) as caught:
        load_divisions(sqlite_store, directory, show_progress=False)
    error = caught.value.errors[0]
    assert error.file == "areas.csv" and error.row == 2 and "UTF-8 或 GBK/GB18030" in error.expected


def test_empty_file(sqlite_store, tmp_path):
    directory = _copy_divisions(tmp_path)
    (directory / "cities.csv").write_bytes(b"")
    with pytest.raises(InputError) as caught:
        load_divisions(sqlite_store, directory, show_progress=False)
    assert caught.value.errors[0].file == "cities.csv" and "文件是空的" in caught.value.errors[0].expected


def test_cli_bad_input_exits_2_with_the_place_on_stderr(chongqing_template, tmp_path):
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    directory = _copy_divisions(tmp_path)
    _break_streets(directory, lambda rows: rows[5].__setitem__(0, "5001"))
    result = run_cli("load", "divisions", str(directory), store=f"sqlite:///{db}")
    assert result.returncode == 2
    assert "streets.csv 第 6 行，列“code”，值“5001”：应为 9 位乡镇(街道)代码" in result.stderr
    assert result.stdout == ""


def test_cli_unknown_store_is_bad_input():
    result = run_cli("stats", store="postgres://nowhere")
    assert result.returncode == 2 and "sqlite:///路径" in result.stderr
