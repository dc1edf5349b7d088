"""Validating loaders for the three tables inspection offices keep in Excel: units (机关/部门名录),
duties (权责清单) and issues (问题台账). Every row is checked, against the format and against the
store, before anything is written; all errors are reported at once; a valid file is written in one
transaction. The API's upload calls :func:`validate_table` and :func:`write_table` too."""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import gc
import operator
import re
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from sys import intern
from typing import NamedTuple, Sequence

from pydantic import ValidationError

from graph.access import EVERY_DISTRICT, Scope, refuse_foreign_issues
from graph.errors import InputError, RowError
from graph.model import (ISSUE_FIELD_ORDER, NO_EXTRA, TERM_HEADERS, CategoryIn, DutyIn, IssueIn, IssueRecord,
                         Status, UnitIn, UnitLevel, category_spelling, half_width, plain_issue, plain_issue_values,
                         term_of, village_name_matches)
from graph.store import GraphStore, WriteSummary

from .progress import Progress
from .rows import Columns, Source, Table, read_table

UNIT_COLUMNS = Columns({
    "unit_id": ("单位编号",), "name": ("单位名称",), "level": ("层级",),
    "area_code": ("所属区划代码",), "function": ("职能",), "leader": ("分管领导",),
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
}, required=("issue_id", "round_id", "found_on", "category", "severity", "status"),
    one_of=(("village_code", "village"),))

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
class IssueKeys(NamedTuple):
    """What the checks across rows and against the store read of a ledger row, as text."""

    issue_id: str | None
    village_code: str | None
    category: str | None
    root_unit_hint: str | None
    status: str | None


# IssueKeys made without its Python-level __new__ (C calls only): the loaders make one per row.
_issue_keys = functools.partial(tuple.__new__, IssueKeys)

RAW_KEYS = {"units": ("unit_id", "area_code"), "duties": ("category", "level", "function", "duty"),
            "categories": ("name", "rate_village", "rate_community", "key", "group", "money", "systemic_fix")}
CODE_COLUMNS = ("village_code", "area_code", "code", "unit_id", "issue_id")
# Excel shows a long number typed into a General cell as 5.00101E+11, and saves it so in CSV.
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")
EXCEL_NUMBER_HINT = ("；该值是 Excel 的科学计数法，代码已失去末尾数字：请把该列设置为“文本”格式，"
                     "重新输入代码后再保存 (format the column as text)")


def _expected(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    replacements = {"Input should be a valid number, unable to parse string as a number": "数字 (a number)",
                    "Input should be a valid number": "数字 (a number)",
                    "Input should be a finite number": "有限的数，不是 inf 或 nan (a finite number)",
                    "Field required": "一个值，不能为空 (a value)",
                    "String should have at least 1 character": "一个值，不能为空 (a value)",
                    "Input should be greater than or equal to 0": "不小于 0 的数 (a number ≥ 0)",
                    "Input should be a valid date": "日期，如 2024-03-05 (a date)",
                    "Input should be a valid string": "文本 (text)",
                    "Extra inputs are not permitted": "格式中没有的列 (an unknown field)"}
    for key, text in replacements.items():
        if message.startswith(key):
            return text
    if message.startswith("String should match pattern '^\\d{12}$'"):
        return "12 位村(社区)统计代码 (a 12-digit village code)"
    return message


def expected_for(column: str | None, value, message: str) -> str:
    """The message for a bad value, with the hint Excel users need when a code became a number."""
    text = _expected(message)
    if column in CODE_COLUMNS and isinstance(value, str) and _SCIENTIFIC.match(value):
        text += EXCEL_NUMBER_HINT
    return text


def _listed(values: Sequence[str], limit: int = 30) -> str:
    shown = "、".join(values[:limit])
    return shown + (f" 等 {len(values)} 个" if len(values) > limit else "")


@dataclass
class Validated:
    """A checked table: its records, in file order, and how the file was read."""

    kind: str
    records: list
    source: Source

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)


