"""Excel reports for inspection offices: root causes and joint rectification packages, with
Chinese headers. Takes the plain data the service functions return."""
from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from .model import DutyType, LEVEL_ZH

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="9C1F1F")


def _header(sheet, row: int, titles: list[str]) -> None:
    for column, title in enumerate(titles, start=1):
        cell = sheet.cell(row=row, column=column, value=title)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(horizontal="center")


def _widths(sheet, widths: list[int]) -> None:
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = width


ROOT_CAUSE_HEADERS = ["排名", "根源单位编号", "根源单位", "层级", "所属区划代码", "所属区划", "问题类别", "责任类型",
                      "得分", "置信度", "p值", "问题数", "期望问题数", "涉及村(社区)数", "整改后复发村(社区)数",
                      "涉及金额(元)", "巡察组提示数", "问题编号"]


def write_root_causes(causes: list[dict], path: str | Path) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "根源问题"
    _header(sheet, 1, ROOT_CAUSE_HEADERS)
    for row, c in enumerate(causes, start=2):
        e = c["evidence"]
        values = [c["rank"], c["unit_id"], c["unit_name"], LEVEL_ZH.get(c["level"], c["level"]), c["area_code"],
                  c["area_name"], c["category"], DutyType(c["duty"]).zh, c["score"], c["confidence"], c["p_value"],
                  e["observed"], e["expected"], e.get("villages_affected"), e.get("recurrences"), e.get("amount_yuan"),
                  e.get("hints"), "、".join(c.get("issue_ids", [])[:200])]
        for column, value in enumerate(values, start=1):
            sheet.cell(row=row, column=column, value=value)
    _widths(sheet, [6, 26, 24, 10, 12, 14, 22, 10, 8, 9, 10, 10, 10, 12, 12, 12, 10, 60])
    sheet.freeze_panes = "A2"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


SUMMARY_HEADERS = ["序号", "整改包编号", "根源单位", "层级", "问题类别", "置信度", "涉及村(社区)数", "问题数",
                   "未完成整改数", "机关端任务", "机关端时限", "工作表"]
VILLAGE_HEADERS = ["村(社区)代码", "村(社区)", "乡镇(街道)", "问题编号", "问题描述", "严重程度", "整改状态",
                   "发现日期", "整改时限", "涉及金额(元)", "基层端责任单位"]


def write_packages(packages: list[dict], path: str | Path) -> Path:
    """A summary sheet (汇总) and one sheet per package: the agency end on top, then one row per
    problem of the grassroots end."""
    workbook = Workbook()
    summary = workbook.active
    summary.title = "汇总"
    _header(summary, 1, SUMMARY_HEADERS)
    for index, package in enumerate(packages, start=1):
        cause, agency, totals = package["root_cause"], package["agency_end"], package["totals"]
        sheet_name = f"{index:03d}-{cause['category']}"[:31]
        for ch in "[]:*?/\\":
            sheet_name = sheet_name.replace(ch, "_")
        values = [index, package["package_id"], agency["unit_name"], LEVEL_ZH.get(agency["level"]), cause["category"],
                  cause.get("confidence"), totals["villages"], totals["issues"], totals["open_issues"], agency["task"],
                  agency["due_on"], sheet_name]
        for column, value in enumerate(values, start=1):
            summary.cell(row=index + 1, column=column, value=value)
        sheet = workbook.create_sheet(sheet_name)
        sheet["A1"] = f"联动整改包 {package['package_id']}：{cause['area_name']} · {cause['category']}"
        sheet["A1"].font = Font(bold=True, size=14)
        rows = [("机关端责任单位", f"{agency['unit_name']}（{agency['unit_id']}，{agency['duty_zh']}）"),
                ("机关端整改任务", agency["task"]),
                ("机关端完成时限", agency["due_on"]),
                ("协同责任单位", "；".join(f"{u['unit_name']}（{DutyType(u['duty']).zh}）" for u in agency["co_responsible"])
                 or "无"),
                ("证据", f"发现 {cause['evidence'].get('observed')} 个问题，期望 {cause['evidence'].get('expected')}，"
                         f"涉及 {totals['villages']} 个村(社区)，整改后复发 {cause['evidence'].get('recurrences', 0)} 个村(社区)")]
        for offset, (label, text) in enumerate(rows, start=3):
            sheet.cell(row=offset, column=1, value=label).font = Font(bold=True)
            sheet.cell(row=offset, column=2, value=text)
        start = 3 + len(rows) + 1
        sheet.cell(row=start, column=1, value="基层端整改任务").font = Font(bold=True)
        _header(sheet, start + 1, VILLAGE_HEADERS)
        row = start + 2
        for village in package["grassroots_end"]:
            responsible = "；".join(f"{u['unit_name']}（{u['duty_zh']}）" for u in village["responsible_units"])
            for issue in village["issues"]:
                values = [village["village_code"], village["village_name"], village["township_name"], issue["issue_id"],
                          issue["description"], issue["severity_zh"], issue["status_zh"], issue["found_on"],
                          issue["due_on"] or village["due_on"], issue["amount_yuan"], responsible]
                for column, value in enumerate(values, start=1):
                    sheet.cell(row=row, column=column, value=value)
                row += 1
        _widths(sheet, [16, 24, 16, 16, 40, 10, 10, 12, 12, 12, 60])
    _widths(summary, [6, 24, 26, 10, 22, 9, 14, 8, 12, 60, 12, 20])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path
