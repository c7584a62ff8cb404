"""Read a lab file: its format, separator, header, renamed columns and Arrow batches.

A lab file is CSV (comma, semicolon or tab separated: the separator is read from the
header line), Excel (``.xlsx``/``.xlsm``: the first worksheet, header in its first row) or
Parquet (``.parquet``/``.pq``) with one row per measured material. File columns with
other names are mapped onto the campaign's with ``--id-column``, ``--value-column`` and
``--map`` (``{file name: campaign name}``); a mapped name wins over a file column that
already has it. A required column that is missing is named with a few of the columns the
file has and the closest of them (:func:`describe_missing_column`).

API: ``describe_missing_column(column, header, fix, required=None, candidates=None)``;
``sniff_delimiter(path)``; ``file_format(path)``; ``read_excel_table(path)``;
``LabFileReader(path, columns, format, batch_rows)``; ``column_renames(...)``;
``checked_renames(...)``; ``folder_message(path)``.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from e2t_discovery.config.schema import CampaignConfig
from e2t_discovery.exceptions import IngestError, IngestValidationError
from e2t_discovery.messages import closest_name, first_line, listing
from e2t_discovery.problems import Problem

__all__ = [
    "LabFileReader",
    "checked_renames",
    "column_renames",
    "describe_missing_column",
    "file_format",
    "folder_message",
    "read_excel_table",
    "sniff_delimiter",
]

_PARQUET_SUFFIXES = {".parquet", ".pq"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_DELIMITERS = (",", ";", "\t")
_SHOWN_COLUMNS = 5


# ---------------------------------------------------------------------- messages
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
    shown = listing(header, _SHOWN_COLUMNS, "columns")
    closest = closest_name(column, header if candidates is None else candidates)
    hint = f"; closest: {closest!r}" if closest is not None else ""
    needed = f"required: {', '.join(required)}; " if required else ""
    return f"column {column!r} is missing ({needed}found: {shown}{hint}); {fix(closest)}"


def folder_message(path: Path) -> str:
    """The error for a folder given where a file is expected: what it holds, what to do."""
    files = sorted(p.name for p in path.iterdir()
                   if p.is_file() and p.suffix.lower() in {".csv", ".tsv", ".txt", ".xlsx",
                                                           ".xlsm", ".parquet", ".pq"})
    held = (f"it holds {len(files)} result-like file(s): {', '.join(files[:3])}"
            f"{' ...' if len(files) > 3 else ''}; " if files else "")
    return (f"{path}: is a folder, not a file; {held}ingest one CSV, Excel (.xlsx) or Parquet "
            f"file at a time")


# ---------------------------------------------------------------------- file formats
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


def file_format(path: Path) -> str:
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
        reason = first_line(exc)
        raise IngestValidationError([Problem(
            str(path), f"not a readable Excel workbook ({reason}); save it again as .xlsx "
                       f"or as CSV")], 1, None) from None
    filled = frame.notna().any(axis=1).to_numpy()
    last = int(np.flatnonzero(filled)[-1]) + 1 if filled.any() else 0
    frame = frame.iloc[:last]
    frame.columns = [str(c) for c in frame.columns]
    return frame


# ---------------------------------------------------------------------- reading
@dataclass
class LabFileReader:
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
            reason = first_line(exc)
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


# ---------------------------------------------------------------------- column renames
def column_renames(config: CampaignConfig, id_column: str | None, value_column: str | None,
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


def checked_renames(path: Path, header: list[str], rename: dict[str, tuple[str, str]],
                    config: CampaignConfig, unit: str | None) -> dict[str, str]:
    """Check every renamed column against the file, and ``--unit``; return the renames.

    Raises:
        IngestValidationError: naming the option, the column and the closest column.
    """
    for old, (_, option) in rename.items():
        if old not in header:
            closest = closest_name(old, header)
            hint = f"; closest: {closest!r}" if closest else ""
            shown = listing(header, _SHOWN_COLUMNS)
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
