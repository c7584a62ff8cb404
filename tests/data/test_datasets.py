"""Tests of the data-set loaders and split helpers on the real benchmark data."""

from __future__ import annotations

import hashlib
import http.server
import io
import lzma
import shutil
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2t_discovery.data import datasets, files
from e2t_discovery.data.datasets import (
    PI1070_BENCHMARK_PROPERTIES,
    hoip_domains,
    hoip_split,
    load_hoip,
    load_pi1070,
    pi1070_class_splits,
)
from e2t_discovery.data.files import (
    HOIP_SHA256,
    HOIP_STRUCTURES_ARCHIVE,
    PI1070_SHA256,
    default_cache_dir,
    download_pi1070,
    embedded_dir,
    find_data_dir,
    sha256_of,
)
from e2t_discovery.exceptions import DataError


@pytest.fixture()
def no_data_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME at an empty folder, unset E2T_DATA_DIR and XDG_CACHE_HOME; return HOME."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("E2T_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return home


@pytest.fixture()
def no_embedded_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the package's embedded data folder an empty one (a broken installation)."""
    empty = tmp_path / "embedded"
    empty.mkdir()
    monkeypatch.setattr(files, "embedded_dir", lambda: empty)
    return empty


@pytest.fixture()
def http_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                ) -> Iterator[tuple[str, Path, list[str]]]:
    """A real HTTP server on 127.0.0.1 serving a folder: ``(base url, folder, paths asked)``."""
    folder = tmp_path / "served"
    folder.mkdir()
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self) -> None:
            asked.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", folder, asked
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _corrupt_copy(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = bytearray(source.read_bytes())
    data[-3] = ord("9") if data[-3] != ord("9") else ord("8")
    target = folder / source.name
    target.write_bytes(bytes(data))
    return target


def _sums(path: Path) -> dict[str, str]:
    return {name: digest for digest, name in
            (line.split() for line in path.read_text().splitlines() if line.strip())}


# --- finding the data folder -------------------------------------------------------------


def test_find_data_dir_prefers_explicit_then_env_then_cache_then_embedded(
    tmp_path: Path, no_data_anywhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = no_data_anywhere / ".cache" / "e2t-discovery" / "data"
    env_dir = tmp_path / "env"
    env_dir.mkdir()

    assert find_data_dir(required="PI1070.csv") == embedded_dir()
    assert find_data_dir() == embedded_dir()
    cache.mkdir(parents=True)
    assert find_data_dir() == cache
    assert find_data_dir(required="PI1070.csv") == embedded_dir()  # cache not populated
    (cache / "PI1070.csv").write_text("x\n")
    assert find_data_dir(required="PI1070.csv") == cache
    monkeypatch.setenv("E2T_DATA_DIR", str(env_dir))
    assert find_data_dir() == env_dir
    (env_dir / "PI1070.csv.xz").write_bytes(b"")
    assert find_data_dir(required="PI1070.csv") == env_dir  # compressed counts as present
    assert find_data_dir(tmp_path) == tmp_path


def test_find_data_dir_falls_back_to_cache_when_env_folder_lacks_the_file(
    tmp_path: Path, no_data_anywhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = no_data_anywhere / ".cache" / "e2t-discovery" / "data"
    cache.mkdir(parents=True)
    (cache / "PI1070.csv").write_text("x\n")
    monkeypatch.setenv("E2T_DATA_DIR", str(tmp_path))

    assert find_data_dir(required="PI1070.csv") == cache


def test_cache_folder_follows_platformdirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))

    assert default_cache_dir() == tmp_path / "xdg" / "e2t-discovery" / "data"


def test_explicit_folder_without_the_file_names_it_and_the_download(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="PI1070.csv not found in the given data folder") as info:
        load_pi1070(tmp_path / "nowhere")

    message = str(info.value)
    assert str(tmp_path / "nowhere") in message
    assert "download_pi1070" in message and files.PI1070_URL in message


def test_missing_everywhere_names_every_place_and_says_reinstall(
    tmp_path: Path, no_data_anywhere: Path, no_embedded_copy: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2T_DATA_DIR", str(tmp_path / "nowhere"))
    cache = no_data_anywhere / ".cache" / "e2t-discovery" / "data"

    with pytest.raises(DataError, match="PI1070.csv not found") as info:
        load_pi1070()

    message = str(info.value)
    assert f"E2T_DATA_DIR={tmp_path / 'nowhere'}" in message
    assert str(cache) in message and str(no_embedded_copy) in message
    assert message.endswith("reinstall e2t-discovery (its embedded copy is damaged)")


def test_missing_data_without_env_says_it_is_not_set(
        no_data_anywhere: Path, no_embedded_copy: Path) -> None:
    with pytest.raises(DataError, match=r"E2T_DATA_DIR \(not set\), the user cache .* and the "
                                        r"copy embedded in the package"):
        load_hoip()


# --- the embedded copy -------------------------------------------------------------------


def test_embedded_tables_load_without_env_and_match_their_checksums(
    no_data_anywhere: Path, data_dir: Path, pi1070: pd.DataFrame
) -> None:
    folder = embedded_dir()
    sums = _sums(folder / "SHA256SUMS")
    shared = _sums(data_dir / "SHA256SUMS")

    assert find_data_dir(required="PI1070.csv") == folder
    assert {k: sums[k] for k in shared} == shared  # the same pinned tables as shared/data
    assert sums["PI1070.csv"] == PI1070_SHA256 and sums["hoip/hoip.csv"] == HOIP_SHA256
    for name, digest in sums.items():
        if (folder / name).is_file():
            assert sha256_of(folder / name) == digest, name
        else:  # listed uncompressed, shipped as .xz
            data = lzma.decompress((folder / f"{name}.xz").read_bytes())
            assert hashlib.sha256(data).hexdigest() == digest, name
    assert set(sums) == {"PI1070.csv", "hoip/hoip.csv", "PI1070.csv.xz", "hoip/hoip.csv.xz",
                         HOIP_STRUCTURES_ARCHIVE}
    pd.testing.assert_frame_equal(load_pi1070(), pi1070)
    for licence in ("PI1070.LICENSE", "hoip/LICENSE", "README.md"):
        assert (folder / licence).is_file(), licence
    assert "CC BY 4.0" in (folder / "hoip" / "LICENSE").read_text()


def test_embedded_structures_unpack_once_into_the_cache(
    no_data_anywhere: Path, data_dir: Path, hoip: pd.DataFrame
) -> None:
    frame = load_hoip()

    unpacked = no_data_anywhere / ".cache" / "e2t-discovery" / "unpacked"
    (folder,) = unpacked.iterdir()  # one folder, no staging leftovers
    assert folder.name.startswith("hoip-structures-")
    pd.testing.assert_frame_equal(frame.drop(columns="cif_path"), hoip.drop(columns="cif_path"))
    for ours, theirs in zip(frame["cif_path"], hoip["cif_path"], strict=True):
        assert Path(ours).parent == folder
        assert Path(ours).read_bytes() == Path(theirs).read_bytes()
    assert len(list(folder.iterdir())) == 1345
    stamp = folder.stat().st_mtime_ns
    (folder / "hoip_0001.cif").write_text("kept: not unpacked again\n")
    load_hoip()
    assert folder.stat().st_mtime_ns == stamp
    assert (folder / "hoip_0001.cif").read_text() == "kept: not unpacked again\n"


def _archive_folder(tmp_path: Path, data_dir: Path, members: dict[str, bytes]) -> Path:
    """A data folder with the real hoip.csv.xz and an archive of ``members``, listed."""
    folder = tmp_path / "packed"
    (folder / "hoip").mkdir(parents=True)
    shutil.copy(embedded_dir() / "hoip" / "hoip.csv.xz", folder / "hoip" / "hoip.csv.xz")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (folder / HOIP_STRUCTURES_ARCHIVE).write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    (folder / "SHA256SUMS").write_text(f"{digest}  {HOIP_STRUCTURES_ARCHIVE}\n")
    return folder


def test_archive_with_a_path_outside_structures_is_refused(
    tmp_path: Path, data_dir: Path, no_data_anywhere: Path
) -> None:
    folder = _archive_folder(tmp_path, data_dir, {"structures/hoip_0001.cif": b"x",
                                                  "../evil.cif": b"y"})

    with pytest.raises(DataError, match=r"holds '\.\./evil\.cif', not a structures/<id>\.cif"):
        load_hoip(folder)

    unpacked = no_data_anywhere / ".cache" / "e2t-discovery" / "unpacked"
    assert list(unpacked.iterdir()) == []
    assert not (tmp_path / "evil.cif").exists()


def test_archive_must_match_its_listed_checksum(
    tmp_path: Path, data_dir: Path, no_data_anywhere: Path
) -> None:
    folder = _archive_folder(tmp_path, data_dir, {"structures/hoip_0001.cif": b"x"})
    (folder / "SHA256SUMS").write_text("")

    with pytest.raises(DataError, match=r"structures.tar.xz has SHA-256 [0-9a-f]{64} but .*"
                                        r"SHA256SUMS lists no checksum for it"):
        load_hoip(folder)


def test_partial_archive_reports_the_missing_structures(
    tmp_path: Path, data_dir: Path, no_data_anywhere: Path
) -> None:
    folder = _archive_folder(tmp_path, data_dir, {"structures/hoip_0001.cif": b"x"})

    with pytest.raises(DataError, match="1344 HOIP structure files are missing"):
        load_hoip(folder)


def test_corrupt_compressed_table_raises(tmp_path: Path) -> None:
    (tmp_path / "PI1070.csv.xz").write_bytes(lzma.compress(b"monomer_ID\n1\n"))
    with pytest.raises(DataError, match=r"PI1070.csv.xz has SHA-256 [0-9a-f]{64}, expected "
                                        f"{PI1070_SHA256}"):
        load_pi1070(tmp_path)

    (tmp_path / "PI1070.csv.xz").write_bytes(b"not xz at all")
    with pytest.raises(DataError, match="PI1070.csv.xz is not a valid xz file"):
        load_pi1070(tmp_path)


# --- PI1070 ------------------------------------------------------------------------------


def test_load_pi1070_adds_string_id(pi1070: pd.DataFrame) -> None:
    assert pi1070.shape == (1077, 158)
    assert pi1070.columns[0] == "id"
    assert pi1070["id"].tolist() == pi1070["monomer_ID"].astype(str).tolist()
    assert pi1070["id"].is_unique
    assert set(PI1070_BENCHMARK_PROPERTIES) <= set(pi1070.columns)
    assert set(datasets.PI1070_PROPERTIES) <= set(pi1070.columns)


def test_load_pi1070_reads_env_var(tmp_path: Path, data_dir: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _corrupt_copy(data_dir / "PI1070.csv", tmp_path)
    monkeypatch.setenv("E2T_DATA_DIR", str(tmp_path))

    with pytest.raises(DataError, match=f"{tmp_path / 'PI1070.csv'} has SHA-256"):
        load_pi1070()  # the env folder wins over the cache and the embedded copy
    monkeypatch.setenv("E2T_DATA_DIR", str(data_dir))
    assert len(load_pi1070()) == 1077


def test_checksum_mismatch_raises(tmp_path: Path, data_dir: Path) -> None:
    _corrupt_copy(data_dir / "PI1070.csv", tmp_path)

    with pytest.raises(DataError, match=f"has SHA-256 [0-9a-f]{{64}}, expected {PI1070_SHA256}"):
        load_pi1070(tmp_path)


def test_sha256sums_disagreeing_with_pinned_hash_raises(tmp_path: Path, data_dir: Path) -> None:
    shutil.copy(data_dir / "PI1070.csv", tmp_path / "PI1070.csv")
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  PI1070.csv\n")

    with pytest.raises(DataError, match="SHA256SUMS lists PI1070.csv as 0{64}"):
        load_pi1070(tmp_path)


def test_download_verifies_and_installs_the_file(
    tmp_path: Path, data_dir: Path, http_server: tuple[str, Path, list[str]]
) -> None:
    base, served, asked = http_server
    shutil.copy(data_dir / "PI1070.csv", served / "PI1070.csv")

    path = download_pi1070(tmp_path / "new", url=f"{base}/PI1070.csv")

    assert path == tmp_path / "new" / "PI1070.csv"
    assert sha256_of(path) == PI1070_SHA256
    assert len(load_pi1070(tmp_path / "new")) == 1077
    download_pi1070(tmp_path / "new", url=f"{base}/PI1070.csv")
    assert asked == ["/PI1070.csv"]  # present and valid: not downloaded again


def test_corrupt_download_leaves_nothing_behind(
    tmp_path: Path, data_dir: Path, http_server: tuple[str, Path, list[str]]
) -> None:
    base, served, _ = http_server
    _corrupt_copy(data_dir / "PI1070.csv", served)
    dest = tmp_path / "dest"

    with pytest.raises(DataError, match=f"download of {base}/PI1070.csv does not have the "
                                        f"pinned SHA-256 {PI1070_SHA256} \\(nothing was kept"):
        download_pi1070(dest, url=f"{base}/PI1070.csv")

    assert list(dest.iterdir()) == []


def test_failed_download_raises_data_error(
    tmp_path: Path, http_server: tuple[str, Path, list[str]]
) -> None:
    base, _, _ = http_server

    with pytest.raises(DataError, match=f"could not download {base}/absent.csv: 404"):
        download_pi1070(tmp_path / "dest", url=f"{base}/absent.csv")


def test_download_needs_an_http_url(tmp_path: Path, data_dir: Path) -> None:
    url = (data_dir / "PI1070.csv").resolve().as_uri()

    with pytest.raises(DataError, match=r"cannot download file://.*only http\(s\) URLs"):
        download_pi1070(tmp_path / "dest", url=url)


def test_load_pi1070_downloads_when_asked(
    tmp_path: Path, data_dir: Path, http_server: tuple[str, Path, list[str]],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served, asked = http_server
    shutil.copy(data_dir / "PI1070.csv", served / "PI1070.csv")
    real = datasets.download_pi1070
    monkeypatch.setattr(datasets, "download_pi1070",
                        lambda dest_dir: real(dest_dir, url=f"{base}/PI1070.csv"))

    frame = load_pi1070(tmp_path, download=True)

    assert asked == ["/PI1070.csv"] and len(frame) == 1077
    assert (tmp_path / "PI1070.csv").is_file()
    load_pi1070(tmp_path, download=True)
    assert len(asked) == 1  # present and valid: no second download


def test_class_splits_hold_out_the_large_classes(pi1070: pd.DataFrame) -> None:
    splits = pi1070_class_splits(pi1070)

    assert list(splits) == [13, 3, 2, 4, 1, 7, 9, 10, 15]
    assert [len(test) for _, test in splits.values()][:2] == [261, 162]
    assert list(pi1070_class_splits(pi1070, min_size=100)) == [13, 3, 2, 4]


def test_class_splits_never_leak_the_held_out_class(pi1070: pd.DataFrame) -> None:
    classes = pi1070["polymer_class"].to_numpy()

    for held_out, (train, test) in pi1070_class_splits(pi1070).items():
        assert set(classes[test]) == {held_out}
        assert held_out not in set(classes[train])
        assert len(train) + len(test) == len(pi1070)
        assert np.intersect1d(train, test).size == 0


def test_class_splits_need_the_class_column() -> None:
    with pytest.raises(DataError, match="needs a 'polymer_class' column"):
        pi1070_class_splits(pd.DataFrame({"x": [1, 2]}))


# --- HOIP --------------------------------------------------------------------------------


def test_load_hoip_adds_absolute_cif_paths(hoip: pd.DataFrame) -> None:
    assert len(hoip) == 1345
    first = Path(hoip["cif_path"].iloc[0])
    assert first.is_absolute() and first.name == "hoip_0001.cif" and first.is_file()


@pytest.mark.parametrize(("name", "n_test", "flag"), [("gef", 97, "gef_test"),
                                                      ("pbi", 117, "pbi_test")])
def test_hoip_split_sizes_and_flags(hoip: pd.DataFrame, name: str, n_test: int, flag: str) -> None:
    train, test = hoip_split(hoip, name)  # type: ignore[arg-type]

    assert len(test) == n_test and len(train) == len(hoip) - n_test
    np.testing.assert_array_equal(np.flatnonzero(hoip[flag].to_numpy()), test)


def test_hoip_split_must_agree_with_flag_column(hoip: pd.DataFrame) -> None:
    tampered = hoip.copy()
    tampered.loc[0, "gef_test"] = not bool(tampered.loc[0, "gef_test"])

    with pytest.raises(DataError, match="disagrees with column 'gef_test' on 1 rows"):
        hoip_split(tampered, "gef")


def test_unknown_hoip_split_lists_known(hoip: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="unknown HOIP split 'snbr'; known splits: gef, pbi"):
        hoip_split(hoip, "snbr")  # type: ignore[arg-type]


def test_hoip_domains_are_the_12_metal_halide_pairs(hoip: pd.DataFrame) -> None:
    domains = hoip_domains(hoip)

    expected = {f"{m}-{x}" for m in ("Ge", "Sn", "Pb") for x in ("F", "Cl", "Br", "I")}
    assert set(domains) == expected
    np.testing.assert_array_equal(np.flatnonzero(domains == "Pb-I"), hoip_split(hoip, "pbi")[1])
    np.testing.assert_array_equal(np.flatnonzero(domains == "Ge-F"), hoip_split(hoip, "gef")[1])


def test_hoip_domain_needs_one_metal_and_one_halide() -> None:
    frame = pd.DataFrame({"elements": ["C H I N Pb", "C H I N Pb Sn"]})

    with pytest.raises(DataError, match="row 1 has elements C H I N Pb Sn"):
        hoip_domains(frame)


def test_missing_structure_files_raise(tmp_path: Path, data_dir: Path) -> None:
    (tmp_path / "hoip").mkdir()
    shutil.copy(data_dir / "hoip" / "hoip.csv", tmp_path / "hoip" / "hoip.csv")

    with pytest.raises(DataError, match="1345 HOIP structure files are missing"):
        load_hoip(tmp_path)
