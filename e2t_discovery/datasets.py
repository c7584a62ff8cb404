"""Benchmark data sets: where they are, their checksums, and the paper's splits.

Two tables are used by tests, benchmarks and demos:

- **PI1070** (RadonPy, Hayashi et al. 2022): 1,077 homopolymers as p-SMILES with
  MD-computed properties; ``polymer_class`` (PoLyInfo class 1..21) is the domain label.
  Users download it from the public RadonPy repository (:func:`download_pi1070`).
- **HOIP** (Kim et al. 2017): 1,345 hybrid organic-inorganic perovskites with DFT band gaps
  and one relaxed CIF per row (``hoip/hoip.csv`` and ``hoip/structures/<id>.cif``).

Files are looked up in a data folder: an explicit folder, else the ``E2T_DATA_DIR``
environment variable, else the per-user cache ``~/.cache/e2t-discovery/data``. This module
is the only place that reads ``E2T_DATA_DIR``. Every table is SHA-256 verified before use.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from e2t_discovery.exceptions import DataError

__all__ = [
    "DATA_DIR_ENV",
    "PI1070_FILE",
    "PI1070_SHA256",
    "PI1070_URL",
    "PI1070_PROPERTIES",
    "PI1070_BENCHMARK_PROPERTIES",
    "PI1070_DOMAIN_COLUMN",
    "HOIP_FILE",
    "HOIP_SHA256",
    "HOIP_TARGET",
    "HOIP_METALS",
    "HOIP_HALIDES",
    "default_cache_dir",
    "find_data_dir",
    "load_pi1070",
    "download_pi1070",
    "load_hoip",
    "hoip_split",
    "hoip_domains",
    "pi1070_class_splits",
    "sha256_of",
]

#: Environment variable naming the data folder.
DATA_DIR_ENV = "E2T_DATA_DIR"

#: PI1070 table, relative to the data folder.
PI1070_FILE = "PI1070.csv"
#: SHA-256 of ``PI1070.csv`` as published in RadonPy at :data:`RADONPY_COMMIT`.
PI1070_SHA256 = "4ee41d526db3d03eb5b83010672b4e63a4d51a114871a2187ca7fd57d30556a4"
#: RadonPy commit whose ``data/PI1070.csv`` is pinned.
RADONPY_COMMIT = "c9d52bcafc05c1083acb593895e9573868538961"
#: Raw URL of the pinned PI1070 table.
PI1070_URL = (
    f"https://raw.githubusercontent.com/RadonPy/RadonPy/{RADONPY_COMMIT}/data/PI1070.csv"
)

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

#: HOIP table, relative to the data folder.
HOIP_FILE = "hoip/hoip.csv"
#: SHA-256 of ``hoip/hoip.csv``.
HOIP_SHA256 = "8de87993107449fc597975b4811867c16071b518a69dd495a60518b80131507f"
#: Target of the HOIP benchmarks (eV).
HOIP_TARGET = "band_gap_gga"
#: B-site metals and X-site halides of the HOIP set; their pairs are the 12 domains.
HOIP_METALS: tuple[str, ...] = ("Ge", "Sn", "Pb")
HOIP_HALIDES: tuple[str, ...] = ("F", "Cl", "Br", "I")

_HOIP_SPLITS: dict[str, tuple[str, str]] = {"gef": ("Ge", "F"), "pbi": ("Pb", "I")}
_HOW_TO_GET = {
    PI1070_FILE: f"download it with e2t_discovery.datasets.download_pi1070(folder) "
    f"(or load_pi1070(download=True)) from {PI1070_URL}",
    HOIP_FILE: "get the hoip/ folder (hoip.csv and structures/) of the e2t-discovery "
    "benchmark data (Kim et al., Sci. Data 4, 170057, 2017)",
}


def default_cache_dir() -> Path:
    """Return the per-user data folder ``~/.cache/e2t-discovery/data`` (may not exist)."""
    return Path.home() / ".cache" / "e2t-discovery" / "data"


def _candidates(explicit: str | Path | None) -> list[tuple[str, Path]]:
    """Return ``(description, folder)`` in search order; reads ``E2T_DATA_DIR``."""
    if explicit is not None:
        return [("the given data folder", Path(explicit).expanduser())]
    found = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        found.append((f"{DATA_DIR_ENV}={env}", Path(env).expanduser()))
    found.append(("the user cache", default_cache_dir()))
    return found


def _searched(explicit: str | Path | None) -> str:
    """Describe the places searched, for error messages."""
    places = [f"{what} ({path})" if not what.startswith(DATA_DIR_ENV) else what
              for what, path in _candidates(explicit)]
    if explicit is None and not os.environ.get(DATA_DIR_ENV):
        places.insert(0, f"{DATA_DIR_ENV} (not set)")
    return " and ".join(places)


def find_data_dir(explicit: str | Path | None = None, *, required: str | None = None) -> Path:
    """Find the data folder: ``explicit`` > ``$E2T_DATA_DIR`` > ``~/.cache/e2t-discovery/data``.

    Args:
        explicit: A folder given by the caller; when set, nothing else is searched.
        required: A file (relative path) that must be present; the first folder that holds
            it wins. When None, the first existing folder wins.

    Returns:
        The data folder.

    Raises:
        DataError: naming every place searched and how to get the data.
    """
    for _, folder in _candidates(explicit):
        target = folder / required if required else folder
        if (target.is_file() if required else folder.is_dir()):
            return folder
    wanted = required or "the data folder"
    how = _HOW_TO_GET.get(required or "", f"set {DATA_DIR_ENV} to the folder of the data sets")
    raise DataError(f"{wanted} not found in {_searched(explicit)}; {how}")


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _listed_sha256(data_dir: Path, relative: str) -> str | None:
    """Return the checksum ``data_dir/SHA256SUMS`` lists for ``relative``, if any."""
    sums = data_dir / "SHA256SUMS"
    if not sums.is_file():
        return None
    for line in sums.read_text().splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and parts[1].lstrip("*").strip() == relative:
            return parts[0].lower()
    return None


def _verify(data_dir: Path, relative: str, pinned: str) -> Path:
    """Check a file against the pinned checksum and the folder's SHA256SUMS entry.

    Raises:
        DataError: if the folder's SHA256SUMS disagrees with the pinned checksum or the file's
            SHA-256 differs from it.
    """
    path = data_dir / relative
    listed = _listed_sha256(data_dir, relative)
    if listed is not None and listed != pinned:
        raise DataError(
            f"{data_dir / 'SHA256SUMS'} lists {relative} as {listed} but this version of "
            f"e2t-discovery expects {pinned}; use the matching data release"
        )
    actual = sha256_of(path)
    if actual != pinned:
        raise DataError(
            f"{path} has SHA-256 {actual}, expected {pinned}: the file is corrupt or a "
            f"different version; delete it and {_HOW_TO_GET[relative]}"
        )
    return path


def download_pi1070(
    dest_dir: str | Path, *, url: str = PI1070_URL, sha256: str = PI1070_SHA256
) -> Path:
    """Download the pinned PI1070 table into ``dest_dir`` and verify its checksum.

    The file is written to a temporary name and moved into place only once its SHA-256 is
    right; an existing, valid file is kept without downloading.

    Args:
        dest_dir: Folder to write ``PI1070.csv`` into (created if missing).
        url: Source URL (the pinned RadonPy raw file; override for mirrors).
        sha256: Expected SHA-256 of the file.

    Returns:
        Path of the verified ``PI1070.csv``.

    Raises:
        DataError: if the download fails or the checksum differs.
    """
    dest = Path(dest_dir).expanduser()
    target = dest / PI1070_FILE
    if target.is_file() and sha256_of(target) == sha256:
        return target
    dest.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=PI1070_FILE,
                      disable=None) as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"could not download {url}: {exc}; download it by hand into {target}"
        ) from exc
    if digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"download of {url} has SHA-256 {digest.hexdigest()}, expected {sha256}; "
            "retry later or download it by hand"
        )
    partial.replace(target)
    return target


def load_pi1070(data_dir: str | Path | None = None, *, download: bool = False) -> pd.DataFrame:
    """Load the verified PI1070 table with an added string column ``id`` (= ``monomer_ID``).

    Args:
        data_dir: Data folder; None searches ``$E2T_DATA_DIR`` then the user cache.
        download: If the file is missing, download it (into ``data_dir``, else the cache).

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
    frame = pd.read_csv(_verify(folder, PI1070_FILE, PI1070_SHA256))
    ids = frame["monomer_ID"].astype(str).rename("id")
    return pd.concat([ids, frame], axis=1)


