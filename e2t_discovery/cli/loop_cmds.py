"""CLI commands (loop_cmds); registered on the shared Typer app on import."""

from __future__ import annotations

from e2t_discovery.cli import app  # noqa: F401
