"""Scoring: the pure work of a screen, and the scorer that holds a model to do it.

* :func:`score_batch` — pure: featurize a batch of candidates (one parse gives features
  and canonical form), predict mean, std and out-of-domain distance, compute a cheap
  acquisition value (:func:`acquisition_values`, UCB by default), and return the scored
  rows plus a rejects frame with one reason per bad row (its file and 1-based data row,
  as ingest and ``e2t predict`` number rows). Tested without Ray.
* :class:`Scorer` — loads the model and the featurizer once, then scores batches with
  :func:`score_batch` under its :class:`ScoreSettings`; the body of a Ray scoring actor,
  or a scorer in this process (:meth:`Scorer.in_process`).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from e2t_discovery.model.protocol import Surrogate

from e2t_discovery.exceptions import ScreenError
from e2t_discovery.featurize.base import Featurizer

__all__ = [
    "REJECT_COLUMNS",
    "SCORE_COLUMNS",
    "ScoreSettings",
    "Scorer",
    "acquisition_values",
    "score_batch",
]

#: Columns of a scored shard, in order.
SCORE_COLUMNS = ("id", "canonical", "domain", "mean", "std", "domain_distance", "acquisition")
#: Columns of a rejects shard, in order (``row``: 1-based data row of ``file``).
REJECT_COLUMNS = ("id", "item", "reason", "file", "row")


def acquisition_values(
    mean: np.ndarray,
    std: np.ndarray,
    *,
    beta: float = 2.0,
    objective: str = "maximize",
    low: float | None = None,
    high: float | None = None,
) -> np.ndarray:
    """Cheap analytic acquisition used to rank a screen (larger is better).

    ``maximize``: ``mean + beta * std``; ``minimize``: ``-mean + beta * std`` (upper
    confidence bound of the negated target); ``range``: probability that the value lies
    in ``[low, high]`` under ``N(mean, std^2)``.

    Args:
        mean: ``n`` predictive means.
        std: ``n`` predictive standard deviations.
        beta: Weight of the standard deviation (UCB).
        objective: ``maximize``, ``minimize`` or ``range``.
        low: Lower bound (``range`` only).
        high: Upper bound (``range`` only).

    Returns:
        ``n`` acquisition values (float64).

    Raises:
        ScreenError: on an unknown objective or a range without bounds.
    """
    from e2t_discovery.objective import DIRECTIONS, Objective

    if objective not in DIRECTIONS:
        raise ScreenError(f"unknown objective {objective!r}; use maximize, minimize or range")
    if objective == "range" and (low is None or high is None):
        raise ScreenError("objective 'range' needs low and high bounds; set both")
    return Objective(objective, low, high).screen_acquisition(mean, std, beta)  # type: ignore[arg-type]


def score_batch(
    batch: pd.DataFrame,
    model: Surrogate,
    featurizer: Featurizer,
    *,
    item_column: str,
    canonicalize: bool = True,
    domain_column: str | None = "domain",
    element_groups: list[list[str]] | None = None,
    beta: float = 2.0,
    objective: str = "maximize",
    low: float | None = None,
    high: float | None = None,
    file: str | None = None,
    first_row: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score one batch of candidates; never raises on a bad row.

    Args:
        batch: Rows with ``id``, ``item_column`` and optionally ``domain_column``.
        model: A fitted surrogate (:class:`~e2t_discovery.model.protocol.Surrogate`: an
            ``E2TSurrogate`` or a transfer model).
        featurizer: Turns the items into an ``n x d`` array, with rejects.
        item_column: Column holding the representation (p-SMILES, formula, CIF path).
        canonicalize: Take each row's canonical form from the featurizer (same parse as
            the features); False keeps the item as is (libraries already canonical).
        domain_column: Column copied to ``domain`` (None or missing -> null domain).
        element_groups: If given, the domain is derived from the elements instead (e.g.
            ``Pb-I``; see :func:`~e2t_discovery.domains.domain_from_elements`): from the
            canonical formula (compositions) or the parsed structure (structures).
        beta, objective, low, high: Passed to :func:`acquisition_values`.
        file: The library file the batch comes from (recorded with each reject).
        first_row: The 1-based data row (header not counted) of the batch's first row in
            ``file``.

    Returns:
        ``(scored, rejects)``: ``scored`` has :data:`SCORE_COLUMNS` in input order for the
        valid rows; ``rejects`` has :data:`REJECT_COLUMNS`, one row per invalid candidate
        (featurization failed, with the featurizer's reason, or a non-finite prediction).
    """
    ids = batch["id"].astype(str).to_list()
    items = batch[item_column].to_list()
    if domain_column is not None and domain_column in batch.columns:
        domains = [None if pd.isna(d) else str(d) for d in batch[domain_column].to_list()]
    else:
        domains = [None] * len(ids)
    fb = featurizer.transform_with_rejects(items, canonical=canonicalize)
    forms: list[str | None] = (list(fb.canonical) if fb.canonical is not None
                               else [str(i) for i in items])
    reasons = list(fb.reasons)
    valid = [int(i) for i in np.flatnonzero(fb.ok)]
    if element_groups is not None:
        domains = _element_domains(featurizer.kind, items, forms, valid, element_groups,
                                   domains)
    mean = std = dist = np.zeros(0)
    if valid:
        mean, std, dist = model.predict_with_distance(fb.X)  # one pass for all three
        mean, std, dist = (np.asarray(a, dtype=np.float64) for a in (mean, std, dist))
        finite = np.isfinite(mean) & np.isfinite(std) & np.isfinite(dist)
        for k in np.flatnonzero(~finite):
            reasons[valid[k]] = "model returned a non-finite prediction"
        keep = np.flatnonzero(finite)
        valid = [valid[k] for k in keep]
        mean, std, dist = mean[keep], std[keep], dist[keep]
    scored = pd.DataFrame({
        "id": pd.array([ids[i] for i in valid], dtype="string"),
        "canonical": pd.array([forms[i] for i in valid], dtype="string"),
        "domain": pd.array([domains[i] for i in valid], dtype="string"),
        "mean": mean, "std": std, "domain_distance": dist,
        "acquisition": acquisition_values(mean, std, beta=beta, objective=objective,
                                          low=low, high=high),
    })
    bad = [i for i, r in enumerate(reasons) if r is not None]
    rejects = pd.DataFrame({
        "id": pd.array([ids[i] for i in bad], dtype="string"),
        "item": pd.array([None if items[i] is None else str(items[i])[:500] for i in bad],
                         dtype="string"),
        "reason": pd.array([reasons[i] for i in bad], dtype="string"),
        "file": pd.array([file] * len(bad), dtype="string"),
        "row": np.array([first_row + i for i in bad], dtype=np.int64),
    })
    return scored, rejects


