"""Words of the report: axis labels from property names, and numbers as short text."""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["axis_label", "fmt"]

#: Words of property names written in capitals on axes (``band_gap_gga`` -> "Band gap GGA").
_ACRONYMS = frozenset({"gga", "hse", "pbe", "dft", "homo", "lumo", "qm", "vdw", "tg"})


def axis_label(property: str, unit: str) -> str:
    """Return a property's axis label: words instead of the column name, then the unit.

    ``("thermal_conductivity", "W/m/K")`` gives ``"Thermal conductivity (W/m/K)"``;
    ``("band_gap_gga", "eV")`` gives ``"Band gap GGA (eV)"``.
    """
    words = [w.upper() if w.lower() in _ACRONYMS else w
             for w in re.split(r"[_\s]+", property.strip()) if w]
    text = " ".join(words) or property
    text = text[:1].upper() + text[1:]
    return f"{text} ({unit})" if unit else text


def fmt(v: object, digits: int = 4) -> str:
    """Return ``v`` as text: floats with ``digits`` significant digits, NaN as empty."""
    if isinstance(v, float | np.floating):
        return "" if math.isnan(float(v)) else f"{float(v):.{digits}g}"
    return str(v)
