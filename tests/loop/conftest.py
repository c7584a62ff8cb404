"""Fixtures of the loop tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from campaign_helpers import write_polymer_config
from ingest_helpers import SMILES, lab, write

from e2t_discovery.loop.campaign import Campaign


@pytest.fixture
def campaign(tmp_path: Path) -> Iterator[Campaign]:
    """A polymer campaign that already holds 5 measurements (so 'unchanged' means something)."""
    config = write_polymer_config(tmp_path)
    with Campaign.create("lab", config, root=tmp_path / "campaigns") as c:
        base = lab(["p0", "p1", "p2", "p3", "p4"], SMILES, [0.1, 0.2, 0.3, 0.4, 0.5])
        c.ingest(write(tmp_path / "base.csv", base))
        yield c
