"""Screening: score a candidate library of any size with the surrogate, in parallel on Ray.

Layers, from the inside out:

* :func:`score_batch` — pure: featurize a batch of candidates (one parse gives features
  and canonical form), predict mean, std and
  out-of-domain distance, compute a cheap acquisition value (UCB), and return the scored
  rows plus a rejects frame with one reason per bad row (its file and 1-based data row,
  as ingest and ``e2t predict`` number rows). Tested without Ray.
* :func:`screen_library` — the Ray pipeline. The driver streams the library (Parquet
  shards, a Parquet file's row groups, or a CSV in chunks) in bounded batches to a pool of
  scoring actors; each actor loads the model and the featurizer once (``num_gpus`` when
  the cluster has GPUs) and runs :func:`score_batch`. The driver writes one scored Parquet
  shard and one rejects shard per input shard (atomic rename) as soon as all of its
  batches are back, so memory stays flat in the library size and a killed run loses at
  most the shards in flight. Shards listed in ``done`` are skipped (resume). A small
  library (at most ``IN_PROCESS_MAX_ROWS`` rows to score, one worker, no cluster named)
  is scored in this process instead: same batches, same shards, no Ray start-up. Ray is
  started only through :mod:`e2t_discovery.screen.ray_session` (quiet, once per command).
* :func:`screen_campaign` — joins a campaign: screens with the campaign's latest model,
  records the screen run and each finished shard in the store, resumes a run of the same
  library and model version, and registers the scores as a DuckDB view.

Workers never open the store: they only return batches; the driver records them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from e2t_discovery.exceptions import ScreenError
from e2t_discovery.featurize.base import Featurizer
from e2t_discovery.progress import progress_bar
from e2t_discovery.screen.ray_session import ensure_ray, ray_session

if TYPE_CHECKING:
    from e2t_discovery.loop.campaign import Campaign

__all__ = [
    "SCORE_COLUMNS",
    "REJECT_COLUMNS",
    "LibraryUnit",
    "IN_PROCESS_MAX_ROWS",
    "ScoreSettings",
    "ScreenSummary",
    "acquisition_values",
    "library_units",
    "read_unit",
    "score_batch",
    "screen_library",
    "screen_campaign",
]

#: Columns of a scored shard, in order.
SCORE_COLUMNS = ("id", "canonical", "domain", "mean", "std", "domain_distance", "acquisition")
#: Columns of a rejects shard, in order (``row``: 1-based data row of ``file``).
REJECT_COLUMNS = ("id", "item", "reason", "file", "row")
#: Libraries with at most this many rows to score skip Ray. Measured on 2 busy cores
#: (scripts/results/bench_screen_in_process.json): in process 0.56 s + n / 1,764/s, a fresh
#: 2-worker Ray 11.2 s + n / 2,282/s; in process was faster at every size up to 30,000.
IN_PROCESS_MAX_ROWS = 30_000

_SCORE_SCHEMA = pa.schema([
    ("id", pa.string()), ("canonical", pa.string()), ("domain", pa.string()),
    ("mean", pa.float64()), ("std", pa.float64()), ("domain_distance", pa.float64()),
    ("acquisition", pa.float64()),
])
_REJECT_SCHEMA = pa.schema([("id", pa.string()), ("item", pa.string()),
                            ("reason", pa.string()), ("file", pa.string()),
                            ("row", pa.int64())])


# --------------------------------------------------------------------------- pure scoring


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
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if objective == "maximize":
        return mean + beta * std
    if objective == "minimize":
        return -mean + beta * std
    if objective == "range":
        if low is None or high is None:
            raise ScreenError("objective 'range' needs low and high bounds; set both")
        from scipy.special import ndtr

        safe = np.maximum(std, 1e-12)
        return np.asarray(ndtr((high - mean) / safe) - ndtr((low - mean) / safe))
    raise ScreenError(f"unknown objective {objective!r}; use maximize, minimize or range")


def score_batch(
    batch: pd.DataFrame,
    model: Any,
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
        model: A fitted surrogate with ``predict(X, return_std=True)`` and
            ``domain_distance(X)`` (:class:`~e2t_discovery.model.E2TSurrogate`).
        featurizer: Turns the items into an ``n x d`` array, with rejects.
        item_column: Column holding the representation (p-SMILES, formula, CIF path).
        canonicalize: Take each row's canonical form from the featurizer (same parse as
            the features); False keeps the item as is (libraries already canonical).
        domain_column: Column copied to ``domain`` (None or missing -> null domain).
        element_groups: If given, the domain is derived from the elements instead (e.g.
            ``Pb-I``; see :func:`~e2t_discovery.loop.ingest.domain_from_elements`): from the
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
        if hasattr(model, "predict_with_distance"):  # one encoder pass for all three
            mean, std, dist = model.predict_with_distance(fb.X)
        else:
            mean, std = model.predict(fb.X, return_std=True)
            dist = model.domain_distance(fb.X)
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


# --------------------------------------------------------------------------- library input


@dataclass(frozen=True)
class LibraryUnit:
    """One resumable unit of a library: a shard file, a row group, or a CSV chunk.

    Attributes:
        name: Unique name; the output shard is ``<name>.parquet``.
        path: The file it comes from.
        n_rows: Rows in the unit.
        row_group: Parquet row group index (single-file Parquet libraries), else None.
        offset: Rows of ``path`` before the unit's first row (CSV chunks, row groups).
    """

    name: str
    path: Path
    n_rows: int
    row_group: int | None = None
    offset: int = 0


def _check_columns(path: Path, columns: Collection[str], needed: Collection[str]) -> None:
    """Raise ScreenError if a library file lacks one of the needed columns."""
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ScreenError(
            f"library file {path} lacks column(s) {', '.join(missing)}; it has "
            f"{', '.join(columns)}; add them or set the campaign's input_column"
        )


def library_units(
    path: str | Path, *, needed: Collection[str] = ("id",), csv_chunk: int = 50_000
) -> list[LibraryUnit]:
    """List the resumable units of a library without reading its rows.

    Args:
        path: A folder of ``*.parquet`` shards, one ``.parquet`` file (one unit per row
            group) or one ``.csv`` file (one unit per ``csv_chunk`` rows).
        needed: Columns every file must have.
        csv_chunk: Rows per unit of a CSV library.

    Raises:
        ScreenError: if the path is missing, of another type, empty, or lacks columns.
    """
    lib = Path(path)
    if not lib.exists():
        raise ScreenError(f"library {lib} does not exist; give a Parquet/CSV file or a folder")
    if lib.is_dir():
        files = sorted(lib.glob("*.parquet"))
        if not files:
            raise ScreenError(f"library folder {lib} holds no .parquet shards")
        units = []
        for f in files:
            meta = pq.ParquetFile(f)
            _check_columns(f, meta.schema_arrow.names, needed)
            units.append(LibraryUnit(name=f.stem, path=f, n_rows=meta.metadata.num_rows))
        return units
    if lib.suffix == ".parquet":
        meta = pq.ParquetFile(lib)
        _check_columns(lib, meta.schema_arrow.names, needed)
        sizes = [meta.metadata.row_group(k).num_rows for k in range(meta.num_row_groups)]
        starts: list[int] = np.cumsum([0, *sizes[:-1]]).tolist() if sizes else []
        return [LibraryUnit(name=f"{lib.stem}-rg{k:05d}", path=lib, n_rows=sizes[k],
                            row_group=k, offset=int(starts[k]))
                for k in range(meta.num_row_groups)]
    if lib.suffix == ".csv":
        header = pd.read_csv(lib, nrows=0).columns
        _check_columns(lib, list(header), needed)
        n = len(pd.read_csv(lib, usecols=[header[0]]))
        return [LibraryUnit(name=f"{lib.stem}-part{k // csv_chunk:05d}", path=lib,
                            n_rows=min(csv_chunk, n - k), offset=k)
                for k in range(0, max(n, 0), csv_chunk)]
    raise ScreenError(f"library {lib} is neither a folder, a .parquet nor a .csv file")


def read_unit(unit: LibraryUnit, columns: list[str], batch_size: int) -> Iterator[pd.DataFrame]:
    """Yield the rows of one unit in batches of at most ``batch_size`` (only ``columns``)."""
    if unit.path.suffix == ".csv":
        frame = pd.read_csv(unit.path, usecols=columns, skiprows=range(1, unit.offset + 1),
                            nrows=unit.n_rows, dtype={"id": str})
        for start in range(0, len(frame), batch_size):
            yield frame.iloc[start:start + batch_size].reset_index(drop=True)
        return
    pf = pq.ParquetFile(unit.path)
    groups = [unit.row_group] if unit.row_group is not None else None
    for rb in pf.iter_batches(batch_size=batch_size, columns=columns, row_groups=groups):
        yield rb.to_pandas()


# --------------------------------------------------------------------------- Ray pipeline


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


class _Scorer:
    """Ray actor body: loads the model and the featurizer once, then scores batches."""

    def __init__(self, model_files: dict[str, bytes], settings: ScoreSettings,
                 threads: int) -> None:
        import torch

        from e2t_discovery.featurize import get_featurizer
        from e2t_discovery.model import E2TSurrogate

        torch.set_num_threads(max(1, threads))
        # the model is read whole into memory, so its folder goes as soon as it is loaded
        with tempfile.TemporaryDirectory(prefix="e2t-model-") as folder:
            for rel, data in model_files.items():
                target = Path(folder) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            self.model = E2TSurrogate.load(folder)
        self.featurizer = get_featurizer(settings.kind, **settings.featurizer_params)
        self.settings = settings

    @classmethod
    def in_process(cls, model_dir: Path, settings: ScoreSettings) -> _Scorer:
        """A scorer in this process, reading the model folder in place (no Ray)."""
        from e2t_discovery.featurize import get_featurizer
        from e2t_discovery.model import E2TSurrogate

        scorer = cls.__new__(cls)
        scorer.model = E2TSurrogate.load(model_dir)
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


@dataclass
class ScreenSummary:
    """Outcome of :func:`screen_library`.

    Attributes:
        out_dir: Folder with ``scores/`` and ``rejects/`` Parquet shards.
        n_units: Units of the library.
        skipped: Units skipped because they were done already.
        n_scored: Candidates scored in this call.
        n_rejected: Candidates rejected in this call.
        elapsed_s: Wall time of the pipeline (Ray and actor start-up included).
        startup_s: Part of ``elapsed_s`` spent starting Ray and loading the actors.
        workers: Scoring actors used.
        node_batches: Batches scored per Ray node id.
        first_reject: The first reject of this call as ``file: row N, column 'c':
            reason`` (None without rejects).
    """

    out_dir: Path
    n_units: int
    skipped: int
    n_scored: int = 0
    n_rejected: int = 0
    elapsed_s: float = 0.0
    startup_s: float = 0.0
    workers: int = 0
    node_batches: dict[str, int] = field(default_factory=dict)
    first_reject: str | None = None

    @property
    def rate(self) -> float:
        """Candidates (scored + rejected) per second."""
        return (self.n_scored + self.n_rejected) / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def steady_rate(self) -> float:
        """Candidates per second once the actors were ready (start-up excluded)."""
        busy = self.elapsed_s - self.startup_s
        return (self.n_scored + self.n_rejected) / busy if busy > 0 else 0.0


@dataclass
class _Pending:
    """Scored parts of one unit while its batches are in flight."""

    unit: LibraryUnit
    submitted: int = 0
    finished: bool = False
    scored: dict[int, pd.DataFrame] = field(default_factory=dict)
    rejects: dict[int, pd.DataFrame] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.finished and len(self.scored) == self.submitted


def _checked_model_dir(model_dir: Path) -> Path:
    if not model_dir.is_dir():
        raise ScreenError(f"model folder {model_dir} does not exist; train the campaign first")
    return model_dir


def _model_files(model_dir: Path) -> dict[str, bytes]:
    """Read every file of a saved model folder (shipped to actors on any node)."""
    _checked_model_dir(model_dir)
    return {str(p.relative_to(model_dir)): p.read_bytes()
            for p in sorted(model_dir.rglob("*")) if p.is_file()}


def _write_atomic(frame: pd.DataFrame, schema: pa.Schema, path: Path) -> None:
    """Write a frame as Parquet via a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), tmp)
    tmp.replace(path)


