"""``e2t templates`` and ``e2t init --template``: CliRunner, main() and a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from campaign_helpers import run_main as _main

from e2t_discovery.config.schema import load_config
from e2t_discovery.config.templates import template_path

E2T = [sys.executable, "-c", "from e2t_discovery.cli import main; main()"]


def test_templates_lists_each_with_a_one_line_description(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(["templates"], capsys)

    assert code == 0
    assert out.splitlines() == [
        "hoip-bandgap  Minimize the GGA band gap of hybrid perovskites, exploring unseen "
        "metal-halide pairs",
        "pi1070-demo   Demo: find high thermal conductivity polymers in never-measured "
        "classes (PI1070)",
        "pi1070-tc     Maximize thermal conductivity of amorphous homopolymers (PI1070)",
    ]


def test_templates_name_prints_the_file_to_copy(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(["templates", "hoip-bandgap"], capsys)

    assert code == 0 and out == template_path("hoip-bandgap").read_text()


def test_templates_unknown_name_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(["templates", "pi1070"], capsys)

    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        "error: unknown template 'pi1070'; known templates: hoip-bandgap, pi1070-demo, "
        "pi1070-tc (`e2t templates` describes them; --config FILE takes any file)"]


def test_init_from_a_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(["init", "tc", "--template", "pi1070-tc", "--dir", str(tmp_path)],
                         capsys)

    assert code == 0
    assert out.strip() == (f"created campaign tc in {tmp_path / 'tc'} (polymer, maximize "
                           "thermal_conductivity [W/m/K])")
    stored = load_config(tmp_path / "tc" / "config.toml")
    expected = load_config(template_path("pi1070-tc"))
    assert stored.campaign.name == "tc"
    assert stored.model_copy(update={"campaign": expected.campaign}) == expected
    code, out, _ = _main(["status", "tc", "--dir", str(tmp_path)], capsys)
    assert code == 0 and "measurements 0 of 0 materials" in out


@pytest.mark.parametrize(("extra", "given"), [
    ([], "neither"),
    (["--template", "pi1070-tc", "--config", "x.toml"], "both"),
])
def test_init_needs_exactly_one_of_config_and_template(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], given: str
) -> None:
    code, out, err = _main(["init", "tc", *extra, "--dir", str(tmp_path)], capsys)

    assert code == 2 and out == ""
    assert "Usage: e2t init" in err
    assert (f"Invalid value for '--config' / '--template': give exactly one of them ({given} "
            "given): --template NAME for a shipped campaign file (`e2t templates` lists "
            "them) or --config FILE for your own") in " ".join(err.split())
    assert list(tmp_path.iterdir()) == []


def test_init_with_an_unknown_template_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _main(["init", "tc", "--template", "tc", "--dir", str(tmp_path)], capsys)

    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: unknown template 'tc'; known templates: hoip-bandgap, ")
    assert list(tmp_path.iterdir()) == []


def test_init_template_in_a_real_process_from_any_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("E2T_DATA_DIR", "E2T_HOME")}
    done = subprocess.run([*E2T, "init", "hb", "--template", "hoip-bandgap"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert "created campaign hb" in done.stdout and "band_gap_gga [eV]" in done.stdout
    assert (tmp_path / "e2t-campaigns" / "hb" / "campaign.duckdb").is_file()
