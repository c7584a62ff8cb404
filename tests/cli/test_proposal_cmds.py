"""CLI tests of pending proposals: `e2t propose` refusing a second batch, and
`e2t proposals list|abandon|fail` (real DuckDB campaign, `e2t_discovery.cli.main`)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from campaign_helpers import logical_content, pi1070_lab_frame, write_polymer_config
from campaign_helpers import run_main as _run

from e2t_discovery.featurize.polymer import canonical_psmiles
from e2t_discovery.loop.campaign import DB_NAME, Campaign


@pytest.fixture
def root(tmp_path: Path, data_dir: Path) -> Path:
    """Campaign `camp`: 20 measurements and batch 1 (3 ucb proposals) awaiting the lab."""
    root = tmp_path / "campaigns"
    lab = pi1070_lab_frame(data_dir, 0, 20)
    lab_file = tmp_path / "initial.csv"
    lab.to_csv(lab_file, index=False)
    library = pi1070_lab_frame(data_dir, 100, 3)
    with Campaign.create("camp", write_polymer_config(tmp_path), root) as c:
        c.ingest(lab_file)
        c.store.add_materials(pd.DataFrame({
            "id": library["id"], "kind": "polymer",
            "canonical": [canonical_psmiles(s) for s in library["smiles"]],
            "domain": library["polymer_class"].astype(str)}), origin="library")
        c.store.add_proposals(pd.DataFrame({
            "material_id": library["id"], "mean": [0.3, 0.2, 0.1], "std": [0.05, 0.04, 0.03],
            "acquisition": [0.4, 0.28, 0.16], "acquisition_name": "ucb",
            "acquisition_value": [0.4, 0.28, 0.16],
            "domain": library["polymer_class"].astype(str), "reason": "top UCB (beta=2)"}),
            round=1, strategy="ucb", model_version=1)
    return root


def _ids(root: Path) -> list[str]:
    with Campaign.open("camp", root, read_only=True) as c:
        return c.store.proposals(round=1)["material_id"].tolist()


def test_propose_with_a_pending_batch_refuses_and_changes_nothing(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = logical_content(root / "camp" / DB_NAME)
    out_file = tmp_path / "second.csv"
    code, _, err = _run(["propose", "camp", "--out", str(out_file), "--dir", str(root)], capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    line = " ".join(err.split())
    assert ("campaign camp has 3 pending proposals (batch 1: 3) awaiting the lab; answer "
            "them with `e2t ingest camp FILE` (a lab file with their ids), or abandon them "
            "with `e2t proposals abandon camp --batch 1`; pass --allow-pending") in line
    assert not out_file.exists()
    assert logical_content(root / "camp" / DB_NAME) == before


def test_list_shows_pending_batches_with_the_named_acquisition(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["proposals", "list", "camp", "--dir", str(root)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "batch 1 (ucb, model v1): 3 proposed"
    assert lines[1].split()[:8] == ["rank", "id", "mean", "W/m/K", "std", "W/m/K", "ucb",
                                    "W/m/K"]
    for rank, (mid, ucb) in enumerate(zip(_ids(root), ["0.4", "0.28", "0.16"],
                                          strict=True), start=1):
        assert lines[1 + rank].split()[:2] == [str(rank), mid]
        assert ucb in lines[1 + rank].split()
    code, out, _ = _run(["proposals", "list", "camp", "--status", "measured", "--dir",
                         str(root)], capsys)
    assert code == 0 and out.strip() == "campaign camp has no measured proposals"


def test_abandon_a_batch_then_fail_by_id(root: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    ids = _ids(root)
    code, out, _ = _run(["proposals", "fail", "camp", ids[0], "--note", "synthesis failed",
                         "--dir", str(root)], capsys)
    assert code == 0
    assert out.splitlines() == [
        "marked failed 1 proposal of campaign camp (batch 1: 1); it will not be proposed "
        "again", "2 pending proposals (batch 1: 2) left"]
    code, out, _ = _run(["proposals", "abandon", "camp", "--batch", "1", "--dir", str(root)],
                        capsys)
    assert code == 0
    assert out.splitlines()[0] == ("abandoned 2 proposals of campaign camp (batch 1: 2); "
                                   "they may be proposed again")
    assert out.splitlines()[1] == "no proposals are pending now"
    with Campaign.open("camp", root, read_only=True) as c:
        props = c.store.proposals().set_index("material_id")
        events = c.store.events()
    assert props.loc[ids, "status"].tolist() == ["failed", "abandoned", "abandoned"]
    assert props.loc[ids[0], "status_note"] == "synthesis failed"
    kinds = events[events["kind"].isin(["failed", "abandoned"])]
    assert kinds["kind"].tolist() == ["abandoned", "failed"]  # newest first
    assert json.loads(kinds["payload_json"].iloc[0])["material_ids"] == sorted(ids[1:])
    assert json.loads(kinds["payload_json"].iloc[1])["note"] == "synthesis failed"
    # nothing pending: a new batch is allowed (it fails later only for want of a screen)
    code, _, err = _run(["propose", "camp", "--out", str(tmp_path / "p.csv"), "--dir",
                         str(root)], capsys)
    assert code == 1 and "no finished screen" in err
    code, out, _ = _run(["proposals", "list", "camp", "--status", "all", "--dir", str(root)],
                        capsys)
    assert code == 0
    assert "synthesis failed" in out and out.count("abandoned") >= 2


@pytest.mark.parametrize(("args", "message"), [
    (["abandon", "camp", "PI-nope"], "material 'PI-nope' was never proposed in campaign camp"),
    (["abandon", "camp", "--batch", "7"], "campaign camp has no batch 7 (batches: 1)"),
    (["fail", "camp", "FIRST", "PI-nope"], "material 'PI-nope' was never proposed"),
])
def test_bad_ids_or_batches_are_one_line_and_change_nothing(
        root: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    args = [_ids(root)[0] if a == "FIRST" else a for a in args]
    before = logical_content(root / "camp" / DB_NAME)
    code, _, err = _run(["proposals", *args, "--dir", str(root)], capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and message in " ".join(err.split())
    assert logical_content(root / "camp" / DB_NAME) == before


def test_closing_a_closed_proposal_says_its_status(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _ids(root)[0]
    assert _run(["proposals", "abandon", "camp", first, "--dir", str(root)], capsys)[0] == 0
    before = logical_content(root / "camp" / DB_NAME)
    code, _, err = _run(["proposals", "fail", "camp", first, "--dir", str(root)], capsys)
    assert code == 1
    assert (f"material '{first}' has no pending proposal (its proposal of batch 1 is "
            f"abandoned); only pending proposals can be marked failed") in " ".join(err.split())
    assert logical_content(root / "camp" / DB_NAME) == before


@pytest.mark.parametrize("args", [
    ["proposals", "abandon", "camp"],                       # no selector
    ["proposals", "fail", "camp", "X", "--all"],            # two selectors
    ["proposals", "list", "camp", "--status", "lost"],      # unknown status
])
def test_usage_errors_exit_2_and_change_nothing(
        root: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    before = logical_content(root / "camp" / DB_NAME)
    code, _, err = _run([*args, "--dir", str(root)], capsys)
    assert code == 2
    assert "--batch" in err or "--status" in err
    assert logical_content(root / "camp" / DB_NAME) == before
