"""Rebuild the data sets embedded in the package (``e2t_discovery/data/``) from a data folder.

Writes ``PI1070.csv.xz``, ``hoip/hoip.csv.xz``, ``hoip/structures.tar.xz`` (the CIF files,
sorted, with fixed owner, mode and time, so the archive is the same on every run with the
same liblzma) and ``SHA256SUMS`` (the uncompressed tables, as in the data folder's own
``SHA256SUMS``, and the three compressed files), and copies ``PI1070.LICENSE``. The
tables' checksums must equal the ones pinned in :mod:`e2t_discovery.data.files`. Prints one
row per file and writes the same as JSON::

    python scripts/pack_data.py --source ../shared/data
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import shutil
import sys
import tarfile
from pathlib import Path

from e2t_discovery.data import files as data_files

ROOT = Path(__file__).resolve().parents[1]
XZ_PRESET = 9 | lzma.PRESET_EXTREME


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _structures_tar(folder: Path) -> bytes:
    """Return an uncompressed tar of ``folder/*.cif`` under ``structures/``, reproducibly."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(folder.glob("*.cif")):
            data = path.read_bytes()
            info = tarfile.TarInfo(f"structures/{path.name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def pack(source: Path, out: Path) -> list[dict[str, object]]:
    """Write the embedded copies of ``source`` into ``out``; return one record per file."""
    pi1070 = (source / data_files.PI1070_FILE).read_bytes()
    hoip = (source / data_files.HOIP_FILE).read_bytes()
    for name, data, pinned in ((data_files.PI1070_FILE, pi1070, data_files.PI1070_SHA256),
                               (data_files.HOIP_FILE, hoip, data_files.HOIP_SHA256)):
        if _sha256(data) != pinned:
            raise SystemExit(f"{source / name} has SHA-256 {_sha256(data)}, but "
                             f"e2t_discovery.data.files pins {pinned}; use the matching data")
    tar = _structures_tar(source / "hoip" / "structures")
    files = {
        data_files.PI1070_FILE + ".xz": lzma.compress(pi1070, preset=XZ_PRESET),
        data_files.HOIP_FILE + ".xz": lzma.compress(hoip, preset=XZ_PRESET),
        data_files.HOIP_STRUCTURES_ARCHIVE: lzma.compress(tar, preset=XZ_PRESET),
    }
    (out / "hoip").mkdir(parents=True, exist_ok=True)
    records: list[dict[str, object]] = []
    sums = [f"{data_files.PI1070_SHA256}  {data_files.PI1070_FILE}",
            f"{data_files.HOIP_SHA256}  {data_files.HOIP_FILE}"]
    for name, data in files.items():
        (out / name).write_bytes(data)
        sums.append(f"{_sha256(data)}  {name}")
        records.append({"file": name, "bytes": len(data), "sha256": _sha256(data)})
    shutil.copyfile(source / "PI1070.LICENSE", out / "PI1070.LICENSE")
    (out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--source", type=Path, required=True,
                        help="data folder holding PI1070.csv and hoip/")
    parser.add_argument("--out", type=Path, default=ROOT / "e2t_discovery" / "data")
    parser.add_argument("--json", type=Path, default=ROOT / "scripts" / "results" /
                        "pack_data.json")
    args = parser.parse_args(argv)
    records = pack(args.source, args.out)
    print(f"{'file':28} {'bytes':>9}  sha256")
    for rec in records:
        print(f"{rec['file']:28} {rec['bytes']:>9,}  {rec['sha256']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": " ".join(sys.argv), "files": records,
                                     "python": sys.version}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
