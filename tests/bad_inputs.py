"""The classes of bad input xuncha refuses, each as a real file made the way an office (or a broken
export) makes it. ``tests/test_office_files.py`` loads each one and checks the message and that the
store is unchanged; ``docs/formats.md`` lists every class by its id (a test checks that too)."""
from __future__ import annotations

import datetime as dt
import gzip
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from loaders.catalog import catalog_units

from .conftest import DONGFANG, GAOSUNTANG, write_csv, write_xlsx

ISSUE_HEADER = ["问题编号", "村(社区)代码", "巡察轮次", "发现日期", "问题类别", "问题描述", "严重程度", "涉及金额",
                "整改状态", "立行立改", "整改时限", "销号日期", "根源单位"]
FUTURE = (dt.date.today() + dt.timedelta(days=30)).isoformat()


def issue(issue_id="Q1", **changes) -> list:
    row = {"问题编号": issue_id, "村(社区)代码": DONGFANG, "巡察轮次": "2024年第1轮", "发现日期": "2024-03-05",
           "问题类别": "低保特困救助", "问题描述": "低保对象动态管理不及时", "严重程度": "较重", "涉及金额": "12000",
           "整改状态": "整改中", "立行立改": "否", "整改时限": "2024-06-05", "销号日期": "", "根源单位": ""}
    row.update(changes)
    return [row[h] for h in ISSUE_HEADER]


def ledger(**changes) -> Callable[[Path], Path]:
    """A two-row ledger whose second row (Excel row 3) carries the bad value."""
    return lambda d: write_csv(d / "台账.csv", ISSUE_HEADER, [issue("Q1"), issue("Q2", **changes)])


@dataclass
class Case:
    id: str                      # the class, as docs/formats.md names it
    kind: str                    # the table loaded
    make: Callable[[Path], Path]
    expected: str                # a fragment of the message
    row: int | None = None
    column: str | None = None
    options: dict = field(default_factory=dict)
    before: Callable | None = None  # sets the store up first (e.g. a closed issue)
    slow: bool = False           # builds a file that unpacks to a gigabyte (seconds of compression)


def _text(d: Path, name: str, data: bytes) -> Path:
    (d / name).write_bytes(data)
    return d / name


def _uncached_formula(d: Path) -> Path:
    # openpyxl writes formulas without their results, as scripts do; Excel always saves them.
    rows = [issue("Q1")]
    rows[0][7] = "=1000*12"
    return write_xlsx(d / "台账.xlsx", ISSUE_HEADER, rows)


def _merged_header(d: Path) -> Path:
    header = ISSUE_HEADER + [""]
    return write_csv(d / "台账.csv", header, [issue("Q1") + [""], issue("Q2") + ["第三组"]])


def _not_a_zip(d: Path) -> Path:
    return _text(d, "台账.xlsx", "问题编号,村(社区)代码\n".encode())


def _broken_zip(d: Path) -> Path:
    path = d / "台账.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
    return path


def _control(d: Path) -> Path:
    return write_csv(d / "台账.csv", ISSUE_HEADER, [issue("Q1"), issue("Q2", 问题描述="低保\x00错评")])


def _closed_in_store(store, d: Path) -> None:
    from loaders.tables import load_table
    load_table(store, "issues", write_csv(d / "before.csv", ISSUE_HEADER,
                                          [issue("Q2", 整改状态="已销号", 销号日期="2024-05-01")]))


# -- hostile or broken archives, built small on disk -------------------------------------------------
_XLSX_PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                           'package/2006/content-types"><Default Extension="rels" ContentType="application/'
                           'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
                           '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
                           'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{sheets}</Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
}


def sheet_xml(rows: list[list[str]], first_row: int = 1) -> str:
    """A worksheet's XML as Excel writes it: each cell with its position, text inline."""
    from loaders.rows import column_letter
    out = []
    for number, row in enumerate(rows, start=first_row):
        cells = "".join(f'<c r="{column_letter(i)}{number}" t="inlineStr"><is><t>{v}</t></is></c>'
                        for i, v in enumerate(row) if v != "")
        out.append(f'<row r="{number}">{cells}</row>')
    return "".join(out)


