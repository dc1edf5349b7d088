"""Empty Excel templates for the tables an office fills (units, duties, problems, village base data,
the townships' proposed key villages), with Chinese headers, drop-down lists for the enumerations,
and an instructions sheet with an example row. The first sheet is the one loaded."""
from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from graph.errors import InputError, RowError
from graph.model import DutyType, Severity, Status, UnitLevel
from graph.reports import save_workbook

from .base_data import BASE_COLUMNS, PROPOSAL_COLUMNS
from .catalog import default_categories

from .tables import DUTY_COLUMNS, ISSUE_COLUMNS, UNIT_COLUMNS

ROWS = 20000  # how far down the drop-down lists reach (a range on the sheet, not formatted rows)
TEXT_COLUMNS = ("unit_id", "area_code", "issue_id", "village_code")  # codes: Excel must keep their digits
DATE_COLUMNS = ("found_on", "due_on", "closed_on")

# column -> (Chinese header, what to write, drop-down values or None)
UNIT_TEMPLATE = {
    "unit_id": ("单位编号", "唯一编号，如 500101-civil_affairs", None),
    "name": ("单位名称", "如 万州区民政局", None),
    "level": ("层级", "区县 或 乡镇", [m.zh for m in UnitLevel]),
    "area_code": ("所属区划代码", "区县6位或乡镇9位统计代码", None),
    "function": ("职能", "职能键，与权责清单一致，如 civil_affairs", None),
    "leader": ("分管领导", "抄告单抄送的分管领导，如 张三（副区长），可空", None),
}
DUTY_TEMPLATE = {
    "category": ("问题类别", "如 低保特困救助", None),
    "level": ("层级", "区县 或 乡镇", [m.zh for m in UnitLevel]),
    "function": ("职能", "如 civil_affairs", None),
    "duty": ("责任类型", "主体责任、监管责任或指导责任", [m.zh for m in DutyType]),
}
ISSUE_TEMPLATE = {
    "issue_id": ("问题编号", "唯一编号", None),
    "village_code": ("村(社区)代码", "12位统计代码（文本格式）；不知道代码时可空，改填后两列名称", None),
    "village": ("村(社区)", "村(社区)名称，如 黄柏村", None),
    "township": ("乡镇(街道)", "乡镇(街道)名称，如 高笋塘街道", None),
    "round_id": ("巡察轮次", "如 2024年第1轮", None),
    "found_on": ("发现日期", "YYYY-MM-DD", None),
    "category": ("问题类别", "问题类别表中的类别（下拉选择）", "categories"),
    "description": ("问题描述", "", None),
    "severity": ("严重程度", "一般、较重或严重", [m.zh for m in Severity]),
    "amount_yuan": ("涉及金额", "元，可空", None),
    "status": ("整改状态", "未整改、整改中、已整改、已销号或复发重开", [m.zh for m in Status]),
    "immediate": ("立行立改", "是 或 否", ["是", "否"]),
    "due_on": ("整改时限", "YYYY-MM-DD，可空", None),
    "closed_on": ("销号日期", "YYYY-MM-DD，可空", None),
    "root_unit_hint": ("根源单位", "巡察组认为的根源单位编号或名称，可空", None),
}
BASE_TEMPLATE = {
    "village_code": ("村(社区)代码", "12位统计代码（文本格式）", None),
    "population": ("人口", "户籍或常住人口", None),
    "collective_funds": ("集体资金", "元", None),
    "projects": ("项目数", "本届村级工程和项目个数", None),
    "disputes": ("矛盾纠纷和信访", "本届件数", None),
    "weak_organisation": ("软弱涣散", "是 或 否（软弱涣散党组织）", ["是", "否"]),
    "integrity_risk": ("廉政风险", "是 或 否（有问题线索或廉政风险）", ["是", "否"]),
}
PROPOSAL_TEMPLATE = {
    "village_code": ("村(社区)代码", "12位统计代码（文本格式）", None),
    "name": ("村(社区)名称", "可空，便于核对", None),
    "township": ("乡镇(街道)", "推荐的乡镇(街道)，可空", None),
    "reason": ("推荐理由", "为什么列为重点村", None),
}
EXAMPLES = {
    "units": ["500101-civil_affairs", "万州区民政局", "区县", "500101", "civil_affairs", "张三（副区长）"],
    "duties": ["低保特困救助", "乡镇", "civil_affairs", "主体责任"],
    "issues": ["Q2024-0001", "500101001001", "黄柏村", "高笋塘街道", "2024年第1轮", "2024-03-05", "低保特困救助", "低保对象动态管理不及时",
               "较重", "12000", "整改中", "否", "2024-06-05", "", "500101001-civil_affairs"],
}
EXAMPLES.update({"base": ["500101001001", "3200", "560000", "4", "6", "否", "否"],
                 "key_villages": ["500101001001", "东方广场社区居委会", "高笋塘街道", "信访件多，集体资金量大"]})