def _element_domains(kind: str, items: list[Any], forms: list[str | None], valid: list[int],
                     groups: list[list[str]], domains: list[str | None]) -> list[str | None]:
    """Domains of the valid rows from their elements (others keep their old label).

    A row whose elements cannot be read keeps a null domain (it is still scored).
    """
    from e2t_discovery.domains import element_domain

    out = list(domains)
    for i in valid:
        try:
            out[i] = element_domain(items[i] if kind == "structure" else str(forms[i]), kind,
                                    groups)
        except (ValueError, TypeError, KeyError):
            out[i] = None
    return out


@dataclass(frozen=True)
class ScoreSettings:
    """What every scoring actor needs besides the model (picklable).

    Attributes:
        kind: Featurizer kind (``polymer``, ``composition``, ``structure``).
        item_column: Library column with the representation.
        featurizer_params: Keyword arguments of the featurizer.
        domain_column: Library column with the domain label, or None.
        element_groups: Derive the domain from the elements instead (see score_batch).
        canonical: True if the library's items are already canonical (skip that step).
        beta, objective, low, high: Acquisition settings (:func:`acquisition_values`).
    """

    kind: str
    item_column: str
    featurizer_params: dict[str, Any] = field(default_factory=dict)
    domain_column: str | None = "domain"
    element_groups: list[list[str]] | None = None
    canonical: bool = False
    beta: float = 2.0
    objective: str = "maximize"
    low: float | None = None
    high: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the settings as a JSON-comparable dict (NaN-free)."""
        data = {k: v for k, v in self.__dict__.items()}
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in data.items()}


class Scorer:
    """Ray actor body: loads the model and the featurizer once, then scores batches."""

    def __init__(self, model_files: dict[str, bytes], settings: ScoreSettings,
                 threads: int) -> None:
        import torch

        from e2t_discovery.featurize import get_featurizer
        from e2t_discovery.model import load_surrogate

        torch.set_num_threads(max(1, threads))
        # the model is read whole into memory, so its folder goes as soon as it is loaded
        with tempfile.TemporaryDirectory(prefix="e2t-model-") as folder:
            for rel, data in model_files.items():
                target = Path(folder) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            self.model = load_surrogate(folder)
        self.featurizer = get_featurizer(settings.kind, **settings.featurizer_params)
        self.settings = settings

    @classmethod
    def in_process(cls, model_dir: Path, settings: ScoreSettings) -> Scorer:
        """A scorer in this process, reading the model folder in place (no Ray)."""
        from e2t_discovery.featurize import get_featurizer
        from e2t_discovery.model import load_surrogate

        scorer = cls.__new__(cls)
        scorer.model = load_surrogate(model_dir)
        scorer.featurizer = get_featurizer(settings.kind, **settings.featurizer_params)
        scorer.settings = settings
        return scorer

    def ready(self) -> bool:
        """Return True once the model and featurizer are loaded (to time start-up)."""
        return True

    def score(self, batch: pd.DataFrame, file: str | None = None,
              first_row: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, str]:
        """Score a batch; return scored rows, rejects and this actor's node id."""
        import ray

        scored, rejects = self.score_here(batch, file, first_row)
        return scored, rejects, ray.get_runtime_context().get_node_id()

    def score_here(self, batch: pd.DataFrame, file: str | None = None,
                   first_row: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Score a batch (rows ``first_row``... of ``file``); return scored rows and rejects."""
        s = self.settings
        return score_batch(
            batch, self.model, self.featurizer, item_column=s.item_column,
            canonicalize=not s.canonical, domain_column=s.domain_column,
            element_groups=s.element_groups, beta=s.beta,
            objective=s.objective, low=s.low, high=s.high, file=file, first_row=first_row)
