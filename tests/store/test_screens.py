"""Screen runs, shards and the Parquet view over their results."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from e2t_discovery.exceptions import StoreError
from e2t_discovery.store import Store


def test_screen_runs_shards_and_parquet_view(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "o'dd"  # a quote in the path must not break the view's DDL
    out.mkdir()
    run = store.start_screen_run(model_version=1, library="lib", out_dir=out, round=2,
                                 params={"batch": 10})
    assert (run.status, run.params, run.round) == ("running", {"batch": 10}, 2)
    for i, values in enumerate([[0.1, 0.9], [0.5]]):
        path = out / f"s{i}.parquet"
        pd.DataFrame({"id": [f"m{i}{j}" for j in range(len(values))],
                      "acquisition": values}).to_parquet(path)
        store.record_shard(run.id, f"s{i}", path, len(values), 0)
    store.record_shard(run.id, "s1", out / "s1.parquet", 1, 0)  # idempotent
    assert store.done_shards(run.id) == {"s0", "s1"}
    assert store.find_screen_run(1, "lib") == run
    assert store.find_screen_run(2, "lib") is None
    with pytest.raises(StoreError, match="no registered results"):
        store.screen_results(run.id)
    view = store.register_screen_view(run.id, out / "*.parquet")
    assert view == f"screen_{run.id}"
    top = store.screen_results(run.id, order_by="acquisition", limit=2)
    assert list(top["acquisition"]) == [0.9, 0.5]
    with pytest.raises(StoreError, match="has no column 'mean'"):
        store.screen_results(run.id, order_by="mean")
    store.finish_screen_run(run.id)
    runs = store.screen_runs()
    assert runs[["status", "n_shards", "n_rows"]].to_dict("records") == [
        {"status": "done", "n_shards": 2, "n_rows": 3}]


def test_screen_top_takes_the_best_overall_of_every_domain_and_the_most_uncertain(
        store: Store, tmp_path: Path) -> None:
    run = store.start_screen_run(model_version=1, library="lib", out_dir=tmp_path)
    with pytest.raises(StoreError, match="no registered results"):
        store.screen_top(run.id, k=2)
    path = tmp_path / "s0.parquet"
    pd.DataFrame({"id": ["a", "b", "c", "d", "e"], "domain": ["1", "1", "1", "2", "3"],
                  "acquisition": [0.9, 0.8, 0.7, 0.2, 0.1],
                  "mean": [1.0, 2.0, 3.0, 4.0, 5.0],
                  "std": [0.1, 0.2, 0.3, 0.05, 0.9]}).to_parquet(path)
    store.register_screen_view(run.id, path)
    assert store.screen_top(run.id, k=2)["id"].tolist() == ["a", "b"]
    # the rare domains 2 and 3 reach the shortlist through their own best row
    assert store.screen_top(run.id, k=2, per_domain=1)["id"].tolist() == ["a", "b", "d", "e"]
    assert store.screen_top(run.id, k=1, column="mean")["id"].tolist() == ["e"]
    # exploring strategies also get the most uncertain rows
    assert store.screen_top(run.id, k=1, uncertain=2)["id"].tolist() == ["a", "c", "e"]
    with pytest.raises(StoreError, match="lacks column 'ucb', 'domain' or 'std'"):
        store.screen_top(run.id, k=1, column="ucb")
