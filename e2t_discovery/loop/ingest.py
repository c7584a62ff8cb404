"""Ingest lab results: validate the whole file, then load it in one transaction.

The steps: read the file (:mod:`e2t_discovery.loop.lab_files`: CSV, Excel or Parquet,
renamed columns), validate and stage every row (:mod:`e2t_discovery.loop.validate`),
check the staged rows against the store, then load them in one transaction. Nothing is
written unless the whole file is valid.

Columns (names from the campaign config): the id, the representation (p-SMILES, formula,
or CIF path/text), the value, the unit (unless ``target.require_unit_column`` is false or
one ``unit`` is given for the whole file), the domain when ``domains.method = "column"``,
and optionally ``measured_at``.

Against the store: no id twice in one file, no id that the store knows as a different
material, and no conflicting value for an already measured material unless
``replicate=True`` (then both are kept). A file already ingested (same SHA-256) is a
no-op. Every problem is one line naming file, row (1-based, header not counted), column
and reason; ``report_path`` receives all of them.

Row numbers everywhere (ingest, ``e2t predict``'s ``reject_reason``, screen rejects) are
1-based data rows: row 1 is the first row after the header (an Excel sheet's row 2).

API: ``ingest_file(store, config, path, *, replicate=False, report_path=None,
round=None, batch_rows=65536, progress=False, id_column=None, value_column=None,
unit=None, column_map=None) -> IngestResult``. ``IngestValidationError``, ``Problem``,
``describe_missing_column``, ``domain_from_elements``, ``read_excel_table`` and
``sniff_delimiter`` are importable from here too (their homes: :mod:`e2t_discovery.exceptions`,
:mod:`e2t_discovery.problems`, :mod:`e2t_discovery.loop.lab_files`,
:mod:`e2t_discovery.domains`).
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from e2t_discovery.config.schema import CampaignConfig
from e2t_discovery.data.files import sha256_of
from e2t_discovery.domains import domain_from_elements
from e2t_discovery.exceptions import IngestError, IngestValidationError
from e2t_discovery.loop.lab_files import (
    LabFileReader,
    checked_renames,
    column_renames,
    describe_missing_column,
    file_format,
    folder_message,
    read_excel_table,
    sniff_delimiter,
)
from e2t_discovery.loop.validate import STAGED_SCHEMA, ProblemLog, Validator, write_report
from e2t_discovery.problems import Problem
from e2t_discovery.progress import progress_bar
from e2t_discovery.store import Store

__all__ = [
    "IngestResult",
    "IngestValidationError",
    "Problem",
    "ingest_file",
    "describe_missing_column",
    "domain_from_elements",
    "read_excel_table",
    "sniff_delimiter",
]


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did.

    Attributes:
        file: The file as given.
        sha256: Its checksum.
        n_rows: Data rows in the file.
        new_materials: Materials added to the store.
        measurements: Measurements added (replicates included).
        skipped_identical: Rows whose identical value was already stored (not added again).
        replicates: Rows added next to an earlier, different value (``replicate=True``).
        proposals_measured: Open proposals that this file answered.
        round: The round the measurements were filed under.
        already_ingested: True if the same file was ingested before (nothing done).
    """

    file: str
    sha256: str
    n_rows: int
    new_materials: int = 0
    measurements: int = 0
    skipped_identical: int = 0
    replicates: int = 0
    proposals_measured: int = 0
    round: int = 0
    already_ingested: bool = False


def ingest_file(store: Store, config: CampaignConfig, path: str | Path, *,
                replicate: bool = False, report_path: str | Path | None = None,
                round: int | None = None, batch_rows: int = 65536,
                progress: bool = False, id_column: str | None = None,
                value_column: str | None = None, unit: str | None = None,
                column_map: dict[str, str] | None = None) -> IngestResult:
    """Validate a lab file completely, then load it into the store in one transaction.

    Args:
        store: The campaign store, open for writing.
        config: The campaign configuration.
        path: CSV (``,``/``;``/tab), Excel (``.xlsx``) or Parquet file of results.
        replicate: Keep a new, different value of an already measured material next to
            the old one (otherwise that is an error).
        report_path: If given, every problem found is written there, one per line.
        round: Round to file the measurements under (default: the store's current round).
        batch_rows: Rows per streamed batch.
        progress: Show a progress bar on stderr.
        id_column: The file's column holding the ids (default: the campaign's).
        value_column: The file's column holding the values (default: the campaign's).
        unit: The unit of every value, for a file without a unit column (an accepted unit
            of the campaign; converted like a unit column's).
        column_map: ``{file column: campaign column}`` renames (``--map OLD=NEW``).

    Returns:
        What was loaded (or ``already_ingested=True`` for a file seen before).

    Raises:
        IngestValidationError: the file failed validation (the message is the first
            problem; ``.problems`` holds all); nothing was written.
        IngestError: the file does not exist or is a folder, or an option is invalid.
    """
    path = Path(path)
    report = Path(report_path) if report_path is not None else None
    rename = column_renames(config, id_column, value_column, column_map)
    _check_unit_option(config, unit)
    if path.is_dir():
        raise IngestError(folder_message(path))
    if not path.is_file():
        raise IngestError(f"{path}: no such file; give the path of a CSV, Excel (.xlsx) or "
                          f"Parquet file")
    digest = sha256_of(path)
    round = store.current_round() if round is None else round
    seen = store.ingested_file(digest)
    if seen is not None:
        write_report(report, [])
        return IngestResult(file=str(path), sha256=digest, n_rows=int(seen["n_rows"]),
                            round=int(seen["round"]), already_ingested=True)
    tmp_root = store.path.parent / ".ingest-tmp"
    # The store is open for writing, so no other ingest of this campaign is running:
    # anything left here is from a killed ingest.
    shutil.rmtree(tmp_root, ignore_errors=True)
    staged = tmp_root / f"{uuid.uuid4().hex}.parquet"
    staged.parent.mkdir(parents=True)
    try:
        n_rows, log = _validate_and_stage(config, path, staged, report, batch_rows, progress,
                                          rename, unit)
        skip, counts = _check_against_store(store, config, staged, replicate, log, report)
        loaded = store.load_staged_ingest(
            staged, property=config.target.property, source_file=str(path),
            source_sha256=digest, round=round, n_rows=n_rows, skip_ids=skip)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    write_report(report, [])
    return IngestResult(file=str(path), sha256=digest, n_rows=n_rows,
                        new_materials=loaded["new_materials"],
                        measurements=loaded["measurements"],
                        skipped_identical=counts["identical"], replicates=counts["replicates"],
                        proposals_measured=loaded["proposals_measured"], round=round)


