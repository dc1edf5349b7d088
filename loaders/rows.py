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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from graph.errors import InputError, RowError

HEADER_SEARCH_ROWS = 30   # a header further down than this is not a header
CHUNK = 1 << 20

ENCODING_ZH = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (带 BOM)", "utf-16": "UTF-16", "gb18030": "GBK/GB18030"}
DELIMITER_ZH = {",": "逗号", "\t": "制表符", ";": "分号"}


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
    return (str(header).strip().lower().replace("（", "(").replace("）", ")").replace(" ", "")
            .replace("\u3000", "").replace("\n", ""))


@dataclass
class Source:
    """How a file was read, for the load summary."""

    format: str                      # csv, xlsx or xls
    encoding: str | None = None      # CSV only
    delimiter: str | None = None     # CSV only
    header_row: int = 1
    renamed: bool = False            # an Excel workbook named .csv

    def describe(self) -> str:
        parts = [{"csv": "CSV", "xlsx": "Excel 工作簿 (.xlsx)", "xls": "Excel 97-2003 工作簿 (.xls)",
                  "json": "JSON"}[self.format]]
        if self.renamed:
            parts.append("文件名为 .csv，内容是 Excel 工作簿")
        if self.encoding:
            parts.append(f"编码 {ENCODING_ZH.get(self.encoding, self.encoding)}")
        if self.delimiter and self.delimiter != ",":
            parts.append(f"分隔符 {DELIMITER_ZH[self.delimiter]}")
        if self.header_row != 1:
            parts.append(f"表头在第 {self.header_row} 行")
        return "，".join(parts)

    def as_dict(self) -> dict:
        return {"format": self.format, "encoding": self.encoding, "delimiter": self.delimiter,
                "header_row": self.header_row, "renamed": self.renamed}


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
        return [RowError(self.file, row, f"第 {column_letter(position)} 列", None,
                         f"每列有表头：该列表头为空（合并单元格？）但第 {row} 行起有数据，请给该列写上表头或删去该列 "
                         "(a header for every column with data)")
                for position, row in sorted(self.unnamed.items())]


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
        grid = _excel_grid(path, source)
    elif magic.startswith(b"\xd0\xcf\x11\xe0"):
        source = Source("xls", renamed=not suffix.endswith(".xls"))
        grid = _excel_grid(path, source)
    elif suffix.endswith((".xlsx", ".xlsm", ".xls")):
        raise InputError(RowError(name, None, None, None,
                                  "一个 Excel 工作簿；该文件的内容不是 Excel 格式 (not an Excel workbook)"))
    elif suffix.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return _csv_table(path, columns)
    else:
        raise InputError(RowError(name, None, None, path.suffix or name,
                                  ".csv、.csv.gz、.xlsx 或 .xls 文件 (a CSV or Excel file)"))
    head = grid[:HEADER_SEARCH_ROWS]
    header_at, index, headers, extra = _find_header(name, head, columns)
    source.header_row = header_at + 1
    table = Table(file=name, index=index, headers=headers, extra=extra, source=source)
    header = head[header_at]
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
            best = (at, index, missing)
    if best is None:
        required = "、".join(columns.describe(c) for c in columns.required)
        raise InputError(RowError(name, None, None, None,
                                  f"前 {HEADER_SEARCH_ROWS} 行中有一行表头，写有这些列：{required} "
                                  "(a header row naming the required columns; none found)"))
    at, _, missing = best
    errors = []
    for item in missing:
        if isinstance(item, tuple):
            text = " 或 ".join(columns.describe(c) for c in item)
        else:
            text = columns.describe(item)
        first = item if isinstance(item, str) else item[0]
        errors.append(RowError(name, at + 1, (columns.aliases.get(first) or (first,))[0], None,
                               f"表头中有列 {text} (a required column is missing)"))
    raise InputError(errors)


# -- Excel ------------------------------------------------------------------------------------------
def _excel_grid(path: Path, source: Source) -> list[list]:
    from python_calamine import CalamineWorkbook  # reads .xlsx and .xls, fast
    if source.format == "xlsx":
        uncached = _uncached_formulas(path)
        if uncached:
            cells = "、".join(uncached[:10]) + (f" 等 {len(uncached)} 个" if len(uncached) > 10 else "")
            raise InputError(RowError(path.name, None, f"单元格 {cells}", None,
                                      "公式单元格有计算结果：这些公式没有保存结果（文件不是由 Excel 保存的？），"
                                      "请在 Excel 中打开后保存，或把公式换成数值 (formulas without a cached value)"))
    try:
        with open(path, "rb") as handle:
            workbook = CalamineWorkbook.from_filelike(handle)
            if not workbook.sheet_names:
                raise InputError(RowError(path.name, None, None, None, "至少一个工作表 (a worksheet)"))
            grid = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except InputError:
        raise
    except Exception as exc:  # calamine raises its own types for damaged or encrypted files
        raise InputError(RowError(path.name, None, None, None,
                                  f"一个可读的 Excel 工作簿 ({type(exc).__name__}: {exc})")) from None
    return grid


