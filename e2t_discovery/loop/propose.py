"""Propose a batch for the lab: screen results -> strategy -> store -> CSV.

:func:`propose_batch` joins a campaign's latest screen run with an acquisition
strategy: it reads a shortlist of the screen (top ``shortlist`` by the screen's cheap
acquisition plus the best ``per_domain`` of every domain, so rare domains reach
domain-aware strategies), featurizes the shortlist and the measured materials when the
strategy uses the model's joint posterior, lets the strategy choose ``q`` candidates that
were never measured or proposed (abandoned proposals excepted), records them in the store
and returns them. It refuses while another batch is pending (unless ``allow_pending``).

:func:`lab_frame` turns a recorded batch into the table handed to the lab: the strategy's
acquisition is stated in the user's terms (``ucb`` to maximize, ``lcb`` of the target in
its unit to minimize, ``log_ei``, ``thompson_draw``, ...; see
:meth:`~e2t_discovery.strategies.Strategy.acquisition_column`), not as the negated value
the strategy ranks by.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from e2t_discovery import strategies
from e2t_discovery.exceptions import ScreenError
from e2t_discovery.loop.proposals import require_no_pending

if TYPE_CHECKING:
    from e2t_discovery.config.schema import CampaignConfig
    from e2t_discovery.loop.features import CampaignFeatures
    from e2t_discovery.loop.models import ModelShelf
    from e2t_discovery.store import Store

__all__ = ["PROPOSAL_COLUMNS", "propose_batch", "lab_frame", "write_proposals"]

#: Columns of the proposals CSV handed to the lab, in order. ``acquisition`` stands for the
#: strategy's own column (``ucb``, ``lcb``, ``log_ei``, ``qlog_nei``, ``thompson_draw``,
#: ``ood_ucb_score``); there is none when ``mean`` (greedy) or ``rank`` (random) says it.
PROPOSAL_COLUMNS = ("rank", "id", "structure", "mean", "std", "acquisition", "domain",
                    "domain_distance", "out_of_domain", "reason")


def _latest_done_run(store: Store, name: str) -> int:
    """Id of the newest finished screen run with the campaign's latest model."""
    runs = store.screen_runs()
    record = store.latest_model()
    done = runs[(runs["status"] == "done") & runs["view_name"].notna()]
    if record is not None:
        done = done[done["model_version"] == record.version]
    if done.empty:
        raise ScreenError(f"campaign {name!r} has no finished screen with its latest "
                          f"model; run `e2t screen {name} --library PATH` first")
    return int(done["id"].max())


def _measured(store: Store, config: CampaignConfig) -> pd.DataFrame:
    """Measurements of the campaign's target: ``id, canonical, domain, value`` and, for
    materials the campaign proposed, the ``strategy`` and ``reason`` of the latest such
    proposal (bandit strategies learn from which of their picks paid off)."""
    frame = store.measurements(property=config.target.property)
    frame = frame.rename(columns={"material_id": "id"})[["id", "canonical", "domain", "value"]]
    proposals = store.proposals()
    if proposals.empty:
        return frame.assign(strategy=pd.Series(dtype="object"),
                            reason=pd.Series(dtype="object"))
    latest = (proposals[proposals["status"] != "abandoned"]
              .drop_duplicates("material_id", keep="last")
              [["material_id", "strategy", "reason"]].rename(columns={"material_id": "id"}))
    return frame.merge(latest, on="id", how="left")


