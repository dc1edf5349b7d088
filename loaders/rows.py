"""Reading tables as offices save them: CSV in UTF-8 (with or without BOM), UTF-16 or GBK/GB18030
(Chinese Excel's "CSV (逗号分隔)"), separated by commas, tabs or semicolons, optionally gzipped;
Excel workbooks (.xlsx, and .xls from older Excel), recognised by their content whatever the file is
named. The header is the first row that names the format's required columns, so title rows
(万州区2024年度村(社区)巡察问题台账) and blank rows above it are skipped.

Rows are numbered as Excel shows them: the first line of the file is row 1, blank rows count.
CSV is decoded as a stream, so a large ledger is never held whole in memory as text.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import re
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from graph.errors import InputError, RowError

HEADER_SEARCH_ROWS = 30   # a header further down than this is not a header
CHUNK = 1 << 20
# What a file may make xuncha read, checked before it is read: an office's ledger is far inside
# these, and a damaged or hostile file (one cell at XFD1048576, a zip bomb) is refused naming the
# bound it passes, instead of exhausting the memory of the process (an API worker on upload).
MAX_COLUMNS = 1_000           # columns of a table (a ledger has about 15; Excel 2003 had 256)
MAX_ROWS = 1_048_576          # rows of a table: Excel's own limit
MAX_CELLS = 20_000_000        # rows × columns of a worksheet's used range, empty cells included
MAX_UNZIPPED = 1 << 30        # bytes a workbook's parts, or a .csv.gz, unpack to
MAX_CELL_XML = 4 << 20        # bytes of one cell's XML (Excel holds at most 32,767 characters a cell)

ENCODING_ZH = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (带 BOM)", "utf-16": "UTF-16", "gb18030": "GBK/GB18030"}
DELIMITER_ZH = {",": "逗号", "\t": "制表符", ";": "分号", "，": "全角逗号“，”"}


@dataclass
class Columns:
    """The columns a table format names: canonical name -> accepted headers (English, Chinese).
    ``one_of`` lists groups of which at least one column must be present."""

    aliases: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    one_of: tuple[tuple[str, ...], ...] = ()

    def lookup(self) -> dict[str, str]:
        table = {}
        for canonical, names in self.aliases.items():
            for name in (canonical, *names):
                table[_normal(name)] = canonical
        return table

    def describe(self, canonical: str) -> str:
        """The headers a column may have, as the user reads them: 村(社区)代码/village_code."""
        shown, seen = [], set()
        for name in (*self.aliases.get(canonical, ()), canonical):
            if _normal(name) not in seen:
                seen.add(_normal(name))
                shown.append(name)
        return "/".join(shown)


def _normal(header) -> str:
    # "*" and "＊" mark required columns in many offices' templates (*问题编号): not part of the name.
    return (str(header).strip().lower().replace("（", "(").replace("）", ")").replace(" ", "")
            .replace("\u3000", "").replace("\n", "").replace("*", "").replace("＊", ""))


@dataclass
class Source:
    """How a file was read, for the load summary."""

    format: str                      # csv, xlsx or xls
    encoding: str | None = None      # CSV only
    delimiter: str | None = None     # CSV only
    header_row: int = 1
    renamed: bool = False            # an Excel workbook named .csv
    sheet: str | None = None         # Excel: the worksheet read, when it is not the first

    def describe(self) -> str:
        parts = [{"csv": "CSV", "xlsx": "Excel 工作簿 (.xlsx)", "xls": "Excel 97-2003 工作簿 (.xls)",
                  "json": "JSON"}[self.format]]
        if self.renamed:
            parts.append("文件名为 .csv，内容是 Excel 工作簿")
        if self.encoding:
            parts.append(f"编码 {ENCODING_ZH.get(self.encoding, self.encoding)}")
        if self.delimiter and self.delimiter != ",":
            parts.append(f"分隔符 {DELIMITER_ZH[self.delimiter]}")
        if self.sheet:
            parts.append(f"第一个工作表没有表头，读取工作表“{self.sheet}”")
        if self.header_row != 1:
            parts.append(f"表头在第 {self.header_row} 行")
        return "，".join(parts)

    def as_dict(self) -> dict:
        return {"format": self.format, "encoding": self.encoding, "delimiter": self.delimiter,
                "header_row": self.header_row, "renamed": self.renamed, "sheet": self.sheet}


def column_letter(position: int) -> str:
    """Excel's letter for a 0-based column position.

    >>> column_letter(0), column_letter(25), column_letter(26)
    ('A', 'Z', 'AA')
    """
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass
class Table:
    file: str
    index: dict[str, int]          # canonical column -> position
    headers: dict[str, str]        # canonical column -> header as written in the file
    extra: dict[str, int] = field(default_factory=dict)  # other headers -> position
    rows: Iterator[tuple[int, list]] = iter(())
    source: Source = field(default_factory=lambda: Source("csv"))
    # Columns with data under a blank header (a merged header cell, a forgotten title): position ->
    # first row with data there. Filled while the rows are read.
    unnamed: dict[int, int] = field(default_factory=dict)
    # CSV rows with values beyond the header's last column: (row, values in the row, columns of
    # the header, the first such (position, value)).
    longer: list[tuple[int, int, int, tuple[int, str]]] = field(default_factory=list)
    columns: Columns | None = None  # the format read, for the names of columns the file lacks

    def header(self, column: str) -> str:
        """A column as the user names it: its header in the file, else (a column the file lacks)
        its name in the file's header language, Chinese unless every header is English."""
        written = self.headers.get(column)
        if written is not None:
            return written
        if self.columns is not None and any(not h.isascii() for h in self.headers.values()):
            return next((a for a in self.columns.aliases.get(column, ()) if not a.isascii()), column)
        return column

    def value(self, row: list, column: str):
        position = self.index.get(column)
        if position is None or position >= len(row):
            return None
        return cell_value(row[position])

    def fields(self, row: list, columns: list[str]) -> dict:
        """The row's non-empty values of ``columns`` (a ledger's plain rows are read by position
        instead: ``loaders.tables``)."""
        out = {}
        size = len(row)
        for column in columns:
            position = self.index[column]
            if position < size:
                value = row[position]
                if value.__class__ is str:  # CSV cells, and most Excel text: no conversion needed
                    value = value.strip()
                    if value:
                        out[column] = value
                elif value is not None:
                    value = cell_value(value)
                    if value is not None:
                        out[column] = value
        return out

    def extras(self, row: list) -> dict[str, str]:
        out = {}
        for name, position in self.extra.items():
            if position < len(row):
                value = cell_value(row[position])
                if value is not None:
                    out[name] = str(value)
        return out

    def unnamed_errors(self) -> list[RowError]:
        """Values with no header above them: under a blank header, or beyond the header's end."""
        errors = [RowError(self.file, row, f"第 {column_letter(position)} 列", None,
                           f"每列有表头：该列表头为空（合并单元格？）但第 {row} 行起有数据，请给该列写上表头或删去该列 "
                           "(a header for every column with data)")
                  for position, row in sorted(self.unnamed.items())]
        hint = {"，": "分隔符是全角逗号“，”，文字中的“，”也被当作了分隔符：请改用英文逗号分隔，或给含“，”的值加英文引号",
                ",": "值中含英文逗号？请给该值加英文引号，或在 Excel 中另存为 CSV"}.get(self.source.delimiter or "",
                                                                          "请删去多余的值或给该列写上表头")
        for row, count, width, (position, value) in self.longer:
            errors.append(RowError(self.file, row, f"第 {column_letter(position)} 列", value,
                                   f"不多于表头的列数：该行有 {count} 个值，表头只有 {width} 列，"
                                   f"多出的值没有表头；{hint} (no more values than the header has columns)"))
        return errors


