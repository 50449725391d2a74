"""Reading a cohort exactly as contract.md says: every cell as text, with its lineage.

A cohort is a folder of ``.csv`` files, one ``.xlsx`` workbook, or a folder of both. The table is
the file stem or sheet name (case-insensitive; spaces and hyphens read as underscores). Headers
match case-insensitively after trimming, through the council's ``column_aliases``. Each row keeps
``source_file``, ``source_sheet`` and ``source_row`` (the row number a person sees: the header is
row 1). Typing is the next step's job (``tfclaims.ingest.validate``); here nothing is guessed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tfclaims.core.cohort import TABLES
from tfclaims.core.config import ReaderLimits
from tfclaims.core.errors import InputError
from tfclaims.ingest.workbook import check_workbook

if TYPE_CHECKING:  # the return readers build RawParts
    from tfclaims.ingest.returns import ReturnOptions, ReturnRows

_TABLE_NAME_RE = re.compile(r"[\s\-]+")


def table_name(stem: str) -> str:
    """``School Attendance`` / ``school-attendance`` -> ``school_attendance``."""
    return _TABLE_NAME_RE.sub("_", stem.strip()).lower()


def _header_key(h: object) -> str:
    if h is None or (isinstance(h, float) and h != h):  # a blank header cell read as missing
        return ""
    return str(h).strip().lstrip("\ufeff").lower()


@dataclass
class RawPart:
    """One table's rows from one file (or sheet), all cells as text, headers mapped to contract names."""

    table: str
    file: str
    sheet: str | None
    frame: pd.DataFrame  # contract columns (str dtype) + source_row
    extra_columns: list[str] = field(default_factory=list)

    def where(self) -> str:
        return f"{self.file}, sheet {self.sheet}" if self.sheet else self.file


@dataclass
class RawCohort:
    parts: list[RawPart]
    ignored: list[dict[str, str]]  # files / sheets not read: file, sheet, reason
    files: list[Path]  # every file read, for hashing
    notes: list[dict[str, Any]] = field(default_factory=list)  # what reading changed: file, sheet, note, merged_ranges_filled
    returns: list[ReturnRows] = field(default_factory=list)  # the children's social care returns read (their rows are in parts)

    def stage_counts(self) -> str:
        return f"{sum(len(p.frame) for p in self.parts):,} rows in {len(self.files)} file(s)"


def _map_headers(
    headers: list[object], table: str, known: Iterable[str], aliases: Mapping[str, Mapping[str, str]], where: str
) -> tuple[list[str | None], list[str]]:
    """Contract name for each header (None for columns the contract does not know), and the unknown headers."""
    known_keys = {c.lower(): c for c in known}
    table_aliases = {_header_key(k): v for k, v in aliases.get(table, {}).items()}
    mapped: list[str | None] = []
    extra: list[str] = []
    seen: dict[str, str] = {}
    for h in headers:
        key = _header_key(h)
        name = table_aliases.get(key) or known_keys.get(key)
        if name is not None and name not in known_keys.values():
            raise InputError(f"{where}: column_aliases maps '{h}' to '{name}', which is not a column of table {table}")
        if name is None:
            if key:
                extra.append(str(h).strip())
            mapped.append(None)
            continue
        if name in seen:
            raise InputError(f"{where}: columns '{seen[name]}' and '{h}' both give column '{name}'")
        seen[name] = str(h)
        mapped.append(name)
    return mapped, extra


