"""The default catalog: a 20-category taxonomy covering what the article names, a duties table
with a primary bearer at the township level for every category, and units made from divisions."""
from __future__ import annotations

from pathlib import Path

from loaders.catalog import catalog_units, default_categories, default_functions

from .conftest import GAOSUNTANG, WANZHOU, run_cli

ROOT = Path(__file__).resolve().parent.parent


def test_taxonomy_covers_the_domain(chongqing):
    names = {c.name for c in chongqing.categories()}
    assert 15 <= len(names) <= 25
    for needle in ("党组织", "一肩挑", "集体资金", "集体资产", "惠民惠农", "低保", "项目", "宅基地", "公开", "财务",
                   "作风", "乡村振兴", "供水", "道路", "生态", "信访", "整改"):
        assert any(needle in name for name in names), needle
    for category in names:
        township = {d.duty for d in chongqing.duties() if d.category == category and d.level == "township"}
        district = {d.duty for d in chongqing.duties() if d.category == category and d.level == "district"}
        assert "primary" in township and district, category


def test_catalog_is_documented():
    text = (ROOT / "docs" / "catalog.md").read_text(encoding="utf-8")
    for category in default_categories():
        assert f"| {category.name} |" in text
    for function in default_functions():
        assert f"`{function.function}`" in text


def test_units_one_per_function_per_district_and_township(chongqing):
    functions = default_functions()
    units = catalog_units(chongqing, WANZHOU)
    district_functions = [f for f in functions if f.district_unit]
    township_functions = [f for f in functions if f.township_unit]
    assert len(units) == len(district_functions) + 52 * len(township_functions)
    by_id = {u.unit_id: u for u in units}
    assert by_id[f"{WANZHOU}-civil_affairs"].name == "万州区民政局"
    assert by_id[f"{GAOSUNTANG}-township_finance_office"].name == "高笋塘街道财政所"


def test_cli_catalog_units_is_idempotent(chongqing_template, tmp_path):
    import json
    import shutil
    db = tmp_path / "x.db"
    shutil.copy(chongqing_template, db)
    first = json.loads(run_cli("catalog", "units", "--district", WANZHOU, "--json", store=f"sqlite:///{db}").stdout)
    again = json.loads(run_cli("catalog", "units", "--district", WANZHOU, "--json", store=f"sqlite:///{db}").stdout)
    assert first["units"]["inserted"] == 641 and again["units"] == {"inserted": 0, "updated": 0, "unchanged": 641}
