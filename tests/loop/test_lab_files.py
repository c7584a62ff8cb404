"""Reading a lab file: formats, separators, Excel, column options, missing-column messages."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from campaign_helpers import (
    PROPERTY,
    logical_content,
)
from ingest_helpers import lab, rejected, write

from e2t_discovery.exceptions import IngestError
from e2t_discovery.loop.campaign import Campaign


def test_parquet_file(campaign: Campaign, tmp_path: Path) -> None:
    frame = lab(["q1", "q2"], ["*CCN*", "*CCO*"], [0.3, 0.4])
    frame["polymer_class"] = [3, 4]  # integer domains become labels "3", "4"
    result = campaign.ingest(write(tmp_path / "new.parquet", frame))
    assert result.measurements == 2
    got = campaign.store.materials(["q1", "q2"])
    assert list(got["domain"]) == ["3", "4"]


def test_missing_column(campaign: Campaign, tmp_path: Path) -> None:
    frame = lab(["q1"], ["*CCN*"], [0.3]).drop(columns=["unit"])
    rejected(campaign, write(tmp_path / "f.csv", frame),
             r"f\.csv: column 'unit' is missing \(required: id, smiles, thermal_conductivity,"
             r" unit, polymer_class; found: id, smiles, thermal_conductivity, polymer_class\)")


def test_empty_file_and_header_only(campaign: Campaign, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    rejected(campaign, empty, "file is empty; expected a header row")
    header = tmp_path / "header.csv"
    header.write_text(f"id,smiles,{PROPERTY},unit,polymer_class\n")
    rejected(campaign, header, "file has a header but no data rows")


@pytest.mark.parametrize("content", [
    bytes(range(256)) * 50,                             # binary noise
    b"\x89PNG\r\n\x1a\n" + os.urandom(2000),            # an image
    b'{"id": "q1", "smiles": "*CC*"}\n',                # JSON
    b"id,smiles\nq1,*CC*,0.1,W/m/K,7,extra\n",          # ragged CSV
])
def test_file_that_is_not_csv(campaign: Campaign, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "results.csv"
    path.write_bytes(content)
    rejected(campaign, path, r"results\.csv: (not a (readable|well-formed) CSV file|column "
                             r"'id' is missing)")


def test_parquet_suffix_but_not_parquet(campaign: Campaign, tmp_path: Path) -> None:
    path = tmp_path / "results.parquet"
    path.write_text("id,smiles\n")
    rejected(campaign, path, r"not a readable Parquet file")


def test_missing_file(campaign: Campaign, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        campaign.ingest(tmp_path / "nope.csv")


def _raw_pi1070(data_dir: Path, tmp_path: Path, n: int = 20) -> Path:
    """The first ``n`` measured rows of the raw PI1070 table (157 columns), as given."""
    raw = pd.read_csv(data_dir / "PI1070.csv")
    raw = raw[raw[PROPERTY].notna()].head(n)
    assert raw.shape[1] == 157
    path = tmp_path / "PI1070_raw.csv"
    raw.to_csv(path, index=False)
    return path


def test_missing_column_of_a_wide_raw_table_shows_a_few_and_the_closest(
        campaign: Campaign, tmp_path: Path, data_dir: Path) -> None:
    path = _raw_pi1070(data_dir, tmp_path)
    message = rejected(campaign, path, (
        r"PI1070_raw\.csv: column 'id' is missing \(required: id, smiles, "
        r"thermal_conductivity, unit, polymer_class; found: 157 columns: monomer_ID, smiles, "
        r"mol_weight_monomer, atomic_weight_mean, vdw_volume_monomer and 152 more; closest: "
        r"'monomer_ID'\); rename 'monomer_ID' to 'id' or pass --id-column 'monomer_ID' "
        r"\(and 1 more problem"))
    assert len(message) - len(str(path)) < 400  # five of the 157 names (all: ~3,500 chars)
    assert "thermal_diffusivity" not in message
    report = tmp_path / "report.txt"
    rejected(campaign, path, "column 'id' is missing", report_path=report)
    assert report.read_text().splitlines()[1].endswith(
        "add a 'unit' column, or pass --unit W/m/K (one unit for every row)")
    # the fix the message names works on the same raw file
    result = campaign.ingest(path, id_column="monomer_ID", unit="W/m/K")
    assert (result.n_rows, result.measurements) == (20, 20)
    stored = campaign.store.measurements(PROPERTY).set_index("material_id")
    raw = pd.read_csv(path)
    assert stored.loc[raw["monomer_ID"], "value"].tolist() == pytest.approx(
        raw[PROPERTY].tolist())
    assert set(stored.loc[raw["monomer_ID"], "raw_unit"]) == {"W/m/K"}


def test_closest_column_by_spelling(campaign: Campaign, tmp_path: Path) -> None:
    frame = lab(["q1"], ["*CCN*"], [0.3]).rename(
        columns={PROPERTY: "Thermal Conductivity", "polymer_class": "class"})
    rejected(campaign, write(tmp_path / "f.csv", frame),
             r"column 'thermal_conductivity' is missing \(required: .*; found: id, smiles, "
             r"Thermal Conductivity, unit, class; closest: 'Thermal Conductivity'\); rename "
             r"'Thermal Conductivity' to 'thermal_conductivity' or pass --value-column "
             r"'Thermal Conductivity' \(and 1 more")


@pytest.mark.parametrize(("sep", "suffix"), [(";", ".csv"), ("\t", ".tsv"), ("\t", ".csv")])
def test_semicolon_and_tab_separated_files(campaign: Campaign, tmp_path: Path, sep: str,
                                           suffix: str) -> None:
    frame = lab(["q1", "q2"], ["*CCN*", "*CC(*)CC"], [0.31, 0.42])
    path = tmp_path / f"f{suffix}"
    frame.to_csv(path, sep=sep, index=False)
    assert campaign.ingest(path).measurements == 2
    got = campaign.store.measurements(PROPERTY).set_index("material_id")
    assert got.loc[["q1", "q2"], "value"].tolist() == [0.31, 0.42]
    bad = tmp_path / f"bad{suffix}"
    lab(["q3", "q4"], ["*CCO*", "*CCS*"], [0.3, "0,4"]).to_csv(bad, sep=sep, index=False)
    rejected(campaign, bad, r"row 2, column 'thermal_conductivity': value '0,4' is not a "
                            r"number \(decimal comma\? write 0\.4\)$")


def test_excel_workbook(campaign: Campaign, tmp_path: Path) -> None:
    frame = lab(["q1", "q2", "q3"], ["*CCN*", "*CCO*", "*CCS*"], [0.3, 250, 0.5],
                unit="W/m/K")
    frame.loc[1, "unit"] = "mW/m/K"
    frame["id"] = [1001, 1002, 1003]  # numeric ids in Excel cells stay '1001'
    frame["measured_at"] = pd.to_datetime(["2026-01-05", "2026-01-06", "2026-01-07"])
    path = tmp_path / "results.xlsx"
    frame.to_excel(path, index=False, sheet_name="results")
    result = campaign.ingest(path)
    assert (result.n_rows, result.measurements) == (3, 3)
    got = campaign.store.measurements(PROPERTY).set_index("material_id")
    assert got.loc[["1001", "1002", "1003"], "value"].tolist() == pytest.approx([0.3, 0.25,
                                                                                 0.5])
    assert str(got.loc["1002", "measured_at"])[:10] == "2026-01-06"
    # a bad cell is named by its data row (Excel row 3 = data row 2)
    bad = frame.assign(id=["x1", "x2", "x3"]).astype({PROPERTY: object})
    bad.loc[1, PROPERTY] = "high"
    bad.to_excel(tmp_path / "bad.xlsx", index=False)
    rejected(campaign, tmp_path / "bad.xlsx",
             r"bad\.xlsx: row 2, column 'thermal_conductivity': value 'high' is not a number$")
    # a workbook saved under a .csv name is read as the workbook it is
    renamed = tmp_path / "renamed.csv"
    renamed.write_bytes((tmp_path / "bad.xlsx").read_bytes())
    rejected(campaign, renamed, r"renamed\.csv: row 2, column 'thermal_conductivity'")


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500),
     r"is an Excel 97-2003 workbook \(\.xls\), which cannot be read; save it from Excel as "
     r"\.xlsx or as CSV$"),
    ("broken.xlsx", b"PK\x03\x04 not really a zip",
     r"not a readable Excel workbook \(.*\); save it again as \.xlsx or as CSV$"),
    ("sheet.ods", b"PK\x03\x04" + bytes(100), r"is an OpenDocument spreadsheet"),
])
def test_spreadsheets_that_cannot_be_read_are_named(campaign: Campaign, tmp_path: Path,
                                                    name: str, content: bytes,
                                                    reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    rejected(campaign, path, rf"{name}: {reason}")


def test_folder_given_as_the_file(campaign: Campaign, tmp_path: Path) -> None:
    folder = tmp_path / "plate-7"
    folder.mkdir()
    for i in range(4):
        write(folder / f"well-{i}.csv", lab([f"w{i}"], ["*CCN*"], [0.3]))
    rejected(campaign, folder, r"plate-7: is a folder, not a file; it holds 4 result-like "
                               r"file\(s\): well-0\.csv, well-1\.csv, well-2\.csv \.\.\.; "
                               r"ingest one CSV, Excel \(\.xlsx\) or Parquet file at a time$")
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    rejected(campaign, empty, r"empty-folder: is a folder, not a file; ingest one CSV")


def test_column_options_map_the_file_onto_the_campaign(campaign: Campaign,
                                                       tmp_path: Path) -> None:
    frame = pd.DataFrame({"sample": ["s1", "s2"], "SMILES": ["*CCN*", "*CCO*"],
                          "k [mW/m/K]": [310.0, 420.0], "Class": ["4", "5"],
                          "id": ["lab-1", "lab-2"]})  # an 'id' the lab uses otherwise
    path = write(tmp_path / "f.csv", frame)
    result = campaign.ingest(path, id_column="sample", value_column="k [mW/m/K]",
                             unit="mW/m/K",
                             column_map={"SMILES": "smiles", "Class": "polymer_class"})
    assert result.measurements == 2
    got = campaign.store.measurements(PROPERTY).set_index("material_id")
    assert got.loc[["s1", "s2"], "value"].tolist() == pytest.approx([0.31, 0.42])
    assert got.loc[["s1", "s2"], "raw_unit"].tolist() == ["mW/m/K", "mW/m/K"]
    assert got.loc[["s1", "s2"], "domain"].tolist() == ["4", "5"]
    assert "lab-1" not in set(got.index)  # the named id column wins over 'id'


@pytest.mark.parametrize(("kw", "match"), [
    ({"value_column": "kk"}, r"f\.csv: --value-column kk: the file has no column 'kk' "
                             r"\(found: id, smiles, k, polymer_class; closest: 'k'\); give "
                             r"one of the file's column names$"),
    ({"column_map": {"Smiles": "smiles"}}, r"--map Smiles=smiles: the file has no column "
                                           r"'Smiles' .*closest: 'smiles'"),
    ({"unit": "K"}, r"^--unit 'K' is not a unit of thermal_conductivity; accepted: W/m/K, "
                    r"mW/m/K \(add its factor to \[target.conversions\]"),
    ({"value_column": "k", "column_map": {"k": "other"}},
     r"^--map k=other and --value-column k give the file column 'k' two names; keep one$"),
    ({"value_column": "k", "column_map": {"id": PROPERTY}},
     r"^--map id=thermal_conductivity and --value-column k both name a column "
     r"'thermal_conductivity'; keep one$"),
])
def test_bad_column_options(campaign: Campaign, tmp_path: Path, kw: dict[str, object],
                            match: str) -> None:
    frame = lab(["q1"], ["*CCN*"], [0.3]).drop(columns=["unit"]).rename(
        columns={PROPERTY: "k"})
    path = write(tmp_path / "f.csv", frame)
    before = logical_content(campaign.store)
    with pytest.raises(IngestError, match=match) as info:
        campaign.ingest(path, **kw)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    assert logical_content(campaign.store) == before


def test_unit_option_with_a_unit_column(campaign: Campaign, tmp_path: Path) -> None:
    path = write(tmp_path / "f.csv", lab(["q1"], ["*CCN*"], [0.3]))
    rejected(campaign, path, r"f\.csv: --unit W/m/K was given but the file has a unit "
                             r"column 'unit'; drop --unit or the column$", unit="W/m/K")
