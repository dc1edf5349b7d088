"""Excel and CSV reports for inspection offices: root causes and joint rectification packages, with
Chinese headers. Takes the plain data the service functions return.

Ledger text is the user's, and a report is opened in Excel: every text cell is written as text, so
``=HYPERLINK(...)`` typed into a problem description never becomes a live formula (formula
injection); characters Excel cannot hold (NUL and other control characters) are dropped rather than
crashing the report. Dates are date cells; each sheet has a frozen header row and an autofilter;
one row per problem, never hundreds of ids in one cell.
"""
from __future__ import annotations

import csv
import datetime as dt
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .analysis.root_causes.candidate import attribution_notes
from .errors import OutputError
from .model import LEVEL_ZH, DutyType
from .settings import office_zone

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="9C1F1F")
DATE_FORMAT = "yyyy-mm-dd"
# Characters an XLSX cell cannot hold (openpyxl raises IllegalCharacterError on them).
ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037\ufffe\uffff]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A stored moment (UTC, ISO 8601 with its offset), as access.now() writes it.
_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
MOMENT_FORMAT = "yyyy-mm-dd hh:mm"


def clean_text(text: str) -> str:
    """Text without the control characters a workbook cannot hold.

    >>> clean_text("低保\\x00错评\\x1b")
    '低保错评'
    """
    return ILLEGAL.sub("", text)


def csv_safe(value):
    """A CSV cell that a spreadsheet will not run: text starting like a formula gets a leading
    apostrophe (the OWASP advice), control characters are dropped.

    >>> csv_safe("=HYPERLINK(\\"http://x\\")"), csv_safe("-5"), csv_safe(-5), csv_safe("黄柏村")
    ('\\'=HYPERLINK("http://x")', "'-5", -5, '黄柏村')

    A whole number held as a float is written as Excel shows it (6171718, not 6171718.0):

    >>> csv_safe(6171718.0), csv_safe(1.0), csv_safe(0.9938)
    (6171718, 1, 0.9938)
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if not isinstance(value, str):
        return value
    value = clean_text(value)
    return "'" + value if value.startswith(FORMULA_START) else value


def put(sheet, row: int, column: int, value):
    """Write one cell safely: text as text (never a formula), ISO dates as date cells, stored
    moments (UTC) as date-time cells in the office's zone."""
    if isinstance(value, str):
        if _ISO_DATE.match(value):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                pass
        elif _ISO_MOMENT.match(value):
            try:
                moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                pass
            else:
                cell = sheet.cell(row=row, column=column, value=moment.astimezone(office_zone()).replace(tzinfo=None))
                cell.number_format = MOMENT_FORMAT
                return cell
    if isinstance(value, dt.date):
        cell = sheet.cell(row=row, column=column, value=value)
        cell.number_format = DATE_FORMAT
        return cell
    if isinstance(value, str):
        cell = sheet.cell(row=row, column=column)
        # Assigning the value would make openpyxl read "=..." as a formula; the type is set first.
        cell._value, cell.data_type = clean_text(value), "s"
        return cell
    return sheet.cell(row=row, column=column, value=value)


def _header(sheet, row: int, titles: list[str]) -> None:
    for column, title in enumerate(titles, start=1):
        cell = put(sheet, row, column, title)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(horizontal="center")


def _table(sheet, titles: list[str], rows: Iterable[Sequence], widths: list[int], header_row: int = 1) -> int:
    """A header, the rows, widths, a frozen header and an autofilter; the last row written."""
    _header(sheet, header_row, titles)
    last = header_row
    for last, values in enumerate(rows, start=header_row + 1):
        for column, value in enumerate(values, start=1):
            put(sheet, last, column, value)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1).coordinate
    sheet.auto_filter.ref = f"A{header_row}:{get_column_letter(len(titles))}{max(last, header_row)}"
    return last


