"""Acquisition strategies, found by name: ``strategies.get(name, **params)``.

The folder is ``strategies/`` at the top of the repository, imported as
``e2t_discovery.strategies`` (``package-dir`` in ``pyproject.toml``), so the package must be
installed (``pip install -e .`` in a checkout) for it to import.

Every strategy, built-in or not, is found through the entry-point group
``e2t_discovery.strategies``. The built-ins (one module each; the module docstring says
when to use it) are the entry points of the ``e2t-discovery`` distribution itself, declared
in its ``pyproject.toml``: ``greedy``, ``ucb``, ``logei``, ``qlognei``, ``thompson``,
``random``, ``ood-ucb``, ``new-domain`` and ``domain-bayes``. A lab adds its own by registering a
:class:`Strategy` subclass under the same group in its package metadata::

    [project.entry-points."e2t_discovery.strategies"]
    my-strategy = "my_lab.strategies:MyStrategy"

A name is taken once. A plugin that registers a built-in's name is ignored, with a
warning naming both distributions: the built-in wins, so a name in a campaign file or a
stored proposal always means the strategy documented here. Between two plugins the one
found first on ``sys.path`` wins, also with a warning.
"""

from __future__ import annotations

import importlib
import re
import warnings
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from e2t_discovery.exceptions import StrategyError
from e2t_discovery.messages import did_you_mean
from e2t_discovery.param_types import parameter_types

from .base import Choice, Context, Strategy

__all__ = [
    "Strategy", "Context", "Choice", "StrategyError", "get", "available", "strategy_class",
    "ENTRY_POINT_GROUP", "DISTRIBUTION",
]

ENTRY_POINT_GROUP = "e2t_discovery.strategies"

#: The distribution whose entry points are the built-in strategies (``[project] name``).
DISTRIBUTION = "e2t-discovery"


def _distribution(ep: EntryPoint) -> str:
    """Return the normalized name of the distribution that declares ``ep`` (PEP 503)."""
    name = ep.dist.name if ep.dist is not None else ""
    return re.sub(r"[-_.]+", "-", name).lower()


def _label(ep: EntryPoint) -> str:
    """Name an entry point's distribution (and version) for a message."""
    if ep.dist is None:
        return "an unknown distribution"
    return f"distribution {ep.dist.name!r} {ep.dist.version}"


def _registry() -> dict[str, EntryPoint]:
    """Return every strategy registered under :data:`ENTRY_POINT_GROUP`, by name.

    The built-ins (:data:`DISTRIBUTION`'s entry points) keep their names; a plugin that
    reuses a taken name is skipped with a warning naming both distributions.

    Raises:
        StrategyError: if no built-in is registered (the package metadata is missing, as
            when the code runs from a tree that was never installed).
    """
    declared = entry_points(group=ENTRY_POINT_GROUP)
    builtins = [ep for ep in declared if _distribution(ep) == DISTRIBUTION]
    if not builtins:
        raise StrategyError(
            f"no built-in strategy is registered: the {DISTRIBUTION} package metadata "
            f"(entry-point group {ENTRY_POINT_GROUP!r}) is not installed; run "
            f"`pip install -e .` in the source tree")
    found = {ep.name: ep for ep in builtins}
    for ep in declared:
        kept = found.setdefault(ep.name, ep)
        if kept is not ep and _distribution(ep) != DISTRIBUTION:
            winner = "built-in" if _distribution(kept) == DISTRIBUTION else "first found"
            warnings.warn(
                f"strategy {ep.name!r} is registered by {_label(kept)} ({kept.value}) and "
                f"by {_label(ep)} ({ep.value}): the {winner} one is used and the other "
                f"ignored; give the plugin's entry point another name", UserWarning,
                stacklevel=3)
    return found


def available() -> list[str]:
    """Return the names of all known strategies, sorted."""
    return sorted(_registry())


def _load(ep: EntryPoint) -> type[Strategy]:
    """Import the entry point's ``module:Class`` and check it is a Strategy subclass."""
    module_name, _, attr = ep.value.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise StrategyError(f"strategy {ep.name!r} is registered as {ep.value!r}, which "
                            f"cannot be imported ({exc}); fix or uninstall the plugin") from exc
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyError(f"strategy {ep.name!r} ({ep.value}) is not a Strategy subclass")
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
    return _load(registry[name])


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
