"""Model upkeep of a campaign, in one place: train, save, load, bring up to date.

A campaign's surrogate versions live in ``<campaign>/models/vN/`` and are recorded in the
store with the checksum of their files, their parent version and a snapshot of the data
they saw. :class:`ModelShelf` saves and loads those versions; :func:`train_model` fits a
new one on every measurement; :func:`update_model` is the adapt step of a round
(condition on the new measurements, fine-tune when a domain reaches the threshold).

Everything here takes values (the store, the config, the campaign folder, a featurizer),
not a ``Campaign``: the campaign facade joins them.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from e2t_discovery.config.schema import CampaignConfig
from e2t_discovery.domains import NO_DOMAIN
from e2t_discovery.exceptions import ModelError, NotFittedError
from e2t_discovery.loop.adaptation import AdaptPolicy, apply_update, plan_update
from e2t_discovery.loop.features import CampaignFeatures
from e2t_discovery.store import ModelRecord, Store

if TYPE_CHECKING:
    from e2t_discovery.model.protocol import Surrogate

__all__ = ["ModelShelf", "TrainingData", "artifact_sha256", "surrogate_settings",
           "train_model", "training_data", "update_model"]


def artifact_sha256(directory: Path) -> str:
    """Return one SHA-256 over a folder's files (relative names and contents, sorted)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode("utf-8") + b"\0")
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def domain_labels(values: pd.Series) -> np.ndarray:
    """Domain labels as the surrogate's groups (a missing domain is :data:`NO_DOMAIN`)."""
    return values.fillna(NO_DOMAIN).astype(str).to_numpy()


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
        domains = pd.Series(domain_labels(self.frame["domain"])).value_counts()
        return {"n_materials": len(self.frame), "n_measurements": self.n_measurements,
                "max_measurement_id": self.max_measurement_id,
                "material_ids_sha256": hashlib.sha256(ids.encode("utf-8")).hexdigest(),
                "domains": {str(k): int(v) for k, v in sorted(domains.items())}}


def training_data(store: Store, config: CampaignConfig) -> TrainingData:
    """Return all measurements of the target, replicates averaged per material.

    Raises:
        NotFittedError: if the campaign has no measurements yet.
    """
    data = store.measurements(config.target.property)
    name = config.campaign.name
    if data.empty:
        raise NotFittedError(f"campaign {name} has no measurements of "
                             f"{config.target.property}; ingest lab results first "
                             f"with `e2t ingest {name} FILE`")
    frame = (data.groupby("material_id", sort=True)
             .agg(canonical=("canonical", "first"), domain=("domain", "first"),
                  value=("value", "mean"), n=("value", "size"))
             .reset_index())
    return TrainingData(frame=frame, n_measurements=len(data),
                        max_measurement_id=int(data["measurement_id"].max()))


