"""A campaign with a ``[transfer]`` source: init, train, status, screen, propose, run, resume.

The source is PI1070's computed density (a cheap property) for a thermal-conductivity
campaign; the model is tiny, so each fit takes seconds.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from campaign_helpers import run_main, write_composition_config
from loop_helpers import kill_twice_then_finish, loop_config, make_campaign, small_table

from e2t_discovery.data import datasets
from e2t_discovery.loop.campaign import Campaign
from e2t_discovery.loop.rounds import next_round, run_campaign
from e2t_discovery.loop.simulate import LabTable
from e2t_discovery.loop.transfer_source import SOURCE_DIR
from e2t_discovery.model.transfer import TransferModel

PROPERTY = "thermal_conductivity"


def _transfer(kind: str, value: str, method: str = "affine") -> str:
    extra = '\nproperty = "density"\nunit = "none"' if kind == "table" else ""
    return f'\n[transfer]\nmethod = "{method}"\n{kind} = "{value}"{extra}\n'


def _source_table(folder: Path, data_dir: Path, n: int = 120) -> Path:
    """``n`` PI1070 rows with their computed density (and one row that does not parse)."""
    table = datasets.load_pi1070(data_dir)
    rows = table.sample(n, random_state=1)[["id", "smiles", "density", "polymer_class"]]
    bad = pd.DataFrame({"id": ["bad"], "smiles": ["not a polymer"], "density": [1.0],
                        "polymer_class": [1]})
    path = folder / "density.csv"
    pd.concat([rows, bad]).to_csv(path, index=False)
    return path


def make_transfer_campaign(folder: Path, data_dir: Path, *, method: str = "affine",
                           batch: int = 3) -> tuple[Path, Path, Path]:
    """The loop tests' campaign (16 initial measurements) with a density table source.

    Returns:
        ``(campaign root, library csv, labelled table csv)``.
    """
    _source_table(folder, data_dir)
    return make_campaign(folder, data_dir, batch=batch,
                         extra_toml=_transfer("table", "density.csv", method))


def test_a_source_table_is_read_once_and_recorded_with_its_checksum(
        tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, _, _ = make_transfer_campaign(tmp_path, data_dir)
    table = tmp_path / "density.csv"
    digest = hashlib.sha256(table.read_bytes()).hexdigest()
    table.write_text("garbage\n")  # never read again after init
    with Campaign.open("loop", root) as campaign:
        source = campaign.store.transfer_source()
        assert source is not None
        assert (source.kind, source.location, source.sha256) == ("table", str(table), digest)
        assert (source.n_rows, source.n_dropped, source.method) == (120, 1, "affine")
        assert (source.unit, source.factor, source.model_sha256) == ("none", None, None)
        rows = campaign.store.transfer_source_rows()
        densities = datasets.load_pi1070(data_dir).set_index("id")["density"]
        assert len(rows) == 120 and rows["domain"].notna().all()
        assert np.isin(rows["value"], densities.to_numpy()).all()
        record = campaign.train(progress=False)
        transfer = record.metrics["transfer"]
        assert transfer["method"] == "affine" and len(transfer["a"]) == 1
        assert np.isfinite(transfer["b"])
        assert isinstance(campaign.load_model(), TransferModel)
        cached = campaign.store.transfer_source()
        assert cached is not None and cached.model_path == SOURCE_DIR.as_posix()
        assert (campaign.dir / SOURCE_DIR / "source.json").is_file()
        # a second train reuses the cached source model (its checksum is checked)
        campaign.train(progress=False)
        assert campaign.store.transfer_source() == cached
    code, out, _ = run_main(["status", "loop", "--dir", str(root)], capsys)
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("transfer source:"))
    assert line == (f"transfer source: table {table}, property density [none], method "
                    f"affine, sha256 {digest[:12]}, 120 rows (1 dropped), source model "
                    f"fitted")
    with Campaign.open("loop", root, read_only=True) as campaign:
        setup = dict(campaign.report_data().setup)
    assert setup["Transfer source"] == line.removeprefix("transfer source: ")


def test_a_campaign_without_transfer_records_no_source(tmp_path: Path, data_dir: Path) -> None:
    cfg = tmp_path / "plain.toml"
    cfg.write_text(loop_config("ucb", 3, "maximize"))
    with Campaign.create("plain", cfg, tmp_path / "campaigns") as campaign:
        assert campaign.store.transfer_source() is None
        assert campaign.status().transfer_source is None
        assert not (campaign.dir / SOURCE_DIR).exists()


@pytest.mark.parametrize(("source", "message"), [
    ("missing", "transfer.campaign = 'missing' is invalid: there is no campaign missing in "
                "{root}; create it first, or pass the --dir that holds it"),
    ("comp", "transfer.campaign = 'comp' is invalid: campaign comp describes materials as "
             "composition (formula, featurizer {{}}), this campaign as polymer (smiles, "
             "featurizer {{'radius': 3, 'n_bits': 2048}}); a source must describe materials "
             "the same way"),
    ("model", "transfer.model = '{tmp}/no-model' is invalid: no such folder; give a saved "
              "model folder"),
])
def test_a_bad_campaign_or_model_source_fails_init_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, message: str) -> None:
    root = tmp_path / "campaigns"
    with Campaign.create("comp", write_composition_config(tmp_path), root):
        pass
    cfg = tmp_path / "t.toml"
    cfg.write_text(loop_config("ucb", 3, "maximize") + (
        _transfer("model", "no-model") if source == "model" else _transfer("campaign", source)))
    code, _, err = run_main(["init", "target", "--config", str(cfg), "--dir", str(root)],
                            capsys)
    assert (code, err.count("\n")) == (1, 1), err
    assert message.format(root=root, tmp=tmp_path) in err
    assert not (root / "target").exists()


def test_another_campaign_and_a_saved_model_can_be_sources(
        tmp_path: Path, data_dir: Path) -> None:
    root, _, _ = make_transfer_campaign(tmp_path, data_dir)
    with Campaign.open("loop", root) as campaign:
        campaign.train(progress=False)
        n_materials = len(campaign.training_data().frame)
    lab = small_table(data_dir, seed=3).head(6).assign(unit="W/m/K")
    lab.to_csv(tmp_path / "lab.csv", index=False)
    for name, transfer in (("from-campaign", _transfer("campaign", "loop")),
                           ("from-model", _transfer("model", "campaigns/loop/models/v1"))):
        cfg = tmp_path / f"{name}.toml"
        cfg.write_text(loop_config("ucb", 3, "maximize") + transfer)
        with Campaign.create(name, cfg, root) as campaign:
            source = campaign.store.transfer_source()
            assert source is not None
            if name == "from-campaign":
                assert (source.kind, source.property, source.unit) == (
                    "campaign", PROPERTY, "W/m/K")
                assert (source.n_rows, source.factor) == (n_materials, 1.0)
                assert source.model_sha256 is None  # fitted at the first train
            else:  # the saved model is the source model: cached at once
                assert source.kind == "model" and source.model_sha256 is not None
            campaign.ingest(tmp_path / "lab.csv")
            campaign.train(progress=False)
            model = campaign.load_model()
            assert isinstance(model, TransferModel)
            assert model.predict(campaign.featurize(lab["smiles"].tolist())).shape == (6,)


def test_screen_propose_and_two_rounds_use_the_transferred_model(
        tmp_path: Path, data_dir: Path, ray_session: None) -> None:
    root, lib, labels = make_transfer_campaign(tmp_path, data_dir)
    lab = LabTable.from_path(labels, "id", PROPERTY)
    with Campaign.open("loop", root) as campaign:
        campaign.train(progress=False)
        run_id, summary = campaign.screen(lib, workers=1, progress=False)
        assert summary.n_scored > 0
        scores = campaign.store.screen_results(run_id)
        assert scores["domain_distance"].between(0, 1).all()
        X = campaign.featurize(scores["canonical"].astype(str).tolist()[:5])
        np.testing.assert_allclose(scores["mean"].to_numpy()[:5],
                                   campaign.load_model().predict(X), rtol=1e-4, atol=1e-6)
        batch = campaign.propose(q=2)
        assert len(batch) == 2 and batch["out_of_domain"].notna().all()
        out = run_campaign(campaign, 2, simulate_with=lab, library=lib, workers=1)
        assert out.completed == 2 and out.waiting_for is None
        models = campaign.store.models()
        assert models["kind"].tolist()[0] == "train"
        assert set(models["kind"].tolist()[1:]) <= {"condition", "adapt"}
        latest = campaign.models.latest()
        # the model followed the lab's answers (adapt step of round 2)
        assert latest is not None and latest.n_measurements > 16
        assert len(campaign.store.measurements(PROPERTY)) > latest.n_measurements
        adapted = [campaign.store.model_version(int(v)) for v in models["version"]]
        for record in adapted:
            assert record is not None
            if record.kind == "adapt":  # affine refits when a domain is fine-tune-ready
                assert record.metrics["adapt_mode"] == "refit"
        assert isinstance(campaign.load_model(), TransferModel)


def test_a_source_model_left_by_a_killed_fit_is_fitted_again(
        tmp_path: Path, data_dir: Path) -> None:
    root, _, _ = make_transfer_campaign(tmp_path, data_dir)
    with Campaign.open("loop", root) as campaign:
        partial = campaign.dir / SOURCE_DIR
        partial.mkdir(parents=True)
        (partial / "source.json").write_text("{")  # killed mid-save: never recorded
        campaign.train(progress=False)
        source = campaign.store.transfer_source()
        assert source is not None and source.model_sha256 is not None
        (campaign.dir / SOURCE_DIR / "source.json").write_text("{}")  # edited afterwards
        with pytest.raises(Exception, match="source model of campaign loop .* is missing or "
                                            "was modified"):
            campaign.train(progress=False)


def test_a_crash_mid_round_resumes_like_any_campaign(
        tmp_path: Path, data_dir: Path, ray_session: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    root, lib, labels = make_transfer_campaign(tmp_path, data_dir)
    lab = LabTable.from_path(labels, "id", PROPERTY)
    with Campaign.open("loop", root) as campaign:
        real = campaign.store.mark_step_done

        def crashing(round: int, step: str, info: dict | None = None) -> None:
            if round == 2 and step == "propose":
                raise KeyboardInterrupt("simulated crash")
            real(round, step, info)

        monkeypatch.setattr(campaign.store, "mark_step_done", crashing)
        with pytest.raises(KeyboardInterrupt, match="simulated crash"):
            run_campaign(campaign, 2, simulate_with=lab, library=lib, workers=1)
        monkeypatch.setattr(campaign.store, "mark_step_done", real)
        assert next_round(campaign.store) == 2
        out = run_campaign(campaign, 2, simulate_with=lab, library=lib, workers=1)
        assert out.completed == 2
        props = campaign.store.proposals()
        assert len(props) == 6 and not props["material_id"].duplicated().any()
        assert (props["status"] == "measured").all()
        assert len(campaign.store.measurements(PROPERTY)) == 16 + 6


@pytest.mark.slow
def test_a_killed_transfer_run_resumes(tmp_path: Path, data_dir: Path) -> None:
    """SIGKILL `e2t run` on a transfer campaign (also mid source fit), run it again."""
    root, lib, labels = make_transfer_campaign(tmp_path, data_dir)
    cmd = [sys.executable, "-c", "from e2t_discovery.cli import main; main()", "run", "loop",
           "--rounds", "3", "--simulate-with", str(labels), "--library", str(lib),
           "--workers", "1", "--dir", str(root)]
    done = kill_twice_then_finish(cmd, low_s=5.0, high_s=25.0)
    assert done.returncode == 0, done.stderr
    with Campaign.open("loop", root, read_only=True) as campaign:
        props = campaign.store.proposals()
        assert len(props) == 9 and not props["material_id"].duplicated().any()
        assert (props["status"] == "measured").all()
        assert len(campaign.store.measurements(PROPERTY)) == 16 + 9
        assert isinstance(campaign.load_model(), TransferModel)


@pytest.mark.parametrize(("method", "mode"), [("finetune", "fine-tune"),
                                              ("multitask", "condition")])
def test_every_method_trains_and_follows_new_measurements(
        tmp_path: Path, data_dir: Path, method: str, mode: str) -> None:
    root, _, labels = make_transfer_campaign(tmp_path, data_dir, method=method)
    table = pd.read_csv(labels, dtype={"id": str})
    new = table[table["polymer_class"] == 13].head(3).assign(unit="W/m/K")
    new.to_csv(tmp_path / "new.csv", index=False)
    with Campaign.open("loop", root) as campaign:
        assert campaign.train(progress=False).metrics["transfer"]["method"] == method
        campaign.ingest(tmp_path / "new.csv")
        update = campaign.update_model()  # class 13 reaches the threshold (2): fine-tune plan
        assert (update["update"], update["trigger_domains"]) == ("adapt", ["13"])
        record = campaign.models.latest()
        assert record is not None and record.metrics["adapt_mode"] == mode
        model = campaign.load_model()
        assert isinstance(model, TransferModel) and model.y.size == 16 + 3
        pred = model.predict(campaign.featurize(new["smiles"].tolist()))
        assert np.abs(pred - new[PROPERTY].to_numpy()).max() < 0.2


def test_auto_records_its_choice_and_keeps_it_when_measurements_land(
        tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, _, labels = make_transfer_campaign(tmp_path, data_dir, method="auto")
    table = pd.read_csv(labels, dtype={"id": str})
    table[table["polymer_class"] == 13].head(3).assign(unit="W/m/K").to_csv(
        tmp_path / "new.csv", index=False)
    with Campaign.open("loop", root) as campaign:
        transfer = campaign.train(progress=False).metrics["transfer"]
        selection = transfer["selection"]
        assert selection["chosen"] == transfer["method"] in ("affine", "finetune")
        assert set(selection["cv_rmse"]) == {"affine", "finetune"}
        assert selection["n_labels"] == 16
        campaign.ingest(tmp_path / "new.csv")
        campaign.update_model()
        model = campaign.load_model()
        assert isinstance(model, TransferModel) and model.method == selection["chosen"]
        assert model.selection == selection and model.y.size == 16 + 3
    # status and the report name the choice and the candidates' scores
    code, out, _ = run_main(["status", "loop", "--dir", str(root)], capsys)
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("transfer source:"))
    assert (f"method auto (chose {selection['chosen']}; cv RMSE affine "
            f"{selection['cv_rmse']['affine']:.4g}, finetune ") in line
    with Campaign.open("loop", root, read_only=True) as campaign:
        assert dict(campaign.report_data().setup)["Transfer source"] == \
            line.removeprefix("transfer source: ")
