"""CLI tests of `e2t run`, `e2t demo` and `e2t report` (Typer's CliRunner, real stores)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from loop_helpers import make_campaign
from typer.testing import CliRunner

from e2t_discovery.campaign import Campaign
from e2t_discovery.cli import app
from e2t_discovery.featurize.polymer import canonical_psmiles

runner = CliRunner()


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), catch_exceptions=True)


def _propose_and_measure(root: Path, labels: Path, ids: list[str]) -> None:
    """Record proposals (as a strategy would) and ingest their lab results."""
    table = pd.read_csv(labels, dtype={"id": str}).set_index("id").loc[ids].reset_index()
    with Campaign.open("loop", root) as c:
        c.store.add_materials(pd.DataFrame({"id": ids, "kind": "polymer",
                                            "canonical": [canonical_psmiles(x)
                                                          for x in table["smiles"]],
                                            "domain": table["polymer_class"].astype(str)}),
                              origin="library")
        c.store.add_proposals(pd.DataFrame({
            "material_id": ids, "mean": table["thermal_conductivity"] + 0.01, "std": 0.02,
            "acquisition": [3.0, 2.0, 1.0], "domain": table["polymer_class"].astype(str),
            "reason": "test"}), round=1, strategy="ucb")
        lab = root / "lab.csv"
        table.assign(unit="W/m/K").to_csv(lab, index=False)
        c.ingest(lab, round=1)
        c.train(progress=False)


def test_report_writes_html_and_plots(tmp_path: Path, data_dir: Path) -> None:
    root, lib, labels = make_campaign(tmp_path, data_dir)
    table = pd.read_csv(labels, dtype={"id": str})
    ids = table[table["polymer_class"] == 13]["id"].head(3).tolist()
    _propose_and_measure(root, labels, ids)
    out = tmp_path / "rep"
    res = _invoke("report", "loop", "--out", str(out), "--dir", str(root),
                  "--holdout", str(labels))
    assert res.exit_code == 0, res.output
    assert "report:" in res.output
    html = (out / "index.html").read_text()
    for png in ("best_so_far.png", "parity.png", "calibration.png", "domains.png"):
        assert (out / png).stat().st_size > 1000
    # three proposals were measured; the holdout is every other unmeasured row
    assert "proposed, then measured" not in html  # legend lives in the PNG, not the page
    assert all(i in html for i in ids)
    assert re.search(r"19 measurements, 3 proposals", html)


def test_report_of_unknown_campaign_is_one_clear_line(tmp_path: Path) -> None:
    res = _invoke("report", "nope", "--out", str(tmp_path / "r"), "--dir", str(tmp_path))
    assert res.exit_code != 0
    assert "no campaign nope" in str(res.exception)


def test_run_rejects_missing_simulation_table(tmp_path: Path, data_dir: Path) -> None:
    root, lib, _ = make_campaign(tmp_path, data_dir)
    res = _invoke("run", "loop", "--rounds", "1", "--simulate-with",
                  str(tmp_path / "none.csv"), "--dir", str(root))
    assert res.exit_code != 0
    assert "simulation table" in str(res.exception) and "does not exist" in str(res.exception)


def test_demo_without_data_says_how_to_get_it(tmp_path: Path) -> None:
    res = _invoke("demo", "--data-dir", str(tmp_path / "empty"), "--no-download", "--dir",
                  str(tmp_path))
    assert res.exit_code != 0
    assert "PI1070.csv not found" in str(res.exception)


@pytest.mark.slow
def test_run_one_simulated_round(tmp_path: Path, data_dir: Path, ray_session: None) -> None:
    root, lib, labels = make_campaign(tmp_path, data_dir, batch=3)
    res = _invoke("run", "loop", "--rounds", "1", "--simulate-with", str(labels),
                  "--library", str(lib), "--workers", "1", "--dir", str(root))
    assert res.exit_code == 0, res.output
    assert "round 1: model v1 (train), 3 proposed, 3 measured" in res.output
    assert "1 rounds complete" in res.output