def _validate_and_stage(config: CampaignConfig, path: Path, staged: Path,
                        report: Path | None, batch_rows: int, progress: bool,
                        rename: dict[str, tuple[str, str]] | None = None,
                        unit: str | None = None) -> tuple[int, ProblemLog]:
    """Validate every batch and write the rows to ``staged`` (with a ``valid`` flag).

    Returns:
        The number of data rows and the problems found so far (row-level ones are raised
        together with the store checks, so one report lists them all).
    """
    try:
        reader = LabFileReader(path, [], file_format(path), batch_rows)
        reader.open_header()
        header = reader.apply_rename(checked_renames(path, reader.file_header, rename or {},
                                                     config, unit))
    except IngestValidationError as exc:
        write_report(report, exc.problems)
        raise
    validator = Validator(config, path, header, unit)
    validator.check_header(header)
    validator.raise_if_any(report)
    reader.columns = validator.wanted_columns()
    n_rows = 0
    bar = progress_bar(unit="rows", desc=f"validating {path.name}", enabled=progress,
                       unit_scale=True, leave=False)
    try:
        with pq.ParquetWriter(staged, STAGED_SCHEMA) as writer:
            for batch in reader.batches():
                writer.write_table(validator.batch(batch, n_rows + 1))
                n_rows += batch.num_rows
                bar.update(batch.num_rows)
    except IngestValidationError as exc:
        write_report(report, [*validator.problems, *exc.problems])
        raise IngestValidationError([*validator.problems, *exc.problems],
                                    validator.n_problems + exc.n_problems, report) from None
    finally:
        bar.close()
    if n_rows == 0:
        validator.add("file has a header but no data rows")
        validator.raise_if_any(report)
    return n_rows, validator


def _check_unit_option(config: CampaignConfig, unit: str | None) -> None:
    """Raise IngestError if ``--unit`` is not a unit the campaign accepts."""
    target = config.target
    if unit is not None and target.factor(unit) is None:
        raise IngestError(f"--unit {unit!r} is not a unit of {target.property}; accepted: "
                          f"{', '.join(target.accepted_units())} (add its factor to "
                          f"[target.conversions] in the campaign file)")


def _check_against_store(store: Store, config: CampaignConfig, staged: Path, replicate: bool,
                         validator: ProblemLog,
                         report: Path | None) -> tuple[list[str], dict[str, int]]:
    """Check duplicates in the file and conflicts with stored data; return ids to skip.

    Raises:
        IngestValidationError: with these problems and those already in ``validator``.
    """
    checks = store.staged_checks(staged, config.target.property)
    rep, target = config.representation, config.target
    for rec in checks["duplicates"].itertuples():
        validator.add(f"duplicate id {rec.id!r} (first at row {rec.first_row}); give each "
                      f"material one row", int(rec.row), rep.id_column)
    for rec in checks["identity"].itertuples():
        validator.add(f"id {rec.id!r} is stored as {str(rec.stored)[:60]!r} but this file "
                      f"gives {str(rec.given)[:60]!r}; use a new id for a different material",
                      int(rec.row), rep.input_column)
    if not replicate:
        for rec in checks["conflicts"].itertuples():
            validator.add(f"material {rec.id!r} is already measured at {rec.stored:g} "
                          f"{target.unit}, this file gives {rec.given:g}; pass --replicate "
                          f"(replicate=True) to keep both", int(rec.row), target.column)
    validator.raise_if_any(report)
    identical = [str(i) for i in checks["identical"]["id"]]
    skip = [] if replicate else identical
    replicates = len(checks["conflicts"]) + len(identical) if replicate else 0
    return skip, {"identical": len(skip), "replicates": replicates}
