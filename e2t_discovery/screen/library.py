"""The candidate library as a value: its files, resumable units, columns and manifest.

A library is a folder of ``*.parquet`` shards, one Parquet file (one unit per row group)
or one CSV file (one unit per ``csv_chunk`` rows). :meth:`Library.open` lists its units
without reading rows; a unit is the piece a screen writes (and resumes) as one shard.
A folder made by :func:`e2t_discovery.data.generate.generate_polymer_library` carries a
manifest (:data:`MANIFEST`) that says its SMILES are already RDKit canonical.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from e2t_discovery.exceptions import ScreenError

__all__ = ["MANIFEST", "Library", "LibraryUnit", "library_shards"]

#: File name of a generated library's manifest (written by the generator).
MANIFEST = "library.json"


@dataclass(frozen=True)
class LibraryUnit:
    """One resumable unit of a library: a shard file, a row group, or a CSV chunk.

    Attributes:
        name: Unique name; the output shard is ``<name>.parquet``.
        path: The file it comes from.
        n_rows: Rows in the unit.
        row_group: Parquet row group index (single-file Parquet libraries), else None.
        offset: Rows of ``path`` before the unit's first row (CSV chunks, row groups).
    """

    name: str
    path: Path
    n_rows: int
    row_group: int | None = None
    offset: int = 0

    def batches(self, columns: list[str], batch_size: int) -> Iterator[pd.DataFrame]:
        """Yield the unit's rows in batches of at most ``batch_size`` (only ``columns``)."""
        if self.path.suffix == ".csv":
            frame = pd.read_csv(self.path, usecols=columns, skiprows=range(1, self.offset + 1),
                                nrows=self.n_rows, dtype={"id": str})
            for start in range(0, len(frame), batch_size):
                yield frame.iloc[start:start + batch_size].reset_index(drop=True)
            return
        pf = pq.ParquetFile(self.path)
        groups = [self.row_group] if self.row_group is not None else None
        for rb in pf.iter_batches(batch_size=batch_size, columns=columns, row_groups=groups):
            yield rb.to_pandas()


@dataclass(frozen=True)
class Library:
    """A candidate library: where it is, its units and the columns of each file.

    Attributes:
        path: The folder or file as given.
        units: Resumable units, in order.
        file_columns: Column names of each file of the library, in file order.
    """

    path: Path
    units: tuple[LibraryUnit, ...]
    file_columns: tuple[tuple[Path, tuple[str, ...]], ...]

    @classmethod
    def open(cls, path: str | Path, *, needed: Collection[str] = ("id",),
             csv_chunk: int = 50_000) -> Library:
        """List the resumable units of a library without reading its rows.

        Args:
            path: A folder of ``*.parquet`` shards, one ``.parquet`` file (one unit per row
                group) or one ``.csv`` file (one unit per ``csv_chunk`` rows).
            needed: Columns every file must have.
            csv_chunk: Rows per unit of a CSV library.

        Raises:
            ScreenError: if the path is missing, of another type, empty, or lacks columns.
        """
        lib = Path(path)
        if not lib.exists():
            raise ScreenError(f"library {lib} does not exist; give a Parquet/CSV file or a "
                              "folder")
        if lib.is_dir():
            units, files = [], []
            for f in library_shards(lib):
                meta = pq.ParquetFile(f)
                files.append((f, _checked(f, meta.schema_arrow.names, needed)))
                units.append(LibraryUnit(name=f.stem, path=f, n_rows=meta.metadata.num_rows))
            return cls(lib, tuple(units), tuple(files))
        if lib.suffix == ".parquet":
            meta = pq.ParquetFile(lib)
            names = _checked(lib, meta.schema_arrow.names, needed)
            sizes = [meta.metadata.row_group(k).num_rows for k in range(meta.num_row_groups)]
            starts: list[int] = np.cumsum([0, *sizes[:-1]]).tolist() if sizes else []
            units = [LibraryUnit(name=f"{lib.stem}-rg{k:05d}", path=lib, n_rows=sizes[k],
                                 row_group=k, offset=int(starts[k]))
                     for k in range(meta.num_row_groups)]
            return cls(lib, tuple(units), ((lib, names),))
        if lib.suffix == ".csv":
            header = pd.read_csv(lib, nrows=0).columns
            names = _checked(lib, list(header), needed)
            n = len(pd.read_csv(lib, usecols=[header[0]]))
            units = [LibraryUnit(name=f"{lib.stem}-part{k // csv_chunk:05d}", path=lib,
                                 n_rows=min(csv_chunk, n - k), offset=k)
                     for k in range(0, max(n, 0), csv_chunk)]
            return cls(lib, tuple(units), ((lib, names),))
        raise ScreenError(f"library {lib} is neither a folder, a .parquet nor a .csv file")

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names of the file of the library's first unit."""
        return dict(self.file_columns)[self.units[0].path]

    @property
    def key(self) -> str:
        """The identity of the library used to resume screens: its resolved path."""
        return str(self.path.resolve())

    @property
    def canonical(self) -> bool:
        """True if the manifest says the SMILES are RDKit canonical (our generator)."""
        from rdkit import rdBase

        manifest = (self.path if self.path.is_dir() else self.path.parent) / MANIFEST
        if not manifest.is_file():
            return False
        try:
            meta = json.loads(manifest.read_text())
        except json.JSONDecodeError:
            return False
        return meta.get("params", {}).get("rdkit") == rdBase.rdkitVersion

    def require(self, needed: Collection[str]) -> None:
        """Raise ScreenError if a file of the library lacks one of the ``needed`` columns."""
        for path, names in self.file_columns:
            _checked(path, names, needed)

    def read(self) -> pd.DataFrame:
        """Read the whole (small) library into one frame; for tests and inspection."""
        if self.path.suffix == ".csv":
            return pd.read_csv(self.path, dtype={"id": str})
        return pd.concat([pd.read_parquet(p) for p, _ in self.file_columns], ignore_index=True)


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


def _checked(path: Path, columns: Collection[str], needed: Collection[str]) -> tuple[str, ...]:
    """Return a file's columns; raise ScreenError if it lacks one of the needed ones."""
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ScreenError(
            f"library file {path} lacks column(s) {', '.join(missing)}; it has "
            f"{', '.join(columns)}; add them or set the campaign's input_column"
        )
    return tuple(columns)
