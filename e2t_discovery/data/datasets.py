"""Benchmark data sets: where they are, their checksums, and the paper's splits.

Two tables are used by tests, benchmarks and demos:

- **PI1070** (RadonPy, Hayashi et al. 2022, BSD-3-Clause): 1,077 homopolymers as p-SMILES
  with MD-computed properties; ``polymer_class`` (PoLyInfo class 1..21) is the domain label.
- **HOIP** (Kim et al. 2017, CC BY 4.0): 1,345 hybrid organic-inorganic perovskites with
  DFT band gaps and one relaxed CIF per row (``hoip/hoip.csv`` and
  ``hoip/structures/<id>.cif``).

Both ship inside the package (``e2t_discovery/data/``: xz-compressed tables, the CIF files
as one ``hoip/structures.tar.xz``, their licences, citations and ``SHA256SUMS``), so
nothing has to be set up. Files are looked up in data folders, first hit wins: an explicit
folder (then nothing else is searched), else the ``E2T_DATA_DIR`` environment variable,
else the per-user cache (``platformdirs``: ``~/.cache/e2t-discovery/data`` on Linux), else
the embedded copy. A folder may hold a table plain (``PI1070.csv``) or xz-compressed
(``PI1070.csv.xz``), and the structures as a folder or as the archive, which is unpacked
once into the user cache. This module is the only place that reads ``E2T_DATA_DIR``. Every
table is SHA-256 verified before use (the same pinned checksum for every copy); the
pinned PI1070 file can also be downloaded from RadonPy with :func:`download_pi1070`
(``pooch``).
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import re
import shutil
import sys
import tarfile
import tempfile
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import platformdirs
import pooch
import requests

from e2t_discovery.domains import element_group_hits, element_group_label
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
    "HOIP_STRUCTURES_ARCHIVE",
    "HOIP_TARGET",
    "HOIP_METALS",
    "HOIP_HALIDES",
    "default_cache_dir",
    "embedded_dir",
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
#: Application name of the per-user cache folder (``platformdirs``).
_APP = "e2t-discovery"

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
#: The HOIP CIF files as one archive (``structures/<id>.cif``), relative to the data folder;
#: its SHA-256 must be listed in the folder's ``SHA256SUMS``.
HOIP_STRUCTURES_ARCHIVE = "hoip/structures.tar.xz"
#: Target of the HOIP benchmarks (eV).
HOIP_TARGET = "band_gap_gga"
#: B-site metals and X-site halides of the HOIP set; their pairs are the 12 domains.
HOIP_METALS: tuple[str, ...] = ("Ge", "Sn", "Pb")
HOIP_HALIDES: tuple[str, ...] = ("F", "Cl", "Br", "I")

_HOIP_SPLITS: dict[str, tuple[str, str]] = {"gef": ("Ge", "F"), "pbi": ("Pb", "I")}
_REINSTALL = "reinstall e2t-discovery (its embedded copy is damaged)"
_HOW_TO_GET = {
    PI1070_FILE: f"download it with e2t_discovery.data.datasets.download_pi1070(folder) "
    f"(or load_pi1070(folder, download=True)) from {PI1070_URL}",
    HOIP_FILE: "put hoip/hoip.csv and hoip/structures/ of the HOIP data (Kim et al., Sci. "
    "Data 4, 170057, 2017) there, or pass no folder to use the copy embedded in the package",
}
_CIF_MEMBER = re.compile(r"structures/[A-Za-z0-9_.-]+\.cif")


def default_cache_dir() -> Path:
    """Return the per-user data folder (may not exist).

    ``platformdirs.user_cache_dir("e2t-discovery")/data``: ``~/.cache/e2t-discovery/data``
    on Linux (``$XDG_CACHE_HOME`` when set), ``~/Library/Caches/e2t-discovery/data`` on
    macOS.
    """
    return Path(platformdirs.user_cache_dir(_APP, appauthor=False)) / "data"


def embedded_dir() -> Path:
    """Return the data folder shipped inside the package (``e2t_discovery/data``)."""
    return Path(str(resources.files("e2t_discovery") / "data"))


def _candidates(explicit: str | Path | None) -> list[tuple[str, Path]]:
    """Return ``(description, folder)`` in search order; reads ``E2T_DATA_DIR``."""
    if explicit is not None:
        return [("the given data folder", Path(explicit).expanduser())]
    found = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        found.append((f"{DATA_DIR_ENV}={env}", Path(env).expanduser()))
    found.append(("the user cache", default_cache_dir()))
    found.append(("the copy embedded in the package", embedded_dir()))
    return found


def _searched(explicit: str | Path | None) -> str:
    """Describe the places searched, for error messages."""
    places = [f"{what} ({path})" if not what.startswith(DATA_DIR_ENV) else what
              for what, path in _candidates(explicit)]
    if explicit is None and not os.environ.get(DATA_DIR_ENV):
        places.insert(0, f"{DATA_DIR_ENV} (not set)")
    return ", ".join(places[:-1]) + " and " + places[-1] if len(places) > 1 else places[0]


def _holds(folder: Path, relative: str) -> bool:
    """Whether ``folder`` holds ``relative`` plain or xz-compressed."""
    return (folder / relative).is_file() or (folder / f"{relative}.xz").is_file()


def find_data_dir(explicit: str | Path | None = None, *, required: str | None = None) -> Path:
    """Find the data folder: ``explicit`` > ``$E2T_DATA_DIR`` > user cache > embedded copy.

    Args:
        explicit: A folder given by the caller; when set, nothing else is searched.
        required: A file (relative path) that must be present, plain or as ``<file>.xz``;
            the first folder that holds it wins. When None, the first existing folder wins.

    Returns:
        The data folder.

    Raises:
        DataError: naming every place searched and how to get the data.
    """
    for _, folder in _candidates(explicit):
        if (_holds(folder, required) if required else folder.is_dir()):
            return folder
    wanted = required or "the data folder"
    if explicit is None:
        how = _REINSTALL
    else:
        how = _HOW_TO_GET.get(required or "", f"set {DATA_DIR_ENV} to the folder of the "
                                              "data sets")
    raise DataError(f"{wanted} not found in {_searched(explicit)}; {how}")


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file (``pooch.file_hash``)."""
    return str(pooch.file_hash(str(path), alg="sha256"))


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


