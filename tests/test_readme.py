"""The README's promises: CI runs its test command exactly as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_ci_runs_the_readme_test_command_literally() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [b.strip() for b in _bash_blocks(quick)]
    assert len(commands) == 2, "Quick start shows one install-and-run and one test command"
    test_command = commands[1]
    assert "pytest" in test_command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def _section(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _clean_env() -> dict[str, str]:
    """The environment of a new user: no data folder, no campaign home, venv on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("E2T_DATA_DIR", "E2T_HOME")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _loop_block() -> str:
    (block,) = [b for b in _bash_blocks(_section("The closed loop"))
                if "e2t run tc" in b and "python - <<'PY'" in b]
    return block


def test_quick_start_runs_the_demo_without_a_data_folder() -> None:
    install = _bash_blocks(_section("Quick start"))[0].strip()

    assert install.endswith('pip install -e ".[dev]" && e2t demo')
    assert "E2T_DATA_DIR" not in install


def test_every_file_the_loop_example_uses_is_made_by_its_snippet(tmp_path: Path) -> None:
    from e2t_discovery.loop.simulate import LabTable

    block = _loop_block()
    (snippet,) = re.findall(r"python - <<'PY'\n(.*?)\nPY\n", block, flags=re.S)
    commands = block.split("\nPY\n", 1)[1]
    used = set(re.findall(r"\b[\w.]+\.csv\b", commands))
    assert used == {"initial.csv", "PI1070_labelled.csv", "library.csv"}

    done = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=_clean_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert used <= {p.name for p in tmp_path.iterdir()}

    labelled = pd.read_csv(tmp_path / "PI1070_labelled.csv")
    initial = pd.read_csv(tmp_path / "initial.csv")
    library = pd.read_csv(tmp_path / "library.csv")
    assert len(labelled) == 1070 and set(initial["id"]) <= set(labelled["id"])
    assert labelled["thermal_conductivity"].notna().all() and set(labelled["unit"]) == {"W/m/K"}
    assert sorted(initial["polymer_class"].unique()) == [2, 4, 7, 9, 15]
    assert len(initial) == 50 and list(library.columns) == ["id", "smiles", "polymer_class"]
    assert set(library["id"]) == set(labelled["id"])
    LabTable.from_path(tmp_path / "PI1070_labelled.csv", "id", "thermal_conductivity")

    env = _clean_env()
    for line in [c for c in commands.splitlines() if c.startswith(("e2t init", "e2t ingest"))]:
        step = subprocess.run(line.split(), cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert step.returncode == 0, (line, step.stderr)
    assert "ingested 50 measurements of 50 rows (50 new materials) into tc" in step.stdout


@pytest.mark.slow
def test_the_loop_example_runs_literally(tmp_path: Path) -> None:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", _loop_block()], cwd=tmp_path,
                          env=_clean_env(), capture_output=True, text=True, timeout=3000)

    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "report" / "index.html").is_file()
    status = subprocess.run(["e2t", "status", "tc"], cwd=tmp_path, env=_clean_env(),
                            capture_output=True, text=True, timeout=300)
    assert "round 5" in status.stdout or "round 6" in status.stdout, status.stdout


def _transfer_block() -> str:
    (block,) = [b for b in _bash_blocks(_section("Starting from computed data"))
                if "python - <<'PY'" in b]
    return block


def test_the_transfer_example_writes_every_file_it_uses(tmp_path: Path) -> None:
    from e2t_discovery.config.schema import load_config

    block = _transfer_block()
    (snippet,) = re.findall(r"python - <<'PY'\n(.*?)\nPY\n", block, flags=re.S)
    commands = block.split("\nPY\n", 1)[1]
    assert set(re.findall(r"\b[\w.-]+\.(?:csv|toml)\b", commands)) == {
        "hoip-hse06.toml", "hse06_lab.csv", "pbi.csv", "pbi_hse06.csv"}
    done = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=_clean_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    source = pd.read_csv(tmp_path / "hoip_gga.csv")
    lab = pd.read_csv(tmp_path / "hse06_lab.csv")
    pbi = pd.read_csv(tmp_path / "pbi.csv")
    assert len(source) == 1345 and source["band_gap_gga"].notna().all()
    assert len(lab) == 20 and lab["band_gap_hse06"].notna().all()
    assert not lab["id"].isin(pbi["id"]).any() and len(pbi) == 117
    config = load_config(tmp_path / "hoip-hse06.toml")
    assert config.target.property == "band_gap_hse06"
    assert config.transfer is not None and config.transfer.kind == "table"
    assert config.transfer.table == str(tmp_path / "hoip_gga.csv")


@pytest.mark.slow
def test_the_transfer_example_runs_as_written(tmp_path: Path) -> None:
    """The whole block, literally: init, ingest, train, status, predict on Pb-I."""
    env = {**_clean_env(), "E2T_HOME": str(tmp_path / "home")}
    done = subprocess.run(["bash", "-e", "-c", _transfer_block()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr
    assert "transfer source: table " in done.stdout
    pred = pd.read_csv(tmp_path / "pbi_hse06.csv")
    truth = pd.read_csv(tmp_path / "pbi.csv")
    assert len(pred) == 117 and pred["reject_reason"].isna().all()
    rmse = float(((pred["mean"] - truth["band_gap_hse06"]) ** 2).mean() ** 0.5)
    assert rmse < 0.3, rmse  # the benchmark: 0.098 eV at 20 labels; no transfer: 0.54
