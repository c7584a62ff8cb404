"""Ingest lab results: validate the whole file, then load it in one transaction.

A lab file is CSV (comma, semicolon or tab separated: the separator is read from the
header line), Excel (``.xlsx``/``.xlsm``: the first worksheet, header in its first row) or
Parquet (``.parquet``/``.pq``) with one row per measured material. Columns (names from the
campaign config): the id, the representation (p-SMILES, formula, or CIF path/text), the
value, the unit (unless ``target.require_unit_column`` is false or one ``unit`` is given
for the whole file), the domain when ``domains.method = "column"``, and optionally
``measured_at``. File columns with other names are mapped onto these with ``id_column``,
``value_column`` and ``column_map`` (``{file name: campaign name}``); a mapped name wins
over a file column that already has it.

Validation runs over the whole file before anything is written and streams it in
bounded batches (a million-row file is fine): required columns, non-empty ids, numbers
that parse and are finite, units equal to the campaign unit or converted by the explicit
factor in ``[target.conversions]``, values inside ``[target] min``/``max`` (after unit
conversion), identifiers that RDKit/pymatgen parse (canonical forms
are cached, so repeated strings cost one parse), no id twice in one file, no id that the
store knows as a different material, and no conflicting value for an already measured
material unless ``replicate=True`` (then both are kept). A file already ingested (same
SHA-256) is a no-op. Every problem is one line naming file, row (1-based, header not
counted), column and reason; ``report_path`` receives all of them.

Row numbers everywhere (ingest, ``e2t predict``'s ``reject_reason``, screen rejects) are
1-based data rows: row 1 is the first row after the header (an Excel sheet's row 2).

API: ``ingest_file(store, config, path, *, replicate=False, report_path=None,
round=None, batch_rows=65536, progress=False, id_column=None, value_column=None,
unit=None, column_map=None) -> IngestResult``; ``describe_missing_column(column, header,
fix)``; ``read_excel_table(path)``; ``sniff_delimiter(path)``.
"""

from __future__ import annotations

import difflib
import re
import shutil
import uuid
import zipfile
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

from e2t_discovery.config.schema import CampaignConfig
from e2t_discovery.data.files import sha256_of
from e2t_discovery.exceptions import IngestError
from e2t_discovery.progress import progress_bar
from e2t_discovery.store.db import Store

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

MEASURED_AT = "measured_at"
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_DELIMITERS = (",", ";", "\t")
_SHOWN_COLUMNS = 5
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


# ---------------------------------------------------------------------- file formats
def describe_missing_column(column: str, header: list[str],
                            fix: Callable[[str | None], str],
                            required: list[str] | None = None,
                            candidates: list[str] | None = None) -> str:
    """Return the reason a required column is missing: a few found columns, the closest.

    Args:
        column: The missing column.
        header: The columns the file has.
        fix: Given the closest column's name (or None), say what to do.
        required: Every required column, listed first when given.
        candidates: The columns the closest match is chosen from (default: ``header``).

    Returns:
        ``column 'x' is missing (required: ...; found: 157 columns: a, b, ... and 149
        more; closest: 'X'); <fix>``, on one line however wide the file.
    """
    shown = ", ".join(header[:_SHOWN_COLUMNS])
    if len(header) > _SHOWN_COLUMNS:
        shown = f"{len(header)} columns: {shown} and {len(header) - _SHOWN_COLUMNS} more"
    closest = _closest(column, header if candidates is None else candidates)
    hint = f"; closest: {closest!r}" if closest is not None else ""
    needed = f"required: {', '.join(required)}; " if required else ""
    return f"column {column!r} is missing ({needed}found: {shown}{hint}); {fix(closest)}"


def _closest(column: str, header: list[str]) -> str | None:
    """Return the header column closest to ``column``, or None if nothing is close.

    Case and punctuation are ignored; a column with ``column`` as one of its words
    (``id`` in ``monomer_ID``) comes next, then difflib's closest spelling.
    """
    def norm(name: str) -> str:
        return re.sub(r"[^0-9a-z]", "", name.lower())

    by_norm: dict[str, str] = {}
    for name in header:
        by_norm.setdefault(norm(name), name)
    target = norm(column)
    if target and target in by_norm:
        return by_norm[target]
    for name in header:
        if target and target in re.split(r"[^0-9a-z]+", name.lower()):
            return name
    hits = difflib.get_close_matches(target, [k for k in by_norm if k], n=1, cutoff=0.6)
    return by_norm[hits[0]] if hits else None


