"""Tests of report.data: ReportData's rules, the setup table, and a report built from a
real campaign's store (directly and through ``e2t report``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from campaign_helpers import logical_content
from campaign_helpers import run_main as _main
from loop_helpers import loop_config, make_campaign

from e2t_discovery.config.schema import CampaignConfig
from e2t_discovery.exceptions import E2TError
from e2t_discovery.featurize.polymer import canonical_psmiles
from e2t_discovery.loop.campaign import DB_NAME, Campaign
from e2t_discovery.report import (
    CampaignTables,
    ReportData,
    StoreReader,
    campaign_report_data,
    campaign_setup,
    data_sources,
    domains_figure,
)
from e2t_discovery.store import TransferSourceRecord

Frames = tuple[pd.DataFrame, pd.DataFrame]


def test_report_data_rejects_bad_objective_and_frames(frames: Frames) -> None:
    m, p = frames
    with pytest.raises(E2TError, match="objective 'up' is not one of"):
        ReportData("c", "y", "u", "up", m, p)
    with pytest.raises(E2TError, match="lacks column"):
        ReportData("c", "y", "u", "maximize", m.drop(columns=["domain"]), p)
    with pytest.raises(E2TError, match="needs target_range"):
        ReportData("c", "y", "u", "range", m, p)


def test_held_back_sets_put_the_proposals_first_and_skip_an_empty_holdout(
        frames: Frames) -> None:
    m, p = frames
    holdout = pd.DataFrame({"y_true": [1.0], "mean": [1.0], "std": [0.1]})
    sets = ReportData("c", "y", "u", "maximize", m, p, holdout=holdout).held_back()
    assert [label for label, _ in sets] == ["proposed, then measured",
                                            "never measured (held back)"]
    assert sets[0][1]["material_id"].tolist() == ["c", "d", "e"]
    empty = ReportData("c", "y", "u", "maximize", m, p.iloc[:0], holdout=holdout.iloc[:0])
    (only,) = empty.held_back()
    assert only[0] == "proposed, then measured" and only[1].empty


def _config(strategy: str = "ucb") -> CampaignConfig:
    return CampaignConfig.from_toml_text(loop_config(strategy, 3, "maximize"))


def test_setup_names_other_strategies_versions_and_libraries_from_frames(
        tmp_path: Path) -> None:
    files = [str(tmp_path / "simulated" / f"round-{r}.csv") for r in (1, 2, 3, 4)]
    measurements = pd.DataFrame({"source_file": [str(tmp_path / "initial.csv")] * 2 + files,
                                 "round": [0, 0, 1, 2, 3, 4]})
    tables = CampaignTables(
        measurements=measurements,
        proposals=pd.DataFrame({"strategy": ["ucb", "ucb", "random"]}),
        models=pd.DataFrame({"version": [1, 2, 3], "kind": ["train", "adapt", "adapt"],
                             "n_measurements": [2, 4, 6]}),
        screen_runs=pd.DataFrame({"id": [1, 2], "library": [str(tmp_path / "lib.csv")] * 2,
                                  "n_rows": [60, 60]}))
    setup = dict(campaign_setup(_config(), tmp_path, tables, holdout_source="labels.csv"))
    assert setup["Strategy"] == "ucb, batch of 3; proposals by ucb (2), random (1)"
    assert setup["Model versions"] == ("3 versions (2 adapt, 1 train); latest v3 (adapt) on "
                                       "6 measurements")
    assert setup["Library"] == "lib.csv (60 candidates, screened 2×)"
    assert setup["Data"] == (
        "initial.csv (round initial, 2 measurements); 4 files round-1.csv … round-4.csv in "
        "simulated/ (rounds 1–4, 4 measurements) — simulated lab: values looked up in a "
        "labelled table (e2t run --simulate-with)")
    assert setup["Held-back table"] == "labels.csv"
    assert data_sources(measurements.iloc[:0], tmp_path) == "no measurements"


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


class _CountingStore:
    """A store that counts the reads a report makes."""

    def __init__(self, store: StoreReader) -> None:
        self.store = store
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def measurements(self, property: str | None = None) -> pd.DataFrame:
        self._count("measurements")
        return self.store.measurements(property)

    def proposals(self, round: int | None = None, status: str | None = None) -> pd.DataFrame:
        self._count("proposals")
        return self.store.proposals(round, status)

    def models(self) -> pd.DataFrame:
        self._count("models")
        return self.store.models()

    def screen_runs(self) -> pd.DataFrame:
        self._count("screen_runs")
        return self.store.screen_runs()

    def transfer_source(self) -> TransferSourceRecord | None:
        self._count("transfer_source")
        return self.store.transfer_source()


def test_report_data_reads_each_store_table_once(campaign_root: Path) -> None:
    with Campaign.open("loop", campaign_root, read_only=True) as c:
        store = _CountingStore(c.store)
        data = campaign_report_data(store, c.config, c.name, c.dir)
    assert store.calls == {"measurements": 1, "proposals": 1, "models": 1, "screen_runs": 1,
                           "transfer_source": 1}
    assert len(data.measurements) == 19 and len(data.proposals) == 3
    assert data.measurements["round"].tolist() == [0] * 16 + [1] * 3


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
            "seed=0, steps=20; fine-tune (100 steps) when a domain reaches 2 "
            "measurements</td>" in setup)
    assert "<th>Model versions</th><td>none trained yet</td>" in setup
    assert ("<th>Representation</th><td>polymer, column smiles (n_bits=2048, radius=3)</td>"
            in setup)
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