def _blank_to_na(s: pd.Series) -> pd.Series:
    """Blank cells and cells holding only spaces are missing values.

    In Arrow without a stripped copy: a cell is blank when it is empty or all whitespace
    (``utf8_is_space`` agrees with ``str.strip() == ""`` on every code point)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    s = s.astype("str")
    arrow = pa.array(s.array)  # the str dtype's own Arrow data, not a copy
    blank = pc.fill_null(pc.or_(pc.equal(pc.binary_length(arrow), 0), pc.utf8_is_space(arrow)), True)
    if not pc.any(blank).as_py():
        return s
    return s.where(~blank.to_numpy(zero_copy_only=False))


def _title_row_check(body: pd.DataFrame, first_data_row: int, keys: set[str], where: str) -> None:
    """A header naming no contract column, with one of the next rows naming some: a title row above the header."""
    for i in range(min(len(body), _SNIFF_RECORDS)):
        if _count_known(body.iloc[i].tolist(), keys):
            raise InputError(f"{where}: the header seems to be on row {first_data_row + i}: remove the rows above it")


def _finish(
    table: str, file: str, sheet: str | None, headers: list[object], frame: pd.DataFrame,
    first_data_row: int, columns: Mapping[str, Iterable[str]], aliases: Mapping[str, Mapping[str, str]],
) -> RawPart:
    where = f"{file}, sheet {sheet}" if sheet else file
    mapped, extra = _map_headers(headers, table, columns[table], aliases, where)
    if all(m is None for m in mapped):
        _title_row_check(frame, first_data_row, _known_keys(columns[table], aliases.get(table, {})), where)
    cells = {i: _blank_to_na(frame.iloc[:, i]) for i in range(frame.shape[1])}
    out = pd.DataFrame({name: cells[i] for i, name in enumerate(mapped) if name is not None}, index=frame.index)
    out["source_row"] = pd.array(np.arange(len(frame), dtype=np.int64) + first_data_row, dtype="Int64")
    # Rows with no value in any cell are not rows (a spreadsheet's trailing or spacer lines).
    if cells:
        blank_row = np.logical_and.reduce([c.isna().to_numpy() for c in cells.values()])
        if blank_row.any():
            out = out.loc[~blank_row].reset_index(drop=True)
    return RawPart(table=table, file=file, sheet=sheet, frame=out, extra_columns=extra)


# How many records at the top of a CSV file are looked at for its header, delimiter and encoding.
_SNIFF_RECORDS = 20
_SNIFF_BYTES = 1 << 20
_OTHER_DELIMITERS = {";": "';'", "\t": "tabs", "|": "'|'"}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _known_keys(known: Iterable[str], aliases: Mapping[str, str]) -> set[str]:
    return {c.lower() for c in known} | {_header_key(k) for k in aliases}


def _count_known(record: list[str], keys: set[str]) -> int:
    return sum(_header_key(c) in keys for c in record)


def _records(text: str, delimiter: str) -> list[list[str]]:
    """The first records of ``text`` split by ``delimiter`` (a record cut by the sample's end is dropped)."""
    out: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for rec in reader:
            out.append(rec)
            if len(out) > _SNIFF_RECORDS:
                break
    except csv.Error:
        pass
    return out


def looks_utf16(head: bytes) -> bool:
    """The first bytes of a file are UTF-16 text: a UTF-16 byte-order mark, or every other byte zero (Latin text)."""
    if head.startswith(_UTF16_BOMS):
        return True
    head = head[:4096]
    odd, even = head[1::2], head[0::2]
    return len(head) >= 4 and (odd.count(0) >= 0.9 * len(odd) or even.count(0) >= 0.9 * len(even))


def _read_sample(path: Path) -> str | None:
    """The start of the file as text; InputError for UTF-16 or UTF-32 (Excel's "Unicode Text"); None when
    it is not UTF-8 (the full reader then names the byte)."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if looks_utf16(head):
        raise InputError(
            f"{path.name}: the file is UTF-16 text (Excel's 'Unicode Text'), not UTF-8: "
            "save it as 'CSV UTF-8 (Comma delimited)'"
        )
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut by the sample's end
            return head[: exc.start].decode("utf-8-sig")
        return None


def header_record(path: Path, known: Iterable[str], aliases: Mapping[str, str]) -> int:
    """The index of the header record (the first with any value), after checking what the first
    records say about the file: another delimiter than ',' or a title row above the header is an
    InputError with what to do. -1 for a file with no value in its first records."""
    sample = _read_sample(path)
    if sample is None:
        return 0
    keys = _known_keys(known, aliases)
    records = _records(sample.lstrip("\ufeff"), ",")
    h = next((i for i, r in enumerate(records) if any(c.strip() for c in r)), -1)
    if h < 0:
        return -1
    found = _count_known(records[h], keys)
    for delimiter, said in _OTHER_DELIMITERS.items():
        other = _records(sample.lstrip("\ufeff"), delimiter)
        if other and max(_count_known(r, keys) for r in other) > max(found, 1):
            raise InputError(f"{path.name}: this file uses {said} between fields; save it as CSV with commas (CSV UTF-8)")
    if found == 0:
        later = next((i for i, r in enumerate(records) if i > h and _count_known(r, keys) > 0), None)
        if later is not None:
            raise InputError(f"{path.name}: the header seems to be on row {later + 1}: remove the rows above it")
    return h


def read_csv_as_text(path: Path, header: int = 0) -> pd.DataFrame | None:
    """Every cell as text with Arrow's multi-threaded reader (blank lines kept, so row numbers hold).

    ``header`` is the index of the header record (records before it are blank). None when Arrow
    cannot read it plainly (ragged rows, a newline inside a quoted cell, not UTF-8): the pandas
    reader then reads it, or says exactly what is wrong.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, encoding="utf-8-sig", newline="") as fh:
        try:
            for _ in range(header):
                fh.readline()
            first = next(csv.reader([fh.readline()]), None)
        except (UnicodeDecodeError, csv.Error):
            return None
    if not first:
        return None
    names = [f"c{i}" for i in range(len(first))]
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, encoding="utf8"),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype(na_value=np.nan)}.get)
    frame.columns = range(len(names))
    first_cell = str(frame.iat[0, 0]) if len(frame) else ""
    if first_cell.startswith("\ufeff"):  # a UTF-8 byte-order mark stays on the first cell
        frame.iat[0, 0] = first_cell.lstrip("\ufeff")  # (setting a cell copies the column: only when needed)
    return frame