def _start_actors(model_files: dict[str, bytes], settings: ScoreSettings,
                  workers: int | None, num_gpus: float | None) -> list[Any]:
    """Start the scoring actors, spread over the cluster's nodes."""
    import ray

    resources = ray.cluster_resources()
    n = workers or max(1, int(resources.get("CPU", 1)))
    gpus = num_gpus if num_gpus is not None else (
        min(1.0, resources.get("GPU", 0.0) / n) if resources.get("GPU", 0.0) else 0.0)
    files_ref = ray.put(model_files)
    actor = ray.remote(_Scorer).options(num_cpus=1, num_gpus=gpus,
                                        scheduling_strategy="SPREAD")
    return [actor.remote(files_ref, settings, 1) for _ in range(n)]


def screen_library(
    library: str | Path,
    model_dir: str | Path,
    out_dir: str | Path,
    settings: ScoreSettings,
    *,
    batch_size: int = 2048,
    ray_address: str | None = None,
    workers: int | None = None,
    num_gpus: float | None = None,
    done: Collection[str] = (),
    on_unit_done: Callable[[LibraryUnit, Path, int, int], None] | None = None,
    progress: bool = True,
    in_process: bool | None = None,
    log_file: str | Path | None = None,
) -> ScreenSummary:
    """Score every candidate of a library on Ray; write scored and rejects Parquet shards.

    A library of at most :data:`IN_PROCESS_MAX_ROWS` rows still to score is scored in this
    process instead (no Ray start-up), unless Ray is already running, a cluster address
    is given or several workers are asked for.

    Args:
        library: Folder of Parquet shards, a Parquet file or a CSV file; columns ``id``
            and ``settings.item_column`` (and optionally ``settings.domain_column``).
        model_dir: A model saved with ``E2TSurrogate.save``; its files are shipped to
            the actors, so the folder need not be visible from other nodes.
        out_dir: Output folder: ``scores/<unit>.parquet`` and ``rejects/<unit>.parquet``.
        settings: Featurizer and acquisition settings.
        batch_size: Rows per batch sent to an actor (bounds memory).
        ray_address: None: use the running Ray or start a local one with this machine's
            cores; ``"auto"`` or ``host:port``: connect to that cluster.
        workers: Scoring actors (default: the cluster's CPU count).
        num_gpus: GPUs per actor (default: the cluster's GPUs shared out, 0 without).
        done: Unit names to skip (already scored with this model version).
        on_unit_done: Called on the driver as ``(unit, score_path, n_scored, n_rejected)``
            after each unit's shards are written (e.g. to record it in the store).
        progress: Show a progress bar with candidates/s on stderr.
        in_process: Force (True) or forbid (False) scoring in this process; None: by size.
        log_file: Where Ray's own log records go if Ray is started (default: dropped).

    Returns:
        A :class:`ScreenSummary`.

    Raises:
        ScreenError: on a missing/unreadable library or model, or bad arguments.
    """
    if batch_size < 1:
        raise ScreenError(f"batch_size={batch_size} must be at least 1")
    if workers is not None and workers < 1:
        raise ScreenError(f"workers={workers} must be at least 1")
    columns = ["id", settings.item_column]
    units = library_units(library, needed=columns)
    if settings.domain_column is not None:
        names = _unit_columns(units[0])
        if settings.domain_column in names:
            columns.append(settings.domain_column)
    out = Path(out_dir)
    todo = [u for u in units if u.name not in set(done)]
    summary = ScreenSummary(out_dir=out, n_units=len(units), skipped=len(units) - len(todo))
    if not todo:
        return summary
    n_todo = sum(u.n_rows for u in todo)
    if in_process is None:
        running = sys.modules.get("ray")  # importing Ray only to ask costs the small path
        in_process = (n_todo <= IN_PROCESS_MAX_ROWS
                      and not (running is not None and running.is_initialized())
                      and ray_address is None and not os.environ.get("RAY_ADDRESS")
                      and (workers or 1) == 1 and not num_gpus)
    start = time.perf_counter()
    bar = progress_bar(n_todo, unit="cand", desc="screen", enabled=progress, smoothing=0.1)
    if in_process:
        scorer = _Scorer.in_process(_checked_model_dir(Path(model_dir)), settings)
        summary.startup_s = time.perf_counter() - start
        summary.workers = 1
        with bar:
            _drive_here(todo, columns, batch_size, scorer, out, summary, bar, on_unit_done)
        summary.elapsed_s = time.perf_counter() - start
        return summary
    import ray

    files = _model_files(Path(model_dir))
    with ray_session(ray_address, workers, log_file):
        ensure_ray()
        actors = _start_actors(files, settings, workers, num_gpus)
        ray.get([a.ready.remote() for a in actors])
        summary.startup_s = time.perf_counter() - start
        summary.workers = len(actors)
        with bar:
            _drive(todo, columns, batch_size, actors, out, summary, bar, on_unit_done,
                   settings.item_column)
        for a in actors:
            ray.kill(a)
    summary.elapsed_s = time.perf_counter() - start
    return summary


