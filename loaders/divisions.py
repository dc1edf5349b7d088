"""Loading the national statistical division codes (provinces, cities, districts, townships,
village-level units) in the format of the ``china-division`` package: one CSV per level."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from graph.errors import InputError, RowError
from graph.model import LEVEL_ZH, Division, township_kind, village_kind
from graph.store import GraphStore, WriteSummary

from .progress import Progress
from .rows import Columns, read_table

DEFAULT_DIVISIONS = Path(__file__).parent / "data" / "divisions" / "chongqing"


@dataclass(frozen=True)
class LevelFile:
    stem: str
    level: str
    digits: int
    parent_column: str | None


LEVEL_FILES = (
    LevelFile("provinces", "province", 2, None),
    LevelFile("cities", "city", 4, "provinceCode"),
    LevelFile("areas", "district", 6, "cityCode"),
    LevelFile("streets", "township", 9, "areaCode"),
    LevelFile("villages", "village", 12, "streetCode"),
)


def _find(directory: Path, stem: str) -> Path | None:
    for suffix in (".csv", ".csv.gz", ".xlsx"):
        candidate = directory / f"{stem}{suffix}"
        if candidate.exists():
            return candidate
    return None


def _in_scope(code: str, province: str | None, district: str | None) -> bool:
    if district:
        # the district itself, its townships and villages, and its ancestors
        return code.startswith(district) or district.startswith(code)
    if province:
        return code.startswith(province)
    return True


def read_divisions(directory: str | Path, store: GraphStore | None = None, *, province: str | None = None,
                   district: str | None = None) -> list[Division]:
    """Read and validate every level file present in ``directory``; raise :class:`InputError`
    listing every bad row. Parents must be in the files or already in ``store``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(RowError(str(directory), None, None, None, "一个文件夹，内有 provinces.csv、cities.csv、"
                                  "areas.csv、streets.csv、villages.csv(.gz) (a directory of division files)"))
    for scope, digits in ((province, 2), (district, 6)):
        if scope is not None and not (scope.isdigit() and len(scope) == digits):
            raise InputError(RowError("--province" if digits == 2 else "--district", None, None, scope,
                                      f"{digits} 位统计用区划代码 (a {digits}-digit code)"))
    found = [(spec, _find(directory, spec.stem)) for spec in LEVEL_FILES]
    if not any(path for _, path in found):
        raise InputError(RowError(str(directory), None, None, None,
                                  "至少有 provinces.csv、cities.csv、areas.csv、streets.csv、villages.csv(.gz) 之一"))
    divisions: list[Division] = []
    errors: list[RowError] = []
    known: set[str] = set()
    unresolved: dict[str, list[tuple[str, int, str]]] = {}  # parent -> rows naming it, checked against the store
    for spec, path in found:
        if path is None:
            continue
        required = ("code", "name") + ((spec.parent_column,) if spec.parent_column else ())
        table = read_table(path, Columns({c: () for c in required}, required))
        parent_header = table.headers.get(spec.parent_column, spec.parent_column)
        level_zh = LEVEL_ZH[spec.level]
        codes_here: set[str] = set()
        for number, row in table.rows:
            # XLSX gives numbers for codes typed as numbers: cell_value turns them back into digits.
            code = str(table.value(row, "code") or "")
            if not _in_scope(code, province, district):
                continue
            name = str(table.value(row, "name") or "")
            if len(code) != spec.digits or not code.isdigit():
                errors.append(RowError(table.file, number, table.headers["code"], code,
                                       f"{spec.digits} 位{level_zh}代码 (a {spec.digits}-digit {spec.level} code)"))
                continue
            if code in codes_here:
                errors.append(RowError(table.file, number, table.headers["code"], code,
                                       "代码在文件中只出现一次 (each code once)"))
                continue
            if not name:
                errors.append(RowError(table.file, number, table.headers["name"], name, "名称，不能为空 (a name)"))
                continue
            parent = None
            if spec.parent_column:
                parent = str(table.value(row, spec.parent_column) or "")
                if not parent.isdigit() or not code.startswith(parent):
                    errors.append(RowError(table.file, number, parent_header, parent,
                                           f"上级区划代码，为 {code} 的前缀 (the parent's code, a prefix of {code})"))
                    continue
                if parent not in known:
                    unresolved.setdefault(parent, []).append((table.file, number, parent_header))
            codes_here.add(code)
            kind = township_kind(name) if spec.level == "township" else (
                village_kind(name) if spec.level == "village" else None)
            divisions.append(Division(code, name, spec.level, parent, kind))
        known |= codes_here
    if unresolved:
        in_store = store.existing_codes(unresolved) if store is not None else set()
        for parent, places in sorted(unresolved.items()):
            if parent in in_store:
                continue
            for file, number, column in places[:20]:
                errors.append(RowError(file, number, column, parent,
                                       "文件中或已加载的上级区划代码 (a parent code in the files or loaded)"))
    if errors:
        raise InputError(errors)
    if not divisions:
        raise InputError(RowError(str(directory), None, None, province or district,
                                  "范围内至少一个区划；文件中没有 (no division in scope)"))
    return divisions


def load_divisions(store: GraphStore, directory: str | Path = DEFAULT_DIVISIONS, *, province: str | None = None,
                   district: str | None = None, show_progress: bool = True) -> WriteSummary:
    divisions = read_divisions(directory, store, province=province, district=district)
    progress = Progress("divisions", len(divisions)) if show_progress else None
    return store.upsert_divisions(divisions, progress)
