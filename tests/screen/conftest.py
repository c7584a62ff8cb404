"""Fixtures for screening tests: PI1070 candidates with bad rows, a small saved model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch

from e2t_discovery.data.datasets import load_pi1070
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.model import E2TSurrogate

#: The bad candidates mixed into :func:`candidates`: id -> p-SMILES.
BAD = {"B1": "not a smiles", "B2": "*CC", "B3": "*C(*)(*)C"}


@pytest.fixture(scope="session")
def bad() -> dict[str, str]:
    """The bad candidates of :func:`candidates` (id -> p-SMILES)."""
    return dict(BAD)


@pytest.fixture(scope="session")
def pi(data_dir: Path) -> pd.DataFrame:
    """PI1070 with thermal conductivity."""
    return load_pi1070(data_dir).dropna(subset=["thermal_conductivity"])


@pytest.fixture(scope="session")
def model_dir(pi: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small E2T surrogate fitted on 200 polymers, saved to disk."""
    torch.set_num_threads(1)
    train = pi.iloc[::5].head(200)
    X = get_featurizer("polymer").transform(train["smiles"].tolist())
    model = E2TSurrogate(steps=30, eval_every=10, device="cpu").fit(
        X, train["thermal_conductivity"].to_numpy(), groups=train["polymer_class"].to_numpy(),
        progress=False)
    path = tmp_path_factory.mktemp("model")
    model.save(path)
    return path


@pytest.fixture(scope="session")
def candidates(pi: pd.DataFrame) -> pd.DataFrame:
    """230 candidates: 227 PI1070 polymers (unordered spellings kept) and 3 bad rows."""
    good = pi.iloc[1::4].head(227)
    frame = pd.DataFrame({"id": good["id"].astype(str), "smiles": good["smiles"],
                          "domain": good["polymer_class"].astype(str)})
    bad = pd.DataFrame({"id": list(BAD), "smiles": list(BAD.values()), "domain": "x"})
    return pd.concat([frame.iloc[:50], bad, frame.iloc[50:]], ignore_index=True)


@pytest.fixture(scope="session")
def write_shards() -> Callable[[pd.DataFrame, Path, int], Path]:
    """Write a frame as shards ``part-000.parquet``... of ``size`` rows; return the folder."""

    def write(frame: pd.DataFrame, folder: Path, size: int) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for k, start in enumerate(range(0, len(frame), size)):
            frame.iloc[start:start + size].to_parquet(folder / f"part-{k:03d}.parquet",
                                                      index=False)
        return folder

    return write
