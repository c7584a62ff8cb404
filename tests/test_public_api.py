"""``import e2t_discovery as e2t``: the public surface, imported lazily."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "ray", "botorch", "rdkit", "pandas", "duckdb", "pymatgen", "numpy")


def _imported_after(code: str) -> list[str]:
    script = (f"import sys\n{code}\nimport json\n"
              f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_package_and_cli_import_nothing_heavy() -> None:
    assert _imported_after("import e2t_discovery as e2t; e2t.__version__") == []
    assert _imported_after("import e2t_discovery.cli") == []


def test_public_names_resolve_on_first_use() -> None:
    import e2t_discovery as e2t
    from e2t_discovery import strategies
    from e2t_discovery.config.schema import CampaignConfig
    from e2t_discovery.loop.campaign import Campaign
    from e2t_discovery.model import E2TSurrogate

    assert e2t.Campaign is Campaign and e2t.CampaignConfig is CampaignConfig
    assert e2t.E2TSurrogate is E2TSurrogate and e2t.strategies is strategies
    assert "greedy" in e2t.strategies.available()
    assert {"Campaign", "E2TSurrogate", "strategies"} <= set(dir(e2t))
    try:
        e2t.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("unknown attribute did not raise")
    assert "torch" in _imported_after("import e2t_discovery as e2t; e2t.E2TSurrogate")
