"""Campaign templates: the campaign files (TOML) shipped inside the package.

A template is ``e2t_discovery/campaigns/<name>.toml``; its one-line description is the
file's ``[campaign] description``. ``e2t init NAME --template <name>`` creates a campaign
from one, ``e2t templates`` lists them and ``e2t templates <name>`` prints one (to copy and
edit). Any other campaign file is passed by path (``e2t init NAME --config FILE``).

API: ``list_templates() -> list[Template]``, ``template_path(name) -> Path``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from e2t_discovery.exceptions import ConfigError

__all__ = ["Template", "templates_dir", "list_templates", "template_path"]


@dataclass(frozen=True)
class Template:
    """A shipped campaign file.

    Attributes:
        name: What ``--template`` takes (the file name without ``.toml``).
        description: The file's ``[campaign] description`` (one line).
        path: The TOML file.
    """

    name: str
    description: str
    path: Path


def templates_dir() -> Path:
    """Return the folder of the shipped campaign files (``e2t_discovery/campaigns``)."""
    return Path(str(resources.files("e2t_discovery") / "campaigns"))


def list_templates() -> list[Template]:
    """Return the shipped templates, sorted by name.

    Raises:
        ConfigError: if a shipped file is not valid TOML (a broken installation).
    """
    found = []
    for path in sorted(templates_dir().glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"shipped template {path} is not valid TOML ({exc}); "
                              "reinstall e2t-discovery") from None
        campaign = data.get("campaign", {})
        description = str(campaign.get("description", "")) if isinstance(campaign, dict) else ""
        found.append(Template(path.stem, " ".join(description.split()), path))
    return found


def template_path(name: str) -> Path:
    """Return the campaign file of template ``name``.

    Raises:
        ConfigError: if no template has that name (the message lists the known ones).
    """
    path = templates_dir() / f"{name}.toml"
    if "/" in name or "\\" in name or not path.is_file():
        known = ", ".join(t.name for t in list_templates())
        raise ConfigError(f"unknown template {name!r}; known templates: {known} "
                          "(`e2t templates` describes them; --config FILE takes any file)")
    return path
