"""Writing outputs: atomically, neutralised against spreadsheet formulas, hashed.

Every file the product writes goes through this module:
- ``atomic_write`` writes to a temporary file in the same folder, fsyncs, then ``os.replace``s;
- ``neutralise`` prefixes text cells that a spreadsheet would evaluate (``= + - @ TAB CR``) with ``'``;
- ``write_csv`` / ``write_xlsx`` / ``write_json`` / ``write_parquet`` use both.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter
from pandera.errors import SchemaErrors

from tfclaims.core.errors import OutputValidationError

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what an ordinary open() would give; mkstemp gives 0600


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success fsync and rename it over ``path``.

    A crash leaves either the old file or the new one, never half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        newline = None if "b" in mode else ""
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path beside ``path`` for writers that need a file name (xlsx, parquet)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def neutralise(s: pd.Series) -> pd.Series:
    """Prefix text cells a spreadsheet would evaluate with an apostrophe; numbers and dates are left alone."""
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        risky = s.str.startswith(FORMULA_TRIGGERS, na=False)
    elif s.dtype == object:
        risky = s.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_TRIGGERS)).astype(bool)
    else:
        return s
    if not risky.any():
        return s
    out = s.astype(object).copy()
    out[risky] = "'" + s[risky].astype(str)
    return out


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    return df.apply(neutralise) if len(df.columns) else df


def neutralise_value(v: Any) -> Any:
    if isinstance(v, str) and v.startswith(FORMULA_TRIGGERS):
        return "'" + v
    return v


def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """ISO dates, ``true``/``false`` booleans, integers without ``.0``."""
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[col] = s.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_bool_dtype(s.dtype):
            out[col] = s.map({True: "true", False: "false"})
        else:
            out[col] = s
    return neutralise_frame(pd.DataFrame(out, index=df.index))


# The fast CSV path builds the same bytes as ``_csv_ready(df).to_csv(index=False, lineterminator="\n")``
# with Arrow kernels: each column becomes UTF-8 text, fields are quoted the way Python's csv module
# quotes them (QUOTE_MINIMAL: a field holding a comma, a double quote or a newline is enclosed in
# quotes, its quotes doubled), then fields and rows are joined. One deliberate difference: a field
# holding a carriage return is quoted too (pandas' writer leaves it bare, and readers then split the
# row there). Floats are formatted as pandas formats them (numpy's shortest round-trip text, ``inf``).
# Columns of any other dtype (objects, categories, time zones) take the pandas path.
_CSV_CHUNK_ROWS = 250_000
_CSV_NEEDS_QUOTES = r'[,"\n\r]'
_TEXT = pa.large_string()


def _text_scalar(value: str) -> pa.Scalar:
    return pa.scalar(value, _TEXT)


def _csv_fast_path_ok(df: pd.DataFrame) -> bool:
    if len(df) == 0 or len(df.columns) == 0 or df.columns.has_duplicates:
        return False
    for dtype in df.dtypes:
        if isinstance(dtype, pd.DatetimeTZDtype):
            return False
        if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            continue
        if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
            continue
        if pd.api.types.is_string_dtype(dtype) and dtype != object:
            continue
        return False
    return True


def _csv_text(s: pd.Series) -> pa.Array:
    """One column as CSV text (large_string, no nulls: missing is the empty string)."""
    dtype = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        days = s.to_numpy().astype("datetime64[D]")
        text = np.datetime_as_string(days, unit="D").astype(object)
        text[np.isnat(days)] = None
        arr = pa.array(text, type=_TEXT)
    elif pd.api.types.is_bool_dtype(dtype):
        flags = pa.array(s, type=pa.bool_(), from_pandas=True)
        arr = pc.if_else(flags, _text_scalar("true"), _text_scalar("false"))
    elif pd.api.types.is_integer_dtype(dtype):
        arr = pc.cast(pa.array(s, from_pandas=True), _TEXT)
    elif pd.api.types.is_float_dtype(dtype):
        numbers = s.to_numpy(dtype=getattr(dtype, "numpy_dtype", dtype), na_value=np.nan)
        text = numbers.astype(str).astype(object)  # what pandas' CSV writer does with floats
        text[np.isnan(numbers)] = None
        arr = pa.array(text, type=_TEXT)
    else:
        arr = pa.array(neutralise(s), type=_TEXT, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):  # pyarrow-backed pandas columns come as chunks
        arr = arr.combine_chunks()
    arr = pc.fill_null(arr, _text_scalar(""))
    needs = pc.match_substring_regex(arr, _CSV_NEEDS_QUOTES)
    if pc.any(needs).as_py():
        quote, nothing = _text_scalar('"'), _text_scalar("")
        quoted = pc.binary_join_element_wise(quote, pc.replace_substring(arr, '"', '""'), quote, nothing)
        arr = pc.if_else(needs, quoted, arr)
    return arr


def _write_csv_fast(df: pd.DataFrame, fh: Any) -> None:
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([str(c) for c in df.columns])
    fh.write(header.getvalue().encode("utf-8"))
    for begin in range(0, len(df), _CSV_CHUNK_ROWS):
        part = df.iloc[begin : begin + _CSV_CHUNK_ROWS]
        fields = [_csv_text(part.iloc[:, j]) for j in range(len(part.columns))]
        if len(fields) == 1:  # csv writes a lone empty field as "" so the row is not a blank line
            line = pc.if_else(pc.equal(fields[0], ""), _text_scalar('""'), fields[0])
        else:
            line = pc.binary_join_element_wise(*fields, _text_scalar(","))
        rows = pc.binary_join_element_wise(line, _text_scalar(""), _text_scalar("\n"))  # row + newline
        offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset : rows.offset + len(rows) + 1]
        data = rows.buffers()[2]
        if data is not None:
            fh.write(memoryview(data)[int(offsets[0]) : int(offsets[-1])])


def validate_output(model: Any, df: pd.DataFrame, table: str) -> pd.DataFrame:
    """``df`` checked against its pandera ``model`` before it is written; a failure is a bug, raised as an
    ``OutputValidationError`` naming ``table`` and the first five failed checks."""
    try:
        return model.validate(df, lazy=True)
    except SchemaErrors as exc:
        fc = exc.failure_cases.head(5)
        detail = "; ".join(f"{r.column}: {r.check} (value {r.failure_case!r})" for r in fc.itertuples())
        raise OutputValidationError(f"{table}: failed its schema: {detail}") from exc


def write_csv(df: pd.DataFrame, path: Path | str) -> Path:
    """UTF-8, comma separated, header row, ``\n`` line ends; ISO dates, ``true``/``false``,
    integers without ``.0``, missing as empty, text neutralised."""
    path = Path(path)
    if _csv_fast_path_ok(df):
        with atomic_write(path, "wb") as fh:
            _write_csv_fast(df, fh)
        return path
    with atomic_write(path, "w") as fh:
        _csv_ready(df).to_csv(fh, index=False, lineterminator="\n")
    return path


def write_parquet(df: pd.DataFrame, path: Path | str) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return path


def _json_default(v: Any) -> Any:
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, set):
        return sorted(v)
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def write_json(obj: Mapping[str, Any] | list[Any], path: Path | str) -> Path:
    path = Path(path)
    with atomic_write(path, "w") as fh:
        json.dump(obj, fh, indent=2, default=_json_default, ensure_ascii=False)
        fh.write("\n")
    return path


# --- xlsx -------------------------------------------------------------------------------------

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
SHEET_NAME_MAX = 31
_XLSX_OPTIONS: dict[str, Any] = {
    "constant_memory": True,  # rows are streamed to disk in order: flat memory whatever the size
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}
# xlsxwriter's 1900 date system: serial = days since 1899-12-31, plus one from 1900-03-01 on
# (Excel's phantom 1900-02-29).
_EXCEL_EPOCH = np.datetime64("1899-12-31", "D")
_EXCEL_LEAP_BUG_SERIAL = 59

CellWriter = Callable[[int, int, Any, Any], Any]


@dataclass(frozen=True)
class _XlsxColumn:
    """One column ready to write: its cells as Python values (None = blank) and how to write them."""

    header: str
    values: list[Any]
    kind: str  # "text", "number", "date" or "mixed"
    width: float
    is_number: bool  # the old column format rule: numeric columns get no text format


def excel_serials(s: pd.Series) -> list[Any]:
    """Excel serial day numbers (floats) of a datetime64 column, None where missing; vectorised."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"column {s.name!r}: Excel does not support datetimes with timezones")
    values = s.to_numpy()  # datetime64 in its own unit: no overflow for far dates
    missing = np.isnat(values)
    serial = (values - _EXCEL_EPOCH) / np.timedelta64(1, "D")
    serial = np.where(serial > _EXCEL_LEAP_BUG_SERIAL, serial + 1, serial)
    out = serial.astype(object)
    out[missing] = None
    return out.tolist()


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)):
        return bool(np.isnan(v))
    if isinstance(v, np.datetime64):
        return bool(np.isnat(v))
    return False


