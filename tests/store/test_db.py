"""Opening the store: migrations, locking, busy messages, transactions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from store_helpers import materials_frame

from e2t_discovery.exceptions import StoreBusyError, StoreError
from e2t_discovery.store import Store, load_migrations


def test_open_applies_every_shipped_migration_with_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "campaign.duckdb"
    with Store.open(path) as s:
        assert s.schema_version == len(load_migrations())
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute("SELECT version, name, sha256 FROM schema_migration").fetchall()
    con.close()
    assert rows == [(m.version, m.name, m.sha256) for m in load_migrations()]


def _store_edited_behind_its_back(path: Path, sql: str) -> Path:
    """Create a store at ``path``, then run ``sql`` on it with a plain DuckDB connection."""
    Store.open(path).close()
    con = duckdb.connect(str(path))
    con.execute(sql)
    con.close()
    return path


def test_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = _store_edited_behind_its_back(
        tmp_path / "campaign.duckdb",
        "INSERT INTO schema_migration (version, name, sha256) VALUES (99, 'x', 'y')")
    with pytest.raises(StoreError, match="schema version 99 but this e2t-discovery knows only"):
        Store.open(path)


def test_changed_migration_is_refused(tmp_path: Path) -> None:
    path = _store_edited_behind_its_back(
        tmp_path / "campaign.duckdb",
        "UPDATE schema_migration SET sha256 = 'abc' WHERE version = 1")
    with pytest.raises(StoreError, match="differs from the shipped one"):
        Store.open(path, read_only=True)


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
        s.add_materials(materials_frame(["c"], ["*CCC*"]), origin="library")
        s.add_proposals(pd.DataFrame({"material_id": ["c"]}), round=2, strategy="ucb")
        assert s.proposals(round=2)["id"].tolist() == [3]  # the id sequence carries on


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
        store.add_materials(materials_frame(["a", "b"]))
        store.log_event("half")
        raise RuntimeError("boom")
    assert store.materials().empty
    assert list(store.events()["kind"]) == ["campaign_created"]