def _is_embedded(data_dir: Path) -> bool:
    return data_dir.resolve() == embedded_dir().resolve()


def _fix(data_dir: Path, relative: str) -> str:
    """How to repair a bad copy of ``relative`` in ``data_dir``, for error messages."""
    return _REINSTALL if _is_embedded(data_dir) else f"delete it and {_HOW_TO_GET[relative]}"


def _read_verified(data_dir: Path, relative: str, pinned: str) -> bytes:
    """Read a table (plain, else ``.xz``) and check it against the pinned checksum.

    The checksum is of the uncompressed file, so every copy carries the same one; the
    folder's ``SHA256SUMS`` entry for ``relative``, if any, must agree with it.

    Raises:
        DataError: if the folder's SHA256SUMS disagrees with the pinned checksum, the file
            cannot be decompressed, or its SHA-256 differs from the pinned one.
    """
    listed = _listed_sha256(data_dir, relative)
    if listed is not None and listed != pinned:
        raise DataError(
            f"{data_dir / 'SHA256SUMS'} lists {relative} as {listed} but this version of "
            f"e2t-discovery expects {pinned}; use the matching data release"
        )
    path = data_dir / relative
    if not path.is_file():
        path = data_dir / f"{relative}.xz"
    try:
        data = path.read_bytes()
        if path.suffix == ".xz":
            data = lzma.decompress(data)
    except lzma.LZMAError as exc:
        raise DataError(f"{path} is not a valid xz file ({exc}); {_fix(data_dir, relative)}"
                        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != pinned:
        raise DataError(
            f"{path} has SHA-256 {actual}, expected {pinned}: the file is corrupt or a "
            f"different version; {_fix(data_dir, relative)}"
        )
    return data


def download_pi1070(
    dest_dir: str | Path, *, url: str = PI1070_URL, sha256: str = PI1070_SHA256
) -> Path:
    """Download the pinned PI1070 table into ``dest_dir`` and verify its checksum (pooch).

    pooch writes to a temporary name and moves the file into place only once its SHA-256
    is right; an existing, valid file is kept without downloading.

    Args:
        dest_dir: Folder to write ``PI1070.csv`` into (created if missing).
        url: Source URL, http(s) (the pinned RadonPy raw file; override for mirrors).
        sha256: Expected SHA-256 of the file.

    Returns:
        Path of the verified ``PI1070.csv``.

    Raises:
        DataError: if the URL is not http(s), the download fails or the checksum differs.
    """
    target = Path(dest_dir).expanduser() / PI1070_FILE
    if not url.startswith(("http://", "https://")):
        raise DataError(f"cannot download {url}: only http(s) URLs are supported; copy the "
                        f"file by hand into {target}")
    downloader = pooch.HTTPDownloader(progressbar=sys.stderr.isatty(), timeout=60)
    try:
        path = pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=PI1070_FILE,
                              path=target.parent, downloader=downloader)
    except ValueError:  # pooch: the downloaded file's hash differs (already deleted)
        raise DataError(
            f"download of {url} does not have the pinned SHA-256 {sha256} (nothing was "
            f"kept); retry later or download it by hand into {target}"
        ) from None
    except (requests.RequestException, OSError) as exc:
        raise DataError(
            f"could not download {url}: {exc}; download it by hand into {target}"
        ) from None
    return Path(path)


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
    frame = pd.read_csv(io.BytesIO(_read_verified(folder, PI1070_FILE, PI1070_SHA256)))
    ids = frame["monomer_ID"].astype(str).rename("id")
    return pd.concat([ids, frame], axis=1)