def cell_value(value):
    """A cell as the formats want it: stripped text or None; whole numbers as their digits
    (Excel gives 500101001001.0 for a code typed as a number); dates and booleans as they are."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value if value != "" else None
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return value


def read_table(path: str | Path, columns: Columns) -> Table:
    """Open a CSV or Excel table, find its header and map it to the format's columns."""
    path = Path(path)
    name = path.name
    if not path.exists():
        raise InputError(RowError(str(path), None, None, None, "一个存在的文件 (file not found)"))
    if path.is_dir():
        raise InputError(RowError(str(path), None, None, None,
                                  "一个 .csv、.xlsx 或 .xls 文件，而不是文件夹 (a file, not a directory)"))
    try:
        with open(path, "rb") as handle:
            magic = handle.read(8)
    except OSError as exc:
        raise InputError(RowError(str(path), None, None, None, f"一个可读的文件 ({exc.strerror})")) from None
    suffix = "".join(path.suffixes[-2:]).lower()
    if magic.startswith(b"PK\x03\x04"):
        source = Source("xlsx", renamed=not suffix.endswith((".xlsx", ".xlsm")))
    elif magic.startswith(b"\xd0\xcf\x11\xe0"):
        source = Source("xls", renamed=not suffix.endswith(".xls"))
    elif suffix.endswith((".xlsx", ".xlsm", ".xls")):
        raise InputError(RowError(name, None, None, None,
                                  "一个 Excel 工作簿；该文件的内容不是 Excel 格式 (not an Excel workbook)"))
    elif suffix.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return _csv_table(path, columns)
    else:
        raise InputError(RowError(name, None, None, path.suffix or name,
                                  ".csv、.csv.gz、.xlsx 或 .xls 文件 (a CSV or Excel file)"))
    (header_at, index, headers, extra), grid = _excel_table(path, source, columns)
    source.header_row = header_at + 1
    table = Table(file=name, index=index, headers=headers, extra=extra, source=source, columns=columns)
    header = grid[header_at]
    blank = {i for i, h in enumerate(header) if cell_value(h) is None}

    def rows():
        for number, row in enumerate(grid[header_at + 1:], start=header_at + 2):
            if any(cell_value(v) is not None for v in row):
                for position in blank:
                    if position < len(row) and cell_value(row[position]) is not None:
                        table.unnamed.setdefault(position, number)
                yield number, row
    table.rows = rows()
    return table


