"""Ingest: every bad input is one clear line and leaves the store's content unchanged."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from campaign_helpers import (
    PROPERTY,
    logical_content,
)
from ingest_helpers import SMILES, lab, rejected, write

from e2t_discovery.loop.campaign import DB_NAME, Campaign


def test_good_file_loads_with_canonical_forms_and_units(campaign: Campaign,
                                                        tmp_path: Path) -> None:
    frame = lab(["q1", "q2"], ["C(*)C*", "*CC(*)CC"], [250.0, 0.7], unit="mW/m/K")
    frame.loc[1, "unit"] = "W/m/K"
    result = campaign.ingest(write(tmp_path / "new.csv", frame), round=2)
    assert (result.n_rows, result.new_materials, result.measurements, result.round) == \
        (2, 2, 2, 2)
    data = campaign.store.measurements(PROPERTY).set_index("material_id")
    assert data.loc["q1", "canonical"] == "*CC*"  # canonical p-SMILES
    assert data.loc["q1", "value"] == pytest.approx(0.25)  # mW/m/K converted by 0.001
    assert (data.loc["q1", "raw_value"], data.loc["q1", "raw_unit"]) == (250.0, "mW/m/K")
    assert data.loc["q2", "source_row"] == 2
    assert data.loc["q2", "domain"] == "1"


def test_same_file_again_is_a_no_op(campaign: Campaign, tmp_path: Path) -> None:
    path = write(tmp_path / "new.csv", lab(["q1"], ["*CCN*"], [0.3]))
    assert campaign.ingest(path).measurements == 1
    before = campaign.store.measurement_counts()
    again = campaign.ingest(path)
    assert again.already_ingested and again.measurements == 0
    assert campaign.store.measurement_counts() == before


def test_duplicate_ids_in_one_file(campaign: Campaign, tmp_path: Path) -> None:
    frame = lab(["q1", "q2", "q1"], ["*CCN*", "*CCO*", "*CCS*"], [0.3, 0.4, 0.5])
    rejected(campaign, write(tmp_path / "f.csv", frame),
             r"row 3, column 'id': duplicate id 'q1' \(first at row 1\)")


def test_conflicting_remeasurement_and_replicates(campaign: Campaign, tmp_path: Path) -> None:
    conflict = write(tmp_path / "f.csv", lab(["p1"], [SMILES[1]], [0.9]))
    rejected(campaign, conflict, r"row 1, column 'thermal_conductivity': material 'p1' is "
                                 r"already measured at 0.2 W/m/K, this file gives 0.9; pass "
                                 r"--replicate")
    result = campaign.ingest(conflict, replicate=True)
    assert (result.measurements, result.replicates) == (1, 1)
    values = campaign.store.measurements(PROPERTY).query("material_id == 'p1'")["value"]
    assert sorted(values) == [0.2, 0.9]
    assert campaign.training_data().frame.set_index("material_id").loc["p1", "value"] == \
        pytest.approx(0.55)


def test_identical_remeasurement_in_a_new_file_is_skipped(campaign: Campaign,
                                                          tmp_path: Path) -> None:
    frame = lab(["p1", "q9"], [SMILES[1], "*CCN*"], [0.2, 0.6])
    result = campaign.ingest(write(tmp_path / "f.csv", frame))
    assert (result.measurements, result.skipped_identical) == (1, 1)
    assert campaign.store.measurement_counts()["measurements"] == 6


def test_same_id_different_material(campaign: Campaign, tmp_path: Path) -> None:
    frame = lab(["p1"], ["*CCCCCCN*"], [0.2])
    rejected(campaign, write(tmp_path / "f.csv", frame),
             r"row 1, column 'smiles': id 'p1' is stored as '\*CC\(\*\)C' but this file gives")


def test_measurements_answer_open_proposals(campaign: Campaign, tmp_path: Path) -> None:
    campaign.store.add_materials(pd.DataFrame({"id": ["c1"], "kind": "polymer",
                                               "canonical": ["*CCN*"], "domain": ["9"]}),
                                 origin="library")
    campaign.store.add_proposals(pd.DataFrame({"material_id": ["c1"]}), round=1,
                                 strategy="ucb")
    result = campaign.ingest(write(tmp_path / "f.csv", lab(["c1"], ["*NCC*"], [0.3])))
    assert result.proposals_measured == 1
    assert result.round == 1  # the current round
    assert list(campaign.store.proposals()["status"]) == ["measured"]


def _big_csv(path: Path, n: int, bad_row: int | None = None, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    smiles = np.array(["*CC*", "*CC(*)C", "*CC(*)c1ccccc1", "*OCC*", "*CC(*)Cl", "*CC(*)CC",
                       "*Oc1ccc(*)cc1", "*CC(*)(C)C(=O)OC"], dtype=object)
    values = rng.random(n).round(6).astype(str).astype(object)
    if bad_row is not None:
        values[bad_row - 1] = "n/a"
    pd.DataFrame({"id": np.char.add(f"s{seed}-", np.arange(n).astype(str)),
                  "smiles": smiles[rng.integers(0, len(smiles), n)], PROPERTY: values,
                  "unit": "W/m/K", "polymer_class": rng.integers(1, 21, n)}).to_csv(
        path, index=False)
    return path


_INGEST = textwrap.dedent("""
    import resource, sys
    from e2t_discovery.loop.campaign import Campaign
    from e2t_discovery.exceptions import E2TError
    with Campaign.open(sys.argv[1], root=sys.argv[2], timeout_s=float(sys.argv[4])) as c:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("ready", base, flush=True)
        try:
            r = c.ingest(sys.argv[3])
        except E2TError as exc:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print("peak", peak - base, flush=True)
            print("error:", exc, flush=True)
            sys.exit(1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("done", r.measurements, peak - base, flush=True)
""")


def _ingest_proc(campaign: Campaign, path: Path, timeout_s: float = 60.0,
                 **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _INGEST, campaign.name, str(campaign.dir.parent), str(path),
         str(timeout_s)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_million_row_file_is_streamed_and_rejected_cleanly(campaign: Campaign,
                                                           tmp_path: Path) -> None:
    n = 1_000_000
    path = _big_csv(tmp_path / "big.csv", n, bad_row=n - 1)
    before_path = campaign.dir / DB_NAME
    campaign.close()
    before = logical_content(before_path)
    proc = _ingest_proc(campaign, path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    lines = out.splitlines()
    assert lines[-1] == (f"error: {path}: row {n - 1}, column '{PROPERTY}': value 'n/a' is "
                         f"not a number")
    assert logical_content(before_path) == before
    # Streaming keeps the growth of peak RSS well below the size of the whole table as
    # Python objects (> 1 GB for 1M rows x 5 columns); measured ~200 MB.
    assert lines[-2].startswith("peak ")
    assert int(lines[-2].split()[1]) < 700_000  # kB


@pytest.mark.slow
def test_million_row_file_loads_with_bounded_memory(campaign: Campaign,
                                                    tmp_path: Path) -> None:
    n = 1_000_000
    path = _big_csv(tmp_path / "big.csv", n)
    campaign.close()
    proc = _ingest_proc(campaign, path)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    done = out.splitlines()[-1].split()
    assert done[:2] == ["done", str(n)]
    assert int(done[2]) < 1_200_000  # growth of peak RSS while ingesting, in kB


def test_crash_at_a_random_moment_is_all_or_nothing(campaign: Campaign,
                                                    tmp_path: Path) -> None:
    n = 200_000
    path = _big_csv(tmp_path / "crash.csv", n, seed=1)
    db = campaign.dir / DB_NAME
    campaign.close()
    base = logical_content(db)
    proc = _ingest_proc(campaign, path)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("ready")
    time.sleep(random.uniform(0.0, 6.0))  # validation + load take several seconds
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = logical_content(db)
    n_before = len(base["measurement"])
    assert len(after["measurement"]) in (n_before, n_before + n)
    assert len(after["ingest_file"]) == len(base["ingest_file"]) + \
        (len(after["measurement"]) - n_before) // n
    if len(after["measurement"]) == n_before:
        assert after == base  # nothing of the killed ingest is visible
    with Campaign.open(campaign.name, root=campaign.dir.parent) as again:
        again.ingest(path)
        assert again.store.measurement_counts()["measurements"] == n_before + n


def test_two_processes_ingest_different_files(campaign: Campaign, tmp_path: Path) -> None:
    files = [_big_csv(tmp_path / f"c{i}.csv", 20_000, seed=10 + i) for i in range(2)]
    campaign.close()
    procs = [_ingest_proc(campaign, f, timeout_s=120) for f in files]
    results = [p.communicate(timeout=300) for p in procs]
    landed = 0
    for proc, (out, err) in zip(procs, results, strict=True):
        if proc.returncode == 0:
            assert out.splitlines()[-1].startswith("done 20000")
            landed += 1
        else:
            assert proc.returncode == 1, err
            assert "is busy" in (out + err), out + err
    assert landed >= 1
    with Campaign.open(campaign.name, root=campaign.dir.parent, read_only=True) as c:
        data = c.store.measurements(PROPERTY)
    assert len(data) == 5 + 20_000 * landed
    assert not data["material_id"].duplicated().any()


def test_two_processes_with_a_tiny_timeout_fail_cleanly(campaign: Campaign,
                                                        tmp_path: Path) -> None:
    files = [_big_csv(tmp_path / f"t{i}.csv", 30_000, seed=20 + i) for i in range(2)]
    campaign.close()
    procs = [_ingest_proc(campaign, f, timeout_s=0.05) for f in files]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        last = out.splitlines()[-1] if out.strip() else err.strip().splitlines()[-1]
        outcomes.append((proc.returncode, last))
    landed = [code for code, _ in outcomes if code == 0]
    for code, last in outcomes:
        # a failing open raises before "ready": the busy error is the traceback's last line
        assert code == 0 or "is busy" in last, last
    with Campaign.open(campaign.name, root=campaign.dir.parent, read_only=True) as c:
        data = c.store.measurements(PROPERTY)
    assert len(data) == 5 + 30_000 * len(landed)
    assert not data["material_id"].duplicated().any()