_EOF_IN_QUOTE_RE = re.compile(r"EOF inside string starting at row (\d+)")
_FIELDS_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _parser_message(name: str, exc: Exception) -> str:
    """What pandas' C parser found, in the user's row numbers (the file's first line is row 1, also when
    blank lines above the header are skipped) and words.
    The parser's own text is used only where it cannot carry a cell's value."""
    text = str(exc)
    m = _EOF_IN_QUOTE_RE.search(text)
    if m:  # pandas counts these rows from 0
        return (f"{name}: row {int(m.group(1)) + 1}: a cell opens a quote (\") that is never closed, "
                "so the rest of the file would be read into it: close the quote or remove it")
    m = _FIELDS_RE.search(text)
    if m:
        return (f"{name}: row {m.group(2)} has {m.group(3)} cells but the header has {m.group(1)}: "
                "a cell holding a comma must be in double quotes")
    if text.startswith("Error tokenizing data"):
        return f"{name}: cannot be read as CSV: {text.strip()}"
    return f"{name}: cannot be read as CSV ({type(exc).__name__})"


def read_csv(path: Path, table: str, columns: Mapping[str, Iterable[str]], aliases: Mapping[str, Mapping[str, str]]) -> RawPart:
    h = header_record(path, columns[table], aliases.get(table, {}))
    if h < 0:
        raise InputError(f"{path.name}: the file is empty (a table needs at least a header row)")
    frame = read_csv_as_text(path, h)
    if frame is not None and len(frame) > h:
        headers = frame.iloc[h].tolist()
        body = frame.iloc[h + 1 :].reset_index(drop=True)
        return _finish(table, path.name, None, headers, body, h + 2, columns, aliases)
    try:
        frame = pd.read_csv(
            path, dtype="str", keep_default_na=False, na_values=[""], encoding="utf-8-sig",
            skip_blank_lines=False, header=None, engine="c", skiprows=h,
        )
    except pd.errors.EmptyDataError:
        raise InputError(f"{path.name}: the file is empty (a table needs at least a header row)") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as 'CSV UTF-8'") from None
    except (pd.errors.ParserError, OSError, ValueError) as exc:
        raise InputError(_parser_message(path.name, exc)) from None
    headers = frame.iloc[0].tolist()
    body = frame.iloc[1:].reset_index(drop=True)
    return _finish(table, path.name, None, headers, body, h + 2, columns, aliases)


def _datetime_text(v: dt.datetime) -> str:
    """A date cell: the date when its time is exactly midnight; else the date and time as Excel shows them
    (``2020-03-01 14:30``), which the typing step quarantines as not a date, showing that value."""
    if v.time() == dt.time(0):
        return v.date().isoformat()
    if v.second == 0 and v.microsecond == 0:
        return v.strftime("%Y-%m-%d %H:%M")
    return v.strftime("%Y-%m-%d %H:%M:%S") + (f".{v.microsecond // 1000:03d}" if v.microsecond else "")