def sniff_delimiter(path: Path) -> str:
    """Return the separator of a CSV file: ``,``, ``;`` or tab, read from its header line.

    The separator that occurs most often outside quotes in the first line wins; a line
    without any of them is comma separated (a one-column file).
    """
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    line = re.sub(r'"[^"]*"', "", line)
    counts = {d: line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _file_format(path: Path) -> str:
    """Return ``csv``, ``parquet`` or ``excel`` from the suffix and the first bytes.

    Raises:
        IngestValidationError: for a spreadsheet format that cannot be read (``.xls``,
            ``.ods``), naming it and the fix.
    """
    suffix = path.suffix.lower()
    with path.open("rb") as fh:
        magic = fh.read(8)
    name = str(path)
    if suffix == ".xls" or magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise IngestValidationError([Problem(
            name, "is an Excel 97-2003 workbook (.xls), which cannot be read; save it from "
                  "Excel as .xlsx or as CSV")], 1, None)
    if suffix == ".ods":
        raise IngestValidationError([Problem(
            name, "is an OpenDocument spreadsheet (.ods), which cannot be read; save it as "
                  ".xlsx or as CSV")], 1, None)
    if suffix in _PARQUET_SUFFIXES:
        return "parquet"
    if suffix in _EXCEL_SUFFIXES:
        return "excel"
    if magic.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                if "xl/workbook.xml" in archive.namelist():
                    return "excel"  # an Excel workbook under another name
        except zipfile.BadZipFile:
            pass
    return "csv"


def read_excel_table(path: Path) -> pd.DataFrame:
    """Read the first worksheet of an ``.xlsx`` workbook as text (header in row 1).

    Cells come back as strings (numbers as Python writes them, ``13`` stays ``13``), empty
    cells as missing; trailing empty rows are dropped.

    Raises:
        IngestValidationError: if the file is not a readable workbook.
    """
    try:
        frame = pd.read_excel(path, sheet_name=0, dtype=str, engine="openpyxl")
    except ImportError:
        raise IngestValidationError([Problem(
            str(path), "reading Excel files needs openpyxl; `pip install openpyxl` or save "
                       "the sheet as CSV")], 1, None) from None
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IngestValidationError([Problem(
            str(path), f"not a readable Excel workbook ({reason}); save it again as .xlsx "
                       f"or as CSV")], 1, None) from None
    filled = frame.notna().any(axis=1).to_numpy()
    last = int(np.flatnonzero(filled)[-1]) + 1 if filled.any() else 0
    frame = frame.iloc[:last]
    frame.columns = [str(c) for c in frame.columns]
    return frame


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
    """Arrow batches of a lab file's needed columns (CSV and Excel: all read as strings).

    ``rename`` maps file column names to the names validation uses (``--map``,
    ``--id-column``, ``--value-column``); ``header`` holds the renamed names, without a
    file column whose name a rename takes over.
    """

    path: Path
    columns: list[str]
    format: str
    batch_rows: int
    header: list[str] = field(default_factory=list)
    rename: dict[str, str] = field(default_factory=dict)
    file_header: list[str] = field(default_factory=list)
    delimiter: str = ","
    _excel: pa.Table | None = None

    @property
    def is_parquet(self) -> bool:
        """True for a Parquet file."""
        return self.format == "parquet"

    def open_header(self) -> list[str]:
        """Read the column names; raise IngestError if the file is not CSV/Excel/Parquet."""
        name = str(self.path)
        if self.path.stat().st_size == 0:
            raise IngestValidationError([Problem(name, "file is empty; expected a header row "
                                                       "and data rows")], 1, None)
        if self.format == "excel":
            frame = read_excel_table(self.path)
            self._excel = pa.Table.from_pandas(frame.astype(object), preserve_index=False)
            self.file_header = list(frame.columns)
            self.header = list(self.file_header)
            return self.header
        try:
            if self.is_parquet:
                self.file_header = list(pq.ParquetFile(self.path).schema_arrow.names)
            else:
                self.delimiter = sniff_delimiter(self.path)
                with pacsv.open_csv(self.path, read_options=pacsv.ReadOptions(
                        block_size=1 << 16), parse_options=pacsv.ParseOptions(
                        delimiter=self.delimiter)) as reader:
                    self.file_header = list(reader.schema.names)
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            what = "Parquet" if self.is_parquet else "CSV"
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise IngestValidationError([Problem(
                name, f"not a readable {what} file ({reason}); save the results as CSV "
                      f"with a header row, as .xlsx, or as Parquet")], 1, None) from None
        self.header = list(self.file_header)
        return self.header

    def apply_rename(self, rename: dict[str, str]) -> list[str]:
        """Rename file columns (``{file name: new name}``); return the renamed header."""
        self.rename = dict(rename)
        taken = set(rename.values())
        self.header = [rename.get(c, c) for c in self.file_header
                       if c in rename or c not in taken]
        return self.header

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Yield Arrow batches of at most ~``batch_rows`` rows with the needed columns."""
        back = {new: old for old, new in self.rename.items()}
        cols = [back.get(c, c) for c in self.columns if c in self.header]
        for batch in self._file_batches(cols):
            names = [self.rename.get(c, c) for c in batch.schema.names]
            yield pa.RecordBatch.from_arrays(batch.columns, names=names)

    def _file_batches(self, cols: list[str]) -> Iterator[pa.RecordBatch]:
        """Yield batches of the file's columns ``cols`` (file names)."""
        if self._excel is not None:
            yield from self._excel.select(cols).to_batches(max_chunksize=self.batch_rows)
            return
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
            parse_options=pacsv.ParseOptions(delimiter=self.delimiter,
                                             invalid_row_handler=on_invalid),
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

    def __init__(self, config: CampaignConfig, path: Path, header: list[str],
                 unit: str | None = None) -> None:
        super().__init__(str(path))
        self.config = config
        self._bad = np.zeros(0, dtype=bool)
        rep, target, dom = config.representation, config.target, config.domains
        self.fixed_unit = unit
        self.has_unit = unit is None and target.unit_column in header
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
        if target.require_unit_column and self.fixed_unit is None:
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
        """Record every missing required column (a few found ones and the closest named)."""
        required = self.required_columns()
        present = set(header)
        unused = [c for c in header if c not in required]
        for col in required:
            if col not in present:
                self.add(describe_missing_column(col, header, self._fix(col),
                                                 required=required, candidates=unused))

    def _fix(self, column: str) -> Callable[[str | None], str]:
        """What to do about a missing required column, given the closest file column."""
        rep, target = self.config.representation, self.config.target
        option = {rep.id_column: "--id-column", target.column: "--value-column"}.get(column)

        def fix(closest: str | None) -> str:
            if column == target.unit_column:
                mapped = f" or --map '{closest}={column}'" if closest else ""
                return (f"add a {column!r} column, or pass --unit {target.unit} (one unit "
                        f"for every row){mapped}")
            if closest is None:
                how = f"{option} NAME" if option else f"--map NAME={column}"
                return f"add it, or name the file's column with {how}"
            how = f"{option} '{closest}'" if option else f"--map '{closest}={column}'"
            return f"rename {closest!r} to {column!r} or pass {how}"

        return fix

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
        raw_unit, factor, unit_ok = self._units(batch, rows)
        self._bounds(value, factor, unit_ok, raw_unit, rows)
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
        self._add_mask(not_number, rows, name, lambda i: _not_a_number(text[i].as_py()))
        self._add_mask(np.isinf(values), rows, name,
                       lambda i: f"value {text[i].as_py()[:40]!r} is not finite")
        return values

    def _units(self, batch: pa.RecordBatch,
               rows: np.ndarray) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        """Return each row's unit as given, its factor to the campaign unit, and an ok mask."""
        target = self.config.target
        n = batch.num_rows
        if not self.has_unit:
            unit = self.fixed_unit if self.fixed_unit is not None else target.unit
            scale = target.factor(unit)
            assert scale is not None  # checked before the file is read
            return (pa.repeat(pa.scalar(unit), n), np.full(n, scale, dtype=np.float64),
                    np.ones(n, dtype=bool))
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
        return units, np.nan_to_num(factor, nan=1.0), ~np.isnan(factor)

    def _bounds(self, values: np.ndarray, factor: np.ndarray, unit_ok: np.ndarray,
                raw_unit: pa.Array, rows: np.ndarray) -> None:
        """Record values outside ``[target] min``/``max`` (compared in the campaign unit)."""
        target = self.config.target
        if target.min is None and target.max is None:
            return
        converted = values * factor
        known = np.isfinite(converted) & unit_ok
        raw_units = raw_unit.to_pylist()

        def shown(i: int) -> str:
            if factor[i] == 1.0 and raw_units[i] == target.unit:
                return f"{values[i]:g} {target.unit}"
            return f"{values[i]:g} {raw_units[i]} (= {converted[i]:g} {target.unit})"

        def reason(key: str, bound: float, word: str) -> Callable[[int], str]:
            return lambda i: (f"value {shown(i)} is {word} {bound:g} {target.unit} ([target] "
                              f"{key} in the campaign file); check the measurement and its "
                              f"unit")

        safe = np.nan_to_num(converted)
        if target.min is not None:
            self._add_mask(known & (safe < target.min), rows, target.column,
                           reason("min", target.min, "below the physical minimum"))
        if target.max is not None:
            self._add_mask(known & (safe > target.max), rows, target.column,
                           reason("max", target.max, "above the physical maximum"))

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


def _not_a_number(text: str) -> str:
    """The reason a value is not a number (a decimal comma is named as such)."""
    reason = f"value {text[:40]!r} is not a number"
    if re.fullmatch(r"[-+]?\d*,\d+", text):
        reason += f" (decimal comma? write {text.replace(',', '.')})"
    return reason


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
    rename = _renames(config, id_column, value_column, column_map)
    _check_unit_option(config, unit)
    if path.is_dir():
        raise IngestError(_folder_message(path))
    if not path.is_file():
        raise IngestError(f"{path}: no such file; give the path of a CSV, Excel (.xlsx) or "
                          f"Parquet file")
    digest = sha256_of(path)
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
        n_rows, log = _validate_and_stage(config, path, staged, report, batch_rows, progress,
                                          rename, unit)
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
                        report: Path | None, batch_rows: int, progress: bool,
                        rename: dict[str, tuple[str, str]] | None = None,
                        unit: str | None = None) -> tuple[int, _ProblemLog]:
    """Validate every batch and write the rows to ``staged`` (with a ``valid`` flag).

    Returns:
        The number of data rows and the problems found so far (row-level ones are raised
        together with the store checks, so one report lists them all).
    """
    try:
        reader = _Reader(path, [], _file_format(path), batch_rows)
        reader.open_header()
        header = reader.apply_rename(_checked_renames(path, reader.file_header, rename or {},
                                                      config, unit))
    except IngestValidationError as exc:
        _write_report(report, exc.problems)
        raise
    validator = _Validator(config, path, header, unit)
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


