"""The one base of our BoTorch ``Model`` adapters: a single, unbatched output.

Every adapter (the E2T surrogate's, the transfer models', the strategies' marginal and
indexed-joint models) is a one-target, unbatched BoTorch ``Model``; only ``posterior``
differs.
"""

from __future__ import annotations

import torch
from botorch.models.model import Model

__all__ = ["SingleOutputModel"]


class SingleOutputModel(Model):
    """A BoTorch ``Model`` with one output and no batch dimensions."""

    @property
    def num_outputs(self) -> int:
        """One target."""
        return 1

    @property
    def batch_shape(self) -> torch.Size:
        """Not batched."""
        return torch.Size([])
