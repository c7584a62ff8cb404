"""The loop records: campaign row, model versions, proposals, rounds, events, export."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from store_helpers import materials_frame, measurements_frame

from e2t_discovery.exceptions import StoreError
from e2t_discovery.store import Store


def test_campaign_row_once(store: Store) -> None:
    assert store.campaign_info()["config"] == {"k": 1}
    with pytest.raises(StoreError, match="already holds campaign 'camp'"):
        store.init_campaign("other", {})


def test_model_versions_with_parents(store: Store) -> None:
    assert store.latest_model() is None
    assert store.next_model_version() == 1
    kw = dict(kind="train", artifact_path="models/v1", artifact_sha256="h",
              n_measurements=3, max_measurement_id=3, snapshot={"n": 3},
              metrics={"rmse": 0.5})
    first = store.record_model(version=1, parent_version=None, **kw)
    assert (first.version, first.metrics, first.snapshot) == (1, {"rmse": 0.5}, {"n": 3})
    second = store.record_model(version=2, parent_version=1, **{**kw, "kind": "condition"})
    assert store.latest_model() == second
    assert second.parent_version == 1
    with pytest.raises(StoreError, match="model version 2 already exists"):
        store.record_model(version=2, parent_version=1, **kw)
    with pytest.raises(StoreError, match="parent model version 9 does not exist"):
        store.record_model(version=3, parent_version=9, **kw)
    assert list(store.models()["version"]) == [1, 2]


def test_proposals_lifecycle(store: Store) -> None:
    store.add_materials(materials_frame(["a", "b", "c"]), origin="library")
    batch = pd.DataFrame({"material_id": ["a", "b"], "mean": [1.0, 2.0], "std": [0.1, 0.2],
                          "acquisition": [3.0, 4.0], "reason": ["top", "ood"]})
    assert store.add_proposals(batch, round=1, strategy="ucb", model_version=1) == 2
    with pytest.raises(StoreError, match="material 'a' is already proposed in round 1"):
        store.add_proposals(batch.iloc[:1], round=1, strategy="ucb")
    with pytest.raises(StoreError, match="proposed material 'zz' is not in the store"):
        store.add_proposals(pd.DataFrame({"material_id": ["zz"]}), round=2, strategy="ucb")
    with pytest.raises(StoreError, match="appears twice"):
        store.add_proposals(pd.DataFrame({"material_id": ["c", "c"]}), round=2, strategy="x")
    assert store.proposed_material_ids() == {"a", "b"}
    assert store.set_proposal_status(["b"], "dropped", round=1) == 1
    with pytest.raises(StoreError, match="'lost' is not one of"):
        store.set_proposal_status(["a"], "lost")
    got = store.proposals(round=1)
    assert got[["material_id", "status", "reason", "canonical"]].values.tolist() == [
        ["a", "proposed", "top", "*C*"], ["b", "dropped", "ood", "*CC*"]]
    assert list(store.proposals(status="dropped")["material_id"]) == ["b"]
    assert store.current_round() == 1
    store.set_proposal_status(["a"], "measured", round=1)
    store.mark_step_done(1, "screen")
    store.mark_step_done(1, "propose")
    assert store.rounds().to_dict("records") == [
        {"round": 1, "measurements": 0, "proposals": 2, "answered": 1,
         "steps": "screen,propose"}]


def test_close_proposals_changes_only_pending_ones_and_logs_one_event(store: Store) -> None:
    store.add_materials(materials_frame(["a", "b", "c"]), origin="library")
    store.add_proposals(pd.DataFrame({"material_id": ["a", "b", "c"]}), round=1,
                        strategy="ucb")
    store.set_proposal_status(["c"], "measured", round=1)
    assert store.close_proposals(["a", "c", "zz"], "failed", note="no yield") == 1
    got = store.proposals().set_index("material_id")
    assert got.loc["a", ["status", "status_note"]].tolist() == ["failed", "no yield"]
    assert got.loc["c", "status"] == "measured"  # not pending: left as it was
    event = store.events(limit=1).iloc[0]
    assert event["kind"] == "failed"
    assert '"material_ids": ["a"]' in event["payload_json"]
    assert store.close_proposals(["b"], "abandoned") == 1
    # abandoned ones may be proposed again; failed and measured ones may not
    assert store.proposed_material_ids(except_status=("abandoned",)) == {"a", "c"}
    assert store.proposed_material_ids() == {"a", "b", "c"}
    with pytest.raises(StoreError, match="'abandoned' or 'failed', not 'measured'"):
        store.close_proposals(["a"], "measured")


def test_round_steps_and_events(store: Store) -> None:
    assert not store.is_step_done(3, "screen")
    store.mark_step_done(3, "screen", {"run": 7})
    store.mark_step_done(3, "screen", {"run": 8})  # replaced, not duplicated
    assert store.is_step_done(3, "screen")
    assert store.step_info(3, "screen") == {"run": 8}
    assert store.step_info(3, "propose") is None
    assert len(store.round_steps(3)) == 1
    assert store.current_round() == 3
    events = store.events(limit=2)
    assert list(events["kind"]) == ["step_done", "step_done"]


def test_export_tables(store: Store, tmp_path: Path) -> None:
    store.add_materials(materials_frame(["a"]))
    store.add_measurements(measurements_frame(["a"], [1.5]))
    assert store.export_table("measurements", tmp_path / "m.parquet") == 1
    assert pd.read_parquet(tmp_path / "m.parquet")["value"].tolist() == [1.5]
    assert store.export_table("proposals", tmp_path / "p.csv") == 0
    with pytest.raises(StoreError, match="must end in .parquet or .csv"):
        store.export_table("measurements", tmp_path / "m.xlsx")
    with pytest.raises(StoreError, match="cannot export 'secrets'"):
        store.export_table("secrets", tmp_path / "m.csv")
