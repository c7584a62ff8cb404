"""The package surface: ``Store`` composes the table groups; the store imports no model code."""

from __future__ import annotations

import json
import subprocess
import sys

import e2t_discovery.store as store_package
from e2t_discovery.store import Store
from e2t_discovery.store.db import StoreBase
from e2t_discovery.store.loop import LoopRecords
from e2t_discovery.store.measurements import MeasurementRecords
from e2t_discovery.store.screens import ScreenRecords
from e2t_discovery.store.transfer import TransferRecords

#: Every public name of ``Store`` before it was split into table groups.
PUBLIC = [
    "add_materials", "add_measurements", "add_proposals", "campaign_info",
    "close", "close_proposals", "current_round", "done_shards", "events", "export_table",
    "find_screen_run", "finish_screen_run", "ingested_file", "init_campaign", "is_step_done",
    "latest_model", "load_staged_ingest", "log_event", "mark_step_done", "materials",
    "measurement_counts", "measurements", "model_version", "models", "next_model_version",
    "open", "proposals", "proposed_material_ids", "record_model", "record_shard",
    "record_source_model", "record_transfer_source",
    "register_screen_view", "round_steps", "rounds", "schema_version", "screen_results",
    "screen_run", "screen_runs", "screen_top", "set_material_domains", "set_proposal_status",
    "shards", "staged_checks", "start_screen_run", "step_info", "transaction",
    "transfer_choice", "transfer_source", "transfer_source_rows",
]


def test_store_composes_every_table_group_and_keeps_its_public_names() -> None:
    assert {MeasurementRecords, ScreenRecords, LoopRecords, TransferRecords,
            StoreBase} <= set(Store.__mro__)
    assert sorted(n for n in dir(Store) if not n.startswith("_")) == PUBLIC
    assert all(hasattr(store_package, name) for name in store_package.__all__)


def test_store_imports_nothing_of_models_featurizers_config_or_strategies() -> None:
    script = ("import sys, json\nimport e2t_discovery.store\n"
              "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('e2t_discovery', 'strategies', 'torch', 'ray', 'botorch', 'rdkit'))))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == ["e2t_discovery", "e2t_discovery.exceptions", "e2t_discovery.store",
                      "e2t_discovery.store.db", "e2t_discovery.store.loop",
                      "e2t_discovery.store.measurements", "e2t_discovery.store.screens",
                      "e2t_discovery.store.transfer"]
