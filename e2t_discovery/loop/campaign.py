"""The user-facing :class:`Campaign`: the one object that joins a campaign's parts.

A campaign lives in ``<root>/<name>/``::

    campaign.duckdb   the store (measurements, models, screens, proposals, rounds, events)
    config.toml       the validated configuration it was created with (for reading)
    models/vN/        saved surrogate versions (recorded in the store with checksums)
    models/source/    the fitted [transfer] source model (campaigns with a source only)
    logs/e2t.log      tracebacks of internal errors of commands run on this campaign

``root`` is given by the caller (the CLI takes ``--dir``, else ``E2T_HOME``, else
``./e2t-campaigns``). The steps of the loop take values — the store, the config, the
model shelf, the featurization, a library — and never a ``Campaign``; this class holds
those values and gives each step a thin method (as BayBE's ``Campaign.recommend``):

    Campaign.create(name, config_path, root=None, *, timeout_s=10.0) -> Campaign
    Campaign.open(name, root=None, read_only=False, *, timeout_s=10.0) -> Campaign
    campaign.name, .dir, .config, .store, .models, .features, .log_path
    campaign.ingest(path, ...) -> IngestResult                     (loop/ingest.py)
    campaign.train(progress=True) -> ModelRecord                    (loop/models.py)
    campaign.update_model(policy=None, progress=False) -> dict      (loop/models.py)
    campaign.load_model(version=None) -> Surrogate                  (loop/models.py)
    campaign.screen(library=None, ...) -> (run_id, ScreenSummary)   (loop/screen_step.py)
    campaign.propose(strategy=None, q=None, ...) -> DataFrame       (loop/propose.py)
    campaign.run(rounds, ...) -> RunResult                          (loop/rounds.py)
    campaign.predict_frame(df) / .predict_file(input, out)         (loop/predict.py)
    campaign.status() -> CampaignStatus                             (loop/status.py)
    campaign.report_data(**options) -> ReportData                   (report/data.py)
    campaign.export(out_dir) -> list[Path]
    campaign.close()  (also a context manager)
"""

from __future__ import annotations

import shutil
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd

from e2t_discovery.config.schema import CampaignConfig, CampaignSection, load_config
from e2t_discovery.exceptions import ConfigError, StoreError
from e2t_discovery.loop.features import CampaignFeatures
from e2t_discovery.loop.ingest import IngestResult, ingest_file
from e2t_discovery.loop.models import (
    ModelShelf,
    TrainingData,
    train_model,
    training_data,
    update_model,
)
from e2t_discovery.loop.status import CampaignStatus, campaign_status
from e2t_discovery.store import ModelRecord, Store

if TYPE_CHECKING:
    from e2t_discovery.loop.adaptation import AdaptPolicy
    from e2t_discovery.loop.rounds import RunResult
    from e2t_discovery.model.protocol import Surrogate
    from e2t_discovery.report import ReportData
    from e2t_discovery.screen.pipeline import ScreenSummary

__all__ = ["Campaign", "DEFAULT_ROOT", "DB_NAME"]

DEFAULT_ROOT = Path("e2t-campaigns")
DB_NAME = "campaign.duckdb"


