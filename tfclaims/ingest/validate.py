"""Ingest: type every raw text cell, validate every table with its pandera model, quarantine bad rows.

Two phases, so that one bad cell never hides another problem (research/ecosystem.md 2.3):
1. **typing** by each field's kind (dates ISO or UK day-first, whole numbers, codes matched
   case-insensitively, identifiers normalised); a cell that cannot be typed is an error;
2. **rules**: the table's pandera model validated lazily; every failure case becomes an error row.

Every error row names the table, file, sheet, row, column, value, check and a message; every bad
row is quarantined (left out); for every table ``read == accepted + quarantined``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from tfclaims.core.membership import is_in
from tfclaims.schemas._fields import MAX_DATE, MIN_DATE, code_lists
from tfclaims.schemas.inputs import CHECK_COLUMNS, CHECK_MESSAGES, FAMILY_EVENT_TABLES, INPUT_MODELS, LOCAL_TABLES
from tfclaims.schemas.outputs import ValidationErrors
from tfclaims.core.cohort import EVENT_TABLES, TABLES, Cohort
from tfclaims.core.config import CouncilConfig
from tfclaims.core.errors import InputError
from tfclaims.core.local_codes import NO_CODES, DeclaredCodes, is_factor_code
from tfclaims.core.identifiers import normalise_ni_number, normalise_nhs_number, normalise_postcode
from tfclaims.core.orchestration import Step, direct
from tfclaims.ingest.readers import RawCohort, RawPart, read_cohort
from tfclaims.ingest.returns import ReturnOptions, ReturnRows, covered_to

ERROR_COLUMNS = ["table", "file", "sheet", "row", "column", "value", "check", "message"]


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str
    required_column: bool
    codes: str | None = None


def table_specs() -> dict[str, list[ColumnSpec]]:
    """Each table's columns with how they are typed, read from the pandera models in ``schemas.inputs``."""
    specs: dict[str, list[ColumnSpec]] = {}
    for table, model in INPUT_MODELS.items():
        schema = model.to_schema()
        specs[table] = [
            ColumnSpec(name, (col.metadata or {}).get("kind", "text"), bool(col.required), (col.metadata or {}).get("codes"))
            for name, col in schema.columns.items()
        ]
    return specs


def contract_columns() -> dict[str, list[str]]:
    return {t: [c.name for c in cols] for t, cols in table_specs().items()}


# ----------------------------------------------------------------------------------------------
# Phase 1: typing


@dataclass
class Typed:
    value: pd.Series
    bad: pd.Series  # bool: a value was given but could not be typed
    message: str