def _written_atomically(path: str | Path, write) -> Path:
    """``write(temporary)`` next to the target, then rename: a crash or a full disk never leaves half
    a report. The report is readable as any file its user makes (the umask's mode, not mkstemp's
    0600: a colleague on the shared drive opens it). A path that cannot be written is the user's
    to fix, said in Chinese (:class:`graph.errors.OutputError`), never a traceback."""
    path = Path(path)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        write(temporary)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise OutputError(path, exc) from None
    except BaseException:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise
    return path


def save_workbook(workbook: Workbook, path: str | Path) -> Path:
    """Save ``workbook`` to ``path`` (:func:`_written_atomically`)."""
    return _written_atomically(path, workbook.save)


def write_sheet(path: str | Path, title: str, headers: list[str], rows: Iterable[Sequence], widths: list[int]) -> Path:
    """A one-sheet workbook of a table, written safely (see :func:`put`)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    _table(sheet, headers, rows, widths)
    return save_workbook(workbook, path)


def write_csv(rows: Iterable[Sequence], headers: Sequence[str], path: str | Path) -> Path:
    """A CSV report Excel opens correctly (UTF-8 with BOM), every cell made formula-safe."""
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(headers)
            writer.writerows([csv_safe(v) for v in row] for row in rows)
    return _written_atomically(path, write)


# 届次 and 比较基线 on every row: a report of one term is not read as another's, and 期望问题数 says
# what it was expected against.
ROOT_CAUSE_HEADERS = ["排名", "根源单位编号", "根源单位", "层级", "所属区划代码", "所属区划", "问题类别", "责任类型",
                      "届次", "得分", "置信度", "p值", "问题数", "期望问题数", "比较基线", "涉及村(社区)数",
                      "整改后复发村(社区)数", "涉及金额(元)", "巡察组提示数", "说明"]
ROOT_CAUSE_ISSUE_HEADERS = ["排名", "根源单位", "问题类别", "问题编号"]


def tolerance_zh(tolerance: float, assumed: bool = False) -> str:
    """How far a district office alone could stand from the rates without a cause, as its reports
    say it: one standard deviation, as a share of the rate; none where its categories are as close
    to the rates as sampling allows (a bare ±0 % reads as a test that allows nothing); assumed
    where they are too few to show it.

    >>> tolerance_zh(0.43), tolerance_zh(0.004)
    ('容差一个标准差 ±43%', '容差：本区县各类别与参考比例的差异在抽样误差以内，不另加')
    >>> tolerance_zh(0.1, assumed=True)
    '容差按假定为一个标准差 ±10%：本区县可比的类别太少，看不出其与参考比例本来相差多少'
    """
    if assumed:
        return f"容差按假定为一个标准差 ±{tolerance:.0%}：本区县可比的类别太少，看不出其与参考比例本来相差多少"
    if round(tolerance * 100) == 0:
        return "容差：本区县各类别与参考比例的差异在抽样误差以内，不另加"
    return f"容差一个标准差 ±{tolerance:.0%}"


def root_cause_rows(causes: list[dict]) -> list[list]:
    rows = []
    for c in causes:
        e = c["evidence"]
        reason = c.get("reason") or ""
        if not c.get("tested", True) and not reason.startswith("未检验"):  # as the plain output says it
            reason = f"未检验：{reason}"
        baseline = e.get("baseline_zh") if c.get("tested", True) else None
        if baseline and e.get("reference_tolerance") is not None:
            baseline += f"（{tolerance_zh(e['reference_tolerance'], bool(e.get('reference_tolerance_assumed')))}）"
        # as the plain output says it: how attribution settled the pair, after why it stands
        reason = "；".join(filter(None, [reason, *attribution_notes(c)]))
        rows.append([c["rank"], c["unit_id"], c["unit_name"], LEVEL_ZH.get(c["level"], c["level"]), c["area_code"],
                     c["area_name"], c["category"], DutyType(c["duty"]).zh, e.get("term"), c["score"],
                     c["confidence"], c["p_value"], e["observed"], e["expected"], baseline, e.get("villages_affected"),
                     e.get("recurrences"), e.get("amount_yuan"), e.get("hints"), reason or None])
    return rows


def write_root_causes(causes: list[dict], path: str | Path, notes: Sequence[str] = ()) -> Path:
    """Sheet 根源问题, one row a cause; sheet 问题明细, one row a problem under a cause; sheet 说明,
    what the analysis could not test and how it judged (``notes``, as ``rootcauses`` prints them),
    when there is any: a shared report carries why a cause may be missing."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "根源问题"
    _table(sheet, ROOT_CAUSE_HEADERS, root_cause_rows(causes),
           [6, 26, 24, 10, 12, 14, 22, 10, 8, 8, 9, 10, 10, 10, 30, 12, 12, 12, 10, 40])
    detail = workbook.create_sheet("问题明细")
    _table(detail, ROOT_CAUSE_ISSUE_HEADERS,
           ([c["rank"], c["unit_name"], c["category"], issue_id] for c in causes for issue_id in c.get("issue_ids", [])),
           [6, 26, 22, 20])
    if notes:
        _table(workbook.create_sheet("说明"), ["说明"], ([note] for note in notes), [120])
    return save_workbook(workbook, path)


