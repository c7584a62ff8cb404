"""A campaign's materials as model input: its featurizer and the graph/array choice."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from e2t_discovery.config.schema import CampaignConfig
from e2t_discovery.domains import frame_domains
from e2t_discovery.exceptions import FeaturizationError
from e2t_discovery.featurize import Featurizer, get_featurizer

__all__ = ["CampaignFeatures"]


class CampaignFeatures:
    """Turn a campaign's canonical forms (or raw inputs) into what its model takes."""

    def __init__(self, config: CampaignConfig, directory: Path) -> None:
        """Featurize as ``config`` says; structures are cached under ``directory/cache``."""
        self.config = config
        self.dir = directory

    @cached_property
    def featurizer(self) -> Featurizer:
        """The featurizer of the campaign's representation (structure: cached on disk)."""
        params = dict(self.config.representation.featurizer)
        if self.config.representation.kind == "structure":
            params.setdefault("cache_dir", str(self.dir / "cache" / "structures"))
        return get_featurizer(self.config.representation.kind, **params)

    @property
    def uses_graphs(self) -> bool:
        """True when the model's encoder takes crystal graphs rather than arrays."""
        return self.config.model.settings.get("encoder", "mlp") == "graph"

    def model_input(self, items: list[Any]) -> Any:
        """Return the model input of ``items``.

        Returns:
            ``n x d`` float32 array, or ``n`` crystal graphs when the model's encoder is
            ``graph``.

        Raises:
            FeaturizationError: naming the first bad item and its row.
        """
        if self.uses_graphs:
            return self.featurizer.graphs(items)  # type: ignore[attr-defined]
        return self.featurizer.transform(items)

    def arrays(self, items: list[Any]) -> np.ndarray:
        """Return the fixed feature arrays of ``items`` (what strategies compare)."""
        return self.featurizer.transform(items)

    def with_rejects(self, items: list[Any]) -> tuple[Any, np.ndarray, list[str | None]]:
        """Featurize what can be; return (model input of the valid rows, ok mask, reasons)."""
        if not self.uses_graphs:
            batch = self.featurizer.transform_with_rejects(items)
            return batch.X, batch.ok, list(batch.reasons)
        graphs: list[Any] = []
        ok = np.zeros(len(items), dtype=bool)
        reasons: list[str | None] = []
        for i, item in enumerate(items):
            try:
                graphs.append(self.featurizer.graph_one(item))  # type: ignore[attr-defined]
                ok[i] = True
                reasons.append(None)
            except (FeaturizationError, ValueError, TypeError, KeyError) as exc:
                reasons.append(f"invalid structure input: {exc}")
        return graphs, ok, reasons

    def domains_of(self, frame: pd.DataFrame, canonical: list[str] | None = None) -> np.ndarray:
        """Return the domain label of each row of a candidate/lab frame (None if unknown).

        ``column``: the configured column if present; ``elements``: from the formula or
        structure in ``canonical`` (or the input column); ``clustering``: None (the model
        assigns clusters). The rules are :mod:`e2t_discovery.domains`'.
        """
        dom, rep = self.config.domains, self.config.representation
        return frame_domains(frame, method=dom.method, column=dom.column,
                             element_groups=dom.element_groups, kind=rep.kind,
                             input_column=rep.input_column, canonical=canonical)
