"""Adaptation on ingest: how the surrogate follows new measurements.

Two tiers, decided by :func:`plan_update`:

1. **condition** (always): the new measurements join the Bayesian head's support set; no
   gradient step, so it takes about as long as one prediction.
2. **fine-tune** (when a domain receives its first few measurements): once a domain that
   was below ``threshold`` measurements reaches it, the encoder is fine-tuned with a small
   learning rate on episodes that mix that domain with the source data
   (:meth:`E2TSurrogate.adapt` on the new measurements, whose episodes draw the support
   from the source data).

The policy is pure: it looks at domain counts before and after, so the closed loop
(:mod:`e2t_discovery.loop.rounds`) and the in-process benchmarks
(:mod:`e2t_discovery.loop.simulate`)
make the same decisions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from e2t_discovery.exceptions import ConfigError

if TYPE_CHECKING:
    from e2t_discovery.config.schema import ModelConfig

__all__ = ["AdaptPolicy", "UpdatePlan", "plan_update", "apply_update"]


@dataclass(frozen=True)
class AdaptPolicy:
    """When and how hard to fine-tune.

    Attributes:
        threshold: A domain triggers fine-tuning when its measurement count first reaches
            this value (0 disables fine-tuning: condition only).
        steps: Gradient steps of one fine-tuning.
        lr: Learning rate of fine-tuning (small: the paper fine-tunes gently).
    """

    threshold: int = 5
    steps: int = 100
    lr: float = 1e-4

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise ConfigError(f"adapt threshold {self.threshold} must be >= 0 (0 disables)")
        if self.steps < 1:
            raise ConfigError(f"adapt steps {self.steps} must be >= 1")
        if not self.lr > 0:
            raise ConfigError(f"adapt lr {self.lr} must be > 0")

    @classmethod
    def of(cls, config: ModelConfig) -> AdaptPolicy:
        """The policy a campaign's ``[model]`` table sets (``adaptation_threshold``,
        ``adaptation_steps``)."""
        return cls(threshold=config.adaptation_threshold, steps=config.adaptation_steps)


@dataclass(frozen=True)
class UpdatePlan:
    """What to do with a batch of new measurements.

    Attributes:
        fine_tune: True if the encoder is to be fine-tuned.
        trigger_domains: Domains that reached the threshold with this batch.
    """

    fine_tune: bool
    trigger_domains: tuple[str, ...]


def plan_update(before: Iterable[object], new: Iterable[object],
                policy: AdaptPolicy) -> UpdatePlan:
    """Decide between condition-only and fine-tuning.

    Args:
        before: Domain label of every measurement the current model has seen.
        new: Domain label of every new measurement.
        policy: The adaptation policy.

    Returns:
        The plan: fine-tune iff some domain goes from below ``threshold`` to at least it.
    """
    if policy.threshold == 0:
        return UpdatePlan(False, ())
    seen = Counter(str(d) for d in before)
    added = Counter(str(d) for d in new)
    ready = sorted(d for d, k in added.items()
                   if seen[d] < policy.threshold <= seen[d] + k)
    return UpdatePlan(bool(ready), tuple(ready))


def apply_update(model, X_new: Any, y_new: np.ndarray, groups_new: np.ndarray,  # type: ignore[no-untyped-def]
                 plan: UpdatePlan, policy: AdaptPolicy):
    """Carry out a plan on a fitted surrogate.

    Both paths add the new measurements to the surrogate's support set (the surrogate
    keeps what it saw before), so only the new rows are passed.

    Args:
        model: A fitted surrogate with ``condition(X, y)`` and ``adapt(X, y, groups, ...)``.
        X_new: ``m x d`` features (or ``m`` crystal graphs) of the new measurements.
        y_new: ``(m,)`` their values.
        groups_new: ``(m,)`` their domain labels (used by fine-tuning episodes).
        plan: From :func:`plan_update`.
        policy: The adaptation policy.

    Returns:
        The updated model (the surrogate updates itself in place and returns itself).
    """
    if len(y_new) == 0:
        return model
    if plan.fine_tune:
        return model.adapt(X_new, y_new, groups=groups_new, steps=policy.steps, lr=policy.lr)
    return model.condition(X_new, y_new)
