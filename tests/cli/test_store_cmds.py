"""``e2t init / ingest / status / export``: CliRunner and real processes on real DuckDB files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from campaign_helpers import PROPERTY, logical_content, pi1070_lab_frame, write_polymer_config
from campaign_helpers import run_main as _main
from typer.testing import CliRunner

import e2t_discovery.cli as cli
from e2t_discovery.cli import app
from e2t_discovery.config.templates import template_path
from e2t_discovery.loop.campaign import Campaign

runner = CliRunner()
E2T = [sys.executable, "-c", "from e2t_discovery.cli import main; main()"]


def _invoke(args: list[str], **env: str):
    result = runner.invoke(app, args, env=env or None)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture
def lab(tmp_path: Path, data_dir: Path) -> Path:
    path = tmp_path / "lab.csv"
    pi1070_lab_frame(data_dir, 0, 30).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", [[], ["init"], ["ingest"], ["status"], ["export"]])
def test_help_everywhere(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    if command:
        assert "--dir" in result.output


def test_init_ingest_status_export(tmp_path: Path, lab: Path) -> None:
    root = tmp_path / "home"
    config = write_polymer_config(tmp_path)
    out = _invoke(["init", "tc", "--config", str(config), "--dir", str(root)]).output
    assert "created campaign tc" in out
    out = _invoke(["ingest", "tc", str(lab), "--dir", str(root)]).output
    assert "ingested 30 measurements of 30 rows (30 new materials) into tc, round 0" in out
    assert "already ingested" in _invoke(["ingest", "tc", str(lab), "--dir", str(root)]).output
    frame = pd.read_csv(lab)
    best = frame.loc[frame[PROPERTY].idxmax()]
    out = _invoke(["status", "tc", "--dir", str(root)]).output
    assert "measurements 30 of 30 materials" in out
    assert f"best so far: {best['id']} = {best[PROPERTY]:.4g} W/m/K" in out
    assert "no model yet; run `e2t train tc`" in out
    assert "rounds" not in out  # one round, no proposals: no round table
    with Campaign.open("tc", root=root) as c:
        c.store.add_materials(pd.DataFrame({"id": ["cand"], "kind": "polymer",
                                            "canonical": ["*CCN*"], "domain": ["3"]}),
                              origin="library")
        c.store.add_proposals(pd.DataFrame({"material_id": ["cand"]}), round=1,
                              strategy="ucb")
        c.store.mark_step_done(1, "propose")
    out = _invoke(["status", "tc", "--dir", str(root)]).output
    assert "round 1; proposals 1 proposed, 0 measured, 0 dropped" in out
    assert "rounds" in out and "propose" in out
    _invoke(["export", "tc", "--out", str(tmp_path / "x"), "--dir", str(root)])
    exported = pd.read_csv(tmp_path / "x" / "measurements.csv")
    assert sorted(exported["material_id"]) == sorted(frame["id"])


def test_e2t_home_is_the_default_folder(tmp_path: Path, lab: Path) -> None:
    home = tmp_path / "e2t-home"
    config = write_polymer_config(tmp_path)
    _invoke(["init", "tc", "--config", str(config)], E2T_HOME=str(home))
    assert (home / "tc" / "campaign.duckdb").is_file()
    _invoke(["ingest", "tc", str(lab)], E2T_HOME=str(home))
    with Campaign.open("tc", root=home, read_only=True) as c:
        assert c.store.measurement_counts()["measurements"] == 30


def test_user_errors_exit_1_with_one_red_line(tmp_path: Path, lab: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "home")
    config = write_polymer_config(tmp_path)
    assert _main(["init", "tc", "--config", str(config), "--dir", root], capsys)[0] == 0
    bad = pd.read_csv(lab, dtype=str)
    bad.loc[3, PROPERTY] = "n/a"
    bad.loc[5, "unit"] = "K"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    report = tmp_path / "report.txt"
    code, _, err = _main(["ingest", "tc", str(tmp_path / "bad.csv"), "--report", str(report),
                          "--dir", root], capsys)
    assert code == 1
    assert err.strip().count("\n") == 0
    assert err.startswith(f"error: {tmp_path / 'bad.csv'}: row 4, column '{PROPERTY}': value "
                          f"'n/a' is not a number (and 1 more problem(s); all in {report})")
    assert len(report.read_text().splitlines()) == 2
    code, _, err = _main(["status", "nope", "--dir", root], capsys)
    assert (code, err.strip().count("\n")) == (1, 0)
    assert "no campaign nope in" in err
    code, _, err = _main(["init", "tc", "--config", str(config), "--dir", root], capsys)
    assert code == 1 and "campaign tc already exists" in err


def test_internal_error_exits_3_with_traceback_in_campaign_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "home"
    config = write_polymer_config(tmp_path)
    assert _main(["init", "tc", "--config", str(config), "--dir", str(root)], capsys)[0] == 0

    def broken(self: Campaign) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Campaign, "status", broken)
    code, _, err = _main(["status", "tc", "--dir", str(root)], capsys)
    log = root / "tc" / "logs" / "e2t.log"
    assert code == 3
    assert f"internal error: RuntimeError: disk on fire (traceback in {log})" in err
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in broken" in text


def test_internal_error_without_campaign_goes_to_user_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    user_log = tmp_path / "user" / "internal-errors.log"
    monkeypatch.setattr(cli, "INTERNAL_LOG", user_log)

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("no campaign yet")

    monkeypatch.setattr("e2t_discovery.cli.store_cmds.create_campaign", broken)
    code, _, err = _main(["init", "tc", "--config", "x.toml", "--dir", str(tmp_path)], capsys)
    assert code == 3 and str(user_log) in err
    assert "KeyError: 'no campaign yet'" in user_log.read_text()


def test_real_processes_on_a_real_store(tmp_path: Path, lab: Path) -> None:
    root = tmp_path / "home"
    config = write_polymer_config(tmp_path)

    def e2t(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*E2T, *args, "--dir", str(root)], capture_output=True,
                              text=True, timeout=300)

    assert e2t("init", "tc", "--config", str(config)).returncode == 0
    done = e2t("ingest", "tc", str(lab))
    assert done.returncode == 0, done.stderr
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    failed = e2t("ingest", "tc", str(bad))
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith(f"error: {bad}: ")
    status = e2t("status", "tc")
    assert status.returncode == 0 and "measurements 30 of 30 materials" in status.stdout


@pytest.mark.parametrize(("args", "needle"), [
    (["bogus"], "No such command 'bogus'"),
    (["init"], "Missing argument 'name'"),
    (["status", "--no-such-flag"], "No such option: --no-such-flag"),
])
def test_usage_errors_show_usage_and_exit_2_without_internal_error(
        args: list[str], needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    user_log = tmp_path / "internal-errors.log"
    monkeypatch.setattr(cli, "INTERNAL_LOG", user_log)
    code, _, err = _main(args, capsys)
    assert code == 2
    assert "Usage: e2t" in err and needle in err
    assert "internal error" not in err and not user_log.exists()


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from e2t_discovery import __version__

    code, out, _ = _main(["--version"], capsys)
    assert code == 0 and out.strip() == f"e2t-discovery {__version__}"


def test_user_error_text_keeps_square_brackets(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = template_path("pi1070-tc").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("[target]\n", "[target]\nunits = 'W/m/K'\n", 1))
    code, _, err = _main(["init", "x", "--config", str(bad), "--dir", str(tmp_path)], capsys)
    assert code == 1 and "in [target]" in err.replace("\n", "")


def test_units_in_square_brackets_are_printed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = template_path("hoip-bandgap")
    code, out, _ = _main(["init", "hb", "--config", str(config), "--dir", str(tmp_path)],
                         capsys)
    assert code == 0 and "band_gap_gga [eV])" in out
    code, out, _ = _main(["status", "hb", "--dir", str(tmp_path)], capsys)
    assert code == 0 and "band_gap_gga [eV] of structure materials" in out


def test_ingest_column_options(tmp_path: Path, data_dir: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """A lab's own column names, no unit column, semicolons: mapped with the options."""
    root = str(tmp_path / "home")
    assert _main(["init", "tc", "--config", str(write_polymer_config(tmp_path)), "--dir",
                  root], capsys)[0] == 0
    frame = pi1070_lab_frame(data_dir, 0, 12).drop(columns=["unit"]).rename(columns={
        "id": "Sample", PROPERTY: "k (mW/m/K)", "polymer_class": "Class", "smiles": "SMILES"})
    frame["k (mW/m/K)"] *= 1000
    lab = tmp_path / "lab.csv"
    frame.to_csv(lab, sep=";", index=False)
    code, _, err = _main(["ingest", "tc", str(lab), "--dir", root], capsys)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"error: {lab}: column 'id' is missing (required: id, smiles, "
                          f"thermal_conductivity, unit, polymer_class; found: Sample, SMILES, "
                          f"k (mW/m/K), Class); add it, or name the file's column with "
                          f"--id-column NAME (and 4 more problem(s)")
    code, out, err = _main(["ingest", "tc", str(lab), "--id-column", "Sample",
                            "--value-column", "k (mW/m/K)", "--unit", "mW/m/K",
                            "--map", "SMILES=smiles", "--map", "Class=polymer_class",
                            "--dir", root], capsys)
    assert code == 0, err
    assert "ingested 12 measurements of 12 rows (12 new materials)" in out
    with Campaign.open("tc", root=root, read_only=True) as c:
        got = c.store.measurements(PROPERTY).set_index("material_id")
    expected = pi1070_lab_frame(data_dir, 0, 12).set_index("id")
    assert got.loc[expected.index, "value"].tolist() == pytest.approx(
        expected[PROPERTY].tolist())
    assert got.loc[expected.index, "domain"].tolist() == [
        str(v) for v in expected["polymer_class"]]


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["--map", "SMILES"], 2, "Invalid value for --map: 'SMILES' is not OLD=NEW"),
    (["--map", "=smiles"], 2, "Invalid value for --map: '=smiles' is not OLD=NEW"),
    (["--unit", "K"], 1, "error: --unit 'K' is not a unit of thermal_conductivity; "
                         "accepted: W/m/K, mW/m/K"),
    (["--value-column", "k"], 1, "--value-column k: the file has no column 'k' (found: id, "
                                 "smiles, thermal_conductivity, unit, polymer_class"),
])
def test_ingest_bad_options(args: list[str], code: int, needle: str, tmp_path: Path,
                            lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "home")
    assert _main(["init", "tc", "--config", str(write_polymer_config(tmp_path)), "--dir",
                  root], capsys)[0] == 0
    before = logical_content(Path(root) / "tc" / "campaign.duckdb")
    got, _, err = _main(["ingest", "tc", str(lab), *args, "--dir", root], capsys)
    assert got == code and needle in err.replace("\n", " ").replace("  ", " ")
    if code == 1:
        assert err.count("\n") == 1
    assert logical_content(Path(root) / "tc" / "campaign.duckdb") == before


