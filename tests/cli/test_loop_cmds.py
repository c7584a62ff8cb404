"""CLI tests of `e2t run`, `e2t demo` and `e2t report` (Typer's CliRunner, real stores)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from campaign_helpers import run_main as _main
from loop_helpers import make_campaign
from typer.testing import CliRunner

from e2t_discovery.cli import app
from e2t_discovery.featurize.polymer import canonical_psmiles
from e2t_discovery.loop.campaign import Campaign

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
    lines = res.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["round", "meas."])
    row = lines[header + 1].split()
    assert row[:2] == ["1", "19"] and row[5:8] == ["3/3", "v1", "train"]
    assert "could not answer" not in res.output
    assert "1 rounds complete" in res.output


def test_lab_mode_run_writes_and_prints_the_batch_and_simulation_names_unanswered_ids(
        tmp_path: Path, data_dir: Path, ray_session: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Minimize: `e2t run` without a table writes round-1.csv (with `lcb`) and prints it;
    a failed proposal is not asked again; the table's unanswered id is named."""
    root, lib, labels = make_campaign(tmp_path, data_dir, batch=3, direction="minimize")
    base = ["--library", str(lib), "--workers", "1", "--dir", str(root)]
    code, out, err = _main(["run", "loop", "--rounds", "2", *base], capsys)
    assert code == 0, err
    path = root / "loop" / "proposals" / "round-1.csv"
    printed = " ".join(out.split())
    assert f"round 1: 3 proposals await the lab; wrote {path}" in printed
    assert "`e2t proposals abandon loop --batch 1`" in printed
    batch = pd.read_csv(path, dtype={"id": str})
    assert list(batch.columns) == ["rank", "id", "structure", "mean", "std", "lcb", "domain",
                                   "domain_distance", "out_of_domain", "reason"]
    np.testing.assert_allclose(batch["lcb"], batch["mean"] - 2.0 * batch["std"], rtol=1e-9)
    assert batch["lcb"].is_monotonic_increasing  # lowest bound first when minimizing
    with Campaign.open("loop", root, read_only=True) as c:
        pending = c.store.proposals(status="proposed")
    ids = batch["id"].tolist()
    assert ids == pending["material_id"].tolist() and batch["rank"].tolist() == [1, 2, 3]
    table = [ln.split() for ln in out.splitlines() if ln.split()[:1] in (["1"], ["2"], ["3"])]
    assert [row[1] for row in table] == ids  # the printed table is the file's
    assert out.splitlines()[1].split()[:8] == ["rank", "id", "mean", "W/m/K", "std",
                                               "W/m/K", "lcb", "W/m/K"]
    # the same command again proposes nothing new; --out writes the same batch elsewhere
    other = tmp_path / "batch.csv"
    code, out, err = _main(["run", "loop", "--rounds", "2", "--out", str(other), *base],
                           capsys)
    assert code == 0, err
    assert pd.read_csv(other, dtype={"id": str}).equals(batch)
    # propose would open a second batch: refused
    code, _, err = _main(["propose", "loop", "--out", str(tmp_path / "p.csv"), "--dir",
                          str(root)], capsys)
    assert code == 1 and "3 pending proposals (batch 1: 3)" in " ".join(err.split())
    # the lab failed the first; the table cannot answer the third
    assert _main(["proposals", "fail", "loop", ids[0], "--dir", str(root)], capsys)[0] == 0
    partial = tmp_path / "partial.csv"
    full = pd.read_csv(labels, dtype={"id": str})
    full[full["id"] != ids[2]].to_csv(partial, index=False)
    code, out, err = _main(["run", "loop", "--rounds", "2", "--simulate-with", str(partial),
                            *base], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["round", "meas.", "best", "W/m/K", "domain", "batch", "RMSE",
                                "answered", "model", "time", "new", "domains"]
    assert lines[1].split()[:2] == ["1", "17"] and lines[1].split()[5] == "1/3"
    assert (f"round 1: the table could not answer 1 of 3 proposed ids, marked dropped: "
            f"{ids[2]}") in lines
    assert lines[3].split()[0] == "2" and "campaign loop: 2 rounds complete" in out
    with Campaign.open("loop", root, read_only=True) as c:
        props = c.store.proposals().set_index("material_id")
        meas = c.store.measurements("thermal_conductivity")
    assert props.loc[ids, "status"].tolist() == ["failed", "measured", "dropped"]
    assert ids[0] not in set(meas["material_id"])  # a failed proposal is not "measured"
    best = meas["value"].min()
    assert float(lines[3].split()[2]) == pytest.approx(best, rel=1e-3)


def test_three_simulated_rounds_leave_nothing_in_the_temp_directory(
        tmp_path: Path, data_dir: Path) -> None:
    """A real `e2t run` process with its own empty TMPDIR: empty again afterwards."""
    import os
    import subprocess
    import sys

    root, lib, labels = make_campaign(tmp_path, data_dir, batch=3)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "E2T_PROGRESS_INTERVAL": "3600"}
    proc = subprocess.run(
        [sys.executable, "-m", "e2t_discovery.cli", "run", "loop", "--rounds", "3",
         "--simulate-with", str(labels), "--library", str(lib), "--dir", str(root)],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "campaign loop: 3 rounds complete" in proc.stdout
    assert list(temp.iterdir()) == []
