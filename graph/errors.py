"""The project's own exceptions. Each knows its HTTP status and its CLI exit code, so the API and the
CLI translate them once, at the boundary, and driver errors never leak past a store module."""
from __future__ import annotations

from dataclasses import dataclass


class XunchaError(Exception):
    """Base of every error the project raises on purpose."""

    http_status = 500
    exit_code = 1


@dataclass(frozen=True)
class RowError:
    """One bad value in one input file: where it is and what was expected there."""

    file: str
    row: int | None
    column: str | None
    value: object
    expected: str

    def __str__(self) -> str:
        """``issues.csv 第 5 行，列“发现日期”，值“2024-13-01”：应为 …`` (file, row as Excel shows it,
        column as the file's header names it, value, what was expected)."""
        parts = [self.file]
        if self.row is not None:
            parts[0] += f" 第 {self.row} 行"
        if self.column is not None:
            parts.append(f"列“{self.column}”")
        if self.value is not None:
            parts.append(f"值“{_shown(self.value)}”")
        return "，".join(parts) + f"：应为 {self.expected}"

    def as_dict(self) -> dict:
        return {"file": self.file, "row": self.row, "column": self.column,
                "value": None if self.value is None else str(self.value), "expected": self.expected}


def _shown(value: object) -> str:
    text = str(value)
    # Control characters are shown escaped, so an error message never carries them to a terminal.
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= 80 else text[:77] + "…"


class InputError(XunchaError):
    """Bad input: nothing was written. Carries every error found, not only the first."""

    http_status = 422
    exit_code = 2

    def __init__(self, errors: list[RowError] | RowError | str):
        if isinstance(errors, str):
            errors = [RowError(file="-", row=None, column=None, value=None, expected=errors)]
        elif isinstance(errors, RowError):
            errors = [errors]
        self.errors = list(errors)
        super().__init__(self.summary())

    def summary(self, limit: int = 50) -> str:
        """The first ``limit`` errors, then the exact total."""
        lines = [str(e) for e in self.errors[:limit]]
        if len(self.errors) > limit:
            lines.append(f"…… 另有 {len(self.errors) - limit:,} 个错误，共 {len(self.errors):,} 个 "
                         f"({len(self.errors):,} errors in all)")
        elif len(self.errors) > 1:
            lines.append(f"共 {len(self.errors):,} 个错误 ({len(self.errors):,} errors)")
        return "\n".join(lines)


class NotFound(XunchaError):
    http_status = 404
    exit_code = 2


class StoreMissing(XunchaError):
    """A reading command named a store that does not exist: nothing is created."""

    http_status = 503
    exit_code = 2


class StoreUnavailable(XunchaError):
    """The store cannot be reached or opened (server down, bad credentials, unreadable file)."""

    http_status = 503
    exit_code = 1


class StoreBusy(StoreUnavailable):
    """Another writer (a load in another process, say) held the store past the wait allowed:
    nothing of this write was done, and trying again later is the remedy."""

    retry_after = 5  # seconds an API client is told to wait (Retry-After)


class StoreError(XunchaError):
    """The store failed while working (constraint, driver or disk error)."""

    http_status = 500
    exit_code = 1


class StoreOutOfMemory(StoreError):
    """The database refused a transaction for want of memory; nothing of it was written."""

    http_status = 503

    def __init__(self, store: str, detail: str):
        super().__init__(
            f"{store} 内存不足，拒绝了这次写入，该事务没有写入任何数据 (out of memory; the refused "
            "transaction wrote nothing)；问题台账的加载在完成前对查询不可见，调整后重新加载即可。"
            "请给 Neo4j 更多堆内存：docker-compose.yml 的 NEO4J_server_memory_heap_max__size，"
            "项目的启动器用 NEO4J_DEV_HEAP（如 2g），或 neo4j.conf 的 server.memory.heap.max_size；"
            "单个事务的上限是 dbms.memory.transaction.total.max（默认为堆的 70%）。"
            f"各省规模所需内存见 README 的 Neo4j 一节。引擎原文：{detail}")


class DiskFull(StoreError):
    """The disk filled up during a write; the transaction was rolled back."""

    http_status = 507


class Forbidden(XunchaError):
    """The caller's role or district scope does not allow this."""

    http_status = 403
    exit_code = 2


class Unauthorized(XunchaError):
    http_status = 401
    exit_code = 2


class NotSupported(XunchaError):
    """The store cannot do this (Cypher on the embedded store)."""

    http_status = 501
    exit_code = 2


class OutputError(XunchaError):
    """A report or file that cannot be written where the user asked: a missing or read-only folder,
    a file where a folder should be, a full disk."""

    exit_code = 1

    def __init__(self, path, cause: OSError):
        reason = {13: "没有写入权限", 17: "路径中有同名文件", 20: "路径中有一段是文件而不是文件夹",
                  28: "磁盘已满", 30: "只读文件系统", 2: "文件夹不存在或不可建"}.get(cause.errno or 0, cause.strerror or str(cause))
        super().__init__(f"无法写出 {path}：{reason}（请换一个可写的位置）")