def _row_errors(table: Table, number: int, fields: dict, exc: ValidationError) -> list[RowError]:
    errors = []
    for error in exc.errors():
        column = error["loc"][0] if error["loc"] else None
        message = error["msg"]
        if column is None and ": " in message:
            # model-level checks name their field first: "closed_on: 不早于 ..."
            head, rest = _expected(message).split(": ", 1)
            if head in MODELS_FIELDS:
                column, message = head, rest
        value = fields.get(column) if isinstance(column, str) else None
        header = table.header(column) if isinstance(column, str) else None
        errors.append(RowError(table.file, number, header, value, expected_for(column, value, message)))
    return errors


MODELS_FIELDS = {name for model in MODELS.values() for name in model.model_fields}


def validate_rows(store: GraphStore, kind: str, rows: Sequence[dict], source: str = "请求", **options) -> Validated:
    """The same checks as :func:`validate_table`, for rows given as dicts keyed by the format's
    canonical column names (an API body); row numbers count from 1."""
    columns = [c for c in COLUMNS[kind].aliases if any(c in row for row in rows)]
    unknown = sorted({k for row in rows for k in row} - set(COLUMNS[kind].aliases) - {"extra"})
    if unknown:
        raise InputError([RowError(source, None, k, None, f"格式中有的字段：{'、'.join(COLUMNS[kind].aliases)}")
                          for k in unknown])
    # Notes outside the format (``extra``: 整改佐证, 复发重开) ride as extra columns after the named ones.
    extra_names = sorted({k for row in rows for k in (row.get("extra") or {})})
    table = Table(file=source, index={c: i for i, c in enumerate(columns)}, headers={c: c for c in columns},
                  extra={name: len(columns) + i for i, name in enumerate(extra_names)}, source=Source("json"))
    table.rows = ((n, ["" if row.get(c) is None else row.get(c) for c in columns]
                   + [(row.get("extra") or {}).get(name) for name in extra_names])
                  for n, row in enumerate(rows, start=1))
    return _validate(store, kind, table, **options)


def validate_table(store: GraphStore, kind: str, path: str | Path, *, new_category: bool = False,
                   new_function: bool = False, allow_reopen: bool = False,
                   progress: Progress | None = None, scope: Scope = EVERY_DISTRICT) -> Validated:
    """Read and check a whole table; return its records or raise :class:`InputError` with every error.

    ``new_category``: a duties table may name categories the taxonomy does not have (they are
    created); otherwise a misspelt category is refused rather than becoming a new one.
    ``new_function``: a duty may name a function no loaded unit has. ``allow_reopen``: an issues
    table may move a closed (已销号) issue back to another status. ``scope``: a district's caller
    writes its district's problems only (:func:`graph.access.refuse_foreign_issues`)."""
    table = read_table(path, COLUMNS[kind])
    return _validate(store, kind, table, new_category=new_category, new_function=new_function,
                     allow_reopen=allow_reopen, progress=progress, scope=scope)


