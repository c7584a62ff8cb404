"""The E2T surrogate and its parts.

``E2TSurrogate`` is the model the rest of the package uses; ``SurrogateConfig`` holds its
hyperparameters; ``load_surrogate(dir)`` loads any saved surrogate folder (an
``E2TSurrogate`` or a transfer model). Episodes, heads, encoders, the BoTorch adapter
and the baselines live in the submodules of the same names.
"""

from __future__ import annotations

from e2t_discovery.model.config import SurrogateConfig
from e2t_discovery.model.episodes import EpisodeSampler, cluster_domains
from e2t_discovery.model.loading import load_surrogate
from e2t_discovery.model.surrogate import E2TSurrogate

__all__ = ["E2TSurrogate", "SurrogateConfig", "EpisodeSampler", "cluster_domains",
           "load_surrogate"]
