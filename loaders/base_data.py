"""Village base data for classification (村(社区)基础信息): one row a village, Chinese headers, read
as offices save it (CSV in UTF-8 or GBK, XLSX), every bad value reported at once."""
from __future__ import annotations

import tomllib
from pathlib import Path

from graph import open_workflow
from graph.errors import InputError, RowError
from graph.model import parse_bool
from graph.store import GraphStore, WriteSummary

from .rows import Columns, read_table

BASE_COLUMNS = Columns({
    "village_code": ("村(社区)代码",), "population": ("人口",), "collective_funds": ("集体资金", "集体资金(元)"),
    "projects": ("项目数",), "disputes": ("矛盾纠纷和信访", "信访件数"), "weak_organisation": ("软弱涣散",),
    "integrity_risk": ("廉政风险",),
}, required=("village_code",))
FLAGS = ("weak_organisation", "integrity_risk")
DEFAULT_CONFIG = Path(__file__).parent / "data" / "planning" / "classification.toml"


def read_base_data(path: str | Path, known_villages: set[str]) -> dict[str, dict[str, float]]:
    table = read_table(path, BASE_COLUMNS)
    out, errors = {}, []
    for number, row in table.rows:
        code = table.value(row, "village_code")
        if code not in known_villages:
            errors.append(RowError(table.file, number, table.headers["village_code"], code,
                                   "所选区县已加载的 12 位村(社区)代码 (a loaded village code)"))
            continue
        values = {}
        for column in BASE_COLUMNS.aliases:
            if column == "village_code" or column not in table.index:
                continue
            raw = table.value(row, column)
            if raw is None:
                continue
            try:
                values[column] = float(parse_bool(raw)) if column in FLAGS else float(str(raw).replace(",", ""))
                if values[column] < 0 or values[column] != values[column] or values[column] == float("inf"):
                    raise ValueError
            except ValueError:
                errors.append(RowError(table.file, number, table.headers[column], raw,
                                       "是/否" if column in FLAGS else "不小于 0 的数 (a number ≥ 0)"))
        out[code] = values
    errors += table.unnamed_errors()
    if errors:
        raise InputError(errors)
    return out


def load_base_data(store: GraphStore, path: str | Path, district: str) -> WriteSummary:
    """Validate the district's base-data table whole, then keep it in the store (one transaction):
    every classification of the district, from the CLI or the API, scores on it from then on."""
    known = {v.code for v in store.divisions("village", within=district)}
    return open_workflow(store).save_base_data(district, read_base_data(path, known))


def read_config(path: str | Path | None = None) -> dict:
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        with open(path, "rb") as f:
            config = tomllib.load(f)
    except FileNotFoundError:
        raise InputError(RowError(str(path), None, None, None, "一个存在的配置文件 (file not found)")) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(RowError(str(path), None, None, None, f"TOML 格式的配置 ({exc})")) from None
    unknown = set(config.get("weights", {})) - set(config.get("scale", {}))
    if unknown or "threshold" not in config:
        raise InputError(RowError(str(path), None, "weights", "、".join(sorted(unknown)) or None,
                                  "threshold，以及每个权重都有对应的 scale (a scale for every weight)"))
    return config


# The townships' proposed key-village list (乡镇推荐重点村名单).
PROPOSAL_COLUMNS = Columns({
    "village_code": ("村(社区)代码",), "name": ("村(社区)名称", "村(社区)"), "township": ("乡镇(街道)",),
    "reason": ("推荐理由", "理由"),
}, required=("village_code",))


def read_key_village_proposal(path: str | Path, villages: dict[str, tuple[str, str]]) -> list[dict]:
    """Rows of a proposed list, ``villages`` mapping each loaded village code of the district to
    ``(name, township code)``; every bad row reported at once, nothing returned half-read."""
    table = read_table(path, PROPOSAL_COLUMNS)
    out, errors, seen = [], [], {}
    for number, row in table.rows:
        code = table.value(row, "village_code")
        code = None if code is None else str(code).strip()
        if code not in villages:
            errors.append(RowError(table.file, number, table.headers["village_code"], code,
                                   "所选区县已加载的 12 位村(社区)代码 (a loaded village code)"))
            continue
        if code in seen:
            errors.append(RowError(table.file, number, table.headers["village_code"], code,
                                   f"每个村(社区)只列一次（第 {seen[code]} 行已列）"))
            continue
        seen[code] = number
        name, township = villages[code]
        reason = table.value(row, "reason") if "reason" in table.index else None
        out.append({"village_code": code, "name": name, "township_code": township,
                    "reason": "" if reason is None else str(reason).strip()})
    errors += table.unnamed_errors()
    if errors:
        raise InputError(errors)
    if not out:
        raise InputError(RowError(str(path), None, None, None, "至少一个推荐的重点村 (an empty list)"))
    return out


