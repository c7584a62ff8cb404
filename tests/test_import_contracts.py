"""The import contracts of pyproject.toml hold: data flows one way through the layers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is a dev dependency: pip install -e '.[dev]'"
    done = subprocess.run([exe], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


#: Below the strategies or beside them (none may import e2t_discovery.strategies): the
#: lower layers, the store and the shared foundations.
BELOW_STRATEGIES = ("featurize", "model", "screen", "data", "store", "exceptions.py",
                    "progress.py", "param_types.py", "objective.py", "messages.py",
                    "problems.py", "domains.py")


def test_no_layer_below_the_strategies_imports_them() -> None:
    """What import-linter cannot see through package-dir, checked on the source."""
    import ast

    offenders = []
    for layer in BELOW_STRATEGIES:
        where = ROOT / "e2t_discovery" / layer
        for path in sorted(where.rglob("*.py") if where.is_dir() else [where]):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n == "e2t_discovery.strategies" or
                       n.startswith("e2t_discovery.strategies.") for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
