"""A campaign's ``[transfer]`` source: read once at creation, fitted once at first train.

``read_source`` runs when the campaign is created (``e2t init``) and reads the source
*once*:

- ``table``: the CSV/Parquet file (its SHA-256 over the file's bytes); its input column is
  featurized with the campaign's own featurization (structure paths relative to the
  table's folder), rows whose input fails or whose value is missing are dropped (counted),
  values are multiplied by ``config.target.factor(unit)`` (``unit = "none"``: kept as
  they are; affine transfer learns the scale);
- ``campaign``: another campaign under the same root, its measurements averaged per
  material as the source table (SHA-256 over its rows); it must describe materials as this
  one does (same representation kind and featurizer settings), and its target unit is
  converted when this campaign knows it, else kept (``none``);
- ``model``: a saved model folder (an ``E2TSurrogate``, a source model or a transfer
  model's source; SHA-256 over its files), checked to load and to take this campaign's
  inputs; copied into the campaign as its source model.

The rows go into the store with the checksum and counts (``Store.record_transfer_source``);
later steps never read the original again. :func:`source_model` returns the fitted
:class:`~e2t_discovery.model.transfer.SourceModel`, cached in ``<campaign>/models/source/``
with its checksum recorded (fitted at the first ``e2t train``; a cache left by a killed
fit without a record is fitted again; a recorded one whose files changed is refused).
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from e2t_discovery.config.schema import CampaignConfig
from e2t_discovery.exceptions import ConfigError, ModelError
from e2t_discovery.loop.features import CampaignFeatures
from e2t_discovery.messages import shown_value
from e2t_discovery.store import Store

if TYPE_CHECKING:
    from e2t_discovery.model.transfer import SourceModel

__all__ = ["SOURCE_DIR", "SourceData", "method_options", "read_source", "record_source",
           "source_model", "source_settings"]

#: Where a campaign keeps its fitted source model (relative to the campaign folder).
SOURCE_DIR = Path("models") / "source"


@dataclass(frozen=True)
class SourceData:
    """What was read of a source (rows for ``table``/``campaign``; a model for ``model``)."""

    kind: str
    location: str
    property: str | None
    unit: str | None
    factor: float | None
    sha256: str
    rows: pd.DataFrame  # canonical, domain, value
    n_dropped: int
    model: SourceModel | None = None


def _invalid(key: str, value: Any, reason: str) -> ConfigError:
    """The one-line error of a bad ``[transfer]`` value (as ``check_config`` words it)."""
    return ConfigError(f"{key} = {shown_value(value)} is invalid: {reason}")


def read_source(config: CampaignConfig, features: CampaignFeatures, root: Path) -> SourceData:
    """Read the campaign's ``[transfer]`` source once (see the module docstring).

    Args:
        config: The campaign's validated configuration (with a ``[transfer]`` table).
        features: The campaign's featurization.
        root: The folder holding the campaigns (a ``campaign`` source is looked up there).

    Raises:
        ConfigError: one line naming the ``transfer.*`` key, its value and the fix.
    """
    transfer = config.transfer
    assert transfer is not None
    if transfer.kind == "table":
        return _read_table(config, features)
    if transfer.kind == "campaign":
        return _read_campaign(config, features, root)
    return _read_model(config, features)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _rows_sha256(rows: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for canonical, value in zip(rows["canonical"], rows["value"], strict=True):
        digest.update(f"{canonical}\0{float(value)!r}\n".encode())
    return digest.hexdigest()


def _featurized_rows(features: CampaignFeatures, items: list[Any], values: np.ndarray,
                     frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Canonical form, domain and value of the rows that featurize and have a value."""
    has_value = np.isfinite(values)
    batch = features.featurizer.transform_with_rejects(
        [items[i] for i in np.flatnonzero(has_value)], canonical=True)
    keep = np.flatnonzero(has_value)[batch.ok]
    canonical = [str(c) for c, ok in zip(batch.canonical or [], batch.ok, strict=True) if ok]
    kept = frame.iloc[keep].reset_index(drop=True)
    domains = features.domains_of(kept, canonical)
    rows = pd.DataFrame({"canonical": canonical,
                         "domain": pd.array([None if d is None else str(d) for d in domains],
                                            dtype="object"),
                         "value": values[keep]})
    return rows, int(len(items) - len(keep))