def parse_dates(s: pd.Series) -> pd.Series:
    """ISO ``2024-03-31`` or UK day-first ``31/03/2024``; anything else is NaT (and an error upstream)."""
    s = s.str.strip()
    iso = pd.to_datetime(s.where(s.str.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", na=False)), format="%Y-%m-%d", errors="coerce")
    uk_mask = s.str.fullmatch(r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}", na=False)
    if uk_mask.any():
        uk = pd.to_datetime(s.where(uk_mask), format="%d/%m/%Y", errors="coerce")
        iso = iso.where(iso.notna(), uk)
    # Real dates outside what nanoseconds hold (before 1678, after 2261) are clamped to just
    # inside, so the schema's date-range check reports them, rather than "not a date".
    low, high = pd.Timestamp("1678-01-01"), pd.Timestamp("2261-12-31")
    iso = iso.where(iso.isna() | (iso >= low), low).where(iso.isna() | (iso <= high), high)
    return iso.astype("datetime64[ns]")


# Kinds whose columns repeat few distinct values (dates, codes, counts, postcodes shared by a
# household): they are typed once per distinct value and the result spread back.
_BY_DISTINCT_VALUE = frozenset({"date", "int", "number", "bool", "code", "postcode"})


# Characters no identifier may hold: control characters and the invisible format characters
# (soft hyphen, zero-width space and joiners, direction marks, word joiner, byte-order mark).
_INVISIBLE_RANGES = [(0x00, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x200B, 0x200F), (0x202A, 0x202E),
                     (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF)]
# In text (names, addresses, notes) only control characters other than tab and line breaks are refused:
# zero-width joiners are part of how some scripts and names are written.
_CONTROL_RANGES = [(0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x7F)]
# An identifier Excel stored as a number and shows in scientific notation, its last digits lost.
_EXCEL_ROUNDED_RE = r"[+-]?[0-9](\.[0-9]+)?[eE]\+[0-9]+"
_IDENTIFIER_KINDS = frozenset({"id", "upn", "nhs_number", "ni_number", "postcode"})


def _char_class(ranges: list[tuple[int, int]]) -> str:
    def char(c: int) -> str:
        return f"\\x{c:02x}" if c < 0x80 else chr(c)

    return "[" + "".join(char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in ranges) + "]"


_INVISIBLE_CLASS = _char_class(_INVISIBLE_RANGES)
_CONTROL_CLASS = _char_class(_CONTROL_RANGES)


@dataclass
class CellProblem:
    """Cells refused before typing, with one message per cell (the same for most)."""

    bad: np.ndarray  # bool, one per row
    check: str
    message: np.ndarray  # str, one per bad cell


def _odd_bytes(s: pd.Series, want_plus: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per row: holds a byte outside printable ASCII (a control character or any non-ASCII character);
    holds a ``+``. Read from the column's UTF-8 bytes with numpy, so a clean column costs one pass."""
    import pyarrow as pa

    values = pa.array(s.array) if isinstance(s.dtype, pd.StringDtype) else pa.array(s, type=pa.large_string(), from_pandas=True)
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    odd, plus = [], []
    for chunk in chunks:
        chunk = chunk.cast(pa.large_string()) if chunk.type != pa.large_string() else chunk
        n = len(chunk)
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset : chunk.offset + n + 1]
        data = chunk.buffers()[2]
        text = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]] if data is not None and n else np.zeros(0, np.uint8)
        outside = np.subtract(text, 0x20, dtype=np.uint8) > 0x5E  # below 0x20 wraps round to above 0xDF
        for found, out in ((outside, odd), (text == 0x2B if want_plus else np.zeros(0, bool), plus)):
            mask = np.zeros(n, dtype=bool)
            if found.any():
                mask[np.searchsorted(offsets, np.flatnonzero(found) + offsets[0], side="right") - 1] = True
            out.append(mask)
    if not chunks:
        return np.zeros(0, bool), np.zeros(0, bool)
    return np.concatenate(odd), np.concatenate(plus)


def _with_character(raw: pd.Series, rows: np.ndarray, char_class: str, check: str, what: str, column: str) -> CellProblem | None:
    """Cells (among ``rows``) holding a character of ``char_class``, each message naming the first such code point."""
    if not rows.any():
        return None
    bad = rows.copy()
    bad[rows] = raw[rows].str.contains(char_class, regex=True, na=False).to_numpy(dtype=bool)
    if not bad.any():
        return None
    found = raw[bad].str.extract(f"({char_class})", expand=False)
    text = {c: f"{column} contains {what} (U+{ord(c):04X})" for c in pd.unique(found.dropna())}
    return CellProblem(bad, check, found.map(text).fillna(f"{column} contains {what}").to_numpy(dtype=object))


def cell_problems(raw: pd.Series, spec: ColumnSpec) -> list[CellProblem]:
    """Cells no typing may take: invisible characters in an identifier, control characters in any
    cell, an identifier that Excel turned into a rounded number. Only cells with a byte outside
    printable ASCII (or a ``+``) are looked at with a regular expression."""
    odd, plus = _odd_bytes(raw, want_plus=spec.kind in ("id", "nhs_number"))
    out: list[CellProblem | None] = []
    if spec.kind in _IDENTIFIER_KINDS:
        out.append(_with_character(raw, odd, _INVISIBLE_CLASS, "invisible_character", "an invisible character", spec.name))
    else:
        out.append(_with_character(raw, odd, _CONTROL_CLASS, "control_character", "a control character", spec.name))
    if spec.kind in ("id", "nhs_number") and plus.any():
        rounded = plus.copy()
        rounded[plus] = raw[plus].str.strip().str.fullmatch(_EXCEL_ROUNDED_RE, na=False).to_numpy(dtype=bool)
        if out[0] is not None:
            rounded &= ~out[0].bad
        if rounded.any():
            message = f"{spec.name} looks like a number Excel rounded; format the column as Text"
            out.append(CellProblem(rounded, "excel_rounded_number", np.full(int(rounded.sum()), message, dtype=object)))
    return [p for p in out if p is not None]


