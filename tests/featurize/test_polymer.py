"""Tests of the p-SMILES featurizer against real RDKit and the real PI1070 table."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from e2t_discovery.exceptions import FeaturizationError
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.featurize.polymer import PolymerFeaturizer, canonical_psmiles, parse_psmiles

POLYSTYRENE = "*CC(*)c1ccccc1"
PMMA_R = "*C[C@](*)(C)C(=O)OC"
PMMA_S = "*C[C@@](*)(C)C(=O)OC"


def test_count_fingerprint_equals_rdkit_sparse_counts() -> None:
    mol = Chem.MolFromSmiles(POLYSTYRENE)
    sparse = rdFingerprintGenerator.GetMorganGenerator(radius=3, fpSize=2048).GetCountFingerprint(
        mol
    )
    expected = np.zeros(2048, dtype=np.float32)
    for bit, count in sparse.GetNonzeroElements().items():
        expected[bit] = count

    got = PolymerFeaturizer().transform([POLYSTYRENE])

    assert got.shape == (1, 2048)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got[0], expected)
    assert got.max() > 1  # counts, not bits: the phenyl CH environments repeat


def test_radius_zero_counts_every_atom_including_the_attachment_points() -> None:
    x = PolymerFeaturizer(radius=0, n_bits=64).featurize_one("*CC*")

    assert x.sum() == 4  # two '*' dummy atoms and two carbons
    assert np.count_nonzero(x) == 2  # one environment for '*', one for the CH2


def test_stereo_isomers_share_a_fingerprint_but_not_a_canonical_psmiles() -> None:
    X = PolymerFeaturizer().transform([PMMA_R, PMMA_S])

    np.testing.assert_array_equal(X[0], X[1])
    assert canonical_psmiles(PMMA_R) != canonical_psmiles(PMMA_S)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_atom_order_changes_neither_fingerprint_nor_canonical_form(seed: int) -> None:
    source = "*c1ccc(Oc2ccc(N3C(=O)c4ccc(cc4C3=O)C(*)=O)cc2)cc1"
    Chem.rdBase.SeedRandomNumberGenerator(seed)
    spellings = {Chem.MolToSmiles(Chem.MolFromSmiles(source), doRandom=True) for _ in range(5)}

    X = PolymerFeaturizer().transform(sorted(spellings))

    assert len(spellings) > 1
    np.testing.assert_array_equal(X, np.broadcast_to(X[0], X.shape))
    assert {canonical_psmiles(s) for s in spellings} == {canonical_psmiles(source)}


def test_canonical_psmiles_merges_spellings_of_one_repeat_unit() -> None:
    assert canonical_psmiles("C(*)C*") == canonical_psmiles("*CC*") == "*CC*"
    assert canonical_psmiles("[*:1]CC[*:2]") == "*CC*"
    assert canonical_psmiles("c1ccccc1C(*)C*") == canonical_psmiles(POLYSTYRENE)


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("*C1CC*", "not a parsable SMILES"),
        ("*C(F)(F)(F)(F)C*", "Explicit valence"),
        ("CCO", "exactly 2 '\\*' attachment points, found 0"),
        ("*CC", "found 1"),
        ("*C(*)C*", "found 3"),
        ("**", "bonded to each other"),
        ("*CC*.CC", "one connected fragment"),
        ("", "empty p-SMILES"),
    ],
)
def test_canonical_psmiles_rejects_bad_input_with_a_reason(smiles: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        canonical_psmiles(smiles)


def test_attachment_point_with_two_neighbours_is_rejected() -> None:
    with pytest.raises(ValueError, match="exactly one neighbour, atom 1 has 2"):
        parse_psmiles("C*C.*C")


def test_ring_closure_across_a_dot_is_one_fragment() -> None:
    assert parse_psmiles("*C1.C1*").GetNumAtoms() == 4


def test_non_string_is_rejected() -> None:
    with pytest.raises(TypeError, match="expected a p-SMILES string, got float"):
        parse_psmiles(float("nan"))


def test_transform_names_the_bad_row_and_item() -> None:
    with pytest.raises(FeaturizationError, match=r"row 2: invalid polymer input: .*'\*CC'"):
        get_featurizer("polymer").transform(["*CC*", POLYSTYRENE, "*CC"])


def test_transform_with_rejects_keeps_going_past_bad_rows() -> None:
    featurizer = PolymerFeaturizer(radius=2, n_bits=512)
    items = ["*CC*", "not smiles ((", POLYSTYRENE, None, PMMA_R]

    batch = featurizer.transform_with_rejects(items)

    np.testing.assert_array_equal(batch.ok, [True, False, True, False, True])
    assert batch.X.shape == (3, 512)
    np.testing.assert_array_equal(batch.X, featurizer.transform(["*CC*", POLYSTYRENE, PMMA_R]))
    assert batch.reasons[0] is None
    assert batch.reasons[1] == "invalid polymer input: not a parsable SMILES"
    assert batch.reasons[3] == "invalid polymer input: expected a p-SMILES string, got NoneType"


def test_canonical_batch_parses_once_and_matches_the_module_function() -> None:
    featurizer = PolymerFeaturizer()
    items = ["C(*)C*", "*C1CC*", "[*:1]CC(c1ccccc1)[*:2]", PMMA_S]

    batch = featurizer.transform_with_rejects(items, canonical=True)

    assert batch.canonical == ["*CC*", None, canonical_psmiles(POLYSTYRENE),
                               canonical_psmiles(PMMA_S)]
    np.testing.assert_array_equal(batch.X, featurizer.transform(["*CC*", POLYSTYRENE, PMMA_S]))
    assert batch.reasons[1] == "invalid polymer input: not a parsable SMILES"


def test_bad_smiles_do_not_reach_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    PolymerFeaturizer().transform_with_rejects(["*C(F)(F)(F)(F)C*", "*C1CC*"])

    assert capfd.readouterr().err == ""


def test_feature_labels_match_columns() -> None:
    featurizer = PolymerFeaturizer(radius=3, n_bits=16)

    labels = featurizer.feature_labels()

    assert labels[0] == "morgan_r3_0" and labels[-1] == "morgan_r3_15"
    assert featurizer.n_features == len(labels) == featurizer.transform(["*CC*"]).shape[1]


def test_featurizer_survives_pickling_with_its_parameters() -> None:
    featurizer = PolymerFeaturizer(radius=2, n_bits=256)

    clone = pickle.loads(pickle.dumps(featurizer))

    assert (clone.radius, clone.n_bits) == (2, 256)
    expected = featurizer.transform([POLYSTYRENE])
    np.testing.assert_array_equal(clone.transform([POLYSTYRENE]), expected)


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(FeaturizationError, match="polymer n_bits must be >= 1, got 0"):
        get_featurizer("polymer", n_bits=0)
    with pytest.raises(FeaturizationError, match="polymer radius must be >= 0, got -1"):
        PolymerFeaturizer(radius=-1)


def test_a_list_of_radii_gives_one_block_per_radius_in_order() -> None:
    items = [POLYSTYRENE, "*CC*", PMMA_R]
    featurizer = PolymerFeaturizer(radius=[0, 3, 1], n_bits=128)

    got = featurizer.transform(items)

    assert got.shape == (3, 3 * 128) == (3, featurizer.n_features)
    for i, r in enumerate((0, 3, 1)):
        single = PolymerFeaturizer(radius=r, n_bits=128).transform(items)
        np.testing.assert_array_equal(got[:, 128 * i:128 * (i + 1)], single)
    labels = featurizer.feature_labels()
    assert labels[0] == "morgan_r0_0" and labels[128] == "morgan_r3_0" and len(labels) == 384
    _, canonical = featurizer.featurize_canonical_one(POLYSTYRENE)
    np.testing.assert_array_equal(canonical, got[0])
    clone = pickle.loads(pickle.dumps(featurizer))
    assert clone.radius == [0, 3, 1]
    np.testing.assert_array_equal(clone.transform(items), got)


def test_bad_radius_lists_are_rejected_with_the_rule() -> None:
    with pytest.raises(FeaturizationError, match="polymer radii must be distinct"):
        PolymerFeaturizer(radius=[1, 1])
    with pytest.raises(FeaturizationError, match="polymer radius must be >= 0"):
        PolymerFeaturizer(radius=[0, -2])
    with pytest.raises(FeaturizationError, match="an integer or a list of integers"):
        PolymerFeaturizer(radius=[])
    with pytest.raises(FeaturizationError, match="an integer or a list of integers"):
        PolymerFeaturizer(radius=["2"])  # type: ignore[list-item]


def test_pi1070_fingerprints_coincide_exactly_for_stereo_isomers(data_dir: Path) -> None:
    smiles = pd.read_csv(data_dir / "PI1070.csv", usecols=["smiles"])["smiles"].tolist()
    flat = [Chem.MolToSmiles(Chem.MolFromSmiles(s), isomericSmiles=False) for s in smiles]

    X = PolymerFeaturizer().transform(smiles)

    _, by_fingerprint = np.unique(X, axis=0, return_inverse=True)
    _, by_flat_smiles = np.unique(flat, return_inverse=True)
    # Same fingerprint <=> same molecule up to stereochemistry (both partitions are equal).
    pairs = set(zip(by_fingerprint.ravel().tolist(), by_flat_smiles.tolist(), strict=True))
    assert len(pairs) == len(set(by_fingerprint.ravel().tolist())) == len(set(flat))
    assert len(smiles) - len(pairs) == 10  # 17 polymers in 7 stereo groups share fingerprints
    assert len({canonical_psmiles(s) for s in smiles}) == len(smiles)


def test_fingerprint_parse_matches_a_full_rdkit_parse_row_for_row(data_dir: Path) -> None:
    # The featurizer sanitizes only as far as a fingerprint reads (no conjugation,
    # hybridization, chirality clean-up or stereo perception): counts and accepted rows
    # must be those of RDKit's full MolFromSmiles, radius by radius.
    smiles = pd.read_csv(data_dir / "PI1070.csv", usecols=["smiles"])["smiles"].tolist()
    smiles += [PMMA_R, PMMA_S, "*/C=C/*", "*/C=C\\*", "*C[N+](C)(C)C*", "*[Si](C)(C)O*",
               "*c1ccc2cc(*)ccc2c1", "*c1cccc1*", "*C(F)(F)(F)(F)C*", "[*:1]CC[*:2]"]
    featurizer = PolymerFeaturizer(radius=[0, 1, 3])
    generators = [rdFingerprintGenerator.GetMorganGenerator(radius=r, fpSize=2048)
                  for r in (0, 1, 3)]

    batch = featurizer.transform_with_rejects(smiles)
    canonical = featurizer.transform_with_rejects(smiles, canonical=True)

    mols = [Chem.MolFromSmiles(s) for s in smiles]
    np.testing.assert_array_equal(batch.ok, [m is not None for m in mols])
    expected = np.array([np.concatenate([g.GetCountFingerprintAsNumPy(m) for g in generators])
                         for m in mols if m is not None], dtype=np.float32)
    np.testing.assert_array_equal(batch.X, expected)
    np.testing.assert_array_equal(canonical.X, expected)  # the full parse's path
    assert canonical.reasons == batch.reasons
    assert "kekulize" in str(batch.reasons[-3]) and "valence" in str(batch.reasons[-2])
    assert batch.reasons[-1] is None  # atom-map numbers are fine