def load_hoip(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Load the verified HOIP table with an added column ``cif_path`` (absolute, str).

    Args:
        data_dir: Data folder; None searches ``$E2T_DATA_DIR`` then the user cache.

    Returns:
        The 1,345-row table (``id, formula, elements, n_sites, band_gap_gga,
        band_gap_hse06, gef_test, pbi_test, cif_path``).

    Raises:
        DataError: if the table or a structure file is missing, or the table is corrupt.
    """
    folder = find_data_dir(data_dir, required=HOIP_FILE)
    frame = pd.read_csv(_verify(folder, HOIP_FILE, HOIP_SHA256))
    structures = (folder / "hoip" / "structures").resolve()
    paths = [structures / f"{row_id}.cif" for row_id in frame["id"]]
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} HOIP structure files are missing, e.g. {missing[0]}; "
            f"{_HOW_TO_GET[HOIP_FILE]}"
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
        metals = [m for m in HOIP_METALS if m in elements]
        halides = [x for x in HOIP_HALIDES if x in elements]
        if len(metals) != 1 or len(halides) != 1:
            raise DataError(
                f"HOIP row {position} has elements {' '.join(sorted(elements))}; a domain "
                "needs exactly one of Ge/Sn/Pb and one of F/Cl/Br/I"
            )
        labels.append(f"{metals[0]}-{halides[0]}")
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
