"""Tests of report.html: the page's tables and files, and the page rendered as a picture."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2t_discovery.exceptions import E2TError
from e2t_discovery.report import ReportData, write_report

Frames = tuple[pd.DataFrame, pd.DataFrame]
MakeData = Callable[..., ReportData]


def test_write_report_writes_page_and_plots(frames: Frames, tmp_path: Path) -> None:
    m, p = frames
    holdout = pd.DataFrame({"y_true": [1.0, 2.0], "mean": [1.1, 1.8], "std": [0.2, 0.2]})
    index = write_report(ReportData("demo<1>", "tc", "W/m/K", "maximize", m, p,
                                    holdout=holdout, reference_best=6.0), tmp_path / "r")
    text = index.read_text()
    assert "demo&lt;1&gt;" in text
    for name in ("best_so_far.png", "parity.png", "calibration.png", "domains.png"):
        png = tmp_path / "r" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"src='{name}'" in text
    # the proposal table lists the unmeasured proposal too
    assert "<td class='l'>f</td>" in text


def test_page_shows_r2_and_spearman_of_each_held_back_set(make_data: MakeData,
                                                          tmp_path: Path) -> None:
    holdout = pd.DataFrame({"y_true": [1.0, 2.0, 3.0, 4.0], "mean": [1.0, 2.0, 4.0, 3.0],
                            "std": [0.5] * 4})
    text = write_report(make_data(holdout=holdout), tmp_path / "r").read_text()
    assert "<th class=''>R²</th><th class=''>Spearman ρ</th>" in text
    # proposals c, d, e: measured 2, 5, 4, predicted 2, 3, 4 -> R² = 1 - 4/(14/3), ρ = 0.5
    assert ("<td class='l'>proposals, predicted before they were measured</td><td class=''>3"
            "</td><td class=''>1.155</td><td class=''>0.1429</td><td class=''>0.5</td>") in text
    assert ("<td class='l'>never measured (held-back table)</td><td class=''>4</td>"
            "<td class=''>0.7071</td><td class=''>0.6</td><td class=''>0.8</td>") in text
    # units in the table headers, round 0 named
    assert "best so far (W/m/K)" in text and "RMSE on batch (W/m/K)" in text
    assert "<td class='l'>initial</td>" in text


def test_page_without_held_back_data_says_so(frames: Frames, tmp_path: Path) -> None:
    m, p = frames
    text = write_report(ReportData("c", "y", "u", "maximize", m, p.iloc[:0]),
                        tmp_path / "r").read_text()
    assert "No held-back data yet." in text
    assert "<h2>Setup</h2>" not in text  # nothing to show without a campaign


def test_write_report_refuses_a_file_as_folder(make_data: MakeData, tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(E2TError, match=r"report folder .*taken is an existing file; pass a "
                                        r"folder"):
        write_report(make_data(), target)
    with pytest.raises(E2TError, match=r"cannot create report folder .*sub"):
        write_report(make_data(), target / "sub")
    assert target.read_text() == "x"


# ----------------------------------------------------------------- the page as a picture

CHROMIUM = Path("/usr/bin/chromium")
RENDER = Path(__file__).resolve().parents[2] / "scripts" / "render_report.py"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)")
def test_render_script_draws_the_page(make_data: MakeData, tmp_path: Path) -> None:
    index = write_report(make_data(), tmp_path / "r")
    png = tmp_path / "page.png"
    done = subprocess.run([sys.executable, str(RENDER), str(index), "--out", str(png),
                           "--width", "900"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{png}: 900x")
    from PIL import Image

    with Image.open(png) as img:
        rgb = np.asarray(img.convert("RGB"))
    assert rgb.shape[1] == 900 and 600 < rgb.shape[0] < 9000  # cropped to the page
    assert (rgb < 128).any(axis=2).mean() > 0.005  # text and plots were drawn
    missing = subprocess.run([sys.executable, str(RENDER), str(tmp_path / "no.html"), "--out",
                              str(tmp_path / "x.png")], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (f"error: report page {tmp_path / 'no.html'} does not "
                                      f"exist; write it with `e2t report NAME --out DIR`")
