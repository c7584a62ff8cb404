"""Ray sessions: a local Ray started by a session leaves nothing in the temp directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# In a fresh interpreter: the test suite's shared Ray may already run in this one, and a
# session then reuses it instead of starting its own.
_SCRIPT = """
import os, ray
from pathlib import Path
from e2t_discovery.screen.ray_session import ensure_ray, ray_session
parent = Path(os.environ["RAY_TMPDIR"])
with ray_session(num_cpus=1):
    assert ensure_ray()
    folders = list(parent.glob("e2t-ray-*"))
    assert len(folders) == 1 and any(folders[0].iterdir()), folders
    assert ray.get(ray.put(41)) + 1 == 42
assert not ray.is_initialized()
print("ok")
"""


def test_a_session_that_starts_ray_removes_its_session_files() -> None:
    # a short parent: Ray's socket paths must stay under 107 bytes (pytest's tmp_path is
    # too deep for that)
    parent = Path(tempfile.mkdtemp(prefix="e2t-t-", dir="/tmp"))
    try:
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env["RAY_TMPDIR"] = str(parent)
        done = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip().endswith("ok")
        assert list(parent.iterdir()) == []
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_a_temp_folder_too_deep_for_rays_sockets_keeps_rays_default(monkeypatch) -> None:
    from e2t_discovery.screen.ray_session import _session_dir

    monkeypatch.setenv("RAY_TMPDIR", "/tmp/" + "d" * 60)
    assert _session_dir() is None
