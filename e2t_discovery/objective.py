"""The campaign's objective as one value: which direction is better, and how to score.

``Objective("maximize")``, ``Objective("minimize")`` or ``Objective("range", low, high)``
(bring the property into ``[low, high]``). Everything that ranks values — the screen's
cheap acquisition, the strategies, the report's best-so-far, ``e2t status`` — asks this
object instead of comparing direction strings itself:

- :meth:`Objective.score`: larger-is-better score of values (minus the distance to the
  range for ``range``);
- :meth:`Objective.ucb`: optimistic score of predictions, ``N(mean, std²)``;
- :meth:`Objective.screen_acquisition`: the screen's cheap acquisition (UCB, or for a
  range the probability of landing inside it);
- :attr:`Objective.sign`: the factor that turns the target into a quantity to maximize,
  for strategies that rank by a signed target (not defined for ``range``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from e2t_discovery.exceptions import ConfigError

__all__ = ["DIRECTIONS", "RANKED_DIRECTIONS", "Objective"]

Direction = Literal["maximize", "minimize", "range"]

#: Every direction an objective may have.
DIRECTIONS: tuple[str, ...] = ("maximize", "minimize", "range")
#: Directions a strategy can rank a signed target by.
RANKED_DIRECTIONS: tuple[str, ...] = ("maximize", "minimize")


@dataclass(frozen=True)
class Objective:
    """Which values are better.

    Attributes:
        direction: ``maximize``, ``minimize`` or ``range``.
        low: Lower end of the wanted range (``range`` only).
        high: Upper end of the wanted range (``range`` only).
    """

    direction: Direction = "maximize"
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        """Check the direction and the bounds (ConfigError naming the fix)."""
        if self.direction not in DIRECTIONS:
            raise ConfigError(f"objective {self.direction!r} is not one of "
                              f"{', '.join(DIRECTIONS)}")
        if self.direction == "range":
            if self.low is None or self.high is None or not self.low < self.high:
                raise ConfigError(f"direction 'range' needs low < high; got low={self.low}, "
                                  f"high={self.high}")
        elif self.low is not None or self.high is not None:
            raise ConfigError(f"low/high apply only to direction 'range', not "
                              f"{self.direction!r}; remove them")

    @classmethod
    def of(cls, value: Any) -> Objective:
        """Return ``value`` as an Objective (an Objective, a direction, or ``[objective]``).

        Accepts anything with ``direction``/``low``/``high`` attributes (the campaign
        file's ``[objective]`` section).
        """
        if isinstance(value, Objective):
            return value
        if isinstance(value, str):
            return cls(value)  # type: ignore[arg-type]
        return cls(value.direction, getattr(value, "low", None), getattr(value, "high", None))

    @property
    def maximize(self) -> bool:
        """True when larger values are better (``range``: the :meth:`score` is maximized)."""
        return self.direction != "minimize"

    @property
    def ranked(self) -> bool:
        """True when a strategy can rank by a signed target (``maximize``/``minimize``)."""
        return self.direction in RANKED_DIRECTIONS

    @property
    def sign(self) -> float:
        """``+1`` to maximize, ``-1`` to minimize: ``sign * y`` is to be maximized.

        Raises:
            ConfigError: for ``range`` (no sign turns it into a maximization).
        """
        if not self.ranked:
            raise ConfigError("objective 'range' has no sign: strategies rank by maximize/"
                              "minimize; set direction accordingly")
        return 1.0 if self.direction == "maximize" else -1.0

    def score(self, values: Any) -> Any:
        """Larger-is-better score of values (``range``: minus the distance to the range).

        A scalar in gives a float out; an array gives a float64 array.
        """
        v = np.asarray(values, dtype=np.float64)
        if self.direction == "maximize":
            out = v
        elif self.direction == "minimize":
            out = -v
        else:
            assert self.low is not None and self.high is not None
            out = -np.maximum(0.0, np.maximum(self.low - v, v - self.high))
        return float(out) if out.ndim == 0 else out

    def ucb(self, mean: Any, std: Any, beta: float) -> np.ndarray:
        """Optimistic score of ``N(mean, std²)`` predictions (larger is better).

        ``maximize``: ``mean + beta·std``; ``minimize``: ``-mean + beta·std``; ``range``:
        minus the distance between ``[mean - beta·std, mean + beta·std]`` and the range.
        """
        m = np.asarray(mean, dtype=np.float64)
        s = np.asarray(std, dtype=np.float64)
        if self.direction == "range":
            assert self.low is not None and self.high is not None
            return -np.maximum(0.0, np.maximum(self.low - (m + beta * s),
                                               (m - beta * s) - self.high))
        return self.sign * m + beta * s

    def probability_in_range(self, mean: Any, std: Any) -> np.ndarray:
        """Probability that the value lies in ``[low, high]`` under ``N(mean, std²)``."""
        from scipy.special import ndtr

        if self.direction != "range":
            raise ConfigError(f"objective {self.direction!r} has no range; use score/ucb")
        assert self.low is not None and self.high is not None
        m = np.asarray(mean, dtype=np.float64)
        safe = np.maximum(np.asarray(std, dtype=np.float64), 1e-12)
        return np.asarray(ndtr((self.high - m) / safe) - ndtr((self.low - m) / safe))

    def screen_acquisition(self, mean: Any, std: Any, beta: float) -> np.ndarray:
        """The screen's cheap acquisition: UCB, or for ``range`` the in-range probability."""
        if self.direction == "range":
            return self.probability_in_range(mean, std)
        return self.ucb(mean, std, beta)

    def best_so_far(self, values: Any) -> tuple[np.ndarray, np.ndarray]:
        """Running best value and the position it was reached at, in measurement order."""
        v = np.asarray(values, dtype=np.float64)
        score = np.atleast_1d(self.score(v))
        best = np.empty(len(v))
        arg = np.empty(len(v), dtype=int)
        cur = -1
        for i, s in enumerate(score):
            if cur < 0 or s > score[cur]:
                cur = i
            best[i] = v[cur]
            arg[i] = cur
        return best, arg
