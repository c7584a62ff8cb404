"""Helpers shared by the store, ingest, campaign and CLI tests: configs, lab files, snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from e2t_discovery.store import Store

PROPERTY = "thermal_conductivity"

#: A tiny, fast surrogate (seconds to train on 100 rows).
TINY_MODEL = {"seed": 0, "steps": 15, "hidden": [32], "embed_dim": 8, "n_support": 32,
              "n_query": 16, "val_fraction": 0.0, "calibrate": False, "device": "cpu"}


def campaign_toml(template: str, changes: dict[str, Any]) -> str:
    """A shipped campaign file with some tables or keys replaced, as TOML text.

    ``changes`` maps dotted paths (``"model.settings"``, ``"strategy.name"``) to the new
    value; a table given replaces the template's table whole; ``None`` removes the key.
    """
    import tomllib

    from e2t_discovery.config.schema import CampaignConfig
    from e2t_discovery.config.templates import template_path

    data = tomllib.loads(template_path(template).read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *parents, key = dotted.split(".")
        table = data
        for part in parents:
            table = table.setdefault(part, {})
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return CampaignConfig.from_dict(data, check_model=False).to_toml()


def polymer_config(*, clustering: bool = False) -> str:
    """The shipped PI1070 campaign with the tiny surrogate and a UCB strategy."""
    domains = ({"method": "clustering", "n_clusters": 4} if clustering else
               {"method": "column", "column": "polymer_class"})
    return campaign_toml("pi1070-tc", {
        "campaign": {"name": "test", "description": "test campaign"},
        "target.unit_column": None, "target.min": None,
        "target.conversions": {"mW/m/K": 0.001}, "domains": domains,
        "model": {"adaptation_threshold": 3, "settings": TINY_MODEL},
        "strategy": {"name": "ucb", "batch_size": 5}})


COMPOSITION_CONFIG = """
[campaign]
name = "comp"

[representation]
kind = "composition"

[target]
property = "band_gap"
unit = "eV"

[target.conversions]
meV = 0.001

[objective]
direction = "minimize"

[domains]
method = "elements"
element_groups = [["Ge", "Sn", "Pb"], ["F", "Cl", "Br", "I"]]
"""


def write_polymer_config(folder: Path, *, clustering: bool = False) -> Path:
    """Write the tiny polymer campaign file and return its path."""
    path = folder / "polymer.toml"
    path.write_text(polymer_config(clustering=clustering), encoding="utf-8")
    return path


def write_composition_config(folder: Path) -> Path:
    """Write the composition campaign file (element-pair domains) and return its path."""
    path = folder / "composition.toml"
    path.write_text(COMPOSITION_CONFIG, encoding="utf-8")
    return path


def pi1070_lab_frame(data_dir: Path, start: int = 0, n: int = 100) -> pd.DataFrame:
    """Return ``n`` PI1070 rows (from ``start``) as a lab file: id, smiles, value, unit, class."""
    from e2t_discovery.data.datasets import load_pi1070

    df = load_pi1070(data_dir)
    df = df[df[PROPERTY].notna()].iloc[start:start + n]
    return pd.DataFrame({"id": df["id"].astype(str), "smiles": df["smiles"],
                         PROPERTY: df[PROPERTY], "unit": "W/m/K",
                         "polymer_class": df["polymer_class"]}).reset_index(drop=True)


def logical_content(source: Path | Store) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of a store (sorted), for before/after comparisons.

    Args:
        source: An open store, or the path of a closed one (opened read-only).
    """
    if isinstance(source, Store):
        return _content(source)
    with Store.open(source, read_only=True, timeout_s=30) as store:
        return _content(store)


def _content(store: Store) -> dict[str, list[tuple[object, ...]]]:
    con = store._con
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "ORDER BY table_name").fetchall()]
    return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
            for t in tables}


def run_main(args: list[str], capsys: Any) -> tuple[int, str, str]:
    """Run ``e2t ARGS`` through :func:`e2t_discovery.cli.main`: (exit code, stdout, stderr)."""
    import pytest

    from e2t_discovery.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err
