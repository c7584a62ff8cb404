"""The support set of a surrogate: adding points to it, and how far it reaches.

At inference the support set is every training row plus conditioned points
(``_X``, ``_y``, ``_domains``). :class:`SupportMixin` holds what both heads do with it:
:meth:`~SupportMixin.condition` (new points join at once, no gradient step), the appends
of few-shot adaptation, and :meth:`~SupportMixin.out_of_domain_threshold` (each training
domain left out of the support in turn). A head supplies the inference caches
(``_refresh_caches``) and ``domain_distance``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from e2t_discovery.exceptions import ModelError
from e2t_discovery.model.episodes import encode_domains

if TYPE_CHECKING:
    from e2t_discovery.model.inputs import InputKind

__all__ = ["OOD_MAX_DOMAINS", "SupportMixin"]

#: Training domains left out in turn to find :meth:`SupportMixin.out_of_domain_threshold`.
OOD_MAX_DOMAINS = 12


def _rows(X: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of raw inputs (an array, or a list such as crystal graphs)."""
    return X[idx] if isinstance(X, np.ndarray) else [X[int(i)] for i in idx]


class SupportMixin:
    """Support-set updates and the out-of-domain threshold (see the module docstring)."""

    inputs: InputKind
    _X: Any
    _y: np.ndarray
    _domains: np.ndarray
    _caches: list[Any]
    _ood_threshold: float | None

    def _check_fitted(self) -> None:
        """Raise NotFittedError before the first fit (the surrogate defines it)."""
        raise NotImplementedError

    def _refresh_caches(self) -> None:
        """Recompute every member's inference state for the support (the head's)."""
        raise NotImplementedError

    def domain_distance(self, X: Any) -> np.ndarray:
        """Distance of each input from the support set (the head defines it)."""
        raise NotImplementedError

    @property
    def n_support(self) -> int:
        """Number of support points used at inference (training + conditioned)."""
        return int(self._y.shape[0])

    @staticmethod
    def _check_y(y: Any, n: int) -> np.ndarray:
        arr = np.asarray(y, dtype=np.float64).reshape(-1)
        if arr.shape[0] != n:
            raise ModelError(f"y has {arr.shape[0]} values for {n} inputs; pass one per row")
        if not np.isfinite(arr).all():
            raise ModelError("y contains NaN or infinite values; drop those rows first")
        return arr

    # ------------------------------------------------------------------ updating
    def condition(self, X: Any, y: Any) -> Self:
        """Add support data without any gradient step; predictions change at once.

        The new points form one new domain (used by later :meth:`adapt` calls).
        """
        self._check_fitted()
        X = self.inputs.validate(X)
        y = self._check_y(y, self.inputs.length(X))
        new_dom = int(self._domains.max()) + 1 if self._domains.size else 0
        self._append(X, y, np.full(y.shape[0], new_dom, dtype=np.int64))
        return self

    def _extend(self, X: Any, y: np.ndarray, domains: np.ndarray) -> None:
        """Append validated points to the support (caches not refreshed)."""
        self._ood_threshold = None
        self._X = self.inputs.concat(self._X, X)
        self._y = np.concatenate([self._y, y])
        self._domains = np.concatenate([self._domains, domains])

    def _append(self, X: Any, y: np.ndarray, domains: np.ndarray) -> None:
        self._extend(X, y, domains)
        # Re-embedding the whole support (one encoder pass, milliseconds for thousands of
        # rows) keeps the batching identical to a freshly loaded model, so save -> load
        # reproduces predictions bit for bit.
        self._refresh_caches()

    def _add_support(self, X: Any, y: Any, groups: Any) -> np.ndarray:
        """Validate new points, append them to the support as new domains; return their rows.

        The inference caches are not refreshed (the caller fine-tunes, then refreshes).
        """
        X = self.inputs.validate(X)
        y = self._check_y(y, self.inputs.length(X))
        n_old = self.n_support
        offset = int(self._domains.max()) + 1
        new_doms = (np.full(y.shape[0], offset, dtype=np.int64) if groups is None
                    else encode_domains(groups, y.shape[0]) + offset)
        self._extend(X, y, new_doms)
        return np.arange(n_old, self.n_support)

    def out_of_domain_threshold(self, *, quantile: float = 0.95,
                                max_domains: int = OOD_MAX_DOMAINS) -> float:
        """Domain distance beyond which an input is farther out than the training domains show.

        Each training domain (the ``max_domains`` largest) is left out of the support in
        turn and the distances of its rows to the rest are pooled: the threshold is their
        ``quantile``. An input above it is farther from the support than held-out training
        domains were from the others, which is also where the variance calibration (fitted
        on held-out domains) has not been checked. ``inf`` with fewer than two domains.
        Computed once per support set (the support itself is left unchanged).
        """
        self._check_fitted()
        if self._ood_threshold is not None:
            return self._ood_threshold
        labels, counts = np.unique(self._domains, return_counts=True)
        if labels.size < 2:
            self._ood_threshold = math.inf
            return self._ood_threshold
        chosen = labels[np.argsort(-counts, kind="stable")[:max_domains]]
        X, y, domains, caches = self._X, self._y, self._domains, self._caches
        pooled: list[np.ndarray] = []
        try:
            for label in chosen:
                held = np.flatnonzero(domains == label)
                rest = np.flatnonzero(domains != label)
                self._X, self._y = _rows(X, rest), y[rest]
                self._domains = domains[rest]
                self._refresh_caches()
                pooled.append(np.asarray(self.domain_distance(_rows(X, held)), dtype=float))
        finally:  # the caches of the full support are put back as they were
            self._X, self._y, self._domains, self._caches = X, y, domains, caches
        self._ood_threshold = float(np.quantile(np.concatenate(pooled), quantile))
        return self._ood_threshold

    def out_of_domain(self, X: Any, distance: np.ndarray | None = None) -> np.ndarray:
        """Boolean per input: domain distance above :meth:`out_of_domain_threshold`."""
        dist = self.domain_distance(X) if distance is None else np.asarray(distance)
        return np.asarray(dist, dtype=float) > self.out_of_domain_threshold()