class ModelShelf:
    """The recorded surrogate versions of one campaign (files + store records)."""

    def __init__(self, store: Store, directory: Path, name: str) -> None:
        """Shelve versions under ``directory/models`` and record them in ``store``."""
        self.store = store
        self.dir = directory
        self.name = name

    def latest(self) -> ModelRecord | None:
        """The newest recorded version, or None."""
        return self.store.latest_model()

    def record(self, version: int | None = None) -> ModelRecord:
        """The record of ``version`` (default: the newest).

        Raises:
            NotFittedError: if no model was trained yet.
            ModelError: if the version does not exist.
        """
        if version is None:
            record = self.store.latest_model()
            if record is None:
                raise NotFittedError(f"campaign {self.name} has no trained model; run "
                                     f"`e2t train {self.name}` first")
            return record
        record = self.store.model_version(version)
        if record is None:
            raise ModelError(f"campaign {self.name} has no model version {version}; "
                             f"see `e2t status {self.name}` for the versions")
        return record

    def path(self, record: ModelRecord) -> Path:
        """The folder holding a version's files."""
        return self.dir / record.artifact_path

    def save(self, model: Surrogate, *, kind: str, parent_version: int | None,
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

    def load(self, version: int | None = None) -> Surrogate:
        """Load a recorded version (default: the newest), checking its checksum.

        An ``E2TSurrogate`` or, in a campaign with ``[transfer]``, a transfer model
        (:func:`e2t_discovery.model.load_surrogate` tells them apart).

        Raises:
            NotFittedError: if no model was trained yet.
            ModelError: if the version does not exist or its files changed.
        """
        from e2t_discovery.model import load_surrogate

        record = self.record(version)
        path = self.path(record)
        if not path.is_dir() or artifact_sha256(path) != record.artifact_sha256:
            raise ModelError(f"model v{record.version} of campaign {self.name} in {path} is "
                             f"missing or was modified; run `e2t train {self.name}` again")
        return load_surrogate(path)


def surrogate_settings(config: CampaignConfig) -> dict[str, Any]:
    """The surrogate's keyword settings of a campaign (``[model] settings`` + clusters)."""
    settings = dict(config.model.settings)
    if config.domains.method == "clustering":
        settings.setdefault("n_clusters", config.domains.n_clusters)
    return settings


def train_model(shelf: ModelShelf, config: CampaignConfig, features: CampaignFeatures, *,
                progress: bool = True) -> ModelRecord:
    """Fit a new surrogate on all measurements and record it as the next version.

    Domains come from the stored labels (``column``/``elements``) or from k-means inside
    the surrogate (``clustering``). With ``[transfer]`` the model is
    ``fit_transfer(method, source model, X, y, ...)`` on the campaign's source model
    (fitted and cached at the first train: ``loop.transfer_source.source_model``), and
    the metrics hold the method's fitted quantities under ``transfer`` (affine:
    ``a``, ``b``; ``auto``: the chosen method and the cross-validation scores under
    ``selection``).

    Raises:
        NotFittedError: if there are no measurements.
        ModelError: if the surrogate cannot be fitted (e.g. too few rows).
    """
    data = training_data(shelf.store, config)
    frame = data.frame
    X = features.model_input(list(frame["canonical"]))
    y = frame["value"].to_numpy(dtype=np.float64)
    groups = None if config.domains.method == "clustering" else domain_labels(frame["domain"])
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    model: Surrogate
    if config.transfer is None:
        from e2t_discovery.model import E2TSurrogate

        model = E2TSurrogate(**surrogate_settings(config)).fit(X, y, groups, progress=progress)
    else:
        from e2t_discovery.loop.transfer_source import method_options, source_model
        from e2t_discovery.model.transfer import fit_transfer

        source = source_model(shelf.store, config, features, shelf.dir, progress=progress)
        transfer = fit_transfer(config.transfer.method, source, X, y, target_groups=groups,
                                seed=int(surrogate_settings(config).get("seed", 0)),
                                **method_options(config))
        extra["transfer"] = {"method": transfer.method, "adapt_mode": transfer.adapt_mode,
                             **transfer.info()}
        if transfer.selection is not None:  # method "auto": what it chose, and why
            extra["transfer"]["selection"] = transfer.selection
        model = transfer
    fit_s = time.perf_counter() - started
    pred = np.asarray(model.predict(X), dtype=np.float64)
    metrics = {"train_rmse": float(np.sqrt(np.mean((pred - y) ** 2))),
               "noise_std": float(model.noise_std), "fit_seconds": round(fit_s, 3),
               "n_materials": int(len(frame)), **extra}
    return shelf.save(model, kind="train", parent_version=None, data=data, metrics=metrics)


def update_model(shelf: ModelShelf, config: CampaignConfig, features: CampaignFeatures,
                 policy: AdaptPolicy, *, progress: bool = False) -> dict[str, Any]:
    """Bring the campaign's model up to date with all measurements (the adapt step).

    No model yet: train one. Otherwise condition the latest model on the measurements it
    has not seen, or fine-tune it when a domain reaches ``policy.threshold``; store the
    result as a new version whose parent is the latest one.

    Returns:
        ``{"model_version", "update", "seconds", "new_measurements", "trigger_domains"}``.
    """
    started = time.perf_counter()
    record = shelf.latest()
    if record is None:
        record = train_model(shelf, config, features, progress=progress)
        return {"model_version": record.version, "update": "train",
                "seconds": time.perf_counter() - started,
                "new_measurements": record.n_measurements, "trigger_domains": []}
    data = shelf.store.measurements(config.target.property)
    new = data[data["measurement_id"] > (record.max_measurement_id or 0)]
    if new.empty:
        return {"model_version": record.version, "update": "unchanged", "seconds": 0.0,
                "new_measurements": 0, "trigger_domains": []}
    seen = record.snapshot.get("domains", {})
    before = [d for d, k in seen.items() for _ in range(int(k))]
    groups = domain_labels(new["domain"])
    plan = plan_update(before, groups, policy)
    model = shelf.load(record.version)
    X_new = features.model_input(new["canonical"].astype(str).tolist())
    t0 = time.perf_counter()
    model = apply_update(model, X_new, new["value"].to_numpy(dtype=np.float64), groups,
                         plan, policy)
    update_s = time.perf_counter() - t0
    kind = "adapt" if plan.fine_tune else "condition"
    metrics: dict[str, Any] = {
        "update_seconds": round(update_s, 4), "new_measurements": int(len(new)),
        "trigger_domains": list(plan.trigger_domains), "noise_std": float(model.noise_std)}
    if plan.fine_tune and config.transfer is not None:
        from e2t_discovery.model.transfer import TransferModel

        if isinstance(model, TransferModel):  # what "adapt" did to a transfer model
            metrics["adapt_mode"] = model.adapt_mode
    saved = shelf.save(
        model, kind=kind, parent_version=record.version,
        data=training_data(shelf.store, config), metrics=metrics)
    return {"model_version": saved.version, "update": kind, "seconds": update_s,
            "new_measurements": int(len(new)), "trigger_domains": list(plan.trigger_domains)}
