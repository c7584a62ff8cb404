"""The user-facing :class:`Campaign`: a folder with a DuckDB store, a config and models.

A campaign lives in ``<root>/<name>/``::

    campaign.duckdb   the store (measurements, models, screens, proposals, rounds, events)
    config.toml       the validated configuration it was created with (for reading)
    models/vN/        saved surrogate versions (recorded in the store with checksums)
    logs/e2t.log      tracebacks of internal errors of commands run on this campaign

``root`` is given by the caller (the CLI takes ``--dir``, else ``E2T_HOME``, else
``./e2t-campaigns``). The campaign module joins the store and the model; neither knows
the other.

API::

    Campaign.create(name, config_path, root=None, *, timeout_s=10.0) -> Campaign
    Campaign.open(name, root=None, read_only=False, *, timeout_s=10.0) -> Campaign
    campaign.name, .dir, .config, .store, .log_path, .featurizer
    campaign.ingest(path, *, replicate=False, report_path=None, round=None,
                    progress=False, id_column=None, value_column=None, unit=None,
                    column_map=None) -> IngestResult
    campaign.training_data() -> TrainingData
    campaign.featurize(items) -> np.ndarray | list[CrystalGraph]
    campaign.train(progress=True) -> ModelRecord
    campaign.save_model(model, *, kind, parent_version, data, metrics) -> ModelRecord
    campaign.load_model(version=None) -> E2TSurrogate
    campaign.domains_of(frame, canonical=None) -> np.ndarray
    campaign.predict_frame(df, *, version=None, base_dir=None) -> pd.DataFrame
    campaign.predict_file(input_path, out_path, *, version=None) -> pd.DataFrame
    campaign.status() -> CampaignStatus
    campaign.export(out_dir) -> list[Path]
    campaign.close()  (also a context manager)
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd

from e2t_discovery.config.schema import CampaignConfig, CampaignSection, load_config
from e2t_discovery.domains import frame_domains
from e2t_discovery.exceptions import (
    ConfigError,
    FeaturizationError,
    IngestValidationError,
    ModelError,
    NotFittedError,
    StoreError,
)
from e2t_discovery.featurize import Featurizer, get_featurizer
from e2t_discovery.loop.ingest import IngestResult, ingest_file
from e2t_discovery.loop.lab_files import describe_missing_column, read_excel_table, sniff_delimiter
from e2t_discovery.store.db import PROPOSAL_STATUSES, ModelRecord, Store

if TYPE_CHECKING:
    from e2t_discovery.model import E2TSurrogate

__all__ = ["Campaign", "CampaignStatus", "TrainingData", "DEFAULT_ROOT", "DB_NAME",
           "artifact_sha256", "read_table"]

DEFAULT_ROOT = Path("e2t-campaigns")
DB_NAME = "campaign.duckdb"


def artifact_sha256(directory: Path) -> str:
    """Return one SHA-256 over a folder's files (relative names and contents, sorted)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode("utf-8") + b"\0")
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class TrainingData:
    """Measurements averaged per material, ready for the surrogate.

    Attributes:
        frame: One row per measured material: ``material_id, canonical, domain, value, n``
            (``n`` = number of measurements averaged), sorted by ``material_id``.
        n_measurements: Measurements behind it.
        max_measurement_id: Newest measurement id included (the snapshot's watermark).
    """

    frame: pd.DataFrame
    n_measurements: int
    max_measurement_id: int | None

    def snapshot(self) -> dict[str, Any]:
        """Return a JSON-able description of this data (ids digest, counts per domain)."""
        ids = "\n".join(self.frame["material_id"].astype(str))
        domains = self.frame["domain"].fillna("(none)").astype(str).value_counts()
        return {"n_materials": len(self.frame), "n_measurements": self.n_measurements,
                "max_measurement_id": self.max_measurement_id,
                "material_ids_sha256": hashlib.sha256(ids.encode("utf-8")).hexdigest(),
                "domains": {str(k): int(v) for k, v in sorted(domains.items())}}