def _unpack_structures(data_dir: Path) -> Path:
    """Unpack ``data_dir/hoip/structures.tar.xz`` once into the user cache; return its folder.

    The archive must be listed in ``data_dir/SHA256SUMS`` with its checksum. It is unpacked
    into ``<user cache>/unpacked/hoip-structures-<sha256[:16]>/`` through a temporary
    folder, so a half-written copy is never used. Only plain ``structures/<name>.cif``
    members are accepted.

    Raises:
        DataError: if the archive is unlisted, differs from its listed checksum, holds
            anything else, or the cache cannot be written.
    """
    archive = data_dir / HOIP_STRUCTURES_ARCHIVE
    listed = _listed_sha256(data_dir, HOIP_STRUCTURES_ARCHIVE)
    actual = sha256_of(archive)
    if listed != actual:
        raise DataError(
            f"{archive} has SHA-256 {actual} but {data_dir / 'SHA256SUMS'} lists "
            f"{listed or 'no checksum'} for it; {_fix(data_dir, HOIP_FILE)}"
        )
    final = default_cache_dir().parent / "unpacked" / f"hoip-structures-{actual[:16]}"
    if final.is_dir():
        return final
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=final.parent))
    except OSError as exc:
        raise DataError(f"cannot unpack {archive} into {final.parent} ({exc}); set "
                        f"{DATA_DIR_ENV} to a folder holding hoip/structures/") from None
    try:
        with tarfile.open(archive, mode="r:xz") as tar:
            for member in tar:
                source = tar.extractfile(member) if member.isfile() else None
                if source is None or not _CIF_MEMBER.fullmatch(member.name):
                    raise DataError(f"{archive} holds {member.name!r}, not a structures/"
                                    f"<id>.cif file; {_fix(data_dir, HOIP_FILE)}")
                (staging / Path(member.name).name).write_bytes(source.read())
        try:
            staging.rename(final)
        except OSError:  # another process finished first: use its copy
            if not final.is_dir():
                raise
    except (OSError, tarfile.TarError, lzma.LZMAError) as exc:
        raise DataError(f"cannot unpack {archive} into {final} ({exc}); set "
                        f"{DATA_DIR_ENV} to a folder holding hoip/structures/") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


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
    frame = pd.read_csv(io.BytesIO(_read_verified(folder, HOIP_FILE, HOIP_SHA256)))
    structures = folder / "hoip" / "structures"
    if not structures.is_dir() and (folder / HOIP_STRUCTURES_ARCHIVE).is_file():
        structures = _unpack_structures(folder)
    structures = structures.resolve()
    paths = [structures / f"{row_id}.cif" for row_id in frame["id"]]
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} HOIP structure files are missing, e.g. {missing[0]}; "
            f"{_REINSTALL if _is_embedded(folder) else _HOW_TO_GET[HOIP_FILE]}"
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
