"""Data files: where they are looked up, their pinned checksums, verified reads, download.

Files are looked up in data folders, first hit wins: an explicit folder (then nothing else
is searched), else the ``E2T_DATA_DIR`` environment variable, else the per-user cache
(``platformdirs``: ``~/.cache/e2t-discovery/data`` on Linux), else the copy embedded in the
package (``e2t_discovery/data/``). A folder may hold a table plain (``PI1070.csv``) or
xz-compressed (``PI1070.csv.xz``), and the HOIP structures as a folder or as the archive,
which is unpacked once into the user cache. This module is the only place that reads
``E2T_DATA_DIR``. Every table is SHA-256 verified before use (the same pinned checksum for
every copy); the pinned PI1070 file can also be downloaded from RadonPy with
:func:`download_pi1070` (``pooch``). The tables themselves are read by
:mod:`e2t_discovery.data.datasets`.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import shutil
import sys
import tarfile
import tempfile
from importlib import resources
from pathlib import Path

import platformdirs
import pooch
import requests

from e2t_discovery.exceptions import DataError

__all__ = [
    "DATA_DIR_ENV",
    "HOIP_FILE",
    "HOIP_SHA256",
    "HOIP_STRUCTURES_ARCHIVE",
    "PI1070_FILE",
    "PI1070_SHA256",
    "PI1070_URL",
    "RADONPY_COMMIT",
    "default_cache_dir",
    "download_pi1070",
    "embedded_dir",
    "find_data_dir",
    "how_to_get",
    "read_verified",
    "sha256_of",
    "unpack_structures",
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
#: HOIP table, relative to the data folder.
HOIP_FILE = "hoip/hoip.csv"
#: SHA-256 of ``hoip/hoip.csv``.
HOIP_SHA256 = "8de87993107449fc597975b4811867c16071b518a69dd495a60518b80131507f"
#: The HOIP CIF files as one archive (``structures/<id>.cif``), relative to the data folder;
#: its SHA-256 must be listed in the folder's ``SHA256SUMS``.
HOIP_STRUCTURES_ARCHIVE = "hoip/structures.tar.xz"

_REINSTALL = "reinstall e2t-discovery (its embedded copy is damaged)"
_HOW_TO_GET = {
    PI1070_FILE: f"download it with e2t_discovery.data.download_pi1070(folder) "
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


def how_to_get(data_dir: Path, relative: str) -> str:
    """How to get ``relative`` into ``data_dir`` where it is missing, for error messages."""
    return _REINSTALL if _is_embedded(data_dir) else _HOW_TO_GET[relative]


def _fix(data_dir: Path, relative: str) -> str:
    """How to repair a bad copy of ``relative`` in ``data_dir``, for error messages."""
    return _REINSTALL if _is_embedded(data_dir) else f"delete it and {_HOW_TO_GET[relative]}"


def read_verified(data_dir: Path, relative: str, pinned: str) -> bytes:
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


def unpack_structures(data_dir: Path) -> Path:
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