def _type_column(raw: pd.Series, spec: ColumnSpec) -> Typed:
    if spec.kind in _BY_DISTINCT_VALUE and len(raw) > 1000:
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
        if len(uniques) < len(raw) // 2:
            t = _type_values(pd.Series(uniques, dtype="str"), spec)
            spread = codes >= 0
            take = np.where(spread, codes, 0)
            value = t.value.take(take).where(spread) if len(uniques) else pd.Series(pd.NA, index=raw.index, dtype=t.value.dtype)
            value.index = raw.index
            bad = pd.Series(t.bad.to_numpy()[take] & spread if len(uniques) else np.zeros(len(raw), bool), index=raw.index)
            return Typed(value.astype(t.value.dtype), bad, t.message)
    return _type_values(raw, spec)


def compatibility_normalised(s: pd.Series) -> pd.Series:
    """Cells holding non-ASCII characters NFKC-normalised: full-width digits, letters and signs
    (``１２６``, ``Ｙ``, ``－``) become their plain forms; ASCII cells (nearly all) are untouched."""
    wide = ~s.str.isascii().fillna(True).astype(bool)
    if not wide.any():
        return s
    return s.where(~wide, s[wide].str.normalize("NFKC")).astype(s.dtype)


# A decimal number as digits: no "inf", "nan", "1_000" or thousands separators (Python's float() takes them).
_DECIMAL_RE = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
_NORMALISED_KINDS = frozenset({"date", "int", "number", "bool", "code"})


def _type_values(raw: pd.Series, spec: ColumnSpec) -> Typed:
    given = raw.notna()
    kind = spec.kind
    if kind in _NORMALISED_KINDS:
        raw = compatibility_normalised(raw)
    if kind == "date":
        value = parse_dates(raw)
        return Typed(value, given & value.isna(), "not a date: use YYYY-MM-DD or DD/MM/YYYY")
    if kind == "int":
        stripped = raw.str.strip()
        ok = stripped.str.fullmatch(r"[+-]?[0-9]{1,18}", na=False)
        value = stripped.where(ok).str.lstrip("+").astype("int64[pyarrow]").astype("Int64")  # Arrow's cast: ~15x to_numeric
        return Typed(value, given & ~ok, "not a whole number")
    if kind == "number":
        stripped = raw.str.strip()
        shaped = stripped.str.fullmatch(_DECIMAL_RE, na=False)
        value = pd.to_numeric(stripped.where(shaped), errors="coerce").astype("Float64")
        finite = np.isfinite(value.to_numpy(dtype="float64", na_value=np.nan))  # 1e400 is read as infinity
        value = value.where(finite)
        return Typed(value, given & value.isna(), "not a number (digits with an optional decimal point, e.g. 37.5)")
    if kind == "bool":
        mapping = {"y": True, "yes": True, "true": True, "1": True, "n": False, "no": False, "false": False, "0": False}
        value = raw.str.strip().str.lower().map(mapping).astype("boolean")
        return Typed(value, given & value.isna(), "not a yes/no value: use Y/N, yes/no, true/false or 1/0")
    none = pd.Series(False, index=raw.index)
    if kind == "code":
        allowed = code_lists()[spec.codes or ""]
        canonical = {c.lower(): c for c in allowed}
        stripped = raw.str.strip()
        mapped = stripped.str.lower().map(canonical)
        return Typed(mapped.where(mapped.notna(), stripped).astype("str"), none, "")
    if kind == "postcode":
        norm = normalise_postcode(raw)
        return Typed(norm.where(norm.notna(), raw.str.strip().str.upper()).astype("str"), none, "")
    if kind == "upn":
        return Typed(raw.str.strip().str.upper(), none, "")
    if kind == "nhs_number":
        return Typed(normalise_nhs_number(raw).where(given), none, "")
    if kind == "ni_number":
        return Typed(normalise_ni_number(raw).where(given), none, "")
    if kind == "id":
        return Typed(raw.str.strip(), none, "")
    return Typed(raw, none, "")  # text


