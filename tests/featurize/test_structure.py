"""Tests of the structure featurizer: parsing, descriptors, cache and crystal graphs."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from e2t_discovery.exceptions import FeaturizationError
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.featurize.structure import (
    NODE_FEATURE_LABELS,
    StructureFeaturizer,
    parse_structure,
)

BAD_CIF = "data_broken\n_cell_length_a 5.0\nloop_\n_atom_site_label\n"


def test_get_featurizer_returns_structure_featurizer(tmp_path: Path) -> None:
    featurizer = get_featurizer("structure", cache_dir=tmp_path)
    assert isinstance(featurizer, StructureFeaturizer)
    assert featurizer.kind == "structure"


def test_invalid_cif_is_rejected_with_row_named(hoip_paths: list[Path]) -> None:
    featurizer = StructureFeaturizer(progress=False)
    with pytest.raises(FeaturizationError, match=r"row 1: .*not a parsable CIF"):
        featurizer.transform([hoip_paths[0], BAD_CIF])


def test_missing_file_is_rejected_with_row_named(tmp_path: Path) -> None:
    featurizer = StructureFeaturizer(progress=False)
    with pytest.raises(FeaturizationError, match=r"row 0: .*CIF file not found"):
        featurizer.transform([tmp_path / "nope.cif"])
    with pytest.raises(FeaturizationError, match=r"row 0: .*not a parsable CIF"):
        featurizer.graphs([BAD_CIF])


def test_transform_with_rejects_keeps_good_rows(hoip_paths: list[Path]) -> None:
    batch = StructureFeaturizer(progress=False).transform_with_rejects(
        [hoip_paths[0], BAD_CIF, hoip_paths[1]])
    assert batch.ok.tolist() == [True, False, True]
    assert batch.X.shape[0] == 2
    assert "not a parsable CIF" in str(batch.reasons[1])


def test_parse_structure_reasons() -> None:
    with pytest.raises(ValueError, match="not a parsable CIF"):
        parse_structure(BAD_CIF)
    with pytest.raises(TypeError, match="expected a CIF path"):
        parse_structure(42)
    disordered = Structure(Lattice.cubic(4.0), [{"Cs": 0.5, "Rb": 0.5}, "Cl"],
                           [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(ValueError, match="disordered"):
        parse_structure(disordered)
    overlapping = Structure(Lattice.cubic(4.0), ["Cs", "Cl"], [[0, 0, 0], [0.01, 0, 0]])
    with pytest.raises(ValueError, match="overlapping atoms"):
        parse_structure(overlapping)


def test_descriptors_are_finite_and_labelled(hoip_paths: list[Path]) -> None:
    featurizer = StructureFeaturizer(progress=False)
    X = featurizer.transform(hoip_paths)
    labels = featurizer.feature_labels()
    assert X.shape == (len(hoip_paths), len(labels))
    assert len(set(labels)) == len(labels)
    assert np.isfinite(X).all()
    col = {name: i for i, name in enumerate(labels)}
    # Every HOIP cell holds BX3 octahedra: three X per B, B-X bonds of 1.8-3.8 Å.
    assert np.allclose(X[:, col["x_per_b"]], 3.0)
    assert np.all((X[:, col["bx_d1"]] > 1.8) & (X[:, col["bx_d1"]] < 3.8))
    assert np.all(X[:, col["bxb_angle_max"]] <= 180.0 + 1e-3)
    # Halide electronegativity at the X site follows the anion: F > Cl > Br > I.
    assert len(np.unique(X[:, col["site_X_X"]])) == 4


def test_path_text_and_structure_inputs_agree(hoip_paths: list[Path]) -> None:
    featurizer = StructureFeaturizer(progress=False)
    path = hoip_paths[2]
    text = path.read_text()
    structure = parse_structure(path)
    X = featurizer.transform([path, str(path), text, structure])
    assert np.allclose(X, X[0], atol=1e-5)


def test_cache_hit_is_identical_and_faster(hoip_paths: list[Path], tmp_path: Path) -> None:
    featurizer = StructureFeaturizer(cache_dir=tmp_path, progress=False)
    start = time.perf_counter()
    cold = featurizer.transform(hoip_paths)
    cold_s = time.perf_counter() - start
    assert len(list(tmp_path.glob("*.desc.npz"))) == len(hoip_paths)
    start = time.perf_counter()
    warm = StructureFeaturizer(cache_dir=tmp_path, progress=False).transform(hoip_paths)
    warm_s = time.perf_counter() - start
    assert np.array_equal(cold, warm)
    assert warm_s < cold_s
    # Other settings never read these entries.
    other = StructureFeaturizer(cache_dir=tmp_path, rdf_bins=10, progress=False)
    assert other.transform(hoip_paths[:1]).shape[1] == featurizer.n_features - 4 * 4
    graphs_cold = featurizer.graphs(hoip_paths[:3])
    graphs_warm = featurizer.graphs(hoip_paths[:3])
    for a, b in zip(graphs_cold, graphs_warm, strict=True):
        for key, value in a.to_arrays().items():
            assert np.array_equal(value, b.to_arrays()[key])


def test_graph_edges_symmetric_complete_and_within_cutoff(hoip_paths: list[Path]) -> None:
    cutoff = 4.0
    featurizer = StructureFeaturizer(graph_cutoff=cutoff, n_gaussians=9, progress=False)
    structure = parse_structure(hoip_paths[0])
    graph = featurizer.graphs([structure])[0]
    assert graph.node_features.shape == (len(structure), len(NODE_FEATURE_LABELS))
    assert graph.global_features.shape == (featurizer.n_features,)
    pairs = Counter(zip(graph.edge_index[0].tolist(), graph.edge_index[1].tolist(), strict=True))
    reverse = Counter(zip(graph.edge_index[1].tolist(), graph.edge_index[0].tolist(),
                          strict=True))
    assert pairs == reverse
    # Out-degree of each site = its neighbours (all images) within the cutoff.
    for i, site in enumerate(structure):
        inside = [s for s in structure.get_sites_in_sphere(site.coords, cutoff)
                  if s.nn_distance > 1e-8]
        assert int(np.sum(graph.edge_index[0] == i)) == len(inside)
    # Gaussian centres span [0, cutoff]: the nearest centre of every edge is inside it.
    assert graph.edge_features.shape == (graph.n_edges, 9)
    assert np.all(graph.edge_features.max(axis=1) > np.exp(-0.25) - 1e-6)


def test_graph_without_hydrogens_drops_h_nodes(hoip_paths: list[Path]) -> None:
    structure = parse_structure(hoip_paths[0])
    n_heavy = sum(1 for s in structure.species if s.symbol != "H")
    graph = StructureFeaturizer(graph_hydrogens=False, progress=False).graphs([structure])[0]
    assert graph.n_nodes == n_heavy
    assert graph.edge_index.max() < n_heavy


def test_invalid_settings_raise() -> None:
    with pytest.raises(FeaturizationError, match="graph_cutoff"):
        StructureFeaturizer(graph_cutoff=0.0)


def test_rdf_can_be_left_out(hoip_paths: list[Path]) -> None:
    full = StructureFeaturizer(progress=False)
    lean = StructureFeaturizer(rdf_bins=0, progress=False)
    labels = lean.feature_labels()
    assert not any(name.startswith("rdf_") for name in labels)
    X_full, X_lean = full.transform(hoip_paths[:2]), lean.transform(hoip_paths[:2])
    assert X_lean.shape == (2, len(labels))
    keep = [full.feature_labels().index(name) for name in labels]
    assert np.allclose(X_full[:, keep], X_lean)
