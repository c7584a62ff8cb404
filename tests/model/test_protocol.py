"""E2TSurrogate satisfies the Surrogate protocol the rest of the package programs against."""

from __future__ import annotations

import numpy as np

from e2t_discovery.model import E2TSurrogate
from e2t_discovery.model.protocol import Surrogate


def test_every_head_satisfies_the_protocol() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = X[:, 0] + 0.1 * rng.normal(size=40)
    groups = np.repeat(["a", "b", "c", "d"], 10)
    for head in ("gp", "bayes"):
        model = E2TSurrogate(head=head, embed_dim=4, hidden=(8,), steps=4, n_support=16,
                             n_query=8, seed=0).fit(X, y, groups, progress=False)
        assert isinstance(model, Surrogate), head
        mean, std, dist = model.predict_with_distance(X[:3])
        assert mean.shape == std.shape == dist.shape == (3,)