def test_ingest_excel_folder_and_bounds(tmp_path: Path, data_dir: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "home")
    assert _main(["init", "tc", "--template", "pi1070-tc", "--dir", root], capsys)[0] == 0
    db = Path(root) / "tc" / "campaign.duckdb"
    frame = pi1070_lab_frame(data_dir, 0, 10)
    frame.to_excel(tmp_path / "lab.xlsx", index=False)
    code, out, err = _main(["ingest", "tc", str(tmp_path / "lab.xlsx"), "--dir", root], capsys)
    assert code == 0, err
    assert "ingested 10 measurements of 10 rows" in out
    before = logical_content(db)
    bad = pi1070_lab_frame(data_dir, 10, 5)
    bad.loc[3, PROPERTY] = -0.3  # the impossible value a lab file once held
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, _, err = _main(["ingest", "tc", str(tmp_path / "bad.csv"), "--dir", root], capsys)
    assert (code, err.count("\n")) == (1, 1)
    assert err == (f"error: {tmp_path / 'bad.csv'}: row 4, column 'thermal_conductivity': "
                   f"value -0.3 W/m/K is below the physical minimum 0 W/m/K ([target] min in "
                   f"the campaign file); check the measurement and its unit\n")
    code, _, err = _main(["ingest", "tc", str(tmp_path), "--dir", root], capsys)
    assert (code, err.count("\n")) == (1, 1)
    assert err.startswith(f"error: {tmp_path}: is a folder, not a file; it holds 2 "
                          f"result-like file(s): bad.csv, lab.xlsx; ingest one CSV")
    assert logical_content(db) == before
