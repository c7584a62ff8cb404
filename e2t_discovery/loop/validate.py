"""Validate the rows of a lab file and collect every problem, one line each.

Validation streams the file in bounded batches (a million-row file is fine): required
columns, non-empty ids, numbers that parse and are finite, units equal to the campaign
unit or converted by the explicit factor in ``[target.conversions]``, values inside
``[target] min``/``max`` (after unit conversion), identifiers that RDKit/pymatgen parse
(canonical forms are cached, so repeated strings cost one parse), domain labels and
``measured_at`` dates. Each batch becomes staged rows (:data:`STAGED_SCHEMA`) with a
``valid`` flag; the checks against the store run on the staged rows
(:mod:`e2t_discovery.loop.ingest`).

Every problem names file, row (1-based, header not counted), column and reason
(:class:`~e2t_discovery.problems.Problem`); :class:`ProblemLog` keeps the first 100,000
and counts all, and :func:`write_report` writes them to the ``--report`` file.

API: ``Validator(config, path, header, unit=None)`` with ``.check_header(header)``,
``.wanted_columns()``, ``.batch(batch, first_row)``, ``.add(...)``,
``.raise_if_any(report)``; ``ProblemLog(name)``; ``write_report(report, problems,
total=None)``; ``STAGED_SCHEMA``; ``MEASURED_AT``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from e2t_discovery.config.schema import CampaignConfig
from e2t_discovery.domains import canonical_element_domain
from e2t_discovery.exceptions import IngestValidationError
from e2t_discovery.loop.lab_files import describe_missing_column
from e2t_discovery.problems import Problem

__all__ = ["MEASURED_AT", "STAGED_SCHEMA", "ProblemLog", "Validator", "write_report"]

MEASURED_AT = "measured_at"
_MAX_KEPT_PROBLEMS = 100_000
_NAN_WORDS = {"nan", "+nan", "-nan"}
#: One staged row per data row: the canonical, converted values and whether it is valid.
STAGED_SCHEMA = pa.schema([
    ("row", pa.int64()), ("id", pa.string()), ("kind", pa.string()),
    ("canonical", pa.string()), ("domain", pa.string()), ("value", pa.float64()),
    ("unit", pa.string()), ("raw_value", pa.float64()), ("raw_unit", pa.string()),
    (MEASURED_AT, pa.timestamp("us")), ("valid", pa.bool_()),
])


# ---------------------------------------------------------------------- problems
class ProblemLog:
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
            write_report(report, self.problems, self.n_problems)
            raise IngestValidationError(self.problems, self.n_problems, report)


def write_report(report: Path | None, problems: list[Problem], total: int | None = None) -> None:
    """Write every problem to the report file, one per line (empty file: no problems)."""
    if report is None:
        return
    lines = [str(p) for p in problems]
    if total is not None and total > len(problems):
        lines.append(f"... and {total - len(problems)} more problem(s) not listed")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


# ---------------------------------------------------------------------- validation
class Validator(ProblemLog):
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
        ], schema=STAGED_SCHEMA)

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
                    cache[text] = canonical_element_domain(
                        text, self.config.representation.kind, groups)
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


# ---------------------------------------------------------------------- identifiers
def _checked(canonical: Callable[[str], str], what: str,
             text: str) -> tuple[str | None, str | None]:
    """Return ``(canonical form, None)``, or ``(None, why it is invalid)``."""
    try:
        return canonical(text), None
    except (ValueError, TypeError) as exc:
        return None, f"invalid {what} {text[:60]!r}: {exc}"


@lru_cache(maxsize=1 << 18)
def _canonical_polymer(text: str) -> tuple[str | None, str | None]:
    from e2t_discovery.featurize.polymer import canonical_psmiles

    return _checked(canonical_psmiles, "p-SMILES", text)


@lru_cache(maxsize=1 << 18)
def _canonical_composition(text: str) -> tuple[str | None, str | None]:
    from e2t_discovery.featurize.composition import canonical_formula

    return _checked(canonical_formula, "formula", text)


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
