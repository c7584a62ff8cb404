"""Fits with one seed give bit-identical models in different processes.

torch seeds its global generator afresh in every process, and a process may have drawn
from it (or fitted other models) before; neither may change a seeded fit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

import e2t_discovery

#: Fits the GP head (the ``fingerprint`` preset, smaller) on count data of five domains
#: with seed 0 and saves predictions and embeddings. argv: output file, torch seed of the
#: process's own draws, and whether to fit seed 1 on the same data first (which fills the
#: warm-start cache).
SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    from e2t_discovery.model import E2TSurrogate
    from e2t_discovery.model.presets import preset

    out, noise_seed, prefit = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    torch.manual_seed(noise_seed)
    torch.rand(noise_seed % 7 + 1)
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(5), 16)
    rates = rng.uniform(0.05, 1.5, size=(5, 48))
    X = rng.poisson(rates[groups]).astype(float)
    y = X[:, :8].sum(1) - 0.5 * X[:, 8:16].sum(1) + 0.1 * rng.normal(size=groups.size)
    settings = preset("fingerprint", hidden=(16, 16), embed_dim=4, steps=30,
                      eval_every=5, patience=6, n_support=48, n_query=16, device="cpu")
    if prefit:
        E2TSurrogate(**settings, seed=1).fit(X, y, groups, progress=False)
    model = E2TSurrogate(**settings, seed=0).fit(X, y, groups, progress=False)
    mean, std = model.predict(X, return_std=True)
    np.savez(out, mean=mean, std=std, embed=model.embed(X),
             val=np.array([h["val"] for h in model.history]))
""")


def _run(tmp_path: Path, name: str, noise_seed: int, prefit: bool, hash_seed: str) -> dict:
    root = str(Path(e2t_discovery.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONHASHSEED": hash_seed,
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / f"{name}.npz"
    subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(noise_seed),
                    "1" if prefit else "0"], env=env, check=True, timeout=300)
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def test_same_seed_fits_are_identical_across_processes(tmp_path) -> None:
    a = _run(tmp_path, "a", noise_seed=11, prefit=False, hash_seed="1")
    b = _run(tmp_path, "b", noise_seed=24, prefit=True, hash_seed="2")
    assert a["val"].size > 1  # the episodic part ran
    for key in ("mean", "std", "embed", "val"):
        assert a[key].tobytes() == b[key].tobytes(), key
