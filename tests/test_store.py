"""The DuckDB campaign store: migrations, locking, transactions and every table's API."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2t_discovery.exceptions import StoreBusyError, StoreError
from e2t_discovery.store import Store, load_migrations


def _materials(ids: list[str], canonical: list[str] | None = None,
               domain: str | None = "1") -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "kind": "polymer",
                         "canonical": canonical or [f"*{'C' * (i + 1)}*" for i in range(len(ids))],
                         "domain": domain})


@pytest.fixture
def store(tmp_path: Path):
    (tmp_path / "camp").mkdir()
    with Store.open(tmp_path / "camp" / "campaign.duckdb") as s:
        s.init_campaign("camp", {"k": 1})
        yield s


def test_open_applies_every_shipped_migration_with_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "campaign.duckdb"
    with Store.open(path) as s:
        assert s.schema_version == len(load_migrations())
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute("SELECT version, name, sha256 FROM schema_migration").fetchall()
    con.close()
    assert rows == [(m.version, m.name, m.sha256) for m in load_migrations()]


def test_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "campaign.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_migration (version, name, sha256) VALUES (99, 'x', 'y')")
    con.close()
    with pytest.raises(StoreError, match="schema version 99 but this e2t-discovery knows only"):
        Store.open(path)


def test_changed_migration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "campaign.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE schema_migration SET sha256 = 'abc' WHERE version = 1")
    con.close()
    with pytest.raises(StoreError, match="differs from the shipped one"):
        Store.open(path, read_only=True)


def test_read_only_store_refuses_writes_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "campaign.duckdb", read_only=True)
    Store.open(tmp_path / "campaign.duckdb").close()
    with Store.open(tmp_path / "campaign.duckdb", read_only=True) as s, \
            pytest.raises(StoreError, match="open read-only"):
        s.log_event("x")


def test_missing_folder_and_non_database_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist; create the campaign first"):
        Store.open(tmp_path / "nope" / "campaign.duckdb")
    junk = tmp_path / "campaign.duckdb"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open campaign store"):
        Store.open(junk)


_HOLD = textwrap.dedent("""
    import sys, time
    from e2t_discovery.store import Store
    s = Store.open(sys.argv[1], read_only=len(sys.argv) > 3)
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    s.close()
""")


def _hold_lock(path: Path, seconds: float, *, reader: bool = False) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(path), str(seconds)]
                            + (["reader"] if reader else []), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_fails_with_busy_after_timeout(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()
    path = tmp_path / "lab" / "campaign.duckdb"
    Store.open(path).close()
    proc = _hold_lock(path, 30)
    try:
        start = time.monotonic()
        with pytest.raises(StoreBusyError,
                           match=r"campaign lab is busy: process \d+ holds .* for writing"):
            Store.open(path, timeout_s=0.5)
        assert time.monotonic() - start >= 0.5
        with pytest.raises(StoreBusyError, match="busy"):
            Store.open(path, read_only=True, timeout_s=0.2)
    finally:
        proc.kill()
        proc.wait()


def test_busy_message_says_the_holder_is_a_reader(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()
    path = tmp_path / "lab" / "campaign.duckdb"
    Store.open(path).close()
    proc = _hold_lock(path, 30, reader=True)
    try:
        with pytest.raises(StoreBusyError, match=r"holds .* for reading; read-only commands"):
            Store.open(path, timeout_s=0.3)
        with Store.open(path, read_only=True, timeout_s=0.3) as s:  # readers share
            assert s.read_only
    finally:
        proc.kill()
        proc.wait()


def test_second_writer_waits_for_the_first(tmp_path: Path) -> None:
    path = tmp_path / "campaign.duckdb"
    Store.open(path).close()
    proc = _hold_lock(path, 1.0)
    try:
        with Store.open(path, timeout_s=60) as s:
            assert s.schema_version == len(load_migrations())
    finally:
        proc.wait()


def test_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        store.add_materials(_materials(["a", "b"]))
        store.log_event("half")
        raise RuntimeError("boom")
    assert store.materials().empty
    assert list(store.events()["kind"]) == ["campaign_created"]


def test_campaign_row_once(store: Store) -> None:
    assert store.campaign_info()["config"] == {"k": 1}
    with pytest.raises(StoreError, match="already holds campaign 'camp'"):
        store.init_campaign("other", {})


def test_materials_insert_once_and_refuse_a_changed_identity(store: Store) -> None:
    assert store.add_materials(_materials(["a", "b"])) == 2
    assert store.add_materials(_materials(["a", "c"], ["*C*", "*N*"]), origin="library") == 1
    got = store.materials(["a", "c"])
    assert list(got["id"]) == ["a", "c"]
    assert list(got["origin"]) == ["measured", "library"]
    with pytest.raises(StoreError, match="material 'a' is stored as '\\*C\\*' but given as"):
        store.add_materials(_materials(["a"], ["*O*"]))
    store.set_material_domains(pd.DataFrame({"id": ["c"], "domain": ["7"]}))
    assert store.materials(["c"])["domain"].iloc[0] == "7"


def _measurements(ids: list[str], values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"material_id": ids, "property": "k", "value": values, "unit": "W",
                         "raw_value": values, "raw_unit": "W", "source_file": "f.csv",
                         "source_sha256": "x", "source_row": range(1, len(ids) + 1),
                         "round": 0})


def test_measurements_counts_and_best_per_domain(store: Store) -> None:
    store.add_materials(pd.DataFrame({"id": ["a", "b", "c"], "kind": "polymer",
                                      "canonical": ["*C*", "*CC*", "*CCC*"],
                                      "domain": ["1", "1", "2"]}))
    store.add_measurements(_measurements(["a", "b", "c", "a"], [1.0, 3.0, 2.0, 5.0]))
    data = store.measurements("k")
    assert list(data["material_id"]) == ["a", "b", "c", "a"]
    assert store.measurement_counts() == {"measurements": 4, "measured_materials": 3,
                                          "materials": 3, "files": 0}
    best = store.best_per_domain("k")
    # replicates are averaged: a = 3.0 ties b = 3.0, ties go to the smaller id
    assert best.to_dict("list") == {"domain": ["1", "2"], "material_id": ["a", "c"],
                                    "value": [3.0, 2.0], "n": [2, 1]}
    assert list(store.best_per_domain("k", maximize=False)["material_id"]) == ["c", "a"]


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


def test_screen_runs_shards_and_parquet_view(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "o'dd"  # a quote in the path must not break the view's DDL
    out.mkdir()
    run = store.start_screen_run(model_version=1, library="lib", out_dir=out, round=2,
                                 params={"batch": 10})
    assert (run.status, run.params, run.round) == ("running", {"batch": 10}, 2)
    for i, values in enumerate([[0.1, 0.9], [0.5]]):
        path = out / f"s{i}.parquet"
        pd.DataFrame({"id": [f"m{i}{j}" for j in range(len(values))],
                      "acquisition": values}).to_parquet(path)
        store.record_shard(run.id, f"s{i}", path, len(values), 0)
    store.record_shard(run.id, "s1", out / "s1.parquet", 1, 0)  # idempotent
    assert store.done_shards(run.id) == {"s0", "s1"}
    assert store.find_screen_run(1, "lib") == run
    assert store.find_screen_run(2, "lib") is None
    with pytest.raises(StoreError, match="no registered results"):
        store.screen_results(run.id)
    view = store.register_screen_view(run.id, out / "*.parquet")
    assert view == f"screen_{run.id}"
    top = store.screen_results(run.id, order_by="acquisition", limit=2)
    assert list(top["acquisition"]) == [0.9, 0.5]
    with pytest.raises(StoreError, match="has no column 'mean'"):
        store.screen_results(run.id, order_by="mean")
    store.finish_screen_run(run.id)
    runs = store.screen_runs()
    assert runs[["status", "n_shards", "n_rows"]].to_dict("records") == [
        {"status": "done", "n_shards": 2, "n_rows": 3}]


def test_proposals_lifecycle(store: Store) -> None:
    store.add_materials(_materials(["a", "b", "c"]), origin="library")
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
    store.add_materials(_materials(["a", "b", "c"]), origin="library")
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


def test_a_store_of_the_first_schema_is_upgraded_keeping_its_proposals(
        tmp_path: Path) -> None:
    """0002 rebuilds the proposal table (wider status check): rows and ids survive."""
    path = tmp_path / "campaign.duckdb"
    first = load_migrations()[0]
    con = duckdb.connect(str(path))
    con.execute(first.sql)
    con.execute("CREATE TABLE schema_migration (version INTEGER PRIMARY KEY, name VARCHAR "
                "NOT NULL, sha256 VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT "
                "current_localtimestamp())")
    con.execute("INSERT INTO schema_migration (version, name, sha256) VALUES (?, ?, ?)",
                [first.version, first.name, first.sha256])
    con.execute("INSERT INTO material (id, kind, canonical) VALUES ('a', 'polymer', '*C*'), "
                "('b', 'polymer', '*CC*')")
    con.execute("INSERT INTO proposal (round, material_id, strategy, acquisition, status) "
                "VALUES (1, 'a', 'ucb', 2.5, 'measured'), (1, 'b', 'ucb', 1.5, 'proposed')")
    con.close()
    with Store.open(path) as s:
        assert s.schema_version == len(load_migrations())
        got = s.proposals()
        assert got[["id", "material_id", "acquisition", "status"]].values.tolist() == [
            [1, "a", 2.5, "measured"], [2, "b", 1.5, "proposed"]]
        assert got["acquisition_name"].isna().all()
        assert s.close_proposals(["b"], "abandoned") == 1
        s.add_materials(_materials(["c"], ["*CCC*"]), origin="library")
        s.add_proposals(pd.DataFrame({"material_id": ["c"]}), round=2, strategy="ucb")
        assert s.proposals(round=2)["id"].tolist() == [3]  # the id sequence carries on


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
    store.add_materials(_materials(["a"]))
    store.add_measurements(_measurements(["a"], [1.5]))
    assert store.export_table("measurements", tmp_path / "m.parquet") == 1
    assert pd.read_parquet(tmp_path / "m.parquet")["value"].tolist() == [1.5]
    assert store.export_table("proposals", tmp_path / "p.csv") == 0
    with pytest.raises(StoreError, match="must end in .parquet or .csv"):
        store.export_table("measurements", tmp_path / "m.xlsx")
    with pytest.raises(StoreError, match="cannot export 'secrets'"):
        store.export_table("secrets", tmp_path / "m.csv")


_ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
               max_size=12)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(_ids, st.tuples(_ids, st.one_of(st.none(), _ids)), min_size=1,
                       max_size=20))
def test_materials_round_trip(tmp_path: Path, rows: dict) -> None:
    folder = tmp_path / uuid.uuid4().hex  # a fresh store per example
    folder.mkdir()
    frame = pd.DataFrame({"id": list(rows), "kind": "composition",
                          "canonical": [c for c, _ in rows.values()],
                          "domain": [d for _, d in rows.values()]})
    with Store.open(folder / "campaign.duckdb") as s:
        assert s.add_materials(frame) == len(rows)
        got = s.materials(list(rows)).set_index("id")
        for key, (canonical, domain) in rows.items():
            assert got.loc[key, "canonical"] == canonical
            assert (None if pd.isna(got.loc[key, "domain"]) else got.loc[key, "domain"]) == domain
        assert s.add_materials(frame) == 0  # adding the same rows again is a no-op