class Campaign:
    """A discovery campaign: configuration, store and model versions in one folder."""

    def __init__(self, name: str, directory: Path, config: CampaignConfig, store: Store) -> None:
        """Wrap an open store; use :meth:`create` or :meth:`open` instead."""
        self.name = name
        self.dir = directory
        self.config = config
        self.store = store
        self.models = ModelShelf(store, directory, name)

    # ------------------------------------------------------------------ lifecycle
    @staticmethod
    def _dir(name: str, root: str | Path | None) -> Path:
        try:
            CampaignSection(name=name)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise ConfigError(f"campaign name {name!r} is invalid: use letters, digits, "
                              f"'_', '-' or '.' (it becomes a folder name)") from exc
        # absolute, so paths recorded in the store (screen shards, DuckDB views) work
        # from any working directory
        return (Path(root if root is not None else DEFAULT_ROOT) / name).absolute()

    @classmethod
    def create(cls, name: str, config_path: str | Path, root: str | Path | None = None, *,
               timeout_s: float = 10.0) -> Campaign:
        """Create a campaign folder and store from a campaign TOML file; return it open.

        The campaign's name is ``name`` (it replaces ``[campaign] name`` of the file).

        Raises:
            ConfigError: if the file or the name is invalid.
            StoreError: if a campaign of that name already exists under ``root``.
        """
        config = load_config(config_path)
        directory = cls._dir(name, root)
        if (directory / DB_NAME).exists():
            raise StoreError(f"campaign {name} already exists in {directory}; choose another "
                             f"name or --dir, or use it as it is")
        config = config.model_copy(update={
            "campaign": config.campaign.model_copy(update={"name": name})})
        created = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        store = None
        try:
            source = None
            if config.transfer is not None:  # read once, before the store exists
                from e2t_discovery.loop.transfer_source import read_source

                try:
                    source = read_source(config, CampaignFeatures(config, directory),
                                         directory.parent)
                except ConfigError as exc:  # worded as check_config words its errors
                    raise ConfigError(f"{config_path}: {exc}") from None
            (directory / "logs").mkdir(exist_ok=True)
            store = Store.open(directory / DB_NAME, timeout_s=timeout_s, name=name)
            store.init_campaign(name, config.to_dict(), config.campaign.description)
            if source is not None:
                from e2t_discovery.loop.transfer_source import record_source

                record_source(store, config, source, directory)
        except BaseException:
            if store is not None:
                store.close()
            if created:  # nothing of a campaign that was refused stays behind
                shutil.rmtree(directory, ignore_errors=True)
            raise
        (directory / "config.toml").write_text(config.to_toml(), encoding="utf-8")
        return cls(name, directory, config, store)

    @classmethod
    def open(cls, name: str, root: str | Path | None = None, read_only: bool = False, *,
             timeout_s: float = 10.0) -> Campaign:
        """Open an existing campaign.

        Raises:
            StoreError: if it does not exist, is busy (StoreBusyError) or is unreadable.
        """
        directory = cls._dir(name, root)
        if not (directory / DB_NAME).exists():
            raise StoreError(f"no campaign {name} in {directory.parent}; create it with "
                             f"`e2t init {name} --config FILE` or pass the right --dir")
        store = Store.open(directory / DB_NAME, read_only=read_only, timeout_s=timeout_s,
                           name=name)
        try:
            info = store.campaign_info()
            # checked against the surrogate's options at creation; skipping it here keeps
            # read-only commands from importing torch
            config = CampaignConfig.from_dict(info["config"], source=f"campaign {name}",
                                              check_model=False)
        except BaseException:
            store.close()
            raise
        return cls(name, directory, config, store)

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def log_path(self) -> Path:
        """The campaign's log file (internal-error tracebacks of commands)."""
        return self.dir / "logs" / "e2t.log"

    # ------------------------------------------------------------------ data
    def ingest(self, path: str | Path, *, replicate: bool = False,
               report_path: str | Path | None = None, round: int | None = None,
               progress: bool = False, id_column: str | None = None,
               value_column: str | None = None, unit: str | None = None,
               column_map: dict[str, str] | None = None) -> IngestResult:
        """Validate a lab file and load it in one transaction (:mod:`e2t_discovery.loop.ingest`).

        ``id_column``/``value_column`` name the file's id and value columns when they
        differ from the campaign's, ``unit`` is the unit of every row of a file without a
        unit column, and ``column_map`` renames file columns (``{file name: campaign
        name}``).
        """
        return ingest_file(self.store, self.config, path, replicate=replicate,
                           report_path=report_path, round=round, progress=progress,
                           id_column=id_column, value_column=value_column, unit=unit,
                           column_map=column_map)

    def training_data(self) -> TrainingData:
        """Return all measurements of the target, replicates averaged per material."""
        return training_data(self.store, self.config)

    # ------------------------------------------------------------------ features
    @cached_property
    def features(self) -> CampaignFeatures:
        """The campaign's featurization and domain rules."""
        return CampaignFeatures(self.config, self.dir)

    def featurize(self, items: list[Any]) -> Any:
        """Turn canonical forms (or raw inputs) into model input (see CampaignFeatures)."""
        return self.features.model_input(items)

    def domains_of(self, frame: pd.DataFrame, canonical: list[str] | None = None) -> np.ndarray:
        """Return the domain label of each row of a candidate/lab frame (None if unknown)."""
        return self.features.domains_of(frame, canonical)

    # ------------------------------------------------------------------ models
    def train(self, progress: bool = True) -> ModelRecord:
        """Fit a new surrogate on all measurements; record it as the next model version."""
        return train_model(self.models, self.config, self.features, progress=progress)

    def update_model(self, policy: AdaptPolicy | None = None, *,
                     progress: bool = False) -> dict[str, Any]:
        """Bring the model up to date with every measurement (train, condition or adapt)."""
        from e2t_discovery.loop.adaptation import AdaptPolicy

        policy = policy or AdaptPolicy.of(self.config.model)
        return update_model(self.models, self.config, self.features, policy,
                            progress=progress)

    def load_model(self, version: int | None = None) -> Surrogate:
        """Load a recorded model version (default: the newest), checking its checksum."""
        return self.models.load(version)

    # ------------------------------------------------------------------ loop steps
    def screen(self, library: str | Path | None = None, **options: Any
               ) -> tuple[int, ScreenSummary]:
        """Score a library with the latest model (options: ``screen_step``'s)."""
        from e2t_discovery.loop.screen_step import screen_step

        return screen_step(self.store, self.config, self.dir, library, **options)

    def propose(self, strategy: str | None = None, q: int | None = None,
                **options: Any) -> pd.DataFrame:
        """Choose and record a batch (default: the configured strategy and batch size)."""
        from e2t_discovery.loop.propose import propose_batch

        return propose_batch(
            self.store, self.config, self.models, self.features,
            strategy if strategy is not None else self.config.strategy.name,
            q if q is not None else self.config.strategy.batch_size, **options)

    def run(self, rounds: int, **options: Any) -> RunResult:
        """Run the closed loop until ``rounds`` rounds are complete (``run_campaign``)."""
        from e2t_discovery.loop.rounds import run_campaign

        return run_campaign(self, rounds, **options)

    # ------------------------------------------------------------------ prediction
    def predict_frame(self, df: pd.DataFrame, *, version: int | None = None,
                      base_dir: str | Path | None = None) -> pd.DataFrame:
        """Predict every row of a frame of candidates (see ``loop.predict.predict_frame``)."""
        from e2t_discovery.loop.predict import predict_frame

        return predict_frame(self.load_model(version), self.features, df, base_dir=base_dir)

    def predict_file(self, input_path: str | Path, out_path: str | Path, *,
                     version: int | None = None) -> pd.DataFrame:
        """Predict every row of a file and write the predictions (``predict_file``)."""
        from e2t_discovery.loop.predict import predict_file

        return predict_file(self.load_model(version), self.features, input_path, out_path)

    # ------------------------------------------------------------------ reporting
    def status(self) -> CampaignStatus:
        """Return counts, rounds, best measured material per domain and the last model."""
        return campaign_status(self.store, self.config)

    def report_data(self, **options: Any) -> ReportData:
        """What the report shows (options: ``report.campaign_report_data``'s)."""
        from e2t_discovery.report import campaign_report_data

        return campaign_report_data(self.store, self.config, self.name, self.dir, **options)

    def export(self, out_dir: str | Path) -> list[Path]:
        """Write measurements, proposals, materials and models as Parquet and CSV.

        Returns:
            The files written (``<table>.parquet`` and ``<table>.csv`` each, plus
            ``config.toml``).
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for table in ("measurements", "proposals", "materials", "models"):
            for suffix in (".parquet", ".csv"):
                path = out / f"{table}{suffix}"
                self.store.export_table(table, path)
                written.append(path)
        config_path = out / "config.toml"
        config_path.write_text(self.config.to_toml(), encoding="utf-8")
        written.append(config_path)
        return written
