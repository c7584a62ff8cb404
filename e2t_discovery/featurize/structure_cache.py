"""On-disk cache of featurized structures, keyed by content hash and featurizer settings.

A cached entry is one ``.npz`` file named after the SHA-256 of the structure's content
(CIF text, or a canonical serialization of a pymatgen ``Structure``) together with a
settings string (featurizer version and parameters), so a change of settings never reads
a stale entry. Writes go to a temporary file first and are renamed into place, so
concurrent processes (Ray workers) never see a half-written file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["FeatureCache", "content_key"]


def content_key(content: bytes, settings: str) -> str:
    """Return the hex SHA-256 of a structure's content joined with a settings string."""
    digest = hashlib.sha256()
    digest.update(settings.encode())
    digest.update(b"\0")
    digest.update(content)
    return digest.hexdigest()


class FeatureCache:
    """A folder of ``<key>.<part>.npz`` files.

    Args:
        directory: Folder for the cache files; created on first write.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str, part: str) -> Path:
        return self.directory / f"{key}.{part}.npz"

    def get(self, key: str, part: str) -> dict[str, np.ndarray] | None:
        """Return the arrays stored under ``key``/``part``, or None if absent or unreadable."""
        path = self._path(key, part)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError):
            return None

    def put(self, key: str, part: str, arrays: dict[str, np.ndarray]) -> None:
        """Store arrays under ``key``/``part`` atomically (write to a temp file, rename)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp.npz")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, self._path(key, part))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
