"""Screen runs, their shards, the Parquet view over a run's results, and its shortlist."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from e2t_discovery.exceptions import StoreError
from e2t_discovery.store.db import StoreBase, from_json, int_or_none, to_json

__all__ = ["ScreenRecords", "ScreenRun"]


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


class ScreenRecords(StoreBase):
    """The ``screen_run`` and ``screen_shard`` tables and the ``screen_<id>`` views."""

    # ------------------------------------------------------------------ runs
    def start_screen_run(self, *, model_version: int, library: str, out_dir: str | Path,
                         round: int | None = None,
                         params: dict[str, Any] | None = None) -> ScreenRun:
        """Create a screen run row with status ``running`` and return it."""
        with self.transaction():
            run_id = self._scalar(
                "INSERT INTO screen_run (model_version, library, out_dir, round, params_json) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                [model_version, library, str(out_dir), round, to_json(params or {})])
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
                         out_dir=Path(row[3]), round=int_or_none(row[4]),
                         params=from_json(row[5]), status=row[6], view_name=row[7])

    def find_screen_run(self, model_version: int, library: str) -> ScreenRun | None:
        """Return the newest run of ``library`` with ``model_version`` (to resume it)."""
        run_id = self._scalar("SELECT max(id) FROM screen_run WHERE model_version = ? "
                              "AND library = ?", [model_version, library])
        return None if run_id is None else self.screen_run(int(run_id))

    def finish_screen_run(self, run_id: int, status: str = "done") -> None:
        """Set a run's final status (``done`` or ``failed``)."""
        with self.transaction():
            self._con.execute("UPDATE screen_run SET status = ?, "
                              "finished_at = current_localtimestamp() WHERE id = ?",
                              [status, run_id])
            self.log_event("screen_finished", {"run_id": run_id, "status": status})

    def screen_runs(self) -> pd.DataFrame:
        """Return all screen runs with their shard counts."""
        return self._df(
            "SELECT r.id, r.model_version, r.library, r.out_dir, r.round, r.status, r.view_name,"
            " count(s.shard) AS n_shards, coalesce(sum(s.n_rows), 0) AS n_rows, "
            "coalesce(sum(s.n_rejected), 0) AS n_rejected, r.started_at, r.finished_at "
            "FROM screen_run r LEFT JOIN screen_shard s ON s.run_id = r.id "
            "GROUP BY ALL ORDER BY r.id")

    # ------------------------------------------------------------------ shards
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

    # ------------------------------------------------------------------ results
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
        view = self._screen_view(run_id)
        sql = f"SELECT * FROM {view}"
        if order_by is not None:
            columns = self._view_columns(view)
            if order_by not in columns:
                raise StoreError(f"screen run {run_id} has no column {order_by!r}; "
                                 f"columns: {', '.join(sorted(columns))}")
            sql += f' ORDER BY "{order_by}" DESC'
        params: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return self._df(sql, params)

    def screen_top(self, run_id: int, *, k: int, per_domain: int = 0,
                   column: str = "acquisition", uncertain: int = 0) -> pd.DataFrame:
        """Return the top ``k`` rows of a run's view by ``column``, plus the top
        ``per_domain`` rows of every domain (so rare domains reach the strategies) and the
        ``uncertain`` rows with the largest ``std`` (for exploring strategies).

        Raises:
            StoreError: if the run has no view or lacks ``column``.
        """
        view = self._screen_view(run_id)
        columns = self._view_columns(view)
        if column not in columns or "domain" not in columns or "std" not in columns:
            raise StoreError(f"screen run {run_id} lacks column {column!r}, 'domain' or "
                             f"'std'; re-run `e2t screen`")
        return self._df(
            f'WITH ranked AS (SELECT *, row_number() OVER (ORDER BY "{column}" DESC, id) AS r_all,'
            f' row_number() OVER (PARTITION BY domain ORDER BY "{column}" DESC, id) AS r_dom,'
            f" row_number() OVER (ORDER BY std DESC, id) AS r_std"
            f" FROM {view}) SELECT * EXCLUDE (r_all, r_dom, r_std) FROM ranked "
            f'WHERE r_all <= ? OR r_dom <= ? OR r_std <= ? ORDER BY "{column}" DESC, id',
            [int(k), int(per_domain), int(uncertain)])

    def _screen_view(self, run_id: int) -> str:
        """Return the name of a run's registered view.

        Raises:
            StoreError: if the run does not exist or has no view yet.
        """
        run = self.screen_run(run_id)
        if run is None or run.view_name is None:
            raise StoreError(f"screen run {run_id} has no registered results; "
                             f"run `e2t screen` to completion first")
        return run.view_name

    def _view_columns(self, view: str) -> set[str]:
        return set(self._df(f"SELECT * FROM {view} LIMIT 0").columns)
