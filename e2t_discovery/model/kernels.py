"""GPyTorch kernels the libraries do not have: MinMax on counts, and kernels on a map of x.

- :class:`MinMaxKernel`: ``k(a, b) = sum_j min(a_j, b_j) / sum_j max(a_j, b_j)`` on
  non-negative inputs (for integer counts this is the Tanimoto kernel of the count
  fingerprint). It is positive semi-definite (Ralaivola et al. 2005) and parameter-free;
  wrap it in a ``ScaleKernel``.
- :class:`MappedKernel`: a kernel applied to ``f(x)`` for a fixed or learned module ``f``
  (standardization, or the meta-learned encoder ``phi``), so one model takes raw
  descriptors and each part of an additive kernel sees its own view of them. This is what
  lets the fitted E2T surrogate be a plain BoTorch ``SingleTaskGP`` over raw inputs.
- :class:`InputMap`: the fixed maps those kernels use (column z-scores, the training unit
  cube), a module of clipped affine maps.

:func:`minmax_similarity` computes MinMax matrices with matrix products: for integer
counts ``sum_j min(a_j, b_j) = sum_t [a >= t] . [b >= t]`` (``t = 1 .. max``), restricted
at each ``t`` to the columns where both sides reach ``t`` (few, for sparse fingerprints);
plain CPU matrices of mostly zeros (fingerprints at inference) go through SciPy's sparse
products instead, ``nnz x m`` per threshold.
"""

from __future__ import annotations

import math
from typing import Any

import gpytorch
import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["InputMap", "MinMaxKernel", "MappedKernel", "minmax_similarity"]


def minmax_similarity(x1: Tensor, x2: Tensor) -> Tensor:
    """MinMax similarity matrix of non-negative vectors.

    Integer counts use thresholded matrix products; other non-negative inputs use an L1
    distance, ``sum min = (|a|_1 + |b|_1 - |a - b|_1) / 2``. Two all-zero rows have
    similarity 1.

    Shapes: ``... x n x d``, ``... x m x d`` -> ``... x n x m``.
    """
    s1, s2 = x1.sum(-1), x2.sum(-1)
    total = s1.unsqueeze(-1) + s2.unsqueeze(-2)
    integer = torch.equal(x1, x1.round()) and torch.equal(x2, x2.round())
    if integer and _sparse_path(x1, x2):
        num = torch.from_numpy(_sparse_numerator(x1.numpy(), x2.numpy())).to(x1.dtype)
    elif integer:
        max1 = x1.reshape(-1, x1.shape[-1]).amax(0) if x1.numel() else x1.new_zeros(x1.shape[-1])
        max2 = x2.reshape(-1, x2.shape[-1]).amax(0) if x2.numel() else x2.new_zeros(x2.shape[-1])
        shared = torch.minimum(max1, max2)
        # 0/1 products summed: integers below 2**24, exact in float32 at half the cost
        num = torch.zeros(total.shape, dtype=torch.float32, device=x1.device)
        top = int(shared.max().item()) if shared.numel() else 0
        for t in range(1, top + 1):
            cols = torch.nonzero(shared >= t).flatten()
            a = (x1.index_select(-1, cols) >= t).to(torch.float32)
            b = (x2.index_select(-1, cols) >= t).to(torch.float32)
            num = num + a @ b.transpose(-1, -2)
        num = num.to(x1.dtype)
    else:
        num = 0.5 * (total - torch.cdist(x1, x2, p=1))
    den = total - num
    return torch.where(den > 0, num / den.clamp_min(1e-12), torch.ones_like(num))


def _sparse_path(x1: Tensor, x2: Tensor) -> bool:
    """Use SciPy's sparse products: plain CPU matrices, no gradient, mostly zeros."""
    if x1.dim() != 2 or x2.dim() != 2 or x1.device.type != "cpu" or x2.device.type != "cpu":
        return False
    if x1.requires_grad or x2.requires_grad or not x1.numel() or not x2.numel():
        return False
    big = x1 if x1.shape[0] >= x2.shape[0] else x2
    return bool((big != 0).float().mean() < 0.2)


