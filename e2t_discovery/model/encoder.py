"""MLP encoder over fixed descriptors, and the input standardizer stored with the model.

The paper's encoder is ``in -> 128 -> 128 -> 16`` with dropout 0.2 and a LayerNorm on the
output. A LayerNorm bounds the embedding, so a linear head on it cannot follow a trend
beyond the training range (see data/README.md on HOIP-GeF). :class:`MLPEncoder`
therefore optionally concatenates a learned linear projection of the standardized input
(the *linear path*) to the normalized MLP output, so predictions can move outward along
directions that are linear in the descriptors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["MLPEncoder", "Standardizer"]


class Standardizer:
    """Column-wise standardization fitted on training inputs.

    Columns with zero spread are centered and left unscaled. Standardized values are
    clipped to ``[-clip, clip]`` so that a rare feature seen far more often in a new
    domain cannot blow up the embedding.

    Args:
        mean: ``d`` column means.
        scale: ``d`` column scales (> 0).
        clip: Absolute bound on standardized values (``inf`` disables clipping).
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray, clip: float = 10.0) -> None:
        self.mean = np.asarray(mean, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)
        self.clip = float(clip)

    @classmethod
    def fit(cls, X: np.ndarray, clip: float = 10.0) -> Standardizer:
        """Fit on ``n x d`` training inputs."""
        X = np.asarray(X, dtype=np.float64)
        std = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(std > 1e-12, std, 1.0), clip)

    @property
    def dim(self) -> int:
        """Number of input columns."""
        return int(self.mean.shape[0])

    def transform_torch(self, x: Tensor) -> Tensor:
        """Standardize a ``... x d`` tensor (differentiable)."""
        mean = torch.as_tensor(self.mean, device=x.device, dtype=x.dtype)
        scale = torch.as_tensor(self.scale, device=x.device, dtype=x.dtype)
        return ((x - mean) / scale).clamp(-self.clip, self.clip)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardize an ``n x d`` array to float32."""
        Z = (np.asarray(X, dtype=np.float32) - self.mean) / self.scale
        return np.clip(Z, -self.clip, self.clip).astype(np.float32)


class MLPEncoder(nn.Module):
    """Map standardized descriptors to embeddings.

    Args:
        in_dim: Number of input descriptors ``d``.
        hidden: Widths of the hidden layers (paper: ``(128, 128)``).
        embed_dim: Width of the MLP embedding (paper: 16).
        dropout: Dropout after each hidden layer (paper: 0.2).
        layer_norm: Apply a LayerNorm to the MLP embedding (paper: True).
        linear_dim: Width of the linear path from the input into the embedding; 0 disables
            it (the paper's encoder).
        kernel_dim: Number of fixed kernel features appended to the input columns (see
            :mod:`~e2t_discovery.model.kernel_path`); they pass into the embedding times a
            learned scale. 0: none.

    Shapes:
        ``forward``: ``n x (in_dim + kernel_dim)`` ->
        ``n x (embed_dim + linear_dim + kernel_dim)``.
    """

    def __init__(
        self,
        in_dim: int,
        hidden: Sequence[int] = (128, 128),
        embed_dim: int = 16,
        dropout: float = 0.2,
        layer_norm: bool = True,
        linear_dim: int = 0,
        kernel_dim: int = 0,
    ) -> None:
        super().__init__()
        self.in_dim = in_dim
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, embed_dim))
        if layer_norm:
            layers.append(nn.LayerNorm(embed_dim))
        self.mlp = nn.Sequential(*layers)
        self.linear = nn.Linear(in_dim, linear_dim, bias=False) if linear_dim > 0 else None
        if self.linear is not None:
            nn.init.normal_(self.linear.weight, std=1.0 / np.sqrt(in_dim))
        self.log_kernel_scale = (nn.Parameter(torch.zeros(())) if kernel_dim > 0 else None)
        self.out_dim = embed_dim + linear_dim + kernel_dim

    def forward(self, x: Tensor) -> Tensor:
        """Embed a batch: ``n x (in_dim + kernel_dim)`` -> ``n x out_dim``."""
        k = None
        if self.log_kernel_scale is not None:
            x, k = x[..., : self.in_dim], x[..., self.in_dim:] * self.log_kernel_scale.exp()
        parts = [self.mlp(x)]
        if self.linear is not None:
            parts.append(self.linear(x))
        if k is not None:
            parts.append(k)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
