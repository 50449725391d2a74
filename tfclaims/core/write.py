"""Writing outputs: atomically, neutralised against spreadsheet formulas, hashed.

Every file the product writes goes through this module:
- ``atomic_write`` writes to a temporary file in the same folder, fsyncs, then ``os.replace``s;
- ``neutralise`` prefixes text cells that a spreadsheet would evaluate (``= + - @ TAB CR``) with ``'``;
- ``write_csv`` / ``write_xlsx`` / ``write_json`` / ``write_parquet`` use both;
- ``cell_value`` / ``write_cell`` (one value) and ``xlsx_column`` (a whole column, vectorised) are the
  one rule for how a value becomes a workbook cell, in every workbook the product writes.
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
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter
from pandera.errors import SchemaErrors

from tfclaims.core.errors import OutputValidationError
from tfclaims.core.xlsx_rows import Cells, can_stream, stream_rows

__all__ = [
    "A4_PAPER",
    "MONEY_FORMAT",
    "money_column",
    "DATE_FORMAT",
    "EXCEL_MAX_COLUMNS",
    "EXCEL_MAX_ROWS",
    "FOOTER",
    "FORMULA_TRIGGERS",
    "LINE_HEIGHT",
    "NO",
    "PLAIN_NEGATIVE_NUMBER",
    "PORTRAIT_MAX_WIDTH",
    "SHEET_NAME_MAX",
    "TEXT_MAX_WIDTH",
    "YES",
    "CellFormats",
    "CellKind",
    "CellWriter",
    "XlsxColumn",
    "atomic_path",
    "atomic_write",
    "atomic_xlsx",
    "cell_value",
    "excel_serial",
    "excel_serials",
    "fit_sheet",
    "neutralise",
    "neutralise_frame",
    "neutralise_value",
    "neutralise_xlsx",
    "neutralise_xlsx_value",
    "print_setup",
    "row_height",
    "set_columns",
    "set_row_heights",
    "sha256_file",
    "text_lines",
    "validate_output",
    "write_cell",
    "write_columns",
    "write_csv",
    "write_header",
    "write_json",
    "write_parquet",
    "write_rows",
    "write_xlsx",
    "xlsx_column",
]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A text that is a plain negative number: it cannot be a formula, so a workbook shows it as it is.
PLAIN_NEGATIVE_NUMBER = re.compile(r"-\d+(?:\.\d+)?")


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


def _neutralised(s: pd.Series, keep_negative_numbers: bool) -> pd.Series:
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        risky = s.str.startswith(FORMULA_TRIGGERS, na=False).to_numpy(dtype=bool, copy=True)
    elif s.dtype == object:
        risky = s.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_TRIGGERS)).to_numpy(dtype=bool, copy=True)
    else:
        return s
    if keep_negative_numbers and risky.any():  # only the few risky cells are matched
        risky[risky] = ~s[risky].astype(str).str.fullmatch(PLAIN_NEGATIVE_NUMBER.pattern).to_numpy(dtype=bool)
    if not risky.any():
        return s
    out = s.astype(object).copy()
    out[risky] = "'" + s[risky].astype(str)
    return out


def neutralise(s: pd.Series) -> pd.Series:
    """Prefix text cells a spreadsheet would evaluate with an apostrophe; numbers and dates are left alone.
    The CSV rule (``-5`` as text becomes ``'-5``); workbooks use ``neutralise_xlsx``."""
    return _neutralised(s, keep_negative_numbers=False)


def neutralise_xlsx(s: pd.Series) -> pd.Series:
    """``neutralise`` for workbook cells: a text that is a plain negative number (``-5``, ``-0.25``)
    is left as it is; it cannot be a formula, and ``'-5`` is not what the input said."""
    return _neutralised(s, keep_negative_numbers=True)


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    return df.apply(neutralise) if len(df.columns) else df


def neutralise_value(v: Any) -> Any:
    if isinstance(v, str) and v.startswith(FORMULA_TRIGGERS):
        return "'" + v
    return v


def neutralise_xlsx_value(v: Any) -> Any:
    """``neutralise_xlsx`` of one value."""
    if isinstance(v, str) and v.startswith(FORMULA_TRIGGERS) and PLAIN_NEGATIVE_NUMBER.fullmatch(v) is None:
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
_CSV_CHUNK_ROWS = 65_536  # rows of text built at once: small enough that a CSV written beside the run adds little to its peak
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
    if pd.api.types.is_datetime64_any_dtype(dtype):  # the day as YYYY-MM-DD, by Arrow's cast (no Python strings)
        days = s.to_numpy().astype("datetime64[D]")
        arr = pa.array(days, type=pa.date32(), mask=np.isnat(days)).cast(_TEXT)
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
#
# One rule decides how a value becomes a workbook cell, in every workbook the product writes:
# ``cell_value`` for one value (``write_cell`` writes it), ``xlsx_column`` for a whole column at once
# (vectorised, for tables of any size). Text is neutralised (a plain negative number such as ``-5``
# keeps its sign and no apostrophe: it cannot be a formula), numbers are numbers, dates are dates
# (``yyyy-mm-dd``), booleans are ``Yes``/``No``, missing values and empty text are blank cells.
# CSV files keep ``true``/``false`` and their own neutralising (``neutralise``): machines read them.

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
SHEET_NAME_MAX = 31
YES, NO = "Yes", "No"
DATE_FORMAT = "yyyy-mm-dd"
TEXT_MAX_WIDTH = 60  # a text column whose values are longer wraps at this width
LINE_HEIGHT = 15.0  # points per line of 11-point text
MAX_ROW_HEIGHT = 409.0  # Excel's tallest row, in points
# Characters of wrapped text per unit of column width (a unit is one digit of the default font). Text
# averages about 1.25 characters a unit, in Excel's Calibri and in the wider font LibreOffice puts in
# its place; one leaves room for word wrapping, so a row is never given fewer lines than its text
# needs (it may have a little room to spare).
CHARS_PER_WIDTH = 1.0
PORTRAIT_MAX_WIDTH = 100  # column widths summing to more than this print landscape
A4_PAPER = 9  # xlsxwriter's paper code
FOOTER = "&L&F, sheet &A&RPage &P of &N"  # file name and sheet name; page numbers
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

CellKind = Literal["text", "number", "date"]
MONEY_FORMAT = "£#,##0.00"  # money in a workbook: pounds, to the penny


def money_column(c: XlsxColumn) -> XlsxColumn:
    """A column of whole pence as pounds in the money format (``12480000`` shows ``£124,800.00``): the
    only place pence become a double, exact to the penny for any amount below 2^53 pence."""
    if c.kind != "number":
        raise ValueError(f"column {c.header!r}: money is written from whole pence, not from {c.kind} cells")
    pounds = [None if v is None else int(v) / 100 for v in c.values]
    longest = max((len(f"£{p:,.2f}") for p in pounds if p is not None), default=0)
    return replace(c, values=pounds, kind="money", width=_fit_width(c.header, longest, 0, TEXT_MAX_WIDTH))
CellWriter = Callable[[int, int, Any, Any], Any]


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


def excel_serial(v: dt.date | dt.datetime) -> float:
    """The Excel serial day number of one date or timestamp, as ``excel_serials`` gives it in a column
    (xlsxwriter's own ``write_datetime`` takes 1900-01-01 for a time of day)."""
    if not isinstance(v, dt.datetime):
        v = dt.datetime(v.year, v.month, v.day)
    serial = (v - dt.datetime(1899, 12, 31)) / dt.timedelta(days=1)
    return serial + 1 if serial > _EXCEL_LEAP_BUG_SERIAL else serial


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)):
        return bool(np.isnan(v))
    if isinstance(v, np.datetime64):
        return bool(np.isnat(v))
    return False


