"""Virtual polymer libraries: new repeat units from a seed set of p-SMILES.

Candidates are made with RDKit in two ways, both of which keep exactly two ``*``
attachment points:

* **substituent enumeration** — replace one to three hydrogens of a seed repeat unit
  with common substituents (halogens, alkyl, alkoxy, CF3, CN, phenyl, ...);
* **backbone recombination** — join two seed repeat units head to tail (the second ``*``
  of one to the first ``*`` of the other) into one longer repeat unit, optionally
  followed by substitution.

Every product is sanitized, written as RDKit canonical SMILES and de-duplicated by an
8-byte BLAKE2b digest of that string (about 70 bytes of memory per candidate, so a
million candidates need well under 100 MB). Seeds themselves are never emitted. The
library is written as Parquet shards of a fixed number of rows with the columns ``id``,
``smiles``, ``domain`` (the seed's domain; ``"a+b"`` for a recombination of two domains)
and ``parent`` (the seed id(s)), plus ``library.json`` describing how it was made.

Generation is deterministic for a given seed set, ``n`` and ``seed``, whatever the number
of workers: work is cut into chunks with their own spawned random streams and the results
are consumed in chunk order.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rdkit import Chem, rdBase

from e2t_discovery.exceptions import ScreenError
from e2t_discovery.progress import progress_bar
from e2t_discovery.screen.ray_session import ensure_ray, ray_session

__all__ = [
    "LibraryInfo",
    "SUBSTITUENTS",
    "generate_polymer_library",
    "generate_chunk",
    "library_shards",
    "recombine",
    "substitute",
]

#: Substituents as SMILES whose first atom bonds to the repeat unit.
SUBSTITUENTS: tuple[str, ...] = (
    "F", "Cl", "Br", "C", "CC", "C(C)C", "C(C)(C)C", "OC", "OCC", "C(F)(F)F", "OC(F)(F)F",
    "C#N", "O", "N", "N(C)C", "SC", "C(=O)C", "C(=O)OC", "[N+](=O)[O-]", "c1ccccc1",
    "c1ccncc1", "C1CCCCC1", "C=C", "C#C",
)

LIBRARY_SCHEMA = pa.schema([
    ("id", pa.string()), ("smiles", pa.string()), ("domain", pa.string()),
    ("parent", pa.string()),
])
MANIFEST = "library.json"


@dataclass(frozen=True)
class LibraryInfo:
    """What :func:`generate_polymer_library` wrote.

    Attributes:
        path: The output folder.
        n: Number of unique candidates written.
        shards: Shard file names, in order.
        seed: Random seed used.
        n_seeds: Number of valid seed repeat units.
        attempts: Products tried (valid or not).
        invalid: Products RDKit could not sanitize or that broke a rule.
        duplicates: Valid products dropped as already seen (or equal to a seed).
        elapsed_s: Wall time of the generation.
        params: Generator parameters (recombination share, substitution counts, ...).
    """

    path: Path
    n: int
    shards: list[str]
    seed: int
    n_seeds: int
    attempts: int
    invalid: int
    duplicates: int
    elapsed_s: float
    params: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Return a JSON-serializable dict of the fields."""
        out = asdict(self)
        out["path"] = str(self.path)
        return out


# --------------------------------------------------------------------------- chemistry


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
    product = combo.GetMol()
    try:
        Chem.SanitizeMol(product)
    except (ValueError, RuntimeError):
        return None
    return product


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
    product = combo.GetMol()
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


def _digest(smiles: str) -> int:
    """Return an 8-byte BLAKE2b digest of a string as an int (the de-duplication key)."""
    return int.from_bytes(hashlib.blake2b(smiles.encode(), digest_size=8).digest(), "little")


# --------------------------------------------------------------------------- driver