def write_root_causes_csv(causes: list[dict], path: str | Path) -> Path:
    return write_csv(root_cause_rows(causes), ROOT_CAUSE_HEADERS, path)


SUMMARY_HEADERS = ["序号", "整改包编号", "根源单位", "层级", "问题类别", "置信度", "涉及村(社区)数", "问题数",
                   "未完成整改数", "机关端任务", "机关端时限", "工作表"]
VILLAGE_HEADERS = ["村(社区)代码", "村(社区)", "乡镇(街道)", "问题编号", "问题描述", "严重程度", "整改状态",
                   "发现日期", "整改时限", "涉及金额(元)", "基层端责任单位", "逾期"]


def _sheet_name(index: int, category: str) -> str:
    name = clean_text(f"{index:03d}-{category}")[:31]
    for ch in "[]:*?/\\'":
        name = name.replace(ch, "_")
    return name


def write_packages(packages: list[dict], path: str | Path) -> Path:
    """A summary sheet (汇总) and one sheet per package: the agency end on top, then one row per
    problem of the grassroots end."""
    workbook = Workbook()
    summary = workbook.active
    summary.title = "汇总"
    names = [_sheet_name(index, p["root_cause"]["category"]) for index, p in enumerate(packages, start=1)]
    _table(summary, SUMMARY_HEADERS,
           ([index, p["package_id"], p["agency_end"]["unit_name"], LEVEL_ZH.get(p["agency_end"]["level"]),
             p["root_cause"]["category"], p["root_cause"].get("confidence"), p["totals"]["villages"],
             p["totals"]["issues"], p["totals"]["open_issues"], p["agency_end"]["task"], p["agency_end"]["due_on"], name]
            for index, (p, name) in enumerate(zip(packages, names), start=1)),
           [6, 24, 26, 10, 22, 9, 14, 8, 12, 60, 12, 20])
    for package, sheet_name in zip(packages, names):
        cause, agency, totals = package["root_cause"], package["agency_end"], package["totals"]
        sheet = workbook.create_sheet(sheet_name)
        put(sheet, 1, 1, f"联动整改包 {package['package_id']}：{cause['area_name']} · {cause['category']}").font = \
            Font(bold=True, size=14)
        rows = [("机关端责任单位", f"{agency['unit_name']}（{agency['unit_id']}，{agency['duty_zh']}）"),
                ("机关端整改任务", agency["task"]),
                ("机关端完成时限", agency["due_on"]),
                ("协同责任单位", "；".join(f"{u['unit_name']}（{DutyType(u['duty']).zh}）" for u in agency["co_responsible"])
                 or "无"),
                ("证据", f"发现 {cause['evidence'].get('observed')} 个问题，期望 {cause['evidence'].get('expected')}，"
                         f"涉及 {totals['villages']} 个村(社区)，整改后复发 {cause['evidence'].get('recurrences', 0)} 个村(社区)")]
        for offset, (label, text) in enumerate(rows, start=3):
            put(sheet, offset, 1, label).font = Font(bold=True)
            put(sheet, offset, 2, text)
        start = 3 + len(rows) + 1
        put(sheet, start, 1, "基层端整改任务").font = Font(bold=True)
        problems = []
        for village in package["grassroots_end"]:
            responsible = "；".join(f"{u['unit_name']}（{u['duty_zh']}）" for u in village["responsible_units"])
            for issue in village["issues"]:
                problems.append([village["village_code"], village["village_name"], village["township_name"],
                                 issue["issue_id"], issue["description"], issue["severity_zh"], issue["status_zh"],
                                 issue["found_on"], village["due_on"], issue["amount_yuan"], responsible,
                                 "是" if village.get("overdue") else ""])
        _table(sheet, VILLAGE_HEADERS, problems, [16, 24, 16, 16, 40, 10, 10, 12, 12, 12, 60, 6], header_row=start + 1)
    return save_workbook(workbook, path)