_SHEET_TARGET = re.compile(rb'<Relationship[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"|'
                           rb'<Relationship[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"')


def _first_sheet_member(archive: zipfile.ZipFile) -> str | None:
    try:
        workbook = archive.read("xl/workbook.xml")
        rels = archive.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return None
    sheet = re.search(rb"<(?:\w+:)?sheet\b[^>]*?r:id=\"([^\"]+)\"", workbook)
    if not sheet:
        return None
    targets = {}
    for m in _SHEET_TARGET.finditer(rels):
        rid, target = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        targets[rid] = target.decode()
    target = targets.get(sheet.group(1))
    if target is None:
        return None
    return target.lstrip("/") if target.startswith("/") else "xl/" + target


_CELL_REF = re.compile(rb'\br="([A-Z]+[0-9]+)"')
_CACHED = re.compile(rb"<v>[^<]+</v>|<is>")


def _uncached_formulas(path: Path) -> list[str]:
    """Cells of the first sheet holding a formula but no cached result. Excel always saves the
    result; files written by scripts often do not, and reading them gives an empty cell where the
    user sees a number."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        return []
    with archive:
        member = _first_sheet_member(archive)
        if member is None or member not in archive.namelist():
            return []
        found: list[str] = []
        carry = b""
        with archive.open(member) as stream:
            while True:
                chunk = stream.read(CHUNK)
                data = carry + chunk
                if not chunk:
                    break
                end = data.rfind(b"</c>")
                if end < 0:
                    carry = data
                    continue
                block, carry = data[:end + 4], data[end + 4:]
                if b"<f" not in block:
                    continue
                for cell in re.finditer(rb"<c\b[^>]*>(?:(?!</c>).)*?<f\b.*?</c>", block, re.S):
                    text = cell.group(0)
                    inner = text[text.index(b">") + 1:]
                    if not _CACHED.search(inner):
                        ref = _CELL_REF.search(text)
                        found.append(ref.group(1).decode() if ref else "?")
        return found


# -- CSV --------------------------------------------------------------------------------------------
def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or UTF-16 when the file says so, else GB18030 (GBK's superset,
    what Chinese Excel writes for "CSV (逗号分隔)"). UTF-8 is checked over the whole file, in
    chunks, so a ledger valid UTF-8 in its first megabyte and GBK further down is not misread;
    GB18030 is checked as the file is read (:func:`undecodable` says where it is neither)."""
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
            sample = text.read(1 << 16)
    except UnicodeDecodeError:
        raise undecodable(path) from None
    lines = sample.splitlines()[:HEADER_SEARCH_ROWS]
    if not any(line.strip(" ,;\t\ufeff") for line in lines):
        raise InputError(RowError(name, 1, None, None, "表头行 (a header row naming the columns); 文件是空的"))
    # The separator is the one with which a header is found; commas first.
    first_error = None
    for delimiter in (",", "\t", ";"):
        if delimiter != "," and not any(delimiter in line for line in lines):
            continue
        # newline="": a lone carriage return (old Mac line ends) ends a line here as it does below.
        head = list(itertools.islice(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter),
                                     HEADER_SEARCH_ROWS))
        try:
            header_at, index, headers, extra = _find_header(name, head, columns)
        except InputError as exc:
            first_error = first_error or exc
            continue
        break
    else:
        raise first_error
    source = Source("csv", encoding=encoding, delimiter=delimiter, header_row=header_at + 1)
    table = Table(file=name, index=index, headers=headers, extra=extra, source=source)
    blank = {i for i, h in enumerate(head[header_at]) if not h.strip()}

    def rows():
        with _csv_text(path, encoding) as stream:
            reader = csv.reader(stream, delimiter=delimiter)
            # Excel shows one row per record, so a quoted value spanning lines is still one row.
            number = 0
            try:
                for number, row in enumerate(reader, start=1):
                    if number <= header_at + 1:
                        continue
                    if "".join(row).strip():
                        for position in blank:
                            if position < len(row) and row[position].strip():
                                table.unnamed.setdefault(position, number)
                        yield number, row
            except UnicodeDecodeError:  # GB18030 is checked as it is read
                raise undecodable(path) from None
            except csv.Error as exc:  # e.g. a NUL byte or a quote left open at the end of the file
                raise InputError(RowError(name, number + 1, None, None,
                                          f"CSV 格式的一行 (a well-formed CSV row: {exc})")) from None
    table.rows = rows()
    return table
