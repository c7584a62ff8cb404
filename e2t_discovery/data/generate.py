"""Virtual polymer libraries: new repeat units from a seed set of p-SMILES, as shards.

The products come from :mod:`e2t_discovery.data.repeat_units` (substituent enumeration
and backbone recombination). They are de-duplicated by an 8-byte BLAKE2b digest of their
canonical SMILES (about 70 bytes of memory per candidate, so a million candidates need
well under 100 MB). Seeds themselves are never emitted. The library is written as Parquet
shards of a fixed number of rows with the columns ``id``, ``smiles``, ``domain`` (the
seed's domain; ``"a+b"`` for a recombination of two domains) and ``parent`` (the seed
id(s)), plus the manifest :data:`~e2t_discovery.screen.library.MANIFEST` describing how
it was made.

Generation is deterministic for a given seed set, ``n`` and ``seed``, whatever the number
of workers: work is cut into chunks with their own spawned random streams and the results
are consumed in chunk order. Several workers run the chunks as Ray tasks, started only
through :mod:`e2t_discovery.screen.ray_session`.
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
import pyarrow as pa
import pyarrow.parquet as pq
from rdkit import rdBase

from e2t_discovery.data.repeat_units import SUBSTITUENTS, generate_chunk, prepare_seeds
from e2t_discovery.exceptions import ScreenError
from e2t_discovery.progress import progress_bar
from e2t_discovery.screen.library import MANIFEST
from e2t_discovery.screen.ray_session import ensure_ray, ray_session

__all__ = ["LIBRARY_SCHEMA", "LibraryInfo", "generate_polymer_library"]


LIBRARY_SCHEMA = pa.schema([
    ("id", pa.string()), ("smiles", pa.string()), ("domain", pa.string()),
    ("parent", pa.string()),
])


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



def _digest(smiles: str) -> int:
    """Return an 8-byte BLAKE2b digest of a string as an int (the de-duplication key)."""
    return int.from_bytes(hashlib.blake2b(smiles.encode(), digest_size=8).digest(), "little")


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
    args = prepare_seeds(seeds, domains, parents)
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
