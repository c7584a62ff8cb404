"""The campaign templates shipped in the package."""

from __future__ import annotations

import tomllib

import pytest

from e2t_discovery.config.schema import load_config
from e2t_discovery.config.templates import list_templates, template_path, templates_dir
from e2t_discovery.exceptions import ConfigError

NAMES = ["hoip-bandgap", "pi1070-demo", "pi1070-tc"]


def test_the_shipped_templates_are_listed_with_their_descriptions() -> None:
    found = list_templates()

    assert [t.name for t in found] == NAMES
    for template in found:
        data = tomllib.loads(template.path.read_text())
        assert template.description == data["campaign"]["description"]
        assert template.description and "\n" not in template.description
        assert template.path.parent == templates_dir()
        assert load_config(template.path).campaign.name == template.name


def test_template_path_finds_a_template_by_name() -> None:
    assert template_path("pi1070-tc") == templates_dir() / "pi1070-tc.toml"
    assert load_config(template_path("pi1070-tc")).target.property == "thermal_conductivity"


@pytest.mark.parametrize("name", ["nope", "../pyproject", "pi1070-tc.toml", ""])
def test_unknown_template_lists_the_known_ones(name: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown template {name!r}; known templates: "
                                          "hoip-bandgap, pi1070-demo, pi1070-tc "):
        template_path(name)