def _read_table(config: CampaignConfig, features: CampaignFeatures) -> SourceData:
    transfer = config.transfer
    assert transfer is not None and transfer.table is not None
    path = Path(transfer.table)
    frame = (pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq")
             else pd.read_csv(path, sep=None, engine="python"))
    rep = config.representation
    items = frame[rep.input_column].tolist()
    if rep.kind == "structure":  # CIF paths are relative to the table's folder
        items = [item if not isinstance(item, str) or "\n" in item or Path(item).is_absolute()
                 else str(path.parent / item) for item in items]
    values = pd.to_numeric(frame[transfer.property], errors="coerce").to_numpy(np.float64)
    factor = None if transfer.unit == "none" else config.target.factor(str(transfer.unit))
    rows, dropped = _featurized_rows(features, items, values, frame)
    if factor is not None:
        rows["value"] = rows["value"] * factor
    if len(rows) < 8:
        raise _invalid("transfer.table", transfer.table,
                       f"only {len(rows)} of its {len(frame)} rows have a valid "
                       f"{rep.input_column} and a {transfer.property} value; a source needs "
                       f"at least 8")
    return SourceData("table", str(path), transfer.property, transfer.unit, factor,
                      _file_sha256(path), rows, dropped)


def _read_campaign(config: CampaignConfig, features: CampaignFeatures, root: Path
                   ) -> SourceData:
    from e2t_discovery.loop.models import training_data

    transfer = config.transfer
    assert transfer is not None and transfer.campaign is not None
    name = transfer.campaign
    db = root / name / "campaign.duckdb"
    if not db.is_file():
        raise _invalid("transfer.campaign", name,
                       f"there is no campaign {name} in {root}; create it first, or pass "
                       f"the --dir that holds it")
    with Store.open(db, read_only=True, name=name) as store:
        other = CampaignConfig.from_dict(store.campaign_info()["config"],
                                         source=f"campaign {name}", check_model=False)
        mine, theirs = config.representation, other.representation
        if (mine.kind, dict(mine.featurizer)) != (theirs.kind, dict(theirs.featurizer)):
            raise _invalid("transfer.campaign", name,
                           f"campaign {name} describes materials as {theirs.kind} "
                           f"({theirs.input_column}, featurizer {dict(theirs.featurizer)}), "
                           f"this campaign as {mine.kind} ({mine.input_column}, featurizer "
                           f"{dict(mine.featurizer)}); a source must describe materials "
                           f"the same way")
        if store.measurements(other.target.property).empty:
            raise _invalid("transfer.campaign", name,
                           f"campaign {name} has no measurements of "
                           f"{other.target.property} yet; ingest some first")
        data = training_data(store, other).frame
    factor = config.target.factor(other.target.unit)
    unit = other.target.unit if factor is not None else "none"
    values = data["value"].to_numpy(np.float64)
    column = config.domains.column or "domain"
    frame = pd.DataFrame({column: data["domain"]})
    rows, dropped = _featurized_rows(features, data["canonical"].tolist(), values, frame)
    if factor is not None:
        rows["value"] = rows["value"] * factor
    return SourceData("campaign", name, other.target.property, unit, factor,
                      _rows_sha256(rows), rows, dropped)


