"""The checks behind ``e2t init``: parameter types, surrogate options, registry suggestions."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from e2t_discovery import strategies
from e2t_discovery.config.check import check_config
from e2t_discovery.config.schema import CampaignConfig, load_config
from e2t_discovery.config.templates import templates_dir
from e2t_discovery.exceptions import ConfigError, StrategyError
from e2t_discovery.param_types import parameter_types, type_problem

CAMPAIGNS = templates_dir()


@pytest.mark.parametrize(("value", "annotation", "problem"), [
    (5, int, None),
    (np.int64(5), int, None),
    (5, float, None),
    (np.float32(0.5), float, None),
    (5.5, int, "must be an integer, not a float; write a whole number without a decimal point"),
    ("500", int, "must be an integer, not a string; remove the quotes"),
    ("x", float, "must be a number, not a string"),
    (True, int, "must be an integer, not a boolean"),
    (True, float, "must be a number, not a boolean"),
    ("yes", bool, "must be true or false, not a string; write true or false without quotes"),
    (None, int | None, None),
    (3, int | None, None),
    (3.5, int | None, "must be an integer, not a float"),
    ([1, 2], tuple[int, ...], None),
    ([1, "2"], tuple[int, ...], "item 1 ('2') must be an integer, not a string; remove the "
                                "quotes"),
    (4, tuple[int, ...], "must be an array of integers, not an integer"),
    ({"a": 1}, dict, None),
    ([1], dict, "must be a table, not an array"),
    ("identity", str | int, None),
    (2.5, str | int, "must be a string or an integer, not a float"),
    ("cache", str | Path | None, None),
    (3, str | Path | None, "must be a string or a path, not an integer"),
])
def test_type_problem(value: object, annotation: object, problem: str | None) -> None:
    assert type_problem(value, annotation) == problem


def test_parameter_types_read_constructor_annotations() -> None:
    from e2t_discovery.featurize.polymer import PolymerFeaturizer
    from e2t_discovery.strategies.new_domain import NewDomain

    assert parameter_types(PolymerFeaturizer) == {"radius": int | list[int], "n_bits": int}
    assert type_problem([0, 1, 2, 3], int | list[int]) is None
    assert parameter_types(NewDomain) == {"share": float, "max_measured": int, "beta": float}


def test_surrogate_options_are_typed_in_python_too() -> None:
    from e2t_discovery.model import E2TSurrogate, SurrogateConfig
    from e2t_discovery.model.presets import PRESETS

    with pytest.raises(ConfigError, match=r"^model\.settings\.steps = 5\.5 is invalid: must be "
                                          r"an integer, not a float"):
        E2TSurrogate(steps=5.5)
    with pytest.raises(ConfigError, match=r"^model\.settings\.lr = '0\.01' is invalid: must "
                                          r"be a number, not a string; remove the quotes$"):
        SurrogateConfig.from_dict({"lr": "0.01"})
    with pytest.raises(ConfigError, match=r"^model\.settings\.n_clusters = 1 is invalid"):
        SurrogateConfig(n_clusters=1)
    # numpy scalars (as scripts pass them) and every preset stay valid
    config = SurrogateConfig(steps=np.int64(7), lr=np.float32(0.01), hidden=[np.int64(8)])
    assert config.hidden == (8,)
    for name, options in PRESETS.items():
        assert SurrogateConfig.from_dict(options).steps >= 1, name


def test_graph_params_need_the_graph_encoder() -> None:
    from e2t_discovery.model import SurrogateConfig

    assert SurrogateConfig(encoder="graph", graph_params={"hidden": 32}).graph_params == {
        "hidden": 32}
    with pytest.raises(ConfigError, match=r"graph_params\.n_conv = 2\.5 is invalid: must be "
                                          r"an integer"):
        SurrogateConfig(encoder="graph", graph_params={"n_conv": 2.5})
    with pytest.raises(ConfigError, match=r"graph_params apply only to encoder='graph' "
                                          r"\(got 'mlp'\)"):
        SurrogateConfig(graph_params={"hidden": 32})


def test_unknown_strategy_suggests_the_closest_name() -> None:
    with pytest.raises(StrategyError, match=r"^unknown strategy 'new_domain'; did you mean "
                                            r"'new-domain'\? known strategies: domain-bayes, "
                                            r"greedy, "):
        strategies.get("new_domain")
    with pytest.raises(StrategyError, match=r"^unknown strategy 'UCB'; did you mean 'ucb'\?"):
        strategies.strategy_class("UCB")
    with pytest.raises(StrategyError, match=r"^unknown strategy 'best'; known strategies: "):
        strategies.get("best")
    assert strategies.strategy_class("ood-ucb").name == "ood-ucb"


def test_check_config_names_the_source_and_accepts_shipped_files() -> None:
    for path in sorted(CAMPAIGNS.glob("*.toml")):
        check_config(load_config(path), str(path))
    data = tomllib.loads((CAMPAIGNS / "hoip-bandgap.toml").read_text())
    data["strategy"]["params"] = {"prior": 2.0, "explore_shortlist": 1.5}
    config = CampaignConfig.from_dict(data)  # the schema alone accepts it
    with pytest.raises(ConfigError, match=r"^lab\.toml: strategy\.params\.explore_shortlist = "
                                          r"1\.5 is invalid: must be an integer, not a float"):
        check_config(config, "lab.toml")


def test_structure_featurizer_names_the_bad_parameter() -> None:
    data = tomllib.loads((CAMPAIGNS / "hoip-bandgap.toml").read_text())
    data["representation"]["featurizer"] = {"rdf_bins": 0, "n_gaussians": 0}
    with pytest.raises(ConfigError, match=r"representation\.featurizer\.n_gaussians = 0 is "
                                          r"invalid: structure featurizer n_gaussians=0 is "
                                          r"invalid; use n_gaussians >= 1"):
        check_config(CampaignConfig.from_dict(data), "c.toml")
