"""Frames shared by the store tests."""

from __future__ import annotations

import pandas as pd


def materials_frame(ids: list[str], canonical: list[str] | None = None,
                    domain: str | None = "1") -> pd.DataFrame:
    """Return polymer materials ``ids`` (canonical forms ``*C*``, ``*CC*``, ... by default)."""
    return pd.DataFrame({"id": ids, "kind": "polymer",
                         "canonical": canonical or [f"*{'C' * (i + 1)}*" for i in range(len(ids))],
                         "domain": domain})


def measurements_frame(ids: list[str], values: list[float]) -> pd.DataFrame:
    """Return measurements of property ``k`` in round 0, one per id and value."""
    return pd.DataFrame({"material_id": ids, "property": "k", "value": values, "unit": "W",
                         "raw_value": values, "raw_unit": "W", "source_file": "f.csv",
                         "source_sha256": "x", "source_row": range(1, len(ids) + 1),
                         "round": 0})
