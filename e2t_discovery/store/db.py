"""The campaign store: one DuckDB file per campaign, and every SQL statement of the package.

The schema lives in numbered SQL migrations shipped in ``e2t_discovery/migrations``
(``0001_init.sql``, ...). Opening a store for writing applies the pending ones in one
transaction and records each with its SHA-256; a database written by newer code (a
migration this code does not know) or whose applied migration changed is refused.

DuckDB allows one writing process per file (it holds an OS file lock while the file is
open). :meth:`Store.open` retries while another process holds the lock and raises
:class:`~e2t_discovery.exceptions.StoreBusyError` after ``timeout_s``. Read-only opens
(``read_only=True``) share the file with other readers but not with a writer.

API (all writes run in a transaction; every query is parameterized):

- Open/close: ``Store.open(path, *, read_only=False, timeout_s=10.0, name=None)`` (also a
  context manager), ``close()``, ``transaction()`` (re-entrant context manager),
  ``schema_version``, ``path``, ``name``, ``read_only``.
- Campaign: ``init_campaign(name, config, description="")``, ``campaign_info()``.
- Materials: ``add_materials(frame, origin="measured")`` with columns
  ``id, kind, canonical, domain``; ``materials(ids=None)``; ``material_conflicts(frame)``.
- Measurements: ``add_measurements(frame)``, ``measurements(property=None)`` (joined with
  the material), ``measurement_counts()``.
- Ingested files: ``ingested_file(sha256)``, ``record_ingest(...)``.
- Bulk Parquet loads (ingest): ``stage_parquet(path)`` (a relation over a file, read only)
  and ``load_staged_ingest(...)``.
- Models: ``next_model_version()``, ``record_model(...)``, ``model_version(version)``,
  ``latest_model()``, ``models()``.
- Screening: ``start_screen_run(...)``, ``find_screen_run(model_version, library)``,
  ``record_shard(run_id, shard, path, n_rows, n_rejected)``, ``done_shards(run_id)``,
  ``finish_screen_run(run_id, status="done")``, ``register_screen_view(run_id, pattern)``,
  ``screen_runs()``, ``screen_results(run_id)``.
- Proposals: ``add_proposals(frame, *, round, strategy, ...)``, ``proposals(round=None,
  status=None)``, ``set_proposal_status(material_ids, status, round=None)``,
  ``close_proposals(material_ids, status, note=None)``, ``proposed_material_ids(except_status=())``.
- Rounds: ``current_round()``, ``rounds()``, ``mark_step_done(round, step, info=None)``,
  ``is_step_done(round, step)``, ``round_steps(round=None)``.
- Events: ``log_event(kind, payload=None, round=None)``, ``events(limit=None)``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Self

import duckdb
import pandas as pd

from e2t_discovery.domains import NO_DOMAIN
from e2t_discovery.exceptions import StoreBusyError, StoreError

__all__ = [
    "Store",
    "Migration",
    "ModelRecord",
    "ScreenRun",
    "load_migrations",
    "PROPOSAL_STATUSES",
]

#: ``proposed``: pending, awaiting the lab; ``measured``: answered by an ingested result;
#: ``dropped``: a simulation table could not answer it; ``abandoned``: the lab will not
#: measure it (it may be proposed again); ``failed``: the lab tried and could not measure
#: it (never proposed again).
PROPOSAL_STATUSES = ("proposed", "measured", "dropped", "abandoned", "failed")
#: The statuses a pending proposal can be closed with (``e2t proposals abandon|fail``).
CLOSED_STATUSES = ("abandoned", "failed")
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


@dataclass(frozen=True)
class ModelRecord:
    """A stored model version.

    Attributes:
        version: 1, 2, ... in order of creation.
        parent_version: The version this one was derived from (None for a fresh fit).
        kind: ``train`` (fit from scratch), ``condition`` or ``adapt``.
        artifact_path: Folder holding the saved model.
        artifact_sha256: Checksum over the artifact folder's files.
        n_measurements: Number of measurements the model saw.
        max_measurement_id: Highest measurement id it saw (the data snapshot's watermark).
        snapshot: Training data snapshot (ids digest, per-domain counts, ...).
        metrics: Training metrics.
        created_at: When it was recorded.
    """

    version: int
    parent_version: int | None
    kind: str
    artifact_path: Path
    artifact_sha256: str
    n_measurements: int
    max_measurement_id: int | None
    snapshot: dict[str, Any]
    metrics: dict[str, Any]
    created_at: pd.Timestamp


@dataclass(frozen=True)
class ScreenRun:
    """A screening run: one library scored by one model version."""

    id: int
    model_version: int
    library: str
    out_dir: Path
    round: int | None
    params: dict[str, Any]
    status: str
    view_name: str | None


def load_migrations() -> list[Migration]:
    """Return the migrations shipped in ``e2t_discovery/migrations``, in version order.

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


def _dumps(value: Any) -> str:
    """Serialize to JSON, turning paths, numpy scalars and timestamps into plain values."""

    def default(obj: Any) -> Any:
        if hasattr(obj, "item"):
            return obj.item()
        if hasattr(obj, "tolist"):
            return obj.tolist()
        return str(obj)

    return json.dumps(value, default=default, sort_keys=True)


def _loads(text: Any) -> Any:
    """Parse a JSON column value (DuckDB returns JSON as str)."""
    if text is None:
        return None
    return json.loads(text) if isinstance(text, str) else text


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


class Store:
    """A campaign's DuckDB database. Create with :meth:`Store.open`; close when done."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool,
                 name: str) -> None:
        """Wrap an open connection; use :meth:`Store.open` instead of calling this."""
        self._con = con
        self.path = path
        self.read_only = read_only
        self.name = name
        self._tx_depth = 0
        self._temp_counter = 0

    # ------------------------------------------------------------------ open / close
    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False, timeout_s: float = 10.0,
             name: str | None = None) -> Store:
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
        con = cls._connect(path, read_only=read_only, timeout_s=timeout_s, name=name)
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

    @staticmethod
    def _connect(path: Path, *, read_only: bool, timeout_s: float,
                 name: str) -> duckdb.DuckDBPyConnection:
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
                    holder = re.search(r"\(PID (\d+)\)", str(exc))
                    who = f"process {holder.group(1)}" if holder else "another process"
                    mode = "writing" if read_only or Store._writer_holds(path) else "reading"
                    hint = ("retry when it finishes" if mode == "writing" else
                            "read-only commands (status, predict, report, export) can run "
                            "beside it; retry this one when it finishes")
                    raise StoreBusyError(
                        f"campaign {name} is busy: {who} holds {path} for {mode}; "
                        f"{hint} (waited {timeout_s:g} s)"
                    ) from exc
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

    @staticmethod
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

    # ------------------------------------------------------------------ plumbing
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

    def _df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        return self._con.execute(sql, list(params or [])).df()

    def _row(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        # fetchall, not fetchone: DuckDB 2 refuses new work while a result is unfinished.
        rows = self._con.execute(sql, list(params or [])).fetchall()
        return rows[0] if rows else None

    def _scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        row = self._row(sql, params)
        return None if row is None else row[0]

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

    # ------------------------------------------------------------------ campaign
    def init_campaign(self, name: str, config: dict[str, Any], description: str = "") -> None:
        """Record the campaign row (once) and a ``campaign_created`` event.

        Raises:
            StoreError: if the store already holds a campaign.
        """
        with self.transaction():
            existing = self._scalar("SELECT name FROM campaign LIMIT 1")
            if existing is not None:
                raise StoreError(f"campaign store {self.path} already holds campaign "
                                 f"{existing!r}; choose another name or folder")
            self._con.execute(
                "INSERT INTO campaign (name, description, config_json) VALUES (?, ?, ?)",
                [name, description, _dumps(config)],
            )
            self.log_event("campaign_created", {"name": name})

    def campaign_info(self) -> dict[str, Any]:
        """Return ``{"name", "description", "config", "created_at"}`` of the campaign.

        Raises:
            StoreError: if the store holds no campaign yet.
        """
        row = self._row(
            "SELECT name, description, config_json, created_at FROM campaign LIMIT 1"
        )
        if row is None:
            raise StoreError(f"campaign store {self.path} holds no campaign; "
                             f"create it with `e2t init NAME --config FILE`")
        return {"name": row[0], "description": row[1], "config": _loads(row[2]),
                "created_at": row[3]}

    # ------------------------------------------------------------------ materials
    def add_materials(self, frame: pd.DataFrame, origin: str = "measured") -> int:
        """Insert materials that are not stored yet; return how many were new.

        Args:
            frame: Columns ``id`` (str), ``kind``, ``canonical``, ``domain`` (str or None).
            origin: ``measured`` (from lab results) or ``library`` (a proposed candidate).

        Raises:
            StoreError: if an id is already stored with a different canonical form.
        """
        frame = frame[["id", "kind", "canonical", "domain"]]
        with self.transaction(), self._registered(frame) as view:
            clash = self._row(
                f"SELECT f.id, m.canonical, f.canonical FROM {view} f JOIN material m "
                f"ON m.id = CAST(f.id AS VARCHAR) WHERE m.canonical <> f.canonical LIMIT 1"
            )
            if clash is not None:
                raise StoreError(
                    f"material {clash[0]!r} is stored as {clash[1]!r} but given as "
                    f"{clash[2]!r}; use a new id for a different material"
                )
            before = self._scalar("SELECT count(*) FROM material")
            self._con.execute(
                f"INSERT INTO material (id, kind, canonical, domain, origin) "
                f"SELECT DISTINCT ON (CAST(f.id AS VARCHAR)) CAST(f.id AS VARCHAR), f.kind, "
                f"f.canonical, CAST(f.domain AS VARCHAR), ? FROM {view} f "
                f"ANTI JOIN material m ON m.id = CAST(f.id AS VARCHAR)",
                [origin],
            )
            return int(self._scalar("SELECT count(*) FROM material") - before)

    def materials(self, ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Return materials (``id, kind, canonical, domain, origin, created_at``), by id."""
        if ids is None:
            return self._df("SELECT id, kind, canonical, domain, origin, created_at "
                            "FROM material ORDER BY id")
        wanted = pd.DataFrame({"id": [str(i) for i in ids]})
        with self._registered(wanted) as view:
            return self._df(f"SELECT m.id, m.kind, m.canonical, m.domain, m.origin, m.created_at "
                            f"FROM material m SEMI JOIN {view} w ON w.id = m.id ORDER BY m.id")

    def set_material_domains(self, domains: pd.DataFrame) -> None:
        """Update domain labels from a frame with columns ``id, domain``."""
        with self.transaction(), self._registered(domains[["id", "domain"]]) as view:
            self._con.execute(
                f"UPDATE material SET domain = CAST(d.domain AS VARCHAR) FROM {view} d "
                f"WHERE material.id = CAST(d.id AS VARCHAR)"
            )

    # ------------------------------------------------------------------ measurements
    def add_measurements(self, frame: pd.DataFrame) -> int:
        """Insert measurements; return how many.

        Args:
            frame: Columns ``material_id, property, value, unit, raw_value, raw_unit,
                source_file, source_sha256, source_row, round`` and optionally
                ``measured_at``.
        """
        cols = ["material_id", "property", "value", "unit", "raw_value", "raw_unit",
                "source_file", "source_sha256", "source_row", "round"]
        frame = frame.copy()
        if "measured_at" not in frame.columns:
            frame["measured_at"] = pd.NaT
        frame = frame[[*cols, "measured_at"]]
        with self.transaction(), self._registered(frame) as view:
            self._con.execute(
                f"INSERT INTO measurement ({', '.join(cols)}, measured_at) "
                f"SELECT {', '.join(cols)}, CAST(measured_at AS TIMESTAMP) FROM {view}"
            )
        return len(frame)

    def measurements(self, property: str | None = None) -> pd.DataFrame:
        """Return all measurements joined with their material, oldest first.

        Returns:
            Columns ``measurement_id, material_id, kind, canonical, domain, property, value,
            unit, raw_value, raw_unit, round, source_file, source_sha256, source_row,
            measured_at, ingested_at``.
        """
        where, params = ("WHERE x.property = ?", [property]) if property else ("", [])
        return self._df(
            "SELECT x.id AS measurement_id, x.material_id, m.kind, m.canonical, m.domain, "
            "x.property, x.value, x.unit, x.raw_value, x.raw_unit, x.round, x.source_file, "
            "x.source_sha256, x.source_row, x.measured_at, x.ingested_at "
            f"FROM measurement x JOIN material m ON m.id = x.material_id {where} "
            "ORDER BY x.id",
            params,
        )

    def measurement_counts(self) -> dict[str, int]:
        """Return counts: measurements, measured materials, materials, ingested files."""
        row = self._row(
            "SELECT (SELECT count(*) FROM measurement), "
            "(SELECT count(DISTINCT material_id) FROM measurement), "
            "(SELECT count(*) FROM material), (SELECT count(*) FROM ingest_file)"
        )
        assert row is not None
        return {"measurements": int(row[0]), "measured_materials": int(row[1]),
                "materials": int(row[2]), "files": int(row[3])}

    def best_per_domain(self, property: str, *, maximize: bool = True) -> pd.DataFrame:
        """Return the best measured value per domain (``domain, material_id, value, n``).

        Replicates are averaged per material first; ``maximize=False`` takes the lowest.
        """
        order = "DESC" if maximize else "ASC"
        return self._df(
            f"WITH per AS (SELECT x.material_id, coalesce(m.domain, '{NO_DOMAIN}') AS domain, "
            "avg(x.value) AS value FROM measurement x JOIN material m ON m.id = x.material_id "
            "WHERE x.property = ? GROUP BY ALL), "
            f"ranked AS (SELECT *, row_number() OVER (PARTITION BY domain ORDER BY value {order},"
            " material_id) AS r, count(*) OVER (PARTITION BY domain) AS n FROM per) "
            "SELECT domain, material_id, value, n FROM ranked WHERE r = 1 "
            f"ORDER BY value {order}",
            [property],
        )

    # ------------------------------------------------------------------ ingest support
    def ingested_file(self, sha256: str) -> dict[str, Any] | None:
        """Return the ``ingest_file`` row of a file checksum, or None if never ingested."""
        frame = self._df("SELECT sha256, path, n_rows, n_measurements, round, ingested_at "
                         "FROM ingest_file WHERE sha256 = ?", [sha256])
        return None if frame.empty else frame.iloc[0].to_dict()

    def staged_checks(self, staged: str | Path, property: str, *,
                      tolerance: float = 1e-9) -> dict[str, pd.DataFrame]:
        """Check a staged ingest file (Parquet) against itself and the stored data.

        The staged file has columns ``row, id, kind, canonical, domain, value, unit,
        raw_value, raw_unit, measured_at, valid``; rows with ``valid`` false take part in
        the duplicate check only.

        Returns:
            ``duplicates`` (``id, row, first_row``: ids repeated in the file),
            ``identity`` (``id, row, stored, given``: id stored with another canonical form),
            ``conflicts`` (``id, row, stored, given``: material already measured with a
            different value), ``identical`` (``id, row``: same value already stored).
        """
        src = "read_parquet(?)"
        p = [str(staged)]
        dups = self._df(
            f"SELECT id, row, first_row FROM (SELECT id, row, min(row) OVER (PARTITION BY id) "
            f"AS first_row FROM {src} WHERE id <> '') WHERE row <> first_row ORDER BY row", p)
        identity = self._df(
            f"SELECT s.id, s.row, m.canonical AS stored, s.canonical AS given FROM {src} s "
            f"JOIN material m ON m.id = s.id WHERE s.valid AND m.canonical <> s.canonical "
            f"ORDER BY s.row", p)
        measured = (
            f"SELECT s.id, s.row, x.value AS stored, s.value AS given, "
            f"abs(x.value - s.value) <= ? * greatest(1.0, abs(x.value)) AS same "
            f"FROM {src} s JOIN measurement x ON x.material_id = s.id AND x.property = ? "
            f"WHERE s.valid"
        )
        pairs = self._df(measured, [tolerance, *p, property])
        same_ids = set(pairs.loc[pairs["same"].astype(bool), "id"])
        conflicts = pairs[~pairs["same"].astype(bool) & ~pairs["id"].isin(same_ids)]
        conflicts = conflicts.drop_duplicates("id").sort_values("row")
        identical = pairs[pairs["same"].astype(bool)].drop_duplicates("id")[["id", "row"]]
        return {"duplicates": dups, "identity": identity,
                "conflicts": conflicts[["id", "row", "stored", "given"]],
                "identical": identical}

    def load_staged_ingest(self, staged: str | Path, *, property: str, source_file: str,
                           source_sha256: str, round: int, n_rows: int,
                           skip_ids: Sequence[str] = ()) -> dict[str, int]:
        """Load a validated, staged ingest file in one transaction.

        Inserts new materials, one measurement per staged row (except ``skip_ids``), the
        ``ingest_file`` row, marks matching open proposals ``measured`` and logs an event.

        Returns:
            ``{"new_materials", "measurements", "proposals_measured"}``.
        """
        p = [str(staged)]
        skip = pd.DataFrame({"id": [str(s) for s in skip_ids]}, dtype="string")
        with self.transaction(), self._registered(skip) as skip_view:
            before = self._scalar("SELECT count(*) FROM material")
            self._con.execute(
                "INSERT INTO material (id, kind, canonical, domain, origin) "
                "SELECT s.id, s.kind, s.canonical, s.domain, 'measured' FROM read_parquet(?) s "
                "ANTI JOIN material m ON m.id = s.id", p)
            new_materials = int(self._scalar("SELECT count(*) FROM material") - before)
            before = self._scalar("SELECT count(*) FROM measurement")
            self._con.execute(
                "INSERT INTO measurement (material_id, property, value, unit, raw_value, "
                "raw_unit, source_file, source_sha256, source_row, round, measured_at) "
                "SELECT s.id, ?, s.value, s.unit, s.raw_value, s.raw_unit, ?, ?, s.row, ?, "
                f"CAST(s.measured_at AS TIMESTAMP) FROM read_parquet(?) s "
                f"ANTI JOIN {skip_view} k ON k.id = s.id ORDER BY s.row",
                [property, source_file, source_sha256, round, *p])
            added = int(self._scalar("SELECT count(*) FROM measurement") - before)
            measured = self._scalar(
                "SELECT count(*) FROM proposal WHERE status = 'proposed' AND material_id IN "
                "(SELECT id FROM read_parquet(?))", p)
            self._con.execute(
                "UPDATE proposal SET status = 'measured', updated_at = current_localtimestamp() "
                "WHERE status = 'proposed' AND material_id IN (SELECT id FROM read_parquet(?))",
                p)
            self._con.execute(
                "INSERT INTO ingest_file (sha256, path, n_rows, n_measurements, round) "
                "VALUES (?, ?, ?, ?, ?)", [source_sha256, source_file, n_rows, added, round])
            result = {"new_materials": new_materials, "measurements": added,
                      "proposals_measured": int(measured or 0)}
            self.log_event("ingest", {"file": source_file, "sha256": source_sha256, **result},
                           round=round)
        return result

    # ------------------------------------------------------------------ models
    def next_model_version(self) -> int:
        """Return the version number the next recorded model will get."""
        return int(self._scalar("SELECT coalesce(max(version), 0) + 1 FROM model"))

    def record_model(self, *, version: int, parent_version: int | None, kind: str,
                     artifact_path: str | Path, artifact_sha256: str, n_measurements: int,
                     max_measurement_id: int | None, snapshot: dict[str, Any],
                     metrics: dict[str, Any]) -> ModelRecord:
        """Record a saved model version (and a ``model_recorded`` event).

        Raises:
            StoreError: if the version exists or the parent does not.
        """
        with self.transaction():
            if self._scalar("SELECT count(*) FROM model WHERE version = ?", [version]):
                raise StoreError(f"model version {version} already exists in campaign "
                                 f"{self.name}; use next_model_version()")
            if parent_version is not None and not self._scalar(
                    "SELECT count(*) FROM model WHERE version = ?", [parent_version]):
                raise StoreError(f"parent model version {parent_version} does not exist in "
                                 f"campaign {self.name}")
            self._con.execute(
                "INSERT INTO model (version, parent_version, kind, artifact_path, "
                "artifact_sha256, n_measurements, max_measurement_id, snapshot_json, "
                "metrics_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [version, parent_version, kind, str(artifact_path), artifact_sha256,
                 n_measurements, max_measurement_id, _dumps(snapshot), _dumps(metrics)])
            self.log_event("model_recorded", {"version": version, "parent": parent_version,
                                              "kind": kind, "metrics": metrics})
        record = self.model_version(version)
        assert record is not None
        return record

    def model_version(self, version: int) -> ModelRecord | None:
        """Return one model version, or None if it does not exist."""
        row = self._row(
            "SELECT version, parent_version, kind, artifact_path, artifact_sha256, "
            "n_measurements, max_measurement_id, snapshot_json, metrics_json, created_at "
            "FROM model WHERE version = ?", [version])
        if row is None:
            return None
        return ModelRecord(version=int(row[0]),
                           parent_version=None if row[1] is None else int(row[1]),
                           kind=row[2], artifact_path=Path(row[3]), artifact_sha256=row[4],
                           n_measurements=int(row[5]),
                           max_measurement_id=None if row[6] is None else int(row[6]),
                           snapshot=_loads(row[7]), metrics=_loads(row[8]),
                           created_at=pd.Timestamp(row[9]))

    def latest_model(self) -> ModelRecord | None:
        """Return the newest model version, or None if none was trained."""
        version = self._scalar("SELECT max(version) FROM model")
        return None if version is None else self.model_version(int(version))

    def models(self) -> pd.DataFrame:
        """Return all model versions (without the JSON payloads), oldest first."""
        return self._df("SELECT version, parent_version, kind, artifact_path, artifact_sha256, "
                        "n_measurements, max_measurement_id, metrics_json, created_at "
                        "FROM model ORDER BY version")

    # ------------------------------------------------------------------ screening
    def start_screen_run(self, *, model_version: int, library: str, out_dir: str | Path,
                         round: int | None = None,
                         params: dict[str, Any] | None = None) -> ScreenRun:
        """Create a screen run row with status ``running`` and return it."""
        with self.transaction():
            run_id = self._scalar(
                "INSERT INTO screen_run (model_version, library, out_dir, round, params_json) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                [model_version, library, str(out_dir), round, _dumps(params or {})])
            self.log_event("screen_started", {"run_id": run_id, "library": library,
                                              "model_version": model_version}, round=round)
        run = self.screen_run(int(run_id))
        assert run is not None
        return run

    def screen_run(self, run_id: int) -> ScreenRun | None:
        """Return one screen run, or None."""
        row = self._row(
            "SELECT id, model_version, library, out_dir, round, params_json, status, view_name "
            "FROM screen_run WHERE id = ?", [run_id])
        if row is None:
            return None
        return ScreenRun(id=int(row[0]), model_version=int(row[1]), library=row[2],
                         out_dir=Path(row[3]), round=None if row[4] is None else int(row[4]),
                         params=_loads(row[5]), status=row[6], view_name=row[7])

    def find_screen_run(self, model_version: int, library: str) -> ScreenRun | None:
        """Return the newest run of ``library`` with ``model_version`` (to resume it)."""
        run_id = self._scalar("SELECT max(id) FROM screen_run WHERE model_version = ? "
                              "AND library = ?", [model_version, library])
        return None if run_id is None else self.screen_run(int(run_id))

    def record_shard(self, run_id: int, shard: str, path: str | Path, n_rows: int,
                     n_rejected: int) -> None:
        """Mark one shard of a screen run done (idempotent for the same shard)."""
        with self.transaction():
            self._con.execute(
                "INSERT OR REPLACE INTO screen_shard (run_id, shard, path, n_rows, n_rejected) "
                "VALUES (?, ?, ?, ?, ?)", [run_id, shard, str(path), n_rows, n_rejected])

    def done_shards(self, run_id: int) -> set[str]:
        """Return the names of the shards of a run already done."""
        rows = self._con.execute("SELECT shard FROM screen_shard WHERE run_id = ?",
                                 [run_id]).fetchall()
        return {r[0] for r in rows}

    def shards(self, run_id: int) -> pd.DataFrame:
        """Return the done shards of a run (``shard, path, n_rows, n_rejected, done_at``)."""
        return self._df("SELECT shard, path, n_rows, n_rejected, done_at FROM screen_shard "
                        "WHERE run_id = ? ORDER BY shard", [run_id])

    def finish_screen_run(self, run_id: int, status: str = "done") -> None:
        """Set a run's final status (``done`` or ``failed``)."""
        with self.transaction():
            self._con.execute("UPDATE screen_run SET status = ?, "
                              "finished_at = current_localtimestamp() WHERE id = ?",
                              [status, run_id])
            self.log_event("screen_finished", {"run_id": run_id, "status": status})

    def register_screen_view(self, run_id: int, pattern: str | Path) -> str:
        """Create (or replace) the view ``screen_<run_id>`` over Parquet shard files.

        Args:
            run_id: The screen run.
            pattern: A Parquet file, or a glob such as ``<out_dir>/*.parquet``.

        Returns:
            The view name; query it with :meth:`screen_results`.
        """
        view = f"screen_{int(run_id)}"
        literal = str(pattern).replace("'", "''")
        with self.transaction():
            # DDL cannot take bound parameters: the name is an int, the path is escaped.
            self._con.execute(f"CREATE OR REPLACE VIEW {view} AS "
                              f"SELECT * FROM read_parquet('{literal}', union_by_name = true)")
            self._con.execute("UPDATE screen_run SET view_name = ? WHERE id = ?", [view, run_id])
        return view

    def screen_results(self, run_id: int, *, order_by: str | None = None,
                       limit: int | None = None) -> pd.DataFrame:
        """Return rows of a run's registered view, optionally top ``limit`` by a column.

        Raises:
            StoreError: if the run has no view or ``order_by`` is not one of its columns.
        """
        run = self.screen_run(run_id)
        if run is None or run.view_name is None:
            raise StoreError(f"screen run {run_id} has no registered results; "
                             f"run `e2t screen` to completion first")
        sql = f"SELECT * FROM {run.view_name}"
        if order_by is not None:
            columns = set(self._df(f"SELECT * FROM {run.view_name} LIMIT 0").columns)
            if order_by not in columns:
                raise StoreError(f"screen run {run_id} has no column {order_by!r}; "
                                 f"columns: {', '.join(sorted(columns))}")
            sql += f' ORDER BY "{order_by}" DESC'
        params: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return self._df(sql, params)

    def screen_runs(self) -> pd.DataFrame:
        """Return all screen runs with their shard counts."""
        return self._df(
            "SELECT r.id, r.model_version, r.library, r.out_dir, r.round, r.status, r.view_name,"
            " count(s.shard) AS n_shards, coalesce(sum(s.n_rows), 0) AS n_rows, "
            "coalesce(sum(s.n_rejected), 0) AS n_rejected, r.started_at, r.finished_at "
            "FROM screen_run r LEFT JOIN screen_shard s ON s.run_id = r.id "
            "GROUP BY ALL ORDER BY r.id")

    # ------------------------------------------------------------------ proposals
    def add_proposals(self, frame: pd.DataFrame, *, round: int, strategy: str,
                      model_version: int | None = None,
                      screen_run_id: int | None = None) -> int:
        """Record a batch of proposals for a round; return how many.

        Args:
            frame: Columns ``material_id`` and optionally ``acquisition, mean, std, domain,
                domain_distance, reason, acquisition_name, acquisition_value`` (the
                acquisition as the proposal file states it), ``out_of_domain``. Unknown
                materials must have been added with :meth:`add_materials` (origin
                ``library``) first.
            round: The round the batch belongs to.
            strategy: Name of the strategy that chose it.

        Raises:
            StoreError: if a material is unknown, already proposed in this round, or listed
                twice.
        """
        frame = frame.copy()
        for col in ("acquisition", "mean", "std", "domain_distance", "acquisition_value"):
            if col not in frame.columns:
                frame[col] = float("nan")
        for col in ("domain", "reason", "acquisition_name", "out_of_domain"):
            if col not in frame.columns:
                frame[col] = None
        frame["material_id"] = frame["material_id"].astype(str)
        if frame["material_id"].duplicated().any():
            dup = frame.loc[frame["material_id"].duplicated(), "material_id"].iloc[0]
            raise StoreError(f"material {dup!r} appears twice in one proposal batch")
        cols = ["material_id", "acquisition", "mean", "std", "domain", "domain_distance",
                "reason", "acquisition_name", "acquisition_value", "out_of_domain"]
        with self.transaction(), self._registered(frame[cols]) as view:
            unknown = self._scalar(f"SELECT f.material_id FROM {view} f ANTI JOIN material m "
                                   f"ON m.id = f.material_id LIMIT 1")
            if unknown is not None:
                raise StoreError(f"proposed material {unknown!r} is not in the store; add it "
                                 f"with add_materials(..., origin='library') first")
            again = self._scalar(f"SELECT f.material_id FROM {view} f JOIN proposal p ON "
                                 f"p.material_id = f.material_id AND p.round = ? LIMIT 1",
                                 [round])
            if again is not None:
                raise StoreError(f"material {again!r} is already proposed in round {round}")
            self._con.execute(
                "INSERT INTO proposal (round, material_id, strategy, acquisition, mean, std, "
                "domain, domain_distance, reason, model_version, screen_run_id, "
                "acquisition_name, acquisition_value, out_of_domain) "
                "SELECT ?, material_id, ?, CAST(acquisition AS DOUBLE), CAST(mean AS DOUBLE), "
                "CAST(std AS DOUBLE), CAST(domain AS VARCHAR), "
                "CAST(domain_distance AS DOUBLE), CAST(reason AS VARCHAR), ?, ?, "
                "CAST(acquisition_name AS VARCHAR), CAST(acquisition_value AS DOUBLE), "
                "CAST(out_of_domain AS BOOLEAN) "
                f"FROM {view}", [round, strategy, model_version, screen_run_id])
            self.log_event("proposed", {"n": len(frame), "strategy": strategy,
                                        "model_version": model_version}, round=round)
        return len(frame)

    def proposals(self, round: int | None = None, status: str | None = None) -> pd.DataFrame:
        """Return proposals (with the material's canonical form), filtered by round/status."""
        clauses: list[str] = []
        params: list[Any] = []
        if round is not None:
            clauses.append("p.round = ?")
            params.append(round)
        if status is not None:
            clauses.append("p.status = ?")
            params.append(status)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._df(
            "SELECT p.id, p.round, p.material_id, m.canonical, p.strategy, p.acquisition, "
            "p.mean, p.std, p.domain, p.domain_distance, p.reason, p.model_version, "
            "p.screen_run_id, p.status, p.status_note, p.acquisition_name, "
            "p.acquisition_value, p.out_of_domain, p.created_at, p.updated_at FROM proposal p "
            f"JOIN material m ON m.id = p.material_id {where} ORDER BY p.round, p.id", params)

    def set_proposal_status(self, material_ids: Iterable[str], status: str,
                            round: int | None = None) -> int:
        """Set the status of proposals of these materials (in one round, or all); return count.

        Raises:
            StoreError: if ``status`` is not one of :data:`PROPOSAL_STATUSES`.
        """
        if status not in PROPOSAL_STATUSES:
            raise StoreError(f"proposal status {status!r} is not one of "
                             f"{', '.join(PROPOSAL_STATUSES)}")
        ids = pd.DataFrame({"id": [str(i) for i in material_ids]}, dtype="string")
        extra, params = ("AND round = ?", [round]) if round is not None else ("", [])
        with self.transaction(), self._registered(ids) as view:
            n = self._scalar(f"SELECT count(*) FROM proposal WHERE material_id IN "
                             f"(SELECT id FROM {view}) {extra}", params)
            self._con.execute(
                f"UPDATE proposal SET status = ?, updated_at = current_localtimestamp() "
                f"WHERE material_id IN (SELECT id FROM {view}) {extra}", [status, *params])
        return int(n or 0)

    def close_proposals(self, material_ids: Iterable[str], status: str, *,
                        note: str | None = None) -> int:
        """Mark the pending proposals of these materials ``abandoned`` or ``failed``.

        Only proposals with status ``proposed`` change; the note says why. One event
        (kind = ``status``) records the ids, the note and the rounds, in the same
        transaction. Returns how many proposals changed.

        Raises:
            StoreError: if ``status`` is not ``abandoned`` or ``failed``.
        """
        if status not in CLOSED_STATUSES:
            raise StoreError(f"proposals can be closed as 'abandoned' or 'failed', "
                             f"not {status!r}")
        ids = pd.DataFrame({"id": sorted({str(i) for i in material_ids})}, dtype="string")
        with self.transaction(), self._registered(ids) as view:
            rows = self._con.execute(
                f"SELECT round, material_id FROM proposal WHERE status = 'proposed' AND "
                f"material_id IN (SELECT id FROM {view}) ORDER BY round, id").fetchall()
            self._con.execute(
                f"UPDATE proposal SET status = ?, status_note = ?, "
                f"updated_at = current_localtimestamp() WHERE status = 'proposed' AND "
                f"material_id IN (SELECT id FROM {view})", [status, note])
            if rows:
                self.log_event(status, {"material_ids": [r[1] for r in rows], "n": len(rows),
                                        "rounds": sorted({int(r[0]) for r in rows}),
                                        "note": note})
        return len(rows)

    def proposed_material_ids(self, except_status: Iterable[str] = ()) -> set[str]:
        """Return ids of every material ever proposed (any status but ``except_status``)."""
        skip = [str(s) for s in except_status]
        where = f"WHERE status NOT IN ({', '.join('?' for _ in skip)})" if skip else ""
        return {r[0] for r in self._con.execute(
            f"SELECT DISTINCT material_id FROM proposal {where}", skip).fetchall()}

    # ------------------------------------------------------------------ rounds
    def current_round(self) -> int:
        """Return the highest round seen in proposals, round steps or measurements (0 if none)."""
        return int(self._scalar(
            "SELECT greatest(coalesce((SELECT max(round) FROM proposal), 0), "
            "coalesce((SELECT max(round) FROM round_step), 0), "
            "coalesce((SELECT max(round) FROM measurement), 0))"))

    def rounds(self) -> pd.DataFrame:
        """Return one row per round: ``round, measurements, proposals, answered, steps``.

        ``answered`` counts proposals of the round with status ``measured``; ``steps`` lists
        the done steps in the order they were done.
        """
        return self._df(
            "WITH r AS (SELECT round FROM measurement UNION SELECT round FROM proposal "
            "UNION SELECT round FROM round_step) "
            "SELECT r.round, "
            "(SELECT count(*) FROM measurement m WHERE m.round = r.round) AS measurements, "
            "(SELECT count(*) FROM proposal p WHERE p.round = r.round) AS proposals, "
            "(SELECT count(*) FROM proposal p WHERE p.round = r.round "
            "AND p.status = 'measured') AS answered, "
            "coalesce((SELECT string_agg(step, ',' ORDER BY done_at) FROM round_step s "
            "WHERE s.round = r.round), '') AS steps "
            "FROM r ORDER BY r.round")

    def mark_step_done(self, round: int, step: str, info: dict[str, Any] | None = None) -> None:
        """Record that ``step`` of ``round`` is done (idempotent; the info is replaced)."""
        with self.transaction():
            self._con.execute("INSERT OR REPLACE INTO round_step (round, step, info_json) "
                              "VALUES (?, ?, ?)", [round, step, _dumps(info or {})])
            self.log_event("step_done", {"step": step, **(info or {})}, round=round)

    def is_step_done(self, round: int, step: str) -> bool:
        """Return whether ``step`` of ``round`` was recorded done."""
        return bool(self._scalar("SELECT count(*) FROM round_step WHERE round = ? AND step = ?",
                                 [round, step]))

    def step_info(self, round: int, step: str) -> dict[str, Any] | None:
        """Return the info recorded with a done step, or None if it is not done."""
        return _loads(self._scalar("SELECT info_json FROM round_step WHERE round = ? AND "
                                   "step = ?", [round, step]))

    def round_steps(self, round: int | None = None) -> pd.DataFrame:
        """Return done steps (``round, step, info_json, done_at``), in order."""
        if round is None:
            return self._df("SELECT round, step, info_json, done_at FROM round_step "
                            "ORDER BY round, done_at")
        return self._df("SELECT round, step, info_json, done_at FROM round_step WHERE round = ? "
                        "ORDER BY done_at", [round])

    # ------------------------------------------------------------------ events
    def log_event(self, kind: str, payload: dict[str, Any] | None = None,
                  round: int | None = None) -> None:
        """Append an event to the campaign's log."""
        with self.transaction():
            self._con.execute("INSERT INTO event (kind, round, payload_json) VALUES (?, ?, ?)",
                              [kind, round, _dumps(payload or {})])

    def events(self, limit: int | None = None) -> pd.DataFrame:
        """Return events newest first (``id, happened_at, kind, round, payload_json``)."""
        sql = "SELECT id, happened_at, kind, round, payload_json FROM event ORDER BY id DESC"
        if limit is None:
            return self._df(sql)
        return self._df(sql + " LIMIT ?", [int(limit)])

    # ------------------------------------------------------------------ export
    def export_table(self, table: str, out_path: str | Path) -> int:
        """Write ``measurements`` or ``proposals`` (as returned above) to Parquet or CSV.

        The format follows the suffix (``.parquet`` or ``.csv``). Returns the row count.

        Raises:
            StoreError: for another table name or suffix.
        """
        frames: dict[str, Callable[[], pd.DataFrame]] = {
            "measurements": self.measurements, "proposals": self.proposals,
            "materials": self.materials, "models": self.models, "events": self.events}
        if table not in frames:
            raise StoreError(f"cannot export {table!r}; choose one of {', '.join(frames)}")
        out_path = Path(out_path)
        frame = frames[table]()
        if out_path.suffix == ".parquet":
            frame.to_parquet(out_path, index=False)
        elif out_path.suffix == ".csv":
            frame.to_csv(out_path, index=False)
        else:
            raise StoreError(f"export file {out_path} must end in .parquet or .csv")
        return len(frame)

    # ------------------------------------------------------------------ screening shortlist
    # (added by the screening area, engineer E: the shortlist a strategy works on)
    def screen_top(self, run_id: int, *, k: int, per_domain: int = 0,
                   column: str = "acquisition") -> pd.DataFrame:
        """Return the top ``k`` rows of a run's view by ``column``, plus the top
        ``per_domain`` rows of every domain (so rare domains reach the strategies).

        Raises:
            StoreError: if the run has no view or lacks ``column``.
        """
        run = self.screen_run(run_id)
        if run is None or run.view_name is None:
            raise StoreError(f"screen run {run_id} has no registered results; "
                             f"run `e2t screen` to completion first")
        columns = set(self._df(f"SELECT * FROM {run.view_name} LIMIT 0").columns)
        if column not in columns or "domain" not in columns:
            raise StoreError(f"screen run {run_id} lacks column {column!r} or 'domain'; "
                             f"re-run `e2t screen`")
        return self._df(
            f'WITH ranked AS (SELECT *, row_number() OVER (ORDER BY "{column}" DESC, id) AS r_all,'
            f' row_number() OVER (PARTITION BY domain ORDER BY "{column}" DESC, id) AS r_dom'
            f" FROM {run.view_name}) SELECT * EXCLUDE (r_all, r_dom) FROM ranked "
            f'WHERE r_all <= ? OR r_dom <= ? ORDER BY "{column}" DESC, id',
            [int(k), int(per_domain)])