@contextmanager
def collector_paused():
    """Pause Python's cycle collector for a load. A 200,000-row ledger makes millions of small
    objects, none in a cycle, and the collector would walk all of them again each time a few
    thousand more were made (a fifth of a load's time). Threads may nest it: the collector is
    switched back on by whoever switched it off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _validate(store: GraphStore, kind: str, table: Table, **options) -> Validated:
    with collector_paused():
        return _validate_all(store, kind, table, **options)


def _validate_all(store: GraphStore, kind: str, table: Table, *, new_category: bool = False,
                  new_function: bool = False, allow_reopen: bool = False,
                  progress: Progress | None = None, scope: Scope = EVERY_DISTRICT) -> Validated:
    model = MODELS[kind]
    keep = RAW_KEYS.get(kind, ())
    canonical = [c for c in COLUMNS[kind].aliases if c in table.index and c not in ("village", "township")]
    records: list[tuple[int, object]] = []
    raw: list[tuple[int, dict]] = []
    errors: list[RowError] = []
    pending_names: list[tuple[int, dict, dict, str, str | None]] = []
    # A ledger's columns by position, in the order plain_issue_values takes them; a column the
    # file lacks is read from an empty cell appended to the row (-1), so one itemgetter reads all.
    positions = [table.index.get(c) for c in ISSUE_FIELD_ORDER] if kind == "issues" else []
    reach = max((p for p in positions if p is not None), default=0)
    lacking = None in positions
    cells = operator.itemgetter(*(-1 if p is None else p for p in positions)) if positions else None
    status_at = ISSUE_FIELD_ORDER.index("status")
    # A ledger with both a code and a name column: each row's pair, checked against the loaded
    # divisions after the rows (a name that is not the code's village is refused, not ignored).
    name_at = table.index.get("village") if "village_code" in table.index else None
    named: dict[tuple[str, str], list[int]] = {}
    for count, (number, row) in enumerate(table.rows, start=1):
        if progress is not None and count % 5000 == 0:
            progress(5000)
        if kind == "issues":
            # The plain row, as almost every row of a ledger is: read by position and made its
            # record straight away; for the checks across rows, a tuple of its text (interned).
            # Anything else (an Excel cell that is not text, a short row, a control character,
            # an odd value) goes the long way below, which says what is wrong.
            record = None
            if len(row) > reach and row.__class__ is list:
                extra = table.extras(row) if table.extra else NO_EXTRA
                try:
                    plain = not _CONTROL.search("".join(row))
                except TypeError:  # an Excel cell that is not text
                    plain = False
                if plain:  # every cell is text
                    if lacking:
                        row.append("")
                    values = [cell.strip() or None for cell in cells(row)]
                    if lacking:
                        row.pop()
                    record = plain_issue_values(*values, extra)
            if record is not None:
                records.append((number, record))
                raw.append((number, _issue_keys((record.issue_id, record.village_code, record.category,
                                                 record.root_unit_hint, intern(values[status_at])))))
                if name_at is not None:
                    _named(named, number, record.village_code, table.value(row, "village"))
                continue
            fields = _half_width_numbers(table.fields(row, canonical))
            raw.append((number, _issue_keys(_text_of(fields.get(k)) for k in IssueKeys._fields)))
        else:
            fields = _half_width_numbers(table.fields(row, canonical))
            # Only what the checks across rows read is kept for every row.
            raw.append((number, {k: fields[k] for k in keep if k in fields}))
        if name_at is not None and "village_code" in fields:
            _named(named, number, _text_of(fields["village_code"]), table.value(row, "village"))
        if kind == "issues" and "village_code" not in fields:
            village = table.value(row, "village")
            if village is None:
                errors.append(RowError(table.file, number, table.header("village_code"), None,
                                       "12 位村(社区)代码，或村(社区)名称及其乡镇(街道) (a village code or name)"))
                continue
            pending_names.append((number, fields, table.extras(row), str(village),
                                  _text_of(table.value(row, "township"))))
            continue
        _validate_row(table, model, number, fields, table.extras(row), records, errors)
    # Names are resolved against the store once the format checks are done.
    for number, fields, extra, village, township in pending_names:
        # A district's caller names its own villages: another district's namesakes neither make
        # the name ambiguous nor are shown to it.
        candidates = [c for c in store.villages_named(village, township) if scope.sees(c.code)]
        if len(candidates) == 1:
            fields["village_code"] = candidates[0].code
            _validate_row(table, model, number, fields, extra, records, errors)
        else:
            where = f"{township} " if township else ""
            if not candidates:
                expected = f"已加载区划中名为 {where}{village} 的村(社区) (a loaded village of this name)"
            else:
                listed = "；".join(f"{c.code} {c.name} (乡镇 {c.parent_code})" for c in candidates[:10])
                expected = (f"唯一的村(社区)；同名的有 {len(candidates)} 个：{listed}；请填写村(社区)代码或乡镇(街道) "
                            "(a unique village: give its code or township)")
            errors.append(RowError(table.file, number, table.header("village"), village, expected))
    # Checks across rows and against the store run on every row's raw values, so a row with a
    # format error still has its duplicates and unknown references reported.
    if progress is not None:
        progress.finish()
    errors += table.unnamed_errors()
    if kind == "issues" and scope.district is not None:
        # Ownership first: a problem outside the caller's district is not looked at any further
        # (whether it is closed, say), whatever the row says.
        sent = {number: record.village_code for number, record in records}
        refuse_foreign_issues(store, scope, ((number, keys.issue_id, sent.get(number, keys.village_code))
                                             for number, keys in raw), table.file, table.headers)
    options = {"new_category": new_category, "new_function": new_function, "allow_reopen": allow_reopen,
               "scope": scope}
    checks = {"units": _check_units, "duties": _check_duties, "issues": _check_issues,
              "categories": _check_categories}[kind]
    found, updates = checks(store, table, raw, **options)
    errors += found
    if named:
        errors += _check_village_names(store, table, named)
    if errors:
        raise InputError(sorted(errors, key=lambda e: (e.row or 0)))
    records = [_updated(record, updates[number]) if number in updates else record for number, record in records]
    return Validated(kind, _keep_stored_extras(store, records) if kind == "issues" else records, table.source)


def _keep_stored_extras(store: GraphStore, records: list[IssueRecord]) -> list[IssueRecord]:
    """An update keeps the extra columns it does not carry (届次 above all: a row sent without it,
    by the API or a file without that column or with its cell left blank, would otherwise take
    the problem out of its term). What the row does carry replaces the stored value."""
    stored = store.issue_extras(record.issue_id for record in records)
    if not stored:
        return records
    kept = []
    for record in records:
        before = stored.get(record.issue_id)
        if before:
            if term_of(record.extra):
                # the term under another of its headers (巡察届次 for 届次) is the same column
                before = {k: v for k, v in before.items() if k not in TERM_HEADERS}
            merged = {**before, **record.extra}
            if merged != record.extra:
                record = _updated(record, {"extra": merged})
        kept.append(record)
    return kept


def _named(named: dict, number: int, code, name) -> None:
    if code and name is not None:
        named.setdefault((code, str(name)), []).append(number)


def _check_village_names(store: GraphStore, table: Table, named: dict) -> list[RowError]:
    """Rows whose village name is not the village of their code: which of the two is wrong only
    the office knows, so the row is refused naming both."""
    loaded: dict[str, tuple[str, str | None]] = {}
    for district in sorted({code[:6] for code, _ in named if len(code) == 12 and code.isdigit()}):
        for village in store.divisions("village", within=district):
            loaded[village.code] = (village.name, village.parent_code)
    townships = {code: store.division(code) for code in {p for _, p in loaded.values() if p}} if loaded else {}
    errors = []
    for (code, name), numbers in named.items():
        known = loaded.get(code)
        if known is None or village_name_matches(name, known[0]):
            continue  # an unknown code is reported as such
        township = townships.get(known[1])
        where = f"（{township.name}）" if township else ""
        for number in numbers:
            errors.append(RowError(table.file, number, table.header("village"), name,
                                   f"与村(社区)代码一致的名称：代码 {code} 是 {known[0]}{where}，请核对代码或名称 "
                                   "(the code's village)"))
    return errors


# Columns holding codes, numbers and dates: full-width digits read as ASCII ones.
_NUMBER_COLUMNS = ("village_code", "area_code", "amount_yuan", "found_on", "due_on", "closed_on",
                   "rate_village", "rate_community")


def _half_width_numbers(fields: dict) -> dict:
    for column in _NUMBER_COLUMNS:
        value = fields.get(column)
        if value.__class__ is str and not value.isascii():
            fields[column] = half_width(value)
    return fields


def _updated(record, change: dict):
    if isinstance(record, IssueRecord):
        return record._replace(**change)
    return record.model_copy(update=change)


# NUL and other control characters (not tab or line breaks, which Excel cells hold) come from
# broken exports; a report could not carry them, so they are refused where the user can fix them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _has_control(fields: dict, extra: dict) -> bool:
    try:
        text = "".join(fields.values()) + "".join(extra.values()) if extra else "".join(fields.values())
    except TypeError:  # Excel cells: numbers and dates among the values
        text = "".join(v for v in (*fields.values(), *extra.values()) if isinstance(v, str))
    return _CONTROL.search(text) is not None


def _validate_row(table, model, number, fields, extra, records, errors):
    if _has_control(fields, extra):
        bad = [(c, v) for c, v in {**fields, **extra}.items() if isinstance(v, str) and _CONTROL.search(v)]
        for column, value in bad:
            errors.append(RowError(table.file, number, table.header(column), value,
                                   "不含控制字符（如 NUL）的文本 (text without control characters)"))
        return
    if model is IssueIn and (record := plain_issue(fields, extra)) is not None:
        records.append((number, record))  # a row whose village was given by name
        return
    try:
        record = model.model_validate({**fields, "extra": extra})
        records.append((number, IssueRecord.of(record) if model is IssueIn else record))
    except ValidationError as exc:
        errors.extend(_row_errors(table, number, fields, exc))


def _text_of(value) -> str | None:
    # Values from Table.fields are stripped text already; Excel may give numbers or booleans.
    if value is None or value.__class__ is str:
        return value
    return str(value).strip()


def _duplicates(table: Table, raw, key, column: str, what: str) -> list[RowError]:
    seen: dict = {}
    errors = []
    for number, fields in raw:
        k = key(fields)
        if k is None or (isinstance(k, tuple) and None in k):
            continue
        if k in seen:
            errors.append(RowError(table.file, number, table.header(column),
                                   k if isinstance(k, str) else fields.get(column),
                                   f"{what}在文件中只出现一次；第 {seen[k]} 行已有 (each {what} once)"))
        else:
            seen[k] = number
    return errors


def _check_units(store: GraphStore, table: Table, raw, **_):
    errors = _duplicates(table, raw, lambda f: _text_of(f.get("unit_id")), "unit_id", "单位编号")
    codes = [str(f["area_code"]) for _, f in raw if f.get("area_code")]
    known = store.existing_codes(codes)
    for number, fields in raw:
        code = _text_of(fields.get("area_code"))
        if code and code.isdigit() and len(code) in (6, 9) and code not in known:
            errors.append(RowError(table.file, number, table.headers["area_code"], code,
                                   "已加载区划中的区县或乡镇(街道)代码 (a loaded district or township code)"))
    return errors, {}


def _check_duties(store: GraphStore, table: Table, raw, new_category=False, new_function=False, **_):
    key = lambda f: tuple(_text_of(f.get(c)) for c in ("category", "level", "function", "duty"))  # noqa: E731
    errors = _duplicates(table, raw, key, "category", "权责条目")
    categories, aliases = _category_names(store)
    functions: dict[str, set[str]] = {}
    for unit in store.units():
        functions.setdefault(unit.level, set()).add(unit.function)
    for number, fields in raw:
        category = _text_of(fields.get("category"))
        if category and not new_category and _canonical_category(category, aliases) is None:
            errors.append(RowError(table.file, number, table.headers["category"], category,
                                   _unknown_category(category, categories) + "；新类别请加 --new-category "
                                   "(a category of the taxonomy)"))
        function, level = _text_of(fields.get("function")), _text_of(fields.get("level"))
        try:
            level = UnitLevel.parse(level).value if level else None
        except ValueError:
            level = None
        if function and level and not new_function and function not in functions.get(level, set()):
            known = sorted(functions.get(level, set()))
            hint = f"：{_listed(known)}" if known else "；尚未加载单位，请先 xuncha load units"
            errors.append(RowError(table.file, number, table.headers["function"], function,
                                   f"已加载的{UnitLevel(level).zh}级单位的职能{hint}；新职能请加 --new-function "
                                   "(a function some unit has)"))
    return errors, {}


def _category_names(store: GraphStore) -> tuple[list[str], dict[str, str]]:
    """The taxonomy's names, and every accepted spelling (name or English key) -> name."""
    names, aliases = [], {}
    for category in store.categories():
        names.append(category.name)
        aliases[category.name] = category.name
        if category.key:
            aliases[category.key] = category.name
    return names, aliases


