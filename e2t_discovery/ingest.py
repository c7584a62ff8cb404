"""Ingest lab results: validate the whole file, then load it in one transaction.

A lab file is CSV (any suffix but ``.parquet``/``.pq``) or Parquet with one row per
measured material. Columns (names from the campaign config): the id, the representation
(p-SMILES, formula, or CIF path/text), the value, the unit (unless
``target.require_unit_column`` is false), the domain when ``domains.method = "column"``,
and optionally ``measured_at``.

Validation runs over the whole file before anything is written and streams it in
bounded batches (a million-row file is fine): required columns, non-empty ids, numbers
that parse and are finite, units equal to the campaign unit or converted by the explicit
factor in ``[target.conversions]``, identifiers that RDKit/pymatgen parse (canonical forms
are cached, so repeated strings cost one parse), no id twice in one file, no id that the
store knows as a different material, and no conflicting value for an already measured
material unless ``replicate=True`` (then both are kept). A file already ingested (same
SHA-256) is a no-op. Every problem is one line naming file, row (1-based, header not
counted), column and reason; ``report_path`` receives all of them.

API: ``ingest_file(store, config, path, *, replicate=False, report_path=None,
round=None, batch_rows=65536, progress=False) -> IngestResult``.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from e2t_discovery.config import CampaignConfig
from e2t_discovery.exceptions import IngestError
from e2t_discovery.progress import progress_bar
from e2t_discovery.store import Store

__all__ = [
    "IngestResult",
    "IngestValidationError",
    "Problem",
    "ingest_file",
    "domain_from_elements",
    "file_sha256",
]

MEASURED_AT = "measured_at"
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_MAX_KEPT_PROBLEMS = 100_000
_NAN_WORDS = {"nan", "+nan", "-nan"}
_STAGED_SCHEMA = pa.schema([
    ("row", pa.int64()), ("id", pa.string()), ("kind", pa.string()),
    ("canonical", pa.string()), ("domain", pa.string()), ("value", pa.float64()),
    ("unit", pa.string()), ("raw_value", pa.float64()), ("raw_unit", pa.string()),
    (MEASURED_AT, pa.timestamp("us")), ("valid", pa.bool_()),
])


@dataclass(frozen=True)
class Problem:
    """One reason a file was rejected."""

    file: str
    reason: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.row is not None:
            where += f"row {self.row}, "
        if self.column is not None:
            where += f"column {self.column!r}: "
        elif where:
            where = where[:-2] + ": "
        return f"{self.file}: {where}{self.reason}"


class IngestValidationError(IngestError):
    """A lab file failed validation; ``problems`` lists what was found (nothing was written)."""

    def __init__(self, problems: list[Problem], n_problems: int,
                 report_path: Path | None) -> None:
        problems = sorted(problems, key=lambda p: -1 if p.row is None else p.row)
        self.problems = problems
        self.n_problems = n_problems
        more = ""
        if n_problems > 1:
            more = f" (and {n_problems - 1} more problem(s)"
            more += f"; all in {report_path})" if report_path else "; --report FILE lists all)"
        super().__init__(f"{problems[0]}{more}")


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


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------- identifiers
@lru_cache(maxsize=1 << 18)
def _canonical_polymer(text: str) -> tuple[str | None, str | None]:
    from e2t_discovery.featurize.polymer import canonical_psmiles

    try:
        return canonical_psmiles(text), None
    except (ValueError, TypeError) as exc:
        return None, f"invalid p-SMILES {text[:60]!r}: {exc}"


@lru_cache(maxsize=1 << 18)
def _canonical_composition(text: str) -> tuple[str | None, str | None]:
    from e2t_discovery.featurize.composition import canonical_formula

    try:
        return canonical_formula(text), None
    except (ValueError, TypeError) as exc:
        return None, f"invalid formula {text[:60]!r}: {exc}"


def _structure_canonicalizer(base_dir: Path) -> Callable[[str], tuple[str | None, str | None]]:
    """Return a function CIF path (relative to ``base_dir``) or CIF text -> CIF text."""
    from e2t_discovery.featurize.structure import parse_structure

    def canonical(text: str) -> tuple[str | None, str | None]:
        item: str = text
        if "\n" not in text:
            path = Path(text)
            item = str(path if path.is_absolute() else base_dir / path)
        try:
            structure = parse_structure(item)
        except (ValueError, TypeError) as exc:
            return None, f"invalid structure {text[:60]!r}: {exc}"
        return str(structure.to(fmt="cif")), None

    return canonical


def domain_from_elements(formula: str, groups: list[list[str]]) -> str:
    """Return the domain label of a formula: per group, the group's elements present.

    ``domain_from_elements("CH3NH3PbI3", [["Ge", "Sn", "Pb"], ["F", "Cl", "Br", "I"]])``
    is ``"Pb-I"``; a group with no element present contributes ``none``, several present
    are joined by ``+``.
    """
    from pymatgen.core import Composition

    present = {el.symbol for el in Composition(formula).elements}
    parts = []
    for group in groups:
        hit = [el for el in group if el in present]
        parts.append("+".join(hit) if hit else "none")
    return "-".join(parts)


# ---------------------------------------------------------------------- reading
@dataclass
class _Reader:
    """Arrow batches of a lab file's needed columns (CSV: all read as strings)."""

    path: Path
    columns: list[str]
    is_parquet: bool
    batch_rows: int
    header: list[str] = field(default_factory=list)

    def open_header(self) -> list[str]:
        """Read the column names; raise IngestError if the file is not CSV/Parquet."""
        name = str(self.path)
        if self.path.stat().st_size == 0:
            raise IngestValidationError([Problem(name, "file is empty; expected a header row "
                                                       "and data rows")], 1, None)
        try:
            if self.is_parquet:
                self.header = list(pq.ParquetFile(self.path).schema_arrow.names)
            else:
                with pacsv.open_csv(self.path, read_options=pacsv.ReadOptions(
                        block_size=1 << 16)) as reader:
                    self.header = list(reader.schema.names)
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            what = "Parquet" if self.is_parquet else "CSV"
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise IngestValidationError([Problem(
                name, f"not a readable {what} file ({reason}); save the results as CSV "
                      f"with a header row, or as Parquet")], 1, None) from None
        return self.header

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Yield Arrow batches of at most ~``batch_rows`` rows with the needed columns."""
        cols = [c for c in self.columns if c in self.header]
        if self.is_parquet:
            yield from pq.ParquetFile(self.path).iter_batches(batch_size=self.batch_rows,
                                                              columns=cols)
            return
        bad_rows: list[Any] = []

        def on_invalid(row: Any) -> str:
            bad_rows.append(row)
            return "error"

        reader = pacsv.open_csv(
            self.path,
            read_options=pacsv.ReadOptions(block_size=max(1 << 16, self.batch_rows * 64)),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in cols}, include_columns=cols,
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        with reader:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                    if bad_rows:
                        bad = bad_rows[0]
                        reason = (f"expected {bad.expected_columns} fields, got "
                                  f"{bad.actual_columns}: {str(bad.text)[:60]!r}")
                    else:
                        reason = str(exc).splitlines()[0]
                    raise IngestValidationError([Problem(
                        str(self.path), f"not a well-formed CSV file ({reason}); fix that "
                                        f"line or save the file again as CSV")], 1, None) from None
                yield batch


# ---------------------------------------------------------------------- validation
class _ProblemLog:
    """Collects the problems of one file (keeps the first 100,000, counts all)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[Problem] = []
        self.n_problems = 0

    def add(self, reason: str, row: int | None = None, column: str | None = None) -> None:
        """Record a problem."""
        self.n_problems += 1
        if len(self.problems) < _MAX_KEPT_PROBLEMS:
            self.problems.append(Problem(self.name, reason, row, column))

    def raise_if_any(self, report: Path | None) -> None:
        """Write the report and raise if anything was recorded."""
        if self.n_problems:
            self.problems.sort(key=lambda p: -1 if p.row is None else p.row)
            _write_report(report, self.problems, self.n_problems)
            raise IngestValidationError(self.problems, self.n_problems, report)