def _drive_here(todo: list[LibraryUnit], columns: list[str], batch_size: int,
                scorer: _Scorer, out: Path, summary: ScreenSummary, bar: Any,
                on_unit_done: Callable[[LibraryUnit, Path, int, int], None] | None) -> None:
    """Score the units batch by batch in this process and write each when it is done."""
    for unit in todo:
        state = _Pending(unit)
        first_row = unit.offset + 1
        for k, batch in enumerate(read_unit(unit, columns, batch_size)):
            state.scored[k], state.rejects[k] = scorer.score_here(batch, str(unit.path),
                                                                  first_row)
            first_row += len(batch)
            state.submitted = k + 1
            bar.update(len(batch))
        state.finished = True
        summary.node_batches["in-process"] = (summary.node_batches.get("in-process", 0)
                                              + state.submitted)
        _finish_unit(state, out, summary, on_unit_done, scorer.settings.item_column)


def _unit_columns(unit: LibraryUnit) -> list[str]:
    """Return the column names of a unit's file."""
    if unit.path.suffix == ".csv":
        return list(pd.read_csv(unit.path, nrows=0).columns)
    return list(pq.ParquetFile(unit.path).schema_arrow.names)


def _drive(todo: list[LibraryUnit], columns: list[str], batch_size: int, actors: list[Any],
           out: Path, summary: ScreenSummary, bar: Any,
           on_unit_done: Callable[[LibraryUnit, Path, int, int], None] | None,
           item_column: str) -> None:
    """Feed batches to the actors (at most two in flight each) and write finished units."""
    import ray

    def feed() -> Iterator[tuple[_Pending, int, pd.DataFrame, int]]:
        for unit in todo:
            state = _Pending(unit)
            first_row = unit.offset + 1
            for k, batch in enumerate(read_unit(unit, columns, batch_size)):
                state.submitted = k + 1
                yield state, k, batch, first_row
                first_row += len(batch)
            state.finished = True
            yield state, -1, pd.DataFrame(), 0  # the unit is read: it may be complete now

    batches = feed()
    inflight: dict[Any, tuple[_Pending, int]] = {}
    load = [0] * len(actors)
    owner: dict[Any, int] = {}
    exhausted = False
    while True:
        while not exhausted and len(inflight) < 2 * len(actors):
            try:
                state, k, batch, first_row = next(batches)
            except StopIteration:
                exhausted = True
                break
            if k < 0:
                if state.complete:
                    _finish_unit(state, out, summary, on_unit_done, item_column)
                continue
            a = int(np.argmin(load))
            ref = actors[a].score.remote(batch, str(state.unit.path), first_row)
            inflight[ref], owner[ref] = (state, k), a
            load[a] += 1
        if not inflight:
            break
        ready, _ = ray.wait(list(inflight), num_returns=1)
        ref = ready[0]
        state, k = inflight.pop(ref)
        load[owner.pop(ref)] -= 1
        scored, rejects, node = ray.get(ref)
        state.scored[k], state.rejects[k] = scored, rejects
        summary.node_batches[node] = summary.node_batches.get(node, 0) + 1
        bar.update(len(scored) + len(rejects))
        if state.complete:
            _finish_unit(state, out, summary, on_unit_done, item_column)


