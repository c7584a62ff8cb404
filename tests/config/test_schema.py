"""Campaign configuration: shipped files, round trips, and one-line errors naming the key."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2t_discovery.config.schema import CampaignConfig, load_config
from e2t_discovery.config.templates import templates_dir
from e2t_discovery.exceptions import ConfigError

CAMPAIGNS = templates_dir()
SHIPPED = ["pi1070-tc.toml", "hoip-bandgap.toml"]


def _hoip() -> dict:
    return tomllib.loads((CAMPAIGNS / "hoip-bandgap.toml").read_text())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_campaign_files_load_and_round_trip(name: str) -> None:
    config = load_config(CAMPAIGNS / name)
    assert CampaignConfig.from_toml_text(config.to_toml()) == config
    assert CampaignConfig.from_dict(config.to_dict()) == config


def test_shipped_files_have_the_expected_meaning() -> None:
    pi = load_config(CAMPAIGNS / "pi1070-tc.toml")
    assert (pi.representation.kind, pi.representation.input_column) == ("polymer", "smiles")
    assert pi.target.column == "thermal_conductivity"  # defaults to the property
    assert pi.target.factor("mW/m/K") == pytest.approx(0.001)
    assert pi.domains.column == "polymer_class"
    hoip = load_config(CAMPAIGNS / "hoip-bandgap.toml")
    assert hoip.objective.direction == "minimize"
    assert hoip.domains.element_groups == [["Ge", "Sn", "Pb"], ["F", "Cl", "Br", "I"]]


@pytest.mark.parametrize(("name", "preset", "extra"), [
    ("pi1070-tc.toml", "fingerprint", {}),
    ("pi1070-demo.toml", "fingerprint", {}),
    ("hoip-bandgap.toml", "descriptor", {}),
])
def test_shipped_model_settings_are_the_selected_presets(name: str, preset: str,
                                                         extra: dict[str, int]) -> None:
    from e2t_discovery.model import SurrogateConfig
    from e2t_discovery.model.presets import PRESETS

    settings = dict(load_config(CAMPAIGNS / name).model.settings)
    expected = SurrogateConfig.from_dict({**PRESETS[preset], **extra, "seed": 0})
    assert SurrogateConfig.from_dict(settings) == expected


def test_unknown_key_names_the_key_and_the_allowed_ones() -> None:
    data = _hoip()
    data["target"]["units"] = "eV"
    with pytest.raises(ConfigError, match=r"x\.toml: unknown key 'target\.units' in \[target\]; "
                                          r"allowed keys: property, unit"):
        CampaignConfig.from_dict(data, source="x.toml")


def test_unknown_top_level_table() -> None:
    data = _hoip()
    data["strategies"] = {}
    with pytest.raises(ConfigError, match="unknown key 'strategies' in the top level"):
        CampaignConfig.from_dict(data)


def test_missing_key_says_where_to_add_it() -> None:
    data = _hoip()
    del data["target"]["unit"]
    with pytest.raises(ConfigError, match=r"missing required key 'target\.unit'; add it to the "
                                          r"\[target\] table"):
        CampaignConfig.from_dict(data)


def test_wrong_type_names_key_and_value() -> None:
    data = _hoip()
    data["strategy"]["batch_size"] = "10"
    with pytest.raises(ConfigError, match=r"strategy\.batch_size = '10' is invalid"):
        CampaignConfig.from_dict(data)


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("representation", "kind", "protein", r"representation\.kind = 'protein'"),
    ("strategy", "batch_size", 0, "greater than or equal to 1"),
    ("objective", "direction", "range", "direction 'range' needs low < high"),
    ("objective", "low", 1.0, "low/high apply only to direction 'range'"),
    ("domains", "column", "x", "key 'column' belongs to method 'column'"),
    ("target", "conversions", {"meV": -1.0}, "factor for unit 'meV' is -1.0"),
    ("target", "conversions", {"eV": 1.0}, "lists the campaign unit 'eV' itself"),
    ("model", "settings", {"encoder": "cnn"},
     r"model\.settings\.encoder = 'cnn' is invalid: use one of mlp, graph"),
    ("model", "settings", {"stepz": 3}, "unknown model option"),
    ("campaign", "name", "a b", "becomes a folder name"),
])
def test_bad_values_are_one_line_errors(section: str, key: str, value: object,
                                        message: str) -> None:
    data = _hoip()
    data[section][key] = value
    with pytest.raises(ConfigError, match=message) as info:
        CampaignConfig.from_dict(data, source="c.toml")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("c.toml: ")


def test_elements_domains_need_formulas() -> None:
    data = tomllib.loads((CAMPAIGNS / "pi1070-tc.toml").read_text())
    data["domains"] = {"method": "elements", "element_groups": [["Pb"], ["I"]]}
    with pytest.raises(ConfigError, match="needs formulas or structures"):
        CampaignConfig.from_dict(data)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[campaign\nname = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_objective_score_orders_by_goal() -> None:
    data = _hoip()
    data["objective"] = {"direction": "range", "low": 1.0, "high": 2.0}
    objective = CampaignConfig.from_dict(data).objective
    assert objective.score(1.5) == 0.0
    assert objective.score(2.5) == pytest.approx(-0.5)
    assert objective.score(0.0) == pytest.approx(-1.0)
    assert load_config(CAMPAIGNS / "hoip-bandgap.toml").objective.score(3.0) == -3.0


def test_config_is_frozen() -> None:
    config = load_config(CAMPAIGNS / "hoip-bandgap.toml")
    with pytest.raises(ValueError, match="frozen"):
        config.target.unit = "meV"  # type: ignore[misc]


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
_name = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,15}", fullmatch=True)
_unit = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                max_size=10)
_scalar = st.one_of(st.integers(-10**6, 10**6), st.booleans(), _text,
                    st.floats(allow_nan=False, allow_infinity=False, width=64))


@st.composite
def _configs(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(["polymer", "composition", "structure"]))
    unit = draw(_unit)
    conversions = draw(st.dictionaries(_unit.filter(lambda u: u != unit),
                                       st.floats(1e-9, 1e9), max_size=3))
    direction = draw(st.sampled_from(["maximize", "minimize", "range"]))
    objective: dict = {"direction": direction}
    if direction == "range":
        low = draw(st.floats(-1e6, 1e6))
        objective.update(low=low, high=low + draw(st.floats(1e-3, 1e6)))
    if kind == "polymer":
        method = draw(st.sampled_from(["column", "clustering"]))
    else:
        method = draw(st.sampled_from(["column", "clustering", "elements"]))
    domains: dict = {"method": method}
    if method == "column":
        domains["column"] = draw(_name)
    elif method == "clustering":
        domains["n_clusters"] = draw(st.integers(2, 50))
    else:
        domains["element_groups"] = draw(st.lists(st.lists(
            st.sampled_from(["Pb", "Sn", "Ge", "I", "Br", "Cl", "F"]), min_size=1, max_size=3),
            min_size=1, max_size=3))
    return {
        "campaign": {"name": draw(_name), "description": draw(_text)},
        "representation": {"kind": kind, "id_column": "id", "input_column": draw(
            st.sampled_from(["smiles", "formula", "cif", "x y"])),
            "featurizer": draw(st.dictionaries(_name, _scalar, max_size=3))},
        "target": {"property": draw(_text.filter(bool)), "unit": unit,
                   "conversions": conversions},
        "objective": objective,
        "domains": domains,
        "model": {"adaptation_threshold": draw(st.integers(1, 100)),
                  "settings": {"steps": draw(st.integers(1, 5000)),
                               "hidden": draw(st.lists(st.integers(1, 512), min_size=1,
                                                       max_size=3))}},
        "strategy": {"name": draw(_name), "batch_size": draw(st.integers(1, 1000)),
                     "params": draw(st.dictionaries(_name, _scalar, max_size=4))},
        "library": {"path": draw(_text)},
    }


@settings(max_examples=60, deadline=None)
@given(_configs())
def test_config_round_trips_through_toml(data: dict) -> None:
    config = CampaignConfig.from_dict(copy.deepcopy(data))
    text = config.to_toml()
    again = CampaignConfig.from_toml_text(text)
    assert again == config
    assert again.to_toml() == text
