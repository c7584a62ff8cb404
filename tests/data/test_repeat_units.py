"""Tests of the repeat-unit edits behind library generation (real RDKit)."""

from __future__ import annotations

import pytest
from rdkit import Chem

from e2t_discovery.data.repeat_units import generate_chunk, prepare_seeds, recombine, substitute
from e2t_discovery.exceptions import ScreenError
from e2t_discovery.featurize.polymer import canonical_psmiles


def test_recombine_joins_head_to_tail():
    product = recombine(Chem.MolFromSmiles("*CC*"), Chem.MolFromSmiles("*O*"))
    assert Chem.MolToSmiles(product) == canonical_psmiles("*CCO*")


def test_substitute_replaces_hydrogens_on_given_sites():
    mol = Chem.MolFromSmiles("*c1ccc(*)cc1")
    sites = [a.GetIdx() for a in mol.GetAtoms() if a.GetTotalNumHs() == 1][:2]
    product = substitute(mol, sites, [Chem.MolFromSmiles("F"), Chem.MolFromSmiles("C")])
    assert Chem.MolToSmiles(product) == canonical_psmiles("*c1ccc(*)c(C)c1F")


def test_generate_chunk_counts_every_attempt():
    smiles, domains, parents, invalid = generate_chunk(["*CC*", "*CC(*)C"], ["a", "b"],
                                                       ["p1", "p2"], 50, 7)
    assert len(smiles) + invalid == 50
    assert set(domains) <= {"a", "b", "a+b"}
    assert all(p.split("+")[0] in {"p1", "p2"} for p in parents)


def test_prepare_seeds_keeps_valid_seeds_canonical():
    smiles, domains, parents = prepare_seeds(["C(*)C*", "CC", "*C(*)*"], ["a", "b", "c"], None)
    assert smiles == [Chem.MolToSmiles(Chem.MolFromSmiles("*CC*"))]
    assert domains == ["a"] and parents == ["seed0"]
    with pytest.raises(ScreenError, match="got 2 seeds but 1 domains"):
        prepare_seeds(["*C*", "*CC*"], ["a"], None)
