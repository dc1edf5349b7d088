"""Reading tables from CSV (UTF-8, with or without BOM, optionally gzipped) or XLSX, by suffix.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row row 2.
"""
from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from graph.errors import InputError, RowError


@dataclass
class Columns:
    """The columns a table format names: canonical name -> accepted headers (English, Chinese)."""

    aliases: dict[str, tuple[str, ...]]
    required: tuple[str, ...]

    def lookup(self) -> dict[str, str]:
        table = {}
        for canonical, names in self.aliases.items():
            for name in (canonical, *names):
                table[_normal(name)] = canonical
        return table


def _normal(header: str) -> str:
    return str(header).strip().lower().replace("（", "(").replace("）", ")").replace(" ", "")


@dataclass
class Table:
    file: str
    index: dict[str, int]          # canonical column -> position
    headers: dict[str, str]        # canonical column -> header as written in the file
    extra: dict[str, int] = field(default_factory=dict)  # other headers -> position
    rows: Iterator[tuple[int, list]] = iter(())

    def value(self, row: list, column: str):
        position = self.index.get(column)
        if position is None or position >= len(row):
            return None
        value = row[position]
        if isinstance(value, str):
            value = value.strip()
            return value if value != "" else None
        # Excel gives numbers for codes typed as numbers (500101001001.0): the formats want text.
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value

    def extras(self, row: list) -> dict[str, str]:
        out = {}
        for name, position in self.extra.items():
            if position < len(row) and row[position] not in (None, ""):
                out[name] = str(row[position]).strip()
        return out


def read_table(path: str | Path, columns: Columns) -> Table:
    """Open a CSV or XLSX table and map its header to the format's columns."""
    path = Path(path)
    name = path.name
    if not path.exists():
        raise InputError(RowError(str(path), None, None, None, "an existing file"))
    suffixes = "".join(path.suffixes[-2:]).lower()
    if suffixes.endswith(".xlsx"):
        header, rows = _xlsx_rows(path)
    elif suffixes.endswith(".csv") or suffixes.endswith(".csv.gz"):
        header, rows = _csv_rows(path)
    else:
        raise InputError(RowError(name, None, None, path.suffix, "a .csv, .csv.gz or .xlsx file"))
    if header is None:
        raise InputError(RowError(name, 1, None, None, "a header row naming the columns; the file is empty"))
    lookup = columns.lookup()
    index, headers, extra = {}, {}, {}
    errors = []
    for position, raw in enumerate(header):
        if raw is None or str(raw).strip() == "":
            continue
        canonical = lookup.get(_normal(raw))
        if canonical is None:
            extra[str(raw).strip()] = position
        elif canonical in index:
            errors.append(RowError(name, 1, str(raw), raw, f"each column once; {canonical} appears twice"))
        else:
            index[canonical] = position
            headers[canonical] = str(raw).strip()
    for required in columns.required:
        if required in index:
            continue
        names = "/".join((required, *columns.aliases.get(required, ())))
        errors.append(RowError(name, 1, required, None, f"a column {names}"))
    if errors:
        raise InputError(errors)
    return Table(file=name, index=index, headers=headers, extra=extra, rows=rows)


def _csv_rows(path: Path):
    raw = gzip.open(path, "rb").read() if path.suffix.lower() == ".gz" else path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = raw[:exc.start].count(b"\n") + 1
        bad = raw[exc.start:exc.start + 4]
        raise InputError(RowError(path.name, row, None, bad.hex(" "),
                                  "UTF-8 text (save the file as CSV UTF-8; GBK/GB18030 is not accepted)")) from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    while header is not None and not any(h.strip() for h in header):
        header = next(reader, None)

    def rows():
        for number, row in enumerate(reader, start=2):
            if any(cell.strip() for cell in row):
                yield number, row
    return header, rows()


def _xlsx_rows(path: Path):
    from openpyxl import load_workbook  # only needed for Excel files
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a bad file
        raise InputError(RowError(path.name, None, None, None, f"a readable .xlsx workbook ({exc})")) from None
    sheet = workbook.worksheets[0]
    iterator = sheet.iter_rows(values_only=True)
    header = next(iterator, None)

    def rows():
        for number, row in enumerate(iterator, start=2):
            values = ["" if v is None else v for v in row]
            if any(str(v).strip() for v in values):
                yield number, values
        workbook.close()
    return (list(header) if header else None), rows()
