"""The screen step: score a library with a campaign's latest model and record the run.

It joins :func:`e2t_discovery.screen.pipeline.screen_library` to the campaign store:
screens with the latest model version, records the screen run and each finished shard,
resumes a run of the same library, model version and settings (its finished shards are
skipped), and registers the scores as a DuckDB view.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from e2t_discovery.config.schema import CampaignConfig
from e2t_discovery.exceptions import ScreenError
from e2t_discovery.screen.library import Library, LibraryUnit
from e2t_discovery.screen.pipeline import ScreenSummary, screen_library
from e2t_discovery.screen.scoring import ScoreSettings
from e2t_discovery.store import Store

__all__ = ["screen_step"]


def screen_step(
    store: Store,
    config: CampaignConfig,
    campaign_dir: Path,
    library: str | Path | None = None,
    *,
    batch_size: int = 2048,
    ray_address: str | None = None,
    workers: int | None = None,
    num_gpus: float | None = None,
    beta: float | None = None,
    round: int | None = None,
    progress: bool = True,
) -> tuple[int, ScreenSummary]:
    """Screen a library with a campaign's latest model and record the run in its store.

    A run of the same library with the same model version is resumed: its finished
    shards are skipped. The scores are registered as the DuckDB view ``screen_<run id>``.

    Args:
        store: The campaign's store, open for writing.
        config: The campaign's configuration.
        campaign_dir: The campaign folder (its name is the campaign's name); model
            artifacts, screens and logs live below it.
        library: Library path (default: the config's ``library.path``).
        batch_size, ray_address, workers, num_gpus, progress: As
            :func:`~e2t_discovery.screen.pipeline.screen_library`.
        beta: UCB weight (default: the strategy's ``beta`` param, else 2.0).
        round: Round number recorded with the run.

    Returns:
        ``(run_id, summary)``.

    Raises:
        ScreenError: if no library is given or configured, or no model is trained.
    """
    lib = library if library is not None else config.library.path
    if lib is None:
        raise ScreenError("no library given; pass --library PATH or set [library] path")
    name = campaign_dir.name
    record = store.latest_model()
    if record is None:
        raise ScreenError(f"campaign {name!r} has no trained model; run "
                          f"`e2t train {name}` first")
    library_ = Library.open(lib)
    settings = _settings(config, library_, beta)
    run = store.find_screen_run(record.version, library_.key)
    if run is None or run.params.get("settings") != settings.to_json():
        digest = hashlib.sha256(
            f"{library_.key}|{record.version}|{settings.to_json()}".encode())
        out_dir = campaign_dir / "screens" / f"v{record.version}-{digest.hexdigest()[:10]}"
        run = store.start_screen_run(
            model_version=record.version, library=library_.key, out_dir=out_dir, round=round,
            params={"settings": settings.to_json(), "batch_size": batch_size})
    done = store.done_shards(run.id)

    def record_unit(unit: LibraryUnit, path: Path, n_scored: int, n_rejected: int) -> None:
        store.record_shard(run.id, unit.name, path, n_scored, n_rejected)

    summary = screen_library(
        library_, campaign_dir / record.artifact_path, run.out_dir, settings,
        batch_size=batch_size, ray_address=ray_address, workers=workers, num_gpus=num_gpus,
        done=done, on_unit_done=record_unit, progress=progress,
        log_file=campaign_dir / "logs" / "ray.log")
    store.register_screen_view(run.id, run.out_dir / "scores" / "*.parquet")
    store.finish_screen_run(run.id, "done")
    return run.id, summary


def _settings(config: CampaignConfig, library: Library, beta: float | None) -> ScoreSettings:
    """The scoring settings of a campaign's screen of ``library``."""
    if beta is None:
        beta = float(config.strategy.params.get("beta", 2.0))
    domains = config.domains
    domain_column = domains.column if domains.method == "column" else None
    if domain_column not in library.columns:
        domain_column = "domain" if "domain" in library.columns else None
    return ScoreSettings(
        kind=config.representation.kind, item_column=config.representation.input_column,
        featurizer_params=dict(config.representation.featurizer),
        domain_column=domain_column, canonical=library.canonical, beta=beta,
        element_groups=domains.element_groups if domains.method == "elements" else None,
        objective=config.objective.direction, low=config.objective.low,
        high=config.objective.high)
