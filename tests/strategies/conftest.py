"""Fixtures for strategy tests: a hand-made candidate frame and a real fitted surrogate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from e2t_discovery.data.datasets import load_pi1070
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.model import E2TSurrogate


@pytest.fixture
def frame() -> pd.DataFrame:
    """Five candidates with known means, stds, distances and domains."""
    return pd.DataFrame({
        "id": ["a", "b", "c", "d", "e"],
        "mean": [1.0, 2.0, 3.0, 0.5, 2.5],
        "std": [1.0, 0.0, 0.1, 2.0, 0.2],
        "domain_distance": [0.1, 0.5, 0.2, 3.0, 0.0],
        "domain": ["A", "A", "B", "C", "C"],
    })


@pytest.fixture(scope="package")
def fitted(data_dir: Path) -> dict[str, object]:
    """A small E2T surrogate fitted on PI1070, with candidate and measured features."""
    torch.set_num_threads(1)
    pi = load_pi1070(data_dir).dropna(subset=["thermal_conductivity"])
    featurizer = get_featurizer("polymer")
    train, pool = pi.iloc[::4].head(150), pi.iloc[2::4].head(120)
    X = featurizer.transform(train["smiles"].tolist())
    y = train["thermal_conductivity"].to_numpy()
    model = E2TSurrogate(steps=30, eval_every=10, device="cpu").fit(
        X, y, groups=train["polymer_class"].to_numpy(), progress=False)
    P = featurizer.transform(pool["smiles"].tolist())
    mean, std = model.predict(P, return_std=True)
    candidates = pd.DataFrame({"id": pool["id"].astype(str).to_numpy(), "mean": mean,
                               "std": std, "domain_distance": model.domain_distance(P),
                               "domain": pool["polymer_class"].astype(str).to_numpy()})
    measured = pd.DataFrame({"id": train["id"].astype(str).to_numpy(),
                             "domain": train["polymer_class"].astype(str).to_numpy(),
                             "value": y})
    return {"model": model, "features": P, "candidates": candidates, "measured": measured,
            "measured_features": X, "rng": np.random.default_rng(0)}
