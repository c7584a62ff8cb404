"""Tests of the foundation-model features (CHGNet) appended to the structure descriptors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from e2t_discovery.exceptions import FeaturizationError
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.featurize.foundation import CHGNET_WIDTH, chgnet_crystal_features
from e2t_discovery.featurize.structure import StructureFeaturizer, parse_structure

BAD_CIF = "data_broken\n_cell_length_a 5.0\nloop_\n_atom_site_label\n"


@pytest.fixture(scope="module")
def paths(hoip_paths: list[Path]) -> list[Path]:
    """One structure of each of five anion x cation domains."""
    return hoip_paths[:5]


def test_chgnet_columns_follow_the_descriptors(paths: list[Path]) -> None:
    plain = StructureFeaturizer(rdf_bins=0, progress=False)
    featurizer = get_featurizer("structure", rdf_bins=0, foundation="chgnet", progress=False)
    X = featurizer.transform(paths)

    d = plain.n_features
    assert X.shape == (len(paths), d + CHGNET_WIDTH) and X.dtype == np.float32
    assert featurizer.feature_labels()[:d] == plain.feature_labels()
    assert featurizer.feature_labels()[d:] == [f"chgnet_{i}" for i in range(CHGNET_WIDTH)]
    np.testing.assert_array_equal(X[:, :d], plain.transform(paths))
    # one structure at a time (featurize_one) equals CHGNet on the whole batch
    batched = chgnet_crystal_features([parse_structure(p) for p in paths])
    np.testing.assert_allclose(X[:, d:], batched, rtol=1e-5, atol=1e-6)
    assert np.isfinite(X).all()
    # five domains, five different crystal vectors
    gaps = [np.abs(X[i, d:] - X[j, d:]).max() for i in range(len(paths)) for j in range(i)]
    assert min(gaps) > 1e-3


def test_chgnet_features_see_the_geometry(paths: list[Path]) -> None:
    structure = parse_structure(paths[0])
    strained = structure.copy()
    strained.apply_strain(0.05)
    a, b = chgnet_crystal_features([structure, strained])
    assert np.abs(a - b).max() > 1e-4
    np.testing.assert_allclose(chgnet_crystal_features([structure])[0], a, rtol=1e-5,
                               atol=1e-6)


def test_chgnet_features_are_cached_under_their_own_key(paths: list[Path],
                                                        tmp_path: Path) -> None:
    first = StructureFeaturizer(tmp_path, rdf_bins=0, foundation="chgnet", progress=False)
    X = first.transform(paths[:2])
    assert len(list(tmp_path.glob("*.foundation.npz"))) == 2
    assert len(list(tmp_path.glob("*.desc.npz"))) == 2
    again = StructureFeaturizer(tmp_path, rdf_bins=0, foundation="chgnet", progress=False)
    np.testing.assert_array_equal(again.transform(paths[:2]), X)
    # the descriptors-only featurizer shares the descriptor entries, not the CHGNet ones
    plain = StructureFeaturizer(tmp_path, rdf_bins=0, progress=False).transform(paths[:2])
    np.testing.assert_array_equal(plain, X[:, :plain.shape[1]])


def test_bad_rows_are_rejected_and_good_rows_keep_their_features(paths: list[Path]) -> None:
    featurizer = StructureFeaturizer(rdf_bins=0, foundation="chgnet", progress=False)
    batch = featurizer.transform_with_rejects([paths[0], BAD_CIF, paths[1]])
    assert batch.ok.tolist() == [True, False, True]
    assert "not a parsable CIF" in str(batch.reasons[1])
    np.testing.assert_array_equal(batch.X, featurizer.transform([paths[0], paths[1]]))


def test_unknown_foundation_model_is_one_clear_line() -> None:
    with pytest.raises(FeaturizationError, match=r"foundation='mace' is unknown; use one of "
                                                  r"chgnet or leave it out"):
        StructureFeaturizer(foundation="mace")


def test_a_missing_chgnet_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "chgnet", None)  # `import chgnet` raises ImportError
    with pytest.raises(FeaturizationError, match=r"pip install 'e2t-discovery\[chgnet\]'"):
        StructureFeaturizer(foundation="chgnet")
    StructureFeaturizer()  # descriptors alone do not need it
