"""The screen step: score a library with the campaign's latest model, resumably.

A run of the same library with the same model version and settings is resumed: its
finished shards are skipped. The scores are registered as the DuckDB view
``screen_<run id>``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from e2t_discovery.config.schema import CampaignConfig
from e2t_discovery.exceptions import ScreenError
from e2t_discovery.screen.pipeline import (
    LibraryUnit,
    ScoreSettings,
    ScreenSummary,
    _library_is_canonical,
    _settings_json,
    _unit_columns,
    library_key,
    library_units,
    screen_library,
)
from e2t_discovery.store import Store

__all__ = ["screen_step"]


def screen_step(
    store: Store,
    config: CampaignConfig,
    directory: Path,
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
    """Screen a library with the campaign's latest model and record the run in its store.

    A run of the same library with the same model version is resumed: its finished
    shards are skipped. The scores are registered as the DuckDB view ``screen_<run id>``.

    Args:
        store: The campaign's store (writable).
        config: The campaign's configuration.
        directory: The campaign folder (screen results go to ``screens/``).
        library: Library path (default: the campaign config's ``library.path``).
        batch_size, ray_address, workers, num_gpus, progress: As :func:`screen_library`.
        beta: UCB weight (default: the strategy's ``beta`` param, else 2.0).
        round: Round number recorded with the run.

    Returns:
        ``(run_id, summary)``.

    Raises:
        ScreenError: if no library is given or configured, or no model is trained.
    """
    cfg = config
    name = config.campaign.name
    lib = library if library is not None else cfg.library.path
    if lib is None:
        raise ScreenError("no library given; pass --library PATH or set [library] path")
    lib_path = Path(lib)
    record = store.latest_model()
    if record is None:
        raise ScreenError(f"campaign {name!r} has no trained model; run "
                          f"`e2t train {name}` first")
    key = library_key(lib_path)
    if beta is None:
        beta = float(cfg.strategy.params.get("beta", 2.0))
    domain_column = cfg.domains.column if cfg.domains.method == "column" else None
    columns = _unit_columns(library_units(lib_path)[0])
    if domain_column not in columns:
        domain_column = "domain" if "domain" in columns else None
    settings = ScoreSettings(
        kind=cfg.representation.kind, item_column=cfg.representation.input_column,
        featurizer_params=dict(cfg.representation.featurizer),
        domain_column=domain_column, canonical=_library_is_canonical(lib_path), beta=beta,
        element_groups=cfg.domains.element_groups if cfg.domains.method == "elements" else None,
        objective=cfg.objective.direction, low=cfg.objective.low, high=cfg.objective.high)
    run = store.find_screen_run(record.version, key)
    if run is None or run.params.get("settings") != _settings_json(settings):
        digest = hashlib.sha256(f"{key}|{record.version}|{_settings_json(settings)}".encode())
        out_dir = directory / "screens" / f"v{record.version}-{digest.hexdigest()[:10]}"
        run = store.start_screen_run(
            model_version=record.version, library=key, out_dir=out_dir, round=round,
            params={"settings": _settings_json(settings), "batch_size": batch_size})
    done = store.done_shards(run.id)

    def record_unit(unit: LibraryUnit, path: Path, n_scored: int, n_rejected: int) -> None:
        store.record_shard(run.id, unit.name, path, n_scored, n_rejected)

    summary = screen_library(
        lib_path, directory / record.artifact_path, run.out_dir, settings, batch_size=batch_size,
        ray_address=ray_address, workers=workers, num_gpus=num_gpus, done=done,
        on_unit_done=record_unit, progress=progress, log_file=directory / "logs" / "ray.log")
    store.register_screen_view(run.id, run.out_dir / "scores" / "*.parquet")
    store.finish_screen_run(run.id, "done")
    return run.id, summary
