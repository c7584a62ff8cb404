"""The featurizer contract shared by every representation.

A featurizer is pure (no processes, no global state beyond an optional on-disk cache) and
turns a batch of items into a 2-D float32 array. It either raises
:class:`~e2t_discovery.exceptions.FeaturizationError` on the first bad item
(:meth:`Featurizer.transform`) or returns a reject mask with a reason per bad item
(:meth:`Featurizer.transform_with_rejects`), so one bad row never kills a screen.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from e2t_discovery.exceptions import FeaturizationError

__all__ = ["Featurizer", "FeaturizedBatch"]


@dataclass(frozen=True)
class FeaturizedBatch:
    """Features of the valid items of a batch, and why the others were rejected.

    Attributes:
        X: ``n_valid x n_features`` float32, rows in input order, valid items only.
        ok: ``n_items`` bool, True where the item was featurized.
        reasons: ``n_items`` entries, None for valid items, a one-line reason otherwise.
        canonical: ``n_items`` canonical forms (None for rejected items) when asked for with
            ``transform_with_rejects(items, canonical=True)``, else None.
    """

    X: np.ndarray
    ok: np.ndarray
    reasons: list[str | None]
    canonical: list[str | None] | None = None


class Featurizer(ABC):
    """Turn items of one representation into fixed-length feature vectors.

    Subclasses implement :meth:`featurize_one` and :meth:`feature_labels`.
    """

    #: Name under which :func:`e2t_discovery.featurize.get_featurizer` finds this class.
    kind: str = ""

    @abstractmethod
    def featurize_one(self, item: Any) -> np.ndarray:
        """Return the feature vector of one item; raise ``ValueError`` with a reason if bad."""

    @abstractmethod
    def feature_labels(self) -> list[str]:
        """Return one label per feature column."""

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return len(self.feature_labels())

    def featurize_canonical_one(self, item: Any) -> tuple[str, np.ndarray]:
        """Return the canonical form and the feature vector of one item.

        The default keeps ``str(item)`` as the canonical form; representations with a
        canonical form (p-SMILES, formulas) override this to parse the item only once.
        """
        return str(item), self.featurize_one(item)

    def _batch_context(self) -> AbstractContextManager[Any]:
        """Entered once around a batch loop (e.g. to silence a library's log once, not
        once per item); the ``_in_batch`` methods below run inside it."""
        return nullcontext()

    def _featurize_in_batch(self, item: Any) -> np.ndarray:
        """:meth:`featurize_one` inside :meth:`_batch_context` (override to skip per-item
        set-up that the context already does)."""
        return self.featurize_one(item)

    def _featurize_canonical_in_batch(self, item: Any) -> tuple[str, np.ndarray]:
        """:meth:`featurize_canonical_one` inside :meth:`_batch_context`."""
        return self.featurize_canonical_one(item)

    def transform(self, items: Sequence[Any]) -> np.ndarray:
        """Featurize every item; raise on the first bad one.

        Args:
            items: A sequence of items (p-SMILES, formulas, CIF text/paths or structures).

        Returns:
            ``n_items x n_features`` float32 array.

        Raises:
            FeaturizationError: naming the row and the item that failed.
        """
        out = np.empty((len(items), self.n_features), dtype=np.float32)
        with self._batch_context():
            for i, item in enumerate(items):
                try:
                    out[i] = self._featurize_in_batch(item)
                except FeaturizationError as exc:
                    raise FeaturizationError(_reason(exc), row=i, item=item) from exc
                except (ValueError, TypeError, KeyError) as exc:
                    raise FeaturizationError(f"invalid {self.kind} input: {_reason(exc)}",
                                             row=i, item=item) from exc
        return out

    def transform_with_rejects(
        self, items: Sequence[Any], *, canonical: bool = False
    ) -> FeaturizedBatch:
        """Featurize what can be featurized and record a reason for every other item.

        Args:
            items: A sequence of ``n_items`` items.
            canonical: Also return each valid item's canonical form (one parse per item
                with :meth:`featurize_canonical_one`), e.g. to key screened candidates.

        Returns:
            A batch whose ``X`` is ``n_valid x n_features`` float32 (input order), with the
            ``ok`` mask, one reason per rejected item and, if asked, the canonical forms.
        """
        out = np.empty((len(items), self.n_features), dtype=np.float32)
        ok = np.zeros(len(items), dtype=bool)
        reasons: list[str | None] = [None] * len(items)
        forms: list[str | None] = [None] * len(items)
        with self._batch_context():
            for i, item in enumerate(items):
                try:
                    if canonical:
                        forms[i], out[i] = self._featurize_canonical_in_batch(item)
                    else:
                        out[i] = self._featurize_in_batch(item)
                    ok[i] = True
                except FeaturizationError as exc:
                    reasons[i] = _reason(exc)
                except (ValueError, TypeError, KeyError) as exc:
                    reasons[i] = f"invalid {self.kind} input: {_reason(exc)}"
        X = out if ok.all() else out[ok]
        return FeaturizedBatch(X=X, ok=ok, reasons=reasons, canonical=forms if canonical else None)


def _reason(exc: Exception) -> str:
    """Return the one-line reason carried by ``exc`` (a KeyError's quotes removed)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)
