"""Exceptions raised by e2t-discovery.

Every error a user can cause derives from :class:`E2TError`; the CLI turns it into one
red line and exit code 1. Anything else is an internal error (exit code 2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from e2t_discovery.problems import Problem

__all__ = [
    "E2TError",
    "ConfigError",
    "DataError",
    "FeaturizationError",
    "IngestError",
    "IngestValidationError",
    "StoreError",
    "StoreBusyError",
    "NotFittedError",
    "ModelError",
    "ScreenError",
    "StrategyError",
    "ProposalError",
]


class E2TError(Exception):
    """Base class of every user-facing error: the message is one line that says what is wrong."""


class ConfigError(E2TError):
    """A campaign configuration is invalid (unknown key, wrong type, bad value)."""


class DataError(E2TError):
    """A benchmark data set is missing, corrupt or asked for in a way it cannot serve."""


class FeaturizationError(E2TError):
    """An item (SMILES, formula, CIF) cannot be turned into features.

    Attributes:
        row: Zero-based position of the bad item in the batch, if known.
        item: The offending input, shortened for display.
    """

    def __init__(self, message: str, *, row: int | None = None, item: object = None) -> None:
        self.row = row
        self.item = item
        where = f"row {row}: " if row is not None else ""
        shown = ""
        if item is not None:
            text = str(item)
            shown = f" (item {text[:80]!r}{'…' if len(text) > 80 else ''})"
        super().__init__(f"{where}{message}{shown}")


class IngestError(E2TError):
    """A lab-results file failed validation; nothing was written."""


class IngestValidationError(IngestError):
    """A lab file failed validation; ``problems`` lists what was found (nothing was written)."""

    def __init__(self, problems: list[Problem], n_problems: int,
                 report_path: Path | None) -> None:
        problems = sorted(problems, key=lambda p: -1 if p.row is None else p.row)
        self.problems = problems
        self.n_problems = n_problems
        more = ""
        if n_problems > 1:
            more = f" (and {n_problems - 1} more problem(s)"
            more += f"; all in {report_path})" if report_path else "; --report FILE lists all)"
        super().__init__(f"{problems[0]}{more}")


class StoreError(E2TError):
    """The campaign store cannot be opened or is inconsistent with this version of the code."""


class StoreBusyError(StoreError):
    """Another process holds the campaign store for writing and did not release it in time."""


class NotFittedError(E2TError):
    """A model was used before it was fitted."""


class ModelError(E2TError):
    """A model artifact is missing, corrupt, or incompatible with the input."""


class ScreenError(E2TError):
    """A candidate library cannot be screened (missing, unreadable, wrong columns)."""


class StrategyError(E2TError):
    """An acquisition strategy is unknown or got invalid parameters."""


class ProposalError(E2TError):
    """Proposals are in a state that forbids the request (pending batch, unknown or closed id)."""
