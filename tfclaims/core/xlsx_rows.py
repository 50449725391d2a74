"""A sheet's data rows written straight into xlsxwriter's row stream, a column at a time.

xlsxwriter's ``constant_memory`` mode writes each cell through several Python calls (argument
checks, a cell object, a dispatch on its type, an XML writer), about ten microseconds a cell: most of
the time a large workbook takes. :func:`stream_rows` builds the same ``<row>``/``<c>`` XML with one
string expression per cell, a column at a time, and writes it where xlsxwriter writes its rows. The
bytes are xlsxwriter's own (a test compares the sheet XML of both ways on every kind of cell): the
same in-line strings with its escapes for XML, control characters and whitespace, numbers in its
``%.16G``, the row tags from its own ``_write_row`` (heights), the style indices assigned in the
order it would assign them, and the sheet's dimensions updated as its ``_check_dimensions`` would.
One difference, on purpose: a text that looks like xlsxwriter's rich-string markup (``<r>…</r>``)
is written as the text it is, escaped, where xlsxwriter would paste it in as XML.

It relies on xlsxwriter's internals (``previous_row``, ``fh``, ``table``, ``row_info``, ``col_info``,
``_write_single_row``, ``_write_row``, ``_check_dimensions``); the version is pinned in
``pyproject.toml`` and the comparison test fails if a new version writes otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from xlsxwriter.utility import _utf16_len, _utf16_truncate, xl_col_to_name
from xlsxwriter.xmlwriter import re_control_chars_1, re_control_chars_2

__all__ = ["Cells", "can_stream", "stream_rows"]

# (column, values, kind, format): kind "text" (str), "number" (int or float; also dates as serials),
# "blank" (values ignored: a formatted blank cell in every row), or "mixed" ((kind, value) pairs,
# with ``format`` a dict kind -> format for each kind; dates as Excel serial numbers)
Cells = tuple[int, Sequence[Any], str, Any]

_STRMAX = 32767


def can_stream(ws: Any, first_row: int, n_rows: int) -> bool:
    """True when the rows can be streamed: a constant_memory sheet, every row still to come, and no
    row format in the way (a row's format would replace a column's default)."""
    if not getattr(ws, "constant_memory", False) or first_row <= ws.previous_row:
        return False
    rows = range(first_row, first_row + n_rows)
    return not any(r in rows and info.row_format is not None for r, info in ws.row_info.items())


def _text(s: str) -> str:
    """xlsxwriter's in-line string for one text (``_write_cell`` in constant_memory mode)."""
    if len(s) > _STRMAX // 2 and _utf16_len(s) > _STRMAX:
        s = _utf16_truncate(s, _STRMAX)
    if "_x" in s or not s.isprintable():
        s = re_control_chars_1.sub(r"_x005F\1", s)
        s = re_control_chars_2.sub(lambda m: f"_x{ord(m.group(1)):04X}_", s)
        s = s.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    if "&" in s or "<" in s or ">" in s:
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if s[:1].isspace() or s[-1:].isspace():  # xlsxwriter's ^\s or \s$ (the same characters)
        return f'<is><t xml:space="preserve">{s}</t></is>'
    return f"<is><t>{s}</t></is>"


def _numbers_finite(values: Sequence[Any]) -> None:
    if not all(math.isfinite(v) for v in values if v is not None):
        raise TypeError("NAN/INF not supported in write_number() without 'nan_inf_to_errors' Workbook() option")


def _effective(ws: Any, col: int, fmt: Any) -> Any:
    """The format a cell is shown in: its own, else its column's default (set_column), else none."""
    if fmt is None:
        info = ws.col_info.get(col)
        return None if info is None else info.column_format
    return fmt


def _s(fmt: Any) -> str:
    return "" if fmt is None else f' s="{fmt._get_xf_index()}"'


def _formats_of(ws: Any, col: int, kind: str, fmt: Any) -> dict[str, Any]:
    """Per cell kind, the effective format of this column's cells."""
    if kind == "mixed":
        return {k: _effective(ws, col, f) for k, f in fmt.items()}
    return {kind: _effective(ws, col, fmt)}


