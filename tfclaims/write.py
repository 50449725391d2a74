"""Writing outputs: atomically, neutralised against spreadsheet formulas, hashed.

Every file the product writes goes through this module:
- ``atomic_write`` writes to a temporary file in the same folder, fsyncs, then ``os.replace``s;
- ``neutralise`` prefixes text cells that a spreadsheet would evaluate (``= + - @ TAB CR``) with ``'``;
- ``write_csv`` / ``write_xlsx`` / ``write_json`` / ``write_parquet`` use both.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

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


def write_csv(df: pd.DataFrame, path: Path | str) -> Path:
    path = Path(path)
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


def write_xlsx(
    sheets: Mapping[str, pd.DataFrame],
    path: Path | str,
    *,
    notes: Mapping[str, list[str]] | None = None,
) -> Path:
    """A formatted workbook for a person: frozen header, filters, widths, dates as dates, IDs as text.

    ``notes`` puts lines of text above a sheet's table (e.g. "candidates for a practitioner to confirm").
    Strings are never written as formulas or URLs.
    """
    path = Path(path)
    notes = notes or {}
    with atomic_path(path) as tmp:
        with pd.ExcelWriter(
            tmp,
            engine="xlsxwriter",
            engine_kwargs={
                "options": {
                    "strings_to_formulas": False,
                    "strings_to_urls": False,
                    "strings_to_numbers": False,
                }
            },
        ) as xw:
            book = xw.book
            header_fmt = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
            date_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
            text_fmt = book.add_format({"num_format": "@"})
            note_fmt = book.add_format({"italic": True})
            for name, df in sheets.items():
                sheet_notes = notes.get(name, [])
                start = len(sheet_notes) + (1 if sheet_notes else 0)
                out = neutralise_frame(df.reset_index(drop=True))
                for c in out.columns:
                    if pd.api.types.is_bool_dtype(out[c].dtype):
                        out[c] = out[c].map({True: "true", False: "false"})
                out.to_excel(xw, sheet_name=name[:31], index=False, startrow=start)
                ws = xw.sheets[name[:31]]
                for i, line in enumerate(sheet_notes):
                    ws.write_string(i, 0, line, note_fmt)
                for j, col in enumerate(out.columns):
                    ws.write_string(start, j, str(col), header_fmt)
                    s = out[col]
                    if pd.api.types.is_datetime64_any_dtype(s.dtype):
                        ws.set_column(j, j, 12, date_fmt)
                        continue
                    longest = max((len(str(v)) for v in s.head(200) if not pd.isna(v)), default=0)
                    width = min(60, max(len(str(col)), longest) + 2)
                    fmt = None if pd.api.types.is_numeric_dtype(s.dtype) else text_fmt
                    ws.set_column(j, j, width, fmt)
                ws.freeze_panes(start + 1, 0)
                if len(out.columns):
                    ws.autofilter(start, 0, start + len(out), len(out.columns) - 1)
    return path
