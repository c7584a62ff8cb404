"""Multi-task GP over source and target (BoTorch ``MultiTaskGP``): the standard baseline.

Tasks ``0 .. p-1`` are the source properties, task ``p`` the target; with
``source_tasks="best"`` (the default) only the source property whose predictions correlate
best with the target labels is a task (BoTorch's positive task covariance fitted with an
unrelated extra task was seen to blow its scales up on synthetic data). Each task is
standardized by its own scale (the source models' and the target labels'). The ICM kernel
is ``k_x(x, x') * B[t, t']``: ``B`` (BoTorch's ``PositiveIndexKernel``, full rank), one
constant mean and one noise level per task are fitted by exact marginal likelihood on all
rows at once. The data kernel ``k_x`` is the source model's marginal-likelihood kernel
(the fixed part of the best-correlated source's GP head, *without* the meta-learned part:
the standard GP kernel, its lengthscales set by the abundant source rows), frozen, so the
fit sets ``B``, means and noises and its Gram is computed once. At most
``max_source_rows`` source rows enter (split evenly over the properties, drawn with the
seed): the joint Gram is exact (Cholesky) and its cost grows as rows cubed.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import gpytorch
import numpy as np
import torch
from torch import Tensor

from e2t_discovery.exceptions import ModelError
from e2t_discovery.model.gp_head import EXACT_ROWS
from e2t_discovery.model.transfer.base import FrozenKernel, TransferModel, fit_mll
from e2t_discovery.model.transfer.source import SourceModel, best_source

__all__ = ["MultiTaskTransfer", "MAX_SOURCE_ROWS"]

#: Default cap on the source rows of the joint GP (all tasks together).
MAX_SOURCE_ROWS = 1500


class MultiTaskTransfer(TransferModel):
    """Multi-task GP transfer (see the module docstring).

    Args:
        source: The fitted source model.
        max_source_rows: Cap on source rows in the joint GP.
        seed: Seed of the source-row draw when the cap bites.
        maxiter: Most L-BFGS iterations of the marginal-likelihood fit.
        source_tasks: ``best`` (one source task: the best-correlated property) or ``all``.
    """

    method = "multitask"

    def __init__(self, source: SourceModel, max_source_rows: int = MAX_SOURCE_ROWS,
                 seed: int = 0, maxiter: int = 100, source_tasks: str = "best") -> None:
        super().__init__(source)
        if source_tasks not in ("best", "all"):
            raise ModelError(f"source_tasks={source_tasks!r}; use 'best' or 'all'")
        self.source_tasks = source_tasks
        self.max_source_rows = max_source_rows
        self.maxiter = maxiter
        self.seed = seed
        self.kernel_source = 0
        self.gp: Any = None

    @property
    def task_sources(self) -> list[int]:
        """The source properties that are tasks (task ``i`` is property ``task_sources[i]``)."""
        if self.source_tasks == "all":
            return list(range(self.source.n_sources))
        return [self.kernel_source]

    @property
    def target_task(self) -> int:
        """Task index of the target (after the source tasks)."""
        return len(self.task_sources)

    def _source_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Source rows of the joint GP: inputs with task column ``n x (d+1)``, standardized y."""
        src, tasks = self.source, self.task_sources
        m, s = src.scales()
        rng = np.random.default_rng(self.seed)
        per_task = max(1, self.max_source_rows // len(tasks))
        xs, ys = [], []
        for t, j in enumerate(tasks):
            rows = np.flatnonzero(np.isfinite(src.Y[:, j]))
            if rows.size > per_task:
                rows = np.sort(rng.choice(rows, size=per_task, replace=False))
            xs.append(np.concatenate([src.X[rows], np.full((rows.size, 1), t)], 1))
            ys.append((src.Y[rows, j] - m[j]) / s[j])
        return np.concatenate(xs), np.concatenate(ys)

    def _build(self, train_x: np.ndarray, train_y: np.ndarray) -> Any:
        from botorch.models import MultiTaskGP

        kernel = FrozenKernel(self.source.kernel(self.kernel_source, learned=False))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gp = MultiTaskGP(torch.as_tensor(train_x), torch.as_tensor(train_y).unsqueeze(-1),
                             task_feature=-1, covar_module=kernel,
                             output_tasks=[self.target_task], outcome_transform=None,
                             all_tasks=list(range(self.target_task + 1)))
        return gp.to(torch.float64)

    def _target_rows(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        task = np.full((X.shape[0], 1), self.target_task)
        return np.concatenate([X, task], 1), (y - self.y_mean) / self.y_std

    def fit(self, X: np.ndarray, y: np.ndarray) -> MultiTaskTransfer:
        """Fit task covariance, means and noises on the source rows plus target ``(X, y)``."""
        X, y = self.check_X(X), self.check_y(y, np.asarray(X).shape[0])
        self.set_scale(y)
        pred, _ = self.source.predict(X)
        self.kernel_source = best_source(pred, y)
        sx, sy = self._source_rows()
        tx, ty = self._target_rows(X, y)
        self.gp = self._build(np.concatenate([sx, tx]), np.concatenate([sy, ty]))
        fit_mll(self.gp, self.maxiter)
        self.X, self.y = X, y
        return self

    def joint(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Latent joint posterior of the target task in target units."""
        with warnings.catch_warnings(), gpytorch.settings.max_cholesky_size(EXACT_ROWS):
            warnings.simplefilter("ignore")
            post = self.gp.posterior(x.to(torch.float64))
        mvn = post.distribution
        return self.y_mean + self.y_std * mvn.mean, self.y_std**2 * mvn.covariance_matrix

    def prior_var(self, x: Tensor) -> Tensor:
        """Latent prior variance of the target task ``b x q`` (target units squared)."""
        x = x.to(torch.float64)
        task = torch.full((*x.shape[:-1], 1), float(self.target_task), dtype=torch.float64)
        with torch.no_grad():
            prior = self.gp.covar_module(torch.cat([x, task], -1), diag=True)
        return self.y_std**2 * prior

    @property
    def noise_var(self) -> float:
        """Target-task noise variance (target units squared)."""
        noise = self.gp.likelihood.noise.detach().reshape(-1)
        return float(noise[min(self.target_task, noise.numel() - 1)]) * self.y_std**2

    def _condition(self, X: np.ndarray, y: np.ndarray) -> None:
        tx, ty = self._target_rows(X, y)
        self.gp.set_train_data(torch.cat([self.gp.train_inputs[0], torch.as_tensor(tx)]),
                               torch.cat([self.gp.train_targets, torch.as_tensor(ty)]),
                               strict=False)

    def info(self) -> dict[str, Any]:
        """Target-source task correlations, source rows used, the noise std."""
        with torch.no_grad():
            task_k = self.gp.covar_module.kernels[1] if hasattr(
                self.gp.covar_module, "kernels") else None
            b = task_k.covar_matrix.to_dense().numpy() if task_k is not None else None
        corr = ([] if b is None else
                [float(b[j, -1] / np.sqrt(b[j, j] * b[-1, -1])) for j in range(b.shape[0] - 1)])
        n_source = int((self.gp.train_inputs[0][:, -1] != self.target_task).sum())
        return {"task_correlation": corr, "n_source_rows": n_source,
                "source_tasks": [self.source.names[j] for j in self.task_sources],
                "kernel_source": self.source.names[self.kernel_source],
                "noise_std": float(np.sqrt(self.noise_var)), "n_target": int(self.y.size)}

    # ------------------------------------------------------------------ persistence
    def _save_state(self, out: Path) -> dict[str, Any]:
        from safetensors.torch import save_file

        state = {f"gp.{k}": v.detach().clone().contiguous()
                 for k, v in self.gp.state_dict().items()}
        state["train_x"] = self.gp.train_inputs[0].detach().contiguous()
        state["train_y"] = self.gp.train_targets.detach().contiguous()
        state["X"] = torch.as_tensor(self.X).contiguous()
        state["y"] = torch.as_tensor(self.y).contiguous()
        save_file(state, str(out / "multitask.safetensors"))
        return {"kernel_source": self.kernel_source, "max_source_rows": self.max_source_rows,
                "seed": self.seed, "maxiter": self.maxiter, "source_tasks": self.source_tasks}

    @classmethod
    def _load_state(cls, src: Path, meta: dict[str, Any],
                    source: SourceModel) -> MultiTaskTransfer:
        from safetensors.torch import load_file

        state = load_file(str(src / "multitask.safetensors"))
        opts = meta["state"]
        model = cls(source, int(opts["max_source_rows"]), int(opts["seed"]),
                    int(opts["maxiter"]), str(opts["source_tasks"]))
        model.kernel_source = int(opts["kernel_source"])
        model.y_mean, model.y_std = float(meta["y_mean"]), float(meta["y_std"])
        model.X, model.y = state["X"].numpy(), state["y"].numpy()
        model.gp = model._build(state["train_x"].numpy(), state["train_y"].numpy())
        model.gp.load_state_dict({k[3:]: v for k, v in state.items() if k.startswith("gp.")})
        model.gp.eval()
        return model
