"""Transfer learning: start a target model from a source (another property, a cheaper
fidelity, another campaign's measurements).

Three methods, each on the GP-head E2T surrogate (:class:`SourceModel`: one
meta-trained surrogate per source property):

- ``finetune``: the source-trained surrogate re-targeted on the target rows, its kernel
  scales refitted and ``phi`` fine-tuned on target episodes (the E2T paper's protocol);
- ``affine``: affine model transfer, target = ``a . f_s(x) + b`` plus a GP residual on the
  inputs (Minami, Fukumizu, Hayashi et al.);
- ``multitask``: a multi-task GP over source and target rows (BoTorch ``MultiTaskGP``),
  the standard baseline;
- ``auto``: whichever of the candidates (default ``affine`` and ``finetune``) predicts
  held-out target domains best in a cross-validation on the target labels
  (:mod:`~e2t_discovery.model.transfer.select`).

Example:
    >>> source = SourceModel.fit(X_src, Y_src, groups_src, settings=PRESETS["descriptor"])
    >>> model = fit_transfer("affine", source, X_tgt, y_tgt)
    >>> mean, std = model.predict(X_new, return_std=True)
    >>> model.condition(X_lab, y_lab).save("models/transfer")
    >>> same = load_transfer("models/transfer")

Every model: ``predict(X, return_std)``, ``condition(X, y)`` (new target measurements,
no refit), ``save(dir)`` / :func:`load_transfer` (JSON + safetensors, no pickle),
``to_botorch()`` and ``info()``. Inputs of source and target are featurized alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from e2t_discovery.exceptions import ModelError
from e2t_discovery.model.transfer.affine import AffineTransfer
from e2t_discovery.model.transfer.base import TransferBoTorchModel, TransferModel
from e2t_discovery.model.transfer.finetune import FinetuneTransfer
from e2t_discovery.model.transfer.multitask import MultiTaskTransfer
from e2t_discovery.model.transfer.select import CANDIDATES, select_transfer
from e2t_discovery.model.transfer.source import SourceModel

__all__ = ["CANDIDATES", "METHODS", "METHOD_CLASSES", "AffineTransfer", "FinetuneTransfer",
           "MultiTaskTransfer", "SourceModel", "TransferBoTorchModel", "TransferModel",
           "fit_transfer", "load_transfer"]

METHOD_CLASSES: dict[str, type[TransferModel]] = {
    "finetune": FinetuneTransfer,
    "affine": AffineTransfer,
    "multitask": MultiTaskTransfer,
}
#: Every ``method`` of :func:`fit_transfer`: the fitted kinds and ``auto`` (chooses one).
METHODS = (*METHOD_CLASSES, "auto")


def fit_transfer(method: str, source: SourceModel | tuple[Any, ...], target_X: Any,
                 target_y: Any, *, target_groups: Any = None, seed: int = 0,
                 source_settings: dict[str, Any] | None = None,
                 **options: Any) -> TransferModel:
    """Fit a transfer model of the target on target rows, starting from a source.

    Args:
        method: ``finetune``, ``affine``, ``multitask``, or ``auto`` (cross-validate
            ``candidates`` on the target labels, fit the best; options: ``candidates``, a
            list of methods, and a table of options per method, e.g.
            ``affine={"residual": False}``).
        source: A fitted :class:`SourceModel` (fit it once, share it between methods), or
            ``(source_X, source_y)`` / ``(source_X, source_y, source_groups)`` to fit one
            here with ``source_settings`` (SurrogateConfig options).
        target_X: ``n x d`` target inputs, featurized as the source inputs.
        target_y: ``n`` target labels (any units).
        target_groups: ``n`` domain labels of the target rows (``finetune`` episodes).
        seed: Seed of the method's random draws (and of a source fitted here).
        source_settings: Options of source surrogates fitted here.
        **options: Options of the method's class (e.g. ``steps`` for ``finetune``,
            ``max_source_rows`` for ``multitask``, ``residual`` for ``affine``).

    Raises:
        ModelError: on an unknown method, bad shapes, or fewer than 2 target rows.
    """
    if method not in METHODS:
        raise ModelError(f"unknown transfer method {method!r}; use one of {', '.join(METHODS)}")
    if not isinstance(source, SourceModel):
        if not isinstance(source, tuple) or len(source) not in (2, 3):
            raise ModelError("source must be a SourceModel or (source_X, source_y[, groups])")
        groups = source[2] if len(source) == 3 else None
        source = SourceModel.fit(source[0], source[1], groups, settings=source_settings,
                                 seed=seed)
    n = np.asarray(target_y).reshape(-1).size
    if n < 2:
        raise ModelError(f"transfer needs at least 2 target labels, got {n}")
    if method == "auto":
        candidates = tuple(options.pop("candidates", CANDIDATES))
        unknown = sorted(set(candidates) - set(METHOD_CLASSES)) + sorted(
            k for k in options if k not in METHOD_CLASSES)
        if unknown:
            raise ModelError(f"transfer method 'auto': unknown candidate or option "
                             f"{', '.join(map(repr, unknown))}; candidates are "
                             f"{', '.join(METHOD_CLASSES)}")
        fitted = source

        def fit_one(name: str, X: Any, y: Any, groups: Any, **opts: Any) -> TransferModel:
            return fit_transfer(name, fitted, X, y, target_groups=groups, seed=seed, **opts)

        X = np.asarray(target_X, dtype=np.float64)
        return select_transfer(fit_one, X, np.asarray(target_y, dtype=np.float64).reshape(-1),
                               target_groups, candidates=candidates, options=options,
                               seed=seed)  # type: ignore[no-any-return]
    if method == "finetune":
        return FinetuneTransfer(source, seed=seed, **options).fit(target_X, target_y,
                                                                  target_groups)
    if method == "multitask":
        return MultiTaskTransfer(source, seed=seed, **options).fit(target_X, target_y)
    return AffineTransfer(source, **options).fit(target_X, target_y)


def load_transfer(directory: Any) -> TransferModel:
    """Load a transfer model saved by :meth:`TransferModel.save` (any method)."""
    return TransferModel.load(directory)
