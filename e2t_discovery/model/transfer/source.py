"""The source side of a transfer: one GP-head E2T surrogate per source property.

A source table has ``n`` rows of inputs (the same featurization as the target: the same
featurizer, the same columns) and ``p`` source properties, in their own units; a row may
miss some properties (NaN). :meth:`SourceModel.fit` meta-trains one
:class:`~e2t_discovery.model.E2TSurrogate` (GP head) per property on the rows that have
it. The transfer methods use the source models' predictions (``affine``), their learned
kernels (``finetune``, the residual of ``affine``, the data kernel of ``multitask``) and
the raw source rows (``multitask``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from e2t_discovery.exceptions import ModelError
from e2t_discovery.model.surrogate import E2TSurrogate

__all__ = ["SourceModel", "as_matrix", "best_source"]

FORMAT_VERSION = 1


def as_matrix(y: Any, n: int, what: str) -> np.ndarray:
    """``n`` or ``n x p`` values as a float ``n x p`` matrix (NaN kept: a missing value).

    Raises:
        ModelError: on the wrong number of rows, or infinite values.
    """
    arr = np.asarray(y, dtype=np.float64)
    arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ModelError(f"{what} has shape {np.shape(y)} for {n} input rows; pass n or n x p "
                         "values, one row per input row")
    if np.isinf(arr).any():
        raise ModelError(f"{what} contains infinite values; drop those rows or set them NaN")
    return arr


def best_source(pred: np.ndarray, y: np.ndarray) -> int:
    """The source column whose predictions correlate best (``|r|``) with ``y``.

    Only target *training* rows enter (``pred`` are the source predictions at those
    rows); ties and fewer than three rows give column 0.
    """
    if pred.shape[1] == 1 or y.size < 3 or y.std() == 0:
        return 0
    scores = []
    for j in range(pred.shape[1]):
        col = pred[:, j]
        scores.append(0.0 if col.std() == 0 else abs(float(np.corrcoef(col, y)[0, 1])))
    return int(np.argmax(scores))


class SourceModel:
    """One fitted GP-head E2T surrogate per source property.

    Args:
        models: The fitted surrogates, one per property (``head="gp"``).
        X: ``n x d`` source inputs.
        Y: ``n x p`` source values (NaN where a row lacks a property).
        groups: ``n`` domain labels of the source rows (int codes), or None.
        names: ``p`` property names.
    """

    def __init__(self, models: Sequence[E2TSurrogate], X: np.ndarray, Y: np.ndarray,
                 groups: np.ndarray | None = None, names: Sequence[str] | None = None) -> None:
        if not models:
            raise ModelError("a source model needs at least one fitted surrogate")
        for m in models:
            if m.config.head != "gp" or m.config.encoder != "mlp":
                raise ModelError("transfer needs GP-head surrogates on descriptor arrays "
                                 f"(head='gp', encoder='mlp'); got head={m.config.head!r}")
        self.models = list(models)
        self.X, self.Y, self.groups = X, Y, groups
        self.names = list(names) if names is not None else [f"source{j}" for j in
                                                            range(len(models))]

    @property
    def n_sources(self) -> int:
        """Number of source properties ``p``."""
        return len(self.models)

    @property
    def n_features(self) -> int:
        """Input width ``d``."""
        return int(self.X.shape[1])

    @classmethod
    def fit(cls, X: Any, y: Any, groups: Any = None, *, settings: dict[str, Any] | None = None,
            seed: int = 0, names: Sequence[str] | None = None,
            progress: bool = False) -> SourceModel:
        """Meta-train one surrogate per source property.

        Args:
            X: ``n x d`` source inputs (featurized as the target inputs will be).
            y: ``n`` or ``n x p`` source values in their own units; NaN = missing.
            groups: ``n`` domain labels (episodes hold out whole domains), or None for
                k-means domains.
            settings: :class:`~e2t_discovery.model.SurrogateConfig` options (``head`` must
                stay ``gp``), e.g. a preset of :mod:`~e2t_discovery.model.presets`;
                ``device`` defaults to ``cpu`` (the transfer models run on the CPU).
            seed: Seed of every surrogate.
            names: ``p`` property names.
            progress: Show the surrogates' progress bars.

        Raises:
            ModelError: on bad shapes, or a property with fewer than 8 values.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ModelError(f"source X has shape {X.shape}; pass an n x d array")
        Y = as_matrix(y, X.shape[0], "source y")
        if names is not None and len(names) != Y.shape[1]:
            raise ModelError(f"{len(names)} names for {Y.shape[1]} source properties")
        codes = None if groups is None else _codes(groups, X.shape[0])
        opts = {"device": "cpu", **(settings or {}), "seed": seed}
        if opts.get("head", "gp") not in ("gp", "auto"):
            raise ModelError(f"transfer needs the GP head; settings has head={opts['head']!r}")
        models = []
        for j in range(Y.shape[1]):
            rows = np.flatnonzero(np.isfinite(Y[:, j]))
            if rows.size < 8:
                raise ModelError(f"source property {j} has {rows.size} values; need >= 8")
            g = None if codes is None else codes[rows]
            models.append(E2TSurrogate(**opts).fit(X[rows], Y[rows, j], g, progress=progress))
        return cls(models, X, Y, codes, names)

    # ------------------------------------------------------------------ prediction
    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent means and variances of every source property: each ``n x p``, source units."""
        means, lvars = [], []
        for m in self.models:
            mean, std = m.predict(X, return_std=True)
            means.append(mean)
            lvars.append(np.maximum(std**2 - m.noise_std**2, 0.0))
        return np.stack(means, 1), np.stack(lvars, 1)

    def joint_torch(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Differentiable joint posteriors of every property (source units).

        ``b x q x d`` inputs -> mean ``p x b x q``, covariance ``p x b x q x q``.
        """
        parts = [m.joint_posterior_torch(x) for m in self.models]
        return torch.stack([p[0] for p in parts]), torch.stack([p[1] for p in parts])

    def scales(self) -> tuple[np.ndarray, np.ndarray]:
        """Each property's standardization (mean ``p``, std ``p``) in source units."""
        return (np.array([m.y_mean for m in self.models]),
                np.array([m.y_std for m in self.models]))

    def kernel(self, j: int, learned: bool | None = None) -> Any:
        """The GPyTorch kernel of property ``j``'s first member (shared, not a copy).

        Args:
            j: Source column.
            learned: Include the meta-learned part; None = as the gate left it.
        """
        return self.models[j].members[0].kernel(learned)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> None:
        """Write ``source.json``, ``source.safetensors`` and one folder per property."""
        from safetensors.numpy import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for j, m in enumerate(self.models):
            m.save(out / f"property{j}")
        arrays = {"X": np.ascontiguousarray(self.X), "Y": np.ascontiguousarray(self.Y)}
        if self.groups is not None:
            arrays["groups"] = np.ascontiguousarray(self.groups)
        save_file(arrays, str(out / "source.safetensors"))
        meta = {"format": FORMAT_VERSION, "names": self.names, "n_sources": self.n_sources}
        (out / "source.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> SourceModel:
        """Load a source model written by :meth:`save`.

        Raises:
            ModelError: if files are missing, corrupt or from another format version.
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        src = Path(directory)
        try:
            meta = json.loads((src / "source.json").read_text())
            arrays = load_file(str(src / "source.safetensors"))
        except (OSError, json.JSONDecodeError, SafetensorError) as exc:
            raise ModelError(f"cannot load the source model from {src}: {exc}") from exc
        if meta.get("format") != FORMAT_VERSION:
            raise ModelError(f"source model in {src} has format {meta.get('format')!r}; this "
                             f"code reads {FORMAT_VERSION}")
        models = [E2TSurrogate.load(src / f"property{j}", device="cpu")
                  for j in range(int(meta["n_sources"]))]
        return cls(models, arrays["X"], arrays["Y"], arrays.get("groups"), meta["names"])


def _codes(groups: Any, n: int) -> np.ndarray:
    from e2t_discovery.model.episodes import encode_domains

    return encode_domains(np.asarray(groups), n)
