"""Materials, measurements, domains, ingest staging checks and the best value per domain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from e2t_discovery.exceptions import StoreError
from e2t_discovery.store.db import StoreBase, id_frame

__all__ = ["MeasurementRecords"]

_MEASUREMENT_COLUMNS = ["material_id", "property", "value", "unit", "raw_value", "raw_unit",
                        "source_file", "source_sha256", "source_row", "round"]


class MeasurementRecords(StoreBase):
    """The ``material``, ``measurement`` and ``ingest_file`` tables."""

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
            return self._changed(
                f"INSERT INTO material (id, kind, canonical, domain, origin) "
                f"SELECT DISTINCT ON (CAST(f.id AS VARCHAR)) CAST(f.id AS VARCHAR), f.kind, "
                f"f.canonical, CAST(f.domain AS VARCHAR), ? FROM {view} f "
                f"ANTI JOIN material m ON m.id = CAST(f.id AS VARCHAR)",
                [origin],
            )

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
        cols = _MEASUREMENT_COLUMNS
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
        with self.transaction(), self._registered(id_frame(skip_ids)) as skip_view:
            new_materials = self._changed(
                "INSERT INTO material (id, kind, canonical, domain, origin) "
                "SELECT s.id, s.kind, s.canonical, s.domain, 'measured' FROM read_parquet(?) s "
                "ANTI JOIN material m ON m.id = s.id", p)
            added = self._changed(
                f"INSERT INTO measurement ({', '.join(_MEASUREMENT_COLUMNS)}, measured_at) "
                "SELECT s.id, ?, s.value, s.unit, s.raw_value, s.raw_unit, ?, ?, s.row, ?, "
                f"CAST(s.measured_at AS TIMESTAMP) FROM read_parquet(?) s "
                f"ANTI JOIN {skip_view} k ON k.id = s.id ORDER BY s.row",
                [property, source_file, source_sha256, round, *p])
            measured = self._changed(
                "UPDATE proposal SET status = 'measured', updated_at = current_localtimestamp() "
                "WHERE status = 'proposed' AND material_id IN (SELECT id FROM read_parquet(?))",
                p)
            self._con.execute(
                "INSERT INTO ingest_file (sha256, path, n_rows, n_measurements, round) "
                "VALUES (?, ?, ?, ?, ?)", [source_sha256, source_file, n_rows, added, round])
            result = {"new_materials": new_materials, "measurements": added,
                      "proposals_measured": measured}
            self.log_event("ingest", {"file": source_file, "sha256": source_sha256, **result},
                           round=round)
        return result
