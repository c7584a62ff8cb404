"""Benchmark data sets: their loaders, domains and the paper's splits.

Two tables are used by tests, benchmarks and demos:

- **PI1070** (RadonPy, Hayashi et al. 2022, BSD-3-Clause): 1,077 homopolymers as p-SMILES
  with MD-computed properties; ``polymer_class`` (PoLyInfo class 1..21) is the domain label.
- **HOIP** (Kim et al. 2017, CC BY 4.0): 1,345 hybrid organic-inorganic perovskites with
  DFT band gaps and one relaxed CIF per row (``hoip/hoip.csv`` and
  ``hoip/structures/<id>.cif``).

Both ship inside the package (``e2t_discovery/data/``: xz-compressed tables, the CIF files
as one ``hoip/structures.tar.xz``, their licences, citations and ``SHA256SUMS``), so
nothing has to be set up. Where the files are looked up, their pinned checksums and the
PI1070 download are in :mod:`e2t_discovery.data.files`; every table is verified there
before it is parsed here.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from e2t_discovery.data.files import (
    HOIP_FILE,
    HOIP_SHA256,
    HOIP_STRUCTURES_ARCHIVE,
    PI1070_FILE,
    PI1070_SHA256,
    default_cache_dir,
    download_pi1070,
    find_data_dir,
    how_to_get,
    read_verified,
    unpack_structures,
)
from e2t_discovery.domains import element_group_hits, element_group_label
from e2t_discovery.exceptions import DataError

__all__ = [
    "PI1070_PROPERTIES",
    "PI1070_BENCHMARK_PROPERTIES",
    "PI1070_DOMAIN_COLUMN",
    "HOIP_TARGET",
    "HOIP_METALS",
    "HOIP_HALIDES",
    "load_pi1070",
    "load_hoip",
    "hoip_split",
    "hoip_domains",
    "pi1070_class_splits",
]

#: MD-computed polymer properties of PI1070 (means over runs; each has ``_min/_max/_std``).
PI1070_PROPERTIES: tuple[str, ...] = (
    "density", "Rg", "r2", "self-diffusion", "Cp", "Cv", "compressibility", "bulk_modulus",
    "isentropic_compressibility", "isentropic_bulk_modulus", "volume_expansion",
    "linear_expansion", "static_dielectric_const", "dielectric_const_dc",
    "nematic_order_parameter", "refractive_index", "thermal_conductivity",
    "thermal_diffusivity",
)
#: The properties of the paper's polymer benchmark (leave-one-class-out).
PI1070_BENCHMARK_PROPERTIES: tuple[str, ...] = (
    "Cp", "refractive_index", "thermal_conductivity", "density",
)
#: Domain label of PI1070 (PoLyInfo polymer class).
PI1070_DOMAIN_COLUMN = "polymer_class"

#: Target of the HOIP benchmarks (eV).
HOIP_TARGET = "band_gap_gga"
#: B-site metals and X-site halides of the HOIP set; their pairs are the 12 domains.
HOIP_METALS: tuple[str, ...] = ("Ge", "Sn", "Pb")
HOIP_HALIDES: tuple[str, ...] = ("F", "Cl", "Br", "I")

_HOIP_SPLITS: dict[str, tuple[str, str]] = {"gef": ("Ge", "F"), "pbi": ("Pb", "I")}
def load_pi1070(data_dir: str | Path | None = None, *, download: bool = False) -> pd.DataFrame:
    """Load the verified PI1070 table with an added string column ``id`` (= ``monomer_ID``).

    Args:
        data_dir: Data folder; None searches ``$E2T_DATA_DIR``, the user cache, then the
            embedded copy.
        download: If ``data_dir`` lacks the file, download it into ``data_dir`` (None:
            into the user cache, should the embedded copy be missing too).

    Returns:
        The 1,077-row table; ``id`` is the first column.

    Raises:
        DataError: if the file is missing (naming the places searched) or corrupt.
    """
    try:
        folder = find_data_dir(data_dir, required=PI1070_FILE)
    except DataError:
        if not download:
            raise
        folder = Path(data_dir).expanduser() if data_dir is not None else default_cache_dir()
        download_pi1070(folder)
    frame = pd.read_csv(io.BytesIO(read_verified(folder, PI1070_FILE, PI1070_SHA256)))
    ids = frame["monomer_ID"].astype(str).rename("id")
    return pd.concat([ids, frame], axis=1)


def load_hoip(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Load the verified HOIP table with an added column ``cif_path`` (absolute, str).

    Args:
        data_dir: Data folder; None searches ``$E2T_DATA_DIR``, the user cache, then the
            embedded copy. Its structures are ``hoip/structures/``, else the archive
            ``hoip/structures.tar.xz`` (unpacked once into the user cache).

    Returns:
        The 1,345-row table (``id, formula, elements, n_sites, band_gap_gga,
        band_gap_hse06, gef_test, pbi_test, cif_path``).

    Raises:
        DataError: if the table or a structure file is missing, or the table is corrupt.
    """
    folder = find_data_dir(data_dir, required=HOIP_FILE)
    frame = pd.read_csv(io.BytesIO(read_verified(folder, HOIP_FILE, HOIP_SHA256)))
    structures = folder / "hoip" / "structures"
    if not structures.is_dir() and (folder / HOIP_STRUCTURES_ARCHIVE).is_file():
        structures = unpack_structures(folder)
    structures = structures.resolve()
    paths = [structures / f"{row_id}.cif" for row_id in frame["id"]]
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} HOIP structure files are missing, e.g. {missing[0]}; "
            f"{how_to_get(folder, HOIP_FILE)}"
        )
    frame["cif_path"] = [str(path) for path in paths]
    return frame


