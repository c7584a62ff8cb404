"""The closed loop: one round = adapt -> screen -> propose (-> measure), resumable.

Each step of each round is recorded in the campaign store (``round_step``) when it is
done, and every step is safe to repeat after a crash at any point:

- **adapt** brings the model up to date with every measurement: the first round trains
  from scratch; later rounds condition the head on the new measurements and fine-tune the
  encoder when a domain reaches the adaptation threshold
  (:mod:`e2t_discovery.loop.adaptation`, :func:`e2t_discovery.loop.models.update_model`).
  The new version is stored with its parent and the data it saw. Repeating it finds no
  measurement newer than the latest model and does nothing.
- **screen** scores the library with the latest model
  (:func:`e2t_discovery.loop.screen_step.screen_step`); a repeated screen of the same
  library and model version skips the shards already done.
- **propose** records a batch for the lab (:func:`e2t_discovery.loop.propose.propose_batch`)
  in one transaction; if the round already has proposals, they are kept.
- **measure**: in simulation, the proposals are answered from a labelled table, written as
  a results file and ingested through the normal ingest path (a re-ingest of the same
  bytes is a no-op); proposals the table cannot answer are marked ``dropped`` and named.
  Against a real lab (*lab mode*) the round's pending proposals are written to a CSV
  (default ``<campaign>/proposals/round-N.csv``) and the loop stops; the round counts as
  measured once every proposal of it is measured (``e2t ingest``), abandoned or failed
  (``e2t proposals abandon|fail``).

So a killed ``e2t run`` is simply run again: nothing is lost or duplicated.

:func:`run_campaign` is the step table: it calls the campaign's step methods
(``update_model``, ``screen``, ``propose``) and :func:`measure_from_table`, which take
values; the campaign joins them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from e2t_discovery.domains import NO_DOMAIN
from e2t_discovery.exceptions import E2TError
from e2t_discovery.loop.adaptation import AdaptPolicy

if TYPE_CHECKING:
    from e2t_discovery.config.schema import CampaignConfig
    from e2t_discovery.loop.campaign import Campaign
    from e2t_discovery.loop.simulate import LabTable
    from e2t_discovery.store import Store

__all__ = ["STEPS", "RoundResult", "RunResult", "run_campaign", "measure_from_table",
           "next_round", "round_progress"]

#: Steps of a round, in order.
STEPS = ("adapt", "screen", "propose", "measure")


@dataclass(frozen=True)
class RoundResult:
    """What one round did.

    Attributes:
        round: Round number (1-based).
        model_version: Model version the round screened with.
        update: ``train``, ``condition``, ``adapt`` (fine-tuned) or ``unchanged``.
        update_seconds: Wall time of the model update.
        screen_run_id: The screen run used for the proposals.
        n_proposed: Proposals of the round.
        n_measured: Proposals of the round now measured.
        seconds: Wall time per step done in this call (steps done before are absent).
        resumed: Steps found already done (after a crash or an earlier call).
        measurements: Measurements of the target after the round (initial data included).
        best: Best measured value so far (NaN if none).
        best_domain: Domain of that value.
        batch_rmse: RMSE of the proposal-time predictions on the round's measured
            proposals (NaN if none was measured).
        new_domains: Domains measured for the first time in this round.
        unanswered: Proposed ids the simulation table could not answer (marked dropped).
    """

    round: int
    model_version: int
    update: str
    update_seconds: float
    screen_run_id: int
    n_proposed: int
    n_measured: int
    seconds: dict[str, float] = field(default_factory=dict)
    resumed: tuple[str, ...] = ()
    measurements: int = 0
    best: float = float("nan")
    best_domain: str = ""
    batch_rmse: float = float("nan")
    new_domains: tuple[str, ...] = ()
    unanswered: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunResult:
    """What :func:`run_campaign` did.

    Attributes:
        rounds: Rounds completed in this call, in order.
        completed: Rounds of the campaign completed in total.
        waiting_for: Round whose proposals await lab results, or None.
        waiting_file: The CSV the awaited proposals were written to (lab mode), or None.
        waiting: The awaited proposals as :func:`e2t_discovery.loop.propose.lab_frame` gives
            them, or None.
    """

    rounds: list[RoundResult]
    completed: int
    waiting_for: int | None
    waiting_file: Path | None = None
    waiting: pd.DataFrame | None = None


def next_round(store: Store) -> int:
    """Return the first round whose ``measure`` step is not done (1-based)."""
    r = 1
    while store.is_step_done(r, "measure"):
        r += 1
    return r


def measure_from_table(store: Store, config: CampaignConfig, directory: Path, round: int,
                       lab: LabTable) -> dict[str, Any]:
    """Answer a round's proposals from a labelled table through the ingest path.

    The results file ``<campaign>/simulated/round-NNNN.csv`` is written atomically and
    deterministically, so a repeat after a crash writes the same bytes and its ingest is
    a no-op. Only pending proposals are asked (not those abandoned or failed); those the
    table cannot answer are marked ``dropped``.

    Returns:
        ``{"file", "measurements", "dropped", "dropped_ids"}``.
    """
    from e2t_discovery.loop.ingest import ingest_file

    props = store.proposals(round=round, status="proposed")
    ids = props["material_id"].astype(str).tolist()
    results = lab.lab_file(ids, config)
    answered = set(results[config.representation.id_column].astype(str))
    dropped = [i for i in ids if i not in answered]
    path = directory / "simulated" / f"round-{round:04d}.csv"
    n = 0
    if len(results):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".csv.tmp")
        results.to_csv(tmp, index=False)
        os.replace(tmp, path)
        n = ingest_file(store, config, path, round=round).measurements
    if dropped:
        store.set_proposal_status(dropped, "dropped", round=round)
    # all of the round's, so a repeat after a crash names those dropped before it as well
    dropped = store.proposals(round=round, status="dropped")["material_id"].astype(str).tolist()
    return {"file": str(path) if len(results) else None, "measurements": int(n),
            "dropped": len(dropped), "dropped_ids": dropped}


def round_progress(store: Store, config: CampaignConfig, directory: Path,
                   round: int) -> dict[str, Any]:
    """Summarize the campaign after ``round`` as ``e2t demo`` does.

    Returns:
        ``{"measurements", "best", "best_domain", "batch_rmse", "new_domains"}`` (see
        :class:`RoundResult`).
    """
    from e2t_discovery.report import campaign_report_data, round_summary

    data = campaign_report_data(store, config, config.campaign.name, directory)
    m = data.measurements
    summary = round_summary(m, data.proposals, data.objective, data.target_range)
    last = summary[summary["round"] <= round]
    if last.empty:
        return {"measurements": int(len(m)), "best": float("nan"), "best_domain": "",
                "batch_rmse": float("nan"), "new_domains": ()}
    row = last.iloc[-1]
    rmse = float(row["batch_rmse"]) if int(row["round"]) == round else float("nan")
    before = set(m[m["round"] < round]["domain"])
    now = set(m[m["round"] == round]["domain"]) - before - {NO_DOMAIN}
    return {"measurements": int(row["measurements"]), "best": float(row["best"]),
            "best_domain": str(row["best_domain"]), "batch_rmse": rmse,
            "new_domains": tuple(sorted(now, key=str))}


def _lab_done(store: Store, round: int) -> bool:
    props = store.proposals(round=round)
    return bool(len(props)) and bool((props["status"] != "proposed").all())


def run_campaign(
    campaign: Campaign,
    rounds: int,
    *,
    simulate_with: LabTable | None = None,
    library: str | Path | None = None,
    policy: AdaptPolicy | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool = False,
    on_round: Callable[[RoundResult], None] | None = None,
    on_step: Callable[[int, str], None] | None = None,
    out: str | Path | None = None,
) -> RunResult:
    """Run the closed loop until ``rounds`` rounds of the campaign are complete.

    ``rounds`` counts all rounds of the campaign, not only those of this call, so running
    the same command again after a crash finishes the same campaign.

    Args:
        campaign: An open, writable campaign with initial measurements.
        rounds: Total rounds the campaign should have completed.
        simulate_with: Answer proposals from this labelled table; None: stop at the first
            round whose proposals await lab results.
        library: Candidate library (default: the config's ``library.path``).
        policy: Adaptation policy (default: threshold from the config's
            ``model.adaptation_threshold``).
        workers: Scoring actors of the screen (default: all cores).
        ray_address: Ray cluster to screen on (None: local).
        progress: Show progress bars (training, screening) on stderr.
        on_round: Called with each completed round.
        on_step: Called as ``(round, step)`` before a step starts.
        out: Lab mode: the CSV the awaited proposals are written to (default
            ``<campaign>/proposals/round-N.csv``).

    Returns:
        The :class:`RunResult`.

    Raises:
        E2TError: if ``rounds`` < 1 or the campaign has no measurements; errors of the
            steps (screen, strategy, ingest) pass through unchanged.
    """
    from e2t_discovery.loop.propose import lab_frame, write_proposals
    from e2t_discovery.screen.ray_session import ray_session

    if rounds < 1:
        raise E2TError(f"--rounds {rounds} must be at least 1")
    store = campaign.store
    if store.measurement_counts()["measurements"] == 0:
        raise E2TError(f"campaign {campaign.name} has no measurements; ingest initial data "
                       f"with `e2t ingest {campaign.name} FILE` first")
    policy = policy or AdaptPolicy.of(campaign.config.model)
    cfg = campaign.config
    done: list[RoundResult] = []
    r = next_round(store)
    with ray_session(ray_address, workers, campaign.dir / "logs" / "ray.log"):
        while r <= rounds:
            seconds: dict[str, float] = {}
            resumed: list[str] = []

            def step(name: str, fn: Callable[[], dict[str, Any]], r: int = r,
                     seconds: dict[str, float] = seconds,
                     resumed: list[str] = resumed) -> dict[str, Any]:
                info = store.step_info(r, name)
                if info is not None:
                    resumed.append(name)
                    return info
                if on_step is not None:
                    on_step(r, name)
                t0 = time.perf_counter()
                info = fn()
                seconds[name] = time.perf_counter() - t0
                store.mark_step_done(r, name, info)
                return info

            adapt = step("adapt", lambda: campaign.update_model(policy, progress=progress))

            def do_screen(r: int = r) -> dict[str, Any]:
                run_id, summary = campaign.screen(library, round=r, workers=workers,
                                                  ray_address=ray_address, progress=progress)
                return {"run_id": run_id, "n_scored": int(summary.n_scored),
                        "model_version": store.latest_model().version}  # type: ignore[union-attr]

            screen = step("screen", do_screen)

            def do_propose(r: int = r, run_id: int = int(screen["run_id"])) -> dict[str, Any]:
                existing = store.proposals(round=r)
                if existing.empty:  # else: recorded before a crash, keep them
                    campaign.propose(run_id=run_id, round=r, seed=r)
                return {"n": int(len(store.proposals(round=r))),
                        "strategy": cfg.strategy.name}

            step("propose", do_propose)
            if simulate_with is not None:
                def do_measure(r: int = r, lab: LabTable = simulate_with) -> dict[str, Any]:
                    return measure_from_table(store, cfg, campaign.dir, r, lab)

                step("measure", do_measure)
            elif _lab_done(store, r):
                step("measure", lambda: {"file": None, "source": "lab"})
            else:
                waiting = lab_frame(store.proposals(round=r), status="proposed")
                path = write_proposals(waiting, out if out is not None else
                                       campaign.dir / "proposals" / f"round-{r}.csv")
                return RunResult(done, r - 1, r, waiting_file=path, waiting=waiting)
            props = store.proposals(round=r)
            measure = store.step_info(r, "measure") or {}
            result = RoundResult(
                round=r, model_version=int(adapt["model_version"]), update=str(adapt["update"]),
                update_seconds=float(adapt["seconds"]), screen_run_id=int(screen["run_id"]),
                n_proposed=int(len(props)), n_measured=int((props["status"] == "measured").sum()),
                seconds=seconds, resumed=tuple(resumed),
                unanswered=tuple(str(i) for i in measure.get("dropped_ids", [])),
                **round_progress(store, cfg, campaign.dir, r))
            done.append(result)
            if on_round is not None:
                on_round(result)
            r += 1
    return RunResult(done, r - 1, None)
