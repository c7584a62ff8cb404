"""Tests for the campaign report: summaries and plots on hand-computable frames, the page of
a real campaign through the CLI, and the page rendered as a picture."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from campaign_helpers import logical_content
from campaign_helpers import run_main as _main
from loop_helpers import make_campaign

from e2t_discovery.exceptions import E2TError
from e2t_discovery.featurize.polymer import canonical_psmiles
from e2t_discovery.loop.campaign import DB_NAME, Campaign
from e2t_discovery.report import (
    MAX_DOMAIN_ROWS,
    ReportData,
    axis_label,
    best_so_far,
    best_so_far_figure,
    campaign_report_data,
    domain_counts,
    domains_figure,
    interval_coverage,
    parity_figure,
    prediction_metrics,
    prospective_predictions,
    round_summary,
    write_report,
)


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    measurements = pd.DataFrame({
        "material_id": ["a", "b", "c", "d", "e"],
        "value": [1.0, 3.0, 2.0, 5.0, 4.0],
        "round": [0, 0, 1, 1, 2],
        "domain": ["x", "y", "z", "z", "w"],
    })
    proposals = pd.DataFrame({
        "round": [1, 1, 2, 2],
        "material_id": ["c", "d", "e", "f"],
        "strategy": ["ucb"] * 4,
        "mean": [2.0, 3.0, 4.0, 0.0],
        "std": [1.0, 1.0, 0.1, 1.0],
        "acquisition": [4.0, 5.0, 4.2, 2.0],
        "domain": ["z", "z", "w", "v"],
        "status": ["measured", "measured", "measured", "proposed"],
    })
    return measurements, proposals


def test_best_so_far_follows_objective() -> None:
    values = np.array([1.0, 3.0, 2.0, 5.0, 0.5])
    best, arg = best_so_far(values, "maximize")
    assert best.tolist() == [1.0, 3.0, 3.0, 5.0, 5.0]
    assert arg.tolist() == [0, 1, 1, 3, 3]
    best, _ = best_so_far(values, "minimize")
    assert best.tolist() == [1.0, 1.0, 1.0, 1.0, 0.5]
    best, _ = best_so_far(values, "range", (2.5, 3.5))
    assert best.tolist() == [1.0, 3.0, 3.0, 3.0, 3.0]


def test_round_summary_counts_best_and_batch_rmse() -> None:
    m, p = _frames()
    s = round_summary(m, p, "maximize")
    assert s["round"].tolist() == [0, 1, 2]
    assert s["measurements"].tolist() == [2, 4, 5]
    assert s["best"].tolist() == [3.0, 5.0, 5.0]
    assert s["best_domain"].tolist() == ["y", "z", "z"]
    assert np.isnan(s["batch_rmse"].iloc[0])
    # round 1: errors 0 and -2 -> sqrt(2); round 2: error 0
    assert s["batch_rmse"].iloc[1] == pytest.approx(np.sqrt(2.0))
    assert s["batch_rmse"].iloc[2] == pytest.approx(0.0)


def test_prospective_predictions_only_measured_proposals() -> None:
    m, p = _frames()
    pred = prospective_predictions(m, p)
    assert pred["material_id"].tolist() == ["c", "d", "e"]
    assert pred["y_true"].tolist() == [2.0, 5.0, 4.0]


def test_interval_coverage_on_known_z_scores() -> None:
    pred = pd.DataFrame({"mean": [0.0, 0.0, 0.0, 0.0], "std": [1.0] * 4,
                         "y_true": [0.5, -1.5, 2.5, 0.0]})
    cov = interval_coverage(pred, [0.6827, 0.9545, 0.999])
    assert cov.tolist() == pytest.approx([0.5, 0.75, 1.0])


def test_report_data_rejects_bad_objective_and_frames() -> None:
    m, p = _frames()
    with pytest.raises(E2TError, match="objective 'up' is not one of"):
        ReportData("c", "y", "u", "up", m, p)
    with pytest.raises(E2TError, match="lacks column"):
        ReportData("c", "y", "u", "maximize", m.drop(columns=["domain"]), p)
    with pytest.raises(E2TError, match="needs target_range"):
        ReportData("c", "y", "u", "range", m, p)


def test_write_report_writes_page_and_plots(tmp_path) -> None:  # type: ignore[no-untyped-def]
    m, p = _frames()
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


# ----------------------------------------------------------------- the page a scientist reads


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Close the figures a test drew (the *_figure functions leave them open)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _data(**kw: object) -> ReportData:
    m, p = _frames()
    return ReportData("c", "thermal_conductivity", "W/m/K", "maximize", m, p, **kw)  # type: ignore[arg-type]


def test_axis_labels_are_words_with_the_unit() -> None:
    assert axis_label("thermal_conductivity", "W/m/K") == "Thermal conductivity (W/m/K)"
    assert axis_label("band_gap_gga", "eV") == "Band gap GGA (eV)"
    assert axis_label("Cp", "J/kg/K") == "Cp (J/kg/K)"
    assert axis_label("density", "") == "Density"
    data = _data(holdout=pd.DataFrame({"y_true": [1.0, 2.0], "mean": [1.1, 1.8],
                                       "std": [0.2, 0.2]}))
    fig = best_so_far_figure(data)
    assert fig.axes[0].get_ylabel() == "Thermal conductivity (W/m/K)"
    fig = parity_figure(data)
    assert fig.axes[0].get_xlabel() == "measured: Thermal conductivity (W/m/K)"
    assert fig.axes[0].get_ylabel() == "predicted: Thermal conductivity (W/m/K), ±1 std"


def test_best_so_far_is_initial_best_then_one_step_per_round() -> None:
    fig = best_so_far_figure(_data(reference_best=6.0))
    ax = fig.axes[0]
    (best,) = [ln for ln in ax.lines if ln.get_gid() == "best_so_far"]
    # rounds 0, 1, 2 end after 2, 4, 5 measurements: no point inside the initial data
    assert best.get_xdata().tolist() == [2.0, 4.0, 5.0]
    assert best.get_ydata().tolist() == [3.0, 5.0, 5.0]
    assert best.get_drawstyle() == "steps-post"
    boundaries = sorted(ln.get_xdata()[0] for ln in ax.lines if ln.get_gid() == "round_boundary")
    assert boundaries == [2.5, 4.5]
    (star,) = [ln for ln in ax.lines if ln.get_label().startswith("initial best")]
    assert (star.get_xdata().tolist(), star.get_ydata().tolist()) == ([2.0], [3.0])
    assert star.get_label() == "initial best (3)"
    top = [a for a in fig.axes[0].child_axes]
    assert [t.get_text() for t in top[0].get_xticklabels()] == ["init", "1", "2"]


def test_minimize_steps_down_and_a_campaign_without_initial_data_has_no_star() -> None:
    m, p = _frames()
    m = m.assign(round=[1, 1, 2, 2, 3])
    fig = best_so_far_figure(ReportData("c", "band_gap_gga", "eV", "minimize", m, p))
    ax = fig.axes[0]
    (best,) = [ln for ln in ax.lines if ln.get_gid() == "best_so_far"]
    assert best.get_ydata().tolist() == [1.0, 1.0, 1.0]
    assert not [ln for ln in ax.lines if ln.get_label().startswith("initial best")]


def test_domain_counts_sorted_by_first_round_then_natural_order() -> None:
    m = pd.DataFrame({"material_id": list("abcdefg"), "value": np.arange(7.0),
                      "round": [0, 0, 0, 1, 1, 2, 2],
                      "domain": ["10", "2", "2", "13", "3", "10", "(none)"]})
    counts = domain_counts(m)
    assert counts.index.tolist() == ["2", "10", "3", "13", "(none)"]
    assert counts.columns.tolist() == [0, 1, 2]
    assert counts.loc["2"].tolist() == [2, 0, 0]
    assert counts.loc["10"].tolist() == [1, 0, 1]
    p = _frames()[1]
    fig = domains_figure(ReportData("c", "y", "u", "maximize", m, p))
    ax = fig.axes[0]
    (image,) = ax.images  # a heatmap, not stacked bars
    assert not ax.patches
    assert np.ma.filled(image.get_array(), 0).tolist() == counts.to_numpy().tolist()
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "2  (2)", "10  (2)", "3  (1)", "13  (1)", "(none)  (1)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["initial", "1", "2"]


def test_domain_heatmap_folds_the_tail_into_one_row() -> None:
    n = MAX_DOMAIN_ROWS + 5
    m = pd.DataFrame({"material_id": [f"m{i}" for i in range(n)],
                      "value": np.arange(n, dtype=float), "round": 0,
                      "domain": [str(i) for i in range(n)]})
    ax = domains_figure(ReportData("c", "y", "u", "maximize", m, _frames()[1])).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == MAX_DOMAIN_ROWS
    assert labels[-1] == "other (6 domains)  (6)"


def test_prediction_metrics_on_hand_computed_values() -> None:
    pred = pd.DataFrame({"y_true": [1.0, 2.0, 3.0, 4.0], "mean": [1.0, 2.0, 4.0, 3.0]})
    s = prediction_metrics(pred)
    assert s["n"] == 4
    assert s["rmse"] == pytest.approx(np.sqrt(0.5))
    assert s["r2"] == pytest.approx(1 - 2 / 5)  # SS_res 2, SS_tot 5
    assert s["spearman"] == pytest.approx(0.8)  # 1 - 6*2 / (4*15)
    worse = prediction_metrics(pred.assign(mean=[4.0, 3.0, 2.0, 1.0]))
    assert worse["r2"] == pytest.approx(1 - 20 / 5) and worse["spearman"] == pytest.approx(-1)
    one = prediction_metrics(pred.head(1))
    assert np.isnan(one["r2"]) and np.isnan(one["spearman"])
    flat = prediction_metrics(pred.assign(mean=2.0))
    assert np.isnan(flat["spearman"]) and not np.isnan(flat["r2"])


def test_page_shows_r2_and_spearman_of_each_held_back_set(tmp_path) -> None:  # type: ignore[no-untyped-def]
    holdout = pd.DataFrame({"y_true": [1.0, 2.0, 3.0, 4.0], "mean": [1.0, 2.0, 4.0, 3.0],
                            "std": [0.5] * 4})
    text = write_report(_data(holdout=holdout), tmp_path / "r").read_text()
    assert "<th class=''>R²</th><th class=''>Spearman ρ</th>" in text
    # proposals c, d, e: measured 2, 5, 4, predicted 2, 3, 4 -> R² = 1 - 4/(14/3), ρ = 0.5
    assert ("<td class='l'>proposals, predicted before they were measured</td><td class=''>3"
            "</td><td class=''>1.155</td><td class=''>0.1429</td><td class=''>0.5</td>") in text
    assert ("<td class='l'>never measured (held-back table)</td><td class=''>4</td>"
            "<td class=''>0.7071</td><td class=''>0.6</td><td class=''>0.8</td>") in text
    legend = [t.get_text() for t in parity_figure(_data(holdout=holdout)).axes[0]
              .get_legend().get_texts()]
    assert legend == ["proposed, then measured\nn=3, RMSE=1.155, R²=0.143, Spearman ρ=0.5",
                      "never measured (held back)\nn=4, RMSE=0.7071, R²=0.6, Spearman ρ=0.8"]
    # units in the table headers, round 0 named
    assert "best so far (W/m/K)" in text and "RMSE on batch (W/m/K)" in text
    assert "<td class='l'>initial</td>" in text


def test_page_without_held_back_data_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    m, p = _frames()
    text = write_report(ReportData("c", "y", "u", "maximize", m, p.iloc[:0]),
                        tmp_path / "r").read_text()
    assert "No held-back data yet." in text
    assert "<h2>Setup</h2>" not in text  # nothing to show without a campaign


def test_write_report_refuses_a_file_as_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(E2TError, match=r"report folder .*taken is an existing file; pass a "
                                        r"folder"):
        write_report(_data(), target)
    with pytest.raises(E2TError, match=r"cannot create report folder .*sub"):
        write_report(_data(), target / "sub")
    assert target.read_text() == "x"


# ----------------------------------------------------------------- a real campaign, real CLI


def _measure_round(root: Path, labels: Path, ids: list[str], lab: Path) -> None:
    """Record three ucb proposals for round 1 and ingest their lab results from ``lab``."""
    table = pd.read_csv(labels, dtype={"id": str}).set_index("id").loc[ids].reset_index()
    with Campaign.open("loop", root) as c:
        c.store.add_materials(pd.DataFrame({
            "id": ids, "kind": "polymer",
            "canonical": [canonical_psmiles(x) for x in table["smiles"]],
            "domain": table["polymer_class"].astype(str)}), origin="library")
        c.store.add_proposals(pd.DataFrame({
            "material_id": ids, "mean": table["thermal_conductivity"] + 0.01, "std": 0.02,
            "acquisition": [3.0, 2.0, 1.0], "domain": table["polymer_class"].astype(str),
            "reason": "test"}), round=1, strategy="ucb")
        table.assign(unit="W/m/K").to_csv(lab, index=False)
        c.ingest(lab, round=1)


@pytest.fixture
def campaign_root(tmp_path: Path, data_dir: Path) -> Path:
    root, _, labels = make_campaign(tmp_path, data_dir)
    table = pd.read_csv(labels, dtype={"id": str})
    ids = table[table["polymer_class"] == 13]["id"].head(3).tolist()
    _measure_round(root, labels, ids, tmp_path / "lab-round1.csv")
    return root


def test_campaign_page_names_strategy_model_and_data(campaign_root: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rep"
    code, stdout, _ = _main(["report", "loop", "--out", str(out), "--dir", str(campaign_root)],
                            capsys)
    assert code == 0, stdout
    assert "best (W/m/K)" in stdout
    text = (out / "index.html").read_text()
    setup = text.split("<h2>Setup</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<th>Strategy</th><td>ucb, batch of 3</td>" in setup
    assert ("<th>Model settings</th><td>ensemble=1, eval_every=10, n_query=16, n_support=32, "
            "seed=0, steps=20; fine-tune when a domain reaches 2 measurements</td>" in setup)
    assert "<th>Model versions</th><td>none trained yet</td>" in setup
    assert "<th>Representation</th><td>polymer, column smiles</td>" in setup
    assert "<th>Domains</th><td>the values of column polymer_class</td>" in setup
    assert (f"<th>Data</th><td>{tmp_path / 'initial.csv'} (round initial, 16 measurements); "
            f"{tmp_path / 'lab-round1.csv'} (round 1, 3 measurements)</td>") in setup
    assert "<th>Library</th><td>not screened yet</td>" in setup
    assert "Held-back table" not in setup
    for png in ("best_so_far.png", "domains.png", "parity.png", "calibration.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    with Campaign.open("loop", campaign_root, read_only=True) as c:
        data = campaign_report_data(c.store, c.config, c.name, c.dir)
    assert data.domain_name == "Polymer class"
    assert domains_figure(data).axes[0].get_ylabel() == "Polymer class  (measurements)"


def test_report_rejects_bad_input_with_one_line_and_leaves_the_store(
        campaign_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = campaign_root / "loop" / DB_NAME
    before = logical_content(db)
    taken = tmp_path / "taken.txt"
    taken.write_text("keep")
    out = tmp_path / "never"
    cases = [
        (["report", "loop", "--out", str(taken)], 1,
         f"error: report folder {taken} is an existing file; pass a folder for index.html "
         f"and the plots (it is created if missing)"),
        (["report", "loop", "--out", str(out), "--holdout", str(tmp_path / "nope.csv")], 1,
         f"error: --holdout table {tmp_path / 'nope.csv'} does not exist; pass a labelled "
         f"CSV or Parquet file with the campaign's id and target columns"),
        (["report", "ghost", "--out", str(out)], 1, "error: no campaign ghost"),
    ]
    for args, want_code, want in cases:
        code, _, err = _main([*args, "--dir", str(campaign_root)], capsys)
        assert code == want_code, (args, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(want), (args, err)
    code, _, err = _main(["report", "loop", "--dir", str(campaign_root)], capsys)
    assert code == 2 and "Missing option '--out'" in err
    assert taken.read_text() == "keep" and not out.exists()
    assert logical_content(db) == before


def test_report_of_a_campaign_without_measurements_is_one_line(
        campaign_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Campaign.create("empty", tmp_path / "loop.toml", campaign_root):
        pass
    before = logical_content(campaign_root / "empty" / DB_NAME)
    code, _, err = _main(["report", "empty", "--out", str(tmp_path / "r"), "--dir",
                          str(campaign_root)], capsys)
    assert code == 1
    assert err.strip() == ("error: campaign empty has no measurements to report; ingest "
                           "some first")
    assert logical_content(campaign_root / "empty" / DB_NAME) == before


# ----------------------------------------------------------------- the page as a picture

CHROMIUM = Path("/usr/bin/chromium")
RENDER = Path(__file__).resolve().parents[1] / "scripts" / "render_report.py"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)")
def test_render_script_draws_the_page(tmp_path: Path) -> None:
    index = write_report(_data(), tmp_path / "r")
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
