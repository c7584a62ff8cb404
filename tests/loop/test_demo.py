"""Tests for the demo campaign: its initial data, its failure message, and a short full run."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2t_discovery.data import datasets
from e2t_discovery.exceptions import DataError
from e2t_discovery.loop.demo import (
    DEMO_CONFIG,
    SEED_CLASSES,
    initial_rows,
    random_first_hit,
    run_demo,
)


def test_initial_data_come_from_seed_classes_without_any_top_polymer(data_dir: Path) -> None:
    table = datasets.load_pi1070(data_dir)
    table = table[table["thermal_conductivity"].notna()].reset_index(drop=True)
    rows = initial_rows(table, 20, seed=0)
    assert set(rows["polymer_class"].astype(str)) == set(SEED_CLASSES)
    assert rows["polymer_class"].astype(str).value_counts().max() <= 20
    assert len(rows) == 20 * len(SEED_CLASSES)
    top = set(table.nlargest(11, "thermal_conductivity")["id"])
    assert not top & set(rows["id"])
    assert rows["id"].tolist() == initial_rows(table, 20, seed=0)["id"].tolist()
    assert rows["id"].tolist() != initial_rows(table, 20, seed=1)["id"].tolist()


def test_demo_config_is_a_valid_campaign_file() -> None:
    from e2t_discovery.config.schema import load_config

    cfg = load_config(DEMO_CONFIG)
    assert cfg.target.property == "thermal_conductivity"
    assert cfg.domains.column == "polymer_class"


def test_demo_says_how_to_provide_the_data(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"PI1070.csv not found in .*download"):
        run_demo(tmp_path / "c", data_dir=tmp_path / "empty", download=False)


@pytest.mark.slow
def test_short_demo_runs_and_writes_report(tmp_path: Path, data_dir: Path,
                                           ray_session: None) -> None:
    rows = []
    result = run_demo(tmp_path, rounds=2, per_class=8, data_dir=data_dir, workers=1,
                      on_round=rows.append)
    assert [r.round for r in rows] == [1, 2]
    assert rows[-1].measurements == 8 * len(SEED_CLASSES) + 20
    assert result.report.is_file()
    assert (result.report.parent / "parity.png").is_file()
    # random's expectation over the pool the demo picks from: 1,070 polymers less the initial
    pool = 1070 - 8 * len(SEED_CLASSES)
    assert result.random_first_expected == pytest.approx((pool + 1) / (result.n_targets + 1))
    # a second call with resume continues the same campaign (nothing left to do)
    again = run_demo(tmp_path, rounds=2, per_class=8, data_dir=data_dir, fresh=False)
    assert again.rows == [] and again.top_found == result.top_found


def test_random_first_hit_matches_a_simulation() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    pool, targets = 200, 4
    draws = [int(np.flatnonzero(rng.permutation(pool) < targets)[0]) + 1 for _ in range(20000)]
    assert random_first_hit(pool, targets) == pytest.approx(np.mean(draws), rel=0.02)
    assert random_first_hit(pool, targets) == pytest.approx(201 / 5)
    with pytest.raises(ValueError, match="targets"):
        random_first_hit(3, 0)
