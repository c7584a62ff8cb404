"""Chemical formulas -> Magpie-style statistics of element properties.

A formula is parsed by pymatgen (:class:`pymatgen.core.Composition`), and each element
property of :data:`~e2t_discovery.featurize.elements.ELEMENT_PROPERTIES` is summarized by
its fraction-weighted mean, min, max, range and mean absolute deviation, followed by the
stoichiometry p-norms of the atomic fractions. Features depend on atomic fractions only,
so ``Fe4O6`` and ``Fe2O3`` featurize alike (and share :func:`canonical_formula`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from pymatgen.core import Composition

from e2t_discovery.featurize.base import Featurizer
from e2t_discovery.featurize.elements import (
    composition_statistics,
    composition_statistics_labels,
    element_index,
)

__all__ = ["CompositionFeaturizer", "canonical_formula", "parse_formula"]


def parse_formula(formula: Any) -> Composition:
    """Parse a formula (or pass a pymatgen Composition through) and validate it.

    Args:
        formula: A formula string such as ``"CH3NH3PbI3"`` or ``"Fe2O3"``, or a Composition.

    Returns:
        The composition, with every element in the element table (H to Lr) and a positive
        amount.

    Raises:
        TypeError: if ``formula`` is neither a string nor a Composition.
        ValueError: with a reason: empty, unparsable, unknown element, non-positive amount.
    """
    if isinstance(formula, Composition):
        composition = formula
    elif isinstance(formula, str):
        if not formula.strip():
            raise ValueError("empty formula")
        try:
            composition = Composition(formula)
        except ValueError as exc:
            raise ValueError(f"unparsable formula: {exc}") from None
    else:
        raise TypeError(f"expected a formula string, got {type(formula).__name__}")
    amounts = composition.get_el_amt_dict()
    if not amounts:
        raise ValueError("formula has no atoms")
    for symbol, amount in amounts.items():
        element_index(symbol)
        if amount <= 0:
            raise ValueError(f"amount of {symbol} must be positive, got {amount}")
    return composition


def canonical_formula(formula: Any) -> str:
    """Validate a formula and return pymatgen's reduced formula of it.

    ``"CH3NH3PbI3"`` and ``"C2H12N2Pb2I6"`` both give ``"H6PbCI3N"`` (pymatgen's element
    order), and ``"Fe4O6"`` gives ``"Fe2O3"``.

    Raises:
        TypeError, ValueError: as :func:`parse_formula`.
    """
    return str(parse_formula(formula).reduced_formula)


@lru_cache(maxsize=65536)
def _features_of_formula(formula: str) -> np.ndarray:
    """Return the (read-only, cached) feature vector of a formula string."""
    features = composition_statistics(parse_formula(formula).get_el_amt_dict())
    features.setflags(write=False)
    return features


class CompositionFeaturizer(Featurizer):
    """Formula -> element-property statistics (Magpie style) and stoichiometry norms.

    Items are formula strings or pymatgen ``Composition`` objects. Results of formula
    strings are cached (many materials share a formula, e.g. polymorphs).
    """

    kind = "composition"

    def __repr__(self) -> str:
        return "CompositionFeaturizer()"

    def featurize_one(self, item: Any) -> np.ndarray:
        """Return the feature vector (float32, ``n_features``) of one formula.

        Raises:
            TypeError, ValueError: with a reason, as :func:`parse_formula`.
        """
        if isinstance(item, str):
            return _features_of_formula(item).astype(np.float32)
        amounts = parse_formula(item).get_el_amt_dict()
        return composition_statistics(amounts).astype(np.float32)

    def featurize_canonical_one(self, item: Any) -> tuple[str, np.ndarray]:
        """Return :func:`canonical_formula` of one formula and its feature vector.

        Raises:
            TypeError, ValueError: with a reason, as :func:`parse_formula`.
        """
        return canonical_formula(item), self.featurize_one(item)

    def feature_labels(self) -> list[str]:
        """Return ``{statistic}_{property}`` labels followed by ``stoich_norm_{p}``."""
        return composition_statistics_labels()
