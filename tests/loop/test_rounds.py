"""Tests for the closed loop: a real campaign (DuckDB, E2T, Ray screen, strategies, ingest)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loop_helpers import kill_twice_then_finish, make_campaign

from e2t_discovery.exceptions import E2TError
from e2t_discovery.loop.adaptation import AdaptPolicy
from e2t_discovery.loop.campaign import Campaign
from e2t_discovery.loop.rounds import next_round, run_campaign
from e2t_discovery.loop.simulate import LabTable


def _check_consistent(campaign: Campaign, rounds: int, batch: int, n_initial: int) -> None:
    """Every round has exactly one batch, each measured once; nothing else was added."""
    store = campaign.store
    props = store.proposals()
    meas = store.measurements("thermal_conductivity")
    assert len(props) == rounds * batch
    assert sorted(props["round"].unique().tolist()) == list(range(1, rounds + 1))
    assert not props["material_id"].duplicated().any()
    assert (props["status"] == "measured").all()
    assert len(meas) == n_initial + rounds * batch
    assert not meas["material_id"].duplicated().any()
    later = meas[meas["round"] > 0]
    assert set(later["material_id"]) == set(props["material_id"])
    for r in range(1, rounds + 1):
        for step in ("adapt", "screen", "propose", "measure"):
            assert store.is_step_done(r, step)


@pytest.mark.slow
def test_fine_tune_when_a_domain_reaches_threshold(
        tmp_path: Path, data_dir: Path, ray_session: None) -> None:
    root, lib, labels = make_campaign(tmp_path, data_dir, batch=4, strategy="new-domain")
    lab = LabTable.from_path(labels, "id", "thermal_conductivity")
    with Campaign.open("loop", root) as campaign:
        out = run_campaign(campaign, 3, simulate_with=lab, library=lib, workers=1,
                           policy=AdaptPolicy(threshold=2, steps=5))
        kinds = [r.update for r in out.rounds]
        models = campaign.store.models()
    assert "adapt" in kinds
    adapted = models[models["kind"] == "adapt"]
    assert len(adapted) >= 1
    assert "trigger_domains" in adapted["metrics_json"].iloc[0]


@pytest.mark.parametrize("crash_at", [
    "propose",
    pytest.param("measure", marks=pytest.mark.slow),
    pytest.param("adapt", marks=pytest.mark.slow),
    pytest.param("screen", marks=pytest.mark.slow),
])
def test_crash_after_a_step_wrote_before_it_was_marked_resumes_cleanly(
        tmp_path: Path, data_dir: Path, ray_session: None, crash_at: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A step's effect is in the store but the step is not marked done: rerun, no dups."""
    root, lib, labels = make_campaign(tmp_path, data_dir, batch=3)
    lab = LabTable.from_path(labels, "id", "thermal_conductivity")
    seen = []
    with Campaign.open("loop", root) as campaign:
        real = campaign.store.mark_step_done

        def crashing(round: int, step: str, info: dict | None = None) -> None:
            if round == 2 and step == crash_at:
                raise KeyboardInterrupt("simulated crash")
            real(round, step, info)

        monkeypatch.setattr(campaign.store, "mark_step_done", crashing)
        with pytest.raises(KeyboardInterrupt, match="simulated crash"):
            run_campaign(campaign, 3, simulate_with=lab, library=lib, workers=1,
                         on_round=seen.append)
        monkeypatch.setattr(campaign.store, "mark_step_done", real)
        assert next_round(campaign.store) == 2
        out = run_campaign(campaign, 3, simulate_with=lab, library=lib, workers=1,
                           on_round=seen.append)
        assert [r.round for r in seen] == [1, 2, 3]
        assert out.completed == 3 and out.waiting_for is None
        assert crash_at not in out.rounds[0].resumed
        _check_consistent(campaign, 3, 3, 16)
        # model lineage: trained once, then each version derived from the previous one
        assert seen[0].update == "train"
        # a crash after the adapt step stored its model: the rerun finds that model up to
        # date and leaves it ("unchanged") instead of storing a duplicate version
        resumed = {"unchanged"} if crash_at == "adapt" else set()
        assert {r.update for r in seen[1:]} <= {"condition", "adapt"} | resumed
        models = campaign.store.models()
        assert models["version"].tolist() == [1, 2, 3]
        assert pd.isna(models["parent_version"].iloc[0])
        assert models["parent_version"].iloc[1:].tolist() == [1, 2]
        assert models["n_measurements"].tolist() == [16, 19, 22]
        # the ingested values are the table's
        meas = campaign.store.measurements("thermal_conductivity").set_index("material_id")
        table = pd.read_csv(labels, dtype={"id": str}).set_index("id")
        ids = meas.index[meas["round"] > 0]
        np.testing.assert_allclose(meas.loc[ids, "value"],
                                   table.loc[ids, "thermal_conductivity"])
        # asking for fewer rounds than done does nothing
        assert run_campaign(campaign, 2, simulate_with=lab, library=lib).rounds == []


