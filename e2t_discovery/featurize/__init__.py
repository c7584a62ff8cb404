"""Featurizers: representation -> array.

``get_featurizer(kind)`` with kind in ``polymer`` (p-SMILES -> Morgan count fingerprint),
``composition`` (formula -> element-property statistics) and ``structure`` (CIF or
pymatgen Structure -> structure descriptors; crystal graphs via ``.graphs(items)``; with
``foundation="chgnet"`` CHGNet's pretrained crystal features appended, see
:mod:`e2t_discovery.featurize.foundation`).
"""

from __future__ import annotations

from typing import Any

from e2t_discovery.exceptions import FeaturizationError
from e2t_discovery.featurize.base import FeaturizedBatch, Featurizer
from e2t_discovery.featurize.graph import CrystalGraph

__all__ = [
    "FeaturizationError",
    "FeaturizedBatch",
    "Featurizer",
    "CrystalGraph",
    "get_featurizer",
    "featurizer_class",
    "FEATURIZER_KINDS",
]

FEATURIZER_KINDS = ("polymer", "composition", "structure")


def get_featurizer(kind: str, **params: Any) -> Featurizer:
    """Return a featurizer for a representation kind.

    Args:
        kind: ``polymer``, ``composition`` or ``structure``.
        **params: Passed to the featurizer's constructor (e.g. ``radius``, ``n_bits``).

    Raises:
        FeaturizationError: if the kind is unknown (the message lists the known ones).
    """
    return featurizer_class(kind)(**params)


def featurizer_class(kind: str) -> type[Featurizer]:
    """Return the featurizer class of a representation kind (its constructor's parameters
    are the ``[representation.featurizer]`` keys of a campaign file).

    Raises:
        FeaturizationError: if the kind is unknown (the message lists the known ones).
    """
    if kind == "polymer":
        from e2t_discovery.featurize.polymer import PolymerFeaturizer

        return PolymerFeaturizer
    if kind == "composition":
        from e2t_discovery.featurize.composition import CompositionFeaturizer

        return CompositionFeaturizer
    if kind == "structure":
        from e2t_discovery.featurize.structure import StructureFeaturizer

        return StructureFeaturizer
    raise FeaturizationError(
        f"unknown featurizer kind {kind!r}; known kinds: {', '.join(FEATURIZER_KINDS)}"
    )
