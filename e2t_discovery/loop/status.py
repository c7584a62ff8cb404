"""What ``e2t status`` shows: counts, rounds, the best per domain, the last model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from e2t_discovery.config.schema import CampaignConfig
from e2t_discovery.domains import NO_DOMAIN
from e2t_discovery.store import PROPOSAL_STATUSES, ModelRecord, Store

__all__ = ["CampaignStatus", "campaign_status"]


@dataclass(frozen=True)
class CampaignStatus:
    """What ``e2t status`` shows.

    Attributes:
        name: Campaign name.
        kind: Representation kind.
        property: Target property.
        unit: Its unit.
        objective: ``maximize``, ``minimize`` or ``range``.
        counts: ``measurements, measured_materials, materials, files``.
        current_round: Highest round seen.
        rounds: Per round: ``round, measurements, proposals, answered, steps``.
        proposals: Proposal counts by status (``proposed``, ``measured``, ``dropped``,
            ``abandoned``, ``failed``).
        best: Best measured material overall (``material_id, domain, value``) or None.
        best_per_domain: ``domain, material_id, value, n`` (best first).
        last_model: The newest model version, or None.
        screen_runs: Number of screen runs.
        transfer_source: One line naming the ``[transfer]`` source (None without one).
    """

    name: str
    kind: str
    property: str
    unit: str
    objective: str
    counts: dict[str, int]
    current_round: int
    rounds: pd.DataFrame
    proposals: dict[str, int]
    best: dict[str, Any] | None
    best_per_domain: pd.DataFrame
    last_model: ModelRecord | None
    screen_runs: int
    transfer_source: str | None = None


def campaign_status(store: Store, config: CampaignConfig) -> CampaignStatus:
    """Return counts, rounds, best measured material per domain and the last model."""
    data = store.measurements(config.target.property)
    best_per_domain = pd.DataFrame(columns=["domain", "material_id", "value", "n"])
    best = None
    objective = config.objective
    if not data.empty:
        per = (data.assign(domain=data["domain"].fillna(NO_DOMAIN))
               .groupby(["domain", "material_id"], as_index=False)["value"].mean())
        per["score"] = per["value"].map(objective.score)
        per = per.sort_values(["score", "material_id"], ascending=[False, True])
        counts = per.groupby("domain")["material_id"].size().rename("n")
        best_per_domain = (per.drop_duplicates("domain")
                           .merge(counts, left_on="domain", right_index=True)
                           [["domain", "material_id", "value", "n"]]
                           .reset_index(drop=True))
        top = per.iloc[0]
        best = {"material_id": top["material_id"], "domain": top["domain"],
                "value": float(top["value"])}
    proposals = store.proposals()
    source = store.transfer_source()
    by_status = {s: int((proposals["status"] == s).sum()) for s in PROPOSAL_STATUSES}
    return CampaignStatus(
        name=config.campaign.name, kind=config.representation.kind,
        property=config.target.property, unit=config.target.unit,
        objective=objective.direction, counts=store.measurement_counts(),
        current_round=store.current_round(), rounds=store.rounds(),
        proposals=by_status, best=best,
        best_per_domain=best_per_domain, last_model=store.latest_model(),
        screen_runs=len(store.screen_runs()),
        transfer_source=None if source is None else source.describe(store.transfer_choice()))