@dataclass(frozen=True)
class CampaignStatus:
    """What ``e2t status`` shows.

    Attributes:
        name: Campaign name.
        kind: Representation kind.
        property: Target property.
        unit: Its unit.
        objective: ``maximize``, ``minimize`` or ``range``.
        counts: ``measurements, measured_materials, materials, files``.
        current_round: Highest round seen.
        rounds: Per round: ``round, measurements, proposals, answered, steps``.
        proposals: Proposal counts by status (``proposed``, ``measured``, ``dropped``,
            ``abandoned``, ``failed``).
        best: Best measured material overall (``material_id, domain, value``) or None.
        best_per_domain: ``domain, material_id, value, n`` (best first).
        last_model: The newest model version, or None.
        screen_runs: Number of screen runs.
    """

    name: str
    kind: str
    property: str
    unit: str
    objective: str
    counts: dict[str, int]
    current_round: int
    rounds: pd.DataFrame
    proposals: dict[str, int]
    best: dict[str, Any] | None
    best_per_domain: pd.DataFrame
    last_model: ModelRecord | None
    screen_runs: int


class Campaign:
    """A discovery campaign: configuration, store and model versions in one folder."""

    def __init__(self, name: str, directory: Path, config: CampaignConfig, store: Store) -> None:
        """Wrap an open store; use :meth:`create` or :meth:`open` instead."""
        self.name = name
        self.dir = directory
        self.config = config
        self.store = store

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
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "logs").mkdir(exist_ok=True)
        store = Store.open(directory / DB_NAME, timeout_s=timeout_s, name=name)
        try:
            store.init_campaign(name, config.to_dict(), config.campaign.description)
        except BaseException:
            store.close()
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
        """Return all measurements of the target, replicates averaged per material.

        Raises:
            NotFittedError: if the campaign has no measurements yet.
        """
        data = self.store.measurements(self.config.target.property)
        if data.empty:
            raise NotFittedError(f"campaign {self.name} has no measurements of "
                                 f"{self.config.target.property}; ingest lab results first "
                                 f"with `e2t ingest {self.name} FILE`")
        frame = (data.groupby("material_id", sort=True)
                 .agg(canonical=("canonical", "first"), domain=("domain", "first"),
                      value=("value", "mean"), n=("value", "size"))
                 .reset_index())
        return TrainingData(frame=frame, n_measurements=len(data),
                            max_measurement_id=int(data["measurement_id"].max()))

    # ------------------------------------------------------------------ features
    @cached_property
    def featurizer(self) -> Featurizer:
        """The featurizer of the campaign's representation (structure: cached on disk)."""
        params = dict(self.config.representation.featurizer)
        if self.config.representation.kind == "structure":
            params.setdefault("cache_dir", str(self.dir / "cache" / "structures"))
        return get_featurizer(self.config.representation.kind, **params)

    @property
    def _uses_graphs(self) -> bool:
        return self.config.model.settings.get("encoder", "mlp") == "graph"

    def featurize(self, items: list[Any]) -> Any:
        """Turn canonical forms (or raw inputs) into model input.

        Returns:
            ``n x d`` float32 array, or ``n`` crystal graphs when the model's encoder is
            ``graph``.

        Raises:
            FeaturizationError: naming the first bad item and its row.
        """
        if self._uses_graphs:
            return self.featurizer.graphs(items)  # type: ignore[attr-defined]
        return self.featurizer.transform(items)

    def domains_of(self, frame: pd.DataFrame, canonical: list[str] | None = None) -> np.ndarray:
        """Return the domain label of each row of a candidate/lab frame (None if unknown).

        ``column``: the configured column if present; ``elements``: from the formula or
        structure in ``canonical`` (or the input column); ``clustering``: None (the model
        assigns clusters).
        """
        dom, rep = self.config.domains, self.config.representation
        return frame_domains(frame, method=dom.method, column=dom.column,
                             element_groups=dom.element_groups, kind=rep.kind,
                             input_column=rep.input_column, canonical=canonical)

    # ------------------------------------------------------------------ models
    def _surrogate_settings(self) -> dict[str, Any]:
        settings = dict(self.config.model.settings)
        if self.config.domains.method == "clustering":
            settings.setdefault("n_clusters", self.config.domains.n_clusters)
        return settings

    def train(self, progress: bool = True) -> ModelRecord:
        """Fit a new surrogate on all measurements and record it as the next model version.

        Domains come from the stored labels (``column``/``elements``) or from k-means
        inside the surrogate (``clustering``).

        Returns:
            The recorded model version.

        Raises:
            NotFittedError: if there are no measurements.
            ModelError: if the surrogate cannot be fitted (e.g. too few rows).
        """
        from e2t_discovery.model import E2TSurrogate

        data = self.training_data()
        frame = data.frame
        X = self.featurize(list(frame["canonical"]))
        y = frame["value"].to_numpy(dtype=np.float64)
        groups = None
        if self.config.domains.method != "clustering":
            groups = frame["domain"].fillna("(none)").astype(str).to_numpy()
        started = time.perf_counter()
        model = E2TSurrogate(**self._surrogate_settings()).fit(X, y, groups, progress=progress)
        fit_s = time.perf_counter() - started
        pred = np.asarray(model.predict(X), dtype=np.float64)
        metrics = {"train_rmse": float(np.sqrt(np.mean((pred - y) ** 2))),
                   "noise_std": float(model.noise_std), "fit_seconds": round(fit_s, 3),
                   "n_materials": int(len(frame))}
        return self.save_model(model, kind="train", parent_version=None, data=data,
                               metrics=metrics)

    def save_model(self, model: E2TSurrogate, *, kind: str, parent_version: int | None,
                   data: TrainingData, metrics: dict[str, Any]) -> ModelRecord:
        """Save a fitted/conditioned/adapted surrogate as the next version and record it.

        Args:
            model: The surrogate to save.
            kind: ``train``, ``condition`` or ``adapt``.
            parent_version: The version it was derived from (None for a fresh fit).
            data: The measurements it saw (its snapshot is recorded).
            metrics: JSON-able metrics to record.
        """
        version = self.store.next_model_version()
        relative = Path("models") / f"v{version}"
        out = self.dir / relative
        if out.exists():  # left by a process killed before it recorded the version
            shutil.rmtree(out)
        model.save(out)
        return self.store.record_model(
            version=version, parent_version=parent_version, kind=kind,
            artifact_path=relative.as_posix(), artifact_sha256=artifact_sha256(out),
            n_measurements=data.n_measurements, max_measurement_id=data.max_measurement_id,
            snapshot=data.snapshot(), metrics=metrics)

    def load_model(self, version: int | None = None) -> E2TSurrogate:
        """Load a recorded model version (default: the newest), checking its checksum.

        Raises:
            NotFittedError: if no model was trained yet.
            ModelError: if the version does not exist or its files changed.
        """
        from e2t_discovery.model import E2TSurrogate

        if version is None:
            record = self.store.latest_model()
            if record is None:
                raise NotFittedError(f"campaign {self.name} has no trained model; run "
                                     f"`e2t train {self.name}` first")
        else:
            record = self.store.model_version(version)
            if record is None:
                raise ModelError(f"campaign {self.name} has no model version {version}; "
                                 f"see `e2t status {self.name}` for the versions")
        path = self.dir / record.artifact_path
        if not path.is_dir() or artifact_sha256(path) != record.artifact_sha256:
            raise ModelError(f"model v{record.version} of campaign {self.name} in {path} is "
                             f"missing or was modified; run `e2t train {self.name}` again")
        return E2TSurrogate.load(path)

    def predict_frame(self, df: pd.DataFrame, *, version: int | None = None,
                      base_dir: str | Path | None = None) -> pd.DataFrame:
        """Predict the target for every row of a frame of candidates; never stop at a bad row.

        Args:
            df: Must hold the representation's input column; the id column and the domain
                column are copied through when present.
            version: Model version (default: newest).
            base_dir: Folder that relative CIF paths are relative to (structures only).

        Returns:
            One row per input row, in order: the id (if given) and input columns,
            ``domain``, ``mean``, ``std`` (predictive, in the campaign unit),
            ``domain_distance`` (larger = farther from the measured data),
            ``out_of_domain`` (distance above what held-out training domains show, see
            ``E2TSurrogate.out_of_domain_threshold``; empty for a rejected row) and
            ``reject_reason`` (empty for a predicted row; for a row that could not be
            featurized or got a non-finite prediction, the reason, and NaN mean, std and
            distance).

        Raises:
            FeaturizationError: if the input column is missing.
            NotFittedError: if no model was trained.
        """
        rep = self.config.representation
        if rep.input_column not in df.columns:
            header = [str(c) for c in df.columns]
            raise FeaturizationError(describe_missing_column(
                rep.input_column, header, lambda closest: (
                    f"rename {closest!r} to {rep.input_column!r}" if closest else
                    f"add the {rep.kind} of each candidate in that column")))
        items = [_resolve(item, rep.kind, base_dir) for item in df[rep.input_column]]
        model = self.load_model(version)
        X, ok, reasons = self._featurize_with_rejects(items)
        n = len(df)
        mean, std, dist = (np.full(n, np.nan) for _ in range(3))
        valid = np.flatnonzero(ok)
        if len(valid):
            m, sd, d = model.predict_with_distance(X)
            mean[valid] = np.asarray(m, dtype=np.float64)
            std[valid] = np.asarray(sd, dtype=np.float64)
            dist[valid] = np.asarray(d, dtype=np.float64)
            for i in valid[~(np.isfinite(mean[valid]) & np.isfinite(std[valid])
                             & np.isfinite(dist[valid]))]:
                reasons[i] = "model returned a non-finite prediction"
                mean[i] = std[i] = dist[i] = np.nan
        if self.config.domains.method == "column":  # copied, so kept for rejected rows too
            domain = self.domains_of(df)
        else:
            domain = np.full(n, None, dtype=object)
            if len(valid):
                domain[valid] = self.domains_of(df.iloc[valid], [items[i] for i in valid])
        out = pd.DataFrame(index=df.index)
        if rep.id_column in df.columns:
            out[rep.id_column] = df[rep.id_column].to_numpy()
        out[rep.input_column] = df[rep.input_column].to_numpy()
        out["domain"] = domain
        out["mean"], out["std"], out["domain_distance"] = mean, std, dist
        flags = pd.array([pd.NA] * n, dtype="boolean")
        if len(valid):
            predicted = valid[np.isfinite(dist[valid])]
            flags[predicted] = model.out_of_domain(None, distance=dist[predicted])
        out["out_of_domain"] = flags
        out["reject_reason"] = ["" if r is None else r for r in reasons]
        return out.reset_index(drop=True)

    def _featurize_with_rejects(self, items: list[Any]) -> tuple[Any, np.ndarray,
                                                                  list[str | None]]:
        """Featurize what can be; return (model input of the valid rows, ok mask, reasons)."""
        if not self._uses_graphs:
            batch = self.featurizer.transform_with_rejects(items)
            return batch.X, batch.ok, list(batch.reasons)
        graphs: list[Any] = []
        ok = np.zeros(len(items), dtype=bool)
        reasons: list[str | None] = []
        for i, item in enumerate(items):
            try:
                graphs.append(self.featurizer.graph_one(item))  # type: ignore[attr-defined]
                ok[i] = True
                reasons.append(None)
            except (FeaturizationError, ValueError, TypeError, KeyError) as exc:
                reasons.append(f"invalid structure input: {exc}")
        return graphs, ok, reasons

    def predict_file(self, input_path: str | Path, out_path: str | Path, *,
                     version: int | None = None) -> pd.DataFrame:
        """Predict every row of a CSV/Excel/Parquet file and write the predictions.

        Relative CIF paths in the input are relative to the input file's folder. The output
        format follows ``out_path``'s suffix (``.parquet``, else CSV). A row that cannot be
        predicted is written with its ``reject_reason`` (see :meth:`predict_frame`).

        Returns:
            The predictions written (see :meth:`predict_frame`).

        Raises:
            FeaturizationError: if the file cannot be read or lacks the input column.
        """
        input_path, out_path = Path(input_path), Path(out_path)
        frame = read_table(input_path)
        try:
            predictions = self.predict_frame(frame, version=version,
                                             base_dir=input_path.parent)
        except FeaturizationError as exc:
            raise FeaturizationError(f"{input_path}: {exc}") from None
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if out_path.suffix.lower() in (".parquet", ".pq"):
            predictions.to_parquet(out_path, index=False)
        else:
            predictions.to_csv(out_path, index=False)
        return predictions

    # ------------------------------------------------------------------ reporting
    def status(self) -> CampaignStatus:
        """Return counts, rounds, best measured material per domain and the last model."""
        data = self.store.measurements(self.config.target.property)
        best_per_domain = pd.DataFrame(columns=["domain", "material_id", "value", "n"])
        best = None
        objective = self.config.objective
        if not data.empty:
            per = (data.assign(domain=data["domain"].fillna("(none)"))
                   .groupby(["domain", "material_id"], as_index=False)["value"].mean())
            per["score"] = per["value"].map(objective.score)
            per = per.sort_values(["score", "material_id"], ascending=[False, True])
            counts = per.groupby("domain")["material_id"].size().rename("n")
            best_per_domain = (per.drop_duplicates("domain")
                               .merge(counts, left_on="domain", right_index=True)
                               [["domain", "material_id", "value", "n"]]
                               .reset_index(drop=True))
            top = per.iloc[0]
            best = {"material_id": top["material_id"], "domain": top["domain"],
                    "value": float(top["value"])}
        proposals = self.store.proposals()
        by_status = {s: int((proposals["status"] == s).sum()) for s in PROPOSAL_STATUSES}
        return CampaignStatus(
            name=self.name, kind=self.config.representation.kind,
            property=self.config.target.property, unit=self.config.target.unit,
            objective=objective.direction, counts=self.store.measurement_counts(),
            current_round=self.store.current_round(), rounds=self.store.rounds(),
            proposals=by_status, best=best,
            best_per_domain=best_per_domain, last_model=self.store.latest_model(),
            screen_runs=len(self.store.screen_runs()))

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


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV (``,``/``;``/tab), Excel (``.xlsx``) or Parquet file of candidates.

    Identifier columns are kept as text.

    Raises:
        FeaturizationError: if it is missing, a folder, empty or not CSV/Excel/Parquet.
    """
    import pyarrow as pa

    if path.is_dir():
        raise FeaturizationError(f"{path}: is a folder, not a file; give one CSV, Excel "
                                 f"(.xlsx) or Parquet file")
    if not path.is_file():
        raise FeaturizationError(f"{path}: no such file; give a CSV, Excel (.xlsx) or "
                                 f"Parquet file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            try:
                return read_excel_table(path).fillna("")
            except IngestValidationError as exc:
                raise FeaturizationError(str(exc)) from None
        with path.open("rb") as fh:
            if b"\0" in fh.read(8192):
                raise ValueError("binary content")
        return pd.read_csv(path, dtype=str, keep_default_na=False,
                           sep=sniff_delimiter(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            pa.ArrowException, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FeaturizationError(f"{path}: not a readable CSV/Excel/Parquet file "
                                 f"({first})") from None


def _resolve(item: Any, kind: str, base_dir: str | Path | None) -> Any:
    """Make a relative CIF path absolute against ``base_dir`` (other items unchanged)."""
    if kind != "structure" or base_dir is None or not isinstance(item, str) or "\n" in item:
        return item
    path = Path(item)
    return str(path if path.is_absolute() else Path(base_dir) / path)