def _renames(config: CampaignConfig, id_column: str | None, value_column: str | None,
             column_map: dict[str, str] | None) -> dict[str, tuple[str, str]]:
    """Join ``--id-column``, ``--value-column`` and ``--map`` into renames.

    Returns:
        ``{file column: (campaign column, the option that asked for it)}``.

    Raises:
        IngestError: if a name is empty, one file column gets two names or two file
            columns one name.
    """
    pairs = [(old, new, f"--map {old}={new}") for old, new in (column_map or {}).items()]
    if id_column is not None:
        pairs.append((id_column, config.representation.id_column, f"--id-column {id_column}"))
    if value_column is not None:
        pairs.append((value_column, config.target.column, f"--value-column {value_column}"))
    rename: dict[str, tuple[str, str]] = {}
    named: dict[str, str] = {}
    for old, new, option in pairs:
        if not old.strip() or not new.strip():
            raise IngestError(f"{option}: a column name is empty; give the file's column "
                              f"name (--map OLD=NEW)")
        if old in rename and rename[old][0] != new:
            raise IngestError(f"{rename[old][1]} and {option} give the file column {old!r} "
                              f"two names; keep one")
        if new in named and named[new] != old:
            raise IngestError(f"{rename[named[new]][1]} and {option} both name a column "
                              f"{new!r}; keep one")
        rename[old], named[new] = (new, option), old
    return rename