def _sparse_numerator(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_j min(a_ij, b_kj)`` for integer counts: ``n x d``, ``m x d`` -> ``n x m``.

    The side with more rows is kept as its nonzero entries; for each threshold ``t`` the
    entries that reach ``t`` form a sparse 0/1 matrix over just the columns they use, and
    it multiplies the other side's ``[b >= t]`` on those columns (float32 sums of 0/1
    products: exact). Cost per threshold: ``nnz_t x m``, shrinking fast with ``t``.
    """
    from scipy import sparse

    flip = a.shape[0] < b.shape[0]
    many, few = (b, a) if flip else (a, b)
    rows, cols = np.nonzero(many)
    counts = many[rows, cols]
    few_t = np.ascontiguousarray(few.T)  # d x m
    top = int(min(counts.max(initial=0), few.max(initial=0)))
    num = np.zeros((many.shape[0], few.shape[0]), dtype=np.float32)
    for t in range(1, top + 1):
        keep = counts >= t
        if not keep.any():
            break
        used, local = np.unique(cols[keep], return_inverse=True)
        mat = sparse.csr_matrix((np.ones(local.size, dtype=np.float32), (rows[keep], local)),
                                shape=(many.shape[0], used.size))
        num += mat @ (few_t[used] >= t).astype(np.float32)
    return (num.T if flip else num).astype(np.float64)


class MinMaxKernel(gpytorch.kernels.Kernel):
    """MinMax (Tanimoto for counts) kernel ``k(a, b) = sum min(a, b) / sum max(a, b)``.

    Parameter-free (wrap it in a ``ScaleKernel``); inputs must be non-negative.
    """

    has_lengthscale = False

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        """Kernel matrix ``... x n x m`` (or its diagonal ``... x n`` when ``diag``)."""
        if diag:
            if x1 is x2 or torch.equal(x1, x2):  # k(x, x) = 1 (all-zero rows too)
                return torch.ones(x1.shape[:-1], dtype=x1.dtype, device=x1.device)
            num = torch.minimum(x1, x2).sum(-1)
            den = torch.maximum(x1, x2).sum(-1)
            return torch.where(den > 0, num / den.clamp_min(1e-12), torch.ones_like(num))
        return minmax_similarity(x1, x2)


class MappedKernel(gpytorch.kernels.Kernel):
    """The kernel ``base(f(x1), f(x2))`` for a module ``f`` (``... x d -> ... x p``).

    Args:
        base: Kernel on the mapped inputs (its hyperparameters stay its own).
        fn: The map; a learned encoder is trained with the rest of the model.
    """

    def __init__(self, base: gpytorch.kernels.Kernel, fn: nn.Module) -> None:
        super().__init__()
        self.base = base
        self.fn = fn

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        """Kernel matrix of the mapped inputs (``... x n x m``, or ``... x n`` if ``diag``)."""
        z1 = self.fn(x1)
        z2 = z1 if x2 is x1 else self.fn(x2)
        return self.base.forward(z1, z2, diag=diag, **params)


class InputMap(nn.Module):
    """Fixed affine map of (optionally ``log1p``-ed) inputs, clipped: ``... x d -> ... x d``.

    Args:
        shift: ``d`` values subtracted.
        scale: ``d`` positive divisors.
        log1p: Apply ``log1p`` first (count inputs).
        clip: Bound on the mapped values (``inf`` disables clipping).
    """

    def __init__(self, shift: Tensor, scale: Tensor, log1p: bool = False,
                 clip: float = math.inf) -> None:
        super().__init__()
        self.register_buffer("shift", shift.to(torch.float64))
        self.register_buffer("scale", scale.to(torch.float64))
        self.log1p = log1p
        self.clip = clip

    def forward(self, x: Tensor) -> Tensor:
        """Map ``x`` (differentiable)."""
        if self.log1p:
            x = torch.log1p(x.clamp_min(0.0))
        z = (x - self.shift) / self.scale  # type: ignore[operator]
        return z.clamp(-self.clip, self.clip) if math.isfinite(self.clip) else z

    @classmethod
    def standardize(cls, x: Tensor, log1p: bool = False, clip: float = 10.0) -> InputMap:
        """Column z-scores of (``log1p``-ed) training inputs ``n x d``."""
        v = torch.log1p(x.clamp_min(0.0)) if log1p else x
        std = v.std(0, unbiased=False)
        return cls(v.mean(0), torch.where(std > 1e-12, std, torch.ones_like(std)), log1p, clip)

    @classmethod
    def unit_cube(cls, x: Tensor) -> InputMap:
        """Scale training inputs ``n x d`` to ``[0, 1]`` per column (BoTorch's advice)."""
        lo, hi = x.amin(0), x.amax(0)
        return cls(lo, torch.where(hi - lo > 1e-12, hi - lo, torch.ones_like(lo)))
