"""The Gaussian-process head of the E2T surrogate: an exact GP on the support set.

The paper's ridge head is the posterior mean of a GP with a linear kernel on the learned
embedding ``phi(x)``. :class:`GPHead` generalizes it to an exact GP whose kernel holds a
strong fixed kernel on the inputs *and* the learned features::

    k(x, x') = s_b * k_base(x, x') [+ s_l * <z, z'>] + s_phi * k_phi(phi(z), phi(z'))

- ``k_base``: ``minmax`` (Tanimoto on count fingerprints, raw counts; with ``blocks``, a
  weighted sum of MinMax kernels on column blocks such as fingerprints of several Morgan
  radii, weights fitted with the other hyperparameters) or ``rbf`` (RBF-ARD
  on inputs scaled to the training unit cube, BoTorch's dimension-scaled lengthscale
  prior, as BoTorch's default ``SingleTaskGP``); ``rbf_linear`` adds a linear kernel on
  the standardized inputs ``z`` (lets predictions follow a trend beyond the data).
- ``k_phi``: RBF or linear on the meta-learned embedding ``phi(z)`` (an MLP encoder).
- A constant mean and Gaussian noise.

Every part is a GPyTorch module, so the fitted head *is* a BoTorch ``SingleTaskGP``
(:meth:`GPHead.to_botorch`): every BoTorch acquisition, ``fantasize`` and
``condition_on_observations`` work on it unchanged. While ``phi_active`` is False the
learned part is left out and the head is exactly a GP on the fixed kernel.

The closed forms run in float64 through a Cholesky factor of ``K_SS + s2 I``: mean
``m + K_xS alpha`` with ``alpha = (K_SS + s2 I)^-1 (y - m)``, latent variance
``k(x, x) - |L^-1 K_Sx|^2``; :meth:`GPHead.posterior` caches them for one support set as a
:class:`~e2t_discovery.model.gp_posterior.GPPosterior`. The input maps are
:class:`~e2t_discovery.model.kernels.InputMap`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import gpytorch
import torch
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import AdditiveKernel, Kernel, LinearKernel, RBFKernel, ScaleKernel
from gpytorch.priors import LogNormalPrior
from torch import Tensor, nn

from e2t_discovery.model.config import EXACT_ROWS, INDUCING_ROWS
from e2t_discovery.model.encoder import MLPEncoder
from e2t_discovery.model.gp_posterior import (
    GPPosterior,
    InducingPosterior,
    cholesky_with_jitter,
)
from e2t_discovery.model.kernels import InputMap, MappedKernel, MinMaxKernel

__all__ = ["EXACT_ROWS", "INDUCING_ROWS", "GPHead", "gaussian_query_loss"]

#: L-BFGS iterations of the marginal-likelihood warm start. Exact gradients let L-BFGS
#: run for thousands of iterations on RBF-ARD (HOIP: 94 lengthscales, ~1 s each); 100
#: iterations reach R2 0.86 on HOIP-PbI, as the uncapped conjugate-gradient fit does.
ML_MAXITER = 150


def gaussian_query_loss(mean: Tensor, var: Tensor, y: Tensor, kind: str = "nll") -> Tensor:
    """Mean Gaussian NLL (``kind="nll"``) or MSE of query targets ``y`` (all ``n_q``)."""
    err2 = (mean - y) ** 2
    if kind == "mse":
        return err2.mean()
    return 0.5 * (torch.log(2 * math.pi * var) + err2 / var).mean()


class GPHead(nn.Module):
    """Exact-GP head: additive fixed + meta-learned kernel (see the module docstring).

    Args:
        x: ``n x d`` training inputs (float64; fixes the input maps).
        base: ``minmax``, ``rbf`` or ``rbf_linear``.
        phi_kernel: ``rbf``, ``linear`` or ``none`` (no learned part).
        hidden, embed_dim, dropout, layer_norm, linear_dim: Shape of the encoder ``phi``.
        log1p: ``log1p`` count inputs before standardizing them for ``phi``.
        clip: Bound on standardized inputs.
        phi_scale: Initial ``s_phi`` (standardized target units).
        blocks: ``minmax`` only: the inputs are this many equal column blocks (e.g.
            Morgan counts of several radii) and ``k_base`` is a weighted sum of their
            MinMax kernels (:class:`~e2t_discovery.model.kernels.MinMaxKernel`).
    """

    def __init__(self, x: Tensor, base: str = "rbf_linear", phi_kernel: str = "rbf",
                 hidden: Sequence[int] = (128, 128), embed_dim: int = 16,
                 dropout: float = 0.2, layer_norm: bool = True, linear_dim: int = 0,
                 log1p: bool = False, clip: float = 10.0, phi_scale: float = 0.05,
                 blocks: int = 1) -> None:
        super().__init__()
        x = x.to(torch.float64)
        d = x.shape[-1]
        self.base_name, self.phi_name = base, phi_kernel
        self.standardize = InputMap.standardize(x, log1p=log1p, clip=clip)
        base_kernel: Kernel
        if blocks > 1 and base != "minmax":
            raise ValueError(f"blocks={blocks} needs base='minmax', got {base!r}")
        if base == "minmax":
            base_kernel = MinMaxKernel(blocks)
        else:
            rbf = _dim_scaled_rbf(d)
            base_kernel = MappedKernel(rbf, InputMap.unit_cube(x))
        self.base_k = ScaleKernel(base_kernel)
        self.base_k.outputscale = 1.0
        self.lin_k = (MappedKernel(LinearKernel(), self.standardize)
                      if base == "rbf_linear" else None)
        if self.lin_k is not None:
            self.lin_k.base.variance = 1.0 / d
        self.encoder: MLPEncoder | None = None
        self.phi_k: ScaleKernel | None = None
        if phi_kernel != "none":
            self.encoder = MLPEncoder(d, hidden, embed_dim, dropout, layer_norm, linear_dim)
            inner = RBFKernel() if phi_kernel == "rbf" else LinearKernel()
            if phi_kernel == "rbf":
                inner.lengthscale = math.sqrt(self.encoder.out_dim)
            self.phi_k = ScaleKernel(MappedKernel(inner, nn.Sequential(self.standardize,
                                                                       self.encoder)))
            self.phi_k.outputscale = phi_scale
        self.mean_module = gpytorch.means.ConstantMean()
        self.likelihood = _lognormal_noise_likelihood()
        self.register_buffer("phi_active", torch.tensor(False))
        self.double()

    # ---------------------------------------------------------------- kernel
    def kernel(self, learned: bool | None = None) -> Kernel:
        """The active kernel as one GPyTorch module (sharing this head's parameters).

        Args:
            learned: Include the learned part; None = as ``phi_active`` says.
        """
        use_phi = bool(self.phi_active) if learned is None else learned
        parts: list[Kernel] = [self.base_k]
        if self.lin_k is not None:
            parts.append(self.lin_k)
        if use_phi and self.phi_k is not None:
            parts.append(self.phi_k)
        return parts[0] if len(parts) == 1 else AdditiveKernel(*parts)

    @property
    def learned_on(self) -> bool:
        """True when the learned part is in the kernel."""
        return bool(self.phi_active) and self.phi_k is not None

    def embed(self, x: Tensor) -> Tensor | None:
        """Learned embeddings ``phi(z)`` of raw inputs (``... x d -> ... x p``), or None.

        Training code embeds the rows of an episode once, so one dropout mask serves every
        kernel block of the episode (the support Gram stays symmetric and PSD).
        """
        if not self.learned_on:
            return None
        assert self.encoder is not None
        return self.encoder(self.standardize(x.to(torch.float64)))

    def gram(self, x1: Tensor, x2: Tensor, base: Tensor | None = None,
             e1: Tensor | None = None, e2: Tensor | None = None) -> Tensor:
        """Dense kernel matrix ``... x n x m`` (float64, differentiable).

        Args:
            x1, x2: Raw inputs ``... x n x d`` and ``... x m x d``.
            base: Precomputed *unscaled* base-kernel block ``n x m`` (saves the MinMax
                products in training loops); None computes it.
            e1, e2: Precomputed embeddings of ``x1``/``x2`` (see :meth:`embed`).
        """
        f64 = torch.float64  # converted only where used: a given base needs no inputs
        if base is None:
            k = self.base_k(x1.to(f64), x2.to(f64)).to_dense()
        else:
            k = self.base_k.outputscale * base
        if self.lin_k is not None:
            k = k + self.lin_k(x1.to(f64), x2.to(f64)).to_dense()
        if self.learned_on:
            assert self.phi_k is not None
            e1 = self.embed(x1) if e1 is None else e1
            e2 = self.embed(x2) if e2 is None else e2
            inner = self.phi_k.base_kernel.base  # type: ignore[union-attr]
            k = k + self.phi_k.outputscale * inner(e1, e2).to_dense()
        return k

    def diag(self, x: Tensor, base: Tensor | None = None, e: Tensor | None = None) -> Tensor:
        """Prior variances ``k(x, x)`` of ``m x d`` inputs (``m``).

        Args:
            x: Raw inputs.
            base: Precomputed unscaled base-kernel diagonal, or None.
            e: Precomputed embeddings, or None.
        """
        if base is not None:
            k = self.base_k.outputscale * base
        elif self.base_is_fixed:  # MinMax: k(x, x) = 1, no need to convert the inputs
            ones = self.base_k.base_kernel(x, diag=True).to(torch.float64)
            k = self.base_k.outputscale * ones
        else:
            k = self.base_k(x.to(torch.float64), diag=True)
        if self.lin_k is not None:
            k = k + self.lin_k(x.to(torch.float64), diag=True)
        if self.learned_on:
            assert self.phi_k is not None
            e = self.embed(x) if e is None else e
            inner = self.phi_k.base_kernel.base  # type: ignore[union-attr]
            k = k + self.phi_k.outputscale * inner(e, diag=True)
        return k

    def base_gram(self, x1: Tensor, x2: Tensor) -> Tensor:
        """Unscaled base kernel ``n x m`` (constant in training when ``base="minmax"``)."""
        return self.base_k.base_kernel(x1.to(torch.float64), x2.to(torch.float64)).to_dense()

    @property
    def base_is_fixed(self) -> bool:
        """True for MinMax: ``k(x, x) = 1``, and a Gram matrix that only its scale (and,
        with blocks, its block weights) multiplies, so it can be computed once."""
        return self.base_name == "minmax"

    @property
    def noise_var(self) -> Tensor:
        """Observation-noise variance (scalar tensor)."""
        return self.likelihood.noise.reshape(())

    @property
    def mean_constant(self) -> Tensor:
        """The constant prior mean (scalar tensor)."""
        return self.mean_module.constant.reshape(())

    def scale_variances(self, factor: float) -> None:
        """Multiply every kernel scale and the noise by ``factor`` (means unchanged).

        The noise stays above its constraint's lower bound (a smaller factor on a
        near-noiseless fit would otherwise be refused by GPyTorch); only then do the means
        move, and only by the bound's share.
        """
        with torch.no_grad():
            self.base_k.outputscale = self.base_k.outputscale * factor
            if self.lin_k is not None:
                self.lin_k.base.variance = self.lin_k.base.variance * factor
            if self.phi_k is not None:
                self.phi_k.outputscale = self.phi_k.outputscale * factor
            floor = self.likelihood.noise_covar.raw_noise_constraint.lower_bound * 1.001
            self.likelihood.noise = torch.clamp(self.likelihood.noise * factor,
                                                min=floor.to(self.likelihood.noise))

    # ---------------------------------------------------------------- closed forms
    def posterior(self, x: Tensor, y: Tensor, base: Tensor | None = None,
                  var_rank: int = 0, exact_rows: int = EXACT_ROWS,
                  inducing_rows: int = INDUCING_ROWS) -> GPPosterior | InducingPosterior:
        """Condition on a support set (``n x d`` raw inputs, ``n`` standardized targets).

        Args:
            x, y: The support set.
            base: Precomputed unscaled base Gram ``n x n``, or None.
            var_rank: Keep a rank-``var_rank`` variance factor when the support holds more
                than ``4 * var_rank`` rows (0: variances always exact).
            exact_rows: Past this many support rows the posterior is approximated with
                ``inducing_rows`` inducing points (:class:`InducingPosterior`).
            inducing_rows: Inducing points of the approximation.
        """
        if x.shape[0] > exact_rows:
            return InducingPosterior.build(self, x.to(torch.float64), y, inducing_rows)
        x = x.to(torch.float64)
        e = self.embed(x)
        k = self.gram(x, x, base, e, e)
        eye = torch.eye(k.shape[-1], dtype=k.dtype, device=k.device)
        chol = cholesky_with_jitter(k + self.noise_var * eye)
        resid = (y.to(torch.float64) - self.mean_constant).unsqueeze(-1)
        alpha = torch.cholesky_solve(resid, chol).squeeze(-1)
        return GPPosterior(self, x, chol, alpha, e, var_rank)

    def query_moments(self, x_s: Tensor, y_s: Tensor, x_q: Tensor,
                      blocks: tuple[Tensor, Tensor, Tensor] | None = None
                      ) -> tuple[Tensor, Tensor]:
        """Predictive mean and variance (noise included) of a query given a support set.

        Args:
            x_s, y_s: Support inputs and standardized targets.
            x_q: Query inputs.
            blocks: Precomputed unscaled base blocks ``(SS, SQ, diag QQ)``, or None.
        """
        b_ss, b_sq, b_qq = blocks if blocks is not None else (None, None, None)
        n = x_s.shape[0]
        e = self.embed(torch.cat([x_s, x_q]))
        e_s, e_q = (e[:n], e[n:]) if e is not None else (None, None)
        k_ss = self.gram(x_s, x_s, b_ss, e_s, e_s)
        k_sq = self.gram(x_s, x_q, b_sq, e_s, e_q)
        prior = self.diag(x_q, b_qq, e_q)
        eye = torch.eye(n, dtype=k_ss.dtype, device=k_ss.device)
        chol = cholesky_with_jitter(k_ss + self.noise_var * eye)
        resid = (y_s.to(torch.float64) - self.mean_constant).unsqueeze(-1)
        alpha = torch.cholesky_solve(resid, chol).squeeze(-1)
        v = torch.linalg.solve_triangular(chol, k_sq, upper=False)
        mean = self.mean_constant + k_sq.transpose(-1, -2) @ alpha
        var = (prior - (v * v).sum(0)).clamp_min(1e-12) + self.noise_var
        return mean, var

    # ---------------------------------------------------------------- fitting
    def fit_marginal_likelihood(self, x: Tensor, y: Tensor) -> None:
        """Fit the fixed part's hyperparameters, mean and noise by marginal likelihood.

        The learned part is left out (``phi_active`` is set False); BoTorch's
        ``fit_gpytorch_mll`` (L-BFGS, at most :data:`ML_MAXITER` iterations, Cholesky)
        runs on a ``SingleTaskGP`` that shares this head's modules.
        """
        from botorch.fit import fit_gpytorch_mll
        from gpytorch.mlls import ExactMarginalLogLikelihood

        self.phi_active.fill_(False)  # type: ignore[operator]
        gp = self._single_task_gp(x, y, learned=False)
        with warnings.catch_warnings(), gpytorch.settings.max_cholesky_size(EXACT_ROWS):
            warnings.simplefilter("ignore")  # input-scaling advice; optimizer chatter
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp),
                             optimizer_kwargs={"options": {"maxiter": ML_MAXITER}})
        self.train()

    def _single_task_gp(self, x: Tensor, y: Tensor, learned: bool | None = None):  # noqa: ANN202
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _exact_gp_class()(
                x.to(torch.float64), y.to(torch.float64).reshape(-1, 1),
                likelihood=self.likelihood, covar_module=self.kernel(learned),
                mean_module=self.mean_module, outcome_transform=None)

    def to_botorch(self, x: Tensor, y: Tensor, y_mean: float, y_std: float):  # noqa: ANN201
        """A BoTorch ``SingleTaskGP`` equal to this head on support ``(x, y)``.

        ``y`` is in standardized units; the model's outcome transform maps its posterior
        back to target units (``y_mean``, ``y_std``), so ``best_f`` and bounds are given
        in target units as with any BoTorch model.
        """
        import copy

        from botorch.models.transforms.outcome import Standardize

        head = copy.deepcopy(self).eval()
        gp = head._single_task_gp(x, y)
        transform = Standardize(m=1)
        transform.means = torch.tensor([[y_mean]], dtype=torch.float64)
        transform.stdvs = torch.tensor([[y_std]], dtype=torch.float64)
        transform._stdvs_sq = transform.stdvs**2
        transform._is_trained = torch.tensor(True)
        transform.eval()
        gp.outcome_transform = transform
        return gp.eval()

    def fixed_state(self) -> dict[str, Tensor]:
        """A copy of the state without the encoder ``phi``'s weights.

        What the marginal-likelihood warm start fixes (kernel hyperparameters, mean, noise,
        input maps, ``phi_active``): load it into a head whose encoder was initialized
        from its own seed with ``head.load_state_dict({**head.state_dict(), **state})``.
        """
        enc = ({id(t) for t in self.encoder.state_dict(keep_vars=True).values()}
               if self.encoder is not None else set())
        return {k: v.detach().clone() for k, v in self.state_dict(keep_vars=True).items()
                if id(v) not in enc}

    def learned_parameters(self) -> list[nn.Parameter]:
        """Parameters of ``phi`` and ``k_phi``."""
        return list(self.phi_k.parameters()) if self.phi_k is not None else []

    def fixed_part_parameters(self) -> list[nn.Parameter]:
        """Hyperparameters of the fixed part, the mean and the noise."""
        learned = {id(p) for p in self.learned_parameters()}
        return [p for p in self.parameters() if id(p) not in learned]


def _exact_gp_class() -> type:
    """``SingleTaskGP`` whose posteriors stay Cholesky-exact above GPyTorch's 800 rows."""
    global _EXACT_GP
    if _EXACT_GP is None:
        from botorch.models import SingleTaskGP

        class ExactSingleTaskGP(SingleTaskGP):
            """A ``SingleTaskGP`` (same model) computing posteriors by Cholesky."""

            def posterior(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
                with gpytorch.settings.max_cholesky_size(EXACT_ROWS):
                    return super().posterior(*args, **kwargs)

        _EXACT_GP = ExactSingleTaskGP
    return _EXACT_GP


_EXACT_GP: type | None = None


def _dim_scaled_rbf(d: int) -> RBFKernel:
    """BoTorch's default RBF-ARD (dimension-scaled LogNormal lengthscale prior).

    As ``get_covar_module_with_dim_scaled_prior``, but the lower bound is enforced by a
    softplus transform rather than by the optimizer's bounds: episodic training uses
    Adam, which knows no bounds.
    """
    prior = LogNormalPrior(loc=math.sqrt(2) + 0.5 * math.log(d), scale=math.sqrt(3))
    return RBFKernel(ard_num_dims=d, lengthscale_prior=prior,
                     lengthscale_constraint=GreaterThan(2.5e-2, initial_value=prior.mode))


def _lognormal_noise_likelihood() -> gpytorch.likelihoods.GaussianLikelihood:
    """BoTorch's default likelihood (LogNormal(-4, 1) noise prior, noise >= 1e-4).

    The bound is a softplus transform (see :func:`_dim_scaled_rbf`).
    """
    prior = LogNormalPrior(loc=-4.0, scale=1.0)
    return gpytorch.likelihoods.GaussianLikelihood(
        noise_prior=prior, noise_constraint=GreaterThan(1e-4, initial_value=prior.mode))
