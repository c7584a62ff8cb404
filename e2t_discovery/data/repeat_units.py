"""Edits of polymer repeat units (p-SMILES with two ``*``): the chemistry of generation.

Candidates are made with RDKit in two ways, both of which keep exactly two ``*``
attachment points:

* **substituent enumeration** — replace one to three hydrogens of a seed repeat unit
  with common substituents (halogens, alkyl, alkoxy, CF3, CN, phenyl, ...);
* **backbone recombination** — join two seed repeat units head to tail (the second ``*``
  of one to the first ``*`` of the other) into one longer repeat unit, optionally
  followed by substitution.

Every product is sanitized and written as RDKit canonical SMILES.
:func:`generate_chunk` makes one chunk of random products; it is pure, so it runs in
this process or as a Ray task (:mod:`e2t_discovery.data.generate` drives it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rdkit import Chem, rdBase

from e2t_discovery.exceptions import ScreenError

__all__ = ["SUBSTITUENTS", "generate_chunk", "prepare_seeds", "recombine", "substitute"]

#: Substituents as SMILES whose first atom bonds to the repeat unit.
SUBSTITUENTS: tuple[str, ...] = (
    "F", "Cl", "Br", "C", "CC", "C(C)C", "C(C)(C)C", "OC", "OCC", "C(F)(F)F", "OC(F)(F)F",
    "C#N", "O", "N", "N(C)C", "SC", "C(=O)C", "C(=O)OC", "[N+](=O)[O-]", "c1ccccc1",
    "c1ccncc1", "C1CCCCC1", "C=C", "C#C",
)

_STAR = Chem.MolFromSmarts("[#0]")
_CH = Chem.MolFromSmarts("[#6;!H0]")


def _dummies(mol: Chem.Mol) -> list[int]:
    """Return the indices of the ``*`` atoms of a molecule, in order."""
    return sorted(m[0] for m in mol.GetSubstructMatches(_STAR))


def _check_seed(smiles: str) -> Chem.Mol:
    """Parse a seed p-SMILES; raise ValueError unless it has two singly bonded ``*``."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse seed {smiles!r}")
    stars = _dummies(mol)
    if len(stars) != 2:
        raise ValueError(f"seed {smiles!r} has {len(stars)} '*' atoms, expected exactly 2")
    for idx in stars:
        atom = mol.GetAtomWithIdx(idx)
        if atom.GetDegree() != 1 or atom.GetBonds()[0].GetBondType() != Chem.BondType.SINGLE:
            raise ValueError(f"seed {smiles!r}: each '*' must have one single bond")
    return mol


def _sites(mol: Chem.Mol) -> list[int]:
    """Return the indices of carbon atoms that carry at least one hydrogen."""
    return [m[0] for m in mol.GetSubstructMatches(_CH, uniquify=False, maxMatches=100_000)]


def substitute(
    mol: Chem.Mol, sites: Sequence[int], substituents: Sequence[Chem.Mol]
) -> Chem.Mol | None:
    """Replace one hydrogen on each atom of ``sites`` with the matching substituent.

    Args:
        mol: A sanitized molecule.
        sites: Distinct indices of atoms of ``mol`` that carry a hydrogen.
        substituents: One sanitized fragment per site; its first atom forms the bond.

    Returns:
        The sanitized product (sanitized once, after all edits), or None if RDKit
        rejects it.
    """
    combo = Chem.RWMol(mol)
    for site, sub in zip(sites, substituents, strict=True):
        offset = combo.GetNumAtoms()
        combo.InsertMol(sub)
        atom = combo.GetAtomWithIdx(site)
        if atom.GetNumExplicitHs() > 0:
            atom.SetNumExplicitHs(atom.GetNumExplicitHs() - 1)
        combo.AddBond(site, offset, Chem.BondType.SINGLE)
    return _sanitized(combo.GetMol())


def recombine(first: Chem.Mol, second: Chem.Mol) -> Chem.Mol | None:
    """Join two repeat units head to tail into one repeat unit with two ``*``.

    The atom next to the last ``*`` of ``first`` bonds to the atom next to the first
    ``*`` of ``second``; those two ``*`` atoms are removed.

    Returns:
        The sanitized product, or None if RDKit rejects it.
    """
    a_star = _dummies(first)[-1]
    b_star = _dummies(second)[0] + first.GetNumAtoms()
    combo = Chem.RWMol(Chem.CombineMols(first, second))
    a_nb = combo.GetAtomWithIdx(a_star).GetNeighbors()[0].GetIdx()
    b_nb = combo.GetAtomWithIdx(b_star).GetNeighbors()[0].GetIdx()
    combo.AddBond(a_nb, b_nb, Chem.BondType.SINGLE)
    for idx in sorted((a_star, b_star), reverse=True):
        combo.RemoveAtom(idx)
    return _sanitized(combo.GetMol())