def test_without_simulation_the_loop_waits_for_the_lab(
        tmp_path: Path, data_dir: Path, ray_session: None) -> None:
    root, lib, labels = make_campaign(tmp_path, data_dir, batch=3)
    with Campaign.open("loop", root) as campaign:
        out = run_campaign(campaign, 2, library=lib, workers=1)
        assert out.waiting_for == 1 and out.completed == 0
        ids = campaign.store.proposals(round=1)["material_id"].tolist()
        table = pd.read_csv(labels, dtype={"id": str}).set_index("id").loc[ids].reset_index()
        lab_file = tmp_path / "lab.csv"
        table.assign(unit="W/m/K").to_csv(lab_file, index=False)
        campaign.ingest(lab_file)
        out = run_campaign(campaign, 2, library=lib, workers=1)
        assert out.completed == 1 and out.waiting_for == 2
        assert len(campaign.store.proposals(round=2)) == 3


def test_run_campaign_rejects_bad_rounds(tmp_path: Path, data_dir: Path) -> None:
    root, lib, _ = make_campaign(tmp_path, data_dir)
    with Campaign.open("loop", root) as campaign, \
            pytest.raises(E2TError, match="--rounds 0 must be at least 1"):
        run_campaign(campaign, 0, library=lib)


@pytest.mark.slow
def test_killed_run_resumes_without_lost_or_duplicated_rows(
        tmp_path: Path, data_dir: Path) -> None:
    """SIGKILL `e2t run` at a random moment, run it again, check every count."""
    root, lib, labels = make_campaign(tmp_path, data_dir, batch=3)
    cmd = [sys.executable, "-c", "from e2t_discovery.cli import main; main()", "run", "loop",
           "--rounds",
           "4", "--simulate-with", str(labels), "--library", str(lib), "--workers", "1",
           "--dir", str(root)]
    done = kill_twice_then_finish(cmd, low_s=8.0, high_s=30.0)
    assert done.returncode == 0, done.stderr
    with Campaign.open("loop", root, read_only=True) as campaign:
        _check_consistent(campaign, 4, 3, 16)


def test_portfolio_campaign_learns_from_its_own_measured_picks(
        tmp_path: Path, data_dir: Path, ray_session: None) -> None:
    """The loop hands the strategy its earlier picks' reasons with their measured values."""
    from e2t_discovery.loop.propose import _measured

    root, lib, labels = make_campaign(tmp_path, data_dir, batch=4, strategy="portfolio")
    lab = LabTable.from_path(labels, "id", "thermal_conductivity")
    with Campaign.open("loop", root) as campaign:
        run_campaign(campaign, 2, simulate_with=lab, library=lib, workers=1,
                     policy=AdaptPolicy(threshold=2, steps=2))
        measured = _measured(campaign.store, campaign.config)
        props = campaign.store.proposals()
    later = measured[measured["id"].isin(props["material_id"])]
    assert len(later) == 8 and (later["strategy"] == "portfolio").all()
    assert later["reason"].str.match(r"(explore|exploit) arm, seat \d of 4").all()
    initial = measured[~measured["id"].isin(props["material_id"])]
    assert len(initial) == 16 and initial["reason"].isna().all()
    # round 2's reasons count round 1's picks per arm
    second = props[props["round"] == 2]["reason"]
    counts = second.iloc[0]
    tally = re.findall(r"(?:exploit|explore) (\d+) picks, mean reward", counts)
    assert sum(int(n) for n in tally) == 4, counts
