"""Predict candidates with a campaign's model: a frame or a file in, one row out per row.

A row that cannot be featurized (or gets a non-finite prediction) is kept with its
``reject_reason``; nothing stops at a bad row.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from e2t_discovery.exceptions import FeaturizationError, IngestValidationError
from e2t_discovery.loop.features import CampaignFeatures
from e2t_discovery.loop.lab_files import describe_missing_column, read_excel_table, sniff_delimiter
from e2t_discovery.messages import first_line

if TYPE_CHECKING:
    from e2t_discovery.model.protocol import Surrogate

__all__ = ["predict_frame", "predict_file", "read_table"]


def predict_frame(model: Surrogate, features: CampaignFeatures, df: pd.DataFrame, *,
                  base_dir: str | Path | None = None) -> pd.DataFrame:
    """Predict the target for every row of a frame of candidates; never stop at a bad row.

    Args:
        model: The campaign's surrogate.
        features: The campaign's featurization (and domain rules).
        df: Must hold the representation's input column; the id column and the domain
            column are copied through when present.
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
    """
    config = features.config
    rep = config.representation
    if rep.input_column not in df.columns:
        header = [str(c) for c in df.columns]
        raise FeaturizationError(describe_missing_column(
            rep.input_column, header, lambda closest: (
                f"rename {closest!r} to {rep.input_column!r}" if closest else
                f"add the {rep.kind} of each candidate in that column")))
    items = [_resolve(item, rep.kind, base_dir) for item in df[rep.input_column]]
    X, ok, reasons = features.with_rejects(items)
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
    if config.domains.method == "column":  # copied, so kept for rejected rows too
        domain = features.domains_of(df)
    else:
        domain = np.full(n, None, dtype=object)
        if len(valid):
            domain[valid] = features.domains_of(df.iloc[valid], [items[i] for i in valid])
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


def predict_file(model: Surrogate, features: CampaignFeatures, input_path: str | Path,
                 out_path: str | Path) -> pd.DataFrame:
    """Predict every row of a CSV/Excel/Parquet file and write the predictions.

    Relative CIF paths in the input are relative to the input file's folder. The output
    format follows ``out_path``'s suffix (``.parquet``, else CSV). A row that cannot be
    predicted is written with its ``reject_reason`` (see :func:`predict_frame`).

    Returns:
        The predictions written.

    Raises:
        FeaturizationError: if the file cannot be read or lacks the input column.
    """
    input_path, out_path = Path(input_path), Path(out_path)
    frame = read_table(input_path)
    try:
        predictions = predict_frame(model, features, frame, base_dir=input_path.parent)
    except FeaturizationError as exc:
        raise FeaturizationError(f"{input_path}: {exc}") from None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix.lower() in (".parquet", ".pq"):
        predictions.to_parquet(out_path, index=False)
    else:
        predictions.to_csv(out_path, index=False)
    return predictions


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
        raise FeaturizationError(f"{path}: not a readable CSV/Excel/Parquet file "
                                 f"({first_line(exc)})") from None


def _resolve(item: Any, kind: str, base_dir: str | Path | None) -> Any:
    """Make a relative CIF path absolute against ``base_dir`` (other items unchanged)."""
    if kind != "structure" or base_dir is None or not isinstance(item, str) or "\n" in item:
        return item
    path = Path(item)
    return str(path if path.is_absolute() else Path(base_dir) / path)
