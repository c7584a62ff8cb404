"""The campaign's transfer source: what it is, its checksum and rows, its fitted model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from e2t_discovery.exceptions import StoreError
from e2t_discovery.store.db import StoreBase

__all__ = ["TransferRecords", "TransferSourceRecord", "auto_choice"]


def auto_choice(models: pd.DataFrame) -> dict[str, Any] | None:
    """What ``method = "auto"`` chose at the newest training, from the model versions
    (``kind``, ``metrics_json``; oldest first): the ``transfer.selection`` of the newest
    ``train`` version's metrics, or None (another method, or no model yet)."""
    trained = models[models["kind"] == "train"] if len(models) else models
    if not len(trained) or not trained["metrics_json"].iloc[-1]:
        return None
    selection = json.loads(trained["metrics_json"].iloc[-1]).get("transfer", {}).get("selection")
    return selection if isinstance(selection, dict) else None


@dataclass(frozen=True)
class TransferSourceRecord:
    """A campaign's recorded ``[transfer]`` source.

    Attributes:
        kind: ``table``, ``campaign`` or ``model``.
        location: The table's path, the campaign's name or the model folder's path.
        property: The source property (its value column or the campaign's target).
        unit: The source's unit (``none``: another scale), or None for a model.
        factor: Factor applied to the stored values (to the campaign unit), or None.
        method: The transfer method.
        sha256: SHA-256 of what was read (the table file, the rows, the model folder).
        n_rows: Source rows kept.
        n_dropped: Source rows dropped (failed featurization, missing value).
        model_path: Folder of the fitted source model (relative to the campaign), or None.
        model_sha256: Its checksum, or None.
        recorded_at: When the source was read.
    """

    kind: str
    location: str
    property: str | None
    unit: str | None
    factor: float | None
    method: str
    sha256: str
    n_rows: int
    n_dropped: int
    model_path: str | None
    model_sha256: str | None
    recorded_at: pd.Timestamp

    def describe(self, choice: dict[str, Any] | None = None) -> str:
        """One line: kind, location, property, unit, method, checksum prefix, rows.

        ``choice``: what method ``auto`` chose (``TransferRecords.transfer_choice``).
        """
        what = f"{self.kind} {self.location}"
        if self.property:
            what += f", property {self.property}"
        if self.unit is not None:
            what += f" [{self.unit}" + ("" if self.factor in (None, 1.0)
                                        else f", x{self.factor:g}") + "]"
        fitted = "source model fitted" if self.model_sha256 else "source model not fitted yet"
        method = self.method
        if choice:
            scores = ", ".join(f"{m} {v:.4g}" for m, v in choice.get("cv_rmse", {}).items())
            method += f" (chose {choice['chosen']}" + (f"; cv RMSE {scores}" if scores else "") \
                + ")"
        return (f"{what}, method {method}, sha256 {self.sha256[:12]}, "
                f"{self.n_rows} rows ({self.n_dropped} dropped), {fitted}")


_SOURCE_COLUMNS = ("kind, location, property, unit, factor, method, sha256, n_rows, "
                   "n_dropped, model_path, model_sha256, recorded_at")



class TransferRecords(StoreBase):
    """The ``transfer_source`` table (migration 0004)."""

    def record_transfer_source(self, *, kind: str, location: str, property: str | None,
                               unit: str | None, factor: float | None, method: str,
                               sha256: str, n_dropped: int, rows: pd.DataFrame) -> None:
        """Record the campaign's transfer source and its rows (once).

        Args:
            kind, location, property, unit, factor, method, sha256, n_dropped: As
                :class:`TransferSourceRecord`.
            rows: ``canonical, domain, value`` of every kept source row.

        Raises:
            StoreError: if a source was recorded already.
        """
        frame = pd.DataFrame({
            "row_index": range(len(rows)),
            "canonical": rows["canonical"].astype(str).to_numpy(),
            "domain": rows["domain"].astype(object).where(rows["domain"].notna(), None),
            "value": rows["value"].astype(float).to_numpy()})
        with self.transaction():
            if self._scalar("SELECT count(*) FROM transfer_source"):
                raise StoreError(f"campaign {self.name} already records a transfer source")
            self._con.execute(
                "INSERT INTO transfer_source (id, kind, location, property, unit, factor, "
                "method, sha256, n_rows, n_dropped) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [kind, location, property, unit, factor, method, sha256, len(frame),
                 n_dropped])
            with self._registered(frame) as view:
                self._con.execute(f"INSERT INTO transfer_source_row SELECT row_index, "
                                  f"canonical, domain, value FROM {view}")
            self.log_event("transfer_source_recorded", {
                "kind": kind, "location": location, "sha256": sha256, "n_rows": len(frame),
                "n_dropped": n_dropped})

    def transfer_source(self) -> TransferSourceRecord | None:
        """Return the recorded transfer source, or None (a campaign without one)."""
        row = self._row(f"SELECT {_SOURCE_COLUMNS} FROM transfer_source WHERE id = 1")
        if row is None:
            return None
        return TransferSourceRecord(
            kind=row[0], location=row[1], property=row[2], unit=row[3],
            factor=None if row[4] is None else float(row[4]), method=row[5], sha256=row[6],
            n_rows=int(row[7]), n_dropped=int(row[8]), model_path=row[9],
            model_sha256=row[10], recorded_at=pd.Timestamp(row[11]))

    def transfer_choice(self) -> dict[str, Any] | None:
        """What transfer method ``auto`` chose at the newest training: the ``selection`` in
        that model version's metrics (chosen method, cross-validation RMSE per candidate),
        or None (another method, or no model yet)."""
        return auto_choice(self._df("SELECT kind, metrics_json FROM model WHERE kind = 'train' "
                                    "ORDER BY version DESC LIMIT 1"))

    def transfer_source_rows(self) -> pd.DataFrame:
        """Return the source rows ``canonical, domain, value`` in the order they were read."""
        return self._df("SELECT canonical, domain, value FROM transfer_source_row "
                        "ORDER BY row_index")

    def record_source_model(self, path: str | Path, sha256: str) -> None:
        """Record the folder and checksum of the fitted source model.

        Raises:
            StoreError: if the campaign has no transfer source.
        """
        with self.transaction():
            if not self._scalar("SELECT count(*) FROM transfer_source"):
                raise StoreError(f"campaign {self.name} has no transfer source")
            self._con.execute("UPDATE transfer_source SET model_path = ?, model_sha256 = ? "
                              "WHERE id = 1", [str(path), sha256])
            self.log_event("source_model_recorded", {"path": str(path), "sha256": sha256})
