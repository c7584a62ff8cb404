"""Tests of the data-set loaders and split helpers on the real benchmark data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2t_discovery import datasets
from e2t_discovery.datasets import (
    PI1070_BENCHMARK_PROPERTIES,
    PI1070_SHA256,
    download_pi1070,
    find_data_dir,
    hoip_domains,
    hoip_split,
    load_hoip,
    load_pi1070,
    pi1070_class_splits,
    sha256_of,
)
from e2t_discovery.exceptions import DataError


@pytest.fixture()
def no_data_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME at an empty folder and unset E2T_DATA_DIR; return the fake home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("E2T_DATA_DIR", raising=False)
    return home


@pytest.fixture(scope="module")
def pi1070(data_dir: Path) -> pd.DataFrame:
    return load_pi1070(data_dir)


@pytest.fixture(scope="module")
def hoip(data_dir: Path) -> pd.DataFrame:
    return load_hoip(data_dir)


def _corrupt_copy(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = bytearray(source.read_bytes())
    data[-3] = ord("9") if data[-3] != ord("9") else ord("8")
    target = folder / source.name
    target.write_bytes(bytes(data))
    return target


# --- finding the data folder -------------------------------------------------------------


def test_find_data_dir_prefers_explicit_then_env_then_cache(
    tmp_path: Path, no_data_anywhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = no_data_anywhere / ".cache" / "e2t-discovery" / "data"
    cache.mkdir(parents=True)
    env_dir = tmp_path / "env"
    env_dir.mkdir()

    assert find_data_dir() == cache
    monkeypatch.setenv("E2T_DATA_DIR", str(env_dir))
    assert find_data_dir() == env_dir
    assert find_data_dir(tmp_path) == tmp_path


def test_find_data_dir_falls_back_to_cache_when_env_folder_lacks_the_file(
    tmp_path: Path, no_data_anywhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = no_data_anywhere / ".cache" / "e2t-discovery" / "data"
    cache.mkdir(parents=True)
    (cache / "PI1070.csv").write_text("x\n")
    monkeypatch.setenv("E2T_DATA_DIR", str(tmp_path))

    assert find_data_dir(required="PI1070.csv") == cache


def test_missing_data_names_both_places_and_the_download(
    tmp_path: Path, no_data_anywhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2T_DATA_DIR", str(tmp_path / "nowhere"))
    cache = no_data_anywhere / ".cache" / "e2t-discovery" / "data"

    with pytest.raises(DataError, match="PI1070.csv not found") as info:
        load_pi1070()

    message = str(info.value)
    assert f"E2T_DATA_DIR={tmp_path / 'nowhere'}" in message
    assert str(cache) in message
    assert "download_pi1070" in message and datasets.PI1070_URL in message


def test_missing_data_without_env_says_it_is_not_set(no_data_anywhere: Path) -> None:
    with pytest.raises(DataError, match=r"E2T_DATA_DIR \(not set\) and the user cache"):
        load_hoip()


# --- PI1070 ------------------------------------------------------------------------------


def test_load_pi1070_adds_string_id(pi1070: pd.DataFrame) -> None:
    assert pi1070.shape == (1077, 158)
    assert pi1070.columns[0] == "id"
    assert pi1070["id"].tolist() == pi1070["monomer_ID"].astype(str).tolist()
    assert pi1070["id"].is_unique
    assert set(PI1070_BENCHMARK_PROPERTIES) <= set(pi1070.columns)
    assert set(datasets.PI1070_PROPERTIES) <= set(pi1070.columns)


def test_load_pi1070_reads_env_var(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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


def test_download_verifies_and_installs_the_file(tmp_path: Path, data_dir: Path) -> None:
    url = (data_dir / "PI1070.csv").resolve().as_uri()

    path = download_pi1070(tmp_path / "new", url=url)

    assert path == tmp_path / "new" / "PI1070.csv"
    assert sha256_of(path) == PI1070_SHA256
    assert len(load_pi1070(tmp_path / "new")) == 1077


def test_corrupt_download_leaves_nothing_behind(tmp_path: Path, data_dir: Path) -> None:
    bad = _corrupt_copy(data_dir / "PI1070.csv", tmp_path / "mirror")
    dest = tmp_path / "dest"

    with pytest.raises(DataError, match="download of .* has SHA-256 .* expected"):
        download_pi1070(dest, url=bad.as_uri())

    assert list(dest.iterdir()) == []


def test_failed_download_raises_data_error(tmp_path: Path) -> None:
    missing = (tmp_path / "absent.csv").as_uri()

    with pytest.raises(DataError, match="could not download .*absent.csv"):
        download_pi1070(tmp_path / "dest", url=missing)


def test_load_pi1070_downloads_when_asked(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = (data_dir / "PI1070.csv").resolve().as_uri()
    calls: list[Path] = []

    def fetch(dest_dir: str | Path) -> Path:
        calls.append(Path(dest_dir))
        return download_pi1070(dest_dir, url=url)

    monkeypatch.setattr(datasets, "download_pi1070", fetch)

    frame = load_pi1070(tmp_path, download=True)

    assert calls == [tmp_path] and len(frame) == 1077
    load_pi1070(tmp_path, download=True)
    assert len(calls) == 1  # present and valid: no second download


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
