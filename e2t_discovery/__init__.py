"""e2t-discovery: active-learning materials discovery with an E2T meta-learner.

``import e2t_discovery as e2t`` gives the public surface, imported on first use so that
the package (and ``e2t --help``) stays free of torch, Ray and pandas until they are needed:

- ``e2t.Campaign`` — a campaign folder: ingest, train, predict, screen, propose, run;
- ``e2t.CampaignConfig`` — a validated campaign file (``CampaignConfig`` of ``config``);
- ``e2t.E2TSurrogate`` — the E2T meta-learner (GP head by default);
- ``e2t.strategies`` — the acquisition strategies (``e2t.strategies.get(name)``);
- ``e2t.E2TError`` — the base of every error the package reports to a user.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from e2t_discovery.exceptions import E2TError

if TYPE_CHECKING:
    import e2t_discovery.strategies as strategies  # in strategies/: mypy finds no module (Any)
    from e2t_discovery.config.schema import CampaignConfig
    from e2t_discovery.loop.campaign import Campaign
    from e2t_discovery.model import E2TSurrogate

__all__ = ["Campaign", "CampaignConfig", "E2TError", "E2TSurrogate", "strategies",
           "__version__"]

__version__ = "0.1.0"

#: Public name -> (module, attribute; None for the module itself).
_LAZY: dict[str, tuple[str, str | None]] = {
    "Campaign": ("e2t_discovery.loop.campaign", "Campaign"),
    "CampaignConfig": ("e2t_discovery.config.schema", "CampaignConfig"),
    "E2TSurrogate": ("e2t_discovery.model", "E2TSurrogate"),
    "strategies": ("e2t_discovery.strategies", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'e2t_discovery' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