def _prepare_seeds(
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


def _chunk_results(
    args: tuple[list[str], list[str], list[str]],
    chunk_size: int,
    seed: int,
    params: dict[str, Any],
    workers: int,
) -> Generator[tuple[list[str], list[str], list[str], int], None, None]:
    """Yield chunk results in chunk order, forever; in-process or on Ray tasks."""
    streams = np.random.SeedSequence(seed)
    if workers <= 1:
        while True:
            child = int(streams.spawn(1)[0].generate_state(1)[0])
            yield generate_chunk(*args, chunk_size, child, params)
    import ray

    if not ray.is_initialized():
        raise ScreenError(f"workers={workers} needs a running Ray; call ray.init() first")
    remote = ray.remote(num_cpus=1)(generate_chunk)
    seeds, domains, parents = (ray.put(a) for a in args)
    window: list[ray.ObjectRef] = []
    while True:
        while len(window) < 2 * workers:
            child = int(streams.spawn(1)[0].generate_state(1)[0])
            window.append(remote.remote(seeds, domains, parents, chunk_size, child, params))
        yield ray.get(window.pop(0))


@contextmanager
def _local_ray(workers: int) -> Iterator[None]:
    """Start a quiet local Ray with ``workers`` CPUs if several workers are asked for."""
    if workers <= 1:
        yield
        return
    with ray_session(num_cpus=workers):
        ensure_ray()
        yield


class _ShardWriter:
    """Buffer rows and write fixed-size Parquet shards ``shard-00000.parquet`` ...."""

    def __init__(self, out_dir: Path, shard_size: int, id_prefix: str) -> None:
        self.out_dir, self.shard_size, self.id_prefix = out_dir, shard_size, id_prefix
        self.rows: dict[str, list[str]] = {"smiles": [], "domain": [], "parent": []}
        self.shards: list[str] = []
        self.n_written = 0

    def add(self, smiles: str, domain: str, parent: str) -> None:
        """Add one candidate; write a shard when the buffer is full."""
        self.rows["smiles"].append(smiles)
        self.rows["domain"].append(domain)
        self.rows["parent"].append(parent)
        if len(self.rows["smiles"]) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows (if any) as the next shard."""
        n = len(self.rows["smiles"])
        if n == 0:
            return
        ids = [f"{self.id_prefix}{self.n_written + k:07d}" for k in range(n)]
        table = pa.table({"id": ids, **self.rows}, schema=LIBRARY_SCHEMA)
        name = f"shard-{len(self.shards):05d}.parquet"
        tmp = self.out_dir / f".{name}.tmp"
        pq.write_table(table, tmp)
        tmp.replace(self.out_dir / name)
        self.shards.append(name)
        self.n_written += n
        self.rows = {"smiles": [], "domain": [], "parent": []}


def generate_polymer_library(
    seeds: Sequence[str],
    n: int,
    seed: int,
    out_dir: str | Path,
    *,
    domains: Sequence[str] | None = None,
    parents: Sequence[str] | None = None,
    shard_size: int = 50_000,
    workers: int = 1,
    chunk_size: int = 2_000,
    id_prefix: str = "VP",
    recombine_share: float = 0.3,
    max_substitutions: int = 3,
    progress: bool = True,
) -> LibraryInfo:
    """Generate ``n`` unique, valid virtual polymer repeat units and write Parquet shards.

    Args:
        seeds: Seed p-SMILES (e.g. PI1070's repeat units); invalid ones are skipped.
        n: Number of unique candidates to write.
        seed: Random seed; the same inputs give the same library.
        out_dir: Folder to create (must be empty or absent).
        domains: Domain label per seed (e.g. polymer class); carried to the products.
        parents: Id per seed; carried to the products as ``parent``.
        shard_size: Rows per Parquet shard.
        workers: Generator processes; above 1, chunks run as Ray tasks (a local Ray is
            started if none is running).
        chunk_size: Products tried per chunk (the unit of work of a worker).
        id_prefix: Prefix of the candidate ids (``VP0000000``, ...).
        recombine_share: Share of products made by joining two seeds.
        max_substitutions: Most hydrogens replaced in one product.
        progress: Show a progress bar on stderr.

    Returns:
        A :class:`LibraryInfo`; the same content is written to ``library.json``.

    Raises:
        ScreenError: on bad arguments, a non-empty output folder, no valid seed, or a
            seed set too small to yield ``n`` unique products.
    """
    if n < 1 or shard_size < 1 or chunk_size < 1 or workers < 1:
        raise ScreenError(
            f"n={n}, shard_size={shard_size}, chunk_size={chunk_size} and workers={workers} "
            "must all be at least 1"
        )
    if not 0.0 <= recombine_share <= 1.0 or max_substitutions < 1:
        raise ScreenError(
            f"recombine_share={recombine_share} must lie in [0, 1] and "
            f"max_substitutions={max_substitutions} must be at least 1"
        )
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ScreenError(f"output folder {out} is not empty; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    args = _prepare_seeds(seeds, domains, parents)
    params = {"recombine_share": recombine_share, "max_substitutions": max_substitutions}
    seen = {_digest(s) for s in args[0]}
    writer = _ShardWriter(out, shard_size, id_prefix)
    attempts = invalid = duplicates = 0
    stale_chunks = 0
    start = time.perf_counter()
    bar = progress_bar(n, unit="cand", desc="library", enabled=progress)
    with bar, _local_ray(workers), closing(
        _chunk_results(args, chunk_size, seed, params, workers)
    ) as chunks:
        for smiles, doms, pars, bad in chunks:
            attempts += chunk_size
            invalid += bad
            before = writer.n_written + len(writer.rows["smiles"])
            for s, d, p in zip(smiles, doms, pars, strict=True):
                key = _digest(s)
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                writer.add(s, d, p)
                if writer.n_written + len(writer.rows["smiles"]) >= n:
                    break
            total = writer.n_written + len(writer.rows["smiles"])
            bar.update(total - before)
            if total >= n:
                break
            stale_chunks = stale_chunks + 1 if total == before else 0
            if stale_chunks >= 20:
                raise ScreenError(
                    f"the {len(args[0])} seeds yield only {total} unique products, fewer than "
                    f"n={n}; give more seeds or a smaller n"
                )
        writer.flush()
    info = LibraryInfo(
        path=out, n=writer.n_written, shards=writer.shards, seed=seed, n_seeds=len(args[0]),
        attempts=attempts, invalid=invalid, duplicates=duplicates,
        elapsed_s=time.perf_counter() - start,
        params={**params, "shard_size": shard_size, "chunk_size": chunk_size,
                "workers": workers, "id_prefix": id_prefix,
                "substituents": list(SUBSTITUENTS), "rdkit": rdBase.rdkitVersion},
    )
    (out / MANIFEST).write_text(json.dumps(info.to_json(), indent=2))
    return info


def library_shards(path: str | Path) -> list[Path]:
    """Return the Parquet shard files of a library folder, sorted by name.

    Raises:
        ScreenError: if the folder holds no ``*.parquet`` file.
    """
    folder = Path(path)
    shards = sorted(folder.glob("*.parquet"))
    if not shards:
        raise ScreenError(f"library folder {folder} holds no .parquet shards")
    return shards


def read_library(path: str | Path) -> pd.DataFrame:
    """Read a whole (small) library folder into one frame; for tests and inspection."""
    return pd.concat([pd.read_parquet(p) for p in library_shards(path)], ignore_index=True)
