"""Tests of the strategy registry and the shared selection rules."""

from __future__ import annotations

import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import pandas as pd
import pytest

from e2t_discovery import strategies
from e2t_discovery.exceptions import StrategyError
from e2t_discovery.strategies.ucb import UCB

NAMES = ["domain-bayes", "greedy", "logei", "new-domain", "ood-ucb", "portfolio", "qlognei",
         "random", "thompson", "ucb"]


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


PLUGIN_MODULE = '''
"""A lab's strategy, shipped in a distribution of its own."""
from e2t_discovery.strategies.base import Choice, Strategy, top


class MostCertain(Strategy):
    """Pick the smallest posterior std first."""

    name = "myplugin"

    def choose(self, candidates, q, ctx):
        values = -candidates["std"].to_numpy(float)
        return [Choice(i, float(values[i]), "most certain") for i in top(values, q)]
'''


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Put throwaway distributions (a ``*.dist-info`` folder and a module) on sys.path."""
    modules: list[str] = []

    def install(dist: str, module: str, names: list[str]) -> None:
        site = tmp_path / dist
        info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(
            "[e2t_discovery.strategies]\n"
            + "".join(f"{name} = {module}:MostCertain\n" for name in names))
        (site / f"{module}.py").write_text(PLUGIN_MODULE)
        modules.append(module)
        monkeypatch.syspath_prepend(site)  # also invalidates importlib's path caches

    yield install
    for module in modules:
        sys.modules.pop(module, None)


def test_a_strategy_from_another_distribution_is_found(install_plugin, frame):
    install_plugin("e2t-test-plugin", "e2t_test_plugin", ["myplugin"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert strategies.available() == sorted([*NAMES, "myplugin"])
        strat = strategies.get("myplugin")
    assert type(strat).__module__ == "e2t_test_plugin"
    out = strat.select(frame, 2, proposed={"c"})
    assert out["id"].tolist() == ["b", "e"]  # std 0.0 and 0.2; c (0.1) was proposed
    assert out["reason"].tolist() == ["most certain", "most certain"]


def test_a_plugin_cannot_shadow_a_builtin(install_plugin, frame):
    install_plugin("e2t-test-plugin", "e2t_test_plugin", ["ucb"])
    with pytest.warns(UserWarning, match=(
            r"strategy 'ucb' is registered by distribution 'e2t-discovery' \S+ "
            r"\(e2t_discovery\.strategies\.ucb:UCB\) and by distribution 'e2t-test-plugin' "
            r"0\.1 \(e2t_test_plugin:MostCertain\): the built-in one is used")):
        strat = strategies.get("ucb")
    assert type(strat) is UCB
    with pytest.warns(UserWarning, match="'ucb' is registered by"):
        assert strategies.available() == NAMES


def test_between_two_plugins_the_first_on_the_path_wins(install_plugin):
    install_plugin("lab-one", "lab_one", ["myplugin"])
    install_plugin("lab-two", "lab_two", ["myplugin"])  # prepended: first on sys.path
    with pytest.warns(UserWarning, match=(
            r"'myplugin' is registered by distribution 'lab-two' 0\.1 \(lab_two:MostCertain\) "
            r"and by distribution 'lab-one' 0\.1 \(lab_one:MostCertain\): the first found")):
        strat = strategies.get("myplugin")
    assert type(strat).__module__ == "lab_two"


def test_missing_package_metadata_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", [str(tmp_path)])  # no distribution is installed here
    with pytest.raises(StrategyError, match=(
            r"no built-in strategy is registered: the e2t-discovery package metadata .* "
            r"is not installed; run `pip install -e \.`")):
        strategies.available()
