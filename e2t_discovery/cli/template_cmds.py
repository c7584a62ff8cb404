"""CLI of the shipped campaign templates: ``e2t templates [NAME]``, and how ``e2t init``
picks its campaign file (``--config FILE`` or ``--template NAME``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from e2t_discovery.cli import app, plain_console
from e2t_discovery.config.templates import list_templates, template_path

__all__ = ["templates", "campaign_file"]

console = plain_console()


def campaign_file(config: Path | None, template: str | None) -> Path:
    """Return the campaign file ``e2t init`` uses: ``--config FILE`` or ``--template NAME``.

    Raises:
        typer.BadParameter: a usage error (exit 2) unless exactly one of the two is given.
        ConfigError: if no template has that name.
    """
    if (config is None) == (template is None):
        given = "both" if config is not None else "neither"
        raise typer.BadParameter(
            f"give exactly one of them ({given} given): --template NAME for a shipped "
            "campaign file (`e2t templates` lists them) or --config FILE for your own",
            param_hint="'--config' / '--template'")
    return config if config is not None else template_path(str(template))


@app.command("templates")
def templates(
    name: Annotated[str | None, typer.Argument(
        help="Print this template's TOML (to copy and edit) instead of the list.",
        show_default=False)] = None,
) -> None:
    """List the shipped campaign templates (for `e2t init NAME --template TEMPLATE`)."""
    if name is not None:
        typer.echo(template_path(name).read_text(encoding="utf-8"), nl=False)
        return
    found = list_templates()
    width = max(len(t.name) for t in found)
    for template in found:
        console.print(f"{template.name:<{width}}  {template.description}", highlight=False)