def _find_header(name: str, head: list[list], columns: Columns):
    """The first row that names every required column; else the error against the best row."""
    lookup = columns.lookup()
    best = None
    for at, row in enumerate(head):
        index, headers, extra, twice = {}, {}, {}, []
        for position, raw in enumerate(row):
            text = cell_value(raw)
            if text is None:
                continue
            canonical = lookup.get(_normal(text))
            if canonical is None:
                extra[str(text)] = position
            elif canonical in index:
                twice.append(RowError(name, at + 1, str(text), text,
                                      f"每列只出现一次：{headers[canonical]} 出现了两次 (a column appears twice)"))
            else:
                index[canonical] = position
                headers[canonical] = str(text)
        missing = [c for c in columns.required if c not in index]
        missing += [group for group in columns.one_of if not any(c in index for c in group)]
        if not missing:
            if twice:
                raise InputError(twice)
            return at, index, headers, extra
        if index and (best is None or len(index) > len(best[1])):
            best = (at, headers, missing)
    if best is None:
        required = "、".join(columns.describe(c) for c in columns.required)
        raise InputError(RowError(name, None, None, None,
                                  f"前 {HEADER_SEARCH_ROWS} 行中有一行表头，写有这些列：{required} "
                                  "(a header row naming the required columns; none found)"))
    at, found, missing = best
    probe = Table(file=name, index={}, headers=found, columns=columns)
    errors = []
    for item in missing:
        if isinstance(item, tuple):
            text = " 或 ".join(columns.describe(c) for c in item)
        else:
            text = columns.describe(item)
        errors.append(RowError(name, at + 1, probe.header(item if isinstance(item, str) else item[0]), None,
                               f"表头中有列 {text} (a required column is missing)"))
    raise InputError(errors)