def known_category(store: GraphStore, name: str, source: str = "问题类别筛选 (category)",
                   column: str | None = "query.category") -> str:
    """The taxonomy's name for a category a filter names as a ledger may (its name, its English
    key, its name with full-width brackets); bad input naming the loaded ones otherwise."""
    names, aliases = _category_names(store)
    canonical = _canonical_category(name.strip(), aliases)
    if canonical is None:
        raise InputError(RowError(source, None, column, name, _unknown_category(name.strip(), names)))
    return canonical


def _canonical_category(name: str, aliases: dict[str, str]) -> str | None:
    """The taxonomy's name for a category as written (its name, its key, or its name with
    full-width brackets), else None."""
    canonical = aliases.get(name)
    if canonical is None:
        canonical = aliases.get(category_spelling(name))
    return canonical


def _look_alike(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).replace("“", '"').replace("”", '"').split())


def _unknown_category(name: str, names: list[str]) -> str:
    """What was expected instead of an unknown category: the loaded ones, first a look-alike that
    differs only in full-width or half-width characters, spaces or quotes, saying so."""
    if not names:
        return "问题类别表中的类别；尚未加载任何问题类别：先运行 xuncha catalog load 或 xuncha load categories"
    alike = [n for n in names if _look_alike(n) == _look_alike(name)]
    if alike:
        return (f"问题类别表中的类别：“{alike[0]}”与所填写法看起来相同，但全角/半角字符、空格或引号不同，"
                f"请照“{alike[0]}”填写")
    return f"问题类别表中的类别：{_listed(names)}"