def propose_batch(
    store: Store,
    config: CampaignConfig,
    models: ModelShelf,
    features: CampaignFeatures,
    strategy: str,
    q: int,
    *,
    params: dict[str, Any] | None = None,
    run_id: int | None = None,
    shortlist: int = 2000,
    per_domain: int = 20,
    round: int | None = None,
    seed: int = 0,
    allow_pending: bool = False,
) -> pd.DataFrame:
    """Choose and record a batch of ``q`` proposals.

    Args:
        store: The campaign's store (writable, with a finished screen run).
        config: The campaign's configuration.
        models: The campaign's model versions (the latest one flags out-of-domain picks).
        features: The campaign's featurization (for strategies that use the model).
        strategy: Registered strategy name (``strategies.available()``).
        q: Batch size.
        params: Strategy parameters (default: the config's ``strategy.params`` when the
            name is the configured strategy, else none).
        run_id: Screen run to use (default: the newest finished one of the latest model).
        shortlist: Top candidates by the screen's acquisition given to the strategy.
        per_domain: Also give the best this many of every domain.
        round: Round recorded with the proposals (default: the store's current round + 1).
        seed: Seed of the strategy's random generator.
        allow_pending: Open this batch even while proposals of another batch await the
            lab.

    Returns:
        The batch as :func:`lab_frame` gives it.

    Raises:
        ProposalError: proposals of another batch are pending (and not ``allow_pending``).
        StrategyError: unknown strategy / parameters, or no candidate left.
        ScreenError: no finished screen run.
    """
    cfg = config
    name = config.campaign.name
    if params is None:
        params = dict(cfg.strategy.params) if strategy == cfg.strategy.name else {}
    strat = strategies.get(strategy, **params)
    if not allow_pending:
        require_no_pending(store, name)
    run = run_id if run_id is not None else _latest_done_run(store, name)
    candidates = store.screen_top(run, k=max(shortlist, q), per_domain=per_domain,
                                  uncertain=strat.uncertain_candidates())
    measured = _measured(store, cfg)
    candidate_x = measured_x = None
    # the model also flags out-of-domain picks, whatever the strategy
    model = models.load() if len(candidates) else None
    if strat.uses_model:
        candidate_x = features.arrays(candidates["canonical"].astype(str).tolist())
        measured_x = (features.arrays(measured["canonical"].astype(str).tolist())
                      if len(measured) else None)
    objective = cfg.objective.direction  # a strategy refuses 'range' (Strategy.select)
    chosen = strat.select(
        candidates, q, model=model if strat.uses_model else None, features=candidate_x,
        measured=measured, measured_features=measured_x,
        proposed=store.proposed_material_ids(except_status=("abandoned",)),
        objective=objective, rng=np.random.default_rng(seed))
    if model is not None and len(chosen):
        chosen = chosen.assign(out_of_domain=model.out_of_domain(
            None, distance=chosen["domain_distance"].to_numpy(dtype=float)))
    named = strat.acquisition_column(objective)
    if named is not None:
        chosen = chosen.assign(acquisition_name=named[0],
                               acquisition_value=named[1] * chosen["acquisition"])
    record = store.latest_model()
    batch = round if round is not None else store.current_round() + 1
    with store.transaction():
        store.add_materials(pd.DataFrame({
            "id": chosen["id"].astype(str), "kind": cfg.representation.kind,
            "canonical": chosen["canonical"].astype(str), "domain": chosen["domain"]}),
            origin="library")
        store.add_proposals(
            chosen.rename(columns={"id": "material_id"}),
            round=batch, strategy=strategy,
            model_version=None if record is None else record.version, screen_run_id=run)
    return lab_frame(store.proposals(round=batch))


def lab_frame(proposals: pd.DataFrame, *, status: str | None = None,
              with_status: bool = False) -> pd.DataFrame:
    """Return one batch as the lab's table (:data:`PROPOSAL_COLUMNS`).

    Args:
        proposals: One batch as :meth:`Store.proposals` returns it (one round, in
            proposal order).
        status: Keep only proposals of this status (ranks stay those of the whole batch).
        with_status: Add the ``status`` and ``status_note`` columns.

    Returns:
        ``rank, id, structure, mean, std, <acquisition>, domain, domain_distance,
        out_of_domain, reason``, where ``<acquisition>`` is the batch's ``acquisition_name`` holding
        ``acquisition_value``, absent when the strategy names none.
    """
    frame = proposals.reset_index(drop=True)
    out = pd.DataFrame({
        "rank": frame.groupby("round").cumcount().to_numpy() + 1,
        "id": frame["material_id"].astype(str), "structure": frame["canonical"],
        "mean": frame["mean"], "std": frame["std"]})
    names = frame["acquisition_name"].dropna().unique() if len(frame) else []
    if len(names) == 1 and names[0] not in out.columns:
        out[str(names[0])] = frame["acquisition_value"].to_numpy()
    for col in ("domain", "domain_distance", "out_of_domain", "reason"):
        out[col] = frame[col].to_numpy()
    if with_status:
        out["status"] = frame["status"].to_numpy()
        out["status_note"] = frame["status_note"].to_numpy()
    if status is not None:
        out = out[frame["status"].to_numpy() == status].reset_index(drop=True)
    return out


def write_proposals(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write proposals (creating the folder; atomically) and return the path.

    ``.parquet`` (or ``.pq``) writes Parquet; anything else CSV.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        if out.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