# ----------------------------------------------------------------------------------------------
# Results


@dataclass
class TableCount:
    table: str
    read: int
    accepted: int
    quarantined: int
    files: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)

    def stage_counts(self) -> str:
        return f"{self.read:,} rows read, {self.accepted:,} accepted, {self.quarantined:,} quarantined"


@dataclass
class IngestResult:
    cohort: Cohort
    errors: pd.DataFrame  # validation_errors columns
    counts: list[TableCount]
    ignored: list[dict[str, str]]
    files: list[Path]
    file_rows: dict[str, int] = field(default_factory=dict)  # file name -> data rows read
    notes: list[dict[str, Any]] = field(default_factory=list)  # what reading changed, per sheet (merged ranges filled)
    returns: list[ReturnRows] = field(default_factory=list)  # the children's social care returns read
    @property
    def quarantined_rows(self) -> int:
        return sum(c.quarantined for c in self.counts)

    def counts_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"table": c.table, "read": c.read, "accepted": c.accepted, "quarantined": c.quarantined} for c in self.counts])


# ----------------------------------------------------------------------------------------------
# Structure checks: a file that cannot be used stops the run


def check_structure(raw: RawCohort, specs: Mapping[str, list[ColumnSpec]]) -> None:
    """Missing required table or column -> InputError naming the file, sheet and column."""
    if not any(p.table == "people" for p in raw.parts):
        raise InputError("the cohort has no 'people' table (a people.csv file or a 'people' sheet is required)")
    for part in raw.parts:
        check_part(part, specs[part.table])


def check_part(part: RawPart, specs: list[ColumnSpec]) -> None:
    """One file's (or sheet's) table has its required columns and, for an event table, a person reference."""
    present = set(part.frame.columns)
    missing = [c.name for c in specs if c.required_column and c.name not in present]
    if missing:
        raise InputError(f"{part.where()}: table {part.table} is missing required column(s): {', '.join(missing)}")
    if part.table in EVENT_TABLES:
        has_ref = bool(present & {"person_id", "la_child_id", "upn", "nhs_number", "ni_number"}) or {"first_name", "last_name", "date_of_birth"} <= present
        if part.table in FAMILY_EVENT_TABLES:
            has_ref = has_ref or "family_id" in present
        if not has_ref:
            raise InputError(
                f"{part.where()}: table {part.table} has no person reference column: give person_id, "
                "or la_child_id / upn / nhs_number / ni_number, or first_name + last_name + date_of_birth"
            )


def _combine(parts: list[RawPart]) -> pd.DataFrame:
    frames = []
    for p in parts:
        f = p.frame.copy(deep=False)  # copy-on-write: the columns inserted never reach the part
        f.insert(0, "source_file", pd.Series(p.file, index=f.index, dtype="str"))
        f.insert(1, "source_sheet", pd.Series(p.sheet, index=f.index, dtype="str"))
        frames.append(f)
    combined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    for c in combined.columns:
        if c != "source_row":
            combined[c] = combined[c].astype("str")
    return combined


# ----------------------------------------------------------------------------------------------
# Phase 2: rules, and the row-level report


_CHECK_NAMES = {
    "not_nullable": "required",
    "field_uniqueness": "duplicate_key",
    "isin": "allowed_values",
    "greater_than_or_equal_to": "not_negative",
    "in_range": "date_range",
    "str_matches": "format",
}


def check_name(check: str) -> str:
    """pandera's check description (``isin(['M', 'F'])``) as a short stable name (``allowed_values``)."""
    return _CHECK_NAMES.get(check.split("(", 1)[0], check)


