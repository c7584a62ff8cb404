"""Helpers of the ingest tests: lab frames, files and the 'rejected, store unchanged' check."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from campaign_helpers import PROPERTY, logical_content

from e2t_discovery.exceptions import IngestError
from e2t_discovery.loop.campaign import Campaign

SMILES = ["*CC*", "*CC(*)C", "*CC(*)c1ccccc1", "*OCC*", "*CC(*)Cl"]


def lab(ids: list[str], smiles: list[str], values: list[object],
        unit: str = "W/m/K") -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "smiles": smiles, PROPERTY: values, "unit": unit,
                         "polymer_class": "1"})


def write(path: Path, frame: pd.DataFrame) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def rejected(campaign: Campaign, path: Path, match: str, **kw: object) -> str:
    """Ingest ``path``, expect a one-line error matching ``match`` and no change."""
    before = logical_content(campaign.store)
    with pytest.raises(IngestError, match=match) as info:
        campaign.ingest(path, **kw)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert logical_content(campaign.store) == before
    return message
