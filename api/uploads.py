"""An uploaded file, copied to a temporary file: the loaders read files. Its size is capped while
the request is read (:mod:`api.bodies`); its name is checked here, before anything is written."""
from __future__ import annotations

import hashlib
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from fastapi import UploadFile

from graph.access import OutsideScope
from graph.errors import InputError, RowError

# The suffixes the readers know (loaders.rows decides the format by content and suffix); any other
# is dropped from the temporary copy's name, so a user's name never becomes part of a path.
KNOWN_SUFFIXES = (".csv.gz", ".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")
MAX_NAME = 255


def upload_name(filename: str | None) -> str:
    """The name the user gave, checked: no control character (a NUL, say), not over 255
    characters; a 422 naming the field otherwise.

    >>> upload_name("台账.csv")
    '台账.csv'
    >>> upload_name("a\\x00.csv")
    Traceback (most recent call last):
    graph.errors.InputError: file，列“file.filename”，值“a\\x00.csv”：应为 不含控制字符、不超过 255 个字符的文件名 (a file name without control characters, at most 255 characters)
    """
    name = filename or "upload.csv"
    if len(name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InputError(RowError("file", None, "file.filename", name[:80],
                                  f"不含控制字符、不超过 {MAX_NAME} 个字符的文件名 "
                                  f"(a file name without control characters, at most {MAX_NAME} characters)"))
    return Path(name.replace("\\", "/")).name or "upload.csv"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@asynccontextmanager
async def uploaded(file: UploadFile) -> AsyncIterator[tuple[str, Path]]:
    """``(name as the user gave it, temporary path)``; row errors name the user's file, not the
    temporary copy."""
    name = upload_name(file.filename)
    suffix = next((s for s in KNOWN_SUFFIXES if name.lower().endswith(s)), ".csv")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        with open(path, "wb") as out:
            while chunk := await file.read(1 << 20):
                out.write(chunk)
        try:
            yield name, path
        except (InputError, OutsideScope) as exc:
            errors = [RowError(name, e.row, e.column, e.value, e.expected) for e in exc.errors]
            raise (InputError(errors) if isinstance(exc, InputError) else OutsideScope(errors, exc.district)) from None
