"""An uploaded file, copied to a temporary file within the size limit: the loaders read files."""
from __future__ import annotations

import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from fastapi import UploadFile

from graph.errors import InputError, RowError


@asynccontextmanager
async def uploaded(file: UploadFile, max_mb: int) -> AsyncIterator[tuple[str, Path]]:
    """``(name as the user gave it, temporary path)``; an upload over ``max_mb`` is refused, and
    row errors name the user's file, not the temporary copy."""
    limit = max_mb * 2**20
    name = Path(file.filename or "upload.csv").name
    suffix = "".join(Path(name).suffixes[-2:]) or ".csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        size = 0
        with open(path, "wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise InputError(RowError(name, None, None, None, f"不超过 {max_mb} MB 的文件 (upload too large)"))
                out.write(chunk)
        try:
            yield name, path
        except InputError as exc:
            raise InputError([RowError(name, e.row, e.column, e.value, e.expected) for e in exc.errors]) from None
