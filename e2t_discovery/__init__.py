"""e2t-discovery: active-learning materials discovery with an E2T meta-learner."""

from __future__ import annotations

from e2t_discovery.exceptions import E2TError

__all__ = ["E2TError", "__version__"]

__version__ = "0.1.0"
