"""Acquisition strategies, found by name: ``strategies.get(name, **params)``.

Built-in strategies (one module each; the module docstring says when to use it):
``greedy``, ``ucb``, ``logei``, ``qlognei``, ``thompson``, ``random``, ``ood-ucb``,
``new-domain`` and ``domain-bayes``. A lab adds its own by registering a :class:`Strategy`
subclass under the entry-point group ``e2t_discovery.strategies`` in its package metadata::

    [project.entry-points."e2t_discovery.strategies"]
    my-strategy = "my_lab.strategies:MyStrategy"
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from e2t_discovery.exceptions import StrategyError
from e2t_discovery.messages import did_you_mean
from e2t_discovery.param_types import parameter_types
from e2t_discovery.strategies.base import Choice, Context, Strategy

__all__ = [
    "Strategy", "Context", "Choice", "StrategyError", "get", "available", "strategy_class",
    "ENTRY_POINT_GROUP",
]

ENTRY_POINT_GROUP = "e2t_discovery.strategies"

#: Built-in strategies (also declared as entry points in pyproject.toml).
BUILTINS: dict[str, str] = {
    "greedy": "e2t_discovery.strategies.greedy:Greedy",
    "ucb": "e2t_discovery.strategies.ucb:UCB",
    "logei": "e2t_discovery.strategies.logei:LogEI",
    "qlognei": "e2t_discovery.strategies.qlognei:QLogNEI",
    "thompson": "e2t_discovery.strategies.thompson:Thompson",
    "random": "e2t_discovery.strategies.random_pick:RandomPick",
    "ood-ucb": "e2t_discovery.strategies.ood_ucb:OODUCB",
    "new-domain": "e2t_discovery.strategies.new_domain:NewDomain",
    "domain-bayes": "e2t_discovery.strategies.domain_bayes:DomainBayes",
}


def _registry() -> dict[str, str]:
    """Built-ins plus every strategy registered under the entry-point group."""
    found = dict(BUILTINS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def available() -> list[str]:
    """Return the names of all known strategies, sorted."""
    return sorted(_registry())


def _load(name: str, target: str) -> type[Strategy]:
    """Import ``module:Class`` and check it is a Strategy subclass."""
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise StrategyError(f"strategy {name!r} is registered as {target!r}, which cannot "
                            f"be imported ({exc}); fix or uninstall the plugin") from exc
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyError(f"strategy {name!r} ({target}) is not a Strategy subclass")
    return cls


def strategy_class(name: str) -> type[Strategy]:
    """Return the class registered under ``name`` (its constructor's parameters are the
    strategy's parameters).

    Raises:
        StrategyError: for an unknown name (suggesting the closest registered one and
            listing them all) or a plugin that cannot be imported.
    """
    registry = _registry()
    if name not in registry:
        known = sorted(registry)
        hint = did_you_mean(name.lower().replace("_", "-"), known)
        raise StrategyError(f"unknown strategy {name!r}; {hint}known strategies: "
                            f"{', '.join(known)}")
    return _load(name, registry[name])


def get(name: str, **params: Any) -> Strategy:
    """Return a configured strategy by name.

    Args:
        name: A registered name (see :func:`available`).
        **params: The strategy's parameters (e.g. ``beta=1.0`` for ``ucb``).

    Raises:
        StrategyError: for an unknown name (listing the known ones), an unknown
            parameter (listing the accepted ones) or a bad parameter value.
    """
    cls = strategy_class(name)
    accepted = list(parameter_types(cls))
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise StrategyError(f"strategy {name!r} has no parameter(s) {', '.join(unknown)}; "
                            f"accepted: {', '.join(accepted) or 'none'}")
    return cls(**params)
