"""Check a campaign configuration against the components that will use it.

:class:`~e2t_discovery.config.schema.CampaignConfig` validates each table's own schema (and the
surrogate's options); what only the consumers know is checked here: the featurizer's
parameters (names, types, ranges), the strategy's name and parameters, and combinations
of tables (the objective and the strategy, clustering domains and the model settings,
the graph encoder and the representation). :func:`~e2t_discovery.config.schema.load_config`
runs it, so ``e2t init`` (and ``e2t init --check``) refuse a bad file before anything is
created, with one line naming the dotted key (such as ``strategy.params.beta``), the
value and the fix, instead of failing minutes later in ``e2t train`` or ``e2t propose``.

API: ``check_config(config, source)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from e2t_discovery.config.schema import CampaignConfig
from e2t_discovery.exceptions import ConfigError, E2TError
from e2t_discovery.messages import did_you_mean, shown_value
from e2t_discovery.param_types import parameter_types, type_problem

__all__ = ["check_config"]


def check_config(config: CampaignConfig, source: str) -> None:
    """Check a validated configuration against its featurizer, surrogate and strategy.

    Args:
        config: A validated configuration.
        source: Where it came from (named first in the error).

    Raises:
        ConfigError: ``"{source}: {dotted.key} = {value} is invalid: {reason and fix}"``.
    """
    try:
        _check_featurizer(config)
        _check_model(config)
        _check_domains(config)
        _check_strategy(config)
        _check_transfer(config)
    except _Invalid as exc:
        raise ConfigError(f"{source}: {exc.key} = {shown_value(exc.value)} is invalid: "
                          f"{exc.reason}") from None


class _Invalid(Exception):
    """A bad value at a dotted key (turned into the one-line ConfigError)."""

    def __init__(self, key: str, value: Any, reason: str) -> None:
        super().__init__(key, value, reason)
        self.key, self.value, self.reason = key, value, reason


def _check_params(table: str, params: Mapping[str, Any], what: str,
                  accepted: dict[str, object], build: Callable[..., Any],
                  errors: tuple[type[E2TError], ...]) -> None:
    """Check a parameter table against a constructor: names, types, then values.

    Each value is tried alone (defaults for the rest) so the error names its key; then
    all together, for rules that join several parameters.
    """
    names = list(accepted)
    for key, value in params.items():
        if key not in accepted:
            listed = ", ".join(names) if names else f"none ({what} takes no parameters; " \
                                                     f"remove the [{table}] table)"
            raise _Invalid(f"{table}.{key}", value, f"{what} has no parameter {key!r}; "
                           f"{did_you_mean(key, names)}accepted: {listed}")
        problem = type_problem(value, accepted[key])
        if problem is not None:
            raise _Invalid(f"{table}.{key}", value, problem)
    for key, value in params.items():
        try:
            build(**{key: value})
        except errors as exc:
            raise _Invalid(f"{table}.{key}", value, str(exc)) from None
    try:
        build(**params)
    except errors as exc:
        raise _Invalid(table, dict(params), str(exc)) from None


def _check_featurizer(config: CampaignConfig) -> None:
    """``[representation.featurizer]`` against the featurizer's constructor."""
    from e2t_discovery.exceptions import FeaturizationError
    from e2t_discovery.featurize import featurizer_class

    kind = config.representation.kind
    cls = featurizer_class(kind)
    _check_params("representation.featurizer", config.representation.featurizer,
                  f"the {kind} featurizer", parameter_types(cls), cls, (FeaturizationError,))