def _checked_renames(path: Path, header: list[str], rename: dict[str, tuple[str, str]],
                     config: CampaignConfig, unit: str | None) -> dict[str, str]:
    """Check every renamed column against the file, and ``--unit``; return the renames.

    Raises:
        IngestValidationError: naming the option, the column and the closest column.
    """
    for old, (_, option) in rename.items():
        if old not in header:
            closest = _closest(old, header)
            hint = f"; closest: {closest!r}" if closest else ""
            shown = ", ".join(header[:_SHOWN_COLUMNS])
            if len(header) > _SHOWN_COLUMNS:
                shown += f" and {len(header) - _SHOWN_COLUMNS} more"
            raise IngestValidationError([Problem(
                str(path), f"{option}: the file has no column {old!r} (found: {shown}{hint}); "
                           f"give one of the file's column names")], 1, None)
    plain = {old: new for old, (new, _) in rename.items() if old != new}
    unit_column = config.target.unit_column
    if unit is not None and unit_column in [plain.get(c, c) for c in header]:
        raise IngestValidationError([Problem(
            str(path), f"--unit {unit} was given but the file has a unit column "
                       f"{unit_column!r}; drop --unit or the column")], 1, None)
    return plain


def _check_unit_option(config: CampaignConfig, unit: str | None) -> None:
    """Raise IngestError if ``--unit`` is not a unit the campaign accepts."""
    target = config.target
    if unit is not None and target.factor(unit) is None:
        raise IngestError(f"--unit {unit!r} is not a unit of {target.property}; accepted: "
                          f"{', '.join(target.accepted_units())} (add its factor to "
                          f"[target.conversions] in the campaign file)")


def _folder_message(path: Path) -> str:
    """The error for a folder given where a file is expected: what it holds, what to do."""
    files = sorted(p.name for p in path.iterdir()
                   if p.is_file() and p.suffix.lower() in {".csv", ".tsv", ".txt", ".xlsx",
                                                           ".xlsm", ".parquet", ".pq"})
    held = (f"it holds {len(files)} result-like file(s): {', '.join(files[:3])}"
            f"{' ...' if len(files) > 3 else ''}; " if files else "")
    return (f"{path}: is a folder, not a file; {held}ingest one CSV, Excel (.xlsx) or Parquet "
            f"file at a time")


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
