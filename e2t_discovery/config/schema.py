"""Campaign configuration: a TOML file validated into frozen pydantic models.

A campaign file has these tables (see the templates, ``e2t_discovery/campaigns/*.toml``)::

    [campaign]        name, description
    [representation]  kind (polymer | composition | structure), id_column, input_column,
                      featurizer (table of featurizer parameters)
    [target]          property, unit, column, unit_column, require_unit_column,
                      conversions (table: other unit = factor to the campaign unit)
    [objective]       direction (maximize | minimize | range), low, high
    [domains]         method (column | clustering | elements), column, n_clusters,
                      element_groups
    [model]           adaptation_threshold, adaptation_steps, settings (E2TSurrogate options)
    [strategy]        name, batch_size, params (table)
    [library]         path
    [transfer]        method (finetune | affine | multitask | auto), one source: table (with
                      property, unit) | campaign | model; settings (table)

Unknown keys and wrong types raise :class:`~e2t_discovery.exceptions.ConfigError` whose
one-line message names the file, the key, the bad value and the fix.

API: ``load_config(path) -> CampaignConfig``, ``CampaignConfig.from_toml_text(text)``,
``CampaignConfig.from_dict(data)``, ``config.to_dict()``, ``config.to_toml()``.
"""

from __future__ import annotations

import builtins
import math
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from e2t_discovery.config.toml_text import dump_toml, explain
from e2t_discovery.exceptions import ConfigError

if TYPE_CHECKING:
    from e2t_discovery.objective import Objective

__all__ = [
    "CampaignConfig",
    "CampaignSection",
    "RepresentationConfig",
    "TargetConfig",
    "ObjectiveConfig",
    "DomainConfig",
    "ModelConfig",
    "StrategyConfig",
    "LibraryConfig",
    "load_config",
    "DEFAULT_INPUT_COLUMNS",
]

