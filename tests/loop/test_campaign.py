"""The Campaign object: folders, training real E2T surrogates, versions, predictions, status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from campaign_helpers import PROPERTY, pi1070_lab_frame, write_polymer_config

from e2t_discovery.config.schema import load_config
from e2t_discovery.exceptions import (
    ConfigError,
    FeaturizationError,
    ModelError,
    NotFittedError,
    StoreBusyError,
    StoreError,
)
from e2t_discovery.loop.campaign import DB_NAME, Campaign
from e2t_discovery.loop.models import artifact_sha256
from e2t_discovery.model import E2TSurrogate


@pytest.fixture
def campaign(tmp_path: Path, data_dir: Path) -> Iterator[Campaign]:
    """A polymer campaign holding 100 PI1070 measurements."""
    with Campaign.create("pi", write_polymer_config(tmp_path), root=tmp_path / "c") as c:
        lab = tmp_path / "lab.csv"
        pi1070_lab_frame(data_dir, 0, 100).to_csv(lab, index=False)
        c.ingest(lab)
        yield c


def test_create_writes_folder_config_and_store(tmp_path: Path) -> None:
    config = write_polymer_config(tmp_path)
    with Campaign.create("alpha", config, root=tmp_path / "c") as c:
        assert c.dir == tmp_path / "c" / "alpha"
        assert c.config.campaign.name == "alpha"  # the given name replaces the file's
        assert (c.dir / DB_NAME).is_file()
        assert load_config(c.dir / "config.toml") == c.config
        assert c.log_path == c.dir / "logs" / "e2t.log"
    with Campaign.open("alpha", root=tmp_path / "c", read_only=True) as again:
        assert again.config == c.config
        assert again.store.read_only


def test_create_and_open_errors(tmp_path: Path) -> None:
    config = write_polymer_config(tmp_path)
    Campaign.create("alpha", config, root=tmp_path).close()
    with pytest.raises(StoreError, match="campaign alpha already exists"):
        Campaign.create("alpha", config, root=tmp_path)
    with pytest.raises(StoreError, match="no campaign beta in .*; create it with `e2t init beta"):
        Campaign.open("beta", root=tmp_path)
    with pytest.raises(ConfigError, match="campaign name 'a/b' is invalid"):
        Campaign.create("a/b", config, root=tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        Campaign.create("gamma", tmp_path / "none.toml", root=tmp_path)


def test_open_while_another_writer_holds_it_is_busy(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = write_polymer_config(tmp_path)
    Campaign.create("alpha", config, root=tmp_path).close()
    hold = ("import sys,time\nfrom e2t_discovery.loop.campaign import Campaign\n"
            "c = Campaign.open('alpha', root=sys.argv[1])\nprint('ok', flush=True)\n"
            "time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"
        with pytest.raises(StoreBusyError, match="campaign alpha is busy"):
            Campaign.open("alpha", root=tmp_path, timeout_s=0.3)
    finally:
        proc.kill()
        proc.wait()


def test_training_data_averages_replicates(campaign: Campaign, tmp_path: Path,
                                           data_dir: Path) -> None:
    first = pi1070_lab_frame(data_dir, 0, 1)
    again = first.assign(**{PROPERTY: first[PROPERTY] + 0.1})
    again.to_csv(tmp_path / "again.csv", index=False)
    campaign.ingest(tmp_path / "again.csv", replicate=True)
    data = campaign.training_data()
    assert data.n_measurements == 101
    assert len(data.frame) == 100
    row = data.frame.set_index("material_id").loc[first["id"].iloc[0]]
    assert row["n"] == 2
    assert row["value"] == pytest.approx(first[PROPERTY].iloc[0] + 0.05)
    snap = data.snapshot()
    assert snap["n_materials"] == 100 and sum(snap["domains"].values()) == 100


def test_train_records_a_version_that_loads_and_predicts(campaign: Campaign,
                                                         data_dir: Path) -> None:
    record = campaign.train(progress=False)
    assert (record.version, record.parent_version, record.kind) == (1, None, "train")
    assert record.n_measurements == 100
    path = campaign.dir / record.artifact_path
    assert artifact_sha256(path) == record.artifact_sha256
    assert record.snapshot["n_materials"] == 100
    assert record.metrics["train_rmse"] >= 0 and record.metrics["noise_std"] > 0

    model = campaign.load_model()
    candidates = pi1070_lab_frame(data_dir, 300, 12)
    out = campaign.predict_frame(candidates[["id", "smiles", "polymer_class"]])
    assert list(out.columns) == ["id", "smiles", "domain", "mean", "std", "domain_distance",
                                 "out_of_domain", "reject_reason"]
    assert (out["reject_reason"] == "").all()
    assert list(out["id"]) == list(candidates["id"])
    assert list(out["domain"]) == [str(v) for v in candidates["polymer_class"]]
    X = campaign.featurize(list(candidates["smiles"]))
    mean, std = model.predict(X, return_std=True)
    np.testing.assert_allclose(out["mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(out["std"], std, rtol=1e-6)
    assert (out["std"] > 0).all() and (out["domain_distance"] >= 0).all()

    second = campaign.train(progress=False)
    assert second.version == 2
    assert campaign.load_model(1) is not None
    assert campaign.store.latest_model() == second


def test_modified_or_missing_artifacts_are_refused(campaign: Campaign) -> None:
    with pytest.raises(NotFittedError, match="has no trained model; run `e2t train pi`"):
        campaign.load_model()
    record = campaign.train(progress=False)
    with pytest.raises(ModelError, match="has no model version 7"):
        campaign.load_model(7)
    victim = next((campaign.dir / record.artifact_path).glob("*.json"))
    victim.write_text(victim.read_text() + " ")
    with pytest.raises(ModelError, match="was modified; run `e2t train pi` again"):
        campaign.load_model()


def test_save_model_records_lineage(campaign: Campaign) -> None:
    first = campaign.train(progress=False)
    model = campaign.load_model()
    data = campaign.training_data()
    child = campaign.models.save(model.condition(campaign.featurize(["*CCN*"]), [0.3]),
                                kind="condition", parent_version=first.version, data=data,
                                metrics={"n_new": 1})
    assert (child.version, child.parent_version, child.kind) == (2, 1, "condition")
    assert isinstance(campaign.load_model(2), E2TSurrogate)
    assert campaign.load_model(2).n_support == model.n_support


def test_clustering_domains_train(tmp_path: Path, data_dir: Path) -> None:
    config = write_polymer_config(tmp_path, clustering=True)
    with Campaign.create("cl", config, root=tmp_path / "c") as c:
        lab = pi1070_lab_frame(data_dir, 0, 60).drop(columns=["polymer_class"])
        lab.to_csv(tmp_path / "lab.csv", index=False)
        c.ingest(tmp_path / "lab.csv")
        assert c.store.materials()["domain"].isna().all()
        record = c.train(progress=False)
        assert record.snapshot["domains"] == {"(none)": 60}
        out = c.predict_frame(lab.iloc[:3])
        assert out["domain"].isna().all() and np.isfinite(out["mean"]).all()


def test_predict_errors(campaign: Campaign, tmp_path: Path) -> None:
    campaign.train(progress=False)
    with pytest.raises(FeaturizationError,
                       match=r"^column 'smiles' is missing \(found: id\); add the polymer of "
                             r"each candidate in that column$"):
        campaign.predict_frame(pd.DataFrame({"id": ["x"]}))
    (tmp_path / "in.csv").write_text("id,SMILES\na,*CC*\n")
    with pytest.raises(FeaturizationError,
                       match=rf"^{tmp_path / 'in.csv'}: column 'smiles' is missing \(found: "
                             rf"id, SMILES; closest: 'SMILES'\); rename 'SMILES' to 'smiles'$"):
        campaign.predict_file(tmp_path / "in.csv", tmp_path / "out.csv")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(FeaturizationError, match="not a readable CSV/Excel/Parquet file"):
        campaign.predict_file(bad, tmp_path / "out.csv")
    with pytest.raises(FeaturizationError, match=r"is a folder, not a file; give one CSV"):
        campaign.predict_file(tmp_path, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_predict_keeps_bad_rows_with_a_reject_reason(campaign: Campaign, tmp_path: Path,
                                                     data_dir: Path) -> None:
    campaign.train(progress=False)
    good = pi1070_lab_frame(data_dir, 300, 4)[["id", "smiles", "polymer_class"]]
    frame = pd.concat([good.iloc[:2], pd.DataFrame({
        "id": ["bad1", "bad2"], "smiles": ["not smiles", ""], "polymer_class": [7, 8]}),
        good.iloc[2:]], ignore_index=True)
    out = campaign.predict_frame(frame)
    assert list(out["id"]) == list(frame["id"])
    assert list(out["reject_reason"]) == ["", "", "invalid polymer input: not a parsable "
                                          "SMILES", "invalid polymer input: empty p-SMILES",
                                          "", ""]
    rejected = out["reject_reason"] != ""
    assert out.loc[rejected, ["mean", "std", "domain_distance"]].isna().all().all()
    alone = campaign.predict_frame(good.reset_index(drop=True))
    np.testing.assert_allclose(out.loc[~rejected, "mean"], alone["mean"], rtol=1e-6)
    np.testing.assert_allclose(out.loc[~rejected, "std"], alone["std"], rtol=1e-6)
    assert list(out["domain"]) == [str(v) for v in frame["polymer_class"]]
    # a file: semicolons, an Excel workbook; rejected rows are kept in the output
    frame.to_csv(tmp_path / "in.csv", sep=";", index=False)
    written = campaign.predict_file(tmp_path / "in.csv", tmp_path / "p.csv")
    back = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert list(back["reject_reason"]) == list(out["reject_reason"])
    assert back.loc[2, "mean"] == "" and float(back.loc[0, "mean"]) == pytest.approx(
        written.loc[0, "mean"])
    frame.to_excel(tmp_path / "in.xlsx", index=False)
    from_excel = campaign.predict_file(tmp_path / "in.xlsx", tmp_path / "q.parquet")
    pd.testing.assert_frame_equal(from_excel, pd.read_parquet(tmp_path / "q.parquet"))
    assert list(from_excel["reject_reason"]) == list(out["reject_reason"])


def test_predict_file_writes_csv_and_parquet(campaign: Campaign, tmp_path: Path,
                                             data_dir: Path) -> None:
    campaign.train(progress=False)
    frame = pi1070_lab_frame(data_dir, 200, 5)[["id", "smiles"]]
    frame.to_parquet(tmp_path / "in.parquet")
    csv = campaign.predict_file(tmp_path / "in.parquet", tmp_path / "p.csv")
    pq = campaign.predict_file(tmp_path / "in.parquet", tmp_path / "p.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "p.parquet"), pq)
    np.testing.assert_allclose(pd.read_csv(tmp_path / "p.csv")["mean"], csv["mean"])


def test_status_counts_and_best_per_domain(campaign: Campaign, data_dir: Path) -> None:
    status = campaign.status()
    lab = pi1070_lab_frame(data_dir, 0, 100)
    assert status.counts == {"measurements": 100, "measured_materials": 100,
                             "materials": 100, "files": 1}
    assert status.last_model is None and status.current_round == 0
    top = lab.loc[lab[PROPERTY].idxmax()]
    assert status.best == {"material_id": top["id"], "domain": str(top["polymer_class"]),
                           "value": pytest.approx(top[PROPERTY])}
    expected = lab.groupby("polymer_class")[PROPERTY].max()
    got = status.best_per_domain.set_index("domain")["value"]
    assert {k: pytest.approx(v) for k, v in got.items()} == \
        {str(k): pytest.approx(v) for k, v in expected.items()}
    assert status.best_per_domain["n"].sum() == 100


def test_export_writes_tables(campaign: Campaign, tmp_path: Path) -> None:
    campaign.train(progress=False)
    written = campaign.export(tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == sorted([f"{t}{s}" for t in ("measurements", "proposals", "materials",
                                                "models") for s in (".parquet", ".csv")]
                           + ["config.toml"])
    measurements = pd.read_parquet(tmp_path / "out" / "measurements.parquet")
    assert len(measurements) == 100
    assert len(pd.read_csv(tmp_path / "out" / "models.csv")) == 1
    assert load_config(tmp_path / "out" / "config.toml") == campaign.config