def _check_model(config: CampaignConfig) -> None:
    """``[model.settings]`` combined with the other tables (alone: CampaignConfig)."""
    settings = config.model.settings
    kind = config.representation.kind
    if settings.get("encoder") == "graph" and kind != "structure":
        raise _Invalid("model.settings.encoder", "graph",
                       f"the graph encoder needs crystal structures, not {kind} inputs; "
                       f"use encoder = \"mlp\" or representation kind \"structure\"")
    blocks = settings.get("base_blocks", 1)
    if isinstance(blocks, int) and blocks > 1:
        radius = config.representation.featurizer.get("radius", 3)
        radii = radius if isinstance(radius, list) else [radius]
        if kind != "polymer" or len(radii) != blocks:
            raise _Invalid("model.settings.base_blocks", blocks,
                           f"needs one fingerprint block per Morgan radius: set radius to "
                           f"a list of {blocks} radii under [representation.featurizer] "
                           f"(e.g. radius = {list(range(blocks))}), got radius = {radius}"
                           if kind == "polymer" else
                           f"blocks are Morgan radii of polymer fingerprints, not {kind} "
                           f"inputs; remove model.settings.base_blocks")
    if settings.get("validation") == "nearest":
        raise _Invalid("model.settings.validation", "nearest",
                       "campaigns hold out random training domains; 'nearest' needs the "
                       "candidates at fit time (E2TSurrogate.fit(..., library=...), a "
                       "benchmark option): remove it")
    domains = config.domains
    if (domains.method == "clustering" and "n_clusters" in settings
            and settings["n_clusters"] != domains.n_clusters):
        raise _Invalid("model.settings.n_clusters", settings["n_clusters"],
                       f"conflicts with domains.n_clusters = {domains.n_clusters} (the "
                       f"clusters are the domains); remove model.settings.n_clusters")


def _check_domains(config: CampaignConfig) -> None:
    """``domains.element_groups``: real element symbols, each in one group only."""
    groups = config.domains.element_groups
    if groups is None:
        return
    from pymatgen.core.periodic_table import Element

    seen: set[str] = set()
    for group in groups:
        for symbol in group:
            if not Element.is_valid_symbol(symbol):
                raise _Invalid("domains.element_groups", groups,
                               f"{symbol!r} is not an element symbol; write symbols such "
                               f"as \"Pb\" or \"I\" (case matters)")
            if symbol in seen:
                raise _Invalid("domains.element_groups", groups,
                               f"{symbol!r} appears in more than one group; keep it in one")
            seen.add(symbol)


def _check_strategy(config: CampaignConfig) -> None:
    """``[strategy]``: a registered name, its parameters, and an objective it can rank."""
    from e2t_discovery import strategies
    from e2t_discovery.exceptions import StrategyError
    from e2t_discovery.objective import RANKED_DIRECTIONS as OBJECTIVES

    strat = config.strategy
    try:
        cls = strategies.strategy_class(strat.name)
    except StrategyError as exc:
        raise _Invalid("strategy.name", strat.name, str(exc)) from None
    _check_params("strategy.params", strat.params, f"strategy {strat.name!r}",
                  parameter_types(cls), cls, (StrategyError,))
    direction = config.objective.direction
    if direction not in OBJECTIVES:
        raise _Invalid("objective.direction", direction,
                       f"strategy {strat.name!r} ranks candidates to "
                       f"{' or '.join(OBJECTIVES)} only (a range can be screened but no "
                       f"strategy proposes for it); set direction = \"maximize\" or "
                       f"\"minimize\"")


_DEFAULT_INPUTS = {"smiles": "polymer", "formula": "composition", "cif": "structure"}


def _check_transfer(config: CampaignConfig) -> None:
    """``[transfer]``: descriptor inputs, the method's settings, and the source: a model
    folder that exists, or a readable table with the campaign's inputs and the named
    property, in a unit the campaign knows (or ``none``). A ``campaign`` source (and
    whether a model folder loads) is checked when the campaign is created, which knows
    the campaign root (``loop.transfer_source``)."""
    transfer = config.transfer
    if transfer is None:
        return
    from pathlib import Path

    if config.model.settings.get("encoder", "mlp") != "mlp":
        raise _Invalid("model.settings.encoder", config.model.settings["encoder"],
                       "transfer needs the descriptor (mlp) encoder; remove [transfer] or "
                       "set encoder = \"mlp\"")
    _check_transfer_settings(transfer.method, transfer.settings)
    if transfer.model is not None and not Path(transfer.model).is_dir():
        raise _Invalid("transfer.model", transfer.model,
                       "no such folder; give a saved model folder (e.g. a campaign's "
                       "models/vN) relative to the campaign file")
    if transfer.table is None:
        return

    path = Path(transfer.table)
    if not path.is_file():
        raise _Invalid("transfer.table", transfer.table,
                       "no such file; give the path of a CSV or Parquet table of the source "
                       "property (relative to the campaign file)")
    header = _table_header(path)
    rep = config.representation
    if rep.input_column not in header:
        other = [f"{c} ({_DEFAULT_INPUTS[c]})" for c in header if c in _DEFAULT_INPUTS]
        hint = (f"it holds {', '.join(other)}, but the campaign's representation is "
                f"{rep.kind} ({rep.input_column}): a source must describe materials the "
                f"same way" if other else
                f"add the {rep.kind} of each source material in a column "
                f"{rep.input_column!r}")
        raise _Invalid("transfer.table", transfer.table,
                       f"the table has no column {rep.input_column!r}; {hint}")
    if transfer.property not in header:
        raise _Invalid("transfer.property", transfer.property,
                       f"the table has no such column; "
                       f"{did_you_mean(str(transfer.property), header)}"
                       f"columns: {', '.join(header[:12])}")
    unit = transfer.unit
    if unit != "none" and config.target.factor(unit) is None:  # type: ignore[arg-type]
        raise _Invalid("transfer.unit", unit,
                       f"is neither the campaign unit {config.target.unit!r} nor one of its "
                       f"[target.conversions]; add a conversion, or write \"none\" when the "
                       f"source is on another scale (affine transfer then learns it)")


