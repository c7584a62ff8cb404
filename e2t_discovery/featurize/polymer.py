"""Polymer repeat units (p-SMILES) -> RDKit Morgan count fingerprints.

A p-SMILES is the SMILES of a polymer repeat unit whose two connection points are written
as ``*`` atoms, e.g. ``*CC(*)c1ccccc1`` for polystyrene.

How ``*`` is treated: the p-SMILES is featurized *as given*, as in the E2T paper. RDKit
reads each ``*`` as a dummy atom (atomic number 0) that stays in the molecular graph, so
the atom environments that reach a chain end carry the dummy atom and mark where the
backbone continues. The ``*`` atoms are not capped, removed or joined into a ring.

Stereochemistry is ignored by the fingerprint (RDKit's default ``includeChirality=False``),
so stereo-isomers share one fingerprint; :func:`canonical_psmiles` keeps stereochemistry,
so they keep distinct identifiers.

The fingerprint generator is built once per featurizer (this runs on every candidate of a
screened library); batches are written into one preallocated array by the base class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import rdFingerprintGenerator

from e2t_discovery.exceptions import FeaturizationError
from e2t_discovery.featurize.base import Featurizer

__all__ = ["PolymerFeaturizer", "canonical_psmiles", "parse_psmiles"]

_N_ATTACHMENTS = 2
_STAR_QUERY = Chem.MolFromSmarts("[#0]")


def _diagnose_unsanitizable(smiles: str) -> str:
    """Return why RDKit could not build a molecule from ``smiles`` (logs must be blocked)."""
    raw = Chem.MolFromSmiles(smiles, sanitize=False)
    if raw is None:
        return "not a parsable SMILES"
    problems = Chem.DetectChemistryProblems(raw)
    if problems:
        return f"not a valid molecule: {problems[0].Message()}"
    return "not a valid molecule (RDKit sanitization failed)"


def _check_attachments(mol: Chem.Mol, smiles: str) -> None:
    """Raise ``ValueError`` unless ``mol`` has exactly two ``*`` atoms with one neighbour each.

    The two ``*`` atoms must also be attached to real atoms (not to each other) and the
    repeat unit must be one connected fragment. The ``*`` atoms are found with a substructure
    query (C++), which costs a few microseconds against tens for a Python loop over atoms.
    """
    stars = mol.GetSubstructMatches(_STAR_QUERY, uniquify=False, maxMatches=_N_ATTACHMENTS + 1)
    if len(stars) != _N_ATTACHMENTS:
        found = sum(atom.GetAtomicNum() == 0 for atom in mol.GetAtoms())
        raise ValueError(
            f"a p-SMILES needs exactly {_N_ATTACHMENTS} '*' attachment points, found {found}"
        )
    for (index,) in stars:
        neighbours = mol.GetAtomWithIdx(index).GetNeighbors()
        if len(neighbours) != 1:
            raise ValueError(
                f"each '*' must have exactly one neighbour, atom {index} has {len(neighbours)}"
            )
        if neighbours[0].GetAtomicNum() == 0:
            raise ValueError("the two '*' attachment points are bonded to each other")
    # Only a '.' can make a SMILES disconnected ("C1.C1" is connected, hence the real check).
    if "." in smiles and len(Chem.GetMolFrags(mol)) != 1:
        raise ValueError("a p-SMILES repeat unit must be one connected fragment")


#: What a fingerprint needs of RDKit's sanitization: every step that can reject a molecule
#: or that a Morgan count fingerprint with the default invariants (chirality ignored)
#: reads: valences and hydrogens, rings, the Kekule form, aromaticity. Conjugation,
#: hybridization, the chirality and atropisomer clean-ups and stereo perception are
#: skipped (about 30% of parse + fingerprint); none of them rejects a molecule, and the
#: counts are identical to a full parse's (tested on PI1070 and a virtual library).
#: Canonical SMILES keep the full parse: they carry stereochemistry.
_FINGERPRINT_SANITIZE = (
    Chem.SanitizeFlags.SANITIZE_ALL
    ^ Chem.SanitizeFlags.SANITIZE_SETCONJUGATION
    ^ Chem.SanitizeFlags.SANITIZE_SETHYBRIDIZATION
    ^ Chem.SanitizeFlags.SANITIZE_CLEANUPCHIRALITY
    ^ getattr(Chem.SanitizeFlags, "SANITIZE_CLEANUPATROPISOMERS", 0)
)


def _parse(smiles: Any, *, full: bool = True) -> Chem.Mol:
    """:func:`parse_psmiles` without silencing RDKit's log (the caller does, once).

    ``full=False`` sanitizes only as far as a fingerprint needs (``_FINGERPRINT_SANITIZE``).
    """
    if not isinstance(smiles, str):
        raise TypeError(f"expected a p-SMILES string, got {type(smiles).__name__}")
    if not smiles.strip():
        raise ValueError("empty p-SMILES")
    if full:
        mol = Chem.MolFromSmiles(smiles)
    else:
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
        if mol is not None:
            try:
                Chem.SanitizeMol(mol, _FINGERPRINT_SANITIZE)
            except ValueError:  # RDKit's MolSanitizeException family
                mol = None
    if mol is None:
        raise ValueError(_diagnose_unsanitizable(smiles))
    _check_attachments(mol, smiles)
    return mol


def parse_psmiles(smiles: Any) -> Chem.Mol:
    """Parse and validate a p-SMILES into a sanitized RDKit molecule.

    RDKit's own log output is suppressed; the reason is in the exception instead.

    Args:
        smiles: The p-SMILES string.

    Returns:
        The sanitized molecule, ``*`` atoms included.

    Raises:
        TypeError: if ``smiles`` is not a string.
        ValueError: with a one-line reason (empty, unparsable, not sanitizable, not
            exactly two ``*``, a ``*`` without exactly one neighbour, disconnected).
    """
    with rdBase.BlockLogs():
        return _parse(smiles)


def _canonical_smiles(mol: Chem.Mol, smiles: str) -> str:
    """Return the canonical isomeric SMILES of a parsed p-SMILES, without atom-map numbers.

    Atom-map numbers can only come from a ``:`` in the SMILES (``[*:1]``), so the loop
    over atoms that clears them (a few hundred microseconds) runs only then.
    """
    if ":" in smiles:
        for atom in mol.GetAtoms():
            atom.SetAtomMapNum(0)  # "[*:1]CC[*:2]" and "*CC*" name one repeat unit
    return str(Chem.MolToSmiles(mol))


def canonical_psmiles(smiles: str) -> str:
    """Validate a p-SMILES and return RDKit's canonical isomeric SMILES of it.

    Two spellings of one repeat unit map to the same string (``C(*)C*`` and ``*CC*`` both
    give ``*CC*``); atom-map numbers are dropped; stereo-isomers stay distinct.

    Raises:
        TypeError: if ``smiles`` is not a string.
        ValueError: with a reason, as :func:`parse_psmiles`.
    """
    return _canonical_smiles(parse_psmiles(smiles), smiles)


class PolymerFeaturizer(Featurizer):
    """p-SMILES -> Morgan (ECFP-like) *count* fingerprint, folded to ``n_bits`` columns.

    The paper's input is radius 3 and 2048 bits. Counts are returned as float32. With a
    list of radii (e.g. ``radius=[0, 1, 2, 3]``) the output is one ``n_bits`` block per
    radius, side by side in the given order: the Morgan count fingerprint of each radius
    (environments up to that radius), for the GP head's blocked MinMax kernel
    (``base_blocks`` = the number of radii), which weighs the radii against each other.

    Args:
        radius: Morgan radius (3 = ECFP6-like), or a list of distinct radii (one block
            each).
        n_bits: Length of each folded fingerprint.

    Raises:
        FeaturizationError: if a radius is < 0 or repeated, or ``n_bits`` < 1.
    """

    kind = "polymer"

    def __init__(self, radius: int | list[int] = 3, n_bits: int = 2048) -> None:
        radii = [radius] if isinstance(radius, int | np.integer) else list(radius)
        if not radii or not all(isinstance(r, int | np.integer) for r in radii):
            raise FeaturizationError(f"polymer radius must be an integer or a list of "
                                     f"integers, got {radius!r}")
        if min(radii) < 0:
            raise FeaturizationError(f"polymer radius must be >= 0, got {radius}")
        if len(set(radii)) != len(radii):
            raise FeaturizationError(f"polymer radii must be distinct, got {radius}")
        if n_bits < 1:
            raise FeaturizationError(f"polymer n_bits must be >= 1, got {n_bits}")
        self.radius: int | list[int] = (int(radii[0]) if isinstance(radius, int | np.integer)
                                        else [int(r) for r in radii])
        self.n_bits = int(n_bits)
        self._generators = self._make_generators()

    @property
    def radii(self) -> list[int]:
        """The radii of the output blocks, in column order."""
        return [self.radius] if isinstance(self.radius, int) else list(self.radius)

    def _make_generators(self) -> list[Any]:
        """Build the Morgan generators once; RDKit's default invariants ignore chirality."""
        return [rdFingerprintGenerator.GetMorganGenerator(radius=r, fpSize=self.n_bits)
                for r in self.radii]

    def __repr__(self) -> str:
        return f"PolymerFeaturizer(radius={self.radius}, n_bits={self.n_bits})"

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the parameters only (RDKit generators cannot be pickled, e.g. to Ray)."""
        return {"radius": self.radius, "n_bits": self.n_bits}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the featurizer, generators included, from pickled parameters."""
        self.radius = state["radius"]
        self.n_bits = state["n_bits"]
        self._generators = self._make_generators()

    def _counts(self, mol: Chem.Mol) -> np.ndarray:
        """The count fingerprint(s) as RDKit returns them (uint32; cast when stored)."""
        if len(self._generators) == 1:
            return self._generators[0].GetCountFingerprintAsNumPy(mol)
        return np.concatenate([g.GetCountFingerprintAsNumPy(mol) for g in self._generators])

    def featurize_one(self, item: Any) -> np.ndarray:
        """Return the count fingerprint (float32, ``n_features``) of one p-SMILES.

        Raises:
            TypeError, ValueError: with a reason, as :func:`parse_psmiles`.
        """
        with rdBase.BlockLogs():
            return self._featurize_in_batch(item).astype(np.float32)

    def featurize_canonical_one(self, item: Any) -> tuple[str, np.ndarray]:
        """Return :func:`canonical_psmiles` of one p-SMILES and its fingerprint, parsing once.

        Raises:
            TypeError, ValueError: with a reason, as :func:`parse_psmiles`.
        """
        with rdBase.BlockLogs():
            form, counts = self._featurize_canonical_in_batch(item)
        return form, counts.astype(np.float32)

    def _batch_context(self) -> rdBase.BlockLogs:
        return rdBase.BlockLogs()  # once per batch: ~20 us per item when entered per item

    def _featurize_in_batch(self, item: Any) -> np.ndarray:
        return self._counts(_parse(item, full=False))

    def _featurize_canonical_in_batch(self, item: Any) -> tuple[str, np.ndarray]:
        mol = _parse(item)
        return _canonical_smiles(mol, item), self._counts(mol)

    def feature_labels(self) -> list[str]:
        """Return ``morgan_r{radius}_{bit}`` for each column (block by block)."""
        return [f"morgan_r{r}_{i}" for r in self.radii for i in range(self.n_bits)]

    @property
    def n_features(self) -> int:
        """Number of feature columns (``n_bits`` per radius)."""
        return self.n_bits * len(self.radii)
