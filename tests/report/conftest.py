"""Fixtures of the report tests: small hand-computable frames and figures closed after."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd
import pytest

from e2t_discovery.report import ReportData


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Five measurements over rounds 0-2 and four proposals, three of them measured."""
    measurements = pd.DataFrame({
        "material_id": ["a", "b", "c", "d", "e"],
        "value": [1.0, 3.0, 2.0, 5.0, 4.0],
        "round": [0, 0, 1, 1, 2],
        "domain": ["x", "y", "z", "z", "w"],
    })
    proposals = pd.DataFrame({
        "round": [1, 1, 2, 2],
        "material_id": ["c", "d", "e", "f"],
        "strategy": ["ucb"] * 4,
        "mean": [2.0, 3.0, 4.0, 0.0],
        "std": [1.0, 1.0, 0.1, 1.0],
        "acquisition": [4.0, 5.0, 4.2, 2.0],
        "domain": ["z", "z", "w", "v"],
        "status": ["measured", "measured", "measured", "proposed"],
    })
    return measurements, proposals


@pytest.fixture
def make_data(frames: tuple[pd.DataFrame, pd.DataFrame]) -> Callable[..., ReportData]:
    """Build :class:`ReportData` of ``frames`` (thermal conductivity, maximize)."""
    m, p = frames

    def make(**kw: object) -> ReportData:
        return ReportData("c", "thermal_conductivity", "W/m/K", "maximize", m, p, **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Close the figures a test drew (the *_figure functions leave them open)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
