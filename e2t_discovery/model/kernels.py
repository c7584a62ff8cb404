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
plain CPU matrices of mostly zeros (fingerprints at inference) go through a
:class:`MinMaxIndex` of the smaller side instead: one SciPy sparse-dense product for all
thresholds. A GP posterior keeps the index of its support, built once.
"""

from __future__ import annotations

import math
from typing import Any

import gpytorch
import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["BlockMinMaxIndex", "InputMap", "MinMaxIndex", "MinMaxKernel", "MappedKernel",
           "minmax_similarity"]


def minmax_similarity(x1: Tensor, x2: Tensor) -> Tensor:
    """MinMax similarity matrix of non-negative vectors.

    Integer counts use thresholded matrix products; other non-negative inputs use an L1
    distance, ``sum min = (|a|_1 + |b|_1 - |a - b|_1) / 2``. Two all-zero rows have
    similarity 1.

    Shapes: ``... x n x d``, ``... x m x d`` -> ``... x n x m``.
    """
    if _sparse_path(x1, x2):
        n1, n2 = x1.numpy(), x2.numpy()
        flip = n1.shape[0] < n2.shape[0]
        index = MinMaxIndex.build(n1 if flip else n2)
        if index is not None:
            sim = index.similarity(n2 if flip else n1)  # the larger side streams
            if sim is not None:
                return torch.from_numpy(sim.T if flip else sim).to(x1.dtype)
    s1, s2 = x1.sum(-1), x2.sum(-1)
    total = s1.unsqueeze(-1) + s2.unsqueeze(-2)
    integer = torch.equal(x1, x1.round()) and torch.equal(x2, x2.round())
    if integer:
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


class MinMaxIndex:
    """One side of MinMax products on integer counts, prepared once for many queries.

    For counts ``sum_j min(a_j, b_j) = sum_j sum_{t=1..a_j} [b_j >= t]``. The index holds,
    for every column ``j`` and threshold ``t = 1 .. max_i b_ij``, the 0/1 row
    ``[b_.j >= t]`` of its ``m`` indexed vectors: a stacked ``R x m`` float32 matrix
    (``R = sum_j max_i b_ij``; about 4,000 for 2048-bit Morgan counts of polymers). A
    query ``a`` becomes a sparse 0/1 row with one entry per (column, threshold) it reaches,
    so the numerators of a whole batch are *one* sparse-dense product (cost: the query's
    summed counts, ~80 for a polymer, times ``m``), exact in float32 (sums of 0/1
    products). The support side of a GP posterior is indexed once and every screened
    candidate streams through it.

    Build it with :meth:`build` (None unless the inputs are non-negative integer counts).
    """

    def __init__(self, counts: np.ndarray) -> None:
        b = np.asarray(counts)
        self.n_rows, self.n_cols = b.shape
        self.col_max = b.max(0).astype(np.int64) if b.size else np.zeros(self.n_cols, np.int64)
        self.offset = np.concatenate([[0], np.cumsum(self.col_max)[:-1]]).astype(np.int64)
        self.sums = b.sum(1).astype(np.float64)
        cols = np.repeat(np.arange(self.n_cols), self.col_max)  # column of each stacked row
        thresholds = np.arange(cols.size) - np.repeat(self.offset, self.col_max) + 1
        b_t = np.ascontiguousarray(b.T)
        self.stack = np.empty((cols.size, self.n_rows), dtype=np.float32)
        for lo in range(0, cols.size, 1024):  # bounded temporaries for large supports
            hi = min(lo + 1024, cols.size)
            self.stack[lo:hi] = b_t[cols[lo:hi]] >= thresholds[lo:hi, None]

    @classmethod
    def build(cls, counts: np.ndarray) -> MinMaxIndex | None:
        """Index ``m x d`` counts, or None when they are not non-negative integers."""
        b = np.asarray(counts)
        if b.ndim != 2 or not _is_count_matrix(b):
            return None
        return cls(b)

    def numerators(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``sum_j min(a_ij, b_kj)`` and row sums of ``n x d`` queries (``n x m``, ``n``).

        The numerators are float32 (exact: sums of 0/1 products), the row sums float64.
        None when the queries are not non-negative integers or have another width.
        """
        a = np.asarray(counts)
        if a.ndim != 2 or a.shape[1] != self.n_cols:
            return None
        rows, cols = _nonzero(a)
        values = a[rows, cols]
        if not _are_counts(values):
            return None
        sums = np.bincount(rows, weights=values, minlength=a.shape[0])
        reach = np.minimum(values.astype(np.int64), self.col_max[cols])
        rows, cols, reach = rows[reach > 0], cols[reach > 0], reach[reach > 0]
        total = int(reach.sum())
        # nonzero is row-major, so the entries are in CSR order already: within a row
        # the stacked indices offset[c] + 0 .. reach-1 increase with the column c
        first = np.cumsum(reach) - reach
        indices = np.repeat(self.offset[cols] - first, reach) + np.arange(total)
        indptr = np.zeros(a.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, weights=reach, minlength=a.shape[0]), out=indptr[1:])
        from scipy import sparse

        query = sparse.csr_matrix((np.ones(total, dtype=np.float32), indices, indptr),
                                  shape=(a.shape[0], self.stack.shape[0]))
        return np.asarray(query @ self.stack), sums

    def similarity(self, counts: np.ndarray) -> np.ndarray | None:
        """MinMax similarities ``n x m`` (float64) of ``n x d`` queries, or None (as above)."""
        found = self.numerators(counts)
        if found is None:
            return None
        num, sums = found
        num64 = num.astype(np.float64)
        den = sums[:, None] + self.sums[None, :]
        den -= num64
        out = np.ones_like(num64)
        np.divide(num64, den, out=out, where=den > 0)
        return out


