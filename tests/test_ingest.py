"""Ingest: every bad input is one clear line and leaves the store's content unchanged."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from campaign_helpers import (
    PROPERTY,
    logical_content,
    write_composition_config,
    write_polymer_config,
)

from e2t_discovery.config.templates import template_path
from e2t_discovery.exceptions import IngestError
from e2t_discovery.loop.campaign import DB_NAME, Campaign
from e2t_discovery.loop.ingest import domain_from_elements

SMILES = ["*CC*", "*CC(*)C", "*CC(*)c1ccccc1", "*OCC*", "*CC(*)Cl"]


@pytest.fixture
def campaign(tmp_path: Path) -> Iterator[Campaign]:
    """A polymer campaign that already holds 5 measurements (so 'unchanged' means something)."""
    config = write_polymer_config(tmp_path)
    with Campaign.create("lab", config, root=tmp_path / "campaigns") as c:
        base = _lab(["p0", "p1", "p2", "p3", "p4"], SMILES, [0.1, 0.2, 0.3, 0.4, 0.5])
        c.ingest(_write(tmp_path / "base.csv", base))
        yield c


def _lab(ids: list[str], smiles: list[str], values: list[object],
         unit: str = "W/m/K") -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "smiles": smiles, PROPERTY: values, "unit": unit,
                         "polymer_class": "1"})


def _write(path: Path, frame: pd.DataFrame) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _rejected(campaign: Campaign, path: Path, match: str, **kw: object) -> str:
    """Ingest ``path``, expect a one-line error matching ``match`` and no change."""
    before = logical_content(campaign.store)
    with pytest.raises(IngestError, match=match) as info:
        campaign.ingest(path, **kw)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert logical_content(campaign.store) == before
    return message


def test_good_file_loads_with_canonical_forms_and_units(campaign: Campaign,
                                                        tmp_path: Path) -> None:
    frame = _lab(["q1", "q2"], ["C(*)C*", "*CC(*)CC"], [250.0, 0.7], unit="mW/m/K")
    frame.loc[1, "unit"] = "W/m/K"
    result = campaign.ingest(_write(tmp_path / "new.csv", frame), round=2)
    assert (result.n_rows, result.new_materials, result.measurements, result.round) == \
        (2, 2, 2, 2)
    data = campaign.store.measurements(PROPERTY).set_index("material_id")
    assert data.loc["q1", "canonical"] == "*CC*"  # canonical p-SMILES
    assert data.loc["q1", "value"] == pytest.approx(0.25)  # mW/m/K converted by 0.001
    assert (data.loc["q1", "raw_value"], data.loc["q1", "raw_unit"]) == (250.0, "mW/m/K")
    assert data.loc["q2", "source_row"] == 2
    assert data.loc["q2", "domain"] == "1"


def test_same_file_again_is_a_no_op(campaign: Campaign, tmp_path: Path) -> None:
    path = _write(tmp_path / "new.csv", _lab(["q1"], ["*CCN*"], [0.3]))
    assert campaign.ingest(path).measurements == 1
    before = campaign.store.measurement_counts()
    again = campaign.ingest(path)
    assert again.already_ingested and again.measurements == 0
    assert campaign.store.measurement_counts() == before


def test_parquet_file(campaign: Campaign, tmp_path: Path) -> None:
    frame = _lab(["q1", "q2"], ["*CCN*", "*CCO*"], [0.3, 0.4])
    frame["polymer_class"] = [3, 4]  # integer domains become labels "3", "4"
    result = campaign.ingest(_write(tmp_path / "new.parquet", frame))
    assert result.measurements == 2
    got = campaign.store.materials(["q1", "q2"])
    assert list(got["domain"]) == ["3", "4"]


def test_missing_column(campaign: Campaign, tmp_path: Path) -> None:
    frame = _lab(["q1"], ["*CCN*"], [0.3]).drop(columns=["unit"])
    _rejected(campaign, _write(tmp_path / "f.csv", frame),
              r"f\.csv: column 'unit' is missing \(required: id, smiles, thermal_conductivity,"
              r" unit, polymer_class; found: id, smiles, thermal_conductivity, polymer_class\)")


def test_non_numeric_value(campaign: Campaign, tmp_path: Path) -> None:
    frame = _lab(["q1", "q2"], ["*CCN*", "*CCO*"], [0.3, "high"])
    _rejected(campaign, _write(tmp_path / "f.csv", frame),
              r"row 2, column 'thermal_conductivity': value 'high' is not a number$")


@pytest.mark.parametrize(("value", "reason"), [
    ("nan", "value is NaN; give a finite number"),
    ("inf", "value 'inf' is not finite"),
    ("-Infinity", "value '-Infinity' is not finite"),
    ("", "value is missing"),
])
def test_nan_inf_and_missing_values(campaign: Campaign, tmp_path: Path, value: str,
                                    reason: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text(f"id,smiles,{PROPERTY},unit,polymer_class\nq1,*CCN*,{value},W/m/K,1\n")
    _rejected(campaign, path, f"row 1, column '{PROPERTY}': {reason}")


def test_non_finite_parquet_value(campaign: Campaign, tmp_path: Path) -> None:
    frame = _lab(["q1", "q2"], ["*CCN*", "*CCO*"], [0.3, float("inf")])
    _rejected(campaign, _write(tmp_path / "f.parquet", frame),
              "row 2, column 'thermal_conductivity': value inf is not finite")


def test_unknown_unit(campaign: Campaign, tmp_path: Path) -> None:
    frame = _lab(["q1"], ["*CCN*"], [0.3], unit="BTU/h/ft/F")
    _rejected(campaign, _write(tmp_path / "f.csv", frame),
              r"row 1, column 'unit': unknown unit 'BTU/h/ft/F'; accepted: W/m/K, mW/m/K "
              r"\(add its factor to \[target.conversions\]")


@pytest.mark.parametrize(("smiles", "reason"), [
    ("C1CC", "invalid p-SMILES 'C1CC'"),
    ("CCO", "invalid p-SMILES 'CCO'"),  # parses, but has no attachment points
    ("*C(*)(*)C", "invalid p-SMILES"),
])
def test_invalid_smiles(campaign: Campaign, tmp_path: Path, smiles: str, reason: str) -> None:
    frame = _lab(["q1", "q2"], ["*CCN*", smiles], [0.3, 0.4])
    _rejected(campaign, _write(tmp_path / "f.csv", frame),
              rf"row 2, column 'smiles': {reason}")


def test_invalid_formula(tmp_path: Path) -> None:
    with Campaign.create("comp", write_composition_config(tmp_path),
                         root=tmp_path / "c") as campaign:
        good = tmp_path / "good.csv"
        good.write_text("id,formula,band_gap,unit\nh1,CH3NH3PbI3,1.6,eV\nh2,CsSnBr3,1800,meV\n")
        result = campaign.ingest(good)
        assert result.measurements == 2
        got = campaign.store.measurements("band_gap").set_index("material_id")
        assert got.loc["h1", "domain"] == "Pb-I"  # element-pair domain from the formula
        assert got.loc["h2", "domain"] == "Sn-Br"
        assert got.loc["h2", "value"] == pytest.approx(1.8)
        bad = tmp_path / "bad.csv"
        bad.write_text("id,formula,band_gap,unit\nh3,CsPbI3,1.7,eV\nh4,Xy2Q,1.0,eV\n")
        _rejected(campaign, bad, r"row 2, column 'formula': invalid formula 'Xy2Q'")


def test_empty_file_and_header_only(campaign: Campaign, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    _rejected(campaign, empty, "file is empty; expected a header row")
    header = tmp_path / "header.csv"
    header.write_text(f"id,smiles,{PROPERTY},unit,polymer_class\n")
    _rejected(campaign, header, "file has a header but no data rows")


def test_duplicate_ids_in_one_file(campaign: Campaign, tmp_path: Path) -> None:
    frame = _lab(["q1", "q2", "q1"], ["*CCN*", "*CCO*", "*CCS*"], [0.3, 0.4, 0.5])
    _rejected(campaign, _write(tmp_path / "f.csv", frame),
              r"row 3, column 'id': duplicate id 'q1' \(first at row 1\)")


def test_conflicting_remeasurement_and_replicates(campaign: Campaign, tmp_path: Path) -> None:
    conflict = _write(tmp_path / "f.csv", _lab(["p1"], [SMILES[1]], [0.9]))
    _rejected(campaign, conflict, r"row 1, column 'thermal_conductivity': material 'p1' is "
                                  r"already measured at 0.2 W/m/K, this file gives 0.9; pass "
                                  r"--replicate")
    result = campaign.ingest(conflict, replicate=True)
    assert (result.measurements, result.replicates) == (1, 1)
    values = campaign.store.measurements(PROPERTY).query("material_id == 'p1'")["value"]
    assert sorted(values) == [0.2, 0.9]
    assert campaign.training_data().frame.set_index("material_id").loc["p1", "value"] == \
        pytest.approx(0.55)


def test_identical_remeasurement_in_a_new_file_is_skipped(campaign: Campaign,
                                                          tmp_path: Path) -> None:
    frame = _lab(["p1", "q9"], [SMILES[1], "*CCN*"], [0.2, 0.6])
    result = campaign.ingest(_write(tmp_path / "f.csv", frame))
    assert (result.measurements, result.skipped_identical) == (1, 1)
    assert campaign.store.measurement_counts()["measurements"] == 6


def test_same_id_different_material(campaign: Campaign, tmp_path: Path) -> None:
    frame = _lab(["p1"], ["*CCCCCCN*"], [0.2])
    _rejected(campaign, _write(tmp_path / "f.csv", frame),
              r"row 1, column 'smiles': id 'p1' is stored as '\*CC\(\*\)C' but this file gives")


@pytest.mark.parametrize("content", [
    bytes(range(256)) * 50,                             # binary noise
    b"\x89PNG\r\n\x1a\n" + os.urandom(2000),            # an image
    b'{"id": "q1", "smiles": "*CC*"}\n',                # JSON
    b"id,smiles\nq1,*CC*,0.1,W/m/K,7,extra\n",          # ragged CSV
])
def test_file_that_is_not_csv(campaign: Campaign, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "results.csv"
    path.write_bytes(content)
    _rejected(campaign, path, r"results\.csv: (not a (readable|well-formed) CSV file|column "
                              r"'id' is missing)")


def test_parquet_suffix_but_not_parquet(campaign: Campaign, tmp_path: Path) -> None:
    path = tmp_path / "results.parquet"
    path.write_text("id,smiles\n")
    _rejected(campaign, path, r"not a readable Parquet file")


def test_report_lists_every_problem(campaign: Campaign, tmp_path: Path) -> None:
    frame = _lab(["q1", "q2", "q3", "q3"], ["*CCN*", "C1CC", "*CCO*", "*CCS*"],
                 [0.3, 0.4, "x", 0.5], unit="K")
    report = tmp_path / "out" / "report.txt"
    message = _rejected(campaign, _write(tmp_path / "f.csv", frame), "and 6 more problem",
                        report_path=report)
    assert str(report) in message
    lines = report.read_text().splitlines()
    assert len(lines) == 7  # 4 units, 1 SMILES, 1 number, 1 duplicate
    assert sum("unknown unit 'K'" in line for line in lines) == 4
    assert any("row 2, column 'smiles'" in line for line in lines)
    assert any("row 3, column 'thermal_conductivity'" in line for line in lines)
    assert any("duplicate id 'q3'" in line for line in lines)
    assert all(line.startswith(str(tmp_path / "f.csv")) for line in lines)


def test_measurements_answer_open_proposals(campaign: Campaign, tmp_path: Path) -> None:
    campaign.store.add_materials(pd.DataFrame({"id": ["c1"], "kind": "polymer",
                                               "canonical": ["*CCN*"], "domain": ["9"]}),
                                 origin="library")
    campaign.store.add_proposals(pd.DataFrame({"material_id": ["c1"]}), round=1,
                                 strategy="ucb")
    result = campaign.ingest(_write(tmp_path / "f.csv", _lab(["c1"], ["*NCC*"], [0.3])))
    assert result.proposals_measured == 1
    assert result.round == 1  # the current round
    assert list(campaign.store.proposals()["status"]) == ["measured"]


def test_missing_file(campaign: Campaign, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        campaign.ingest(tmp_path / "nope.csv")


def test_structures_from_cif_paths(tmp_path: Path, data_dir: Path) -> None:
    config = template_path("hoip-bandgap")
    hoip = pd.read_csv(data_dir / "hoip" / "hoip.csv")
    rows = hoip.iloc[:3]
    lab = pd.DataFrame({"id": rows["id"],
                        "cif_path": [str(data_dir / "hoip" / "structures" / f"{i}.cif")
                                     for i in rows["id"]],
                        "band_gap_gga": rows["band_gap_gga"], "unit": "eV"})
    with Campaign.create("hoip", config, root=tmp_path / "c") as campaign:
        campaign.ingest(_write(tmp_path / "lab.csv", lab))
        got = campaign.store.measurements("band_gap_gga").set_index("material_id")
        for rec in rows.itertuples():
            elements = set(rec.elements.split())
            metal = next(m for m in ("Ge", "Sn", "Pb") if m in elements)
            halide = next(h for h in ("F", "Cl", "Br", "I") if h in elements)
            assert got.loc[rec.id, "domain"] == f"{metal}-{halide}"
            assert got.loc[rec.id, "canonical"].startswith("# generated using pymatgen")
        lab.loc[1, "cif_path"] = "missing.cif"
        bad = _write(tmp_path / "bad.csv", lab.assign(id=["x1", "x2", "x3"]))
        with pytest.raises(IngestError, match=r"row 2, column 'cif_path': invalid structure "
                                              r"'missing\.cif'"):
            campaign.ingest(bad)


def test_domain_from_elements() -> None:
    groups = [["Ge", "Sn", "Pb"], ["F", "Cl", "Br", "I"]]
    assert domain_from_elements("CH3NH3PbI3", groups) == "Pb-I"
    assert domain_from_elements("CsPbBrI2", groups) == "Pb-Br+I"
    assert domain_from_elements("NaCl", groups) == "none-Cl"


def _big_csv(path: Path, n: int, bad_row: int | None = None, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    smiles = np.array(["*CC*", "*CC(*)C", "*CC(*)c1ccccc1", "*OCC*", "*CC(*)Cl", "*CC(*)CC",
                       "*Oc1ccc(*)cc1", "*CC(*)(C)C(=O)OC"], dtype=object)
    values = rng.random(n).round(6).astype(str).astype(object)
    if bad_row is not None:
        values[bad_row - 1] = "n/a"
    pd.DataFrame({"id": np.char.add(f"s{seed}-", np.arange(n).astype(str)),
                  "smiles": smiles[rng.integers(0, len(smiles), n)], PROPERTY: values,
                  "unit": "W/m/K", "polymer_class": rng.integers(1, 21, n)}).to_csv(
        path, index=False)
    return path


_INGEST = textwrap.dedent("""
    import resource, sys
    from e2t_discovery.loop.campaign import Campaign
    from e2t_discovery.exceptions import E2TError
    with Campaign.open(sys.argv[1], root=sys.argv[2], timeout_s=float(sys.argv[4])) as c:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("ready", base, flush=True)
        try:
            r = c.ingest(sys.argv[3])
        except E2TError as exc:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print("peak", peak - base, flush=True)
            print("error:", exc, flush=True)
            sys.exit(1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("done", r.measurements, peak - base, flush=True)
""")


def _ingest_proc(campaign: Campaign, path: Path, timeout_s: float = 60.0,
                 **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _INGEST, campaign.name, str(campaign.dir.parent), str(path),
         str(timeout_s)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_million_row_file_is_streamed_and_rejected_cleanly(campaign: Campaign,
                                                           tmp_path: Path) -> None:
    n = 1_000_000
    path = _big_csv(tmp_path / "big.csv", n, bad_row=n - 1)
    before_path = campaign.dir / DB_NAME
    campaign.close()
    before = logical_content(before_path)
    proc = _ingest_proc(campaign, path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    lines = out.splitlines()
    assert lines[-1] == (f"error: {path}: row {n - 1}, column '{PROPERTY}': value 'n/a' is "
                         f"not a number")
    assert logical_content(before_path) == before
    # Streaming keeps the growth of peak RSS well below the size of the whole table as
    # Python objects (> 1 GB for 1M rows x 5 columns); measured ~200 MB.
    assert lines[-2].startswith("peak ")
    assert int(lines[-2].split()[1]) < 700_000  # kB


@pytest.mark.slow
def test_million_row_file_loads_with_bounded_memory(campaign: Campaign,
                                                    tmp_path: Path) -> None:
    n = 1_000_000
    path = _big_csv(tmp_path / "big.csv", n)
    campaign.close()
    proc = _ingest_proc(campaign, path)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    done = out.splitlines()[-1].split()
    assert done[:2] == ["done", str(n)]
    assert int(done[2]) < 1_200_000  # growth of peak RSS while ingesting, in kB


def test_crash_at_a_random_moment_is_all_or_nothing(campaign: Campaign,
                                                    tmp_path: Path) -> None:
    n = 200_000
    path = _big_csv(tmp_path / "crash.csv", n, seed=1)
    db = campaign.dir / DB_NAME
    campaign.close()
    base = logical_content(db)
    proc = _ingest_proc(campaign, path)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("ready")
    time.sleep(random.uniform(0.0, 6.0))  # validation + load take several seconds
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = logical_content(db)
    n_before = len(base["measurement"])
    assert len(after["measurement"]) in (n_before, n_before + n)
    assert len(after["ingest_file"]) == len(base["ingest_file"]) + \
        (len(after["measurement"]) - n_before) // n
    if len(after["measurement"]) == n_before:
        assert after == base  # nothing of the killed ingest is visible
    with Campaign.open(campaign.name, root=campaign.dir.parent) as again:
        again.ingest(path)
        assert again.store.measurement_counts()["measurements"] == n_before + n


def test_two_processes_ingest_different_files(campaign: Campaign, tmp_path: Path) -> None:
    files = [_big_csv(tmp_path / f"c{i}.csv", 20_000, seed=10 + i) for i in range(2)]
    campaign.close()
    procs = [_ingest_proc(campaign, f, timeout_s=120) for f in files]
    results = [p.communicate(timeout=300) for p in procs]
    landed = 0
    for proc, (out, err) in zip(procs, results, strict=True):
        if proc.returncode == 0:
            assert out.splitlines()[-1].startswith("done 20000")
            landed += 1
        else:
            assert proc.returncode == 1, err
            assert "is busy" in (out + err), out + err
    assert landed >= 1
    with Campaign.open(campaign.name, root=campaign.dir.parent, read_only=True) as c:
        data = c.store.measurements(PROPERTY)
    assert len(data) == 5 + 20_000 * landed
    assert not data["material_id"].duplicated().any()


def test_two_processes_with_a_tiny_timeout_fail_cleanly(campaign: Campaign,
                                                        tmp_path: Path) -> None:
    files = [_big_csv(tmp_path / f"t{i}.csv", 30_000, seed=20 + i) for i in range(2)]
    campaign.close()
    procs = [_ingest_proc(campaign, f, timeout_s=0.05) for f in files]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        last = out.splitlines()[-1] if out.strip() else err.strip().splitlines()[-1]
        outcomes.append((proc.returncode, last))
    landed = [code for code, _ in outcomes if code == 0]
    for code, last in outcomes:
        # a failing open raises before "ready": the busy error is the traceback's last line
        assert code == 0 or "is busy" in last, last
    with Campaign.open(campaign.name, root=campaign.dir.parent, read_only=True) as c:
        data = c.store.measurements(PROPERTY)
    assert len(data) == 5 + 30_000 * len(landed)
    assert not data["material_id"].duplicated().any()


# ---------------------------------------------------------------------- a scientist's files
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
    message = _rejected(campaign, path, (
        r"PI1070_raw\.csv: column 'id' is missing \(required: id, smiles, "
        r"thermal_conductivity, unit, polymer_class; found: 157 columns: monomer_ID, smiles, "
        r"mol_weight_monomer, atomic_weight_mean, vdw_volume_monomer and 152 more; closest: "
        r"'monomer_ID'\); rename 'monomer_ID' to 'id' or pass --id-column 'monomer_ID' "
        r"\(and 1 more problem"))
    assert len(message) - len(str(path)) < 400  # five of the 157 names (all: ~3,500 chars)
    assert "thermal_diffusivity" not in message
    report = tmp_path / "report.txt"
    _rejected(campaign, path, "column 'id' is missing", report_path=report)
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
    frame = _lab(["q1"], ["*CCN*"], [0.3]).rename(
        columns={PROPERTY: "Thermal Conductivity", "polymer_class": "class"})
    _rejected(campaign, _write(tmp_path / "f.csv", frame),
              r"column 'thermal_conductivity' is missing \(required: .*; found: id, smiles, "
              r"Thermal Conductivity, unit, class; closest: 'Thermal Conductivity'\); rename "
              r"'Thermal Conductivity' to 'thermal_conductivity' or pass --value-column "
              r"'Thermal Conductivity' \(and 1 more")


@pytest.mark.parametrize(("sep", "suffix"), [(";", ".csv"), ("\t", ".tsv"), ("\t", ".csv")])
def test_semicolon_and_tab_separated_files(campaign: Campaign, tmp_path: Path, sep: str,
                                           suffix: str) -> None:
    frame = _lab(["q1", "q2"], ["*CCN*", "*CC(*)CC"], [0.31, 0.42])
    path = tmp_path / f"f{suffix}"
    frame.to_csv(path, sep=sep, index=False)
    assert campaign.ingest(path).measurements == 2
    got = campaign.store.measurements(PROPERTY).set_index("material_id")
    assert got.loc[["q1", "q2"], "value"].tolist() == [0.31, 0.42]
    bad = tmp_path / f"bad{suffix}"
    _lab(["q3", "q4"], ["*CCO*", "*CCS*"], [0.3, "0,4"]).to_csv(bad, sep=sep, index=False)
    _rejected(campaign, bad, r"row 2, column 'thermal_conductivity': value '0,4' is not a "
                             r"number \(decimal comma\? write 0\.4\)$")


def test_excel_workbook(campaign: Campaign, tmp_path: Path) -> None:
    frame = _lab(["q1", "q2", "q3"], ["*CCN*", "*CCO*", "*CCS*"], [0.3, 250, 0.5],
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
    _rejected(campaign, tmp_path / "bad.xlsx",
              r"bad\.xlsx: row 2, column 'thermal_conductivity': value 'high' is not a number$")
    # a workbook saved under a .csv name is read as the workbook it is
    renamed = tmp_path / "renamed.csv"
    renamed.write_bytes((tmp_path / "bad.xlsx").read_bytes())
    _rejected(campaign, renamed, r"renamed\.csv: row 2, column 'thermal_conductivity'")


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
    _rejected(campaign, path, rf"{name}: {reason}")


def test_folder_given_as_the_file(campaign: Campaign, tmp_path: Path) -> None:
    folder = tmp_path / "plate-7"
    folder.mkdir()
    for i in range(4):
        _write(folder / f"well-{i}.csv", _lab([f"w{i}"], ["*CCN*"], [0.3]))
    _rejected(campaign, folder, r"plate-7: is a folder, not a file; it holds 4 result-like "
                                r"file\(s\): well-0\.csv, well-1\.csv, well-2\.csv \.\.\.; "
                                r"ingest one CSV, Excel \(\.xlsx\) or Parquet file at a time$")
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    _rejected(campaign, empty, r"empty-folder: is a folder, not a file; ingest one CSV")


def test_column_options_map_the_file_onto_the_campaign(campaign: Campaign,
                                                       tmp_path: Path) -> None:
    frame = pd.DataFrame({"sample": ["s1", "s2"], "SMILES": ["*CCN*", "*CCO*"],
                          "k [mW/m/K]": [310.0, 420.0], "Class": ["4", "5"],
                          "id": ["lab-1", "lab-2"]})  # an 'id' the lab uses otherwise
    path = _write(tmp_path / "f.csv", frame)
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
    frame = _lab(["q1"], ["*CCN*"], [0.3]).drop(columns=["unit"]).rename(
        columns={PROPERTY: "k"})
    path = _write(tmp_path / "f.csv", frame)
    before = logical_content(campaign.store)
    with pytest.raises(IngestError, match=match) as info:
        campaign.ingest(path, **kw)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    assert logical_content(campaign.store) == before


def test_unit_option_with_a_unit_column(campaign: Campaign, tmp_path: Path) -> None:
    path = _write(tmp_path / "f.csv", _lab(["q1"], ["*CCN*"], [0.3]))
    _rejected(campaign, path, r"f\.csv: --unit W/m/K was given but the file has a unit "
                              r"column 'unit'; drop --unit or the column$", unit="W/m/K")


def _bounded_campaign(tmp_path: Path) -> Campaign:
    text = write_polymer_config(tmp_path).read_text()
    text = text.replace('unit = "W/m/K"\n', 'unit = "W/m/K"\nmin = 0\nmax = 1.0\n', 1)
    config = tmp_path / "bounded.toml"
    config.write_text(text)
    campaign = Campaign.create("bounded", config, root=tmp_path / "b")
    campaign.ingest(_write(tmp_path / "base.csv", _lab(["p0"], ["*CC*"], [0.1])))
    return campaign


@pytest.mark.parametrize(("value", "unit", "reason"), [
    (-0.3, "W/m/K", r"value -0.3 W/m/K is below the physical minimum 0 W/m/K \(\[target\] min "
                    r"in the campaign file\); check the measurement and its unit$"),
    (-300, "mW/m/K", r"value -300 mW/m/K \(= -0.3 W/m/K\) is below the physical minimum 0 "
                     r"W/m/K"),
    (1500, "mW/m/K", r"value 1500 mW/m/K \(= 1.5 W/m/K\) is above the physical maximum 1 "
                     r"W/m/K \(\[target\] max in the campaign file\)"),
    (1.01, "W/m/K", r"value 1.01 W/m/K is above the physical maximum 1 W/m/K"),
])
def test_physical_bounds_reject_impossible_values(tmp_path: Path, value: float, unit: str,
                                                  reason: str) -> None:
    with _bounded_campaign(tmp_path) as campaign:
        frame = _lab(["q1", "q2"], ["*CCN*", "*CCO*"], [0.3, value])
        frame.loc[1, "unit"] = unit
        _rejected(campaign, _write(tmp_path / "f.csv", frame),
                  rf"f\.csv: row 2, column 'thermal_conductivity': {reason}")


def test_physical_bounds_apply_after_unit_conversion(tmp_path: Path) -> None:
    with _bounded_campaign(tmp_path) as campaign:
        # 900 mW/m/K is 0.9 W/m/K (inside [0, 1]); 0 and 1 are on the bounds
        frame = _lab(["q1", "q2", "q3"], ["*CCN*", "*CCO*", "*CCS*"], [900, 0.0, 1.0])
        frame.loc[0, "unit"] = "mW/m/K"
        assert campaign.ingest(_write(tmp_path / "f.csv", frame)).measurements == 3
        got = campaign.store.measurements(PROPERTY).set_index("material_id")
        assert got.loc[["q1", "q2", "q3"], "value"].tolist() == pytest.approx([0.9, 0.0, 1.0])


def test_shipped_campaign_files_bound_their_targets() -> None:
    from e2t_discovery.config.schema import load_config
    from e2t_discovery.config.templates import templates_dir

    shipped = templates_dir()
    bounds = {p.name: load_config(p).target.min for p in sorted(shipped.glob("*.toml"))}
    assert bounds == {"hoip-bandgap.toml": 0.0, "pi1070-demo.toml": 0.0,
                      "pi1070-tc.toml": 0.0}