class _Validator(_ProblemLog):
    """Validates batches, collects problems, and turns good rows into staged rows."""

    def __init__(self, config: CampaignConfig, path: Path, header: list[str]) -> None:
        super().__init__(str(path))
        self.config = config
        self._bad = np.zeros(0, dtype=bool)
        rep, target, dom = config.representation, config.target, config.domains
        self.has_unit = target.unit_column in header
        self.has_measured_at = MEASURED_AT in header
        kind = rep.kind
        if kind == "polymer":
            self.canonical: Callable[[str], tuple[str | None, str | None]] = _canonical_polymer
        elif kind == "composition":
            self.canonical = _canonical_composition
        else:
            cache: dict[str, tuple[str | None, str | None]] = {}
            parse = _structure_canonicalizer(path.parent)

            def cached(text: str) -> tuple[str | None, str | None]:
                if text not in cache:
                    cache[text] = parse(text)
                return cache[text]

            self.canonical = cached
        self.domain_column = dom.column if dom.method == "column" else None

    def required_columns(self) -> list[str]:
        """Columns the file must have."""
        rep, target = self.config.representation, self.config.target
        cols = [rep.id_column, rep.input_column, target.column]
        if target.require_unit_column:
            cols.append(target.unit_column)
        if self.domain_column:
            cols.append(self.domain_column)
        return cols

    def wanted_columns(self) -> list[str]:
        """Required columns plus the optional ones (unit, measured_at)."""
        extra = [self.config.target.unit_column, MEASURED_AT]
        return list(dict.fromkeys([*self.required_columns(), *extra]))

    def _add_mask(self, mask: np.ndarray, rows: np.ndarray, column: str,
                  reasons: Callable[[int], str]) -> None:
        self._bad |= mask
        for i in np.flatnonzero(mask):
            self.add(reasons(int(i)), int(rows[i]), column)

    def check_header(self, header: list[str]) -> None:
        """Record every missing required column."""
        missing = [c for c in self.required_columns() if c not in header]
        for col in missing:
            self.add(f"column {col!r} is missing (required: "
                     f"{', '.join(self.required_columns())}; found: {', '.join(header)})")

    def batch(self, batch: pa.RecordBatch, first_row: int) -> pa.Table:
        """Validate one batch; return its staged rows with a ``valid`` flag per row."""
        rep, target = self.config.representation, self.config.target
        n = batch.num_rows
        rows = np.arange(first_row, first_row + n, dtype=np.int64)
        self._bad = np.zeros(n, dtype=bool)
        ids = _text(batch.column(rep.id_column))
        self._add_mask(_np(pc.equal(ids, "")), rows, rep.id_column, lambda i: "missing id")
        canonical, ok = self._canonicalize(_text(batch.column(rep.input_column)), rows)
        value = self._numbers(batch.column(target.column), rows, target.column)
        raw_unit, factor = self._units(batch, rows)
        domain = self._domains(batch, canonical, ok, rows)
        measured_at = self._measured_at(batch, rows)
        return pa.Table.from_arrays([
            pa.array(rows), ids, pa.repeat(pa.scalar(rep.kind), n), canonical, domain,
            pa.array(value * factor), pa.repeat(pa.scalar(target.unit), n), pa.array(value),
            raw_unit, pa.array(measured_at, pa.timestamp("us")), pa.array(~self._bad),
        ], schema=_STAGED_SCHEMA)

    def _canonicalize(self, items: pa.Array, rows: np.ndarray) -> tuple[pa.Array, np.ndarray]:
        """Canonicalize each distinct string once; return canonical forms and an ok mask."""
        column = self.config.representation.input_column
        encoded = items.dictionary_encode()
        results = [self.canonical(u) if u else (None, "missing value")
                   for u in encoded.dictionary.to_pylist()]
        index = _np(encoded.indices).astype(np.int64)
        canonical = pa.array([r[0] for r in results], pa.string()).take(encoded.indices)
        ok = np.array([r[1] is None for r in results], dtype=bool)[index]
        self._add_mask(~ok, rows, column, lambda i: str(results[index[i]][1]))
        return canonical, ok

    def _numbers(self, column: pa.Array, rows: np.ndarray, name: str) -> np.ndarray:
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or \
                pa.types.is_decimal(column.type):
            values = _np(pc.cast(column, pa.float64())).astype(np.float64)
            self._add_mask(np.isnan(values), rows, name, lambda i: "value is missing or NaN")
            self._add_mask(np.isinf(values), rows, name,
                           lambda i: f"value {values[i]} is not finite")
            return values
        text = _text(column)
        try:  # fast path: every string parses
            values = _np(pc.cast(text, pa.float64())).astype(np.float64)
        except pa.ArrowInvalid:
            values = np.asarray(pd.to_numeric(np.asarray(text.to_pylist(), dtype=object),
                                              errors="coerce"), dtype=np.float64)
        missing = _np(pc.equal(text, ""))
        nan_word = _np(pc.is_in(pc.utf8_lower(text), value_set=pa.array(sorted(_NAN_WORDS))))
        not_number = np.isnan(values) & ~missing & ~nan_word
        self._add_mask(missing, rows, name, lambda i: "value is missing")
        self._add_mask(nan_word, rows, name, lambda i: "value is NaN; give a finite number")
        self._add_mask(not_number, rows, name,
                       lambda i: f"value {text[i].as_py()[:40]!r} is not a number")
        self._add_mask(np.isinf(values), rows, name,
                       lambda i: f"value {text[i].as_py()[:40]!r} is not finite")
        return values

    def _units(self, batch: pa.RecordBatch, rows: np.ndarray) -> tuple[pa.Array, np.ndarray]:
        target = self.config.target
        n = batch.num_rows
        if not self.has_unit:
            return pa.repeat(pa.scalar(target.unit), n), np.ones(n, dtype=np.float64)
        units = _text(batch.column(target.unit_column))
        encoded = units.dictionary_encode()
        names = encoded.dictionary.to_pylist()
        factors = np.array([np.nan if target.factor(u) is None else target.factor(u)
                            for u in names], dtype=np.float64)
        index = _np(encoded.indices).astype(np.int64)
        factor = factors[index]
        accepted = ", ".join(target.accepted_units())
        self._add_mask(np.isnan(factor), rows, target.unit_column, lambda i: (
            f"unknown unit {names[index[i]]!r}; accepted: {accepted} (add its factor to "
            f"[target.conversions] in the campaign file)"))
        return units, np.nan_to_num(factor, nan=1.0)

    def _domains(self, batch: pa.RecordBatch, canonical: pa.Array, ok: np.ndarray,
                 rows: np.ndarray) -> pa.Array:
        dom = self.config.domains
        if dom.method == "column":
            assert dom.column is not None
            labels = _text(batch.column(dom.column))
            self._add_mask(_np(pc.equal(labels, "")), rows, dom.column,
                           lambda i: "missing domain label")
            return labels
        if dom.method == "elements":
            assert dom.element_groups is not None
            groups = dom.element_groups
            cache: dict[str, str] = {}
            out: list[str | None] = []
            for text, good in zip(canonical.to_pylist(), ok, strict=True):
                if good and text not in cache:
                    cache[text] = _domain_of_canonical(text, self.config.representation.kind,
                                                       groups)
                out.append(cache[text] if good else None)
            return pa.array(out, pa.string())
        return pa.nulls(batch.num_rows, pa.string())

    def _measured_at(self, batch: pa.RecordBatch, rows: np.ndarray) -> np.ndarray:
        n = batch.num_rows
        if not self.has_measured_at:
            return np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
        column = batch.column(MEASURED_AT)
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            raw = pd.Series(column.to_pandas())
            text = pd.Series([str(v) for v in column.to_pylist()])
        else:
            text = pd.Series(_text(column).to_pylist(), dtype=object)
            raw = text.replace("", None)
        parsed = pd.Series(pd.to_datetime(raw, errors="coerce", utc=True, format="mixed"))
        bad = (parsed.isna() & (text != "") & (text != "None")).to_numpy()
        self._add_mask(bad, rows, MEASURED_AT,
                       lambda i: f"{text.iloc[i][:40]!r} is not a date/time (use ISO 8601)")
        return parsed.dt.tz_convert(None).to_numpy(dtype="datetime64[us]")


