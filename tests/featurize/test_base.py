"""Tests of the featurizer contract (raise vs. reject mask) on a minimal featurizer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from e2t_discovery.exceptions import FeaturizationError
from e2t_discovery.featurize import get_featurizer
from e2t_discovery.featurize.base import Featurizer

_LOOKUP = {"a": 1.0, "b": 2.0}


class _Lookup(Featurizer):
    """Map a letter to ``[v, v**2]``; raise KeyError on others, FeaturizationError on '!'."""

    kind = "lookup"

    def featurize_one(self, item: Any) -> np.ndarray:
        if item == "!":
            raise FeaturizationError("bang is not allowed")
        value = _LOOKUP[item]
        return np.array([value, value**2])

    def feature_labels(self) -> list[str]:
        return ["value", "square"]


def test_transform_returns_float32_rows_in_input_order() -> None:
    X = _Lookup().transform(["b", "a", "b"])

    assert X.dtype == np.float32
    np.testing.assert_array_equal(X, [[2, 4], [1, 1], [2, 4]])


def test_empty_batch_has_zero_rows_and_all_columns() -> None:
    assert _Lookup().transform([]).shape == (0, 2)
    batch = _Lookup().transform_with_rejects([])
    assert batch.X.shape == (0, 2) and batch.ok.shape == (0,) and batch.reasons == []


def test_transform_raises_naming_row_and_item() -> None:
    with pytest.raises(FeaturizationError, match=r"^row 1: invalid lookup input: z \(item 'z'\)$"):
        _Lookup().transform(["a", "z"])


def test_featurization_error_from_an_item_gets_the_row() -> None:
    expected = r"^row 2: bang is not allowed \(item '!'\)$"
    with pytest.raises(FeaturizationError, match=expected) as info:
        _Lookup().transform(["a", "b", "!"])
    assert info.value.row == 2 and info.value.item == "!"


def test_transform_with_rejects_returns_mask_and_reasons() -> None:
    batch = _Lookup().transform_with_rejects(["z", "a", "!", "b"])

    np.testing.assert_array_equal(batch.ok, [False, True, False, True])
    np.testing.assert_array_equal(batch.X, [[1, 1], [2, 4]])
    assert batch.reasons == ["invalid lookup input: z", None, "bang is not allowed", None]


def test_all_rejected_batch_has_no_rows() -> None:
    batch = _Lookup().transform_with_rejects(["x", "y"])

    assert batch.X.shape == (0, 2) and not batch.ok.any()


def test_unknown_featurizer_kind_lists_known_kinds() -> None:
    with pytest.raises(FeaturizationError, match="kind 'graph'; known kinds: polymer, composition"):
        get_featurizer("graph")


def test_canonical_forms_default_to_the_item_text() -> None:
    batch = _Lookup().transform_with_rejects(["b", "z", "a"], canonical=True)

    assert batch.canonical == ["b", None, "a"]
    assert _Lookup().transform_with_rejects(["a"]).canonical is None
