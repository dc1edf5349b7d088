"""The default responsibility catalog shipped with xuncha: functions (职能), a problem taxonomy
(问题类别) with expected rates, and the duties table (权责清单) that maps each category to the
township- and district-level functions bearing primary, supervisory and guidance duty."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from graph.errors import InputError
from graph.model import CategoryIn, UnitIn, parse_bool
from graph.store import GraphStore, WriteSummary

from .tables import validate_table

CATALOG_DIR = Path(__file__).parent / "data" / "catalog"


@dataclass(frozen=True)
class Function:
    function: str
    name_zh: str
    district_unit: str  # name pattern of the district-level unit, "{area}..." (empty: none at that level)
    township_unit: str


def default_functions() -> list[Function]:
    with open(CATALOG_DIR / "functions.csv", encoding="utf-8") as f:
        return [Function(**row) for row in csv.DictReader(f)]


def default_categories() -> list[CategoryIn]:
    with open(CATALOG_DIR / "categories.csv", encoding="utf-8") as f:
        return [CategoryIn(name=r["name"], key=r["key"], group=r["group"], rate_village=float(r["rate_village"]),
                           rate_community=float(r["rate_community"]), money=parse_bool(r["money"]),
                           systemic_fix=r["systemic_fix"]) for r in csv.DictReader(f)]


def load_default_catalog(store: GraphStore) -> dict[str, WriteSummary]:
    """Categories first (with their rates and fixes), then the duties that name them."""
    categories = store.upsert_categories(default_categories())
    duties = store.upsert_duties(validate_table(store, "duties", CATALOG_DIR / "duties.csv",
                                                  new_function=True).records)
    return {"categories": categories, "duties": duties}


def catalog_units(store: GraphStore, district: str, functions: list[Function] | None = None) -> list[UnitIn]:
    """One unit per function for the district and for each of its townships, from the loaded divisions.
    Ids are ``AREA_CODE-function``, e.g. ``500101-civil_affairs``, ``500101001-township_finance_office``."""
    division = store.division(district)
    if division is None or division.level != "district":
        raise InputError(f"已加载的 6 位区县代码；{district} 不是 (a loaded district code)")
    functions = functions or default_functions()
    units = []
    areas = [(division, "district")] + [(t, "township") for t in store.divisions("township", within=district)]
    for area, level in areas:
        for f in functions:
            pattern = f.district_unit if level == "district" else f.township_unit
            if pattern:
                units.append(UnitIn(unit_id=f"{area.code}-{f.function}", name=pattern.format(area=area.name),
                                    level=level, area_code=area.code, function=f.function))
    return units
