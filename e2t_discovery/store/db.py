"""The store's connection: open, lock/busy detection, migrations, transactions, query helpers.

The schema lives in numbered SQL migrations shipped in ``e2t_discovery/store/migrations``
(``0001_init.sql``, ...). Opening a store for writing applies the pending ones in one
transaction and records each with its SHA-256; a database written by newer code (a
migration this code does not know) or whose applied migration changed is refused.

DuckDB allows one writing process per file (it holds an OS file lock while the file is
open). :meth:`StoreBase.open` retries while another process holds the lock and raises
:class:`~e2t_discovery.exceptions.StoreBusyError` after ``timeout_s``. Read-only opens
(``read_only=True``) share the file with other readers but not with a writer.

:class:`StoreBase` is what every table group (``measurements``, ``screens``, ``loop``)
builds on; :class:`e2t_discovery.store.Store` composes them. The event log is written here
because every group appends to it inside its own transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Self

import duckdb
import pandas as pd

from e2t_discovery.exceptions import StoreBusyError, StoreError

__all__ = ["Migration", "StoreBase", "load_migrations"]

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migration (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR NOT NULL,
    sha256     VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT current_localtimestamp()
)
"""


@dataclass(frozen=True)
class Migration:
    """One numbered schema migration shipped with the package."""

    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        """SHA-256 of the migration's SQL text."""
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load_migrations() -> list[Migration]:
    """Return the migrations shipped in ``e2t_discovery/store/migrations``, in version order.

    Raises:
        StoreError: if two files share a number or the numbers have a gap.
    """
    folder = resources.files("e2t_discovery.store") / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    expected = list(range(1, len(found) + 1))
    if [m.version for m in found] != expected:
        raise StoreError(
            f"shipped migrations are not numbered 1..{len(found)}: "
            f"{[m.name for m in found]}; reinstall e2t-discovery"
        )
    return found


def to_json(value: Any) -> str:
    """Serialize to JSON, turning paths, numpy scalars and timestamps into plain values."""

    def default(obj: Any) -> Any:
        if hasattr(obj, "item"):
            return obj.item()
        if hasattr(obj, "tolist"):
            return obj.tolist()
        return str(obj)

    return json.dumps(value, default=default, sort_keys=True)


def from_json(text: Any) -> Any:
    """Parse a JSON column value (DuckDB returns JSON as str)."""
    if text is None:
        return None
    return json.loads(text) if isinstance(text, str) else text


def int_or_none(value: Any) -> int | None:
    """Return a nullable integer column value as ``int`` or None."""
    return None if value is None else int(value)


def id_frame(ids: Iterable[Any]) -> pd.DataFrame:
    """Return a one-column (``id``, string dtype) frame of ids, to register for a join."""
    return pd.DataFrame({"id": [str(i) for i in ids]}, dtype="string")


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