def _nonzero(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the nonzeros of a 2-D array, row-major.

    Torch's scan is about three times NumPy's on wide fingerprint matrices; read-only
    arrays (which torch will not wrap) and dtypes it lacks go through NumPy.
    """
    if a.flags.writeable and a.dtype in (np.float32, np.float64, np.int64, np.int32):
        where = torch.nonzero(torch.from_numpy(a)).numpy()
        return where[:, 0], where[:, 1]
    rows, cols = np.nonzero(a)
    return rows, cols


def _is_count_matrix(b: np.ndarray) -> bool:
    """True when every entry of ``b`` is a non-negative integer (checked on nonzeros)."""
    return _are_counts(b[b != 0])


def _are_counts(values: np.ndarray) -> bool:
    """True when every value is a non-negative integer."""
    return bool((values >= 0).all() and np.array_equal(values, np.round(values)))


class MinMaxKernel(gpytorch.kernels.Kernel):
    """MinMax (Tanimoto for counts) kernel ``k(a, b) = sum min(a, b) / sum max(a, b)``.

    With ``blocks = B > 1`` the inputs are ``B`` equal-width column blocks (e.g. Morgan
    count fingerprints of radius 0, 1, 2 and 3 side by side, ``PolymerFeaturizer(radius=
    [0, 1, 2, 3])``) and the kernel is the weighted sum of the blocks' MinMax kernels,
    ``sum_b w_b k_b(a, b)`` with ``w = softmax(raw_weights)`` (so ``k(x, x) = 1``; the
    weights are hyperparameters, fitted with the rest). A sum of PSD kernels is PSD.
    Without blocks it is parameter-free (wrap it in a ``ScaleKernel``); inputs must be
    non-negative.
    """

    has_lengthscale = False

    def __init__(self, blocks: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if blocks < 1:
            raise ValueError(f"MinMaxKernel blocks must be >= 1, got {blocks}")
        self.blocks = int(blocks)
        if self.blocks > 1:
            self.register_parameter("raw_weights", nn.Parameter(
                torch.zeros(self.blocks, dtype=torch.float64)))

    @property
    def weights(self) -> Tensor | None:
        """Block weights (``B``, summing to 1), or None without blocks."""
        return torch.softmax(self.raw_weights, -1) if self.blocks > 1 else None

    def _slices(self, d: int) -> list[slice]:
        if d % self.blocks:
            raise ValueError(f"{d} input columns do not split into {self.blocks} "
                             "equal MinMax blocks")
        w = d // self.blocks
        return [slice(i * w, (i + 1) * w) for i in range(self.blocks)]

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        """Kernel matrix ``... x n x m`` (or its diagonal ``... x n`` when ``diag``)."""
        if diag and (x1 is x2 or torch.equal(x1, x2)):  # k(x, x) = 1 (all-zero rows too)
            return torch.ones(x1.shape[:-1], dtype=x1.dtype, device=x1.device)
        if self.blocks == 1:
            return _minmax_diag(x1, x2) if diag else minmax_similarity(x1, x2)
        w = self.weights.to(x1.dtype)  # type: ignore[union-attr]
        out: Tensor | int = 0
        for i, cols in enumerate(self._slices(x1.shape[-1])):
            a, b = x1[..., cols], x2[..., cols]
            out = out + w[i] * (_minmax_diag(a, b) if diag else minmax_similarity(a, b))
        assert isinstance(out, Tensor)
        return out

    def index(self, rows: np.ndarray) -> MinMaxIndex | BlockMinMaxIndex | None:
        """Index ``m x d`` count rows for repeated queries (None unless they are counts).

        Block weights are read now: rebuild the index after the weights change.
        """
        if self.blocks == 1:
            return MinMaxIndex.build(rows)
        parts = [MinMaxIndex.build(rows[:, cols]) for cols in self._slices(rows.shape[1])]
        if any(p is None for p in parts):
            return None
        w = self.weights.detach().cpu().numpy()  # type: ignore[union-attr]
        return BlockMinMaxIndex([p for p in parts if p is not None], w)


class BlockMinMaxIndex:
    """:class:`MinMaxIndex` of each column block, for the blocked :class:`MinMaxKernel`.

    Args:
        parts: One index per block (equal widths, in column order).
        weights: The kernel's block weights at build time.
    """

    def __init__(self, parts: list[MinMaxIndex], weights: np.ndarray) -> None:
        self.parts = parts
        self.weights = np.asarray(weights, dtype=np.float64)
        self.width = parts[0].n_cols

    def similarity(self, counts: np.ndarray) -> np.ndarray | None:
        """Weighted MinMax similarities ``n x m`` (float64) of ``n x d`` queries, or None."""
        a = np.asarray(counts)
        if a.ndim != 2 or a.shape[1] != self.width * len(self.parts):
            return None
        out: np.ndarray | None = None
        for i, part in enumerate(self.parts):
            sim = part.similarity(a[:, i * self.width:(i + 1) * self.width])
            if sim is None:
                return None
            sim *= self.weights[i]
            out = sim if out is None else out + sim
        return out


def _minmax_diag(x1: Tensor, x2: Tensor) -> Tensor:
    """``k(x1_i, x2_i)`` of paired rows (``... x n``)."""
    num = torch.minimum(x1, x2).sum(-1)
    den = torch.maximum(x1, x2).sum(-1)
    return torch.where(den > 0, num / den.clamp_min(1e-12), torch.ones_like(num))


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