def _check_message(check: str, column: str, value: Any, spec: ColumnSpec | None) -> str:
    if check in CHECK_MESSAGES:
        return CHECK_MESSAGES[check]
    if check == "not_nullable":
        return "required value is missing"
    if check == "field_uniqueness":
        return f"duplicate key: this {column} appears more than once"
    if check.startswith("isin") and spec is not None and spec.codes:
        return f"'{value}' is not one of the allowed values: {', '.join(code_lists()[spec.codes])}"
    if check.startswith("greater_than_or_equal_to"):
        return "must be 0 or more"
    if check.startswith("in_range"):
        return f"date outside {MIN_DATE.date()} to {MAX_DATE.date()}"
    if check.startswith("str_matches") and spec is not None and spec.kind == "postcode":
        return "not a valid UK postcode"
    if check.startswith("str_matches"):
        return "does not have the required format"
    return check


def _rule_failures(table: str, typed: pd.DataFrame) -> pd.DataFrame:
    """(row index, column, check) of every rule failure of the table's pandera model."""
    model = INPUT_MODELS[table]
    try:
        model.validate(typed, lazy=True, inplace=True)  # nothing is coerced: no copy needed
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        idx = pd.to_numeric(fc["index"], errors="coerce")
        if idx.isna().any():  # a schema-level failure: a bug in typing, not a bad row
            bad = fc[idx.isna()].head(5)[["column", "check"]].astype(str).to_dict("records")  # no failure_case: it may be a cell
            raise InputError(f"table {table}: schema-level validation failure: {bad}") from None
        out = pd.DataFrame({"index": idx.astype(np.int64), "column": fc["column"].astype(str), "check": fc["check"].astype(str)})
        wide = out["check"].isin(CHECK_COLUMNS.keys())
        collapsed = out[wide].drop_duplicates(["index", "check"]).assign(column=lambda d: d["check"].map(CHECK_COLUMNS))
        return pd.concat([out[~wide], collapsed], ignore_index=True)
    return pd.DataFrame({"index": pd.Series(dtype=np.int64), "column": pd.Series(dtype=str), "check": pd.Series(dtype=str)})


def _typed_safely(table: str, raw: pd.Series, spec: ColumnSpec) -> Typed:
    """``_type_column``, but an unexpected error (a bug: every cell should be typed or refused) never
    carries a cell's value into the audit record or the error log."""
    try:
        return _type_column(raw, spec)
    except Exception as exc:  # noqa: BLE001 - re-raised without its message, which may quote a cell
        raise RuntimeError(
            f"table {table}, column {spec.name}: typing its {spec.kind} cells failed ({type(exc).__name__}); "
            "the cell's value is not shown, to keep personal data out of logs"
        ) from None


def validate_table(table: str, parts: list[RawPart], specs: list[ColumnSpec]) -> tuple[pd.DataFrame, pd.DataFrame, TableCount]:
    """Type and validate one table (all its files). Returns (accepted, errors, count)."""
    raw = _combine(parts)
    by_name = {c.name: c for c in specs}
    typed_cols: dict[str, pd.Series] = {}
    type_errors = []
    for name in raw.columns:
        spec = by_name.get(name)
        if spec is None:
            typed_cols[name] = raw[name]
            continue
        column = raw[name]
        for problem in cell_problems(column, spec):
            type_errors.append(pd.DataFrame({"index": np.flatnonzero(problem.bad), "column": name, "check": problem.check,
                                             "message": problem.message}))
            column = column.mask(problem.bad)  # typed as missing; reported once, not again as "required"
        t = _typed_safely(table, column, spec)
        typed_cols[name] = t.value
        if t.bad.any():
            type_errors.append(pd.DataFrame({"index": np.flatnonzero(t.bad.to_numpy()), "column": name, "check": f"type:{spec.kind}", "message": t.message}))
    typed = pd.DataFrame(typed_cols, index=raw.index)
    rules = _rule_failures(table, typed)
    if type_errors:
        phase1 = pd.concat(type_errors, ignore_index=True)
        # a cell that could not be typed is reported once, not again as "missing"
        seen = pd.MultiIndex.from_frame(phase1[["index", "column"]])
        rules = rules[~pd.MultiIndex.from_frame(rules[["index", "column"]]).isin(seen)] if len(rules) else rules
    else:
        phase1 = pd.DataFrame(columns=["index", "column", "check", "message"])
    if len(rules):
        rules = rules.assign(value=_cell_values(raw, rules))
        # one message per (check, column, value): a million bad cells share a few messages
        keys = rules[["check", "column", "value"]].astype(object).where(rules[["check", "column", "value"]].notna(), None)
        uniq = keys.drop_duplicates()
        text = {tuple(k): _check_message(k[0], k[1], k[2], by_name.get(k[1])) for k in uniq.itertuples(index=False, name=None)}
        rules["message"] = [text[k] for k in keys.itertuples(index=False, name=None)]
        rules = rules.drop(columns="value")
    failures = pd.concat([f for f in (phase1, rules) if len(f)], ignore_index=True) if (len(phase1) or len(rules)) else phase1
    errors = _error_rows(table, raw, failures)
    bad_rows = np.unique(failures["index"].to_numpy(dtype=np.int64)) if len(failures) else np.array([], dtype=np.int64)
    accepted = (typed.drop(index=bad_rows) if len(bad_rows) else typed).reset_index(drop=True)  # no copy when all pass
    count = TableCount(
        table=table, read=len(raw), accepted=len(accepted), quarantined=len(bad_rows),
        files=sorted({p.where() for p in parts}), extra_columns=sorted({c for p in parts for c in p.extra_columns}),
    )
    return accepted, errors, count


