"""Choose the transfer method from the target labels: cross-validation across domains.

Whether a source helps depends on the campaign: GGA band gaps carry HSE06 band gaps
almost exactly, while density, Cp and refractive index say little about an unseen
polymer class's thermal conductivity, and there an affine map of them can be worse than
no transfer at all. ``method = "auto"`` lets the campaign's own labels decide:

1. **Folds.** With target domains (``groups``) of at least :data:`MIN_DOMAINS` distinct
   values, each fold holds out whole domains (leave-one-domain-out, grouped into at most
   :data:`MAX_FOLDS` folds): the question is how well a method predicts a domain it has no
   target label of, which is the extrapolation the campaign is after. Otherwise (no or
   too few domains) ``min(MAX_FOLDS, n)`` random folds.
2. **Score.** Every candidate method is fitted on each fold's training rows and predicts
   the held-out rows; its score is the RMSE over all held-out rows (target units).
3. **Choice.** The candidate with the lowest score, fitted on all target rows; ties (within
   :data:`TIE`) go to the earlier candidate. With fewer than :data:`MIN_ROWS` labels the
   data cannot judge and the first candidate is taken without cross-validation.

The default candidates are ``affine`` (the source carries the target through ``a . f_s
+ b``) and ``finetune`` (the source's meta-trained surrogate re-targeted: where the
source property does not carry the target its marginal-likelihood fit on the target rows
is the target-only GP). Both fit in well under a second on tens of rows, so the
cross-validation costs a few seconds; ``multitask`` can be added (seconds per fit).

The chosen model records the decision in :attr:`TransferModel.selection` (saved with it):
the candidates' scores, the folds, and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from e2t_discovery.exceptions import ModelError

__all__ = ["CANDIDATES", "MAX_FOLDS", "MIN_DOMAINS", "MIN_ROWS", "TIE", "cv_folds",
           "select_transfer"]

#: Candidate methods of ``auto``, in order of preference on a tie.
CANDIDATES = ("affine", "finetune")
#: Most cross-validation folds.
MAX_FOLDS = 8
#: Fewest distinct target domains for domain-wise folds.
MIN_DOMAINS = 3
#: Fewest target labels for cross-validation (fewer: the first candidate).
MIN_ROWS = 6
#: Relative score difference below which two candidates tie.
TIE = 1e-3


def cv_folds(n: int, groups: Any = None, seed: int = 0) -> tuple[list[np.ndarray], str]:
    """Held-out index sets over ``n`` rows and how they were made.

    Domain-wise when ``groups`` has at least :data:`MIN_DOMAINS` distinct values (whole
    domains per fold; more domains than :data:`MAX_FOLDS` are dealt round-robin, largest
    first, into that many folds), else ``min(MAX_FOLDS, n)`` random folds.
    """
    rng = np.random.default_rng([seed, 31])
    if groups is not None:
        labels = np.asarray(groups).reshape(-1)
        if labels.size != n:
            raise ModelError(f"target_groups has {labels.size} labels for {n} rows")
        values, codes, counts = np.unique(labels.astype(str), return_inverse=True,
                                          return_counts=True)
        if values.size >= MIN_DOMAINS:
            k = min(MAX_FOLDS, values.size)
            order = np.lexsort((rng.permutation(values.size), -counts))
            fold_of = np.empty(values.size, dtype=np.int64)
            fold_of[order] = np.arange(values.size) % k
            return [np.flatnonzero(fold_of[codes] == f) for f in range(k)], \
                f"leave-domains-out ({values.size} domains, {k} folds)"
    k = min(MAX_FOLDS, n)
    perm = rng.permutation(n)
    return [np.sort(perm[f::k]) for f in range(k)], f"random ({k} folds)"


def select_transfer(fit: Callable[..., Any], X: np.ndarray, y: np.ndarray,
                    groups: Any = None, *, candidates: Sequence[str] = CANDIDATES,
                    options: Mapping[str, Mapping[str, Any]] | None = None,
                    seed: int = 0) -> Any:
    """Cross-validate ``candidates`` on the target rows; return the best, fitted on all.

    Args:
        fit: ``fit(method, X, y, groups, **options)`` -> a fitted transfer model
            (:func:`~e2t_discovery.model.transfer.fit_transfer` with the source bound).
        X, y: Target rows (validated by the caller).
        groups: Their domain labels, or None.
        candidates: Methods to compare, in order of preference on a tie.
        options: Per-method options (``{"affine": {"residual": False}}``).
        seed: Seed of random folds and of the methods.

    Returns:
        The chosen method's model on all rows, its :attr:`selection` filled in.
    """
    if not candidates:
        raise ModelError("transfer method 'auto' needs at least one candidate method")
    options = options or {}
    n = y.size
    labels = None if groups is None else np.asarray(groups).reshape(-1)
    scores: dict[str, float] = {}
    if n < MIN_ROWS:
        chosen, how = candidates[0], f"fewer than {MIN_ROWS} target labels: no cross-validation"
    else:
        folds, how = cv_folds(n, labels, seed)
        # a fold whose training part is nearly empty (one domain holds almost every
        # label) cannot fit a method: random folds instead
        if any(n - test.size < MIN_ROWS // 2 for test in folds):
            folds, how = cv_folds(n, None, seed)
        for method in candidates:
            errors = np.empty(n)
            for test in folds:
                train = np.setdiff1d(np.arange(n), test)
                part = fit(method, X[train], y[train],
                           None if labels is None else labels[train], **options.get(method, {}))
                errors[test] = np.asarray(part.predict(X[test]), dtype=np.float64) - y[test]
            scores[method] = float(np.sqrt(np.mean(errors ** 2)))
        best = min(scores.values())
        chosen = next(m for m in candidates if scores[m] <= best * (1 + TIE))
    model = fit(chosen, X, y, labels, **options.get(chosen, {}))
    model.selection = {"chosen": chosen, "candidates": list(candidates),
                       "cv_rmse": scores, "folds": how, "n_labels": int(n)}
    return model
