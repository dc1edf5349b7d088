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