# -- Excel ------------------------------------------------------------------------------------------
def _excel_table(path: Path, source: Source, columns: Columns):
    """The worksheet holding the table, its header and its rows: the first sheet, or, when the first
    has no header, the one other sheet that has (two such sheets are ambiguous and refused). Each
    sheet is bounded before it is read (:func:`_check_sheet`)."""
    from python_calamine import CalamineWorkbook  # reads .xlsx and .xls, fast
    members = _sheet_members(path) if source.format == "xlsx" else None
    try:
        with open(path, "rb") as handle:
            workbook = CalamineWorkbook.from_filelike(handle)
            names = workbook.sheet_names
            if not names:
                raise InputError(RowError(path.name, None, None, None, "至少一个工作表 (a worksheet)"))
            first_error, found = None, []
            for position, sheet_name in enumerate(names):
                if members is not None:
                    member = members[position] if position < len(members) else None
                    if member is None:  # calamine would read a part this pass cannot bound
                        raise InputError(RowError(path.name, None, None, None,
                                                  f"一个可读的 Excel 工作簿；找不到工作表“{sheet_name}”的内容，请在 Excel "
                                                  "中打开后另存为 .xlsx (a workbook whose sheets can be found)"))
                    formulas = _check_sheet(path, member, sheet_name)
                else:
                    formulas = []
                sheet = workbook.get_sheet_by_index(position)
                _check_extent(path.name, sheet_name, sheet.total_height, sheet.total_width)
                head = sheet.to_python(skip_empty_area=False, nrows=HEADER_SEARCH_ROWS)
                try:
                    header = _find_header(path.name, head, columns)
                except InputError as exc:
                    first_error = first_error or exc
                    continue
                found.append((position, sheet_name, sheet, header, formulas))
                if position == 0:
                    break
    except InputError:
        raise
    except Exception as exc:  # calamine raises its own types for damaged or encrypted files
        raise InputError(RowError(path.name, None, None, None,
                                  f"一个可读的 Excel 工作簿 ({type(exc).__name__}: {exc})")) from None
    if not found:
        raise first_error
    if len(found) > 1:
        listed = "、".join(f"“{name}”" for _, name, *_ in found)
        raise InputError(RowError(path.name, None, None, None,
                                  f"只有一个工作表写有表头：第一个工作表没有表头，而工作表 {listed} 都有，"
                                  "无法确定读哪一个；请把要加载的表放在第一个工作表 (one sheet with the table)"))
    position, sheet_name, sheet, header, formulas = found[0]
    if formulas:
        cells = "、".join(formulas[:10]) + (f" 等 {len(formulas)} 个" if len(formulas) > 10 else "")
        raise InputError(RowError(path.name, None, f"单元格 {cells}", None,
                                  "公式单元格有计算结果：这些公式没有保存结果（文件不是由 Excel 保存的？），"
                                  "请在 Excel 中打开后保存，或把公式换成数值 (formulas without a cached value)"))
    if position:
        source.sheet = sheet_name
    try:
        grid = sheet.to_python(skip_empty_area=False)
    except Exception as exc:
        raise InputError(RowError(path.name, None, None, None,
                                  f"一个可读的 Excel 工作簿 ({type(exc).__name__}: {exc})")) from None
    return header, grid


def _check_extent(file: str, sheet: str, rows: int, columns: int) -> None:
    """Refuse a worksheet larger than the bounds (rows and columns of its used range, empty cells
    included, as a reader has to hold it)."""
    if columns > MAX_COLUMNS:
        expected = f"不超过 {MAX_COLUMNS:,} 列的表；工作表“{sheet}”用到第 {columns:,} 列 ({column_letter(columns - 1)})"
    elif rows > MAX_ROWS:
        expected = f"不超过 {MAX_ROWS:,} 行的表；工作表“{sheet}”用到第 {rows:,} 行"
    elif rows * columns > MAX_CELLS:
        expected = (f"不超过 {MAX_CELLS:,} 个单元格（行数×列数）的表；工作表“{sheet}”的范围是 {rows:,} 行 × "
                    f"{columns:,} 列 = {rows * columns:,} 个单元格")
    else:
        return
    raise InputError(RowError(file, None, None, None, expected + "，远处是否有误填的单元格？请删去多余的行列后保存 "
                              "(a worksheet within the size limits)"))


_SHEET_TARGET = re.compile(rb"""<(?:\w+:)?Relationship[^>]*?\bId=["']([^"']+)["'][^>]*?\bTarget=["']([^"']+)["']|"""
                           rb"""<(?:\w+:)?Relationship[^>]*?\bTarget=["']([^"']+)["'][^>]*?\bId=["']([^"']+)["']""")
_SHEET_ELEMENT = re.compile(rb"""<(?:\w+:)?sheet\b[^>]*?\b\w+:id=["']([^"']+)["']""")