def _sanitized(product: Chem.Mol) -> Chem.Mol | None:
    """Return the product sanitized in place, or None if RDKit rejects it."""
    try:
        Chem.SanitizeMol(product)
    except (ValueError, RuntimeError):
        return None
    return product


@dataclass(frozen=True)
class _GeneratorParams:
    """Knobs of the generator (recorded in the manifest)."""

    recombine_share: float = 0.3
    max_substitutions: int = 3
    max_heavy_atoms: int = 90


def generate_chunk(
    seeds: Sequence[str],
    domains: Sequence[str],
    parents: Sequence[str],
    n_attempts: int,
    rng_seed: int,
    params: dict[str, Any] | None = None,
) -> tuple[list[str], list[str], list[str], int]:
    """Make ``n_attempts`` random products of the seed set (pure; runs in a Ray task).

    Args:
        seeds: Seed p-SMILES (already validated).
        domains: Domain label of each seed.
        parents: Id of each seed.
        n_attempts: Number of products to try.
        rng_seed: Seed of this chunk's random stream.
        params: Overrides of the generator parameters.

    Returns:
        ``(smiles, domains, parents, n_invalid)``: canonical SMILES of the valid products
        (possibly repeated), their domain and parent labels, and how many tries failed.
    """
    p = _GeneratorParams(**(params or {}))
    rdBase.DisableLog("rdApp.*")
    rng = np.random.default_rng(rng_seed)
    mols = [Chem.MolFromSmiles(s) for s in seeds]
    subs = [Chem.MolFromSmiles(s) for s in SUBSTITUENTS]
    out_smiles: list[str] = []
    out_domains: list[str] = []
    out_parents: list[str] = []
    invalid = 0
    for _ in range(n_attempts):
        i = int(rng.integers(len(mols)))
        mol: Chem.Mol | None = mols[i]
        domain, parent = str(domains[i]), str(parents[i])
        n_subs = int(rng.integers(1, p.max_substitutions + 1))
        if rng.random() < p.recombine_share:
            j = int(rng.integers(len(mols)))
            mol = recombine(mols[i], mols[j])
            dj = str(domains[j])
            domain = domain if dj == domain else "+".join(sorted((domain, dj)))
            parent = f"{parent}+{parents[j]}"
            n_subs = int(rng.integers(0, p.max_substitutions))
        if mol is not None and n_subs > 0:
            sites = _sites(mol)
            picked = rng.choice(len(sites), size=min(n_subs, len(sites)), replace=False)
            chosen = [subs[int(k)] for k in rng.integers(len(subs), size=len(picked))]
            mol = substitute(mol, [sites[int(k)] for k in picked], chosen) if len(picked) else mol
        if mol is None or mol.GetNumHeavyAtoms() > p.max_heavy_atoms + 2:
            invalid += 1
            continue
        smiles = Chem.MolToSmiles(mol)
        if smiles.count("*") != 2:
            invalid += 1
            continue
        out_smiles.append(smiles)
        out_domains.append(domain)
        out_parents.append(parent)
    return out_smiles, out_domains, out_parents, invalid


def prepare_seeds(
    seeds: Sequence[str], domains: Sequence[str] | None, parents: Sequence[str] | None
) -> tuple[list[str], list[str], list[str]]:
    """Validate the seeds; return canonical SMILES, domains and parents of the valid ones.

    Raises:
        ScreenError: if no seed is a valid p-SMILES with two ``*``.
    """
    rdBase.DisableLog("rdApp.*")
    domains = list(domains) if domains is not None else ["seed"] * len(seeds)
    parents = list(parents) if parents is not None else [f"seed{i}" for i in range(len(seeds))]
    if len(domains) != len(seeds) or len(parents) != len(seeds):
        raise ScreenError(
            f"got {len(seeds)} seeds but {len(domains)} domains and {len(parents)} parents; "
            "pass one of each per seed"
        )
    ok_s, ok_d, ok_p = [], [], []
    for s, d, p in zip(seeds, domains, parents, strict=True):
        try:
            mol = _check_seed(str(s))
        except ValueError:
            continue
        ok_s.append(Chem.MolToSmiles(mol))
        ok_d.append(str(d))
        ok_p.append(str(p))
    if not ok_s:
        raise ScreenError(
            f"none of the {len(seeds)} seeds is a p-SMILES with exactly two '*'; "
            "give repeat units such as '*CC(*)c1ccccc1'"
        )
    return ok_s, ok_d, ok_p