def _finish_unit(state: _Pending, out: Path, summary: ScreenSummary,
                 on_unit_done: Callable[[LibraryUnit, Path, int, int], None] | None,
                 item_column: str) -> None:
    """Write a complete unit's scored and rejects shards, then report it."""
    order = sorted(state.scored)
    scored = (pd.concat([state.scored[k] for k in order], ignore_index=True) if order
              else pd.DataFrame({c: [] for c in SCORE_COLUMNS}))
    rejects = (pd.concat([state.rejects[k] for k in order], ignore_index=True) if order
               else pd.DataFrame({c: [] for c in REJECT_COLUMNS}))
    score_path = out / "scores" / f"{state.unit.name}.parquet"
    _write_atomic(rejects, _REJECT_SCHEMA, out / "rejects" / f"{state.unit.name}.parquet")
    _write_atomic(scored, _SCORE_SCHEMA, score_path)
    summary.n_scored += len(scored)
    summary.n_rejected += len(rejects)
    if len(rejects) and summary.first_reject is None:
        from e2t_discovery.problems import Problem

        first = rejects.iloc[0]
        summary.first_reject = str(Problem(str(first["file"]), str(first["reason"]),
                                           row=int(first["row"]), column=item_column or None))
    state.scored.clear()
    state.rejects.clear()
    if on_unit_done is not None:
        on_unit_done(state.unit, score_path, len(scored), len(rejects))