def _element_sets(frame: pd.DataFrame) -> list[frozenset[str]]:
    """Return the element set of each row, from ``elements`` (space separated)."""
    if "elements" not in frame.columns:
        raise DataError("the HOIP frame needs an 'elements' column; load it with load_hoip()")
    return [frozenset(str(value).split()) for value in frame["elements"]]


def hoip_split(frame: pd.DataFrame, name: Literal["gef", "pbi"]) -> tuple[np.ndarray, np.ndarray]:
    """Return the paper's HOIP extrapolation split as integer positions.

    ``gef``: test = compounds containing both Ge and F (97 in the full table);
    ``pbi``: test = compounds containing both Pb and I (117). Train = all other rows. When
    the frame has the ``gef_test`` / ``pbi_test`` column, the split must agree with it.

    Args:
        frame: The HOIP table (or a subset of its rows) with an ``elements`` column.
        name: ``"gef"`` or ``"pbi"``.

    Returns:
        ``(train, test)``: sorted int64 positions into ``frame``.

    Raises:
        DataError: if the name is unknown or the split disagrees with the frame's flag.
    """
    if name not in _HOIP_SPLITS:
        raise DataError(f"unknown HOIP split {name!r}; known splits: {', '.join(_HOIP_SPLITS)}")
    metal, halide = _HOIP_SPLITS[name]
    is_test = np.array([{metal, halide} <= elements for elements in _element_sets(frame)],
                       dtype=bool)
    flag = f"{name}_test"
    if flag in frame.columns and not np.array_equal(is_test, frame[flag].to_numpy(dtype=bool)):
        disagree = int(np.sum(is_test != frame[flag].to_numpy(dtype=bool)))
        raise DataError(
            f"HOIP split {name!r} (contains {metal} and {halide}) disagrees with column "
            f"{flag!r} on {disagree} rows; the table is not the expected HOIP data"
        )
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def hoip_domains(frame: pd.DataFrame) -> np.ndarray:
    """Return the metal-halide domain of each HOIP row, e.g. ``"Pb-I"`` (12 domains).

    Returns:
        ``n_rows`` array of str labels ``"{metal}-{halide}"``, metal in Ge/Sn/Pb and halide
        in F/Cl/Br/I.

    Raises:
        DataError: if a row does not hold exactly one of the metals and one of the halides.
    """
    labels = []
    for position, elements in enumerate(_element_sets(frame)):
        hits = element_group_hits(elements, (HOIP_METALS, HOIP_HALIDES))
        if any(len(hit) != 1 for hit in hits):
            raise DataError(
                f"HOIP row {position} has elements {' '.join(sorted(elements))}; a domain "
                "needs exactly one of Ge/Sn/Pb and one of F/Cl/Br/I"
            )
        labels.append(element_group_label(hits))
    return np.asarray(labels, dtype=str)


def pi1070_class_splits(
    frame: pd.DataFrame, min_size: int = 40
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Return the leave-one-polymer-class-out splits for classes with >= ``min_size`` rows.

    Each split tests on one class and trains on every other row (small classes included).
    On PI1070 with ``min_size=40`` the classes are 13, 3, 2, 4, 1, 7, 9, 10, 15.

    Args:
        frame: The PI1070 table (or a subset) with a ``polymer_class`` column.
        min_size: Smallest class size to hold out.

    Returns:
        ``{class: (train, test)}`` with sorted int64 positions, ordered by class size
        (largest first, ties by class number).

    Raises:
        DataError: if the column is missing or has missing values.
    """
    if PI1070_DOMAIN_COLUMN not in frame.columns:
        raise DataError(f"the PI1070 frame needs a {PI1070_DOMAIN_COLUMN!r} column")
    classes = frame[PI1070_DOMAIN_COLUMN]
    if classes.isna().any():
        raise DataError(f"{int(classes.isna().sum())} rows have no {PI1070_DOMAIN_COLUMN}")
    labels = classes.to_numpy(dtype=np.int64)
    values, counts = np.unique(labels, return_counts=True)
    order = sorted(zip(values.tolist(), counts.tolist(), strict=True),
                   key=lambda item: (-item[1], item[0]))
    return {
        label: (np.flatnonzero(labels != label), np.flatnonzero(labels == label))
        for label, count in order
        if count >= min_size
    }