def _sheet_members(path: Path) -> list[str | None]:
    """The archive member of each worksheet, in the workbook's order (None where it is not found).
    A workbook whose sheets cannot be found here is refused: calamine would read parts this module
    has not bounded. The parts a workbook unpacks to are bounded first, by what the archive says of
    them (the pass over each sheet then counts what it really unpacks)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(RowError(path.name, None, None, None,
                                  f"一个可读的 Excel 工作簿 ({type(exc).__name__}: {exc})")) from None
    with archive:
        names = archive.namelist()
        if len(names) != len(set(names)):  # a reader could take either copy of a part
            raise InputError(RowError(path.name, None, None, None,
                                      "一个可读的 Excel 工作簿；该文件有重名的部件 (a workbook without duplicate parts)"))
        declared = sum(info.file_size for info in archive.infolist())
        if declared > MAX_UNZIPPED:
            raise InputError(_too_large(path.name, f"该工作簿解压后有 {declared:,} 字节"))
        try:
            workbook = archive.read("xl/workbook.xml")
            rels = archive.read("xl/_rels/workbook.xml.rels")
        except (KeyError, zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as exc:
            raise InputError(RowError(path.name, None, None, None,
                                      f"一个可读的 Excel 工作簿 ({type(exc).__name__}: {exc})")) from None
        targets = {}
        for m in _SHEET_TARGET.finditer(rels):
            rid, target = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
            targets[rid] = target.decode()
        members = []
        for sheet in _SHEET_ELEMENT.finditer(workbook):
            target = targets.get(sheet.group(1))
            member = None if target is None else target.lstrip("/") if target.startswith("/") else "xl/" + target
            members.append(member if member in archive.NameToInfo else None)
        return members


_CACHED = re.compile(rb"<v>[^<]+</v>|<is>")
_FORMULA_CELL = re.compile(rb"<c\b[^>]*>(?:(?!</c>).)*?<f\b.*?</c>", re.S)
_CELL_START = re.compile(rb"<(?:\w+:)?c[\s>]")
_CELL_REF = re.compile(rb'\br="([A-Z]+[0-9]+)"')
_ANY_REF = re.compile(rb"\br=[\"']([A-Z]*)([0-9]+)[\"']")
# A cell or row without its position (r="B7"): valid XML, but its place would be counted, and
# Excel, LibreOffice and the usual libraries always write it. The quick patterns (position first,
# no namespace prefix, as those write it) are searched first; the exact one only where they hit.
_NO_POSITION = re.compile(rb"<(?:\w+:)?(?:c|row)(?=[\s>/])(?![^>]*\br=)")
_MAYBE_NO_POSITION = (re.compile(rb"<c(?! r=)[\s>/]"), re.compile(rb"<row(?! r=)[\s>/]"),
                      re.compile(rb":(?:c|row)[\s>/]"))


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


class _Extent:
    """The rows and columns a worksheet's cells reach, found in one pass over its XML before
    calamine builds the sheet (which allocates rows × columns cells at once: a single cell at
    XFD1048576 asks for 550 GB). Each block of XML is searched once for a position beyond the
    extent known so far, and only a block that has one is read cell by cell; the extent is taken
    from the block's last row and cell first, since a sheet's rows come in order."""

    def __init__(self, file: str, sheet: str):
        self.file, self.sheet = file, sheet
        self.rows = self.columns = self.exact_rows = self.exact_columns = 0
        self._patterns: dict = {}

    def read(self, text: bytes) -> None:
        if any(quick.search(text) for quick in _MAYBE_NO_POSITION) and _NO_POSITION.search(text):
            raise InputError(RowError(self.file, None, None, None,
                                      f"每个单元格写明位置：工作表“{self.sheet}”有未写明位置（r 属性）的单元格或行，"
                                      "请在 Excel 中打开后另存为 .xlsx (cells with their positions)"))
        last = text.rfind(b"<row ")
        if last >= 0 and (m := _ANY_REF.search(text, last, last + 200)):
            self._grow(0, int(m.group(2)))
        last = _last_cell(text)
        if last is not None:
            self._grow(_column_number(last[0]), int(last[1]))
        if self._beyond().search(text):
            for letters, digits in _ANY_REF.findall(text):
                if len(letters) > 3 or len(digits) > 7:
                    _check_extent(self.file, self.sheet, 10 ** 7 if len(digits) > 7 else 1,
                                  MAX_COLUMNS + 1 if len(letters) > 3 else 1)
                self._grow(_column_number(letters), int(digits))
        _check_extent(self.file, self.sheet, self.exact_rows, self.exact_columns)

    def _grow(self, column: int, row: int) -> None:
        # The bounds are checked on the exact positions seen; the search looks beyond the largest
        # position it does not tell apart from them (rows to their second digit, columns to their
        # first letter), so what it passes over is within a few tenths of the bounds.
        if row > self.exact_rows:
            self.exact_rows = row
            digits = str(row)
            self.rows = max(self.rows, int(digits[:2].ljust(len(digits), "9")) if len(digits) > 2 else 99)
        if column > self.exact_columns:
            self.exact_columns = column
            letters = column_letter(column - 1)
            self.columns = max(self.columns, _column_number((letters[0] + "Z" * (len(letters) - 1)).encode()))

    def _beyond(self) -> re.Pattern:
        """A pattern for a position beyond (rows, columns)."""
        key = (self.rows, self.columns)
        pattern = self._patterns.get(key)
        if pattern is None:
            rows, letters = str(self.rows), column_letter(max(self.columns, 1) - 1)
            more_rows = [f"[0-9]{{{len(rows) + 1},}}"]
            if rows[0] != "9":
                more_rows.append(f"[{int(rows[0]) + 1}-9][0-9]{{{len(rows) - 1}}}")
            if len(rows) > 1 and rows[1] != "9":
                more_rows.append(f"{rows[0]}[{int(rows[1]) + 1}-9][0-9]{{{len(rows) - 2}}}")
            more_columns = [f"[A-Z]{{{len(letters) + 1},}}"]
            if letters[0] != "Z":
                more_columns.append(f"[{chr(ord(letters[0]) + 1)}-Z][A-Z]{{{len(letters) - 1}}}")
            # A literal start (r=, not \\br=) keeps the search fast; the exact reading follows a hit.
            source = (f"r=[\"'](?:[A-Z]*(?:{'|'.join(more_rows)})|(?:{'|'.join(more_columns)})[0-9]+)[\"']")
            pattern = self._patterns[key] = re.compile(source.encode())
        return pattern


def _last_cell(text: bytes) -> tuple[bytes, bytes] | None:
    at = text.rfind(b"<c ")
    if at < 0:
        return None
    m = _ANY_REF.search(text, at, at + 200)
    return (m.group(1), m.group(2)) if m and m.group(1) else None


def _check_sheet(path: Path, member: str, sheet: str) -> list[str]:
    """One pass over a worksheet's XML, in chunks, before it is read: the bytes it unpacks to and
    the rows and columns it reaches are bounded (:class:`_Extent`), and the cells holding a formula
    but no cached result are returned. Excel always saves the result; files written by scripts
    often do not, and reading them gives an empty cell where the user sees a number.

    Each byte is looked at a bounded number of times: the text is cut after its last complete tag,
    and what is carried to the next chunk is an unfinished tag or the one cell still open (a cell
    larger than any Excel writes is refused), so a run of whitespace is read once, not again with
    every chunk."""
    extent = _Extent(path.name, sheet)
    found: list[str] = []
    unpacked = 0
    pending = open_cell = b""
    with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
        while True:
            chunk = stream.read(CHUNK)
            unpacked += len(chunk)
            if unpacked > MAX_UNZIPPED:
                raise InputError(_too_large(path.name, f"工作表“{sheet}”解压后更大"))
            data = pending + chunk
            cut = len(data)
            if chunk:
                tag = data.rfind(b"<")
                if tag > data.rfind(b">"):
                    cut = tag
            text, pending = data[:cut], data[cut:]
            if len(pending) > MAX_CELL_XML:
                raise _cell_too_large(path.name, sheet)
            extent.read(text)
            cells = open_cell + text
            end = cells.rfind(b"</c>")
            if end >= 0:
                done, rest = cells[:end + 4], cells[end + 4:]
                if b"<f" in done:
                    for cell in _FORMULA_CELL.finditer(done):
                        xml = cell.group(0)
                        if not _CACHED.search(xml[xml.index(b">") + 1:]):
                            ref = _CELL_REF.search(xml)
                            found.append(ref.group(1).decode() if ref else "?")
            else:
                rest = cells
            start = None
            for start in _CELL_START.finditer(rest):
                pass
            open_cell = rest[start.start():] if start else b""
            if len(open_cell) > MAX_CELL_XML:
                raise _cell_too_large(path.name, sheet)
            if not chunk:
                return found


def _too_large(file: str, found: str) -> RowError:
    return RowError(file, None, None, None, f"解压后不超过 {MAX_UNZIPPED:,} 字节（{MAX_UNZIPPED / 2**30:g} GB）的文件；"
                                            f"{found} (a file within the size limit)")


def _cell_too_large(file: str, sheet: str) -> InputError:
    return InputError(RowError(file, None, None, None,
                               f"每个单元格不超过 {MAX_CELL_XML >> 20} MB：工作表“{sheet}”有一个更大的单元格或标记 "
                               "(cells within the size limit)"))


# -- CSV --------------------------------------------------------------------------------------------
MAX_LINE = 1 << 20            # characters of one line of a CSV file (a ledger's lines have a few hundred)


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


@contextmanager
def _archive_errors(path: Path):
    """A .csv.gz that is truncated, damaged or no gzip at all is refused, not a traceback."""
    try:
        yield
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        reason = ("文件不完整（被截断），请重新压缩或直接提供 .csv" if isinstance(exc, EOFError) else
                  "文件不是 gzip 格式或已损坏，请直接提供 .csv")
        raise InputError(RowError(path.name, None, None, None,
                                  f"一个完整的 gzip 压缩文件 (.csv.gz)；{reason} (a whole gzip file)")) from None


def _check_gzip(path: Path) -> None:
    """Unpack a .csv.gz once, in chunks, before it is read: a damaged archive is refused here, and
    so is one that unpacks to more than :data:`MAX_UNZIPPED` bytes (a few megabytes can unpack to
    many gigabytes)."""
    unpacked = 0
    with _archive_errors(path), gzip.open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            unpacked += len(chunk)
            if unpacked > MAX_UNZIPPED:
                raise InputError(_too_large(path.name, "该文件解压后更大"))


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or UTF-16 when the file says so, else GB18030 (GBK's superset,
    what Chinese Excel writes for "CSV (逗号分隔)"). UTF-8 is checked over the whole file, in
    chunks, so a ledger valid UTF-8 in its first megabyte and GBK further down is not misread;
    GB18030 is checked as the file is read (:func:`undecodable` says where it is neither)."""
    if path.suffix.lower() == ".gz":
        _check_gzip(path)
    with _open_binary(path) as stream:
        first = stream.read(4)
    if first.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8" if _undecodable_at(path, "utf-8") is None else "gb18030"


