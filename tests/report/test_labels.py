"""Tests of report.labels: axis labels and numbers as text."""

from __future__ import annotations

import math

import numpy as np

from e2t_discovery.report import axis_label
from e2t_discovery.report.labels import fmt


def test_axis_labels_are_words_with_the_unit() -> None:
    assert axis_label("thermal_conductivity", "W/m/K") == "Thermal conductivity (W/m/K)"
    assert axis_label("band_gap_gga", "eV") == "Band gap GGA (eV)"
    assert axis_label("Cp", "J/kg/K") == "Cp (J/kg/K)"
    assert axis_label("density", "") == "Density"


def test_fmt_gives_significant_digits_and_hides_nan() -> None:
    assert fmt(1.15470054) == "1.155"
    assert fmt(np.float64(0.142857), 3) == "0.143"
    assert fmt(math.nan) == ""
    assert fmt(3) == "3" and fmt("x") == "x"
