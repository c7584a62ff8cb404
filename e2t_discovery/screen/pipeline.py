"""Screening: score a candidate library of any size with the surrogate, in parallel on Ray.

:func:`screen_library` streams the library (:class:`~e2t_discovery.screen.library.Library`:
Parquet shards, a Parquet file's row groups, or a CSV in chunks) in bounded batches to
scorers (:class:`~e2t_discovery.screen.scoring.Scorer`). On Ray, a pool of scoring actors
each loads the model and the featurizer once (``num_gpus`` when the cluster has GPUs).
The driver writes one scored Parquet shard and one rejects shard per input unit (atomic
rename) as soon as all of its batches are back, so memory stays flat in the library size
and a killed run loses at most the units in flight. Units listed in ``done`` are skipped
(resume). A small library (at most :data:`IN_PROCESS_MAX_ROWS` rows to score, one worker,
no cluster named) is scored in this process instead: same batches, same driving loop,
same shards, no Ray start-up. Ray is started only through
:mod:`e2t_discovery.screen.ray_session` (quiet, once per command).

Workers never open the store: they only return batches; the driver hands each finished
unit to ``on_unit_done`` (the campaign side records it: :mod:`e2t_discovery.loop.screen_step`).
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from e2t_discovery.exceptions import ScreenError
from e2t_discovery.progress import progress_bar
from e2t_discovery.screen.library import Library, LibraryUnit
from e2t_discovery.screen.ray_session import ensure_ray, ray_session
from e2t_discovery.screen.scoring import REJECT_COLUMNS, SCORE_COLUMNS, Scorer, ScoreSettings

__all__ = ["IN_PROCESS_MAX_ROWS", "ScreenSummary", "screen_library"]

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
    actor = ray.remote(Scorer).options(num_cpus=1, num_gpus=gpus,
                                       scheduling_strategy="SPREAD")
    return [actor.remote(files_ref, settings, 1) for _ in range(n)]


def screen_library(
    library: Library | str | Path,
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
        library: A :class:`~e2t_discovery.screen.library.Library`, or the path of one
            (folder of Parquet shards, a Parquet file or a CSV file); columns ``id`` and
            ``settings.item_column`` (and optionally ``settings.domain_column``).
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
    if isinstance(library, Library):
        library.require(columns)
        lib = library
    else:
        lib = Library.open(library, needed=columns)
    if settings.domain_column is not None and settings.domain_column in lib.columns:
        columns.append(settings.domain_column)
    out = Path(out_dir)
    todo = [u for u in lib.units if u.name not in set(done)]
    summary = ScreenSummary(out_dir=out, n_units=len(lib.units),
                            skipped=len(lib.units) - len(todo))
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
    feed = _Feed(todo, columns, batch_size, out, summary, on_unit_done, bar,
                 settings.item_column)
    if in_process:
        scorer = Scorer.in_process(_checked_model_dir(Path(model_dir)), settings)
        summary.startup_s = time.perf_counter() - start
        summary.workers = 1
        with bar:
            feed.run(_HereExecutor(scorer))
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
            feed.run(_RayExecutor(actors))
        for a in actors:
            ray.kill(a)
    summary.elapsed_s = time.perf_counter() - start
    return summary


# --------------------------------------------------------------------------- driving

#: A batch in flight: the unit it belongs to and its index in the unit.
_Ticket = tuple[_Pending, int]


class _Executor(Protocol):
    """Where batches are scored: in this process or on Ray actors."""

    #: Most batches in flight at once.
    capacity: int

    def submit(self, ticket: _Ticket, batch: pd.DataFrame, file: str,
               first_row: int) -> None:
        """Start scoring a batch (rows ``first_row``... of ``file``)."""

    def next_done(self) -> tuple[_Ticket, pd.DataFrame, pd.DataFrame, str]:
        """Wait for a submitted batch; return its ticket, scored rows, rejects and node."""


class _HereExecutor:
    """Scores each batch in this process as it is submitted (one in flight)."""

    capacity = 1

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.done: deque[tuple[_Ticket, pd.DataFrame, pd.DataFrame, str]] = deque()

    def submit(self, ticket: _Ticket, batch: pd.DataFrame, file: str,
               first_row: int) -> None:
        scored, rejects = self.scorer.score_here(batch, file, first_row)
        self.done.append((ticket, scored, rejects, "in-process"))

    def next_done(self) -> tuple[_Ticket, pd.DataFrame, pd.DataFrame, str]:
        return self.done.popleft()


class _RayExecutor:
    """Sends each batch to the least loaded actor (at most two in flight each)."""

    def __init__(self, actors: list[Any]) -> None:
        self.actors = actors
        self.capacity = 2 * len(actors)
        self.load = [0] * len(actors)
        self.inflight: dict[Any, tuple[_Ticket, int]] = {}

    def submit(self, ticket: _Ticket, batch: pd.DataFrame, file: str,
               first_row: int) -> None:
        a = int(np.argmin(self.load))
        self.inflight[self.actors[a].score.remote(batch, file, first_row)] = (ticket, a)
        self.load[a] += 1

    def next_done(self) -> tuple[_Ticket, pd.DataFrame, pd.DataFrame, str]:
        import ray

        ready, _ = ray.wait(list(self.inflight), num_returns=1)
        ticket, a = self.inflight.pop(ready[0])
        self.load[a] -= 1
        scored, rejects, node = ray.get(ready[0])
        return ticket, scored, rejects, node


@dataclass
class _Feed:
    """The one driving loop: read the units' batches, score them, write finished units."""

    todo: list[LibraryUnit]
    columns: list[str]
    batch_size: int
    out: Path
    summary: ScreenSummary
    on_unit_done: Callable[[LibraryUnit, Path, int, int], None] | None
    bar: Any
    item_column: str

    def run(self, executor: _Executor) -> None:
        """Keep ``executor`` full and write each unit as soon as all its batches are back."""
        batches = self._batches()
        in_flight = 0
        exhausted = False
        while True:
            while not exhausted and in_flight < executor.capacity:
                try:
                    state, k, batch, first_row = next(batches)
                except StopIteration:
                    exhausted = True
                    break
                if k < 0:
                    if state.complete:
                        self._finish(state)
                    continue
                executor.submit((state, k), batch, str(state.unit.path), first_row)
                in_flight += 1
            if not in_flight:
                break
            (state, k), scored, rejects, node = executor.next_done()
            in_flight -= 1
            state.scored[k], state.rejects[k] = scored, rejects
            self.summary.node_batches[node] = self.summary.node_batches.get(node, 0) + 1
            self.bar.update(len(scored) + len(rejects))
            if state.complete:
                self._finish(state)

    def _batches(self) -> Iterator[tuple[_Pending, int, pd.DataFrame, int]]:
        """Yield ``(unit state, k, batch, first row)``; ``k = -1`` once a unit is read."""
        for unit in self.todo:
            state = _Pending(unit)
            first_row = unit.offset + 1
            for k, batch in enumerate(unit.batches(self.columns, self.batch_size)):
                state.submitted = k + 1
                yield state, k, batch, first_row
                first_row += len(batch)
            state.finished = True
            yield state, -1, pd.DataFrame(), 0  # the unit is read: it may be complete now

    def _finish(self, state: _Pending) -> None:
        """Write a complete unit's scored and rejects shards, then report it."""
        order = sorted(state.scored)
        scored = (pd.concat([state.scored[k] for k in order], ignore_index=True) if order
                  else pd.DataFrame({c: [] for c in SCORE_COLUMNS}))
        rejects = (pd.concat([state.rejects[k] for k in order], ignore_index=True) if order
                   else pd.DataFrame({c: [] for c in REJECT_COLUMNS}))
        score_path = self.out / "scores" / f"{state.unit.name}.parquet"
        _write_atomic(rejects, _REJECT_SCHEMA,
                      self.out / "rejects" / f"{state.unit.name}.parquet")
        _write_atomic(scored, _SCORE_SCHEMA, score_path)
        summary = self.summary
        summary.n_scored += len(scored)
        summary.n_rejected += len(rejects)
        if len(rejects) and summary.first_reject is None:
            from e2t_discovery.problems import Problem

            first = rejects.iloc[0]
            summary.first_reject = str(Problem(str(first["file"]), str(first["reason"]),
                                               row=int(first["row"]),
                                               column=self.item_column or None))
        state.scored.clear()
        state.rejects.clear()
        if self.on_unit_done is not None:
            self.on_unit_done(state.unit, score_path, len(scored), len(rejects))