def _check_categories(store: GraphStore, table: Table, raw, **_):
    errors = _duplicates(table, raw, lambda f: _text_of(f.get("name")) and category_spelling(_text_of(f["name"])),
                         "name", "问题类别")
    for number, fields in raw:
        rates = [fields.get(c) for c in ("rate_village", "rate_community")]
        if (rates[0] is None) != (rates[1] is None):
            column = "rate_community" if rates[1] is None else "rate_village"
            errors.append(RowError(table.file, number, table.header(column), None,
                                   "村和社区的参考问题数同时给出或同时留空 (both rates, or neither)"))
    # A table updates what it gives of a loaded category and keeps the rest. Without rates (an
    # office's own names and groups) it keeps the rates: loading it over the catalog had taken
    # every district test away unsaid. With only the rates (an office's table of its own rates)
    # it keeps the English key, the group, whether money is involved and the agency-side fix:
    # loading one had blanked them all, and with them the money shown beside each cause.
    loaded = {c.name: c for c in store.categories()}
    updates = {}
    for number, fields in raw:
        name = _text_of(fields.get("name"))
        kept = loaded.get(category_spelling(name)) if name else None
        if kept is None:
            continue
        change = {field: getattr(kept, field) for field in ("key", "group", "money", "systemic_fix")
                  if _text_of(fields.get(field)) in (None, "")}
        if fields.get("rate_village") is None and fields.get("rate_community") is None:
            change.update(rate_village=kept.rate_village, rate_community=kept.rate_community)
        if change:
            updates[number] = change
    return errors, updates