def cell_value(v: Any) -> tuple[CellKind, Any] | None:
    """How one value becomes a workbook cell: ``(kind, value to write)``, or None for a blank cell.

    Text neutralised (``neutralise_xlsx_value``), numbers as numbers (an infinity as the text ``inf``),
    dates and timestamps as dates, booleans as ``Yes``/``No``, missing values and empty text blank;
    anything else as its text. ``xlsx_column`` applies the same rule to a whole column at once."""
    if _is_missing(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return ("text", YES if v else NO)
    if isinstance(v, (int, float, np.integer, np.floating, Decimal)):
        f = float(v)
        if math.isinf(f):
            return ("text", neutralise_xlsx_value("inf" if f > 0 else "-inf"))
        if isinstance(v, Decimal):
            return ("number", f)
        return ("number", v.item() if isinstance(v, np.generic) else v)
    if isinstance(v, np.datetime64):
        v = pd.Timestamp(v)
    if isinstance(v, (dt.datetime, dt.date)):
        if isinstance(v, dt.datetime) and v.tzinfo is not None:
            raise ValueError("Excel does not support datetimes with timezones")
        return ("date", v.to_pydatetime() if isinstance(v, pd.Timestamp) else v)
    text = neutralise_xlsx_value(v if isinstance(v, str) else str(v))
    return ("text", text) if text != "" else None  # an empty text is a blank cell


@dataclass(frozen=True)
class CellFormats:
    """The formats cells are written in: ``text`` (``@``), ``date`` (``yyyy-mm-dd``), ``wrap`` (text
    that wraps; None: ``text``) and ``number`` (None: General). xlsxwriter formats belong to the
    workbook that made them: ``CellFormats.of(book)`` makes the standard ones."""

    text: Any
    date: Any
    wrap: Any = None
    number: Any = None
    money: Any = None  # pounds in the MONEY_FORMAT (the values are written as pence / 100)

    @classmethod
    def of(cls, book: xlsxwriter.Workbook, *, top: bool = False) -> CellFormats:
        """The standard formats of ``book``: text indented one character from the cell's left edge (it
        never runs into a right-aligned number or date in the cell before it); with ``top`` every cell
        sits at the top of its row (for a sheet with rows of wrapped text)."""
        valign = {"valign": "top"} if top else {}
        text = {"num_format": "@", "align": "left", "indent": 1, **valign}
        return cls(
            text=book.add_format(text),
            date=book.add_format({"num_format": DATE_FORMAT, **valign}),
            wrap=book.add_format({**text, "text_wrap": True}),
            number=book.add_format(valign) if top else None,
            money=book.add_format({"num_format": MONEY_FORMAT, **valign}),
        )

    def of_kind(self, kind: str, *, wrap: bool = False) -> Any:
        if kind == "date":
            return self.date
        if kind == "money":
            return self.money
        if kind == "number":
            return self.number
        return self.wrap if wrap and self.wrap is not None else self.text


def write_cell(ws: Any, row: int, col: int, value: Any, formats: CellFormats | Any = None) -> CellKind | None:
    """Write one value into an xlsxwriter worksheet by the workbooks' rule (``cell_value``); return the
    kind of cell written, None for a blank (nothing written).

    ``formats`` is a ``CellFormats`` (each kind of cell takes its own format) or one xlsxwriter
    format for the cell whatever its kind (e.g. a money format for an amount; a date then needs a
    date format: without one it would show as a serial number, so that is refused).
    """
    cell = cell_value(value)
    if cell is None:
        return None
    kind, v = cell
    fmt = formats.of_kind(kind) if isinstance(formats, CellFormats) else formats
    if kind == "text":
        ws.write_string(row, col, v, fmt)
    elif kind == "number":
        ws.write_number(row, col, v, fmt)
    else:
        if fmt is None:
            raise ValueError(f"cell ({row}, {col}): a date needs a date format")
        ws.write_number(row, col, excel_serial(v), fmt)  # a serial number in a date format is a date cell
    return kind


def text_lines(texts: pd.Series | Sequence[str | None], width: float) -> np.ndarray:
    """How many lines each text takes wrapped in a column ``width`` wide (at least 1, at most what
    Excel's tallest row holds); a line break starts a new line. Vectorised; generous by design
    (``CHARS_PER_WIDTH``): a row may have room to spare, never too little."""
    s = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    s = s.astype("str").fillna("").reset_index(drop=True)
    per_line = max(1, math.floor((width - 1) * CHARS_PER_WIDTH))  # less the cell's indent
    if s.str.contains("\n", regex=False).any():
        parts = s.str.split("\n").explode()
        lines = (-(-parts.str.len() // per_line)).clip(lower=1).groupby(level=0).sum()
    else:
        lines = (-(-s.str.len() // per_line)).clip(lower=1)
    return np.minimum(lines.to_numpy(dtype="int64"), int(MAX_ROW_HEIGHT // LINE_HEIGHT))


def row_height(lines: int) -> float:
    """The height in points of a row of ``lines`` lines of text."""
    return min(MAX_ROW_HEIGHT, LINE_HEIGHT * max(1, lines))


@dataclass(frozen=True)
class XlsxColumn:
    """One column ready to write: its cells and how to write them.

    ``values`` per ``kind``: "text" str, "number" Python numbers, "date" Excel serial numbers, "mixed"
    ``(kind, value)`` pairs from ``cell_value``; None is a blank cell. ``wrap``: long text, written
    in the wrap format, its rows as tall as ``lines`` says."""

    header: str
    values: list[Any]
    kind: str  # "text", "number", "money" (pounds), "date" or "mixed"
    width: float
    wrap: bool = False
    lines: np.ndarray | None = None  # per cell, the lines a wrapped cell takes; None: one line each


def _fit_width(header: str, longest: int, min_width: float, max_width: float, pad: int = 2) -> float:
    """The column width rule: the longest value plus ``pad`` (2; 3 for text, which is indented one
    character) or the header plus 3 (indented, bold), whichever is wider, within the bounds."""
    return float(max(min_width, min(max_width, max(len(header) + 3, longest + pad))))


def _text_column(header: str, text: pd.Series, values: list[Any], kind: str, min_width: float, max_width: float) -> XlsxColumn:
    """A column of text cells (``text`` as written, None/NaN blank): as wide as its longest value, or
    wrapped at ``max_width`` when a value is longer or holds a line break."""
    text = text.astype("str")
    lengths = text.str.len().fillna(0)
    longest = int(lengths.max()) if len(lengths) else 0
    multiline = bool(text.str.contains("\n", regex=False, na=False).any())
    width = _fit_width(header, longest, min_width, max_width, pad=3)
    if longest + 3 <= max_width and not multiline:
        return XlsxColumn(header, values, kind, width)
    return XlsxColumn(header, values, kind, width, wrap=True, lines=text_lines(text, width))


def xlsx_column(s: pd.Series, header: str | None = None, *, min_width: float = 0, max_width: float = TEXT_MAX_WIDTH) -> XlsxColumn:
    """Convert one column once, vectorised, by the rule of ``cell_value``: text neutralised
    (``neutralise_xlsx``), booleans as Yes/No, dates as Excel serial numbers, numbers as Python
    numbers, missing as None. Columns of objects or categories are typed cell by cell (rare, small).

    The width fits the longest value (and the header), within ``min_width``..``max_width``; a text
    longer than ``max_width`` wraps."""
    header = str(s.name if header is None else header)
    dtype = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return XlsxColumn(header, excel_serials(s), "date", _fit_width(header, 10, max(min_width, 12), max(max_width, 12)))
    if pd.api.types.is_bool_dtype(dtype):
        flags = s.to_numpy(dtype=object, na_value=None)
        values = np.where(flags == True, YES, NO).astype(object)  # noqa: E712 - elementwise, NA is not True
        values[pd.isna(flags)] = None  # boolean NA: blank
        return XlsxColumn(header, values.tolist(), "text", _fit_width(header, len(YES) if len(s) else 0, min_width, max_width, pad=3))
    if pd.api.types.is_numeric_dtype(dtype):
        values = s.to_numpy(dtype=object, na_value=None)
        numeric = s.to_numpy(dtype="float64", na_value=np.nan)
        shown = s.dropna().astype("str").str.len()
        width = _fit_width(header, int(shown.max()) if len(shown) else 0, min_width, max_width)
        if np.isinf(numeric).any():  # an infinity is written as text (inf, neutralised -inf)
            return XlsxColumn(header, [None if v is None else cell_value(v) for v in values.tolist()], "mixed", width)
        return XlsxColumn(header, values.tolist(), "number", width)
    if pd.api.types.is_string_dtype(dtype) and dtype != object:
        text = neutralise_xlsx(s)
        values = text.to_numpy(dtype=object, na_value=None, copy=True)
        values[values == ""] = None  # an empty text is a blank cell
        return _text_column(header, text, values.tolist(), "text", min_width, max_width)
    cells = [cell_value(v) for v in s.tolist()]  # object, category and anything else: cell by cell
    shown_text = pd.Series([None if c is None else str(c[1]) if c[0] != "date" else "0000-00-00" for c in cells], dtype=object)
    return _text_column(header, shown_text, cells, "mixed", min_width, max_width)


def write_rows(first_row: int, n_rows: int, plan: Sequence[tuple[int, Sequence[Any], CellWriter, Any]]) -> None:
    """Write a sheet's cells row by row, in row order (as xlsxwriter's constant_memory mode needs), from
    ``first_row``: ``plan`` = [(column, values, writer, format)]; a None value is left blank (unwritten)."""
    for i in range(n_rows):
        row = first_row + i
        for j, values, write, fmt in plan:
            v = values[i]
            if v is not None:
                write(row, j, v, fmt)


def set_columns(ws: Any, columns: Sequence[XlsxColumn], formats: CellFormats, *, first_col: int = 0) -> None:
    """Each column's width and default format (its kind's; wrapped text in the wrap format)."""
    for j, c in enumerate(columns, start=first_col):
        fmt = formats.of_kind(c.kind if c.kind != "mixed" else "text", wrap=c.wrap)
        ws.set_column(j, j, c.width, fmt)


def set_row_heights(ws: Any, first_row: int, columns: Sequence[XlsxColumn]) -> None:
    """Make each row of wrapped text tall enough for it (Excel and LibreOffice do not grow a row that
    was written with wrapped text). Call it before the rows' cells are written (constant_memory)."""
    wrapped = [c.lines for c in columns if c.wrap and c.lines is not None and len(c.lines)]
    if not wrapped:
        return
    lines = np.maximum.reduce(wrapped)
    for i in np.flatnonzero(lines > 1).tolist():
        ws.set_row(first_row + i, row_height(int(lines[i])))


def write_header(ws: Any, row: int, columns: Sequence[XlsxColumn], fmt: Any, *, first_col: int = 0) -> None:
    """The header row: each column's name as text, the row tall enough for a name that wraps. Call it
    before the rows below are written (constant_memory)."""
    lines = [int(text_lines([c.header], c.width)[0]) for c in columns]
    if lines and max(lines) > 1:
        ws.set_row(row, row_height(max(lines)))
    for j, c in enumerate(columns, start=first_col):
        ws.write_string(row, j, neutralise_value(c.header), fmt)


def write_columns(
    ws: Any,
    first_row: int,
    columns: Sequence[XlsxColumn],
    formats: CellFormats,
    *,
    blanks: Sequence[tuple[int, Any]] = (),
) -> None:
    """Write the columns' cells row by row, in row order, from ``first_row`` (column 0 is the first
    column); ``blanks`` = [(column, format)]: a formatted blank cell in each of those columns of every row."""

    def write_mixed(row: int, col: int, cell: tuple[str, Any], fmt: Any) -> None:
        kind, value = cell
        if kind == "date":
            ws.write_number(row, col, excel_serial(value), formats.date)
        elif kind == "number":
            ws.write_number(row, col, value, formats.number)
        else:
            ws.write_string(row, col, value, fmt)

    n = len(columns[0].values) if columns else 0
    if can_stream(ws, first_row, n):  # the same cells, written a column at a time (tfclaims.core.xlsx_rows)
        cells: list[Cells] = []
        for j, c in enumerate(columns):
            fmt = formats.of_kind(c.kind, wrap=c.wrap)
            if c.kind == "mixed":
                values = [None if v is None else ("date", excel_serial(v[1])) if v[0] == "date" else v for v in c.values]
                cells.append((j, values, "mixed", {"date": formats.date, "number": formats.number, "text": fmt}))
            else:
                cells.append((j, c.values, "text" if c.kind == "text" else "number", fmt))
        cells += [(j, (), "blank", fmt) for j, fmt in blanks if fmt is not None]  # a blank cell is written only with a format
        stream_rows(ws, first_row, n, cells)
        return
    by_kind: dict[str, CellWriter] = {"text": ws.write_string, "number": ws.write_number, "date": ws.write_number, "money": ws.write_number}
    plan = [
        (j, c.values, write_mixed if c.kind == "mixed" else by_kind[c.kind], formats.of_kind(c.kind, wrap=c.wrap))
        for j, c in enumerate(columns)
    ]  # a date is a serial number in a date format
    every_row = [""] * n  # write_blank ignores the value; any value but None writes the cell
    write_rows(first_row, n, [*plan, *((j, every_row, ws.write_blank, fmt) for j, fmt in blanks)])


def print_setup(
    ws: Any,
    *,
    width: float,
    header_rows: tuple[int, int] | int | None = None,
    footer: str = FOOTER,
    gridlines: bool = True,
    pages_wide: int = 1,
    key_columns: int = 0,
) -> None:
    """How a sheet prints: A4, landscape when its columns are wider than ``PORTRAIT_MAX_WIDTH``,
    ``pages_wide`` pages wide (as many pages long as it takes), ``header_rows`` (a row, or first and
    last) repeated at the top of every page, the first ``key_columns`` columns repeated at the left of
    every page (so a sheet two pages wide names its rows on both), ``footer`` (file and sheet name,
    page N of M), gridlines printed."""
    ws.set_paper(A4_PAPER)
    if width > PORTRAIT_MAX_WIDTH:
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.fit_to_pages(pages_wide, 0)
    if key_columns:
        ws.repeat_columns(0, key_columns - 1)
    ws.set_margins(left=0.5, right=0.5, top=0.6, bottom=0.75)
    if header_rows is not None:
        first, last = (header_rows, header_rows) if isinstance(header_rows, int) else header_rows
        ws.repeat_rows(first, last)
    ws.set_footer(footer)
    if gridlines:
        ws.hide_gridlines(0)  # shown on screen and printed: rows are easy to follow across a page


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


@dataclass(frozen=True)
class _SheetFormats:
    """The formats of a ``write_xlsx`` workbook."""

    header: Any
    note: Any
    cells: CellFormats  # numbers in no format (General): the fastest cells to write
    tall_cells: CellFormats  # for a sheet with rows of wrapped text: numbers at the top of their cell too

    @classmethod
    def of(cls, book: xlsxwriter.Workbook) -> _SheetFormats:
        tall = CellFormats.of(book, top=True)  # top: a cell beside a wrapped one starts on its first line
        return cls(
            header=book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top", "align": "left", "indent": 1}),
            note=book.add_format({"italic": True, "text_wrap": True, "valign": "top"}),
            cells=replace(tall, number=None),
            tall_cells=tall,
        )


def _write_notes(ws: Any, notes: Sequence[str], columns: Sequence[XlsxColumn], fmt: Any) -> None:
    """The lines of text above a table, each in the first row(s): a note longer than column A spans
    the table's columns (merged) and wraps there, its row as tall as it needs, so a long note neither
    widens column A nor runs off the printed page."""
    widths = [c.width for c in columns] or [TEXT_MAX_WIDTH]
    for i, note in enumerate(notes):
        if len(note) + 2 <= widths[0]:
            ws.write_string(i, 0, note, fmt)  # a note is our own text, written as it is
            continue
        span = sum(widths)
        lines = int(text_lines([note], span)[0])
        if lines > 1:
            ws.set_row(i, row_height(lines))
        if len(columns) > 1:
            ws.merge_range(i, 0, i, len(columns) - 1, "", fmt)
        ws.write_string(i, 0, note, fmt)


def _write_sheet(
    book: xlsxwriter.Workbook,
    name: str,
    df: pd.DataFrame,
    sheet_notes: Sequence[str],
    formats: _SheetFormats,
    complete_copy: str | None = None,
    money_columns: Collection[str] = (),
) -> None:
    df, sheet_notes = fit_sheet(name, df, sheet_notes, complete_copy)
    n_rows, n_cols = df.shape
    start = len(sheet_notes) + (1 if sheet_notes else 0)  # notes, a blank line, then the header
    columns = [xlsx_column(df.iloc[:, j], str(col)) for j, col in enumerate(df.columns)]
    columns = [money_column(c) if c.header in money_columns else c for c in columns]
    cells = formats.tall_cells if any(c.wrap for c in columns) else formats.cells
    ws = book.add_worksheet(name)

    # Everything that is not a cell first: constant_memory streams rows in order.
    set_columns(ws, columns, cells)
    ws.freeze_panes(start + 1, 0)
    if n_cols:
        ws.autofilter(start, 0, start + n_rows, n_cols - 1)
    print_setup(ws, width=sum(c.width for c in columns), header_rows=start)
    set_row_heights(ws, start + 1, columns)

    _write_notes(ws, sheet_notes, columns, formats.note)
    write_header(ws, start, columns, formats.header)
    write_columns(ws, start + 1, columns, cells)


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
    money_columns: Collection[str] = (),
) -> Path:
    """A formatted workbook for a person: frozen header, filters, widths, dates as dates, IDs as text.

    ``notes`` puts lines of text above a sheet's table (e.g. "candidates for a practitioner to confirm").
    Cells follow the rule of every workbook (``xlsx_column``): text neutralised, never a formula, URL
    or number; numbers; dates (``yyyy-mm-dd``); booleans as ``Yes``/``No``; missing values blank.
    Columns fit their values; long text wraps at ``TEXT_MAX_WIDTH`` in rows tall enough for it. Each
    sheet prints on A4 (``print_setup``): one page wide, landscape when wide, the header row on every
    page, file and sheet name and page numbers in the footer. Written with xlsxwriter in
    constant_memory mode, row by row, atomically.

    ``money_columns`` name columns of whole pence, written as pounds in ``MONEY_FORMAT`` (numbers a
    spreadsheet can add up).

    A sheet longer than Excel's row limit keeps its first rows and a note saying how many are left
    out and that ``complete_copy`` has them all (by default the CSV file beside ``path`` with the
    same name, when there is one).
    """
    path = Path(path)
    notes = notes or {}
    if complete_copy is None and path.with_suffix(".csv").exists():
        complete_copy = path.with_suffix(".csv").name
    with atomic_xlsx(path, _XLSX_OPTIONS) as book:  # constant_memory: each sheet's rows in a temporary file
        formats = _SheetFormats.of(book)
        for name, df in sheets.items():
            _write_sheet(book, name[:SHEET_NAME_MAX], df, notes.get(name, []), formats, complete_copy, money_columns)
    return path
