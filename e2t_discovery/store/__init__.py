"""The campaign store: one DuckDB file per campaign, and every SQL statement of the package.

The store knows nothing of models, featurizers, configuration or strategies: it takes and
returns plain values, frames and the records below. One module per table group:

- ``db``: open/close, lock and busy detection, migrations, transactions, query helpers and
  the event log every write appends to;
- ``measurements``: materials, measurements, domains, ingest staging checks, best per domain;
- ``screens``: screen runs, shards, the Parquet view over a run's results, its shortlist;
- ``loop``: the campaign row, model versions, proposals and their statuses, rounds and
  steps, events, export.

:class:`Store` composes them. API (all writes run in a transaction; every query is
parameterized):

- Open/close: ``Store.open(path, *, read_only=False, timeout_s=10.0, name=None)`` (also a
  context manager), ``close()``, ``transaction()`` (re-entrant context manager),
  ``schema_version``, ``path``, ``name``, ``read_only``.
- Campaign: ``init_campaign(name, config, description="")``, ``campaign_info()``.
- Materials: ``add_materials(frame, origin="measured")`` with columns
  ``id, kind, canonical, domain``; ``materials(ids=None)``; ``set_material_domains(frame)``.
- Measurements: ``add_measurements(frame)``, ``measurements(property=None)`` (joined with
  the material), ``measurement_counts()``.
- Ingest: ``ingested_file(sha256)``, ``staged_checks(staged, property)`` and
  ``load_staged_ingest(staged, ...)`` over a staged Parquet file.
- Transfer source: ``record_transfer_source(...)``, ``transfer_source()`` (a
  ``TransferSourceRecord`` or None), ``transfer_source_rows()``, ``transfer_choice()``,
  ``record_source_model(path, sha256)``.
- Models: ``next_model_version()``, ``record_model(...)``, ``model_version(version)``,
  ``latest_model()``, ``models()``.
- Screening: ``start_screen_run(...)``, ``screen_run(run_id)``,
  ``find_screen_run(model_version, library)``,
  ``record_shard(run_id, shard, path, n_rows, n_rejected)``, ``done_shards(run_id)``,
  ``shards(run_id)``, ``finish_screen_run(run_id, status="done")``,
  ``register_screen_view(run_id, pattern)``, ``screen_runs()``,
  ``screen_results(run_id, order_by=None, limit=None)``,
  ``screen_top(run_id, k=..., per_domain=0, column="acquisition")``.
- Proposals: ``add_proposals(frame, *, round, strategy, ...)``, ``proposals(round=None,
  status=None)``, ``set_proposal_status(material_ids, status, round=None)``,
  ``close_proposals(material_ids, status, note=None)``, ``proposed_material_ids(except_status=())``.
- Rounds: ``current_round()``, ``rounds()``, ``mark_step_done(round, step, info=None)``,
  ``is_step_done(round, step)``, ``step_info(round, step)``, ``round_steps(round=None)``.
- Events and export: ``log_event(kind, payload=None, round=None)``, ``events(limit=None)``,
  ``export_table(table, out_path)``.
"""

from __future__ import annotations

from e2t_discovery.store.db import Migration, load_migrations
from e2t_discovery.store.loop import (
    CLOSED_STATUSES,
    PROPOSAL_STATUSES,
    LoopRecords,
    ModelRecord,
)
from e2t_discovery.store.measurements import MeasurementRecords
from e2t_discovery.store.screens import ScreenRecords, ScreenRun
from e2t_discovery.store.transfer import TransferRecords, TransferSourceRecord

__all__ = [
    "CLOSED_STATUSES",
    "PROPOSAL_STATUSES",
    "Migration",
    "ModelRecord",
    "ScreenRun",
    "Store",
    "TransferSourceRecord",
    "load_migrations",
]


class Store(MeasurementRecords, ScreenRecords, LoopRecords, TransferRecords):
    """A campaign's DuckDB database. Create with :meth:`Store.open`; close when done."""
