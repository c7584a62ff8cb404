"""``e2t train`` and ``e2t predict``; the README flow: init, ingest, status, train, predict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from campaign_helpers import pi1070_lab_frame, write_polymer_config
from typer.testing import CliRunner

from e2t_discovery.cli import app, main
from e2t_discovery.config.templates import template_path
from e2t_discovery.loop.campaign import Campaign

runner = CliRunner()
E2T = [sys.executable, "-c", "from e2t_discovery.cli import main; main()"]


@pytest.mark.parametrize("command", ["train", "predict"])
def test_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "--dir" in result.output


def test_train_then_predict(tmp_path: Path, data_dir: Path) -> None:
    root = str(tmp_path / "home")
    pi1070_lab_frame(data_dir, 0, 60).to_csv(tmp_path / "lab.csv", index=False)
    candidates = pi1070_lab_frame(data_dir, 500, 7)[["id", "smiles", "polymer_class"]]
    candidates.loc[2, "smiles"] = "not smiles"  # data row 3 of other.csv
    candidates.loc[5, "smiles"] = "*CC"
    candidates.to_csv(tmp_path / "other.csv", index=False)
    for args in (["init", "tc", "--config", str(write_polymer_config(tmp_path))],
                 ["ingest", "tc", str(tmp_path / "lab.csv")]):
        assert runner.invoke(app, [*args, "--dir", root]).exit_code == 0
    result = runner.invoke(app, ["train", "tc", "--dir", root],
                           env={"E2T_PROGRESS_INTERVAL": "0"})
    assert result.exit_code == 0, result.exception
    assert "trained model v1 of tc on 60 measurements (60 materials)" in result.output
    # not a terminal: plain progress lines (step count and validation score), no bar
    assert "E2T meta-training: " in result.stderr and " steps (" in result.stderr
    assert "\r" not in result.stderr
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["predict", "tc", "--input", str(tmp_path / "other.csv"),
                                 "--out", str(out), "--dir", root])
    assert result.exit_code == 0, result.exception
    predictions = pd.read_csv(out, keep_default_na=False, na_values=[""])
    n_ood = int((predictions["out_of_domain"] == True).sum())  # noqa: E712
    assert (f"wrote 7 rows to {out}: 5 predicted (mean, std, domain_distance; {n_ood} out of "
            f"domain: the std there is unchecked), 2 rejected "
            f"(first: {tmp_path / 'other.csv'}: row 3, column 'smiles': invalid polymer "
            f"input: not a parsable SMILES; every reason in column reject_reason)"
            in result.output.replace("\n", ""))
    assert list(predictions["id"]) == list(candidates["id"])
    rejected = predictions["reject_reason"].notna().to_numpy()
    assert rejected.tolist() == [False, False, True, False, False, True, False]
    assert "exactly 2" in predictions.loc[5, "reject_reason"]
    assert predictions.loc[rejected, ["mean", "std"]].isna().all().all()
    with Campaign.open("tc", root=root, read_only=True) as c:
        expected = c.predict_frame(candidates.astype(str))
    np.testing.assert_allclose(predictions["mean"], expected["mean"], rtol=1e-6)
    assert (predictions.loc[~rejected, "std"] > 0).all()
    status = runner.invoke(app, ["status", "tc", "--dir", root])
    assert "last model: v1 (train, 60 measurements" in status.output


def test_predict_without_model_is_a_user_error(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "home")
    with pytest.raises(SystemExit) as info:
        main(["init", "tc", "--config", str(write_polymer_config(tmp_path)), "--dir", root])
    assert info.value.code == 0
    (tmp_path / "in.csv").write_text("id,smiles\na,*CC*\n")
    with pytest.raises(SystemExit) as info:
        main(["predict", "tc", "--input", str(tmp_path / "in.csv"), "--out",
              str(tmp_path / "p.csv"), "--dir", root])
    err = capsys.readouterr().err
    assert info.value.code == 1
    assert err.strip() == "error: campaign tc has no trained model; run `e2t train tc` first"
    with pytest.raises(SystemExit) as info:
        main(["train", "tc", "--dir", root])
    assert info.value.code == 1
    assert "has no measurements of thermal_conductivity; ingest lab results first" in \
        capsys.readouterr().err


def _readme_flow(tmp_path: Path, data_dir: Path, config: Path) -> pd.DataFrame:
    """The README's commands, each a real process, on a 100-row PI1070 file."""
    pi1070_lab_frame(data_dir, 0, 100).to_csv(tmp_path / "pi100.csv", index=False)
    pi1070_lab_frame(data_dir, 100, 20)[["id", "smiles"]].to_csv(tmp_path / "other.csv",
                                                                 index=False)
    env = {**__import__("os").environ, "E2T_HOME": str(tmp_path / "campaigns")}
    steps = [["init", "demo", "--config", str(config)],
             ["ingest", "demo", "pi100.csv"],
             ["status", "demo"],
             ["train", "demo"],
             ["predict", "demo", "--input", "other.csv", "--out", "p.csv"]]
    for step in steps:
        done = subprocess.run([*E2T, *step], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=1800)
        assert done.returncode == 0, (step, done.stderr)
    return pd.read_csv(tmp_path / "p.csv")


@pytest.mark.slow  # five process starts with torch imports: ~50 s on two busy cores
def test_readme_flow_in_real_processes(tmp_path: Path, data_dir: Path) -> None:
    predictions = _readme_flow(tmp_path, data_dir, write_polymer_config(tmp_path))
    assert len(predictions) == 20
    assert np.isfinite(predictions[["mean", "std", "domain_distance"]].to_numpy()).all()


@pytest.mark.slow
def test_readme_flow_with_the_shipped_campaign_file(tmp_path: Path, data_dir: Path) -> None:
    predictions = _readme_flow(tmp_path, data_dir,
                               template_path("pi1070-tc"))
    assert len(predictions) == 20 and (predictions["std"] > 0).all()