def xlsx_of(path: Path, *sheets: tuple[str, str | Callable], level: int = 6) -> Path:
    """A workbook written part by part, so a test can put into a sheet what no library would write:
    ``sheets`` are (name, the XML inside <sheetData>, or a function writing it to a stream)."""
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.'
                        f'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, len(sheets) + 1))
    listed = "".join(f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>' for i, (name, _) in enumerate(sheets, 1))
    rels = "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                   f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(sheets) + 1))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        z.writestr("[Content_Types].xml", _XLSX_PARTS["[Content_Types].xml"].format(sheets=overrides))
        z.writestr("_rels/.rels", _XLSX_PARTS["_rels/.rels"])
        z.writestr("xl/workbook.xml", '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.'
                   'openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
                   f'officeDocument/2006/relationships"><sheets>{listed}</sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns='
                   f'"http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>')
        for i, (_, data) in enumerate(sheets, start=1):
            with z.open(f"xl/worksheets/sheet{i}.xml", "w", force_zip64=True) as stream:
                stream.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.'
                             b'org/spreadsheetml/2006/main"><sheetData>')
                if callable(data):
                    data(stream)
                else:
                    stream.write(data.encode())
                stream.write(b"</sheetData></worksheet>")
    return path


def _far_cell(d: Path, ref: str = "XFD1048576") -> Path:
    """A 2 KB workbook whose one stray cell far away spans the sheet to it (a reader holding the
    sheet as rows × columns would ask for 550 GB for XFD1048576)."""
    return xlsx_of(d / "台账.xlsx", ("台账", sheet_xml([ISSUE_HEADER, issue("Q1")])
                                     + f'<row r="{ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}"><c r="{ref}" '
                                       't="inlineStr"><is><t>x</t></is></c></row>'))


def _whitespace(size: int, after: str = ""):
    def write(stream):
        stream.write(sheet_xml([ISSUE_HEADER]).encode())
        blank = b" " * (1 << 20)
        for _ in range(size >> 20):
            stream.write(blank)
        stream.write(after.encode())
    return write


def _csv_gz(d: Path, data: bytes, name: str = "台账.csv.gz") -> Path:
    return _text(d, name, data)


def _ledger_gz() -> bytes:
    return gzip.compress(("\n".join(",".join(r) for r in (ISSUE_HEADER, issue("Q1"), issue("Q2"))) + "\n").encode())


def _gzip_bomb(d: Path) -> Path:
    """A .csv.gz of a few megabytes that unpacks to more than a gigabyte."""
    path = d / "台账.csv.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(",".join(ISSUE_HEADER).encode() + b"\n")
        blank = b"\n" * (1 << 20)
        for _ in range(1025):
            f.write(blank)
    return path