def _error_rows(table: str, raw: pd.DataFrame, failures: pd.DataFrame) -> pd.DataFrame:
    if not len(failures):
        return empty_errors()
    idx = failures["index"].to_numpy(dtype=np.int64)
    values = _cell_values(raw, failures)
    out = pd.DataFrame({
        "table": table,
        "file": raw["source_file"].to_numpy()[idx],
        "sheet": raw["source_sheet"].to_numpy()[idx],
        "row": raw["source_row"].to_numpy()[idx],
        "column": failures["column"].to_numpy(),
        "value": values,
        "check": failures["check"].map(check_name).to_numpy(),
        "message": failures["message"].to_numpy(),
    })
    out = out.iloc[np.lexsort((out["column"].to_numpy(), idx))]
    return _typed_errors(out)


def _cell_values(raw: pd.DataFrame, cells: pd.DataFrame) -> np.ndarray:
    """The raw text of each (index, column) cell, gathered one column at a time."""
    values = np.full(len(cells), None, dtype=object)
    idx = cells["index"].to_numpy(dtype=np.int64)
    cols = cells["column"].to_numpy()
    for col in pd.unique(cols):
        if col in raw.columns:
            at = cols == col
            values[at] = raw[col].take(idx[at]).to_numpy(dtype=object)
    return values


def _typed_errors(df: pd.DataFrame) -> pd.DataFrame:
    out = df[ERROR_COLUMNS].copy()
    for c in ERROR_COLUMNS:
        out[c] = out[c].astype("Int64") if c == "row" else out[c].astype("str")
    return out


def empty_errors() -> pd.DataFrame:
    return _typed_errors(pd.DataFrame({c: [] for c in ERROR_COLUMNS}))


