"""The GP head's posterior given one support set: closed forms in float64.

Everything runs through the Cholesky factor ``L`` of ``K_SS + s2 I``: mean
``m + K_xS alpha`` with cached ``alpha = (K_SS + s2 I)^-1 (y - m)``, latent variance
``k(x, x) - |L^-1 K_Sx|^2``, or, for large support sets, ``k(x, x) - |R K_Sx|^2`` with the
low-rank factor ``R`` of :func:`variance_root` (the role of GPyTorch's LOVE cache). The
kernel and the noise are the head's (:class:`~e2t_discovery.model.gp_head.GPHead`).
With a fixed MinMax base on CPU count inputs, ``K_Sx`` of a batch comes from the support's
:class:`~e2t_discovery.model.kernels.MinMaxIndex`, built once per posterior on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from e2t_discovery.model.kernels import BlockMinMaxIndex, MinMaxIndex

if TYPE_CHECKING:
    from e2t_discovery.model.gp_head import GPHead

__all__ = ["GPPosterior", "InducingPosterior", "cholesky_with_jitter",
           "indexed_base_cross", "variance_root"]

_JITTER = 1e-8
#: A posterior's support index: None = not built yet, False = does not apply.
_Index = MinMaxIndex | BlockMinMaxIndex | bool | None


@dataclass
class GPPosterior:
    """The head's posterior given one support set (standardized target units, float64).

    Attributes:
        head: The head whose kernel and noise it uses.
        x: ``n x d`` support inputs (raw).
        chol: ``n x n`` lower Cholesky factor of ``K_SS + s2 I``.
        alpha: ``n`` vector ``(K_SS + s2 I)^-1 (y - m)``.
        embedding: ``n x p`` learned embeddings of the support (None without phi).
        var_rank: Rank of the variance factor :attr:`root` (0: variances exact).
    """

    head: GPHead
    x: Tensor
    chol: Tensor
    alpha: Tensor
    embedding: Tensor | None = None
    var_rank: int = 0
    _root: Tensor | None = field(default=None, init=False, repr=False)
    _index: _Index = field(default=None, init=False, repr=False)

    @property
    def root(self) -> Tensor | None:
        """``r x n`` factor ``R`` with ``R^T R ~ (K_SS + s2 I)^-1`` (see :func:`variance_root`).

        None when ``var_rank`` is 0 or the support holds at most ``4 * var_rank`` rows (the
        variances of :meth:`moments` are then exact). Built on first use, so
        conditioning stays one factorization.
        """
        n = self.chol.shape[-1]
        if self.var_rank <= 0 or 4 * self.var_rank >= n:
            return None
        if self._root is None:
            chol, noise = self.chol, self.noise_var.detach()
            # K_SS Q = L (L^T Q) - s2 Q: n^2 per column, never the n^3 product L L^T
            self._root = variance_root(lambda q: chol @ (chol.T @ q) - noise * q, noise,
                                       self.var_rank, n=n)
        return self._root

    @property
    def noise_var(self) -> Tensor:
        """Observation-noise variance ``s2`` (scalar tensor)."""
        return self.head.noise_var

    def _cross(self, x: Tensor, e: Tensor | None) -> Tensor:
        base = self._base_cross(x)
        return self.head.gram(self.x, x, base=base, e1=self.embedding, e2=e)  # n x m

    def _base_cross(self, x: Tensor) -> Tensor | None:
        """Unscaled MinMax block ``n x m`` through the support's index, or None."""
        self._index, block = indexed_base_cross(self.head, self.x, x, self._index)
        return block

    def mean(self, x: Tensor) -> Tensor:
        """Predictive mean (``m x d`` -> ``m``)."""
        k_sx = self._cross(x, self.head.embed(x))
        return self.head.mean_constant + k_sx.transpose(-1, -2) @ self.alpha

    def moments(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, latent variance and prior variance of ``m x d`` inputs (each ``m``)."""
        e = self.head.embed(x)
        k_sx = self._cross(x, e)
        mean = self.head.mean_constant + k_sx.transpose(-1, -2) @ self.alpha
        root = self.root
        if root is None:
            v = torch.linalg.solve_triangular(self.chol, k_sx, upper=False)
        else:
            v = root @ k_sx
        prior = self.head.diag(x, e=e)
        return mean, (prior - (v * v).sum(0)).clamp_min(1e-12), prior

    def joint_cov(self, x: Tensor) -> Tensor:
        """Latent joint covariance: ``... x q x d`` -> ``... x q x q``."""
        batch, q = x.shape[:-2], x.shape[-2]
        flat = x.reshape(-1, x.shape[-1])
        v = torch.linalg.solve_triangular(self.chol, self._cross(flat, self.head.embed(flat)),
                                          upper=False)
        v = _batch_last(v, batch, q)  # ... x q x n
        return self.head.gram(x, x) - v @ v.transpose(-1, -2)


def indexed_base_cross(head: GPHead, rows: Tensor, x: Tensor,
                       index: _Index
                       ) -> tuple[_Index, Tensor | None]:
    """Unscaled MinMax block ``rows x x`` (``n x m``) through an index of ``rows``, or None.

    Used for a fixed MinMax base on CPU count inputs without gradients (prediction and
    screening): ``rows`` are indexed once (:class:`MinMaxIndex`; pass back the returned
    index, None the first time, False once it is known not to apply), and each batch of
    candidates is one sparse product against it. None elsewhere (other kernels, GPU,
    gradients, inputs that are not counts): the kernel computes the block.
    """
    if (not head.base_is_fixed or x.dim() != 2 or x.device.type != "cpu"
            or rows.device.type != "cpu" or x.requires_grad):
        return index, None
    if index is None:
        index = head.base_k.base_kernel.index(rows.detach().numpy()) or False
    if index is False:
        return index, None
    assert isinstance(index, (MinMaxIndex, BlockMinMaxIndex))
    sim = index.similarity(x.detach().numpy())
    return index, (None if sim is None else torch.from_numpy(sim).T)


@dataclass
class InducingPosterior:
    """The head's posterior past ``exact_rows`` support rows: inducing points (DTC).

    ``m`` inducing inputs ``Z`` are rows of the support drawn at random with a fixed seed
    (save -> load reproduces them). With ``A = s2 K_ZZ + K_ZS K_SZ`` (accumulated over
    chunks of the support, so ``K_SZ`` is never held whole), the deterministic training
    conditional (Quiñonero-Candela & Rasmussen 2005) gives mean ``m + k_xZ A^-1 K_ZS
    (y - m)`` and latent covariance ``k(x, x') - k_xZ K_ZZ^-1 k_Zx' + s2 k_xZ A^-1 k_Zx'``.
    With every support row inducing it is the exact posterior. Memory ``m^2`` and cost
    ``n m^2`` to build, ``m`` kernel evaluations per candidate. The accuracy lost against
    the exact posterior is measured by ``scripts/bench_gp_head.py --inducing``.

    Attributes:
        head: The head whose kernel and noise it uses.
        x: ``m x d`` inducing inputs (raw).
        chol_zz: Lower Cholesky factor of ``K_ZZ`` (jittered).
        chol_a: Lower Cholesky factor of ``A``.
        beta: ``m`` vector ``A^-1 K_ZS (y - m)``.
        embedding: ``m x p`` learned embeddings of ``Z`` (None without phi).
        n_support: Rows of the support it summarizes.
    """

    head: GPHead
    x: Tensor
    chol_zz: Tensor
    chol_a: Tensor
    beta: Tensor
    embedding: Tensor | None
    n_support: int
    _index: _Index = field(default=None, init=False, repr=False)

    @classmethod
    def build(cls, head: GPHead, x: Tensor, y: Tensor, m: int,
              chunk: int = 4096) -> InducingPosterior:
        """Summarize the support ``x`` (``n x d``), ``y`` (``n``) with ``m`` inducing rows."""
        n = x.shape[0]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            pick = torch.randperm(n)[: min(m, n)].sort().values.to(x.device)
        z = x[pick]
        e_z = head.embed(z)
        k_zz = head.gram(z, z, e1=e_z, e2=e_z)
        noise = head.noise_var
        a = noise * k_zz
        resid = y.to(torch.float64) - head.mean_constant
        b = torch.zeros(z.shape[0], dtype=torch.float64, device=x.device)
        index: _Index = None
        for lo in range(0, n, chunk):
            xc = x[lo:lo + chunk]
            index, base = indexed_base_cross(head, z, xc, index)
            k = head.gram(z, xc, base=base, e1=e_z, e2=head.embed(xc))  # m x c
            a = a + k @ k.T
            b = b + k @ resid[lo:lo + chunk]
        chol_a = cholesky_with_jitter(0.5 * (a + a.T))
        beta = torch.cholesky_solve(b.unsqueeze(-1), chol_a).squeeze(-1)
        post = cls(head, z, cholesky_with_jitter(k_zz), chol_a, beta, e_z, n)
        post._index = index
        return post

    @property
    def noise_var(self) -> Tensor:
        """Observation-noise variance ``s2`` (scalar tensor)."""
        return self.head.noise_var

    def _cross(self, x: Tensor, e: Tensor | None) -> Tensor:
        self._index, base = indexed_base_cross(self.head, self.x, x, self._index)
        return self.head.gram(self.x, x, base=base, e1=self.embedding, e2=e)  # m x k

    def _solves(self, k_zx: Tensor) -> tuple[Tensor, Tensor]:
        q = torch.linalg.solve_triangular(self.chol_zz, k_zx, upper=False)
        s = torch.linalg.solve_triangular(self.chol_a, k_zx, upper=False)
        return q, s

    def mean(self, x: Tensor) -> Tensor:
        """Predictive mean (``k x d`` -> ``k``)."""
        k_zx = self._cross(x, self.head.embed(x))
        return self.head.mean_constant + k_zx.transpose(-1, -2) @ self.beta

    def moments(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, latent variance and prior variance of ``k x d`` inputs (each ``k``)."""
        e = self.head.embed(x)
        k_zx = self._cross(x, e)
        mean = self.head.mean_constant + k_zx.transpose(-1, -2) @ self.beta
        q, s = self._solves(k_zx)
        prior = self.head.diag(x, e=e)
        lvar = prior - (q * q).sum(0) + self.noise_var * (s * s).sum(0)
        return mean, lvar.clamp_min(1e-12), prior

    def joint_cov(self, x: Tensor) -> Tensor:
        """Latent joint covariance: ``... x q x d`` -> ``... x q x q``."""
        batch, q_len = x.shape[:-2], x.shape[-2]
        flat = x.reshape(-1, x.shape[-1])
        q, s = self._solves(self._cross(flat, self.head.embed(flat)))
        q, s = _batch_last(q, batch, q_len), _batch_last(s, batch, q_len)
        return (self.head.gram(x, x) - q @ q.transpose(-1, -2)
                + self.noise_var * (s @ s.transpose(-1, -2)))


def _batch_last(v: Tensor, batch: torch.Size, q: int) -> Tensor:
    """``r x (b q)`` solves of flattened ``... x q`` inputs -> ``... x q x r``."""
    return v.reshape(v.shape[0], *batch, q).movedim(0, -1)


def variance_root(k: Tensor | Callable[[Tensor], Tensor], noise_var: Tensor, rank: int,
                  n: int | None = None) -> Tensor:
    """Low-rank factor for predictive variances (the role of LOVE's cache).

    With ``K = U diag(lam) U^T``, ``k_x^T (K + s2 I)^-1 k_x = sum_i (u_i^T k_x)^2 /
    (lam_i + s2)``; a cross-covariance ``k_x`` of the kernel lies mostly in the span of the
    top eigenvectors, so keeping the top ``rank`` terms costs ``rank x n`` per candidate
    instead of ``n x n`` and only ever *overstates* the variance (the dropped terms are
    >= 0). Top eigenpairs by a seeded randomized eigendecomposition (Halko, Martinsson &
    Tropp 2011: range finder with three power iterations, then the small projected
    problem), deterministic, so save -> load reproduces it. It only multiplies ``K`` by
    ``n x (rank + 16)`` blocks, so ``K`` may be given as that product.

    Args:
        k: ``n x n`` noise-free support Gram (PSD), or a function returning ``K @ Q``.
        noise_var: Noise variance ``s2``.
        rank: Number of eigenpairs kept.
        n: Rows of ``K`` (needed when ``k`` is a function).

    Returns:
        ``rank x n`` factor ``R`` with variance reduction ``|R k_x|^2``.
    """
    if isinstance(k, Tensor):
        n, dtype, device = k.shape[-1], k.dtype, k.device
        matmul: Callable[[Tensor], Tensor] = k.__matmul__
    else:
        if n is None:
            raise ValueError("variance_root needs n when K is given as a product")
        dtype, device, matmul = noise_var.dtype, noise_var.device, k
    q = min(rank + 16, n)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        omega = torch.randn(n, q, dtype=torch.float64).to(dtype=dtype, device=device)
    basis = torch.linalg.qr(matmul(omega)).Q
    for _ in range(3):  # power iterations sharpen the top of the spectrum
        basis = torch.linalg.qr(matmul(basis)).Q
    small = basis.T @ matmul(basis)
    lam, vec = torch.linalg.eigh(0.5 * (small + small.T))  # ascending
    lam, vec = lam.flip(0)[:rank].clamp_min(0.0), vec.flip(1)[:, :rank]
    u = basis @ vec
    return (u / (lam + noise_var).sqrt()).T


def cholesky_with_jitter(k: Tensor) -> Tensor:
    """Cholesky factor with growing jitter when ``k`` is numerically indefinite."""
    jitter = 0.0
    eye = torch.eye(k.shape[-1], dtype=k.dtype, device=k.device)
    scale = float(k.diagonal(dim1=-2, dim2=-1).mean().detach()) if k.numel() else 1.0
    for _ in range(6):
        chol, info = torch.linalg.cholesky_ex(k + jitter * eye)
        if not bool((info != 0).any()):
            return chol
        jitter = max(jitter * 10, _JITTER * scale)
    return torch.linalg.cholesky(k + jitter * eye)
