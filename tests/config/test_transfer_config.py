"""``[transfer]`` in a campaign file: validated at ``e2t init`` with one clear line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from campaign_helpers import run_main

from e2t_discovery.config.schema import load_config
from e2t_discovery.config.templates import template_path
from e2t_discovery.exceptions import ConfigError


def _campaign_file(folder: Path, template: str, transfer: str) -> Path:
    path = folder / "c.toml"
    path.write_text(template_path(template).read_text(encoding="utf-8") + "\n" + transfer,
                    encoding="utf-8")
    return path


@pytest.fixture()
def gga_table(tmp_path: Path) -> Path:
    """A small HOIP-like source table (structure paths and a GGA band gap)."""
    path = tmp_path / "gga.csv"
    pd.DataFrame({"id": ["a", "b"], "cif_path": ["a.cif", "b.cif"],
                  "band_gap_gga": [1.0, 2.0]}).to_csv(path, index=False)
    return path


def test_a_table_source_is_resolved_against_the_campaign_file(
        tmp_path: Path, gga_table: Path) -> None:
    path = _campaign_file(tmp_path, "hoip-bandgap", '[transfer]\nmethod = "affine"\n'
                          'table = "gga.csv"\nproperty = "band_gap_gga"\nunit = "eV"\n')
    config = load_config(path)
    assert config.transfer is not None
    assert config.transfer.table == str(gga_table.absolute())
    assert (config.transfer.kind, config.transfer.method) == ("table", "affine")
    # the stored form validates back to the same config
    assert type(config).from_dict(config.to_dict()) == config


@pytest.mark.parametrize(("transfer", "message"), [
    ('table = "missing.csv"\nproperty = "band_gap_gga"\nunit = "eV"',
     "transfer.table = '{dir}/missing.csv' is invalid: no such file; give the path of a CSV "
     "or Parquet table of the source property (relative to the campaign file)"),
    ('table = "gga.csv"\nproperty = "band_gap_hse"\nunit = "eV"',
     "transfer.property = 'band_gap_hse' is invalid: the table has no such column; did you "
     "mean 'band_gap_gga'? columns: id, cif_path, band_gap_gga"),
    ('table = "gga.csv"\nproperty = "band_gap_gga"\nunit = "kcal"',
     "transfer.unit = 'kcal' is invalid: is neither the campaign unit 'eV' nor one of its "
     "[target.conversions]; add a conversion, or write \"none\" when the source is on "
     "another scale (affine transfer then learns it)"),
    ('table = "gga.csv"\ncampaign = "other"\nproperty = "band_gap_gga"\nunit = "eV"',
     "[transfer] needs exactly one source (table, campaign or model); got table, campaign"),
    ('table = "gga.csv"', "[transfer] table needs property"),
    ('method = "stacking"\ntable = "gga.csv"\nproperty = "band_gap_gga"\nunit = "eV"',
     "transfer.method"),
    ('method = "auto"\ntable = "gga.csv"\nproperty = "band_gap_gga"\nunit = "eV"\n'
     '[transfer.settings]\ncandidates = ["affine", "stacking"]',
     "transfer.settings.candidates = ['affine', 'stacking'] is invalid: must be a list of "
     "distinct transfer methods from finetune, affine, multitask"),
    ('method = "auto"\ntable = "gga.csv"\nproperty = "band_gap_gga"\nunit = "eV"\n'
     '[transfer.settings.afine]\nresidual = false',
     "transfer.settings.afine = {{'residual': False}} is invalid: method 'auto' takes "
     "candidates and a table of options per method; did you mean 'affine'?"),
    ('method = "auto"\ntable = "gga.csv"\nproperty = "band_gap_gga"\nunit = "eV"\n'
     '[transfer.settings.affine]\nresidue = false',
     "transfer.settings.affine.residue = False is invalid: transfer method 'affine' has no "
     "parameter 'residue'; did you mean 'residual'?"),
])
def test_a_bad_transfer_section_fails_init_with_one_line(
        tmp_path: Path, gga_table: Path, capsys: pytest.CaptureFixture[str],
        transfer: str, message: str) -> None:
    path = _campaign_file(tmp_path, "hoip-bandgap", f"[transfer]\n{transfer}\n")
    code, _, err = run_main(["init", "x", "--config", str(path), "--dir",
                             str(tmp_path / "home")], capsys)
    assert (code, err.count("\n")) == (1, 1), err
    assert message.format(dir=tmp_path) in err
    assert not (tmp_path / "home" / "x").exists()


def test_auto_with_options_per_candidate_is_accepted(tmp_path: Path, gga_table: Path) -> None:
    path = _campaign_file(tmp_path, "hoip-bandgap", '[transfer]\nmethod = "auto"\n'
                          'table = "gga.csv"\nproperty = "band_gap_gga"\nunit = "eV"\n'
                          '[transfer.settings]\ncandidates = ["affine", "finetune"]\n'
                          '[transfer.settings.finetune]\nsteps = 20\n')
    config = load_config(path)
    assert config.transfer is not None and config.transfer.method == "auto"
    assert config.transfer.settings["finetune"] == {"steps": 20}


def test_a_source_described_another_way_is_refused(tmp_path: Path) -> None:
    """A composition table (formulas) cannot be the source of a structure campaign."""
    table = tmp_path / "formulas.csv"
    pd.DataFrame({"formula": ["CsPbI3"], "band_gap_gga": [1.5]}).to_csv(table, index=False)
    path = _campaign_file(tmp_path, "hoip-bandgap", '[transfer]\ntable = "formulas.csv"\n'
                          'property = "band_gap_gga"\nunit = "eV"\n')
    with pytest.raises(ConfigError, match=r"the table has no column 'cif_path'; it holds "
                       r"formula \(composition\), but the campaign's representation is "
                       r"structure \(cif_path\)"):
        load_config(path)
