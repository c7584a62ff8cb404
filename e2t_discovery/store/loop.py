"""The loop's records: the campaign row, model versions, proposals, rounds, events, export."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from e2t_discovery.exceptions import StoreError
from e2t_discovery.store.db import StoreBase, from_json, id_frame, int_or_none, to_json

__all__ = ["CLOSED_STATUSES", "PROPOSAL_STATUSES", "LoopRecords", "ModelRecord"]

#: ``proposed``: pending, awaiting the lab; ``measured``: answered by an ingested result;
#: ``dropped``: a simulation table could not answer it; ``abandoned``: the lab will not
#: measure it (it may be proposed again); ``failed``: the lab tried and could not measure
#: it (never proposed again).
PROPOSAL_STATUSES = ("proposed", "measured", "dropped", "abandoned", "failed")
#: The statuses a pending proposal can be closed with (``e2t proposals abandon|fail``).
CLOSED_STATUSES = ("abandoned", "failed")

#: Optional proposal columns and the value a batch without them gets.
_NAN_IF_ABSENT = ("acquisition", "mean", "std", "domain_distance", "acquisition_value")
_NONE_IF_ABSENT = ("domain", "reason", "acquisition_name", "out_of_domain")


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


class _Exportable(Protocol):
    """The tables :meth:`LoopRecords.export_table` writes (the composed ``Store`` has them)."""

    def measurements(self, property: str | None = None) -> pd.DataFrame: ...
    def proposals(self, round: int | None = None, status: str | None = None) -> pd.DataFrame: ...
    def materials(self, ids: Iterable[str] | None = None) -> pd.DataFrame: ...
    def models(self) -> pd.DataFrame: ...
    def events(self, limit: int | None = None) -> pd.DataFrame: ...


class LoopRecords(StoreBase):
    """The ``campaign``, ``model``, ``proposal``, ``round_step`` and ``event`` tables."""

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
                [name, description, to_json(config)],
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
        return {"name": row[0], "description": row[1], "config": from_json(row[2]),
                "created_at": row[3]}

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
            if self._has_model(version):
                raise StoreError(f"model version {version} already exists in campaign "
                                 f"{self.name}; use next_model_version()")
            if parent_version is not None and not self._has_model(parent_version):
                raise StoreError(f"parent model version {parent_version} does not exist in "
                                 f"campaign {self.name}")
            self._con.execute(
                "INSERT INTO model (version, parent_version, kind, artifact_path, "
                "artifact_sha256, n_measurements, max_measurement_id, snapshot_json, "
                "metrics_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [version, parent_version, kind, str(artifact_path), artifact_sha256,
                 n_measurements, max_measurement_id, to_json(snapshot), to_json(metrics)])
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
        return ModelRecord(version=int(row[0]), parent_version=int_or_none(row[1]),
                           kind=row[2], artifact_path=Path(row[3]), artifact_sha256=row[4],
                           n_measurements=int(row[5]), max_measurement_id=int_or_none(row[6]),
                           snapshot=from_json(row[7]), metrics=from_json(row[8]),
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

    def _has_model(self, version: int) -> bool:
        return bool(self._scalar("SELECT count(*) FROM model WHERE version = ?", [version]))

    # ------------------------------------------------------------------ proposals
    def add_proposals(self, frame: pd.DataFrame, *, round: int, strategy: str,
                      model_version: int | None = None,
                      screen_run_id: int | None = None) -> int:
        """Record a batch of proposals for a round; return how many.

        Args:
            frame: Columns ``material_id`` and optionally ``acquisition, mean, std, domain,
                domain_distance, reason, acquisition_name, acquisition_value`` (the
                acquisition as the proposal file states it), ``out_of_domain``. Unknown
                materials must have been added with ``add_materials`` (origin
                ``library``) first.
            round: The round the batch belongs to.
            strategy: Name of the strategy that chose it.

        Raises:
            StoreError: if a material is unknown, already proposed in this round, or listed
                twice.
        """
        frame = frame.copy()
        for col in _NAN_IF_ABSENT:
            if col not in frame.columns:
                frame[col] = float("nan")
        for col in _NONE_IF_ABSENT:
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
        extra, params = ("AND round = ?", [round]) if round is not None else ("", [])
        with self.transaction(), self._registered(id_frame(material_ids)) as view:
            return self._changed(
                f"UPDATE proposal SET status = ?, updated_at = current_localtimestamp() "
                f"WHERE material_id IN (SELECT id FROM {view}) {extra}", [status, *params])

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
        ids = id_frame(sorted({str(i) for i in material_ids}))
        with self.transaction(), self._registered(ids) as view:
            where = f"status = 'proposed' AND material_id IN (SELECT id FROM {view})"
            rows = self._con.execute(f"SELECT round, material_id FROM proposal WHERE {where} "
                                     f"ORDER BY round, id").fetchall()
            self._con.execute(f"UPDATE proposal SET status = ?, status_note = ?, "
                              f"updated_at = current_localtimestamp() WHERE {where}",
                              [status, note])
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
                              "VALUES (?, ?, ?)", [round, step, to_json(info or {})])
            self.log_event("step_done", {"step": step, **(info or {})}, round=round)

    def is_step_done(self, round: int, step: str) -> bool:
        """Return whether ``step`` of ``round`` was recorded done."""
        return bool(self._scalar("SELECT count(*) FROM round_step WHERE round = ? AND step = ?",
                                 [round, step]))

    def step_info(self, round: int, step: str) -> dict[str, Any] | None:
        """Return the info recorded with a done step, or None if it is not done."""
        return from_json(self._scalar("SELECT info_json FROM round_step WHERE round = ? AND "
                                      "step = ?", [round, step]))

    def round_steps(self, round: int | None = None) -> pd.DataFrame:
        """Return done steps (``round, step, info_json, done_at``), in order."""
        if round is None:
            return self._df("SELECT round, step, info_json, done_at FROM round_step "
                            "ORDER BY round, done_at")
        return self._df("SELECT round, step, info_json, done_at FROM round_step WHERE round = ? "
                        "ORDER BY done_at", [round])

    # ------------------------------------------------------------------ events, export
    def events(self, limit: int | None = None) -> pd.DataFrame:
        """Return events newest first (``id, happened_at, kind, round, payload_json``)."""
        sql = "SELECT id, happened_at, kind, round, payload_json FROM event ORDER BY id DESC"
        if limit is None:
            return self._df(sql)
        return self._df(sql + " LIMIT ?", [int(limit)])

    def export_table(self: _Exportable, table: str, out_path: str | Path) -> int:
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
