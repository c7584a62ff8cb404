"""What the rest of the package may ask of a surrogate: the :class:`Surrogate` protocol.

Screening, strategies, adaptation and the loop program against this protocol, not
against :class:`~e2t_discovery.model.surrogate.E2TSurrogate` (and never with
``hasattr``): any model that has these methods can be screened with, proposed from and
adapted. ``E2TSurrogate`` (every head) satisfies it; tests check that it does.

Shapes: ``X`` is what the surrogate's input takes (``n x d`` array, or ``n`` crystal
graphs); every returned array has one entry per row of ``X`` in the target's unit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["JointPosterior", "Surrogate"]


@runtime_checkable
class JointPosterior(Protocol):
    """What the joint-posterior strategies ask of a model (a part of :class:`Surrogate`
    that plain baselines such as ``GPBaseline`` also have)."""

    @property
    def noise_std(self) -> float:
        """Observation noise standard deviation (target unit)."""
        ...

    def posterior(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Latent joint posterior: mean ``n`` and covariance ``n x n``."""
        ...

    def to_botorch(self) -> Any:
        """A BoTorch ``Model`` over the same joint predictive (for BoTorch acquisitions)."""
        ...


@runtime_checkable
class Surrogate(Protocol):
    """A fitted surrogate: predictions, distances, joint posterior, BoTorch, adaptation."""

    @property
    def noise_std(self) -> float:
        """Observation noise standard deviation (target unit)."""
        ...

    def predict(self, X: Any, return_std: bool = False
                ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predictive mean ``n`` (and predictive std ``n`` with ``return_std``)."""
        ...

    def predict_with_distance(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predictive mean, std and domain distance ``n`` each, from one pass."""
        ...

    def domain_distance(self, X: Any) -> np.ndarray:
        """Distance ``n`` of each input from the support (larger = farther; >= 0)."""
        ...

    def out_of_domain(self, X: Any, distance: np.ndarray | None = None) -> np.ndarray:
        """Boolean ``n``: farther than held-out training domains lie (``distance`` given:
        use it instead of computing it from ``X``)."""
        ...

    def posterior(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Latent joint posterior: mean ``n`` and covariance ``n x n``."""
        ...

    def to_botorch(self) -> Any:
        """A BoTorch ``Model`` over the same joint predictive (for BoTorch acquisitions)."""
        ...

    def condition(self, X: Any, y: Any) -> Surrogate:
        """Add support data without a gradient step (predictions change at once)."""
        ...

    def adapt(self, X: Any, y: Any, groups: Any = None, *, steps: int = 100,
              lr: float = 1e-4) -> Surrogate:
        """Few-shot fine-tune on new points, then condition on them."""
        ...

    def save(self, directory: str | Path) -> None:
        """Write the fitted surrogate to a folder (no pickle)."""
        ...
