"""Message helpers: closest names, short listings, shortened values; Problem's one line."""

from __future__ import annotations

import pytest

from e2t_discovery.messages import closest_name, did_you_mean, first_line, listing, shown_value
from e2t_discovery.problems import Problem


def test_did_you_mean() -> None:
    assert did_you_mean("nbits", ["radius", "n_bits"]) == "did you mean 'n_bits'? "
    assert did_you_mean("zzz", ["radius", "n_bits"]) == ""


@pytest.mark.parametrize(("name", "header", "closest"), [
    ("smiles", ["id", "SMILES"], "SMILES"),  # case
    ("thermal_conductivity", ["Thermal Conductivity", "unit"], "Thermal Conductivity"),
    ("id", ["monomer_ID", "smiles"], "monomer_ID"),  # a word of the name
    ("smiels", ["id", "smiles"], "smiles"),  # spelling
    ("value", ["id", "smiles"], None),
    ("", ["id"], None),
])
def test_closest_name(name: str, header: list[str], closest: str | None) -> None:
    assert closest_name(name, header) == closest


def test_listing() -> None:
    names = [f"c{i}" for i in range(8)]
    assert listing(names[:5], 5, "columns") == "c0, c1, c2, c3, c4"
    assert listing(names, 5) == "c0, c1, c2, c3, c4 and 3 more"
    assert listing(names, 5, "columns") == "8 columns: c0, c1, c2, c3, c4 and 3 more"


def test_shown_value_cuts_long_values() -> None:
    assert shown_value("x" * 78) == repr("x" * 78)  # 80 characters with the quotes
    long = shown_value("x" * 79)
    assert len(long) == 80 and long.endswith("...")


def test_first_line() -> None:
    assert first_line(ValueError("bad\nmore")) == "bad"
    assert first_line(KeyError()) == "KeyError"


@pytest.mark.parametrize(("problem", "text"), [
    (Problem("f.csv", "bad", 3, "smiles"), "f.csv: row 3, column 'smiles': bad"),
    (Problem("f.csv", "bad", 3), "f.csv: row 3: bad"),
    (Problem("f.csv", "bad", column="unit"), "f.csv: column 'unit': bad"),
    (Problem("f.csv", "file is empty"), "f.csv: file is empty"),
])
def test_problem_is_one_line(problem: Problem, text: str) -> None:
    assert str(problem) == text