def _check_issues(store: GraphStore, table: Table, raw: list[tuple[int, IssueKeys]], allow_reopen=False,
                  scope: Scope = EVERY_DISTRICT, **_):
    errors = _duplicates(table, raw, lambda keys: keys.issue_id, "issue_id", "问题编号")
    villages = {c for c in store.existing_codes(keys.village_code for _, keys in raw if keys.village_code)
                if len(c) == 12}
    names, categories = _category_names(store)
    statuses = {} if allow_reopen else store.issue_statuses(keys.issue_id for _, keys in raw if keys.issue_id)
    # Units are read only when some row names one (a province's 13,000 otherwise).
    # A district's caller sees its own district's units only, as over the API: another district's
    # unit is no unit to it (not "a unit of district X", which would name what it may not read).
    units = [u for u in store.units() if scope.sees(u.area_code)] if any(keys.root_unit_hint for _, keys in raw) else []
    by_id = {u.unit_id: u for u in units}
    by_name: dict[str, list] = {}
    for u in units:
        by_name.setdefault(u.name, []).append(u)
    header = table.header
    updates: dict[int, dict] = {}
    for number, (issue_id, code, category, hint, status) in raw:
        change = {}
        if code and code not in villages and code.isdigit() and len(code) == 12:
            errors.append(RowError(table.file, number, header("village_code"), code,
                                   "已加载区划中的村(社区)代码 (a loaded village code)"))
        if category is not None:
            canonical = _canonical_category(category, categories)
            if canonical is None:
                errors.append(RowError(table.file, number, header("category"), category,
                                       _unknown_category(category, names) + " (a category of the taxonomy)"))
            elif canonical != category:
                change["category"] = canonical
        if hint:
            unit = by_id.get(hint)
            if unit is None:
                many = by_name.get(hint, [])
                if len(many) == 1:
                    unit = many[0]
                    change["root_unit_hint"] = unit.unit_id
                else:
                    expected = ("已加载单位的单位编号或名称 (a loaded unit)" if not many else
                                f"唯一的单位；同名单位有 {len(many)} 个：{'、'.join(u.unit_id for u in many[:5])}，"
                                "请填写单位编号")
                    errors.append(RowError(table.file, number, header("root_unit_hint"), hint, expected))
            if unit is not None and code and not code.startswith(unit.area_code[:6]):
                errors.append(RowError(table.file, number, header("root_unit_hint"), hint,
                                       f"问题所在区县（{code[:6]}）的单位：{unit.name}（{unit.unit_id}）属于区县 "
                                       f"{unit.area_code[:6]} (a unit of the problem's own district)"))
        if status and statuses and statuses.get(issue_id) == Status.CLOSED.value:
            try:
                reopened = Status.parse(status) is not Status.CLOSED
            except ValueError:
                reopened = False
            if reopened:
                errors.append(RowError(table.file, number, header("status"), status,
                                       "已销号：该问题已销号，文件会把它改回未销号；确属重新打开请加 --allow-reopen"
                                       "（接口：查询参数 allow_reopen=true） (a closed issue stays closed unless "
                                       "--allow-reopen, or allow_reopen=true over the API)"))
        if change:
            updates[number] = change
    return errors, updates


