"""Kernel path of the MLP encoder: fixed Nystroem features of a kernel on the inputs.

A linear head on ``f(x) = K(x, L) W`` with ``W = K(L, L)^{-1/2}`` (``L`` = landmark rows
drawn from the training inputs) is kernel ridge regression with the Nystroem
approximation of the kernel ``K``. Appending ``f(x)`` to the meta-learned embedding makes
the E2T head a kernel ridge regression on ``K`` plus the learned features: the kernel
supplies a strong similarity prior (the Tanimoto kernel is the standard one for
fingerprints), episodic training learns what extrapolates beyond it. Because ``f`` is a
plain feature map, the head keeps its closed-form posterior, leverage (a kernel-aware
out-of-domain distance), conditioning and save/load unchanged.

Kernels (computed with matrix products, so screening stays BLAS-bound):

- ``tanimoto``: ``x.l / (|x|^2 + |l|^2 - x.l)`` on non-negative inputs (after the input
  transform, before standardization), e.g. Morgan count fingerprints.
- ``rbf``: ``exp(-|z - l|^2 / h)`` on standardized inputs, ``h`` = median squared distance
  between landmarks.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from e2t_discovery.exceptions import ModelError
from e2t_discovery.model.encoder import Standardizer

__all__ = ["KernelFeatures"]

_EIG_TOL = 1e-6  # eigenvalues of K(L, L) below this fraction of the largest are dropped


def _tanimoto(x: Tensor, landmarks: Tensor) -> Tensor:
    dot = x @ landmarks.T
    denom = (x * x).sum(-1, keepdim=True) + (landmarks * landmarks).sum(-1) - dot
    return dot / denom.clamp_min(1e-12)


def _rbf(z: Tensor, landmarks: Tensor, bandwidth: Tensor) -> Tensor:
    d2 = ((z * z).sum(-1, keepdim=True) + (landmarks * landmarks).sum(-1)
          - 2.0 * z @ landmarks.T).clamp_min(0.0)
    return torch.exp(-d2 / bandwidth)


class KernelFeatures:
    """Nystroem feature map of a fixed kernel, fitted on training inputs.

    Args:
        kernel: ``tanimoto`` or ``rbf``.
        landmarks: ``m x d`` landmark rows (transformed inputs for ``tanimoto``,
            standardized ones for ``rbf``).
        projection: ``m x m`` map ``K(L, L)^{-1/2}`` (columns of dropped eigenvalues are 0).
        bandwidth: RBF bandwidth ``h`` (unused by ``tanimoto``).
    """

    def __init__(self, kernel: str, landmarks: np.ndarray, projection: np.ndarray,
                 bandwidth: float = 1.0) -> None:
        self.kernel = kernel
        self.landmarks = np.asarray(landmarks, dtype=np.float32)
        self.projection = np.asarray(projection, dtype=np.float32)
        self.bandwidth = float(bandwidth)
        self._cache: dict[torch.device, tuple[Tensor, Tensor]] = {}

    @property
    def dim(self) -> int:
        """Number of features ``m``."""
        return int(self.projection.shape[1])

    @classmethod
    def fit(cls, X: np.ndarray, standardizer: Standardizer, kernel: str, m: int,
            seed: int = 0) -> KernelFeatures:
        """Draw ``min(m, n)`` distinct landmark rows of ``X`` and build the map.

        Args:
            X: ``n x d`` training inputs after the input transform.
            standardizer: The fitted input standardizer (used by ``rbf``).
            kernel: ``tanimoto`` or ``rbf``.
            m: Number of landmarks.
            seed: Seed of the landmark draw.

        Raises:
            ModelError: if ``tanimoto`` gets negative inputs.
        """
        X = np.asarray(X, dtype=np.float32)
        if kernel == "tanimoto" and (X < 0).any():
            raise ModelError("kernel='tanimoto' needs non-negative inputs (counts); "
                             "use kernel='rbf' for signed descriptors")
        uniq = np.unique(X, axis=0)
        rng = np.random.default_rng(seed + 104729)
        rows = uniq[np.sort(rng.choice(uniq.shape[0], size=min(m, uniq.shape[0]),
                                       replace=False))]
        space = standardizer.transform(rows) if kernel == "rbf" else rows
        lm = torch.from_numpy(space).to(torch.float64)
        bandwidth = 1.0
        if kernel == "rbf":
            d2 = torch.cdist(lm, lm).pow(2)
            off = d2[~torch.eye(lm.shape[0], dtype=torch.bool)]
            bandwidth = float(off.median()) if off.numel() else 1.0
            k_ll = torch.exp(-d2 / max(bandwidth, 1e-12))
        else:
            k_ll = _tanimoto(lm, lm)
        evals, evecs = torch.linalg.eigh((k_ll + k_ll.T) / 2)
        keep = evals > _EIG_TOL * evals.max()
        inv_sqrt = torch.where(keep, evals.clamp_min(1e-300).rsqrt(), torch.zeros_like(evals))
        projection = (evecs * inv_sqrt)[:, keep]
        return cls(kernel, space, projection.numpy(), bandwidth)

    def transform_torch(self, x: Tensor, z: Tensor) -> Tensor:
        """Features ``... x m`` of transformed inputs ``x`` / standardized inputs ``z``."""
        device = x.device
        if device not in self._cache:
            self._cache[device] = (torch.from_numpy(self.landmarks).to(device),
                                   torch.from_numpy(self.projection).to(device))
        lm, proj = self._cache[device]
        if self.kernel == "rbf":
            k = _rbf(z, lm, torch.tensor(self.bandwidth, device=device))
        else:
            k = _tanimoto(x.clamp_min(0.0), lm)
        return k @ proj

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save with the model."""
        return {"landmarks": self.landmarks, "projection": self.projection,
                "bandwidth": np.array([self.bandwidth], dtype=np.float64)}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], kernel: str) -> KernelFeatures:
        """Inverse of :meth:`state`."""
        return cls(kernel, arrays["landmarks"], arrays["projection"],
                   float(np.asarray(arrays["bandwidth"]).reshape(-1)[0]))
