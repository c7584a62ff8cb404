"""A table of element properties from pymatgen, built once, and composition statistics over it.

Used by the composition featurizer (Magpie-style statistics of a formula) and available to
the structure featurizer (atom features of crystal graphs, composition statistics of a
structure). Rows are elements H (Z=1) to Lr (Z=103); columns are :data:`ELEMENT_PROPERTIES`.

Missing data: pymatgen has no value for some (element, property) pairs (electronegativity
of He/Ne/Ar, atomic radius of several heavy elements, molar volume of At/Fr/Fm–Lr; an
average ionic radius of 0 means "no known ion"). Such entries are filled with the median
of that property over the elements that have it, so every statistic is finite. The filled
positions are listed by :func:`missing_mask`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from functools import cache

import numpy as np
from pymatgen.core import Element

__all__ = [
    "ELEMENT_PROPERTIES",
    "STATISTICS",
    "STOICHIOMETRY_NORMS",
    "MAX_Z",
    "element_index",
    "element_table",
    "missing_mask",
    "composition_statistics",
    "composition_statistics_labels",
]

#: Heaviest element in the table (lawrencium).
MAX_Z = 103


def _valence_counts(element: Element) -> dict[str, float]:
    """Count electrons outside the noble-gas core by orbital letter (Magpie's N*Valence).

    ``[Xe].4f14.5d10.6s2.6p2`` (Pb) gives s=2, p=2, d=10, f=14.
    """
    counts = {"s": 0.0, "p": 0.0, "d": 0.0, "f": 0.0}
    for part in element.electronic_structure.split("."):
        if part.startswith("["):
            continue
        counts[part[1]] += float(part[2:])
    return counts


def _magnitude(value: object) -> float:
    """Return a pymatgen value (float, FloatWithUnit or None) as a float, NaN if absent."""
    if value is None:
        return math.nan
    return float(value)  # type: ignore[arg-type]


def _positive(value: object) -> float:
    """Like :func:`_magnitude`, but a value <= 0 (pymatgen's "no data" for radii) is NaN."""
    number = _magnitude(value)
    return number if number > 0 else math.nan


_GETTERS: dict[str, Callable[[Element], float]] = {
    "atomic_number": lambda e: float(e.Z),
    "atomic_mass": lambda e: _magnitude(e.atomic_mass),
    "row": lambda e: float(e.row),
    "group": lambda e: float(e.group),
    "mendeleev_number": lambda e: _magnitude(e.mendeleev_no),
    "electronegativity": lambda e: _magnitude(e.X),
    "atomic_radius": lambda e: _positive(e.atomic_radius),
    "van_der_waals_radius": lambda e: _positive(e.van_der_waals_radius),
    "average_ionic_radius": lambda e: _positive(e.average_ionic_radius),
    "ionization_energy": lambda e: _magnitude(e.ionization_energy),
    "electron_affinity": lambda e: _magnitude(e.electron_affinity),
    "molar_volume": lambda e: _positive(e.molar_volume),
    "melting_point": lambda e: _positive(e.melting_point),
    "n_s_valence": lambda e: _valence_counts(e)["s"],
    "n_p_valence": lambda e: _valence_counts(e)["p"],
    "n_d_valence": lambda e: _valence_counts(e)["d"],
    "n_f_valence": lambda e: _valence_counts(e)["f"],
    "n_valence": lambda e: sum(_valence_counts(e).values()),
}

#: Columns of the element table, in order.
ELEMENT_PROPERTIES: tuple[str, ...] = tuple(_GETTERS)

#: Fraction-weighted statistics computed per property, in order.
STATISTICS: tuple[str, ...] = ("mean", "min", "max", "range", "mean_abs_dev")

#: p of the stoichiometry p-norms ``(sum_i x_i^p)^(1/p)``; p = 0 is the number of elements.
STOICHIOMETRY_NORMS: tuple[int, ...] = (0, 2, 3, 5, 7, 10)


@cache
def _raw_table() -> tuple[tuple[str, ...], np.ndarray]:
    """Read every property of elements 1..MAX_Z from pymatgen (NaN where missing)."""
    symbols = []
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for every missing datum
        for z in range(1, MAX_Z + 1):
            element = Element.from_Z(z)
            symbols.append(element.symbol)
            rows.append([getter(element) for getter in _GETTERS.values()])
    return tuple(symbols), np.asarray(rows, dtype=np.float64)


@cache
def _filled_table() -> np.ndarray:
    """The element table with missing entries replaced by the property median (read-only)."""
    _, raw = _raw_table()
    filled = np.where(np.isnan(raw), np.nanmedian(raw, axis=0), raw)
    filled.setflags(write=False)
    return filled


@cache
def _symbol_to_row() -> dict[str, int]:
    symbols, _ = _raw_table()
    return {symbol: i for i, symbol in enumerate(symbols)}


def element_index(symbol: str) -> int:
    """Return the table row of an element symbol (``Z - 1``).

    Raises:
        ValueError: if the symbol is not an element from H to Lr.
    """
    try:
        return _symbol_to_row()[symbol]
    except KeyError:
        raise ValueError(f"unknown element {symbol!r} (known: H to Lr)") from None


def element_table() -> tuple[tuple[str, ...], np.ndarray]:
    """Return the element symbols and the filled property table.

    Returns:
        ``(symbols, table)``: ``MAX_Z`` symbols and a read-only float64 array of shape
        ``MAX_Z x len(ELEMENT_PROPERTIES)``; row ``i`` is the element with ``Z = i + 1``.
    """
    symbols, _ = _raw_table()
    return symbols, _filled_table()


def missing_mask() -> np.ndarray:
    """Return the ``MAX_Z x len(ELEMENT_PROPERTIES)`` bool mask of entries filled by median."""
    _, raw = _raw_table()
    return np.isnan(raw)


def composition_statistics_labels() -> list[str]:
    """Return the labels of :func:`composition_statistics`'s output, in order."""
    labels = [f"{stat}_{prop}" for prop in ELEMENT_PROPERTIES for stat in STATISTICS]
    return labels + [f"stoich_norm_{p}" for p in STOICHIOMETRY_NORMS]


def composition_statistics(amounts: Mapping[str, float]) -> np.ndarray:
    """Return Magpie-style statistics of element properties for one composition.

    For each property p with atomic fractions x_i: mean ``sum x_i p_i``, min and max over
    the elements present, range ``max - min``, and mean absolute deviation
    ``sum x_i |p_i - mean|``; then the stoichiometry norms of the fractions.

    Args:
        amounts: Element symbol -> amount (any positive scale; normalized here).

    Returns:
        float64 vector of length ``len(composition_statistics_labels())``, grouped per
        property in the order of :data:`STATISTICS`, followed by the norms.

    Raises:
        ValueError: if an element is unknown, an amount is not positive, or it is empty.
    """
    if not amounts:
        raise ValueError("empty composition")
    rows = [element_index(symbol) for symbol in amounts]
    weights = np.fromiter(amounts.values(), dtype=np.float64, count=len(amounts))
    if not np.all(weights > 0):
        raise ValueError(f"element amounts must be positive, got {dict(amounts)}")
    fractions = weights / weights.sum()
    values = _filled_table()[rows]  # n_elements x n_properties
    mean = fractions @ values
    low = values.min(axis=0)
    high = values.max(axis=0)
    deviation = fractions @ np.abs(values - mean)
    stats = np.stack([mean, low, high, high - low, deviation], axis=1).ravel()
    norms = [float(len(fractions))] + [
        float(np.sum(fractions**p) ** (1.0 / p)) for p in STOICHIOMETRY_NORMS[1:]
    ]
    return np.concatenate([stats, norms])