def write_table(store: GraphStore, kind: str, records: Sequence | Validated,
                show_progress: bool = False) -> WriteSummary:
    if isinstance(records, Validated):
        records = records.records
    if kind == "units":
        return store.upsert_units(records)
    if kind == "duties":
        return store.upsert_duties(records)
    if kind == "categories":
        return store.upsert_categories(records)
    progress = Progress("写入问题", len(records)) if show_progress else None
    recorded_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    if not store.in_process:
        # A server's driver leaves reference cycles behind every batch (results, transactions): with
        # the collector paused they piled up to 0.5 GB over a 666,885-row load into Neo4j.
        return store.upsert_issues(records, recorded_at, progress)
    with collector_paused():
        return store.upsert_issues(records, recorded_at, progress)


def load_table(store: GraphStore, kind: str, path: str | Path, show_progress: bool = False,
               **options) -> WriteSummary:
    """Validate a file, then write it in one transaction; the summary says how the file was read."""
    checking = Progress(f"校验 {Path(path).name}", None, unit=" 行") if show_progress else None
    validated = validate_table(store, kind, path, progress=checking, **options)
    summary = write_table(store, kind, validated, show_progress)
    return dataclasses.replace(summary, source={**validated.source.as_dict(),
                                                "described": validated.source.describe()})