CASES = [
    # -- the file itself ----------------------------------------------------------------------------
    Case("file-missing", "issues", lambda d: d / "不存在.csv", "一个存在的文件"),
    Case("directory", "issues", lambda d: d, "而不是文件夹"),
    Case("unknown-suffix", "issues", lambda d: _text(d, "台账.pdf", b"%PDF-1.4"), "CSV or Excel"),
    Case("xlsx-not-excel", "issues", _not_a_zip, "不是 Excel 格式"),
    Case("xlsx-damaged", "issues", _broken_zip, "一个可读的 Excel 工作簿"),
    Case("empty-file", "issues", lambda d: _text(d, "台账.csv", b""), "文件是空的", row=1),
    Case("no-header", "issues", lambda d: write_csv(d / "台账.csv", ["万州区2024年度巡察问题台账"], [["制表：巡察办"]]),
         "前 30 行中有一行表头"),
    Case("missing-column", "issues",
         lambda d: write_csv(d / "台账.csv", ISSUE_HEADER[:6] + ISSUE_HEADER[7:], [issue()[:6] + issue()[7:]]),
         "表头中有列 严重程度", row=1),
    Case("village-column-missing", "issues",
         lambda d: write_csv(d / "台账.csv", ISSUE_HEADER[:1] + ISSUE_HEADER[2:], [issue()[:1] + issue()[2:]]),
         "村(社区)代码/village_code 或 村(社区)/村(社区)名称/village", row=1),
    Case("duplicate-column", "issues",
         lambda d: write_csv(d / "台账.csv", ISSUE_HEADER + ["严重程度"], [issue() + ["一般"]]), "出现了两次", row=1),
    Case("data-under-blank-header", "issues", _merged_header, "该列表头为空", row=3, column="第 N 列"),
    Case("not-utf8-nor-gbk", "issues",
         lambda d: _text(d, "台账.csv", ",".join(ISSUE_HEADER).encode() + b"\n\x81\x30\xff\xff,\n"),
         "UTF-8 或 GBK/GB18030", row=2),
    Case("formula-without-value", "issues", _uncached_formula, "公式没有保存结果", column="单元格 H2"),
    Case("control-character", "issues", _control, "不含控制字符", row=3, column="问题描述"),
    Case("xlsx-cell-far-away", "issues", _far_cell, "不超过 1,000 列的表；工作表“台账”用到第 16,384 列"),
    Case("xlsx-rows-beyond-excel", "issues", lambda d: _far_cell(d, "A2000000"), "不超过 1,048,576 行的表"),
    Case("xlsx-too-many-cells", "issues", lambda d: _far_cell(d, "ALL30000"), "不超过 20,000,000 个单元格"),
    Case("xlsx-cell-without-position", "issues",
         lambda d: xlsx_of(d / "台账.xlsx", ("台账", sheet_xml([ISSUE_HEADER]) + '<row r="2"><c t="inlineStr">'
                                                     '<is><t>Q1</t></is></c></row>')), "未写明位置"),
    Case("xlsx-unpacks-too-large", "issues",
         lambda d: xlsx_of(d / "台账.xlsx", ("台账", _whitespace(1 << 30)), level=1), "解压后不超过 1,073,741,824 字节",
         slow=True),
    Case("xlsx-table-on-two-later-sheets", "issues",
         lambda d: xlsx_of(d / "台账.xlsx", ("封面", sheet_xml([["万州区巡察问题台账"]])),
                           ("一组", sheet_xml([ISSUE_HEADER, issue("Q1")])), ("二组", sheet_xml([ISSUE_HEADER, issue("Q2")]))),
         "工作表 “一组”、“二组” 都有"),
    Case("csv-gz-truncated", "issues", lambda d: _csv_gz(d, _ledger_gz()[:-20]), "文件不完整（被截断）"),
    Case("csv-gz-not-gzip", "issues", lambda d: _csv_gz(d, gzip.decompress(_ledger_gz())), "不是 gzip 格式"),
    Case("csv-gz-unpacks-too-large", "issues", _gzip_bomb, "解压后不超过 1,073,741,824 字节", slow=True),
    Case("csv-line-too-long", "issues",
         lambda d: _csv_gz(d, gzip.compress(",".join(ISSUE_HEADER).encode() + b"\n" + b"x" * (2 << 20))),
         "每行不超过 1,048,576 个字符", row=2),
    Case("csv-row-longer-than-header", "issues",
         lambda d: write_csv(d / "台账.csv", ISSUE_HEADER, [issue("Q1"), issue("Q2") + ["第三组"]]),
         "该行有 14 个值，表头只有 13 列", row=3, column="第 N 列"),
    Case("csv-10000-columns", "issues",
         lambda d: write_csv(d / "台账.csv", ISSUE_HEADER + [f"列{i}" for i in range(10_000)],
                             [issue("Q1") + ["x"] * 10_000]), "不超过 1,000 列的表；表头有 10,013 列", row=1),
    # -- values that are malformed ------------------------------------------------------------------
    Case("empty-required", "issues", ledger(巡察轮次=""), "一个值，不能为空", row=3, column="巡察轮次"),
    Case("unknown-severity", "issues", ledger(严重程度="很严重"), "一般 (minor)、较重 (serious)、严重 (grave)",
         row=3, column="严重程度"),
    Case("unknown-status", "issues", ledger(整改状态="办结"), "未整改 (open)", row=3, column="整改状态"),
    Case("impossible-date", "issues", ledger(发现日期="2024-02-30"), "日历上存在的日期", row=3, column="发现日期"),
    Case("date-format", "issues", ledger(发现日期="05/03/2024"), "日期，如 2024-03-05", row=3, column="发现日期"),
    Case("code-length", "issues", ledger(**{"村(社区)代码": "5001010010"}), "12 位村(社区)统计代码", row=3,
         column="村(社区)代码"),
    Case("code-as-excel-number", "issues", ledger(**{"村(社区)代码": "5.00101E+11"}), "科学计数法", row=3,
         column="村(社区)代码"),
    Case("amount-not-number", "issues", ledger(涉及金额="一万二"), "数字", row=3, column="涉及金额"),
    Case("amount-negative", "issues", ledger(涉及金额="-5"), "不小于 0 的数", row=3, column="涉及金额"),
    Case("amount-infinite", "issues", ledger(涉及金额="inf"), "有限的数", row=3, column="涉及金额"),
    Case("amount-nan", "issues", ledger(涉及金额="nan"), "有限的数", row=3, column="涉及金额"),
    Case("yes-no", "issues", ledger(立行立改="也许"), "是 或 否", row=3, column="立行立改"),
    Case("amount-decimal-comma", "issues", ledger(涉及金额="1.234,50"), "小数点用“.”而不是逗号", row=3,
         column="涉及金额"),
    Case("amount-comma-not-thousands", "issues", ledger(涉及金额="1,23"), "若是 1.23 请写作 1.23，若是 123", row=3,
         column="涉及金额"),
    Case("amount-thousands-misplaced", "issues", ledger(涉及金额="12,34,567"), "千位分隔符“,”须每三位一个", row=3,
         column="涉及金额"),
    Case("amount-in-wan-yuan", "issues", ledger(涉及金额="1.2万元"), "请换算成元，如 1.2万元 写作 12000", row=3,
         column="涉及金额"),
    Case("found-year-mistyped", "issues", ledger(发现日期="0024-03-05"), "不早于 2000-01-01 的日期（年份是否写错？",
         row=3, column="发现日期"),
    # -- values well-formed but wrong ---------------------------------------------------------------
    Case("village-not-loaded", "issues", ledger(**{"村(社区)代码": "500101001999"}), "已加载区划中的村(社区)代码",
         row=3, column="村(社区)代码"),
    Case("village-name-unknown", "issues",
         lambda d: write_csv(d / "台账.csv", ["问题编号", "村(社区)", "乡镇(街道)"] + ISSUE_HEADER[2:],
                             [["Q1", "不存在村", "高笋塘街道"] + issue()[2:]]),
         "已加载区划中名为 高笋塘街道 不存在村 的村(社区)", row=2, column="村(社区)"),
    Case("category-unknown", "issues", ledger(问题类别="低保特困救主"), "问题类别表中的类别：", row=3,
         column="问题类别"),
    Case("root-unit-unknown", "issues", ledger(根源单位="万州区不存在局"), "已加载单位的单位编号或名称", row=3,
         column="根源单位"),
    Case("root-unit-other-district", "issues", ledger(根源单位="涪陵区民政局"), "问题所在区县（500101）的单位", row=3,
         column="根源单位", before=lambda store, d: store.upsert_units(catalog_units(store, "500102"))),
    Case("village-code-and-name-disagree", "issues",
         lambda d: write_csv(d / "台账.csv", ["问题编号", "村(社区)代码", "村(社区)名称"] + ISSUE_HEADER[2:],
                             [["Q1", DONGFANG, "东方广场社区"] + issue()[2:],
                              ["Q2", DONGFANG, "黄柏村"] + issue()[2:]]),
         "代码 500101001001 是 东方广场社区居民委员会", row=3, column="村(社区)名称"),
    Case("category-look-alike", "issues", ledger(问题类别="村(居) 务公开"), "看起来相同，但全角/半角字符、空格或引号不同",
         row=3, column="问题类别"),
    Case("closed-before-found", "issues", ledger(整改状态="已销号", 销号日期="2024-01-01"), "不早于发现日期", row=3,
         column="销号日期"),
    Case("due-before-found", "issues", ledger(整改时限="2024-01-01"), "不早于发现日期", row=3, column="整改时限"),
    Case("found-in-future", "issues", ledger(发现日期=FUTURE, 整改时限=""), "不晚于今天", row=3, column="发现日期"),
    Case("closed-without-date", "issues", ledger(整改状态="已销号"), "须写明销号日期", row=3, column="销号日期"),
    Case("open-with-closing-date", "issues", ledger(整改状态="未整改", 销号日期="2024-05-01"), "还没有销号日期",
         row=3, column="销号日期"),
    Case("duplicate-id", "issues", lambda d: write_csv(d / "台账.csv", ISSUE_HEADER, [issue("Q1"), issue("Q1")]),
         "第 2 行已有", row=3, column="问题编号"),
    Case("reopen-closed", "issues", ledger(整改状态="整改中"), "--allow-reopen", row=3, column="整改状态",
         before=_closed_in_store),
    Case("duty-new-category", "duties",
         lambda d: write_csv(d / "权责.csv", ["问题类别", "层级", "职能", "责任类型"],
                             [["低保特困救主", "乡镇", "civil_affairs", "主体责任"]]),
         "--new-category", row=2, column="问题类别"),
    Case("duty-unknown-function", "duties",
         lambda d: write_csv(d / "权责.csv", ["问题类别", "层级", "职能", "责任类型"],
                             [["低保特困救助", "乡镇", "civil_afairs", "主体责任"]]),
         "--new-function", row=2, column="职能"),
    Case("unit-level", "units",
         lambda d: write_csv(d / "单位.csv", ["单位编号", "单位名称", "层级", "所属区划代码", "职能"],
                             [["U1", "万州区民政局", "省级", "500101", "civil_affairs"]]),
         "区县 (district)、乡镇 (township)", row=2, column="层级"),
    Case("unit-area-level-mismatch", "units",
         lambda d: write_csv(d / "单位.csv", ["单位编号", "单位名称", "层级", "所属区划代码", "职能"],
                             [["U1", "高笋塘街道社会事务办", "区县", GAOSUNTANG, "civil_affairs"]]),
         "6 位区县代码", row=2, column="所属区划代码"),
]


def gzip_file(path: Path) -> Path:
    target = path.with_name(path.name + ".gz")
    target.write_bytes(gzip.compress(path.read_bytes()))
    return target
