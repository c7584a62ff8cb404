"""Materials, measurements and the best value per domain."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_helpers import materials_frame, measurements_frame

from e2t_discovery.exceptions import StoreError
from e2t_discovery.store import Store


def test_materials_insert_once_and_refuse_a_changed_identity(store: Store) -> None:
    assert store.add_materials(materials_frame(["a", "b"])) == 2
    assert store.add_materials(materials_frame(["a", "c"], ["*C*", "*N*"]),
                               origin="library") == 1
    got = store.materials(["a", "c"])
    assert list(got["id"]) == ["a", "c"]
    assert list(got["origin"]) == ["measured", "library"]
    with pytest.raises(StoreError, match="material 'a' is stored as '\\*C\\*' but given as"):
        store.add_materials(materials_frame(["a"], ["*O*"]))
    store.set_material_domains(pd.DataFrame({"id": ["c"], "domain": ["7"]}))
    assert store.materials(["c"])["domain"].iloc[0] == "7"


def test_measurements_and_counts(store: Store) -> None:
    store.add_materials(pd.DataFrame({"id": ["a", "b", "c"], "kind": "polymer",
                                      "canonical": ["*C*", "*CC*", "*CCC*"],
                                      "domain": ["1", "1", "2"]}))
    store.add_measurements(measurements_frame(["a", "b", "c", "a"], [1.0, 3.0, 2.0, 5.0]))
    data = store.measurements("k")
    assert list(data["material_id"]) == ["a", "b", "c", "a"]
    assert store.measurement_counts() == {"measurements": 4, "measured_materials": 3,
                                          "materials": 3, "files": 0}


_ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
               max_size=12)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(_ids, st.tuples(_ids, st.one_of(st.none(), _ids)), min_size=1,
                       max_size=20))
def test_materials_round_trip(tmp_path: Path, rows: dict) -> None:
    folder = tmp_path / uuid.uuid4().hex  # a fresh store per example
    folder.mkdir()
    frame = pd.DataFrame({"id": list(rows), "kind": "composition",
                          "canonical": [c for c, _ in rows.values()],
                          "domain": [d for _, d in rows.values()]})
    with Store.open(folder / "campaign.duckdb") as s:
        assert s.add_materials(frame) == len(rows)
        got = s.materials(list(rows)).set_index("id")
        for key, (canonical, domain) in rows.items():
            assert got.loc[key, "canonical"] == canonical
            assert (None if pd.isna(got.loc[key, "domain"]) else got.loc[key, "domain"]) == domain
        assert s.add_materials(frame) == 0  # adding the same rows again is a no-op
