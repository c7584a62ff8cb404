"""The built wheel on its own: a new venv, no data folder, no source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Upper bound on the wheel (code + embedded data, ~1.2 MB of it xz): keep the package small.
MAX_WHEEL_BYTES = 3_000_000


def _run(args: list[str | Path], timeout: int, **kwargs: object) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
    return done


def _package_folders() -> dict[str, Path]:
    """Every folder the wheel must ship as a package, by import name."""
    folders = {"e2t_discovery.strategies": ROOT / "strategies"}
    folders |= {".".join(d.relative_to(ROOT).parts): d
                for d in [ROOT / "e2t_discovery", *(ROOT / "e2t_discovery").rglob("*")]
                if d.is_dir() and d.name != "__pycache__"}
    folders |= {f"e2t_discovery.strategies.{'.'.join(d.relative_to(ROOT / 'strategies').parts)}": d
                for d in (ROOT / "strategies").rglob("*")
                if d.is_dir() and d.name != "__pycache__"}
    return folders


def test_pyproject_lists_every_package_folder():
    """`packages` is a list (strategies/ is mapped by `package-dir`): keep it complete."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"e2t_discovery.strategies": "strategies"}
    assert sorted(setuptools["packages"]) == sorted(_package_folders())


@pytest.mark.slow
def test_wheel_runs_demo_init_and_loaders_from_a_new_venv(tmp_path: Path) -> None:
    wheels = tmp_path / "whl"
    _run([sys.executable, "-m", "pip", "wheel", ROOT, "-w", wheels, "--no-deps", "-q"], 900)
    (wheel,) = wheels.glob("e2t_discovery-*.whl")
    assert wheel.stat().st_size < MAX_WHEEL_BYTES
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("data/PI1070.csv.xz", "data/PI1070.LICENSE", "data/SHA256SUMS",
                    "data/README.md", "data/hoip/hoip.csv.xz", "data/hoip/structures.tar.xz",
                    "data/hoip/LICENSE", "campaigns/pi1070-tc.toml",
                    "campaigns/pi1070-demo.toml", "campaigns/hoip-bandgap.toml",
                    "store/migrations/0001_init.sql"):
        assert f"e2t_discovery/{shipped}" in names, shipped
    assert not any(name.startswith(("tests/", "scripts/", "campaigns/", "strategies/"))
                   for name in names)
    shipped_strategies = {f"e2t_discovery/strategies/{p.name}"
                          for p in (ROOT / "strategies").glob("*.py")}
    assert len(shipped_strategies) > 8 and shipped_strategies <= names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], 300)
    pip = venv / "bin" / "pip"
    _run([pip, "install", "-q", "torch==2.13.0"], 1800)
    _run([pip, "install", "-q", wheel], 1800)

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("E2T_DATA_DIR", "E2T_HOME", "XDG_CACHE_HOME", "PYTHONPATH")}
    env["HOME"] = str(tmp_path / "home")  # an empty user cache
    e2t = venv / "bin" / "e2t"
    demo = _run([e2t, "demo", "--rounds", "2"], 1800, cwd=work, env=env)
    assert "found " in demo.stdout and "top-1% polymers" in demo.stdout
    assert (work / "e2t-campaigns" / "pi1070-demo" / "report" / "index.html").is_file()
    init = _run([e2t, "init", "x", "--template", "pi1070-tc"], 300, cwd=work, env=env)
    assert "created campaign x" in init.stdout
    listed = _run([e2t, "templates"], 300, cwd=work, env=env)
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        "hoip-bandgap", "pi1070-demo", "pi1070-tc"]
    check = ("import e2t_discovery, e2t_discovery.data.datasets as d; "
             "print(e2t_discovery.__file__); h = d.load_hoip(); print(len(h), h.cif_path[0])")
    loaded = _run([venv / "bin" / "python", "-c", check], 600, cwd=work, env=env)
    where, line = loaded.stdout.splitlines()
    assert where.startswith(str(venv))  # the installed copy, not the source tree
    assert line.startswith(f"1345 {tmp_path / 'home' / '.cache' / 'e2t-discovery'}")
    check = ("import e2t_discovery.strategies as s; print(s.__file__); print(s.available()); "
             "print(s.get('ucb').select(__import__('pandas').DataFrame("
             "{'id': ['a', 'b'], 'mean': [0.0, 1.0], 'std': [1.0, 0.0]}), 1)['id'][0])")
    loaded = _run([venv / "bin" / "python", "-c", check], 600, cwd=work, env=env)
    where, names_line, picked = loaded.stdout.splitlines()
    assert where == str(next((venv / "lib").glob("python3*")) / "site-packages" /
                         "e2t_discovery" / "strategies" / "__init__.py")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "entry-points"]["e2t_discovery.strategies"]
    assert names_line == str(sorted(declared))  # every built-in the metadata declares
    assert picked == "a"  # ucb, beta 2: 0 + 2 * 1 beats 1 + 0