class StoreBase:
    """An open campaign database: connection, schema, transactions and the event log."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool,
                 name: str) -> None:
        """Wrap an open connection; use :meth:`open` instead of calling this."""
        self._con = con
        self.path = path
        self.read_only = read_only
        self.name = name
        self._tx_depth = 0
        self._temp_counter = 0

    # ------------------------------------------------------------------ open / close
    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False, timeout_s: float = 10.0,
             name: str | None = None) -> Self:
        """Open (and for writing, create and migrate) the store at ``path``.

        Args:
            path: The ``.duckdb`` file. Its folder must exist.
            read_only: Open without write access (shared with other readers).
            timeout_s: How long to wait while another process holds the file.
            name: Campaign name used in messages (default: the file's folder name).

        Raises:
            StoreBusyError: another process kept the file locked for ``timeout_s``.
            StoreError: the file is missing (read-only), not a DuckDB database, was
                written by newer code, or its applied migrations differ from the shipped ones.
        """
        path = Path(path)
        name = name or path.parent.name
        if not path.parent.is_dir():
            raise StoreError(f"campaign folder {path.parent} does not exist; "
                             f"create the campaign first with `e2t init {name} --config FILE`")
        if read_only and not path.exists():
            raise StoreError(f"campaign store {path} does not exist; "
                             f"create it with `e2t init {name} --config FILE`")
        con = _connect(path, read_only=read_only, timeout_s=timeout_s, name=name)
        store = cls(con, path, read_only=read_only, name=name)
        try:
            # Timestamps are stored as naive UTC (TIMESTAMP): the session clock is UTC.
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET enable_progress_bar = false")
            store._migrate()
        except BaseException:
            con.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection (uncommitted work is rolled back)."""
        self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ migrations
    def _migrate(self) -> None:
        shipped = load_migrations()
        if self.read_only:
            applied = self._applied_migrations_or_empty()
        else:
            with self.transaction():
                self._con.execute(_BOOTSTRAP)
            applied = self._applied_migrations_or_empty()
        self._check_applied(applied, shipped)
        pending = [m for m in shipped if m.version not in applied]
        if not pending:
            return
        if self.read_only:
            raise StoreError(
                f"campaign {self.name} needs a schema upgrade to version {shipped[-1].version}; "
                f"run a writing command once (e.g. `e2t status {self.name}` after "
                f"`e2t ingest`), or open it for writing"
            )
        with self.transaction():
            for migration in pending:
                self._con.execute(migration.sql)
                self._con.execute(
                    "INSERT INTO schema_migration (version, name, sha256) VALUES (?, ?, ?)",
                    [migration.version, migration.name, migration.sha256],
                )

    def _applied_migrations_or_empty(self) -> dict[int, tuple[str, str]]:
        exists = self._row(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
            ["schema_migration"],
        )
        if not exists or not exists[0]:
            return {}
        rows = self._con.execute("SELECT version, name, sha256 FROM schema_migration").fetchall()
        return {int(v): (n, h) for v, n, h in rows}

    def _check_applied(self, applied: dict[int, tuple[str, str]],
                       shipped: list[Migration]) -> None:
        known = {m.version: m for m in shipped}
        newer = sorted(v for v in applied if v not in known)
        if newer:
            raise StoreError(
                f"campaign store {self.path} has schema version {max(applied)} but this "
                f"e2t-discovery knows only up to {len(shipped)}; upgrade e2t-discovery"
            )
        for version, (name, digest) in applied.items():
            if known[version].sha256 != digest:
                raise StoreError(
                    f"migration {name} applied to {self.path} differs from the shipped one "
                    f"(sha256 {digest[:12]} != {known[version].sha256[:12]}); "
                    f"use the e2t-discovery version that created this campaign"
                )

    @property
    def schema_version(self) -> int:
        """Highest applied migration number."""
        row = self._row("SELECT max(version) FROM schema_migration")
        return int(row[0]) if row and row[0] is not None else 0

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one transaction; nested uses join the outer one.

        Raises:
            StoreError: if the store is read-only.
        """
        self._require_writable()
        if self._tx_depth:
            self._tx_depth += 1
            try:
                yield
            finally:
                self._tx_depth -= 1
            return
        self._con.begin()
        self._tx_depth = 1
        try:
            yield
        except BaseException:
            self._tx_depth = 0
            self._con.rollback()
            raise
        self._tx_depth = 0
        self._con.commit()

    def _require_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"campaign {self.name} is open read-only; this needs write access")

    # ------------------------------------------------------------------ query helpers
    def _df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        return self._con.execute(sql, list(params or [])).df()

    def _row(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        # fetchall, not fetchone: DuckDB 2 refuses new work while a result is unfinished.
        rows = self._con.execute(sql, list(params or [])).fetchall()
        return rows[0] if rows else None

    def _scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        row = self._row(sql, params)
        return None if row is None else row[0]

    def _changed(self, sql: str, params: Sequence[Any] | None = None) -> int:
        """Run an INSERT, UPDATE or DELETE and return how many rows it changed."""
        return int(self._scalar(sql, params) or 0)

    @contextmanager
    def _registered(self, frame: pd.DataFrame) -> Iterator[str]:
        """Expose a DataFrame to SQL under a fresh name for the duration of the block."""
        self._temp_counter += 1
        view = f"_e2t_frame_{self._temp_counter}"
        self._con.register(view, frame)
        try:
            yield view
        finally:
            self._con.unregister(view)

    # ------------------------------------------------------------------ event log
    def log_event(self, kind: str, payload: dict[str, Any] | None = None,
                  round: int | None = None) -> None:
        """Append an event to the campaign's log."""
        with self.transaction():
            self._con.execute("INSERT INTO event (kind, round, payload_json) VALUES (?, ?, ?)",
                              [kind, round, to_json(payload or {})])


def _connect(path: Path, *, read_only: bool, timeout_s: float,
             name: str) -> duckdb.DuckDBPyConnection:
    """Connect to ``path``, retrying while another process holds its lock."""
    deadline = time.monotonic() + max(timeout_s, 0.0)
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                first = str(exc).splitlines()[0]
                raise StoreError(f"cannot open campaign store {path}: {first}") from exc
            if time.monotonic() >= deadline:
                raise _busy(exc, path, read_only=read_only, timeout_s=timeout_s,
                            name=name) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        except duckdb.ConnectionException as exc:
            raise StoreError(
                f"campaign {name} is already open in this process with a different mode; "
                f"close it first ({str(exc).splitlines()[0]})"
            ) from exc
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0]
            raise StoreError(f"cannot open campaign store {path}: {first}") from exc


def _busy(exc: Exception, path: Path, *, read_only: bool, timeout_s: float,
          name: str) -> StoreBusyError:
    """Return the error that says who holds the lock on ``path``, and for what."""
    holder = re.search(r"\(PID (\d+)\)", str(exc))
    who = f"process {holder.group(1)}" if holder else "another process"
    mode = "writing" if read_only or _writer_holds(path) else "reading"
    hint = ("retry when it finishes" if mode == "writing" else
            "read-only commands (status, predict, report, export) can run "
            "beside it; retry this one when it finishes")
    return StoreBusyError(f"campaign {name} is busy: {who} holds {path} for {mode}; "
                          f"{hint} (waited {timeout_s:g} s)")


def _writer_holds(path: Path) -> bool:
    """Whether the process that blocks a writer is itself a writer.

    DuckDB's lock message does not say; its lock does: readers share the file, so a
    read-only connection succeeds beside readers and fails only beside a writer.
    """
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.Error:
        return True
    return False
