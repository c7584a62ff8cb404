"""Row validation: numbers, units, identifiers, bounds; every problem in the report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from campaign_helpers import (
    PROPERTY,
    write_composition_config,
    write_polymer_config,
)
from ingest_helpers import lab, rejected, write

from e2t_discovery.config.templates import template_path
from e2t_discovery.exceptions import IngestError
from e2t_discovery.loop.campaign import Campaign


def test_non_numeric_value(campaign: Campaign, tmp_path: Path) -> None:
    frame = lab(["q1", "q2"], ["*CCN*", "*CCO*"], [0.3, "high"])
    rejected(campaign, write(tmp_path / "f.csv", frame),
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
    rejected(campaign, path, f"row 1, column '{PROPERTY}': {reason}")


def test_non_finite_parquet_value(campaign: Campaign, tmp_path: Path) -> None:
    frame = lab(["q1", "q2"], ["*CCN*", "*CCO*"], [0.3, float("inf")])
    rejected(campaign, write(tmp_path / "f.parquet", frame),
             "row 2, column 'thermal_conductivity': value inf is not finite")


def test_unknown_unit(campaign: Campaign, tmp_path: Path) -> None:
    frame = lab(["q1"], ["*CCN*"], [0.3], unit="BTU/h/ft/F")
    rejected(campaign, write(tmp_path / "f.csv", frame),
             r"row 1, column 'unit': unknown unit 'BTU/h/ft/F'; accepted: W/m/K, mW/m/K "
             r"\(add its factor to \[target.conversions\]")


@pytest.mark.parametrize(("smiles", "reason"), [
    ("C1CC", "invalid p-SMILES 'C1CC'"),
    ("CCO", "invalid p-SMILES 'CCO'"),  # parses, but has no attachment points
    ("*C(*)(*)C", "invalid p-SMILES"),
])
def test_invalid_smiles(campaign: Campaign, tmp_path: Path, smiles: str, reason: str) -> None:
    frame = lab(["q1", "q2"], ["*CCN*", smiles], [0.3, 0.4])
    rejected(campaign, write(tmp_path / "f.csv", frame),
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
        rejected(campaign, bad, r"row 2, column 'formula': invalid formula 'Xy2Q'")


def test_report_lists_every_problem(campaign: Campaign, tmp_path: Path) -> None:
    frame = lab(["q1", "q2", "q3", "q3"], ["*CCN*", "C1CC", "*CCO*", "*CCS*"],
                [0.3, 0.4, "x", 0.5], unit="K")
    report = tmp_path / "out" / "report.txt"
    message = rejected(campaign, write(tmp_path / "f.csv", frame), "and 6 more problem",
                       report_path=report)
    assert str(report) in message
    lines = report.read_text().splitlines()
    assert len(lines) == 7  # 4 units, 1 SMILES, 1 number, 1 duplicate
    assert sum("unknown unit 'K'" in line for line in lines) == 4
    assert any("row 2, column 'smiles'" in line for line in lines)
    assert any("row 3, column 'thermal_conductivity'" in line for line in lines)
    assert any("duplicate id 'q3'" in line for line in lines)
    assert all(line.startswith(str(tmp_path / "f.csv")) for line in lines)


def test_structures_from_cif_paths(tmp_path: Path, data_dir: Path) -> None:
    config = template_path("hoip-bandgap")
    hoip = pd.read_csv(data_dir / "hoip" / "hoip.csv")
    rows = hoip.iloc[:3]
    table = pd.DataFrame({"id": rows["id"],
                          "cif_path": [str(data_dir / "hoip" / "structures" / f"{i}.cif")
                                       for i in rows["id"]],
                          "band_gap_gga": rows["band_gap_gga"], "unit": "eV"})
    with Campaign.create("hoip", config, root=tmp_path / "c") as campaign:
        campaign.ingest(write(tmp_path / "lab.csv", table))
        got = campaign.store.measurements("band_gap_gga").set_index("material_id")
        for rec in rows.itertuples():
            elements = set(rec.elements.split())
            metal = next(m for m in ("Ge", "Sn", "Pb") if m in elements)
            halide = next(h for h in ("F", "Cl", "Br", "I") if h in elements)
            assert got.loc[rec.id, "domain"] == f"{metal}-{halide}"
            assert got.loc[rec.id, "canonical"].startswith("# generated using pymatgen")
        table.loc[1, "cif_path"] = "missing.cif"
        bad = write(tmp_path / "bad.csv", table.assign(id=["x1", "x2", "x3"]))
        with pytest.raises(IngestError, match=r"row 2, column 'cif_path': invalid structure "
                                              r"'missing\.cif'"):
            campaign.ingest(bad)


def _bounded_campaign(tmp_path: Path) -> Campaign:
    text = write_polymer_config(tmp_path).read_text()
    text = text.replace('unit = "W/m/K"\n', 'unit = "W/m/K"\nmin = 0\nmax = 1.0\n', 1)
    config = tmp_path / "bounded.toml"
    config.write_text(text)
    campaign = Campaign.create("bounded", config, root=tmp_path / "b")
    campaign.ingest(write(tmp_path / "base.csv", lab(["p0"], ["*CC*"], [0.1])))
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
        frame = lab(["q1", "q2"], ["*CCN*", "*CCO*"], [0.3, value])
        frame.loc[1, "unit"] = unit
        rejected(campaign, write(tmp_path / "f.csv", frame),
                 rf"f\.csv: row 2, column 'thermal_conductivity': {reason}")


def test_physical_bounds_apply_after_unit_conversion(tmp_path: Path) -> None:
    with _bounded_campaign(tmp_path) as campaign:
        # 900 mW/m/K is 0.9 W/m/K (inside [0, 1]); 0 and 1 are on the bounds
        frame = lab(["q1", "q2", "q3"], ["*CCN*", "*CCO*", "*CCS*"], [900, 0.0, 1.0])
        frame.loc[0, "unit"] = "mW/m/K"
        assert campaign.ingest(write(tmp_path / "f.csv", frame)).measurements == 3
        got = campaign.store.measurements(PROPERTY).set_index("material_id")
        assert got.loc[["q1", "q2", "q3"], "value"].tolist() == pytest.approx([0.9, 0.0, 1.0])


def test_shipped_campaign_files_bound_their_targets() -> None:
    from e2t_discovery.config.schema import load_config
    from e2t_discovery.config.templates import templates_dir

    shipped = templates_dir()
    bounds = {p.name: load_config(p).target.min for p in sorted(shipped.glob("*.toml"))}
    assert bounds == {"hoip-bandgap.toml": 0.0, "pi1070-demo.toml": 0.0,
                      "pi1070-tc.toml": 0.0}
