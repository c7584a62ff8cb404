"""Tests of the composition featurizer and the element table with real pymatgen data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Composition, Element

from e2t_discovery.exceptions import FeaturizationError
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.featurize.composition import CompositionFeaturizer, canonical_formula
from e2t_discovery.featurize.elements import (
    ELEMENT_PROPERTIES,
    MAX_Z,
    composition_statistics,
    element_index,
    element_table,
    missing_mask,
)


def _feature(featurizer: CompositionFeaturizer, x: np.ndarray, label: str) -> float:
    return float(x[featurizer.feature_labels().index(label)])


def test_statistics_of_nacl_are_fraction_weighted() -> None:
    featurizer = CompositionFeaturizer()

    x = featurizer.featurize_one("NaCl")

    chi_na, chi_cl = Element("Na").X, Element("Cl").X
    assert _feature(featurizer, x, "mean_atomic_number") == 14.0
    assert _feature(featurizer, x, "range_atomic_number") == 6.0
    assert _feature(featurizer, x, "mean_abs_dev_atomic_number") == 3.0
    assert _feature(featurizer, x, "min_electronegativity") == pytest.approx(chi_na)
    assert _feature(featurizer, x, "max_electronegativity") == pytest.approx(chi_cl)
    assert _feature(featurizer, x, "stoich_norm_0") == 2.0
    assert _feature(featurizer, x, "stoich_norm_2") == pytest.approx(np.sqrt(0.5))


def test_unequal_fractions_weight_the_mean_and_deviation() -> None:
    featurizer = CompositionFeaturizer()

    x = featurizer.featurize_one("Fe2O3")

    mean = 0.4 * 26 + 0.6 * 8
    assert _feature(featurizer, x, "mean_atomic_number") == pytest.approx(mean)
    deviation = 0.4 * abs(26 - mean) + 0.6 * abs(8 - mean)
    assert _feature(featurizer, x, "mean_abs_dev_atomic_number") == pytest.approx(deviation)


def test_valence_electrons_follow_the_electronic_structure() -> None:
    symbols, table = element_table()

    lead = dict(zip(ELEMENT_PROPERTIES, table[element_index("Pb")], strict=True))

    assert symbols[element_index("Pb")] == "Pb" and lead["atomic_number"] == 82
    assert (lead["n_s_valence"], lead["n_p_valence"], lead["n_d_valence"]) == (2, 2, 10)
    assert lead["n_f_valence"] == 14 and lead["n_valence"] == 28


def test_missing_element_data_are_filled_with_the_property_median() -> None:
    _, table = element_table()
    missing = missing_mask()
    column = ELEMENT_PROPERTIES.index("electronegativity")

    assert table.shape == (MAX_Z, len(ELEMENT_PROPERTIES)) and np.isfinite(table).all()
    assert missing[element_index("He"), column]
    assert table[element_index("He"), column] == np.median(table[~missing[:, column], column])


def test_features_depend_on_fractions_only() -> None:
    X = CompositionFeaturizer().transform(["Fe2O3", "Fe4O6", Composition("Fe2O3")])

    np.testing.assert_array_equal(X[0], X[1])
    np.testing.assert_array_equal(X[0], X[2])
    np.testing.assert_allclose(CompositionFeaturizer().featurize_one("O3Fe2"), X[0], rtol=1e-6)
    assert canonical_formula("Fe4O6") == "Fe2O3"
    assert canonical_formula("CH3NH3PbI3") == canonical_formula("C2H12N2Pb2I6")


@pytest.mark.parametrize(
    ("formula", "reason"),
    [
        ("", "empty formula"),
        ("Xx2O", "unknown element 'Xx'"),
        ("(((", "unparsable formula"),
        ("nacl", "unparsable formula"),
        ("Fe2O-3", "cannot be negative"),
        ("Fe0", "no atoms"),
    ],
)
def test_canonical_formula_rejects_bad_formulas(formula: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        canonical_formula(formula)


def test_composition_statistics_rejects_non_positive_amounts() -> None:
    with pytest.raises(ValueError, match="amounts must be positive"):
        composition_statistics({"Fe": 1.0, "O": 0.0})


def test_transform_names_the_bad_row_and_item() -> None:
    with pytest.raises(FeaturizationError, match=r"row 1: .*unknown element 'Xx'.*'Xx2O'"):
        get_featurizer("composition").transform(["NaCl", "Xx2O"])


def test_transform_with_rejects_keeps_going_past_bad_rows() -> None:
    featurizer = CompositionFeaturizer()

    batch = featurizer.transform_with_rejects(["NaCl", 3.5, "", "KBr"])

    np.testing.assert_array_equal(batch.ok, [True, False, False, True])
    np.testing.assert_array_equal(batch.X, featurizer.transform(["NaCl", "KBr"]))
    assert batch.reasons[1] == "invalid composition input: expected a formula string, got float"
    assert batch.reasons[2] == "invalid composition input: empty formula"


def test_canonical_batch_gives_reduced_formulas() -> None:
    featurizer = CompositionFeaturizer()

    batch = featurizer.transform_with_rejects(["Fe4O6", "Xx", "CH3NH3PbI3"], canonical=True)

    assert batch.canonical == ["Fe2O3", None, canonical_formula("CH3NH3PbI3")]
    np.testing.assert_array_equal(batch.X, featurizer.transform(["Fe2O3", "CH3NH3PbI3"]))


def test_cached_features_cannot_be_corrupted_by_callers() -> None:
    featurizer = CompositionFeaturizer()
    first = featurizer.featurize_one("KBr")
    first[:] = -1.0

    assert featurizer.featurize_one("KBr")[0] == 0.5 * (19 + 35)


def test_hoip_formulas_featurize_to_finite_distinct_rows(data_dir: Path) -> None:
    formulas = pd.read_csv(data_dir / "hoip" / "hoip.csv")["formula"]

    X = CompositionFeaturizer().transform(formulas.tolist())

    assert X.shape == (len(formulas), len(CompositionFeaturizer().feature_labels()))
    assert np.isfinite(X).all()
    n_compositions = len({canonical_formula(f) for f in formulas})
    assert len(np.unique(X, axis=0)) == n_compositions