def _mixed_cell(v: Any) -> tuple[str, Any] | None:
    """(kind, value) of one cell of an object column; None for a blank."""
    if _is_missing(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return ("text", "true" if v else "false")
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        if math.isinf(f):
            return ("text", neutralise_value("inf" if f > 0 else "-inf"))
        return ("number", v.item() if isinstance(v, np.generic) else v)
    if isinstance(v, np.datetime64):
        v = pd.Timestamp(v)
    if isinstance(v, (dt.datetime, dt.date)):
        if isinstance(v, dt.datetime) and v.tzinfo is not None:
            raise ValueError("Excel does not support datetimes with timezones")
        return ("date", v)
    text = neutralise_value(v if isinstance(v, str) else str(v))
    return ("text", text) if text != "" else None  # an empty text is a blank cell


def _width(header: str, s: pd.Series) -> float:
    """The column width rule: the longer of the header and the first 200 values, plus 2, at most 60."""
    longest = max((len(str(v)) for v in s.head(200) if not pd.isna(v)), default=0)
    return min(60, max(len(header), longest) + 2)


def _xlsx_column(col: Any, s: pd.Series) -> _XlsxColumn:
    """Convert one column once, vectorised: text neutralised, booleans as true/false text,
    dates as Excel serial numbers, numbers as Python numbers, missing as None."""
    header = str(col)
    dtype = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _XlsxColumn(header, excel_serials(s), "date", 12, False)
    if pd.api.types.is_bool_dtype(dtype):
        text = s.map({True: "true", False: "false"}).astype(object)
        values = text.where(s.notna(), None).tolist()  # boolean NA: blank
        return _XlsxColumn(header, values, "text", _width(header, text), False)
    if pd.api.types.is_numeric_dtype(dtype):
        values = s.to_numpy(dtype=object, na_value=None)
        numeric = s.to_numpy(dtype="float64", na_value=np.nan)
        if np.isinf(numeric).any():  # pandas wrote infinities as text; keep that, neutralised
            mixed = [None if v is None else _mixed_cell(v) for v in values.tolist()]
            return _XlsxColumn(header, mixed, "mixed", _width(header, s), True)
        return _XlsxColumn(header, values.tolist(), "number", _width(header, s), True)
    if pd.api.types.is_string_dtype(dtype) and dtype != object:
        text = neutralise(s)
        values = text.to_numpy(dtype=object, na_value=None, copy=True)
        values[values == ""] = None  # an empty text is a blank cell, as pandas wrote it
        values = values.tolist()
        return _XlsxColumn(header, values, "text", _width(header, text), False)
    # object, category and anything else: typed cell by cell (rare, small frames)
    raw = neutralise(s.astype(object))
    mixed = [_mixed_cell(v) for v in raw.tolist()]
    return _XlsxColumn(header, mixed, "mixed", _width(header, raw), False)


def write_rows(first_row: int, n_rows: int, plan: Sequence[tuple[int, Sequence[Any], CellWriter, Any]]) -> None:
    """Write a sheet's cells row by row, in row order (as xlsxwriter's constant_memory mode needs), from
    ``first_row``: ``plan`` = [(column, values, writer, format)]; a None value is left blank (unwritten)."""
    for i in range(n_rows):
        row = first_row + i
        for j, values, write, fmt in plan:
            v = values[i]
            if v is not None:
                write(row, j, v, fmt)


def fit_sheet(name: str, df: pd.DataFrame, sheet_notes: Sequence[str], complete_copy: str | None) -> tuple[pd.DataFrame, list[str]]:
    """The rows of ``df`` an Excel sheet can hold below its notes and header, and the notes; a longer
    frame is cut, with a note saying how many rows are left out and which file has them all."""
    notes = list(sheet_notes)
    n_rows, n_cols = df.shape
    if n_cols > EXCEL_MAX_COLUMNS:
        raise ValueError(f"sheet {name!r}: {n_cols} columns do not fit in an Excel sheet ({EXCEL_MAX_COLUMNS} columns)")
    start = len(notes) + (1 if notes else 0)  # notes, a blank line, then the header
    if start + 1 + n_rows <= EXCEL_MAX_ROWS:
        return df, notes
    start = len(notes) + 2
    keep = EXCEL_MAX_ROWS - start - 1
    if keep < 0:
        raise ValueError(f"sheet {name!r}: {len(notes)} lines of notes do not fit in an Excel sheet ({EXCEL_MAX_ROWS} rows)")
    where = f" {complete_copy} has every row." if complete_copy else ""
    notes.append(
        f"Only the first {keep:,} of {n_rows:,} rows are shown: an Excel sheet holds at most {EXCEL_MAX_ROWS:,} rows, "
        f"so {n_rows - keep:,} rows are left out here.{where}"
    )
    return df.iloc[:keep], notes


def _write_sheet(
    book: xlsxwriter.Workbook,
    name: str,
    df: pd.DataFrame,
    sheet_notes: Sequence[str],
    formats: Mapping[str, Any],
    complete_copy: str | None = None,
) -> None:
    df, sheet_notes = fit_sheet(name, df, sheet_notes, complete_copy)
    n_rows, n_cols = df.shape
    start = len(sheet_notes) + (1 if sheet_notes else 0)  # notes, a blank line, then the header
    columns = [_xlsx_column(col, df.iloc[:, j]) for j, col in enumerate(df.columns)]
    ws = book.add_worksheet(name)

    # Everything that is not a cell first: constant_memory streams rows in order.
    text_fmt, date_fmt = formats["text"], formats["date"]
    for j, c in enumerate(columns):
        if c.kind == "date":
            ws.set_column(j, j, c.width, date_fmt)
        else:
            ws.set_column(j, j, c.width, None if c.is_number else text_fmt)
    ws.freeze_panes(start + 1, 0)
    if n_cols:
        ws.autofilter(start, 0, start + n_rows, n_cols - 1)

    for i, line in enumerate(sheet_notes):
        ws.write_string(i, 0, line, formats["note"])
    for j, c in enumerate(columns):
        ws.write_string(start, j, c.header, formats["header"])

    by_kind: dict[str, tuple[CellWriter, Any]] = {
        "text": (ws.write_string, text_fmt),
        "number": (ws.write_number, None),
        "date": (ws.write_number, date_fmt),  # a serial number in a date format is a date cell
    }

    def write_mixed(row: int, col: int, cell: tuple[str, Any], _fmt: Any) -> None:
        kind, value = cell
        if kind == "date":
            ws.write_datetime(row, col, value, date_fmt)
        else:
            write, fmt = by_kind[kind]
            write(row, col, value, fmt)

    plan = [
        (j, c.values, *(by_kind[c.kind] if c.kind != "mixed" else (write_mixed, None)))
        for j, c in enumerate(columns)
    ]
    write_rows(start + 1, n_rows, plan)


@contextlib.contextmanager
def atomic_xlsx(
    path: Path | str, options: Mapping[str, Any], workbook_class: type[xlsxwriter.Workbook] = xlsxwriter.Workbook
) -> Iterator[xlsxwriter.Workbook]:
    """An xlsxwriter workbook written atomically to ``path``, its temporary files in a folder of their
    own beside the output (not in /tmp), removed whatever happens. On an error the workbook is not
    assembled and nothing of it is left: no half-written workbook, no row files (xlsxwriter itself
    leaves the row file of a sheet with no cells)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        parts = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".parts", dir=tmp.parent)
        try:
            book = workbook_class(str(tmp), {**options, "tmpdir": parts})
            try:
                yield book
            except BaseException:
                _close_row_files(book)
                raise
            book.close()
        finally:
            shutil.rmtree(parts, ignore_errors=True)


def _close_row_files(book: xlsxwriter.Workbook) -> None:
    """Close the row files of a workbook that will not be assembled (constant_memory mode)."""
    for ws in book.worksheets():
        fh = getattr(ws, "row_data_fh", None)
        if fh is not None:
            with contextlib.suppress(Exception):
                fh.close()


def write_xlsx(
    sheets: Mapping[str, pd.DataFrame],
    path: Path | str,
    *,
    notes: Mapping[str, list[str]] | None = None,
    complete_copy: str | None = None,
) -> Path:
    """A formatted workbook for a person: frozen header, filters, widths, dates as dates, IDs as text.

    ``notes`` puts lines of text above a sheet's table (e.g. "candidates for a practitioner to confirm").
    Cells are typed by column: text (neutralised, never a formula, URL or number), numbers, dates
    (``yyyy-mm-dd``), booleans as ``true``/``false`` text, missing values blank. Written with
    xlsxwriter in constant_memory mode, row by row, atomically.

    A sheet longer than Excel's row limit keeps its first rows and a note saying how many are left
    out and that ``complete_copy`` has them all (by default the CSV file beside ``path`` with the
    same name, when there is one).
    """
    path = Path(path)
    notes = notes or {}
    if complete_copy is None and path.with_suffix(".csv").exists():
        complete_copy = path.with_suffix(".csv").name
    with atomic_xlsx(path, _XLSX_OPTIONS) as book:  # constant_memory: each sheet's rows in a temporary file
        formats = {
            "header": book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True}),
            "date": book.add_format({"num_format": "yyyy-mm-dd"}),
            "text": book.add_format({"num_format": "@"}),
            "note": book.add_format({"italic": True}),
        }
        for name, df in sheets.items():
            _write_sheet(book, name[:SHEET_NAME_MAX], df, notes.get(name, []), formats, complete_copy)
    return path
