"""One problem found in an input file: which file, row and column, and why.

Ingest, ``e2t predict``'s rejects and screen rejects all name a bad row the same way:
``<file>: row <n>, column '<name>': <reason and fix>``. Row numbers are 1-based data rows
(row 1 is the first row after the header). This module imports nothing of the package, so
every layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Problem"]


@dataclass(frozen=True)
class Problem:
    """One reason a file was rejected."""

    file: str
    reason: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.row is not None:
            where += f"row {self.row}, "
        if self.column is not None:
            where += f"column {self.column!r}: "
        elif where:
            where = where[:-2] + ": "
        return f"{self.file}: {where}{self.reason}"
