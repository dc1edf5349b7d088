"""Empty Excel templates for the three tables, with Chinese headers, drop-down lists for the
enumerations, and an instructions sheet with an example row. The first sheet is the one loaded."""
from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from graph.model import DutyType, Severity, Status, UnitLevel

from .tables import DUTY_COLUMNS, ISSUE_COLUMNS, UNIT_COLUMNS

ROWS = 2000  # how far down the drop-down lists reach

# column -> (Chinese header, what to write, drop-down values or None)
UNIT_TEMPLATE = {
    "unit_id": ("单位编号", "唯一编号，如 500101-civil_affairs", None),
    "name": ("单位名称", "如 万州区民政局", None),
    "level": ("层级", "区县 或 乡镇", [m.zh for m in UnitLevel]),
    "area_code": ("所属区划代码", "区县6位或乡镇9位统计代码", None),
    "function": ("职能", "职能键，与权责清单一致，如 civil_affairs", None),
}
DUTY_TEMPLATE = {
    "category": ("问题类别", "如 低保特困救助", None),
    "level": ("层级", "区县 或 乡镇", [m.zh for m in UnitLevel]),
    "function": ("职能", "如 civil_affairs", None),
    "duty": ("责任类型", "主体责任、监管责任或指导责任", [m.zh for m in DutyType]),
}
ISSUE_TEMPLATE = {
    "issue_id": ("问题编号", "唯一编号", None),
    "village_code": ("村(社区)代码", "12位统计代码（或改填村(社区)和乡镇(街道)名称两列）", None),
    "round_id": ("巡察轮次", "如 2024年第1轮", None),
    "found_on": ("发现日期", "YYYY-MM-DD", None),
    "category": ("问题类别", "权责清单中的类别", None),
    "description": ("问题描述", "", None),
    "severity": ("严重程度", "一般、较重或严重", [m.zh for m in Severity]),
    "amount_yuan": ("涉及金额", "元，可空", None),
    "status": ("整改状态", "未整改、整改中、已整改或已销号", [m.zh for m in Status]),
    "immediate": ("立行立改", "是 或 否", ["是", "否"]),
    "due_on": ("整改时限", "YYYY-MM-DD，可空", None),
    "closed_on": ("销号日期", "YYYY-MM-DD，可空", None),
    "root_unit_hint": ("根源单位", "巡察组认为的根源单位编号或名称，可空", None),
}
EXAMPLES = {
    "units": ["500101-civil_affairs", "万州区民政局", "区县", "500101", "civil_affairs"],
    "duties": ["低保特困救助", "乡镇", "civil_affairs", "主体责任"],
    "issues": ["Q2024-0001", "500101001001", "2024年第1轮", "2024-03-05", "低保特困救助", "低保对象动态管理不及时",
               "较重", "12000", "整改中", "否", "2024-06-05", "", "500101001-civil_affairs"],
}
TEMPLATES = {"units": (UNIT_TEMPLATE, UNIT_COLUMNS, "机关部门名录"), "duties": (DUTY_TEMPLATE, DUTY_COLUMNS, "权责清单"),
             "issues": (ISSUE_TEMPLATE, ISSUE_COLUMNS, "问题台账")}
HEADER_FILL = PatternFill("solid", fgColor="FCE4D6")


def write_template(kind: str, path: str | Path) -> Path:
    spec, columns, title = TEMPLATES[kind]
    # The Chinese headers must be ones the loader accepts: checked here, not assumed.
    for column, (header, _, _) in spec.items():
        assert header in columns.aliases[column], (column, header)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    sheet.append([header for header, _, _ in spec.values()])
    for index, (column, (header, _, choices)) in enumerate(spec.items(), start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font, cell.fill = Font(bold=True), HEADER_FILL
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = max(12, len(header) * 2 + 4)
        if choices:
            validation = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True,
                                        showErrorMessage=True, errorTitle="请从列表中选择", error="请从下拉列表中选择")
            validation.add(f"{letter}2:{letter}{ROWS}")
            sheet.add_data_validation(validation)
        if column in ("found_on", "due_on", "closed_on"):
            for row in range(2, 200):
                sheet.cell(row=row, column=index).number_format = "yyyy-mm-dd"
    sheet.freeze_panes = "A2"
    guide = workbook.create_sheet("填写说明")
    guide.append(["列名", "说明", "示例"])
    for (header, text, choices), example in zip(spec.values(), EXAMPLES[kind]):
        guide.append([header, text + (f"（可选：{'、'.join(choices)}）" if choices else ""), example])
    guide.append([])
    guide.append(["说明", f"请在第一个工作表“{title}”中从第2行起填写，每行一条；列名可用中文或英文；"
                        "可增加其他列，导入时作为附加属性保存。"])
    for letter, width in (("A", 16), ("B", 60), ("C", 28)):
        guide.column_dimensions[letter].width = width
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def write_templates(directory: str | Path) -> dict[str, Path]:
    directory = Path(directory)
    return {kind: write_template(kind, directory / f"{kind}.xlsx") for kind in TEMPLATES}
