"""Tests of pure scoring: acquisition values, score_batch, domains from elements."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from e2t_discovery.exceptions import ScreenError
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.featurize.polymer import canonical_psmiles
from e2t_discovery.model import E2TSurrogate
from e2t_discovery.screen.scoring import (
    REJECT_COLUMNS,
    SCORE_COLUMNS,
    ScoreSettings,
    acquisition_values,
    score_batch,
)


def test_acquisition_values_by_objective():
    mean, std = np.array([1.0, 2.0]), np.array([0.5, 0.0])
    assert acquisition_values(mean, std, beta=2.0).tolist() == [2.0, 2.0]
    assert acquisition_values(mean, std, beta=1.0, objective="minimize").tolist() == [-0.5,
                                                                                     -2.0]
    inside = acquisition_values(mean, std, objective="range", low=0.0, high=1.5)
    np.testing.assert_allclose(inside, [norm.cdf(1.0) - norm.cdf(-2.0), 0.0], atol=1e-12)
    with pytest.raises(ScreenError, match="unknown objective 'up'"):
        acquisition_values(mean, std, objective="up")


def test_score_batch_scores_valid_rows_and_rejects_bad_ones(model_dir, candidates, bad):
    model = E2TSurrogate.load(model_dir)
    featurizer = get_featurizer("polymer")
    scored, rejects = score_batch(candidates, model, featurizer, item_column="smiles",
                                  beta=1.5, file="lib.csv", first_row=101)
    assert tuple(scored.columns) == SCORE_COLUMNS
    assert tuple(rejects.columns) == REJECT_COLUMNS
    assert set(rejects["id"]) == set(bad)
    # the bad rows are the batch's rows 51-53, i.e. data rows 151-153 of lib.csv
    assert rejects["row"].tolist() == [151, 152, 153]
    assert set(rejects["file"]) == {"lib.csv"}
    reasons = dict(zip(rejects["id"], rejects["reason"], strict=True))
    assert "parsable" in reasons["B1"] and "exactly 2" in reasons["B2"]
    good = candidates[~candidates["id"].isin(bad)]
    assert scored["id"].tolist() == good["id"].tolist()
    X = featurizer.transform(good["smiles"].tolist())
    mean, std = model.predict(X, return_std=True)
    np.testing.assert_allclose(scored["mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(scored["std"], std, rtol=1e-6)
    np.testing.assert_allclose(scored["domain_distance"], model.domain_distance(X), rtol=1e-6)
    np.testing.assert_allclose(scored["acquisition"], mean + 1.5 * std, rtol=1e-6)
    assert scored["canonical"].tolist() == [canonical_psmiles(s) for s in good["smiles"]]
    assert scored["domain"].tolist() == good["domain"].tolist()


def test_domains_from_elements_for_compositions(data_dir):
    from e2t_discovery.data.datasets import load_hoip

    hoip = load_hoip(data_dir).iloc[::10].head(80)
    featurizer = get_featurizer("composition")
    X = featurizer.transform(hoip["formula"].tolist())
    model = E2TSurrogate(steps=10, eval_every=5, device="cpu").fit(
        X, hoip["band_gap_gga"].to_numpy(), progress=False)
    batch = pd.DataFrame({"id": ["x1", "x2", "x3"],
                          "formula": ["CH3NH3PbI3", "CsGeF3", "not a formula"]})
    scored, rejects = score_batch(batch, model, featurizer, item_column="formula",
                                  element_groups=[["Ge", "Sn", "Pb"], ["F", "Cl", "Br", "I"]],
                                  objective="minimize")
    assert scored["domain"].tolist() == ["Pb-I", "Ge-F"]
    assert rejects["id"].tolist() == ["x3"]
    np.testing.assert_allclose(scored["acquisition"], -scored["mean"] + 2 * scored["std"])


def test_scorer_in_process_scores_like_score_batch(model_dir, candidates):
    from e2t_discovery.screen.scoring import Scorer

    settings = ScoreSettings(kind="polymer", item_column="smiles", beta=0.5)
    scorer = Scorer.in_process(model_dir, settings)
    scored, rejects = scorer.score_here(candidates.head(60), "lib.parquet", 11)
    serial, serial_rejects = score_batch(candidates.head(60), E2TSurrogate.load(model_dir),
                                         get_featurizer("polymer"), item_column="smiles",
                                         beta=0.5, file="lib.parquet", first_row=11)
    pd.testing.assert_frame_equal(scored, serial)
    pd.testing.assert_frame_equal(rejects, serial_rejects)
    assert rejects["row"].tolist() == [61, 62, 63]


def test_settings_to_json_drops_nan():
    settings = ScoreSettings(kind="composition", item_column="formula", low=float("nan"),
                             high=1.0, element_groups=[["Pb"]])
    data = settings.to_json()
    assert data["low"] is None and data["high"] == 1.0
    assert list(data) == ["kind", "item_column", "featurizer_params", "domain_column",
                          "element_groups", "canonical", "beta", "objective", "low", "high"]