def _undecodable_at(path: Path, encoding: str) -> int | None:
    """The byte offset at which ``encoding`` first fails on the file, read in chunks; None where
    it reads the whole file."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    try:
        with _open_binary(path) as stream:
            while chunk := stream.read(CHUNK):
                decoder.decode(chunk)
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return offset + exc.start
    return None


def undecodable(path: Path) -> InputError:
    """The error for a file that is neither UTF-8 nor GB18030 (found again here, on the error
    path only), at the row and bytes where the encoding that reads further fails: a GBK ledger
    with one damaged row is reported at that row, not at its first Chinese character."""
    failures = [at for at in (_undecodable_at(path, "utf-8"), _undecodable_at(path, "gb18030")) if at is not None]
    start = max(failures, default=0)
    with _open_binary(path) as stream:
        data = stream.read(start + 4)
    return InputError(RowError(path.name, data[:start].count(b"\n") + 1, None, data[start:start + 4].hex(" "),
                               "UTF-8 或 GBK/GB18030 编码的文本；该文件两种编码都不是，请在 Excel 中另存为 "
                               "“CSV UTF-8 (逗号分隔)” (text in UTF-8 or GBK)"))


def _csv_text(path: Path, encoding: str):
    return io.TextIOWrapper(_open_binary(path), encoding=encoding, newline="")


def _csv_table(path: Path, columns: Columns) -> Table:
    name = path.name
    encoding = detect_encoding(path)
    try:
        with _csv_text(path, encoding) as text:
            # Whole lines (a header longer than a fixed sample would be cut), twice as many as the
            # header is searched in: a title cell may span lines.
            sample = "".join(itertools.islice(_bounded_lines(text, name), 2 * HEADER_SEARCH_ROWS))
    except UnicodeDecodeError:
        raise undecodable(path) from None
    lines = sample.splitlines()[:HEADER_SEARCH_ROWS]
    if not any(line.strip(" ,;\t\ufeff") for line in lines):
        raise InputError(RowError(name, 1, None, None, "表头行 (a header row naming the columns); 文件是空的"))
    # The separator is the one with which a header is found; commas first. A full-width comma
    # (typed in a Chinese input method) is tried last: a row whose text holds one more is longer
    # than its header, and refused saying so.
    first_error = None
    for delimiter in DELIMITER_ZH:
        if delimiter != "," and not any(delimiter in line for line in lines):
            continue
        # newline="": a lone carriage return (old Mac line ends) ends a line here as it does below.
        head = []
        try:
            head.extend(itertools.islice(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter),
                                         HEADER_SEARCH_ROWS))
        except csv.Error:
            pass  # a broken row below the header is reported where the rows are read, with its number
        try:
            header_at, index, headers, extra = _find_header(name, head, columns)
        except InputError as exc:
            first_error = first_error or exc
            continue
        break
    else:
        raise first_error
    source = Source("csv", encoding=encoding, delimiter=delimiter, header_row=header_at + 1)
    table = Table(file=name, index=index, headers=headers, extra=extra, source=source, columns=columns)
    header = head[header_at]
    width = len(header)
    if width > MAX_COLUMNS:
        raise InputError(RowError(name, header_at + 1, None, None,
                                  f"不超过 {MAX_COLUMNS:,} 列的表；表头有 {width:,} 列 (a table within the column limit)"))
    blank = {i for i, h in enumerate(header) if not h.strip()}

    def rows():
        with _csv_text(path, encoding) as stream, _archive_errors(path):
            reader = csv.reader(_bounded_lines(stream, name), delimiter=delimiter)
            # Excel shows one row per record, so a quoted value spanning lines is still one row.
            number = 0
            try:
                for number, row in enumerate(reader, start=1):
                    if number <= header_at + 1:
                        continue
                    if "".join(row).strip():
                        if len(row) > width:
                            _longer_than_header(table, number, row, width)
                        for position in blank:
                            if position < len(row) and row[position].strip():
                                table.unnamed.setdefault(position, number)
                        yield number, row
            except UnicodeDecodeError:  # GB18030 is checked as it is read
                raise undecodable(path) from None
            except csv.Error as exc:  # e.g. a NUL byte or a quote left open at the end of the file
                raise InputError(RowError(name, number + 1, None, None,
                                          f"CSV 格式的一行 (a well-formed CSV row: {exc})")) from None
            if number > MAX_ROWS:
                raise InputError(RowError(name, None, None, None, f"不超过 {MAX_ROWS:,} 行的表（Excel 的行数上限）；"
                                          f"该文件有 {number:,} 行 (a table within the row limit)"))
    table.rows = rows()
    return table


def _bounded_lines(stream, name: str):
    """The stream's lines, each read only up to :data:`MAX_LINE` characters: a longer line (a file
    of one endless line) is refused, not read whole into memory."""
    readline = stream.readline
    number = 0
    while line := readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise InputError(RowError(name, number, None, None,
                                      f"每行不超过 {MAX_LINE:,} 个字符；该行更长（换行符丢失？）(a line within the limit)"))
        yield line


def _longer_than_header(table: Table, number: int, row: list, width: int) -> None:
    """A row with values beyond its header's last column: refused (the values would be dropped),
    and a row far wider than any table is refused at once."""
    if len(row) > MAX_COLUMNS:
        raise InputError(RowError(table.file, number, None, None,
                                  f"不超过 {MAX_COLUMNS:,} 列的表；该行有 {len(row):,} 个值 (a row within the column limit)"))
    beyond = [(position, value) for position, value in enumerate(row[width:], start=width) if value.strip()]
    if beyond:
        table.longer.append((number, len(row), width, beyond[0]))
    elif table.source.delimiter == "，":  # the values moved right by a "，" in the text: the last one was empty
        table.longer.append((number, len(row), width, (width, "")))
