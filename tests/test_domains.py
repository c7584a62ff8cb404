"""Domain rules: column labels, element groups, k-means clusters and label codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2t_discovery.data.datasets import (
    HOIP_HALIDES,
    HOIP_METALS,
    hoip_domains,
)
from e2t_discovery.domains import (
    NO_ELEMENT,
    canonical_element_domain,
    cluster_domains,
    column_domains,
    domain_from_elements,
    domain_label,
    element_domain,
    element_group_hits,
    element_group_label,
    encode_domains,
    frame_domains,
)
from e2t_discovery.exceptions import ModelError

HOIP_GROUPS = [list(HOIP_METALS), list(HOIP_HALIDES)]


# ---------------------------------------------------------------------- column
def test_pi1070_classes_are_the_column_labels(pi1070: pd.DataFrame) -> None:
    labels = frame_domains(pi1070, method="column", column="polymer_class",
                           element_groups=None, kind="polymer", input_column="smiles")

    assert labels.dtype == object
    np.testing.assert_array_equal(labels, pi1070["polymer_class"].astype(str).to_numpy())
    counts = pd.Series(labels).value_counts()
    assert counts.index[0] == "13"  # the largest PoLyInfo class of PI1070
    assert set(labels) >= {"1", "2", "3", "4", "7", "9", "10", "13", "15"}


def test_float_classes_read_as_integers_and_missing_ones_as_none(pi1070: pd.DataFrame) -> None:
    classes = pi1070["polymer_class"].astype(np.float64).head(6).copy()
    classes.iloc[2] = np.nan

    labels = column_domains(classes)

    expected = [None if pd.isna(v) else str(int(v)) for v in classes]
    assert labels.tolist() == expected
    assert labels[2] is None


@pytest.mark.parametrize(("value", "label"), [
    (13.0, "13"), (np.float32(2.0), "2"), (2.5, "2.5"), (" Pb-I ", "Pb-I"), (7, "7"),
])
def test_domain_label(value: object, label: str) -> None:
    assert domain_label(value) == label


def test_column_missing_from_the_frame_or_clustering_gives_none() -> None:
    frame = pd.DataFrame({"smiles": ["*CC*", "*OCC*"]})

    for method in ("column", "clustering"):
        labels = frame_domains(frame, method=method, column="polymer_class",
                               element_groups=None, kind="polymer", input_column="smiles")
        assert labels.tolist() == [None, None]


# ---------------------------------------------------------------------- elements
def test_domain_from_elements() -> None:
    groups = [["Ge", "Sn", "Pb"], ["F", "Cl", "Br", "I"]]
    assert domain_from_elements("CH3NH3PbI3", groups) == "Pb-I"
    assert domain_from_elements("CsPbBrI2", groups) == "Pb-Br+I"
    assert domain_from_elements("NaCl", groups) == "none-Cl"


def test_group_hits_keep_the_group_order() -> None:
    hits = element_group_hits({"I", "Br", "Pb"}, HOIP_GROUPS)

    assert hits == [["Pb"], ["Br", "I"]]
    assert element_group_label(hits) == "Pb-Br+I"
    assert element_group_label([[], ["I"]]) == f"{NO_ELEMENT}-I"


def test_hoip_formulas_give_the_12_metal_halide_domains(hoip: pd.DataFrame) -> None:
    from_formulas = np.array([domain_from_elements(f, HOIP_GROUPS) for f in hoip["formula"]])

    np.testing.assert_array_equal(from_formulas, hoip_domains(hoip))
    assert len(set(from_formulas)) == 12
    assert int((from_formulas == "Pb-I").sum()) == 117  # the paper's PbI test set
    assert int((from_formulas == "Ge-F").sum()) == 97  # the paper's GeF test set


@pytest.mark.filterwarnings("ignore:.*_symmetry_equiv_pos_as_xyz:UserWarning")
def test_hoip_structures_give_the_domain_of_their_formula(hoip: pd.DataFrame) -> None:
    rows = hoip.groupby(hoip_domains(hoip)).head(1)  # one structure per domain

    for path, formula in zip(rows["cif_path"], rows["formula"], strict=True):
        expected = domain_from_elements(formula, HOIP_GROUPS)
        assert element_domain(path, "structure", HOIP_GROUPS) == expected
        text = Path(path).read_text()
        assert element_domain(text, "structure", HOIP_GROUPS) == expected
        assert canonical_element_domain(text, "structure", HOIP_GROUPS) == expected
    assert len(rows) == 12


def test_elements_rule_on_a_frame(hoip: pd.DataFrame) -> None:
    frame = hoip.head(20)[["id", "formula"]]

    labels = frame_domains(frame, method="elements", column=None, element_groups=HOIP_GROUPS,
                           kind="composition", input_column="formula")
    given = frame_domains(frame, method="elements", column=None, element_groups=HOIP_GROUPS,
                          kind="composition", input_column="formula",
                          canonical=["CsPbBrI2"] * 20)

    np.testing.assert_array_equal(labels, hoip_domains(hoip.head(20)))
    assert set(given) == {"Pb-Br+I"}


def test_unreadable_structure_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CIF file not found"):
        element_domain(str(tmp_path / "missing.cif"), "structure", HOIP_GROUPS)


# ---------------------------------------------------------------------- clusters and codes
def test_pi1070_clusters_are_seeded_contiguous_codes(pi1070: pd.DataFrame) -> None:
    X = pi1070[["mol_weight_monomer", "atomic_weight_mean", "vdw_volume_monomer"]].to_numpy()

    codes = cluster_domains(X, n_clusters=5, seed=0)

    assert codes.shape == (len(pi1070),) and codes.dtype == np.int64
    assert sorted(set(codes.tolist())) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(codes, cluster_domains(X, n_clusters=5, seed=0))
    assert len(set(cluster_domains(X[:12], n_clusters=5).tolist())) == 3  # capped at n // 4


def test_codes_follow_the_labels_sorted_as_text() -> None:
    codes = encode_domains(np.array([10, 2, 1, 2]), 4)

    assert codes.tolist() == [1, 2, 0, 2]  # "1" < "10" < "2"
    with pytest.raises(ModelError, match=r"groups has shape \(2,\), expected \(3,\)"):
        encode_domains(["a", "b"], 3)
