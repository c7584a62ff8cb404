"""Tests for the campaign report: summaries on hand-computable frames, and the written page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2t_discovery.exceptions import E2TError
from e2t_discovery.report import (
    ReportData,
    best_so_far,
    interval_coverage,
    prospective_predictions,
    round_summary,
    write_report,
)


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
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


def test_best_so_far_follows_objective() -> None:
    values = np.array([1.0, 3.0, 2.0, 5.0, 0.5])
    best, arg = best_so_far(values, "maximize")
    assert best.tolist() == [1.0, 3.0, 3.0, 5.0, 5.0]
    assert arg.tolist() == [0, 1, 1, 3, 3]
    best, _ = best_so_far(values, "minimize")
    assert best.tolist() == [1.0, 1.0, 1.0, 1.0, 0.5]
    best, _ = best_so_far(values, "range", (2.5, 3.5))
    assert best.tolist() == [1.0, 3.0, 3.0, 3.0, 3.0]


def test_round_summary_counts_best_and_batch_rmse() -> None:
    m, p = _frames()
    s = round_summary(m, p, "maximize")
    assert s["round"].tolist() == [0, 1, 2]
    assert s["measurements"].tolist() == [2, 4, 5]
    assert s["best"].tolist() == [3.0, 5.0, 5.0]
    assert s["best_domain"].tolist() == ["y", "z", "z"]
    assert np.isnan(s["batch_rmse"].iloc[0])
    # round 1: errors 0 and -2 -> sqrt(2); round 2: error 0
    assert s["batch_rmse"].iloc[1] == pytest.approx(np.sqrt(2.0))
    assert s["batch_rmse"].iloc[2] == pytest.approx(0.0)


def test_prospective_predictions_only_measured_proposals() -> None:
    m, p = _frames()
    pred = prospective_predictions(m, p)
    assert pred["material_id"].tolist() == ["c", "d", "e"]
    assert pred["y_true"].tolist() == [2.0, 5.0, 4.0]


def test_interval_coverage_on_known_z_scores() -> None:
    pred = pd.DataFrame({"mean": [0.0, 0.0, 0.0, 0.0], "std": [1.0] * 4,
                         "y_true": [0.5, -1.5, 2.5, 0.0]})
    cov = interval_coverage(pred, [0.6827, 0.9545, 0.999])
    assert cov.tolist() == pytest.approx([0.5, 0.75, 1.0])


def test_report_data_rejects_bad_objective_and_frames() -> None:
    m, p = _frames()
    with pytest.raises(E2TError, match="objective 'up' is not one of"):
        ReportData("c", "y", "u", "up", m, p)
    with pytest.raises(E2TError, match="lacks column"):
        ReportData("c", "y", "u", "maximize", m.drop(columns=["domain"]), p)
    with pytest.raises(E2TError, match="needs target_range"):
        ReportData("c", "y", "u", "range", m, p)


def test_write_report_writes_page_and_plots(tmp_path) -> None:  # type: ignore[no-untyped-def]
    m, p = _frames()
    holdout = pd.DataFrame({"y_true": [1.0, 2.0], "mean": [1.1, 1.8], "std": [0.2, 0.2]})
    index = write_report(ReportData("demo<1>", "tc", "W/m/K", "maximize", m, p,
                                    holdout=holdout, reference_best=6.0), tmp_path / "r")
    text = index.read_text()
    assert "demo&lt;1&gt;" in text
    for name in ("best_so_far.png", "parity.png", "calibration.png", "domains.png"):
        png = tmp_path / "r" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"src='{name}'" in text
    # the proposal table lists the unmeasured proposal too
    assert "<td class='l'>f</td>" in text
