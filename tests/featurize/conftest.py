"""Fixtures shared by the featurizer tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def hoip_paths(data_dir: Path) -> list[Path]:
    """One structure of each of the 12 anion x cation domains, plus a few polymorphs."""
    table = pd.read_csv(data_dir / "hoip" / "hoip.csv")
    picks = table.groupby(table["elements"]).head(1).head(14)
    return [data_dir / "hoip" / "structures" / f"{i}.cif" for i in picks["id"]]