def _orphans(table: str, accepted: pd.DataFrame, families: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of needs / programme naming a family with nobody in ``people``: quarantined."""
    orphan = ~is_in(accepted["family_id"], families)  # a missing family_id is an orphan too (it names nobody)
    if not orphan.any():
        return accepted, empty_errors()
    bad = accepted[orphan]
    errors = _typed_errors(pd.DataFrame({
        "table": table, "file": bad["source_file"], "sheet": bad["source_sheet"], "row": bad["source_row"],
        "column": "family_id", "value": bad["family_id"], "check": "family_in_people",
        "message": "no person in the people table has this family_id",
    }))
    return accepted[~orphan].reset_index(drop=True), errors


def undeclared_codes(table: str, accepted: pd.DataFrame, declared: DeclaredCodes) -> pd.Series:
    """Bool per row of a local table: its ``code`` is not among the codes the plan declares for the table."""
    return ~accepted["code"].isin(declared.for_table(table))


def _canonical_codes(table: str, accepted: pd.DataFrame, declared: DeclaredCodes) -> pd.DataFrame:
    """Codes matched case-insensitively and written as the plan spells them (``mash_contact`` -> ``MASH_CONTACT``)."""
    canonical = {c.lower(): c for c in declared.for_table(table)}
    mapped = accepted["code"].str.lower().map(canonical)
    return accepted.assign(code=mapped.where(mapped.notna(), accepted["code"]).astype("str"))


def _local_code_errors(table: str, accepted: pd.DataFrame, declared: DeclaredCodes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of a local table whose code the plan does not declare (every row, with no plan's codes): quarantined."""
    accepted = _canonical_codes(table, accepted, declared)
    bad = undeclared_codes(table, accepted, declared)
    if not bad.any():
        return accepted, empty_errors()
    rows = accepted[bad]
    text = {c: declared.undeclared_message(table, c) for c in rows["code"].unique()}
    errors = _typed_errors(pd.DataFrame({
        "table": table, "file": rows["source_file"], "sheet": rows["source_sheet"], "row": rows["source_row"],
        "column": "code", "value": rows["code"], "check": "declared_local_code", "message": rows["code"].map(text),
    }))
    return accepted[~bad].reset_index(drop=True), errors


def ingest(source: Path | str, config: CouncilConfig | None = None, *, local_codes: DeclaredCodes = NO_CODES,
           step: Step = direct) -> IngestResult:
    """Read and validate a cohort. Raises InputError for a file that cannot be used; bad rows are quarantined.

    Rows of the local tables must carry a code of ``local_codes`` (the plan's ``local_codes``); with
    none declared, every such row is quarantined (``no local plan declares local codes``).
    """
    config = config or CouncilConfig()
    specs = table_specs()
    factor_codes = frozenset(c for c in local_codes.for_table("local_events") if is_factor_code(c))
    returns = ReturnOptions.of(config.returns, config.reader_limits, factor_codes)
    raw = step("read cohort", read_cohort, source, {t: [c.name for c in cols] for t, cols in specs.items()}, config.column_aliases,
               config.reader_limits, returns)
    check_structure(raw, specs)
    covered = _covered_to(raw)  # before the raw parts are freed below
    tables: dict[str, pd.DataFrame] = {}
    error_frames: list[pd.DataFrame] = []
    counts: dict[str, TableCount] = {}
    file_rows: dict[str, int] = {}
    for p in raw.parts:
        file_rows[p.file] = file_rows.get(p.file, 0) + len(p.frame)
    for table in TABLES:
        parts = [p for p in raw.parts if p.table == table]
        if not parts:
            continue
        raw.parts = [p for p in raw.parts if p.table != table]  # the raw text is not needed once typed: free it
        accepted, errors, count = step(f"validate {table}", validate_table, table, parts, specs[table])
        tables[table], counts[table] = accepted, count
        error_frames.append(errors)
    families = pd.Index(tables["people"]["family_id"].unique())
    later_checks = [(t, lambda t, a: _orphans(t, a, families)) for t in ("needs", "programme")]
    later_checks += [(t, lambda t, a: _local_code_errors(t, a, local_codes)) for t in LOCAL_TABLES]
    for table, check in later_checks:
        if table in tables:
            tables[table], orphan_errors = check(table, tables[table])
            n = len(orphan_errors)
            if n:
                counts[table].accepted -= n
                counts[table].quarantined += n
                error_frames.append(orphan_errors)
    errors = pd.concat([e for e in error_frames if len(e)], ignore_index=True) if any(len(e) for e in error_frames) else empty_errors()
    errors = ValidationErrors.validate(errors)
    return IngestResult(
        cohort=Cohort(tables, covered), errors=errors, counts=[counts[t] for t in TABLES if t in counts],
        ignored=raw.ignored, files=raw.files, file_rows=file_rows, notes=raw.notes, returns=raw.returns,
    )


def _covered_to(raw: RawCohort) -> dict[str, dt.date]:
    """``social_care`` is known only to the returns' reference date when every one of its rows came
    from a return; a council's own social_care table beside them is complete to the day of the run."""
    end = covered_to(raw.returns)
    if end is None:
        return {}
    return_files = {p.file for r in raw.returns for p in r.parts}
    own = any(p.table == "social_care" and p.file not in return_files for p in raw.parts)
    return {} if own else {"social_care": end}
