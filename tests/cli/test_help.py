"""``e2t --help`` and every command's help: workflow order, no ``<bool>``, defaults shown."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from e2t_discovery.cli import WORKFLOW, app, main
from e2t_discovery.loop.propose import write_proposals

runner = CliRunner()


def _commands() -> list[list[str]]:
    import typer

    group = typer.main.get_command(app)
    paths: list[list[str]] = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        paths.append([name])
        for sub in getattr(command, "commands", {}):
            paths.append([name, sub])
    return paths


def test_commands_are_listed_in_workflow_order() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[1] for line in result.output.splitlines()
              if line.startswith("│ ") and len(line.split()) > 1
              and line.split()[1] in WORKFLOW]
    expected = [name for name in WORKFLOW if name in listed]
    assert listed == expected
    assert listed[:4] == ["templates", "init", "ingest", "status"] and listed[-1] == "demo"
    assert {"list", "proposals", "screen", "propose", "run"} <= set(listed)


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p))
def test_no_bool_metavar_in_any_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output


def test_defaults_are_shown_and_chunk_and_batch_cannot_be_confused() -> None:
    screen = runner.invoke(app, ["screen", "--help"], terminal_width=200).output
    propose = runner.invoke(app, ["propose", "--help"], terminal_width=200).output
    assert "--chunk-size" in screen and "[default: 2048]" in screen
    assert "--batch-size" not in screen and "--batch " not in screen
    assert "--batch " in propose and "Candidates to propose" in propose
    assert "--chunk-size" not in propose
    # one help text per shared option
    import typer

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]

    def help_of(command: str, option: str) -> str:
        return next(p.help for p in commands[command].params if option in p.opts)

    for option in ("--workers", "--ray-address", "--library"):
        assert help_of("screen", option) == help_of("run", option)
    assert help_of("demo", "--workers") == help_of("run", "--workers")


def test_list_shows_the_campaigns_under_dir(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "home"
    for name in ("alpha", "beta"):
        with pytest.raises(SystemExit) as info:
            main(["init", name, "--template", "pi1070-tc", "--dir", str(root)])
        assert info.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["list", "--dir", str(root)])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "alpha" in out and "beta" in out and "W/m/K" in out
    with pytest.raises(SystemExit) as info:
        main(["list", "--dir", str(tmp_path / "empty")])
    assert info.value.code == 0
    assert "no campaigns in" in capsys.readouterr().out


def test_proposals_write_parquet_by_suffix(tmp_path: Path) -> None:
    frame = pd.DataFrame({"rank": [1, 2], "id": ["a", "b"], "mean": [0.1, 0.2]})
    pq_path = write_proposals(frame, tmp_path / "batch.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(pq_path), frame)
    csv_path = write_proposals(frame, tmp_path / "batch.csv")
    assert csv_path.read_text().splitlines()[0] == "rank,id,mean"
    assert not list(tmp_path.glob(".*.tmp"))
