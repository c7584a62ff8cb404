"""Tests of the Library value object: units, columns, key, manifest, errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from rdkit import rdBase

from e2t_discovery.exceptions import ScreenError
from e2t_discovery.screen.library import MANIFEST, Library, library_shards


def test_library_units_of_single_files(candidates, tmp_path):
    pq_path = tmp_path / "lib.parquet"
    candidates.to_parquet(pq_path, index=False, row_group_size=100)
    units = Library.open(pq_path, needed=["id", "smiles"]).units
    assert [u.n_rows for u in units] == [100, 100, 30]
    assert [u.offset for u in units] == [0, 100, 200]  # rows numbered across row groups
    assert [u.name for u in units] == ["lib-rg00000", "lib-rg00001", "lib-rg00002"]
    csv_path = tmp_path / "lib.csv"
    candidates.to_csv(csv_path, index=False)
    units = Library.open(csv_path, needed=["id"], csv_chunk=100).units
    assert [(u.offset, u.n_rows) for u in units] == [(0, 100), (100, 100), (200, 30)]


def test_library_errors_name_the_problem(candidates, tmp_path):
    with pytest.raises(ScreenError, match="does not exist"):
        Library.open(tmp_path / "missing")
    candidates.to_parquet(tmp_path / "lib.parquet", index=False)
    with pytest.raises(ScreenError, match="lacks column"):
        Library.open(tmp_path / "lib.parquet", needed=["id", "formula"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScreenError, match="no .parquet shards"):
        Library.open(tmp_path / "empty")
    with pytest.raises(ScreenError, match="no .parquet shards"):
        library_shards(tmp_path / "empty")
    (tmp_path / "lib.txt").write_text("id\n1\n")
    with pytest.raises(ScreenError, match="neither a folder"):
        Library.open(tmp_path / "lib.txt")


def test_folder_library_units_batches_columns_and_key(candidates, tmp_path, write_shards):
    folder = write_shards(candidates, tmp_path / "lib", 100)
    lib = Library.open(folder)
    assert [u.name for u in lib.units] == ["part-000", "part-001", "part-002"]
    assert [u.path for u in lib.units] == library_shards(folder)  # one listing of the folder
    assert lib.columns == ("id", "smiles", "domain")
    assert lib.key == str(folder.resolve())
    batches = list(lib.units[2].batches(["id", "smiles"], 16))
    assert [len(b) for b in batches] == [16, 14]
    assert pd.concat(batches)["id"].tolist() == candidates["id"].iloc[200:].tolist()
    pd.testing.assert_frame_equal(lib.read(), candidates)
    lib.require(["id", "domain"])
    with pytest.raises(ScreenError, match=r"part-000.parquet lacks column\(s\) formula"):
        lib.require(["formula"])


def test_csv_unit_batches_keep_ids_as_text(tmp_path):
    path = tmp_path / "lib.csv"
    pd.DataFrame({"id": ["007", "010", "011"], "smiles": ["*C*", "*CC*", "*O*"]}).to_csv(
        path, index=False)
    lib = Library.open(path, csv_chunk=2)
    second = list(lib.units[1].batches(["id", "smiles"], 10))
    assert [b["id"].tolist() for b in second] == [["011"]]
    assert lib.columns == ("id", "smiles")


def test_canonical_only_with_a_manifest_of_this_rdkit(candidates, tmp_path, write_shards):
    folder = write_shards(candidates.head(20), tmp_path / "lib", 10)
    assert Library.open(folder).canonical is False
    (folder / MANIFEST).write_text("{not json")
    assert Library.open(folder).canonical is False
    (folder / MANIFEST).write_text(json.dumps({"params": {"rdkit": "1900.01.1"}}))
    assert Library.open(folder).canonical is False
    (folder / MANIFEST).write_text(json.dumps({"params": {"rdkit": rdBase.rdkitVersion}}))
    assert Library.open(folder).canonical is True
    # a single file next to the manifest shares it
    candidates.head(5).to_parquet(folder / "part-009.parquet", index=False)
    assert Library.open(folder / "part-009.parquet").canonical is True