# --------------------------------------------------------------------------- campaign


def library_key(path: str | Path) -> str:
    """Return the identity of a library used to resume screens: its resolved path."""
    return str(Path(path).resolve())


def _library_is_canonical(path: Path) -> bool:
    """True if the library's manifest says its SMILES are RDKit canonical (our generator)."""
    from rdkit import rdBase

    manifest = (path if path.is_dir() else path.parent) / "library.json"
    if not manifest.is_file():
        return False
    try:
        meta = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return False
    return meta.get("params", {}).get("rdkit") == rdBase.rdkitVersion


def screen_campaign(
    campaign: Campaign,
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
        campaign: An open, writable campaign.
        library: Library path (default: the campaign config's ``library.path``).
        batch_size, ray_address, workers, num_gpus, progress: As :func:`screen_library`.
        beta: UCB weight (default: the strategy's ``beta`` param, else 2.0).
        round: Round number recorded with the run.

    Returns:
        ``(run_id, summary)``.

    Raises:
        ScreenError: if no library is given or configured, or no model is trained.
    """
    cfg = campaign.config
    lib = library if library is not None else cfg.library.path
    if lib is None:
        raise ScreenError("no library given; pass --library PATH or set [library] path")
    lib_path = Path(lib)
    store = campaign.store
    record = store.latest_model()
    if record is None:
        raise ScreenError(f"campaign {campaign.name!r} has no trained model; run "
                          f"`e2t train {campaign.name}` first")
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
        out_dir = campaign.dir / "screens" / f"v{record.version}-{digest.hexdigest()[:10]}"
        run = store.start_screen_run(
            model_version=record.version, library=key, out_dir=out_dir, round=round,
            params={"settings": _settings_json(settings), "batch_size": batch_size})
    done = store.done_shards(run.id)

    def record_unit(unit: LibraryUnit, path: Path, n_scored: int, n_rejected: int) -> None:
        store.record_shard(run.id, unit.name, path, n_scored, n_rejected)

    summary = screen_library(
        lib_path, campaign.dir / record.artifact_path, run.out_dir, settings, batch_size=batch_size,
        ray_address=ray_address, workers=workers, num_gpus=num_gpus, done=done,
        on_unit_done=record_unit, progress=progress, log_file=campaign.dir / "logs" / "ray.log")
    store.register_screen_view(run.id, run.out_dir / "scores" / "*.parquet")
    store.finish_screen_run(run.id, "done")
    return run.id, summary


def _settings_json(settings: ScoreSettings) -> dict[str, Any]:
    """Settings as a JSON-comparable dict (NaN-free)."""
    data = {k: v for k, v in settings.__dict__.items()}
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in data.items()}
