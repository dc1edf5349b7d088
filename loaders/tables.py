"""Validating loaders for the three tables inspection offices keep in Excel: units (机关/部门名录),
duties (权责清单) and issues (问题台账). Every row is checked, against the format and against the
store, before anything is written; all errors are reported at once; a valid file is written in one
transaction. The API's upload calls :func:`validate_table` and :func:`write_table` too."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Sequence

from pydantic import ValidationError

from graph.errors import InputError, RowError
from graph.model import CategoryIn, DutyIn, IssueIn, UnitIn
from graph.store import GraphStore, WriteSummary

from .progress import Progress
from .rows import Columns, Table, read_table

UNIT_COLUMNS = Columns({
    "unit_id": ("单位编号",), "name": ("单位名称",), "level": ("层级",),
    "area_code": ("所属区划代码",), "function": ("职能",),
}, required=("unit_id", "name", "level", "area_code", "function"))

DUTY_COLUMNS = Columns({
    "category": ("问题类别",), "level": ("层级",), "function": ("职能",), "duty": ("责任类型",),
}, required=("category", "level", "function", "duty"))

ISSUE_COLUMNS = Columns({
    "issue_id": ("问题编号",), "village_code": ("村(社区)代码", "村（社区）代码"),
    "village": ("村(社区)", "村(社区)名称"), "township": ("乡镇(街道)", "乡镇(街道)名称"),
    "round_id": ("巡察轮次",), "found_on": ("发现日期",), "category": ("问题类别",),
    "description": ("问题描述",), "severity": ("严重程度",), "amount_yuan": ("涉及金额", "涉及金额(元)"),
    "status": ("整改状态",), "immediate": ("立行立改",), "due_on": ("整改时限",), "closed_on": ("销号日期",),
    "root_unit_hint": ("根源单位",),
}, required=("issue_id", "round_id", "found_on", "category", "severity", "status"))

# The problem taxonomy (问题类别表): an office's own categories, with the reference rates a district
# is compared with when it is the only one with a ledger (expected problems per 村 / 社区 per
# inspection). Rates may be left empty: then no district test is made against a reference.
CATEGORY_COLUMNS = Columns({
    "name": ("问题类别", "类别名称"), "key": ("英文代码", "类别代码"), "group": ("类别分组", "分组"),
    "rate_village": ("村参考问题数", "村参考比例"), "rate_community": ("社区参考问题数", "社区参考比例"),
    "money": ("涉及资金",), "systemic_fix": ("机关端整改措施", "整改措施"),
}, required=("name",))

COLUMNS = {"units": UNIT_COLUMNS, "duties": DUTY_COLUMNS, "issues": ISSUE_COLUMNS, "categories": CATEGORY_COLUMNS}
MODELS = {"units": UnitIn, "duties": DutyIn, "issues": IssueIn, "categories": CategoryIn}
MAX_ERRORS = 1000


def _expected(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    replacements = {"Input should be a valid number, unable to parse string as a number": "a number",
                    "Input should be a valid number": "a number",
                    "Field required": "a value",
                    "String should have at least 1 character": "a value",
                    "Input should be greater than or equal to 0": "a number ≥ 0"}
    for key, text in replacements.items():
        if message.startswith(key):
            return text
    if message.startswith("String should match pattern '^\\d{12}$'"):
        return "a 12-digit village code"
    return message


def _row_errors(table: Table, number: int, fields: dict, exc: ValidationError) -> list[RowError]:
    errors = []
    for error in exc.errors():
        column = error["loc"][0] if error["loc"] else None
        message = error["msg"]
        if column is None and ": " in message:
            # model-level checks name their field first: "area_code: a 6-digit ..."
            head, rest = _expected(message).split(": ", 1)
            if head in fields:
                column, message = head, rest
        value = fields.get(column) if isinstance(column, str) else None
        header = table.headers.get(column, column) if isinstance(column, str) else None
        errors.append(RowError(table.file, number, header, value, _expected(message)))
    return errors


def validate_table(store: GraphStore, kind: str, path: str | Path) -> list:
    """Read and check a whole table; return its records or raise :class:`InputError` with every error."""
    table = read_table(path, COLUMNS[kind])
    if kind == "issues" and "village_code" not in table.index and "village" not in table.index:
        raise InputError(RowError(table.file, 1, "village_code", None,
                                  "a column village_code/村(社区)代码, or village/村(社区) with township/乡镇(街道)"))
    model = MODELS[kind]
    canonical = [c for c in COLUMNS[kind].aliases if c in table.index and c not in ("village", "township")]
    records: list[tuple[int, object]] = []
    raw: list[tuple[int, dict]] = []
    errors: list[RowError] = []
    pending_names: list[tuple[int, dict, dict, str, str | None]] = []
    for number, row in table.rows:
        if len(errors) >= MAX_ERRORS:
            break
        fields = {c: table.value(row, c) for c in canonical}
        fields = {k: v for k, v in fields.items() if v is not None}
        raw.append((number, fields))
        if kind == "issues" and "village_code" not in fields:
            village = table.value(row, "village")
            if village is None:
                errors.append(RowError(table.file, number, table.headers.get("village_code", "village_code"), None,
                                       "a 12-digit village code, or the village's name with its township"))
                continue
            pending_names.append((number, fields, table.extras(row), str(village),
                                  _text_of(table.value(row, "township"))))
            continue
        _validate_row(table, model, number, fields, table.extras(row), records, errors)
    # Names are resolved against the store once the format checks are done.
    for number, fields, extra, village, township in pending_names:
        candidates = store.villages_named(village, township)
        if len(candidates) == 1:
            fields["village_code"] = candidates[0].code
            _validate_row(table, model, number, fields, extra, records, errors)
        else:
            where = f"{township} " if township else ""
            if not candidates:
                expected = f"a village-level unit named {where}{village} in the loaded divisions"
            else:
                listed = "; ".join(f"{c.code} {c.name} (乡镇 {c.parent_code})" for c in candidates[:10])
                expected = f"a unique village; {len(candidates)} candidates: {listed}; give village_code or township"
            errors.append(RowError(table.file, number, table.headers.get("village", "village"), village, expected))
    # Checks across rows and against the store run on every row's raw values, so a row with a
    # format error still has its duplicates and unknown references reported.
    checks = {"units": _check_units, "duties": _check_duties, "issues": _check_issues,
              "categories": _check_categories}[kind]
    found, updates = checks(store, table, raw)
    errors += found
    if errors:
        raise InputError(sorted(errors, key=lambda e: (e.row or 0)))
    return [record.model_copy(update=updates[number]) if number in updates else record
            for number, record in records]


def _validate_row(table, model, number, fields, extra, records, errors):
    try:
        records.append((number, model.model_validate({**fields, "extra": extra})))
    except ValidationError as exc:
        errors.extend(_row_errors(table, number, fields, exc))


def _text_of(value) -> str | None:
    return None if value is None else str(value).strip()


def _duplicates(table: Table, raw, key, column: str, what: str) -> list[RowError]:
    seen: dict = {}
    errors = []
    for number, fields in raw:
        k = key(fields)
        if k is None or (isinstance(k, tuple) and None in k):
            continue
        if k in seen:
            errors.append(RowError(table.file, number, table.headers.get(column, column),
                                   k if isinstance(k, str) else fields.get(column),
                                   f"each {what} once in the file; also on row {seen[k]}"))
        else:
            seen[k] = number
    return errors


def _check_units(store: GraphStore, table: Table, raw):
    errors = _duplicates(table, raw, lambda f: _text_of(f.get("unit_id")), "unit_id", "unit_id")
    codes = [str(f["area_code"]) for _, f in raw if f.get("area_code")]
    known = store.existing_codes(codes)
    for number, fields in raw:
        code = _text_of(fields.get("area_code"))
        if code and code.isdigit() and len(code) in (6, 9) and code not in known:
            errors.append(RowError(table.file, number, table.headers["area_code"], code,
                                   "a district or township code in the loaded divisions"))
    return errors, {}


def _check_duties(store: GraphStore, table: Table, raw):
    key = lambda f: tuple(_text_of(f.get(c)) for c in ("category", "level", "function", "duty"))  # noqa: E731
    return _duplicates(table, raw, key, "category", "duty row"), {}


def _check_categories(store: GraphStore, table: Table, raw):
    errors = _duplicates(table, raw, lambda f: _text_of(f.get("name")), "name", "category")
    for number, fields in raw:
        rates = [fields.get(c) for c in ("rate_village", "rate_community")]
        if (rates[0] is None) != (rates[1] is None):
            column = "rate_community" if rates[1] is None else "rate_village"
            errors.append(RowError(table.file, number, table.headers.get(column, column), None,
                                   "村和社区的参考问题数同时给出或同时留空 (both rates, or neither)"))
    return errors, {}


def _check_issues(store: GraphStore, table: Table, raw):
    errors = _duplicates(table, raw, lambda f: _text_of(f.get("issue_id")), "issue_id", "issue_id")
    codes = [_text_of(f.get("village_code")) for _, f in raw if f.get("village_code")]
    villages = {c for c in store.existing_codes(codes) if len(c) == 12}
    categories = {}
    for category in store.categories():
        categories[category.name] = category.name
        if category.key:
            categories[category.key] = category.name
    units = store.units()
    by_id = {u.unit_id for u in units}
    by_name: dict[str, list[str]] = {}
    for u in units:
        by_name.setdefault(u.name, []).append(u.unit_id)
    updates: dict[int, dict] = {}
    for number, fields in raw:
        change = {}
        code = _text_of(fields.get("village_code"))
        if code and code.isdigit() and len(code) == 12 and code not in villages:
            errors.append(RowError(table.file, number, table.headers.get("village_code", "village_code"), code,
                                   "a village code in the loaded divisions"))
        category = _text_of(fields.get("category"))
        if category is not None:
            if category not in categories:
                errors.append(RowError(table.file, number, table.headers["category"], category,
                                       "a category of the loaded catalog (xuncha catalog load, or load duties first)"))
            elif categories[category] != category:
                change["category"] = categories[category]
        hint = _text_of(fields.get("root_unit_hint"))
        if hint and hint not in by_id:
            many = by_name.get(hint, [])
            if len(many) == 1:
                change["root_unit_hint"] = many[0]
            else:
                expected = ("a unit_id or unit name of the loaded units" if not many else
                            f"a unique unit; {len(many)} units have this name: {', '.join(many[:5])}")
                errors.append(RowError(table.file, number, table.headers["root_unit_hint"], hint, expected))
        if change:
            updates[number] = change
    return errors, updates


def write_table(store: GraphStore, kind: str, records: Sequence, show_progress: bool = False) -> WriteSummary:
    if kind == "units":
        return store.upsert_units(records)
    if kind == "duties":
        return store.upsert_duties(records)
    if kind == "categories":
        return store.upsert_categories(records)
    progress = Progress("issues", len(records)) if show_progress else None
    recorded_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return store.upsert_issues(records, recorded_at, progress)


def load_table(store: GraphStore, kind: str, path: str | Path, show_progress: bool = False) -> WriteSummary:
    records = validate_table(store, kind, path)
    return write_table(store, kind, records, show_progress)
