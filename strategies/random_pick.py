"""``random``: q candidates drawn uniformly without replacement.

When to use: as the baseline every other strategy must beat (enhancement factors are
measured against it), or to seed a campaign with an unbiased sample of the library.
"""

from __future__ import annotations

import pandas as pd

from .base import Choice, Context, Strategy

__all__ = ["RandomPick"]


class RandomPick(Strategy):
    """Uniform random selection (seeded through ``rng``)."""

    name = "random"

    def acquisition_column(self, objective: str) -> tuple[str, float] | None:
        """None: there is no acquisition; ``rank`` is the draw order."""
        return None

    def choose(self, candidates: pd.DataFrame, q: int, ctx: Context) -> list[Choice]:
        """Return ``q`` distinct uniformly drawn positions; acquisition is the draw order."""
        picks = ctx.rng.choice(len(candidates), size=q, replace=False)
        return [Choice(int(i), float(q - k), "uniform random pick")
                for k, i in enumerate(picks)]