# Inspections done (巡察记录): one row a village or township visited in a round, found problems or
# not. The plan's sheet 巡察计划 has these columns, so a round's rows load back once it is done.
INSPECTION_COLUMNS = Columns({
    "area_code": ("对象代码", "村(社区)代码", "乡镇(街道)代码"), "round_id": ("巡察轮次",),
    "started_on": ("开始日期",), "ended_on": ("结束日期",), "team": ("巡察组",), "mode": ("巡察方式",),
}, required=("area_code", "round_id", "started_on"))


def read_inspections(path: str | Path, areas: set[str], round_id: str | None = None) -> list:
    """Inspection records of a file, ``areas`` the district's loaded village and township codes;
    with ``round_id``, only that round's rows. Every bad value reported at once."""
    from graph.model import parse_date
    from graph.store import Inspection
    table = read_table(path, INSPECTION_COLUMNS)
    out, errors = [], []
    for number, row in table.rows:
        value = lambda column: table.value(row, column)  # noqa: E731
        text = lambda column: "" if value(column) is None else str(value(column)).strip()  # noqa: E731
        if round_id is not None and text("round_id") != round_id:
            continue
        code, dates = text("area_code"), {}
        if code not in areas:
            errors.append(RowError(table.file, number, table.headers["area_code"], code or None,
                                   "所选区县已加载的村(社区) 12 位或乡镇(街道) 9 位代码 (a loaded village or township)"))
        for column in ("started_on", "ended_on"):
            raw = value(column)
            try:
                dates[column] = parse_date(raw)
                if dates[column] is None and column == "started_on":
                    raise ValueError
            except (TypeError, ValueError):
                errors.append(RowError(table.file, number, table.headers.get(column, column), raw,
                                       "日期 YYYY-MM-DD (a date)"))
        if dates.get("started_on") and dates.get("ended_on") and dates["ended_on"] < dates["started_on"]:
            errors.append(RowError(table.file, number, table.headers["ended_on"], dates["ended_on"].isoformat(),
                                   f"不早于开始日期 {dates['started_on'].isoformat()}"))
        if not errors:
            out.append(Inspection(code, text("round_id"), dates["started_on"], dates["ended_on"], text("team"),
                                  text("mode")))
    errors += table.unnamed_errors()
    if errors:
        raise InputError(errors)
    if not out:
        raise InputError(RowError(str(path), None, None, round_id, "至少一行巡察记录" +
                                  ("（该巡察轮次没有行）" if round_id else "")))
    return out


# Back-check results (抽查结果): the sample's sheet with 抽查结果 filled in loads back.
BACKCHECK_COLUMNS = Columns({
    "issue_id": ("问题编号",), "result": ("抽查结果",), "on": ("抽查日期",), "by": ("抽查人",), "note": ("说明",),
}, required=("issue_id", "result", "on"))


def read_back_check_results(path: str | Path, results: tuple[str, ...]) -> list[dict]:
    """The rows with a result (rows left blank are not yet checked); every bad value at once."""
    from graph.model import parse_date
    table = read_table(path, BACKCHECK_COLUMNS)
    out, errors = [], []
    for number, row in table.rows:
        text = lambda column: "" if table.value(row, column) is None else str(table.value(row, column)).strip()  # noqa: E731
        if not text("result"):
            continue
        if text("result") not in results:
            errors.append(RowError(table.file, number, table.headers["result"], text("result"), "、".join(results)))
        try:
            on = parse_date(table.value(row, "on"))
            if on is None:
                raise ValueError
        except (TypeError, ValueError):
            errors.append(RowError(table.file, number, table.headers["on"], table.value(row, "on"), "日期 YYYY-MM-DD"))
            continue
        out.append({"file": table.file, "row": number, "issue_id": text("issue_id"), "result": text("result"), "on": on,
                    "by": text("by") if "by" in table.index else "", "note": text("note") if "note" in table.index else ""})
    errors += table.unnamed_errors()
    if errors:
        raise InputError(errors)
    return out