def _domain_of_canonical(text: str, kind: str, groups: list[list[str]]) -> str:
    if kind == "structure":
        from pymatgen.core import Structure

        formula = Structure.from_str(text, fmt="cif").composition.formula
    else:
        formula = text
    return domain_from_elements(formula, groups)


def _np(array: pa.Array) -> np.ndarray:
    """Arrow array -> numpy (copying where Arrow must, e.g. booleans or nulls)."""
    return array.to_numpy(zero_copy_only=False)


def _text(column: pa.Array) -> pa.Array:
    """Return a column as stripped strings ('' for missing; 13.0 -> '13')."""
    if pa.types.is_floating(column.type):
        values = _np(column).astype(np.float64)
        return pa.array(["" if np.isnan(v) else (str(int(v)) if v.is_integer() else repr(v))
                         for v in values.tolist()], pa.string())
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    return pc.utf8_trim_whitespace(pc.fill_null(column, ""))


# ---------------------------------------------------------------------- entry point
def ingest_file(store: Store, config: CampaignConfig, path: str | Path, *,
                replicate: bool = False, report_path: str | Path | None = None,
                round: int | None = None, batch_rows: int = 65536,
                progress: bool = False) -> IngestResult:
    """Validate a lab file completely, then load it into the store in one transaction.

    Args:
        store: The campaign store, open for writing.
        config: The campaign configuration.
        path: CSV or Parquet file of results.
        replicate: Keep a new, different value of an already measured material next to
            the old one (otherwise that is an error).
        report_path: If given, every problem found is written there, one per line.
        round: Round to file the measurements under (default: the store's current round).
        batch_rows: Rows per streamed batch.
        progress: Show a progress bar on stderr.

    Returns:
        What was loaded (or ``already_ingested=True`` for a file seen before).

    Raises:
        IngestValidationError: the file failed validation (the message is the first
            problem; ``.problems`` holds all); nothing was written.
        IngestError: the file does not exist.
    """
    path = Path(path)
    report = Path(report_path) if report_path is not None else None
    if not path.is_file():
        raise IngestError(f"{path}: no such file; give the path of a CSV or Parquet file")
    digest = file_sha256(path)
    round = store.current_round() if round is None else round
    seen = store.ingested_file(digest)
    if seen is not None:
        _write_report(report, [])
        return IngestResult(file=str(path), sha256=digest, n_rows=int(seen["n_rows"]),
                            round=int(seen["round"]), already_ingested=True)
    tmp_root = store.path.parent / ".ingest-tmp"
    # The store is open for writing, so no other ingest of this campaign is running:
    # anything left here is from a killed ingest.
    shutil.rmtree(tmp_root, ignore_errors=True)
    staged = tmp_root / f"{uuid.uuid4().hex}.parquet"
    staged.parent.mkdir(parents=True)
    try:
        n_rows, log = _validate_and_stage(config, path, staged, report, batch_rows, progress)
        skip, counts = _check_against_store(store, config, staged, replicate, log, report)
        loaded = store.load_staged_ingest(
            staged, property=config.target.property, source_file=str(path),
            source_sha256=digest, round=round, n_rows=n_rows, skip_ids=skip)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    _write_report(report, [])
    return IngestResult(file=str(path), sha256=digest, n_rows=n_rows,
                        new_materials=loaded["new_materials"],
                        measurements=loaded["measurements"],
                        skipped_identical=counts["identical"], replicates=counts["replicates"],
                        proposals_measured=loaded["proposals_measured"], round=round)


