"""Tests of the strategy registry and the shared selection rules."""

from __future__ import annotations

from importlib.metadata import entry_points

import pandas as pd
import pytest

from e2t_discovery import strategies
from e2t_discovery.exceptions import StrategyError

NAMES = ["greedy", "logei", "new-domain", "ood-ucb", "qlognei", "random", "thompson", "ucb"]


def test_builtins_are_known_and_declared_as_entry_points():
    assert set(NAMES) <= set(strategies.available())
    declared = {ep.name for ep in entry_points(group=strategies.ENTRY_POINT_GROUP)}
    assert set(NAMES) <= declared
    for name in NAMES:
        assert strategies.get(name).name == name


def test_unknown_name_lists_known_ones():
    with pytest.raises(StrategyError, match="unknown strategy 'best'; known strategies: "
                                            "domain-bayes, greedy"):
        strategies.get("best")


def test_unknown_and_bad_parameters_are_refused():
    with pytest.raises(StrategyError, match="has no parameter.*gamma; accepted: beta"):
        strategies.get("ucb", gamma=1.0)
    with pytest.raises(StrategyError, match="beta=-1"):
        strategies.get("ucb", beta=-1)
    with pytest.raises(StrategyError, match="share=1.5"):
        strategies.get("new-domain", share=1.5)


@pytest.mark.parametrize("name", ["greedy", "ucb", "random", "ood-ucb", "new-domain",
                                  "thompson"])
def test_never_repeats_measured_or_proposed_and_respects_q(name, frame):
    measured = pd.DataFrame({"id": ["c"], "domain": ["B"], "value": [3.0]})
    out = strategies.get(name).select(frame, 2, measured=measured, proposed={"e"}, rng=1)
    assert len(out) == 2 and out["id"].is_unique
    assert not set(out["id"]) & {"c", "e"}
    assert out["rank"].tolist() == [1, 2]
    assert out["reason"].str.len().min() > 0
    everything = strategies.get(name).select(frame, 10, measured=measured, proposed={"e"},
                                             rng=1)
    assert sorted(everything["id"]) == ["a", "b", "d"]


def test_same_canonical_form_counts_as_measured(frame):
    frame = frame.assign(canonical=["*C*", "*CC*", "*CCC*", "*CC*", "*O*"])
    measured = pd.DataFrame({"id": ["m1"], "canonical": ["*CCC*"]})
    out = strategies.get("greedy").select(frame, 5, measured=measured)
    assert out["id"].tolist() == ["e", "b", "a"]  # c measured; d repeats b's structure


def test_selection_errors(frame):
    with pytest.raises(StrategyError, match="q=0"):
        strategies.get("ucb").select(frame, 0)
    with pytest.raises(StrategyError, match="lack column"):
        strategies.get("ucb").select(frame.drop(columns="std"), 1)
    with pytest.raises(StrategyError, match="no candidate left"):
        strategies.get("ucb").select(frame, 1, proposed=set(frame["id"]))
    with pytest.raises(StrategyError, match="objective"):
        strategies.get("ucb").select(frame, 1, objective="range")
    with pytest.raises(StrategyError, match="needs the model"):
        strategies.get("qlognei").select(frame, 1)