#: Default column holding the material's representation, per kind.
DEFAULT_INPUT_COLUMNS = {"polymer": "smiles", "composition": "formula", "structure": "cif"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class CampaignSection(_Section):
    """``[campaign]``: the campaign's name (a folder name) and a description."""

    name: str
    description: str = ""

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, '_', '-' or '.' (it becomes a folder name)")
        return value


class RepresentationConfig(_Section):
    """``[representation]``: what a material is and which columns identify it."""

    kind: Literal["polymer", "composition", "structure"]
    id_column: str = "id"
    input_column: str = ""
    featurizer: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_input(self) -> RepresentationConfig:
        if not self.input_column:
            object.__setattr__(self, "input_column", DEFAULT_INPUT_COLUMNS[self.kind])
        if self.input_column == self.id_column:
            raise ValueError(f"input_column and id_column are both {self.id_column!r}; "
                             f"they must name different columns")
        return self


class TargetConfig(_Section):
    """``[target]``: the measured property, its unit and accepted unit conversions.

    ``conversions`` maps another unit to the factor that turns a value in that unit into
    the campaign unit (``value_in_unit = value * factor``); only linear conversions exist.
    ``min`` and ``max`` are optional physical bounds in the campaign unit (a thermal
    conductivity or a band gap cannot be negative): ingest rejects a value outside them,
    checked after unit conversion; a value equal to a bound is accepted.
    """

    property: str
    unit: str
    column: str = ""
    unit_column: str = "unit"
    require_unit_column: bool = True
    conversions: dict[str, float] = Field(default_factory=dict)
    min: float | None = None
    max: float | None = None

    @field_validator("conversions")
    @classmethod
    def _positive_factors(cls, value: dict[str, float]) -> dict[str, float]:
        for unit, factor in value.items():
            if not math.isfinite(factor) or factor <= 0:
                raise ValueError(f"factor for unit {unit!r} is {factor!r}; it must be a "
                                 f"finite number > 0")
        return value

    @field_validator("min", "max")
    @classmethod
    def _finite_bound(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("a bound must be a finite number in the campaign unit; "
                             "remove the key for no bound")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> TargetConfig:
        if not self.column:
            object.__setattr__(self, "column", self.property)
        if self.unit in self.conversions:
            raise ValueError(f"conversions lists the campaign unit {self.unit!r} itself; "
                             f"remove that entry")
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(f"min = {self.min:g} must be below max = {self.max:g} "
                             f"({self.unit})")
        return self

    def factor(self, unit: str) -> float | None:
        """Return the factor from ``unit`` to the campaign unit, or None if not accepted."""
        if unit == self.unit:
            return 1.0
        return self.conversions.get(unit)

    def accepted_units(self) -> list[str]:
        """The campaign unit followed by every convertible unit."""
        return [self.unit, *self.conversions]


class ObjectiveConfig(_Section):
    """``[objective]``: maximize, minimize, or bring the property into ``[low, high]``."""

    direction: Literal["maximize", "minimize", "range"] = "maximize"
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ObjectiveConfig:
        try:
            self.as_objective()
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    def as_objective(self) -> Objective:
        """This section as the :class:`~e2t_discovery.objective.Objective` value."""
        from e2t_discovery.objective import Objective  # numpy: imported on first use

        return Objective(self.direction, self.low, self.high)

    @property
    def maximize(self) -> bool:
        """True when larger values are better (``minimize`` -> False; ``range`` -> True).

        For ``range`` the score to maximize is :meth:`score`, not the raw value.
        """
        return self.as_objective().maximize

    def score(self, value: float) -> float:
        """Return a larger-is-better score of a value (negative distance outside a range)."""
        return float(self.as_objective().score(value))


class DomainConfig(_Section):
    """``[domains]``: where a material's domain (extrapolation group) comes from.

    - ``column``: a column of the lab file / library (e.g. ``polymer_class``).
    - ``clustering``: k-means clusters of the features (``n_clusters``), made at training.
    - ``elements``: one element from each of ``element_groups`` present in the formula,
      joined by ``-`` (e.g. groups ``[["Ge","Sn","Pb"], ["F","Cl","Br","I"]]`` give ``Pb-I``).
    """

    method: Literal["column", "clustering", "elements"] = "column"
    column: str | None = None
    n_clusters: int | None = None
    element_groups: list[list[str]] | None = None

    @field_validator("n_clusters")
    @classmethod
    def _enough_clusters(cls, value: int | None) -> int | None:
        if value is not None and value < 2:
            raise ValueError("k-means needs at least 2 clusters; set n_clusters >= 2 (or "
                             "use method 'column')")
        return value

    @model_validator(mode="after")
    def _method_fields(self) -> DomainConfig:
        needed = {"column": "column", "clustering": "n_clusters", "elements": "element_groups"}
        for method, field in needed.items():
            given = getattr(self, field) is not None
            if method == self.method and not given:
                raise ValueError(f"method {method!r} needs the key {field!r}")
            if method != self.method and given:
                raise ValueError(f"key {field!r} belongs to method {method!r}, not "
                                 f"{self.method!r}; remove it")
        if self.element_groups is not None and (
                not self.element_groups or any(not g for g in self.element_groups)):
            raise ValueError("element_groups must be non-empty lists of element symbols")
        return self


class ModelConfig(_Section):
    """``[model]``: surrogate settings, when a new domain triggers fine-tuning and how many
    gradient steps one fine-tuning takes.

    ``settings`` are options of :class:`e2t_discovery.model.SurrogateConfig`.
    """

    adaptation_threshold: int = Field(default=5, ge=1)
    adaptation_steps: int = Field(default=100, ge=1)
    settings: dict[str, Any] = Field(default_factory=dict)

    def check_settings(self) -> None:
        """Check ``settings`` against the surrogate's options (imports the model package).

        Raises:
            ConfigError: naming the option (``model.settings.KEY``), its value and the fix.
        """
        from e2t_discovery.model.config import SurrogateConfig

        SurrogateConfig.from_dict(dict(self.settings))


class StrategyConfig(_Section):
    """``[strategy]``: the acquisition strategy, batch size and its parameters."""

    name: str = "ucb"
    batch_size: int = Field(default=10, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)


class LibraryConfig(_Section):
    """``[library]``: the candidate library (file or folder of Parquet shards)."""

    path: str | None = None


TRANSFER_METHODS = ("finetune", "affine", "multitask", "auto")


class TransferConfig(_Section):
    """``[transfer]``: one source the campaign starts from, and how it is used.

    The source is one of: ``table`` (a labelled table of a related property, e.g. cheap
    computed values: ``property`` names its value column, ``unit`` its unit — the
    campaign's, a convertible one, or ``"none"`` when the scale differs), ``campaign``
    (another campaign's measurements, by name under the same root) or ``model`` (a saved
    model folder). ``method``: ``finetune`` (meta-train on the source, fine-tune on the
    target), ``affine`` (target = a·f_source(x) + b + GP residual), ``multitask`` (a
    multi-task GP over source and target) or ``auto`` (the candidate methods compared by
    cross-validation across the target domains; the best is fitted).
    """

    method: Literal["finetune", "affine", "multitask", "auto"] = "affine"
    table: str | None = None
    property: str | None = None
    unit: str | None = None
    campaign: str | None = None
    model: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> TransferConfig:
        given = [k for k in ("table", "campaign", "model") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"[transfer] needs exactly one source (table, campaign or "
                             f"model); got {', '.join(given) or 'none'}")
        if self.table is not None and (self.property is None or self.unit is None):
            raise ValueError("[transfer] table needs property (the source's value column) "
                             "and unit (its unit, or \"none\" when the scale differs)")
        if self.table is None and (self.property is not None or self.unit is not None):
            raise ValueError("[transfer] property/unit describe a source table; remove "
                             "them for a campaign or model source")
        return self

    @builtins.property  # the field `property` shadows the builtin here
    def kind(self) -> str:
        """``table``, ``campaign`` or ``model``."""
        return "table" if self.table is not None else (
            "campaign" if self.campaign is not None else "model")

    @builtins.property
    def location(self) -> str:
        """The source's path or name."""
        return str(self.table or self.campaign or self.model)


class CampaignConfig(_Section):
    """A whole campaign file."""

    campaign: CampaignSection
    representation: RepresentationConfig
    target: TargetConfig
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    domains: DomainConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    library: LibraryConfig = Field(default_factory=LibraryConfig)
    transfer: TransferConfig | None = None

    @model_validator(mode="after")
    def _domain_kind(self) -> CampaignConfig:
        if self.domains.method == "elements" and self.representation.kind == "polymer":
            raise ValueError("domains.method 'elements' needs formulas or structures, not "
                             "polymers; use 'column' or 'clustering'")
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config",
                  check_model: bool = True) -> CampaignConfig:
        """Validate a parsed TOML/JSON document.

        Args:
            data: The document.
            source: Where it came from (named in errors).
            check_model: Also check ``[model.settings]`` against the surrogate's options.
                This imports the model package (torch, seconds); a stored config that
                was checked when the campaign was created can skip it.

        Raises:
            ConfigError: naming ``source``, the key, the bad value and the fix.
        """
        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(explain(exc, source, cls)) from None
        if check_model:
            try:
                config.model.check_settings()
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        return config

    @classmethod
    def from_toml_text(cls, text: str, *, source: str = "config") -> CampaignConfig:
        """Parse and validate TOML text.

        Raises:
            ConfigError: on a TOML syntax error or an invalid value.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}; fix the syntax") from None
        return cls.from_dict(data, source=source)

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict (JSON/TOML-serializable) that validates back to this config."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_toml(self) -> str:
        """Return TOML text that :meth:`from_toml_text` reads back to an equal config."""
        return dump_toml(self.to_dict())


def load_config(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign TOML file, checking it against the featurizer,
    surrogate and strategy it names (:func:`e2t_discovery.config.check.check_config`).

    Raises:
        ConfigError: if the file is missing, unreadable or invalid.
    """
    from e2t_discovery.config.check import check_config

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"campaign file {path} does not exist; pass an existing TOML file "
                          f"(or start from a template: `e2t templates`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read campaign file {path}: {exc}") from None
    config = CampaignConfig.from_toml_text(text, source=str(path))
    config = _resolve_paths(config, path.parent)
    check_config(config, str(path))
    return config


def _resolve_paths(config: CampaignConfig, base: Path) -> CampaignConfig:
    """Make a transfer source's relative path absolute against the campaign file's folder."""
    transfer = config.transfer
    if transfer is None:
        return config
    for key in ("table", "model"):
        value = getattr(transfer, key)
        if value is not None and not Path(value).is_absolute():
            transfer = transfer.model_copy(update={key: str((base / value).absolute())})
    return config.model_copy(update={"transfer": transfer})
