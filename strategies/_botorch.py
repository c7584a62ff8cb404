"""Helpers shared by the BoTorch-backed strategies (tensors, best value, row matching)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from e2t_discovery.exceptions import StrategyError
from e2t_discovery.model.protocol import JointPosterior

__all__ = ["as_tensor", "botorch_model", "match_rows"]


def as_tensor(array: np.ndarray) -> torch.Tensor:
    """Return a float64 CPU tensor of an array (BoTorch works in double precision)."""
    return torch.tensor(np.asarray(array, dtype=np.float64))


def botorch_model(model: Any, name: str) -> Any:
    """Return ``model.to_botorch()`` or raise StrategyError naming the strategy."""
    if not isinstance(model, JointPosterior):
        raise StrategyError(f"strategy {name!r} needs a model with a joint posterior "
                            f"(model.protocol.JointPosterior: posterior, to_botorch, "
                            f"noise_std); got {type(model).__name__}")
    return model.to_botorch()


def match_rows(chosen: torch.Tensor, choices: torch.Tensor) -> list[int]:
    """Map each chosen row back to a distinct row index of ``choices``.

    Identical feature rows (e.g. stereo-isomers) map to distinct indices in order.

    Args:
        chosen: ``q x d`` rows returned by an optimizer.
        choices: ``k x d`` rows it chose from.
    """
    used: set[int] = set()
    out = []
    for row in chosen:
        hits = torch.nonzero((choices == row).all(dim=-1)).flatten().tolist()
        free = [h for h in hits if h not in used]
        if not free:
            raise AssertionError("optimizer returned a row that is not among the choices")
        used.add(free[0])
        out.append(free[0])
    return out
