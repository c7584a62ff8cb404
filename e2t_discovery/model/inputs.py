"""Input kinds of the surrogate: how raw inputs become encoder batches.

The surrogate is identical for every encoder except for this layer. An input kind
validates raw inputs, fits what must be fitted on training data (standardization),
selects rows as an encoder batch, builds the encoder, and turns inputs into plain arrays
for saving:

- :class:`VectorInputs` (``encoder="mlp"``): ``n x d`` float arrays, standardized, fed to
  :class:`~e2t_discovery.model.encoder.MLPEncoder`;
- :class:`GraphInputs` (``encoder="graph"``): lists of
  :class:`~e2t_discovery.featurize.graph.CrystalGraph`, fed to the crystal-graph encoder of
  :mod:`e2t_discovery.model.graph_encoder`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from e2t_discovery.exceptions import ModelError
from e2t_discovery.featurize.graph import CrystalGraph
from e2t_discovery.model.config import SurrogateConfig
from e2t_discovery.model.encoder import MLPEncoder, Standardizer
from e2t_discovery.model.kernel_path import KernelFeatures

__all__ = ["InputKind", "VectorInputs", "GraphInputs", "make_inputs"]


class InputKind:
    """Interface of an input kind (see the module docstring)."""

    name = ""

    def validate(self, X: Any) -> Any:
        """Check raw inputs and return them in canonical form; raise ModelError if bad."""
        raise NotImplementedError

    def length(self, X: Any) -> int:
        """Number of items in canonical inputs."""
        return len(X)

    def fit(self, X: Any) -> None:
        """Fit preprocessing on training inputs."""

    def prepare(self, X: Any, device: torch.device) -> Any:
        """Turn canonical inputs into a form that :meth:`select` indexes quickly."""
        raise NotImplementedError

    def select(self, prepared: Any, idx: np.ndarray) -> Any:
        """Return the encoder batch of rows ``idx`` of prepared inputs."""
        raise NotImplementedError

    def concat(self, a: Any, b: Any) -> Any:
        """Concatenate two canonical inputs."""
        raise NotImplementedError

    def build_encoder(self, config: SurrogateConfig, X: Any) -> nn.Module:
        """Build a fresh encoder for these inputs (needs ``.out_dim``)."""
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        """Fitted preprocessing as arrays (saved with the weights)."""
        return {}

    def load_state(self, arrays: dict[str, np.ndarray], config: SurrogateConfig) -> None:
        """Restore what :meth:`state` returned."""

    def to_arrays(self, X: Any) -> dict[str, np.ndarray]:
        """Canonical inputs as named arrays (for the saved support set)."""
        raise NotImplementedError

    def from_arrays(self, arrays: dict[str, np.ndarray]) -> Any:
        """Inverse of :meth:`to_arrays`."""
        raise NotImplementedError


class VectorInputs(InputKind):
    """Fixed-length descriptor vectors (``n x d``), standardized with stored statistics."""

    name = "mlp"

    def __init__(self, clip: float = 10.0, transform: str = "none", kernel: str = "tanimoto",
                 kernel_dim: int = 0, seed: int = 0) -> None:
        self.clip = clip
        self.transform = transform
        self.kernel = kernel
        self.kernel_dim = kernel_dim
        self.seed = seed
        self.standardizer: Standardizer | None = None
        self.kernel_features: KernelFeatures | None = None

    def _pre(self, X: np.ndarray) -> np.ndarray:
        """Apply the configured elementwise transform (``log1p`` needs X > -1)."""
        if self.transform == "log1p":
            if (X <= -1).any():
                raise ModelError("input_transform='log1p' needs inputs > -1 (counts); "
                                 "use input_transform='none' for signed descriptors")
            return np.log1p(X)
        return X

    def validate(self, X: Any) -> np.ndarray:
        """Return ``X`` as a finite ``n x d`` float32 array matching the fitted width."""
        if isinstance(X, list) and X and isinstance(X[0], CrystalGraph):
            raise ModelError("got crystal graphs for encoder='mlp'; pass an n x d array "
                             "or build the surrogate with encoder='graph'")
        arr = np.asarray(X, dtype=np.float32)
        if arr.ndim != 2:
            raise ModelError(f"X has shape {arr.shape}; pass a 2-D array n x d")
        if self.standardizer is not None and arr.shape[1] != self.standardizer.dim:
            raise ModelError(
                f"X has {arr.shape[1]} columns but the model was fitted on "
                f"{self.standardizer.dim}; featurize with the same featurizer"
            )
        if not np.isfinite(arr).all():
            raise ModelError("X contains NaN or infinite values; drop or impute those rows")
        return arr

    def fit(self, X: np.ndarray) -> None:
        """Fit the standardizer (and the kernel path's landmarks when configured)."""
        pre = self._pre(X)
        self.standardizer = Standardizer.fit(pre, clip=self.clip)
        self.kernel_features = None
        if self.kernel_dim > 0:
            self.kernel_features = KernelFeatures.fit(
                pre, self.standardizer, self.kernel, self.kernel_dim, self.seed)

    def _std(self) -> Standardizer:
        if self.standardizer is None:
            raise ModelError("input standardizer is not fitted; call fit first")
        return self.standardizer

    def prepare(self, X: np.ndarray, device: torch.device) -> Tensor:
        """Standardize and move to the device: ``n x d`` float32 tensor.

        With a kernel path the kernel features are appended: ``n x (d + m)``.
        """
        if self.kernel_features is None:
            return torch.from_numpy(self._std().transform(self._pre(X))).to(device)
        batch = 8192
        parts = [self.prepare_torch(torch.from_numpy(np.ascontiguousarray(X[i:i + batch]))
                                    .to(device)) for i in range(0, X.shape[0], batch)]
        if not parts:
            width = self._std().dim + self.kernel_features.dim
            return torch.zeros(0, width, device=device)
        return torch.cat(parts)

    def prepare_torch(self, x: Tensor) -> Tensor:
        """Differentiable :meth:`prepare` of raw inputs ``... x d`` (for BoTorch)."""
        x = x.to(torch.float32)
        if self.transform == "log1p":
            x = torch.log1p(x)
        z = self._std().transform_torch(x)
        if self.kernel_features is None:
            return z
        return torch.cat([z, self.kernel_features.transform_torch(x, z)], dim=-1)

    def select(self, prepared: Tensor, idx: np.ndarray) -> Tensor:
        """Rows ``idx`` of the prepared tensor."""
        return prepared[torch.as_tensor(idx, device=prepared.device)]

    def concat(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Stack rows."""
        return np.concatenate([a, b], axis=0)

    def build_encoder(self, config: SurrogateConfig, X: np.ndarray) -> nn.Module:
        """An :class:`MLPEncoder` of the configured shape."""
        kdim = self.kernel_features.dim if self.kernel_features is not None else 0
        return MLPEncoder(self._std().dim, config.hidden, config.embed_dim, config.dropout,
                          config.layer_norm, config.linear_dim, kernel_dim=kdim)

    def state(self) -> dict[str, np.ndarray]:
        """Standardizer mean and scale (and the kernel path's landmarks and map)."""
        std = self._std()
        out = {"input.mean": std.mean, "input.scale": std.scale}
        if self.kernel_features is not None:
            out.update({f"input.kernel.{k}": v for k, v in self.kernel_features.state().items()})
        return out

    def load_state(self, arrays: dict[str, np.ndarray], config: SurrogateConfig) -> None:
        """Restore the standardizer and the kernel path."""
        self.standardizer = Standardizer(arrays["input.mean"], arrays["input.scale"],
                                         config.input_clip)
        kernel = {k[len("input.kernel."):]: v for k, v in arrays.items()
                  if k.startswith("input.kernel.")}
        self.kernel_features = (KernelFeatures.from_state(kernel, config.kernel)
                                if kernel else None)

    def to_arrays(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """``{"X": X}``."""
        return {"X": np.ascontiguousarray(X, dtype=np.float32)}

    def from_arrays(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`to_arrays`."""
        return np.asarray(arrays["X"], dtype=np.float32)


class GraphInputs(InputKind):
    """Crystal graphs, embedded by the message-passing encoder of ``graph_encoder``."""

    name = "graph"

    def __init__(self) -> None:
        self.device = torch.device("cpu")

    def validate(self, X: Any) -> list[CrystalGraph]:
        """Return ``X`` as a list of :class:`CrystalGraph`."""
        items = list(X) if not isinstance(X, np.ndarray) else None
        if items is None or not all(isinstance(g, CrystalGraph) for g in items):
            raise ModelError("encoder='graph' needs a list of CrystalGraph; get them from "
                             "get_featurizer('structure').graphs(items)")
        return items

    def prepare(self, X: list[CrystalGraph], device: torch.device) -> list[CrystalGraph]:
        """Graphs stay numpy; the encoder batches and moves them itself."""
        self.device = device
        return X

    def select(self, prepared: list[CrystalGraph], idx: np.ndarray) -> list[CrystalGraph]:
        """The graphs at ``idx``."""
        return [prepared[int(i)] for i in idx]

    def concat(self, a: list[CrystalGraph], b: list[CrystalGraph]) -> list[CrystalGraph]:
        """Join the lists."""
        return list(a) + list(b)

    def build_encoder(self, config: SurrogateConfig, X: list[CrystalGraph]) -> nn.Module:
        """Build the crystal-graph encoder sized from the first graph."""
        from e2t_discovery.model.graph_encoder import build_graph_encoder

        return build_graph_encoder(X, out_dim=config.embed_dim, **config.graph_params)

    def to_arrays(self, X: list[CrystalGraph]) -> dict[str, np.ndarray]:
        """Concatenate every graph's arrays, with per-graph node and edge counts."""
        if not X:
            raise ModelError("cannot save an empty support set")
        out = {k: np.concatenate([g.to_arrays()[k] for g in X], axis=axis)
               for k, axis in (("node_features", 0), ("edge_index", 1),
                               ("edge_features", 0))}
        out["global_features"] = np.stack([g.global_features for g in X])
        out["n_nodes"] = np.array([g.n_nodes for g in X], dtype=np.int64)
        out["n_edges"] = np.array([g.n_edges for g in X], dtype=np.int64)
        return out

    def from_arrays(self, arrays: dict[str, np.ndarray]) -> list[CrystalGraph]:
        """Inverse of :meth:`to_arrays`."""
        node_off = np.concatenate([[0], np.cumsum(arrays["n_nodes"])])
        edge_off = np.concatenate([[0], np.cumsum(arrays["n_edges"])])
        graphs = []
        for i in range(len(arrays["n_nodes"])):
            n0, n1, e0, e1 = node_off[i], node_off[i + 1], edge_off[i], edge_off[i + 1]
            graphs.append(CrystalGraph.from_arrays({
                "node_features": arrays["node_features"][n0:n1],
                "edge_index": arrays["edge_index"][:, e0:e1],
                "edge_features": arrays["edge_features"][e0:e1],
                "global_features": arrays["global_features"][i],
            }))
        return graphs


def make_inputs(config: SurrogateConfig) -> InputKind:
    """Return the input kind of a configuration."""
    if config.encoder == "mlp":
        return VectorInputs(config.input_clip, config.input_transform, config.kernel,
                            config.kernel_dim, config.seed)
    return GraphInputs()