def _check_transfer_settings(method: str, settings: Mapping[str, Any]) -> None:
    """``[transfer.settings]``: the method's options, and ``source`` (surrogate options)."""

    options = {k: v for k, v in settings.items() if k != "source"}
    if method == "auto":
        _check_auto_settings(options)
    else:
        _check_method_options("transfer.settings", method, options)
    source = settings.get("source", {})
    if not isinstance(source, Mapping):
        raise _Invalid("transfer.settings.source", source, "must be a table of surrogate "
                       "options for the source model ([transfer.settings.source])")
    from e2t_discovery.model.config import SurrogateConfig

    try:
        SurrogateConfig.from_dict(dict(source))
    except ConfigError as exc:
        raise _Invalid("transfer.settings.source", dict(source), str(exc)) from None


def _check_method_options(table: str, method: str, options: Mapping[str, Any]) -> None:
    """The options of one transfer method against its class's constructor."""
    from e2t_discovery.exceptions import ModelError
    from e2t_discovery.model.transfer import METHOD_CLASSES

    accepted = {k: v for k, v in parameter_types(METHOD_CLASSES[method]).items()
                if k not in ("source", "seed")}
    _check_params(table, options, f"transfer method {method!r}", accepted,
                  lambda **kw: None, (ModelError,))


def _check_auto_settings(options: Mapping[str, Any]) -> None:
    """``[transfer.settings]`` of ``method = "auto"``: ``candidates`` and one options table
    per candidate method (``[transfer.settings.affine]``)."""
    from e2t_discovery.model.transfer import CANDIDATES, METHOD_CLASSES

    methods = list(METHOD_CLASSES)
    candidates = options.get("candidates", list(CANDIDATES))
    if (not isinstance(candidates, list) or not candidates
            or any(c not in METHOD_CLASSES for c in candidates)
            or len(set(candidates)) != len(candidates)):
        raise _Invalid("transfer.settings.candidates", candidates,
                       f"must be a list of distinct transfer methods from "
                       f"{', '.join(methods)} (e.g. [\"affine\", \"finetune\"])")
    for key, value in options.items():
        if key == "candidates":
            continue
        if key not in METHOD_CLASSES:
            raise _Invalid(f"transfer.settings.{key}", value,
                           f"method 'auto' takes candidates and a table of options per "
                           f"method; {did_you_mean(key, ['candidates', *methods])}accepted: "
                           f"candidates, {', '.join(methods)}")
        if not isinstance(value, Mapping):
            raise _Invalid(f"transfer.settings.{key}", value,
                           f"must be a table of the {key} method's options "
                           f"([transfer.settings.{key}])")
        _check_method_options(f"transfer.settings.{key}", key, value)


def _table_header(path: Any) -> list[str]:
    """Column names of a CSV or Parquet table (reading only its header)."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return [str(c) for c in pq.read_schema(path).names]
        import pandas as pd

        return [str(c) for c in pd.read_csv(path, nrows=0, sep=None, engine="python").columns]
    except Exception as exc:  # noqa: BLE001 - any reader failure is the same bad input
        raise _Invalid("transfer.table", str(path),
                       f"not a readable CSV or Parquet table ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
