"""Every rule that assigns a domain (a group for extrapolation) to a material.

A campaign's ``[domains] method`` picks the rule:

- ``column``: the label in a column of the file (:func:`domain_label`,
  :func:`column_domains`);
- ``elements``: per element group, the group's elements present in the formula
  (:func:`domain_from_elements`; ``Pb-I`` for CH3NH3PbI3 with groups ``[Ge, Sn, Pb]``,
  ``[F, Cl, Br, I]``), from a formula or a structure (:func:`element_domain`,
  :func:`canonical_element_domain`); the HOIP benchmark's metal-halide domains
  (``data.datasets.hoip_domains``) are the same rule with one element of each group
  required;
- ``clustering``: k-means clusters on the model inputs, assigned inside the surrogate
  (:func:`cluster_domains`).

:func:`frame_domains` applies the campaign's rule to a frame of candidates or lab rows.
A row without a domain holds None (null in the store); where a label is needed for it
(training groups, counts, reports) it is :data:`NO_DOMAIN`. :func:`encode_domains` turns
labels into the integer codes episodes are drawn from.

Imports: numpy, pandas, scikit-learn, pymatgen, the exceptions and featurize helpers only
(all but numpy when first used), so that the model, screen, store and loop layers may
all use it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from e2t_discovery.exceptions import ModelError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "NO_DOMAIN",
    "NO_ELEMENT",
    "canonical_element_domain",
    "cluster_domains",
    "column_domains",
    "domain_from_elements",
    "domain_label",
    "element_domain",
    "element_group_hits",
    "element_group_label",
    "encode_domains",
    "frame_domains",
]

#: The label of a row that has no domain, where a label is needed (None elsewhere).
NO_DOMAIN = "(none)"
#: An element group's part of an ``elements`` label when none of its elements is present.
NO_ELEMENT = "none"


# ---------------------------------------------------------------------- column
def domain_label(value: Any) -> str:
    """Domain label text: 13.0 -> '13', ' Pb-I ' -> 'Pb-I'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def column_domains(values: Iterable[Any]) -> np.ndarray:
    """Return the label of each value of a domain column (None for a missing one)."""
    import pandas as pd

    return np.array([None if pd.isna(v) else domain_label(v) for v in values], dtype=object)


# ---------------------------------------------------------------------- elements
def element_group_hits(present: Collection[str],
                       groups: Sequence[Sequence[str]]) -> list[list[str]]:
    """Return, per group, the group's elements in ``present`` (in the group's order)."""
    return [[el for el in group if el in present] for group in groups]


def element_group_label(hits: Sequence[Sequence[str]]) -> str:
    """Return the label of per-group hits: ``[["Pb"], ["Br", "I"]]`` -> ``"Pb-Br+I"``.

    A group without a hit contributes :data:`NO_ELEMENT`.
    """
    return "-".join("+".join(hit) if hit else NO_ELEMENT for hit in hits)


def domain_from_elements(formula: str, groups: list[list[str]]) -> str:
    """Return the domain label of a formula: per group, the group's elements present.

    ``domain_from_elements("CH3NH3PbI3", [["Ge", "Sn", "Pb"], ["F", "Cl", "Br", "I"]])``
    is ``"Pb-I"``; a group with no element present contributes ``none``, several present
    are joined by ``+``.
    """
    from pymatgen.core import Composition

    present = {el.symbol for el in Composition(formula).elements}
    return element_group_label(element_group_hits(present, groups))


def element_domain(item: Any, kind: str, groups: list[list[str]]) -> str:
    """Return the ``elements`` domain of a formula, or of a structure (CIF path or text).

    Raises:
        ValueError, TypeError, KeyError: if the item cannot be read.
    """
    formula = item
    if kind == "structure":
        from e2t_discovery.featurize.structure import parse_structure

        formula = parse_structure(item).composition.formula
    return domain_from_elements(formula, groups)


def canonical_element_domain(text: str, kind: str, groups: list[list[str]]) -> str:
    """Return the ``elements`` domain of a canonical form (a formula, or CIF text)."""
    if kind == "structure":
        from pymatgen.core import Structure

        formula = Structure.from_str(text, fmt="cif").composition.formula
    else:
        formula = text
    return domain_from_elements(formula, groups)


# ---------------------------------------------------------------------- a campaign's rule
def frame_domains(frame: pd.DataFrame, *, method: str, column: str | None,
                  element_groups: list[list[str]] | None, kind: str, input_column: str,
                  canonical: Sequence[Any] | None = None) -> np.ndarray:
    """Return the domain label of each row of a candidate/lab frame (None if unknown).

    Args:
        frame: The rows.
        method: The campaign's ``[domains] method``.
        column: The domain column (``column``).
        element_groups: The element groups (``elements``).
        kind: The representation (``polymer``, ``composition``, ``structure``).
        input_column: The column holding the representation.
        canonical: The rows' canonical forms (``elements``; default: the input column).

    Returns:
        ``column``: the column's labels if it is present; ``elements``: from the formula
        or structure; ``clustering``: None (the model assigns clusters).
    """
    n = len(frame)
    if method == "column":
        assert column is not None
        if column not in frame.columns:
            return np.full(n, None, dtype=object)
        return column_domains(frame[column])
    if method == "elements":
        assert element_groups is not None
        items = canonical if canonical is not None else list(frame[input_column])
        return np.array([element_domain(item, kind, element_groups) for item in items],
                        dtype=object)
    return np.full(n, None, dtype=object)


# ---------------------------------------------------------------------- clusters and codes
def encode_domains(groups: np.ndarray | list | None, n: int) -> np.ndarray:
    """Turn arbitrary domain labels into contiguous integer codes.

    Args:
        groups: ``n`` labels of any hashable type.
        n: Expected number of rows.

    Returns:
        ``n`` int64 codes in ``0..n_domains-1``.

    Raises:
        ModelError: if the number of labels differs from ``n``.
    """
    labels = np.asarray(groups)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ModelError(
            f"groups has shape {labels.shape}, expected ({n},); pass one domain label per row"
        )
    _, codes = np.unique(labels.astype(str), return_inverse=True)
    return codes.astype(np.int64)


def cluster_domains(X: np.ndarray, n_clusters: int = 8, seed: int = 0) -> np.ndarray:
    """Derive domains by k-means on standardized inputs.

    Args:
        X: ``n x d`` inputs.
        n_clusters: Number of clusters (capped at ``n // 4``, at least 2).
        seed: Random seed of k-means.

    Returns:
        ``n`` int64 cluster codes.
    """
    from sklearn.cluster import KMeans

    X = np.asarray(X, dtype=np.float64)
    k = int(max(2, min(n_clusters, X.shape[0] // 4)))
    std = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(Z)
    return encode_domains(labels, X.shape[0])