def _cell_text(v: object) -> object:
    """An Excel cell as the text a person sees: numbers without ``.0``, dates as ISO, blanks as missing."""
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e16 else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dt.datetime):
        return _datetime_text(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _sheet_column_text(values: list[object]) -> pd.Series:
    if all(type(v) is str for v in values):  # the common case: a text column, no per-cell work
        return pd.Series(values, dtype="str")
    return pd.Series([_cell_text(v) for v in values], dtype="str")


MergedRange = tuple[tuple[int, int], tuple[int, int]]  # ((first row, first column), (last row, last column)), 0-based


def fill_merged(columns: list[list[object]], ranges: Iterable[MergedRange], first_row: int) -> int:
    """Fill each merged range with its top-left value, as Excel shows it; returns how many ranges were filled.

    ``columns``: the table's body as one list per column (its first item is sheet row ``first_row``,
    0-based), changed in place. A range that starts above the body (in or over the header) is left
    alone; a range reaching beyond the table is cut to it. Vectorised: one step per column, none per cell.
    """
    bounds = np.array([(r0, c0, r1, c1) for (r0, c0), (r1, c1) in ranges], dtype=np.int64).reshape(-1, 4)
    height, width = (len(columns[0]) if columns else 0), len(columns)
    r0, c0 = bounds[:, 0] - first_row, bounds[:, 1]
    r1, c1 = np.minimum(bounds[:, 2] - first_row, height - 1), np.minimum(bounds[:, 3], width - 1)
    keep = (r0 >= 0) & (r0 < height) & (c0 < width) & ((r1 > r0) | (c1 > c0))
    r0, c0, r1, c1 = r0[keep], c0[keep], r1[keep], c1[keep]
    if not len(r0):
        return 0
    arrays: dict[int, np.ndarray] = {}

    def column(c: int) -> np.ndarray:
        if c not in arrays:
            arrays[c] = np.array(columns[c] + [None], dtype=object)[:-1]  # the None keeps a 1-D array of objects
        return arrays[c]

    top_left = np.empty(len(r0), dtype=object)
    for c in np.unique(c0):
        at = c0 == c
        top_left[at] = column(int(c))[r0[at]]
    lengths = r1 - r0 + 1
    for c in range(int(c0.min()), int(c1.max()) + 1):
        at = (c0 <= c) & (c1 >= c)
        if not at.any():
            continue
        n = lengths[at]
        starts = np.repeat(r0[at], n)
        offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        column(c)[starts + offsets] = np.repeat(top_left[at], n)
    for c, values in arrays.items():
        columns[c] = values.tolist()
    return int(len(r0))


def _open_workbook(path: Path) -> Any:
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types
        raise InputError(f"{path.name}: cannot be read as an Excel workbook: {exc}") from None
    except BaseException as exc:  # pyo3's PanicException (a bug in calamine) is not an Exception: it must not end the run
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise InputError(f"{path.name}: cannot be read as an Excel workbook (the reader failed: {exc}); open it in Excel and save it again") from None


def _sheet_rows(book: Any, file: str, sheet: str) -> tuple[list[list[object]], list[MergedRange]]:
    try:
        loaded = book.get_sheet_by_name(sheet)
        return loaded.to_python(skip_empty_area=False), list(loaded.merged_cell_ranges or [])
    except Exception as exc:
        raise InputError(f"{file}, sheet {sheet}: cannot be read: {exc}") from None
    except BaseException as exc:  # see _open_workbook
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise InputError(f"{file}, sheet {sheet}: cannot be read (the reader failed: {exc}); open it in Excel and save it again") from None


HIDDEN_SHEET = "hidden sheet (not read: unhide it in Excel to use it)"


def read_xlsx(
    path: Path, columns: Mapping[str, Iterable[str]], aliases: Mapping[str, Mapping[str, str]], limits: ReaderLimits | None = None,
    notes: list[dict[str, Any]] | None = None,
) -> tuple[list[RawPart], list[dict[str, str]]]:
    """Every visible sheet named after a contract table, as text, once the workbook is checked against ``limits``.

    Hidden sheets and sheets that are not contract tables are returned as ignored; merged ranges are
    filled with their top-left value (counted in ``notes``, one entry per sheet with merges filled).
    """
    limits = limits or ReaderLimits()
    entries = check_workbook(path, limits, lambda e: table_name(e.name) in columns and not e.hidden and e.kind == "worksheet").sheets
    book = _open_workbook(path)
    parts: list[RawPart] = []
    ignored: list[dict[str, str]] = []
    for entry in entries:
        sheet, table = entry.name, table_name(entry.name)
        if table not in columns:
            ignored.append({"file": path.name, "sheet": sheet, "reason": "not a table of the input contract"})
            continue
        if entry.hidden:
            ignored.append({"file": path.name, "sheet": sheet, "reason": HIDDEN_SHEET})
            continue
        if entry.kind != "worksheet":
            ignored.append({"file": path.name, "sheet": sheet, "reason": f"a {entry.kind}, not a worksheet of cells"})
            continue
        rows, merged = _sheet_rows(book, path.name, sheet)
        # The header is the first row with any value; rows above it are blank.
        start = next((i for i, r in enumerate(rows) if any(v not in (None, "") for v in r)), None)
        if start is None:
            raise InputError(f"{path.name}, sheet {sheet}: the sheet is empty (a table needs at least a header row)")
        headers = [_cell_text(v) or "" for v in rows[start]]
        body = rows[start + 1 :]
        width = len(headers)
        cols = [list(c) for c in zip(*[(list(r) + [None] * width)[:width] for r in body])] if body else [[] for _ in range(width)]
        del rows, body
        filled = fill_merged(cols, merged, start + 1) if merged and cols and cols[0] else 0
        if filled and notes is not None:
            notes.append({"file": path.name, "sheet": sheet, "merged_ranges_filled": filled,
                          "note": f"{filled} merged range(s) filled with their top-left value, as Excel shows them"})
        frame = pd.DataFrame({i: _sheet_column_text(c) for i, c in enumerate(cols)})
        parts.append(_finish(table, path.name, sheet, headers, frame, start + 2, columns, aliases))
    return parts, ignored


# Files in a cohort folder that are not read, and what to do with each.
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
EXCEL_LOCK_FILE = "Excel lock file (left while the workbook is open in Excel; not read)"
_UNSUPPORTED = {
    ".xls": ".xls is the old Excel format: open it in Excel and save it as .xlsx (Excel Workbook)",
    ".xlsb": ".xlsb is Excel's binary format: save it as .xlsx (Excel Workbook)",
    ".xltx": ".xltx is an Excel template: save it as .xlsx (Excel Workbook)",
    ".xltm": ".xltm is an Excel template: save it as .xlsx (Excel Workbook)",
    ".ods": ".ods is an OpenDocument spreadsheet: save it as .xlsx (Excel Workbook) or each table as CSV UTF-8",
    ".numbers": ".numbers is an Apple Numbers file: export it as .xlsx",
    ".txt": ".txt is not read: save the table as CSV UTF-8 (.csv), named after the table",
    ".tsv": ".tsv is not read: save the table as CSV UTF-8 (.csv), named after the table",
    ".zip": ".zip is a compressed folder: extract its files into the cohort folder",
    ".7z": ".7z is a compressed folder: extract its files into the cohort folder",
    ".json": ".json is not read: give the table as .csv or as a sheet of an .xlsx workbook",
    ".parquet": ".parquet is not read: give the table as .csv or as a sheet of an .xlsx workbook",
}


def unsupported_reason(name: str) -> str:
    """Why a file in a cohort folder is not read, and what to do about it."""
    if name.startswith("~$"):
        return EXCEL_LOCK_FILE
    return _UNSUPPORTED.get(Path(name).suffix.lower(), "not a .csv or .xlsx file")


def read_cohort(
    source: Path | str, columns: Mapping[str, Iterable[str]], aliases: Mapping[str, Mapping[str, str]] | None = None,
    limits: ReaderLimits | None = None, returns: ReturnOptions | None = None,
) -> RawCohort:
    """Read every table of a cohort folder or workbook. ``columns``: table -> its contract columns.

    ``limits`` bound what a workbook may hold (the council config's ``reader_limits``; defaults if None).
    A folder may also hold the council's children's social care returns, recognised by their content:
    CIN census XML files and SSDA903 CSV files (header and episodes), read with ``returns`` into
    ``social_care`` (and ``local_events``) rows beside the tables.
    """
    source = Path(source)
    aliases = {table_name(k): v for k, v in (aliases or {}).items()}
    unknown_alias_tables = sorted(set(aliases) - set(TABLES))
    if unknown_alias_tables:
        raise InputError(f"column_aliases names tables that are not in the contract: {', '.join(unknown_alias_tables)}")
    for table, mapping in aliases.items():
        bad = sorted(v for v in mapping.values() if v not in set(columns.get(table, ())))
        if bad:
            raise InputError(f"column_aliases.{table}: {', '.join(bad)} is not a column of table {table}")
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    readable = (".csv", *WORKBOOK_SUFFIXES)
    if source.is_dir():
        present = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
        files = [p for p in present if p.suffix.lower() in (*readable, ".xml") and not p.name.startswith("~$")]
        others = [p.name for p in present if p not in files]
    elif source.suffix.lower() in readable:
        files, others = [source], []
    else:
        raise InputError(f"{source}: expected a folder, a .csv or an .xlsx file")
    if not any(p.suffix.lower() in readable for p in files):
        raise InputError(f"{source}: no .csv or .xlsx files found")
    parts: list[RawPart] = []
    ignored = [{"file": name, "sheet": "", "reason": unsupported_reason(name)} for name in others]
    notes: list[dict[str, Any]] = []
    cin: list[Path] = []
    ssda903: list[Path] = []
    read: list[Path] = []
    for path in files:
        if path.suffix.lower() in WORKBOOK_SUFFIXES:
            p, ig = read_xlsx(path, columns, aliases, limits, notes)
            parts += p
            ignored += ig
            read.append(path)
            continue
        kind = _return_kind(path, columns)
        if kind == "cin":
            cin.append(path)
        elif kind in ("header", "episodes"):
            ssda903.append(path)
        elif kind is not None:
            ignored.append({"file": path.name, "sheet": "", "reason": kind})
            if path.suffix.lower() == ".xml":
                continue  # not a cohort file at all
        else:
            table = table_name(path.stem)
            if table not in columns:
                ignored.append({"file": path.name, "sheet": "", "reason": "not a table of the input contract"})
            else:
                parts.append(read_csv(path, table, columns, aliases))
        read.append(path)
    return_rows = _read_returns(cin, ssda903, returns) if cin or ssda903 else []
    for r in return_rows:
        parts += r.parts
    return RawCohort(parts=parts, ignored=ignored, files=read, notes=notes, returns=return_rows)


def _return_kind(path: Path, columns: Mapping[str, Iterable[str]]) -> str | None:
    """``cin`` for a CIN census file, ``header`` / ``episodes`` for the SSDA903 tables tfclaims reads, the
    reason it is not read for any other XML file or 903 table, None for a file named after a contract table
    or not recognised (a CSV: read as a table by its name, or reported as not one)."""
    from tfclaims.ingest.returns_903 import ssda903_table
    from tfclaims.ingest.returns_cin import is_cin_census

    if path.suffix.lower() == ".xml":
        if is_cin_census(path):
            return "cin"
        return "an XML file that is not a CIN census return (the only XML a cohort folder may hold)"
    if table_name(path.stem) in columns:
        return None  # a contract table's own file: its name says what it is
    kind = ssda903_table(path)
    if kind is None or kind in ("header", "episodes"):
        return kind
    return f"the SSDA903 {kind.replace('_', ' ')} table: not read (tfclaims reads the 903 header and episodes tables)"


def _read_returns(cin: list[Path], ssda903: list[Path], options: ReturnOptions | None) -> list[ReturnRows]:
    from tfclaims.ingest.returns import ReturnOptions
    from tfclaims.ingest.returns_903 import read_ssda903
    from tfclaims.ingest.returns_cin import read_cin_census

    options = options or ReturnOptions()
    out = []
    if cin:
        out.append(read_cin_census(cin, options))
    if ssda903:
        out.append(read_ssda903(ssda903, options))
    return out
