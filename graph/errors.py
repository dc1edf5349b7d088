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
        where = self.file
        if self.row is not None:
            where += f":{self.row}"
        parts = [where]
        if self.column is not None:
            parts.append(f"column {self.column!s}")
        if self.value is not None:
            parts.append(f"value {str(self.value)!r}")
        parts.append(f"expected {self.expected}")
        return ": ".join(parts)

    def as_dict(self) -> dict:
        return {"file": self.file, "row": self.row, "column": self.column,
                "value": None if self.value is None else str(self.value), "expected": self.expected}


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
        lines = [str(e) for e in self.errors[:limit]]
        if len(self.errors) > limit:
            lines.append(f"... and {len(self.errors) - limit} more errors")
        return "\n".join(lines)


class NotFound(XunchaError):
    http_status = 404
    exit_code = 2


class StoreUnavailable(XunchaError):
    """The store cannot be reached or opened (server down, bad credentials, unreadable file)."""

    http_status = 503
    exit_code = 1


class StoreError(XunchaError):
    """The store failed while working (constraint, driver or disk error)."""

    http_status = 500
    exit_code = 1
