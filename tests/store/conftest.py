"""The store fixture: a fresh campaign store in ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from e2t_discovery.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A writable store of campaign ``camp`` (config ``{"k": 1}``), closed afterwards."""
    (tmp_path / "camp").mkdir()
    with Store.open(tmp_path / "camp" / "campaign.duckdb") as s:
        s.init_campaign("camp", {"k": 1})
        yield s