TEMPLATES = {"units": (UNIT_TEMPLATE, UNIT_COLUMNS, "机关部门名录"), "duties": (DUTY_TEMPLATE, DUTY_COLUMNS, "权责清单"),
             "issues": (ISSUE_TEMPLATE, ISSUE_COLUMNS, "问题台账"),
             "base": (BASE_TEMPLATE, BASE_COLUMNS, "村(社区)基础信息"),
             "key_villages": (PROPOSAL_TEMPLATE, PROPOSAL_COLUMNS, "乡镇推荐重点村名单")}
HEADER_FILL = PatternFill("solid", fgColor="FCE4D6")


def write_template(kind: str, path: str | Path, categories: list[str] | None = None) -> Path:
    """One template workbook. ``categories`` fill the category drop-down (default: the shipped catalog)."""
    spec, columns, title = TEMPLATES[kind]
    # The Chinese headers must be ones the loader accepts: checked here, not assumed.
    for column, (header, _, _) in spec.items():
        assert header in columns.aliases[column], (column, header)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    sheet.append([header for header, _, _ in spec.values()])
    lists = None
    for index, (column, (header, _, choices)) in enumerate(spec.items(), start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font, cell.fill = Font(bold=True), HEADER_FILL
        letter = cell.column_letter
        dimension = sheet.column_dimensions[letter]
        dimension.width = max(12, len(header) * 2 + 4)
        # Column formats, not formatted empty rows: a user's next row (or openpyxl's append) lands
        # right under the last filled one.
        if column in TEXT_COLUMNS:
            dimension.number_format = "@"
        elif column in DATE_COLUMNS:
            dimension.number_format = "yyyy-mm-dd"
        if choices == "categories":
            names = categories if categories else [c.name for c in default_categories()]
            if lists is None:
                lists = workbook.create_sheet("下拉列表")
                lists.sheet_state = "hidden"
            for row, name in enumerate(names, start=1):
                lists.cell(row=row, column=1, value=name)
            # A list longer than 255 characters cannot be written inline: it refers to the sheet.
            formula = f"'下拉列表'!$A$1:$A${len(names)}"
        elif choices:
            formula = '"' + ",".join(choices) + '"'
        else:
            continue
        validation = DataValidation(type="list", formula1=formula, allow_blank=True, showErrorMessage=True,
                                    errorTitle="请从列表中选择", error="请从下拉列表中选择")
        validation.add(f"{letter}2:{letter}{ROWS}")
        sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"
    guide = workbook.create_sheet("填写说明")
    guide.append(["列名", "说明", "示例"])
    for (header, text, choices), example in zip(spec.values(), EXAMPLES[kind]):
        listed = f"（可选：{'、'.join(choices)}）" if isinstance(choices, list) else ""
        guide.append([header, text + listed, example])
    guide.append([])
    guide.append(["说明", f"请在第一个工作表“{title}”中从第2行起填写，每行一条；列名可用中文或英文；"
                        "可增加其他列，导入时作为附加属性保存。"])
    for letter, width in (("A", 16), ("B", 60), ("C", 28)):
        guide.column_dimensions[letter].width = width
    if lists is not None:  # the hidden list sheet goes last: the ledger first, then its instructions
        workbook.move_sheet(lists, offset=len(workbook.worksheets) - 1 - workbook.index(lists))
    return save_workbook(workbook, path)


def write_templates(directory: str | Path, force: bool = False,
                    categories: list[str] | None = None) -> dict[str, Path]:
    """Every template in ``directory``; existing files are kept unless ``force``."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(RowError(str(directory), None, None, None, "一个文件夹 (a directory)"))
    paths = {kind: directory / f"{kind}.xlsx" for kind in TEMPLATES}
    existing = [p for p in paths.values() if p.exists()]
    if existing and not force:
        raise InputError([RowError(str(p), None, None, None,
                                   "一个还不存在的文件：模板不覆盖已有文件，确需覆盖请加 --force (exists; use --force)")
                          for p in existing])
    return {kind: write_template(kind, path, categories) for kind, path in paths.items()}