def _validate_and_stage(config: CampaignConfig, path: Path, staged: Path,
                        report: Path | None, batch_rows: int,
                        progress: bool) -> tuple[int, _ProblemLog]:
    """Validate every batch and write the rows to ``staged`` (with a ``valid`` flag).

    Returns:
        The number of data rows and the problems found so far (row-level ones are raised
        together with the store checks, so one report lists them all).
    """
    is_parquet = path.suffix.lower() in _PARQUET_SUFFIXES
    reader = _Reader(path, [], is_parquet, batch_rows)
    try:
        header = reader.open_header()
    except IngestValidationError as exc:
        _write_report(report, exc.problems)
        raise
    validator = _Validator(config, path, header)
    validator.check_header(header)
    validator.raise_if_any(report)
    reader.columns = validator.wanted_columns()
    n_rows = 0
    bar = progress_bar(unit="rows", desc=f"validating {path.name}", enabled=progress,
                       unit_scale=True, leave=False)
    try:
        with pq.ParquetWriter(staged, _STAGED_SCHEMA) as writer:
            for batch in reader.batches():
                writer.write_table(validator.batch(batch, n_rows + 1))
                n_rows += batch.num_rows
                bar.update(batch.num_rows)
    except IngestValidationError as exc:
        _write_report(report, [*validator.problems, *exc.problems])
        raise IngestValidationError([*validator.problems, *exc.problems],
                                    validator.n_problems + exc.n_problems, report) from None
    finally:
        bar.close()
    if n_rows == 0:
        validator.add("file has a header but no data rows")
        validator.raise_if_any(report)
    return n_rows, validator


def _check_against_store(store: Store, config: CampaignConfig, staged: Path, replicate: bool,
                         validator: _ProblemLog,
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


def _write_report(report: Path | None, problems: list[Problem], total: int | None = None) -> None:
    """Write every problem to the report file, one per line (empty file: no problems)."""
    if report is None:
        return
    lines = [str(p) for p in problems]
    if total is not None and total > len(problems):
        lines.append(f"... and {total - len(problems)} more problem(s) not listed")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