def _number_styles(ws: Any, columns: Sequence[Cells]) -> None:
    """Give each format its style index in the order xlsxwriter would: it numbers a format when it
    first writes a cell in it, row by row, left to right."""
    first: list[tuple[int, int, Any]] = []
    for col, values, kind, fmt in columns:
        formats = _formats_of(ws, col, kind, fmt)
        if kind == "blank":
            first.append((0, col, formats["blank"]))
        elif kind == "mixed":
            seen: set[str] = set()
            for i, v in enumerate(values):
                if v is not None and v[0] not in seen:
                    seen.add(v[0])
                    first.append((i, col, formats[v[0]]))
                    if len(seen) == len(formats):
                        break
        else:
            i = next((i for i, v in enumerate(values) if v is not None), None)
            if i is not None:
                first.append((i, col, formats[kind]))
    for _, _, fmt in sorted(first, key=lambda t: (t[0], t[1])):
        _s(fmt)


def _column_xml(ws: Any, row0: int, col: int, values: Sequence[Any], kind: str, fmt: Any, n: int) -> list[str]:
    letters = xl_col_to_name(col)
    styles = {k: _s(f) for k, f in _formats_of(ws, col, kind, fmt).items()}
    if kind == "blank":
        s = styles["blank"]
        return [f'<c r="{letters}{row0 + i + 1}"{s}/>' for i in range(n)]
    if kind == "text":
        s = styles["text"]
        return ["" if v is None else f'<c r="{letters}{row0 + i + 1}"{s} t="inlineStr">{_text(v)}</c>' for i, v in enumerate(values)]
    if kind == "number":
        s = styles["number"]
        _numbers_finite(values)
        return ["" if v is None else f'<c r="{letters}{row0 + i + 1}"{s}><v>{v:.16G}</v></c>' for i, v in enumerate(values)]
    _numbers_finite([v[1] for v in values if v is not None and v[0] != "text"])
    out = []
    for i, cell in enumerate(values):
        if cell is None:
            out.append("")
        elif cell[0] == "text":
            out.append(f'<c r="{letters}{row0 + i + 1}"{styles["text"]} t="inlineStr">{_text(cell[1])}</c>')
        else:
            out.append(f'<c r="{letters}{row0 + i + 1}"{styles[cell[0]]}><v>{cell[1]:.16G}</v></c>')
    return out


def stream_rows(ws: Any, first_row: int, n_rows: int, columns: Sequence[Cells]) -> None:
    """Write ``n_rows`` rows of ``columns`` from ``first_row``, as xlsxwriter's writes of each cell
    in row order would (a None value is no cell). Check :func:`can_stream` first."""
    if n_rows == 0 or not columns:
        return
    columns = sorted(columns, key=lambda c: c[0])  # xlsxwriter writes a row's cells left to right
    ws._write_single_row(first_row)  # what xlsxwriter still holds (the header row) goes out first
    _number_styles(ws, columns)
    xml = [_column_xml(ws, first_row, col, values, kind, fmt, n_rows) for col, values, kind, fmt in columns]
    fh, info = ws.fh, ws.row_info
    plain = ws.excel_version != 2010 and ws.default_row_height == ws.original_row_height  # a row without info is just <row r="N">
    first_written = last_written = None
    out: list[str] = []
    for i, cells in enumerate(zip(*xml, strict=True)):
        row = first_row + i
        line = "".join(cells)
        if line:
            if plain and row not in info:
                out.append(f'<row r="{row + 1}">{line}</row>')
            else:
                fh.write("".join(out))
                out = []
                ws._write_row(row, None, info.get(row))
                out.append(f"{line}</row>")
            first_written = row if first_written is None else first_written
            last_written = row
        elif row in info:
            fh.write("".join(out))
            out = []
            ws._write_row(row, None, info[row], empty_row=True)
        if len(out) >= 4096:
            fh.write("".join(out))
            out = []
    fh.write("".join(out))
    if first_written is not None:
        used = [col for (col, _, _, _), cells in zip(columns, xml, strict=True) if any(cells)]
        ws._check_dimensions(first_written, min(used))
        ws._check_dimensions(last_written, max(used))
    ws.previous_row = first_row + n_rows  # the next row xlsxwriter may be asked to write
    ws.table.clear()
