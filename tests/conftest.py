"""Shared fixtures: the real benchmark data, and one local Ray instance per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of the real data sets (``E2T_DATA_DIR``); skip if it is not set up."""
    value = os.environ.get("E2T_DATA_DIR")
    if not value:
        candidate = Path(__file__).resolve().parents[2] / "shared" / "data"
        if candidate.is_dir():
            return candidate
        pytest.skip("E2T_DATA_DIR is not set and ../shared/data does not exist")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"E2T_DATA_DIR={value} is not a folder")
    # absolute, so paths built from it (CIF files in lab tables) do not depend on the
    # folder a later reader resolves them against (the README writes ../shared/data)
    return path.resolve()


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """A real local Ray with two CPUs, shared by every test that needs it.

    Its session files go to a short folder of ``/tmp`` (Ray's socket paths must stay
    under 107 bytes), removed afterwards, not to Ray's default ``/tmp/ray``.
    """
    import shutil
    import tempfile

    import ray

    temp = None
    if not ray.is_initialized():
        temp = tempfile.mkdtemp(prefix="e2t-ray-test-", dir="/tmp")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, _temp_dir=temp)
    yield
    ray.shutdown()
    if temp is not None:
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def pi1070(data_dir: Path) -> pd.DataFrame:
    """The PI1070 table (from ``data_dir``)."""
    from e2t_discovery.data.datasets import load_pi1070

    return load_pi1070(data_dir)


@pytest.fixture(scope="module")
def hoip(data_dir: Path) -> pd.DataFrame:
    """The HOIP table (from ``data_dir``)."""
    from e2t_discovery.data.datasets import load_hoip

    return load_hoip(data_dir)