def _read_model(config: CampaignConfig, features: CampaignFeatures) -> SourceData:
    from e2t_discovery.loop.models import artifact_sha256
    from e2t_discovery.model.loading import is_transfer_folder
    from e2t_discovery.model.transfer import SourceModel, load_transfer

    transfer = config.transfer
    assert transfer is not None and transfer.model is not None
    path = Path(transfer.model)
    try:
        if (path / "source.json").is_file():
            model = SourceModel.load(path)
        elif is_transfer_folder(path):
            model = load_transfer(path).source
        else:
            from e2t_discovery.model import E2TSurrogate

            surrogate = E2TSurrogate.load(path, device="cpu")
            model = SourceModel([surrogate], np.asarray(surrogate._X, dtype=np.float64),
                                np.asarray(surrogate._y, dtype=np.float64).reshape(-1, 1),
                                np.asarray(surrogate._domains), names=["source"])
    except ModelError as exc:
        raise _invalid("transfer.model", transfer.model,
                       f"not a loadable model folder for transfer ({exc})") from None
    width = features.featurizer.n_features
    if model.n_features != width:
        raise _invalid("transfer.model", transfer.model,
                       f"the model takes {model.n_features} input features, this campaign's "
                       f"{config.representation.kind} featurizer gives {width}; a source "
                       f"must describe materials the same way")
    rows = pd.DataFrame({"canonical": pd.Series(dtype=str), "domain": pd.Series(dtype=object),
                         "value": pd.Series(dtype=float)})
    return SourceData("model", str(path), ", ".join(model.names), None, None,
                      artifact_sha256(path), rows, 0, model=model)


def record_source(store: Store, config: CampaignConfig, data: SourceData,
                  directory: Path) -> None:
    """Record a source read by :func:`read_source`; a ``model`` source is cached at once."""
    transfer = config.transfer
    assert transfer is not None
    store.record_transfer_source(
        kind=data.kind, location=data.location, property=data.property, unit=data.unit,
        factor=data.factor, method=transfer.method, sha256=data.sha256,
        n_dropped=data.n_dropped, rows=data.rows)
    if data.model is not None:
        _cache(store, data.model, directory)


def _cache(store: Store, model: SourceModel, directory: Path) -> None:
    from e2t_discovery.loop.models import artifact_sha256

    out = directory / SOURCE_DIR
    tmp = out.with_name(out.name + ".tmp")
    for stale in (tmp, out):
        if stale.exists():  # left by a process killed before it recorded the model
            shutil.rmtree(stale)
    model.save(tmp)
    tmp.rename(out)
    store.record_source_model(SOURCE_DIR.as_posix(), artifact_sha256(out))


def source_settings(config: CampaignConfig) -> dict[str, Any]:
    """Surrogate options of the source model: ``[model.settings]``, then
    ``[transfer.settings.source]`` over them."""
    from e2t_discovery.loop.models import surrogate_settings

    assert config.transfer is not None
    return {**surrogate_settings(config), **dict(config.transfer.settings.get("source", {}))}


def method_options(config: CampaignConfig) -> dict[str, Any]:
    """Options of the transfer method: ``[transfer.settings]`` without ``source``."""
    assert config.transfer is not None
    return {k: v for k, v in config.transfer.settings.items() if k != "source"}


def source_model(store: Store, config: CampaignConfig, features: CampaignFeatures,
                 directory: Path, *, progress: bool = False) -> SourceModel:
    """Return the campaign's fitted source model: the cached one, or fit and cache it.

    Raises:
        ModelError: if the recorded source model's files are missing or were modified.
    """
    from e2t_discovery.loop.models import artifact_sha256
    from e2t_discovery.model.transfer import SourceModel

    record = store.transfer_source()
    name = config.campaign.name
    if record is None:
        raise ModelError(f"campaign {name} has [transfer] but no recorded source; create "
                         f"it again with `e2t init`")
    if record.model_sha256 is not None and record.model_path is not None:
        path = directory / record.model_path
        if not path.is_dir() or artifact_sha256(path) != record.model_sha256:
            raise ModelError(f"the source model of campaign {name} in {path} is missing or "
                             f"was modified; create the campaign again")
        return SourceModel.load(path)
    rows = store.transfer_source_rows()
    X = features.model_input(rows["canonical"].astype(str).tolist())
    groups = (None if config.domains.method == "clustering"
              else rows["domain"].fillna("none").astype(str).to_numpy())
    settings = source_settings(config)
    model = SourceModel.fit(X, rows["value"].to_numpy(np.float64), groups, settings=settings,
                            seed=int(settings.get("seed", 0)), names=[record.property or "source"],
                            progress=progress)
    _cache(store, model, directory)
    return model