NOTICE_LIST_HEADERS = ["村(社区)代码", "村(社区)", "乡镇(街道)", "问题编号", "问题类别", "问题描述", "整改状态",
                       "发现日期", "整改时限", "移交依据", "基层端责任单位"]


def _notice_rows(notice: dict) -> list[list]:
    return [[i["village_code"], i["village_name"], i["township_name"], i["issue_id"], i["category"], i["description"],
             i["status_zh"], i["found_on"], i["due_on"], i["source"], i["responsible"]] for i in notice["items"]]


def write_notice(notice: dict, path: str | Path, as_of: dt.date, office: str = "巡察工作领导小组办公室") -> Path:
    """A transfer notice (反馈移交抄告单) to one receiving unit and its leader in charge: what points
    at it (causes and the inspectors' hints), what is to be fixed by when, and the problems still
    open on a second sheet. Printable on A4 (fit to one page wide)."""
    from .analysis.transfer import notice_lines
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "抄告单"
    put(sheet, 1, 1, "巡察发现问题反馈移交抄告单").font = Font(bold=True, size=16)
    for offset, (label, text) in enumerate(notice_lines(notice, as_of, office), start=3):
        put(sheet, offset, 1, label).font = Font(bold=True)
        cell = put(sheet, offset, 2, text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.column_dimensions["A"].width = 12
    sheet.column_dimensions["B"].width = 80
    sheet.page_setup.orientation = "portrait"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    _table(workbook.create_sheet("基层端清单"), NOTICE_LIST_HEADERS, _notice_rows(notice),
           [14, 22, 14, 16, 16, 40, 10, 12, 12, 10, 50])
    return save_workbook(workbook, path)


def write_notice_html(notice: dict, path: str | Path, as_of: dt.date, office: str = "巡察工作领导小组办公室") -> Path:
    """The same notice as one printable HTML page (A4, no outside resource: it opens offline)."""
    from html import escape

    from .analysis.transfer import notice_lines
    lines = "".join(f"<tr><th>{escape(label)}</th><td>{escape(text)}</td></tr>"
                    for label, text in notice_lines(notice, as_of, office))
    head = "".join(f"<th>{escape(h)}</th>" for h in NOTICE_LIST_HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                   for row in _notice_rows(notice))
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>巡察发现问题反馈移交抄告单 · {escape(notice['unit_name'])}</title>
<style>
@page {{ size: A4; margin: 18mm 15mm; }}
body {{ font-family: "Noto Serif CJK SC", "SimSun", serif; font-size: 12pt; color: #000; }}
h1 {{ text-align: center; font-size: 20pt; letter-spacing: 0.1em; }}
table {{ border-collapse: collapse; width: 100%; }}
.notice th {{ width: 7em; text-align: left; vertical-align: top; padding: 4px 6px; }}
.notice td {{ padding: 4px 6px; }}
.list {{ page-break-before: always; font-size: 9pt; }}
.list th, .list td {{ border: 1px solid #444; padding: 2px 4px; }}
</style></head><body>
<h1>巡察发现问题反馈移交抄告单</h1>
<table class="notice">{lines}</table>
<section class="list"><h2>基层端清单（尚未完成整改的问题）</h2>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>
</body></html>
"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


# -- planning and the closed loop ------------------------------------------------------------------
# Every planning and follow-up command writes its table with these helpers: Chinese headers, dates
# as date cells, a frozen header, text never a formula (see :func:`put`).
PLAN_HEADERS = ["轮次", "巡察轮次", "开始日期", "结束日期", "巡察组", "对象类型", "对象代码", "对象名称",
                "所属乡镇(街道)代码", "分类", "巡察方式", "届内", "前半届"]


def write_workbook(path: str | Path, sheets: Sequence[tuple[str, list[str], Iterable[Sequence], list[int]]]) -> Path:
    """A workbook of several tables: ``(title, headers, rows, widths)`` each."""
    workbook = Workbook()
    for index, (title, headers, rows, widths) in enumerate(sheets):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        sheet.title = title
        _table(sheet, headers, rows, widths)
    return save_workbook(workbook, path)


def write_plan(plan: dict, path: str | Path) -> Path:
    """Sheet 巡察计划 (one row per team's object: township or village; its columns load back as
    inspection records), 轮次, 乡镇(街道) and 专项巡察建议 (listed beside the plan)."""
    yes = lambda flag: "是" if flag else "否"  # noqa: E731
    rows = [[r["round"], r["round_id"], r["starts_on"], r["ends_on"], o["team"], o["kind"],
             o["village_code"] or o["township_code"], o["name"], o["township_code"], o["class"] or "", o["mode"],
             yes(r["within_term"]), yes(r["first_half"])]
            for r in plan["rounds"] for o in sorted(r["townships"] + r["villages"],
                                                    key=lambda o: (o["team"], o["township_code"], o["village_code"] or ""))]
    rounds = [[r["round"], r["round_id"], r["starts_on"], r["ends_on"], yes(r["within_term"]), yes(r["first_half"]),
               len(r["teams"]), len(r["townships"]), r["by_mode"].get("直接巡村", 0), r["by_mode"].get("乡村一体巡", 0)]
              for r in plan["rounds"]]
    townships = [[t["township_code"], t["name"], t["mode"] or "（所辖均为重点村，直接巡村）", t["joint_villages"],
                  t["direct_villages"]] for t in plan["townships"]]
    special = [[p["proposal_id"], p["topic"], p["scope"]["area_name"], p["scope"]["villages"], p["scope"]["townships"],
                p["scope"]["key_villages"], p["lead_unit"]["unit_name"], p["cause"]["category"], p["cause"]["confidence"],
                p["cause"]["observed"], p["cause"]["expected"], "；".join(p["reasons"])] for p in plan["special"]]
    return write_workbook(path, [
        ("巡察计划", PLAN_HEADERS, rows, [6, 14, 12, 12, 8, 10, 14, 26, 14, 8, 12, 6, 8]),
        ("轮次", ["轮次", "巡察轮次", "开始日期", "结束日期", "届内", "前半届", "巡察组数", "乡镇(街道)数", "直接巡村",
                "乡村一体巡"], rounds, [6, 14, 12, 12, 6, 8, 10, 12, 10, 10]),
        ("乡镇(街道)", ["乡镇(街道)代码", "乡镇(街道)", "巡察方式", "一体巡察的一般村数", "直接巡察的重点村数"], townships,
         [14, 20, 22, 18, 18]),
        ("专项巡察建议", ["建议编号", "专项巡察主题", "范围", "涉及村(社区)数", "涉及乡镇(街道)数", "其中重点村数", "牵头单位",
                     "根源问题类别", "置信度", "发现问题数", "期望问题数", "理由"], special,
         [24, 24, 10, 14, 16, 12, 24, 18, 8, 10, 10, 80]),
    ])


def _yes(flag) -> str:
    return "是" if flag else ""


def write_classification(rows: list[dict], names: dict[str, str], indicator_zh: dict[str, str], path) -> Path:
    keys = list(indicator_zh)
    return write_sheet(path, "村(社区)分类",
                       ["村(社区)代码", "村(社区)", "乡镇(街道)代码", "乡镇(街道)", "分类", "得分", "巡察方式", "理由"]
                       + [f"{indicator_zh[k]}得分" for k in keys],
                       ([r["village_code"], r["name"], r["township_code"], names.get(r["township_code"], ""), r["class"],
                         r["score"], r["mode"], "；".join(r["reasons"])] + [r["contributions"].get(k, 0) for k in keys]
                        for r in rows),
                       [14, 22, 12, 14, 8, 8, 12, 50] + [10] * len(keys))


def write_key_list(record: dict, names: dict[str, str], path) -> Path:
    """The key-village list as settled: the villages (source, reason), the office's changes, where
    it and the indicators disagree."""
    source = {"township": "乡镇推荐", "office": "巡察办增列"}
    diff = record["against_indicators"]
    return write_workbook(path, [
        ("重点村名单", ["村(社区)代码", "村(社区)", "乡镇(街道)", "来源", "理由", "名单状态"],
         [[code, v.get("name") or names.get(code, ""), names.get(code[:9], ""), source.get(v.get("source"), ""),
           v.get("reason", ""), record["status_zh"]] for code, v in record["villages"].items()], [14, 24, 16, 12, 40, 20]),
        ("调整记录", ["村(社区)代码", "村(社区)", "调整", "理由", "调整人", "时间"],
         [[c["village_code"], names.get(c["village_code"], ""), "增列" if c["action"] == "add" else "移出", c["reason"],
           c["by"], c["at"]] for c in record["changes"]], [14, 24, 8, 40, 14, 20]),
        ("与指标分类不一致", ["村(社区)代码", "村(社区)", "差异"],
         [[code, names.get(code, ""), "名单内、指标为一般村"] for code in diff["listed_but_ordinary"]]
         + [[code, names.get(code, ""), "指标为重点村、名单未列入"] for code in diff["key_but_not_listed"]], [14, 24, 24]),
    ])


RECTIFY_HEADERS = ["问题编号", "村(社区)代码", "村(社区)", "乡镇(街道)", "问题类别", "问题描述", "立行立改", "整改状态",
                   "发现日期", "整改时限", "预警", "责任单位"]


def write_rectification(status: dict, path) -> Path:
    """Deadline warnings: every problem not done, then the 立行立改 items past their short deadline,
    then the counts."""
    from .analysis.planning import WARNING_ZH
    from .model import Status
    row = lambda r: [r["issue_id"], r["village_code"], r["village_name"], r["township_name"], r["category"],  # noqa: E731
                     r["description"], _yes(r["immediate"]), Status(r["status"]).zh, r["found_on"], r["due_on"],
                     r["warning_zh"], "；".join(r["responsible"])]
    widths = [16, 14, 22, 14, 18, 40, 8, 10, 12, 12, 12, 50]
    overdue = set(status["immediate_overdue"])
    return write_workbook(path, [
        ("整改预警", RECTIFY_HEADERS, [row(r) for r in status["issues"] if r["warning"] != "done"], widths),
        ("立行立改逾期", RECTIFY_HEADERS, [row(r) for r in status["issues"] if r["issue_id"] in overdue], widths),
        ("汇总", ["预警", "问题数"], [[WARNING_ZH[k], n] for k, n in status["counts"].items()], [16, 10]),
    ])


BACKCHECK_RESULT_HEADERS = ["村(社区)代码", "村(社区)", "乡镇(街道)", "问题编号", "问题类别", "问题描述", "整改状态",
                            "销号日期", "抽查结果", "抽查日期", "抽查人", "说明"]


def write_back_check(result: dict, path) -> Path:
    """Sheet 抽查村(社区) (the sample by village) and sheet 抽查结果 (one row per done problem of those
    villages, with 抽查结果 to fill in: 整改到位 or 未整改到位; the sheet loads back with
    ``xuncha backcheck record``)."""
    from openpyxl.worksheet.datavalidation import DataValidation
    villages = [[v["village_code"], v["village_name"], v["township_name"], len(v["issues"])] for v in result["villages"]]
    rows = [[v["village_code"], v["village_name"], v["township_name"], i["issue_id"], i["category"], i["description"],
             i["status_zh"], i["closed_on"], i.get("result", ""), i.get("checked_on"), i.get("checked_by", ""), ""]
            for v in result["villages"] for i in v["issues"]]
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "抽查村(社区)"
    _table(sheet, ["村(社区)代码", "村(社区)", "乡镇(街道)", "已整改问题数"], villages, [14, 24, 16, 14])
    results = workbook.create_sheet("抽查结果")
    last = _table(results, BACKCHECK_RESULT_HEADERS, rows, [14, 22, 14, 16, 18, 40, 10, 12, 12, 12, 12, 30])
    choice = DataValidation(type="list", formula1='"整改到位,未整改到位"', allow_blank=True)
    results.add_data_validation(choice)
    choice.add(f"I2:I{max(last, 2)}")
    return save_workbook(workbook, path)


def write_evaluation(result: dict, path) -> Path:
    """成效评估: the district, each township, department and package, and the three shifts by round."""
    from .analysis.planning import SHIFT_ZH
    pct = lambda v: None if v is None else round(v, 4)  # noqa: E731
    measures = ["问题数", "按期整改率", "已整改/销号比例", "整改后复发率"]
    brief = lambda r: [r["problems"], pct(r["on_time_rate"]), pct(r["share_closed"]), pct(r["recurrence_after_closure"])]  # noqa: E731
    shift_keys = [k for k in SHIFT_ZH]
    return write_workbook(path, [
        ("全区", ["区县代码"] + measures, [[result["district"]] + brief(result)], [10, 10, 12, 14, 12]),
        ("各乡镇(街道)", ["乡镇(街道)代码", "乡镇(街道)"] + measures,
         [[t["code"], t["name"]] + brief(t) for t in result["townships"]], [14, 18, 10, 12, 14, 12]),
        ("各部门", ["单位编号", "单位", "牵头整改包数", "机关端已完成"] + measures,
         [[d["unit_id"], d["unit_name"], d["packages"], d["agency_done"]] + brief(d) for d in result["departments"]],
         [26, 24, 12, 12, 10, 12, 14, 12]),
        ("各整改包", ["整改包编号", "根源单位", "问题类别", "涉及村(社区)数", "问题数", "未完成整改数", "机关端已完成",
                  "已销号", "销号日期", "按期整改率"],
         [[p["package_id"], p["unit_name"], p["category"], p["villages"], p["problems"], p["open"],
           _yes(p["agency_done"]), _yes(p["closed"]), p["closed_on"], pct(p["on_time_rate"])] for p in result["packages"]],
         [28, 24, 18, 14, 8, 12, 12, 8, 12, 12]),
        ("三个变化(按轮次)", ["巡察轮次", "问题数"] + [f"{SHIFT_ZH[k]}占比" for k in shift_keys] + ["主要腐败表现形式"],
         [[r, s["problems"]] + [s[k] for k in shift_keys] + ["、".join(f"{f} {n}" for f, n in list(s["forms"].items())[:5])]
          for r, s in result["shifts_by_round"].items()], [14, 8, 18, 12, 14, 14, 50]),
    ])


def write_reopen(result: dict, path) -> Path:
    return write_workbook(path, [
        ("复发问题", ["原问题编号", "复发问题编号", "巡察轮次", "村(社区)代码", "问题类别", "新整改时限"],
         [[r["closed"], r["reopened_by"], r["round"], r["village_code"], r["category"], r.get("due_on")]
          for r in result["issues"]], [16, 16, 14, 14, 18, 12]),
        ("重新打开的整改包", ["整改包编号", "根源单位编号", "问题类别", "销号日期", "再次发现的问题"],
         [[p["package_id"], p["unit_id"], p["category"], p["closed_on"], "、".join(p["reopened_by"])]
          for p in result["packages"]], [28, 26, 18, 12, 60]),
    ])
