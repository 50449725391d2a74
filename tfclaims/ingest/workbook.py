"""What an .xlsx says about itself, checked before calamine reads a cell of it.

calamine loads the shared-strings table when a workbook is opened and lays out a sheet as a dense
grid from A1 to its last cell: a 0.2 MB file with one stray cell at XFD1048576 asks for 550 GB and
aborts the interpreter; a 2 MB shared-strings bomb takes gigabytes. So the workbook's zip is read
here first, with the standard library and in bounded chunks, against the council's
``ReaderLimits``: the inflated size of every member (its real size, not only the one it declares),
the shared-strings table, and for each sheet to be read its declared ``<dimension>`` and the cells
its XML really holds. The same pass says which sheets are hidden and whether a sheet has formulas;
a formula whose value was never saved is found by a streaming parse, only in a sheet with formulas.
"""

from __future__ import annotations

import posixpath
import re
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfclaims.core.config import ReaderLimits
from tfclaims.core.errors import InputError

_CHUNK = 1 << 22  # inflated bytes handled at a time
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LIMIT_HINT = "reader_limits.{} in the council config"
_POSITION = re.compile(rb'\sr="')


@dataclass(frozen=True)
class SheetEntry:
    """A sheet as ``xl/workbook.xml`` lists it."""

    name: str
    member: str | None  # its XML part in the zip (None if the workbook points nowhere)
    state: str  # visible | hidden | veryHidden
    kind: str  # worksheet | chartsheet | dialogsheet | macrosheet | ...

    @property
    def hidden(self) -> bool:
        return self.state in ("hidden", "veryHidden")


@dataclass(frozen=True)
class SheetScan:
    """What a sheet's XML holds, found without reading its cells."""

    last_row: int  # 1-based; 0 for a sheet with no cells
    last_column: int  # 1-based bound on the columns used
    has_formulas: bool


def column_number(letters: str) -> int:
    """``A`` -> 1, ``GR`` -> 200, ``XFD`` -> 16384."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def column_letters(n: int) -> str:
    """1 -> ``A``, 200 -> ``GR``."""
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = _LETTERS[r] + out
    return out


def _greater_than(limit: str, alphabet: str) -> str:
    """A regex for the strings over ``alphabet`` (no leading zero/blank) that count above ``limit``."""
    any_ = f"[{alphabet[0]}-{alphabet[-1]}]"
    alts = [f"{any_}{{{len(limit) + 1},}}"]
    for i, ch in enumerate(limit):
        higher = alphabet[alphabet.index(ch) + 1:]
        if higher:
            rest = f"{any_}{{{len(limit) - i - 1}}}" if len(limit) - i - 1 else ""
            alts.append(f"{re.escape(limit[:i])}[{higher[0]}-{higher[-1]}]{rest}")
    return "|".join(alts)


def _where(file: str, sheet: str | None = None) -> str:
    return f"{file}, sheet {sheet}" if sheet else file


# ----------------------------------------------------------------------------------------------
# The zip


def _member_chunks(path: Path, info: zipfile.ZipInfo, file: str) -> Iterator[bytes]:
    """A member's inflated bytes, in chunks; one that inflates past the size it declares is refused."""
    if info.flag_bits & 0x1:
        raise InputError(f"{file}: the workbook is password-protected; save a copy without a password")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise InputError(f"{file}: part {info.filename} is compressed with a method Excel does not use; save it again in Excel")
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise InputError(f"{file}: not a valid .xlsx (a damaged zip); open it in Excel and save it again")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        left = info.compress_size
        inflate = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        total = 0
        while left > 0 or (inflate is not None and inflate.unconsumed_tail):
            if inflate is not None and inflate.unconsumed_tail:
                data = inflate.unconsumed_tail
            else:
                data = fh.read(min(left, 1 << 20))
                if not data:
                    break
                left -= len(data)
            try:
                out = inflate.decompress(data, _CHUNK) if inflate is not None else data
            except zlib.error:
                raise InputError(f"{file}: not a valid .xlsx (part {info.filename} is damaged); open it in Excel and save it again") from None
            total += len(out)
            if total > info.file_size:
                raise InputError(f"{file}: part {info.filename} inflates to more than the {info.file_size:,} bytes it declares "
                                 "(a damaged or crafted zip); the file is not read")
            if out:
                yield out
            if inflate is not None and inflate.eof:
                break


def _check_members(file: str, infos: list[zipfile.ZipInfo], limits: ReaderLimits) -> None:
    total = sum(i.file_size for i in infos)
    if total > limits.max_inflated_bytes:
        big = max(infos, key=lambda i: i.file_size)
        raise InputError(
            f"{file}: the workbook inflates to {total:,} bytes (largest part {big.filename}, {big.file_size:,} bytes), beyond the "
            f"limit of {limits.max_inflated_bytes:,} ({_LIMIT_HINT.format('max_inflated_bytes')}); the file is not read"
        )


def _read_small(zf: zipfile.ZipFile, name: str, file: str) -> bytes | None:
    try:
        return zf.read(name)
    except KeyError:
        return None
    except (zipfile.BadZipFile, zlib.error, OSError) as exc:
        raise InputError(f"{file}: not a valid .xlsx ({exc}); open it in Excel and save it again") from None


def _sheet_entries(zf: zipfile.ZipFile, file: str) -> list[SheetEntry]:
    """The sheets in ``xl/workbook.xml`` with their parts (``xl/_rels/workbook.xml.rels``) and visibility."""
    book, rels = _read_small(zf, "xl/workbook.xml", file), _read_small(zf, "xl/_rels/workbook.xml.rels", file)
    if book is None or rels is None:
        raise InputError(f"{file}: not an Excel workbook (no xl/workbook.xml); save it from Excel as .xlsx")
    try:
        book_root, rels_root = ET.fromstring(book), ET.fromstring(rels)
    except ET.ParseError as exc:
        raise InputError(f"{file}: not a valid .xlsx (xl/workbook.xml: {exc}); open it in Excel and save it again") from None
    targets = {}
    for rel in rels_root:
        target = rel.get("Target", "")
        member = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        targets[rel.get("Id")] = (member, rel.get("Type", "").rsplit("/", 1)[-1])
    out = []
    for el in book_root.iter():
        if el.tag.rsplit("}", 1)[-1] != "sheet":
            continue
        rid = next((v for k, v in el.attrib.items() if k.rsplit("}", 1)[-1] == "id"), None)
        member, kind = targets.get(rid, (None, "worksheet"))
        out.append(SheetEntry(el.get("name", ""), member, el.get("state", "visible"), kind))
    return out


def _check_shared_strings(path: Path, zf: zipfile.ZipFile, file: str, limits: ReaderLimits) -> None:
    info = next((i for i in zf.infolist() if i.filename.lower() == "xl/sharedstrings.xml"), None)
    if info is None:
        return
    if info.file_size > limits.max_shared_strings_bytes:
        raise InputError(
            f"{file}: the shared-strings table (xl/sharedStrings.xml) inflates to {info.file_size:,} bytes, beyond the limit of "
            f"{limits.max_shared_strings_bytes:,} ({_LIMIT_HINT.format('max_shared_strings_bytes')}); the file is not read"
        )
    count, carry, tags = 0, b"", (b"<si>", b"<si ")
    for chunk in _member_chunks(path, info, file):
        buf = carry + chunk
        cut = buf.rfind(b">") + 1
        buf, carry = buf[:cut], buf[cut:]
        if count == 0 and tags == (b"<si>", b"<si "):
            root = re.search(rb"<(\w+:)?sst[\s>]", buf)
            if root is not None and root.group(1):
                tags = (b"<" + root.group(1) + b"si>", b"<" + root.group(1) + b"si ")
        count += buf.count(tags[0]) + buf.count(tags[1])
        if count > limits.max_shared_strings:
            raise InputError(
                f"{file}: the shared-strings table holds more than {limits.max_shared_strings:,} texts, beyond the limit "
                f"({_LIMIT_HINT.format('max_shared_strings')}); the file is not read"
            )


def _check_other_members(path: Path, zf: zipfile.ZipFile, file: str, skip: set[str]) -> None:
    """Every part calamine may read inflates to no more than it declares."""
    for info in zf.infolist():
        if info.filename in skip or info.is_dir() or not info.filename.lower().endswith((".xml", ".rels")):
            continue
        for _ in _member_chunks(path, info, file):
            pass


# ----------------------------------------------------------------------------------------------
# One sheet's XML


@dataclass(frozen=True)
class _SheetPatterns:
    """The searches of one sheet's XML. ``general``: for XML whose positions are not the first attribute."""

    general: bool
    dimension: re.Pattern[bytes]
    row: re.Pattern[bytes]  # a row's number
    odd: re.Pattern[bytes]  # a cell beyond a limit; in the fast form also a row or cell not written as Excel does
    cell_ref: re.Pattern[bytes]  # a cell's position (its column letters, its row)
    column: re.Pattern[bytes]  # a cell's column letters
    unpositioned: re.Pattern[bytes]  # a row or cell with no position (general form only)


def _patterns(prefix: bytes, limits: ReaderLimits, general: bool) -> _SheetPatterns:
    p = re.escape(prefix)
    bad_col = _greater_than(column_letters(limits.max_columns), _LETTERS).encode()
    bad_row = _greater_than(str(limits.max_rows), "0123456789").encode()
    # Excel writes r= first: <row r="12" ...>, <c r="B12" ...>; the fast form relies on it, and finds what does not
    attrs = rb"\s(?:[^>]*?\s)?" if general else rb" "
    beyond = rb"<" + p + rb"c" + attrs + rb"r=\"(?:(?:" + bad_col + rb")\d+|[A-Z]+(?:" + bad_row + rb"))\""
    not_excel = rb"|<" + p + rb"c(?:>|/>| (?!r=\"))|<" + p + rb"row(?:>|/>| (?!r=\"))"
    return _SheetPatterns(
        general=general,
        dimension=re.compile(rb"<" + p + rb"dimension\s[^>]*?ref=\"([^\"]*)\""),
        row=re.compile(rb"<" + p + rb"row" + attrs + rb"r=\"(\d+)\""),
        odd=re.compile(beyond + (b"" if general else not_excel)),
        cell_ref=re.compile(rb"<" + p + rb"c" + attrs + rb"r=\"([A-Z]+)(\d+)\""),
        column=re.compile(rb"<" + p + rb"c" + attrs + rb"r=\"([A-Z]+)"),
        unpositioned=re.compile(rb"<" + p + rb"(?:c|row)(?:>|/>|(?=\s)(?![^>]*?\sr=\")[^>]*>)"),
    )


def _beyond(file: str, sheet: str, ref: str, limits: ReaderLimits) -> InputError:
    col = column_number(re.match(r"[A-Z]+", ref).group(0))  # type: ignore[union-attr]
    if col > limits.max_columns:
        what = f"column {column_letters(col)} is beyond the limit of {limits.max_columns} columns (up to {column_letters(limits.max_columns)}; {_LIMIT_HINT.format('max_columns')})"
    else:
        what = f"its row is beyond the limit of {limits.max_rows:,} rows ({_LIMIT_HINT.format('max_rows')})"
    return InputError(f"{file}, sheet {sheet}, cell {ref}: {what}; delete what is in that cell (or the columns/rows "
                      "beyond the table) and save the workbook; nothing was read")


def _check_dimension(file: str, sheet: str, ref: str, limits: ReaderLimits) -> None:
    last = ref.split(":")[-1].replace("$", "")
    m = re.fullmatch(r"([A-Z]{1,3})(\d+)", last)
    if m is None:
        return
    col, row = column_number(m.group(1)), int(m.group(2))
    if col > limits.max_columns:
        raise InputError(
            f"{file}, sheet {sheet}: the sheet declares its used range as {ref}, {col:,} columns, beyond the limit of "
            f"{limits.max_columns} (up to column {column_letters(limits.max_columns)}; {_LIMIT_HINT.format('max_columns')}); "
            f"a stray cell out at {last}? Delete the columns beyond the table and save the workbook; nothing was read"
        )
    if row > limits.max_rows:
        raise InputError(
            f"{file}, sheet {sheet}: the sheet declares its used range as {ref}, {row:,} rows, beyond the limit of "
            f"{limits.max_rows:,} ({_LIMIT_HINT.format('max_rows')}); delete the rows beyond the table and save the workbook; "
            "nothing was read"
        )


def _sheet_buffers(path: Path, info: zipfile.ZipInfo, file: str) -> Iterator[bytes]:
    """The sheet's inflated XML in pieces that end at a tag's end (no tag is split between two)."""
    carry = b""
    for chunk in _member_chunks(path, info, file):
        buf = carry + chunk
        cut = buf.rfind(b">") + 1
        carry = buf[cut:]
        yield buf[:cut]
    if carry.strip():
        raise InputError(f"{file}: part {info.filename} is cut short; open the workbook in Excel and save it again")


def _prefix(buf: bytes, file: str, sheet: str) -> bytes:
    root = re.search(rb"<(?:(\w+):)?worksheet[\s>]", buf)
    if root is None:
        raise InputError(f"{_where(file, sheet)}: not a worksheet; open the workbook in Excel and save it again")
    return (root.group(1) + b":") if root.group(1) else b""


def _scan(path: Path, info: zipfile.ZipInfo, file: str, sheet: str, limits: ReaderLimits, general: bool) -> SheetScan | None:
    """One pass over the sheet's XML; None (fast form only) when it is not written as Excel writes it."""
    pats: _SheetPatterns | None = None
    dimension_seen = has_formulas = False
    first_cell_row = last_cell_row = previous_row = 0
    for buf in _sheet_buffers(path, info, file):
        if pats is None:
            prefix = _prefix(buf, file, sheet)
            pats = _patterns(prefix, limits, general)
            formula = re.compile(rb"<" + re.escape(prefix) + rb"f[\s>/]")
            cell_start = b"<" + prefix + (b"c" if general else b'c r="')
        if not dimension_seen:
            dim = pats.dimension.search(buf)
            if dim is not None:
                dimension_seen = True
                _check_dimension(file, sheet, dim.group(1).decode("ascii", "replace"), limits)
        odd = pats.odd.search(buf)
        if odd is not None:
            ref = pats.cell_ref.match(buf, odd.start())
            if ref is None:
                return None  # a row or cell not written as Excel writes it: the general form reads it
            raise _beyond(file, sheet, (ref.group(1) + ref.group(2)).decode(), limits)
        if general and pats.unpositioned.search(buf):
            raise InputError(f"{_where(file, sheet)}: the sheet's XML gives rows or cells without their position (written by a "
                             "program other than Excel); open the workbook in Excel and save it again; nothing was read")
        rows = np.array(pats.row.findall(buf), dtype=np.int64)
        if len(rows):
            steps = np.diff(np.concatenate(([previous_row], rows)))
            if (steps <= 0).any():
                at = int(np.flatnonzero(steps <= 0)[0])
                before = previous_row if at == 0 else int(rows[at - 1])
                raise InputError(f"{_where(file, sheet)}: row {int(rows[at])} comes after row {before} in the sheet's XML (out of "
                                 "order); open the workbook in Excel and save it again; nothing was read")
            previous_row = int(rows[-1])
        last = buf.rfind(cell_start)
        if last >= 0:
            if not first_cell_row:
                first = pats.cell_ref.search(buf)
                first_cell_row = int(first.group(2)) if first is not None else 0
            ref = pats.cell_ref.search(buf, last)
            if ref is not None:
                last_cell_row = int(ref.group(2))
        if not has_formulas and formula.search(buf) is not None:
            has_formulas = True
    if last_cell_row and last_cell_row < first_cell_row:
        raise InputError(f"{_where(file, sheet)}: the sheet's cells are out of order (the last is in row {last_cell_row}, the first "
                         f"in row {first_cell_row}); open the workbook in Excel and save it again; nothing was read")
    last_row = max(last_cell_row, previous_row)
    last_column = limits.max_columns
    if last_row * last_column > limits.max_cells and pats is not None:  # only then are the columns counted
        last_column = 0
        for buf in _sheet_buffers(path, info, file):
            letters = set(pats.column.findall(buf))
            if letters:
                last_column = max(last_column, max(column_number(x.decode()) for x in letters))
    if last_row * last_column > limits.max_cells:
        raise InputError(
            f"{_where(file, sheet)}: the sheet's used area A1:{column_letters(last_column)}{last_row} is {last_row * last_column:,} "
            f"cells, beyond the limit of {limits.max_cells:,} ({_LIMIT_HINT.format('max_cells')}); delete what is beyond the table "
            "and save the workbook, or split the table; nothing was read"
        )
    return SheetScan(last_row=last_row, last_column=last_column, has_formulas=has_formulas)


def scan_sheet(path: Path, info: zipfile.ZipInfo, file: str, sheet: str, limits: ReaderLimits) -> SheetScan:
    """The sheet's real extent (every cell position in its XML) against the limits, and whether it has formulas.

    The declared ``<dimension>`` is checked as soon as it is seen (the start of the XML); the cell
    positions by regular-expression searches over each inflated piece (in C: no Python work per
    cell). XML not written as Excel writes it (positions not first) is searched again in a general
    form; a sheet whose rows or cells carry no position, or whose rows are out of order, is refused:
    calamine would place its cells where the limits do not reach. ``last_column`` is the limit
    itself unless the sheet is tall enough for the cell limit to need the real one.
    """
    scan = _scan(path, info, file, sheet, limits, general=False)
    return scan if scan is not None else _scan(path, info, file, sheet, limits, general=True)  # type: ignore[return-value]


def unsaved_formula_cell(path: Path, info: zipfile.ZipInfo, file: str) -> str | None:
    """The first cell holding a formula with no saved value (``<c><f>..</f></c>`` with no or an empty ``<v>``), if any."""
    parser = ET.XMLPullParser(events=("end",))
    for chunk in _member_chunks(path, info, file):
        parser.feed(chunk)
        for _, el in parser.read_events():
            local = el.tag.rsplit("}", 1)[-1]
            if local == "c":
                f = v = None
                for child in el:
                    name = child.tag.rsplit("}", 1)[-1]
                    if name == "f":
                        f = child
                    elif name == "v":
                        v = child
                if f is not None and (v is None or (not v.text and el.get("t") != "str")):
                    return el.get("r", "?")
            elif local == "row":
                el.clear()
    return None


# ----------------------------------------------------------------------------------------------
# The workbook


@dataclass(frozen=True)
class WorkbookCheck:
    sheets: list[SheetEntry]
    scans: dict[str, SheetScan]  # sheet name -> its scan, for the sheets that will be read


def check_workbook(path: Path, limits: ReaderLimits, read: Callable[[SheetEntry], bool]) -> WorkbookCheck:
    """Check the workbook at ``path`` against ``limits``; ``read`` says which of its sheets will be read.

    Raises ``InputError`` (naming the file, the sheet and the limit or the cell) for a workbook
    beyond a limit, a damaged or crafted zip, or a sheet with a formula whose value was never saved.
    """
    file = path.name
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{file}: cannot be read as an Excel workbook (not a valid .xlsx: {exc}); save it from Excel as .xlsx") from None
    with zf:
        infos = zf.infolist()
        _check_members(file, infos, limits)
        sheets = _sheet_entries(zf, file)
        _check_shared_strings(path, zf, file, limits)
        by_name = {i.filename: i for i in infos}
        scans: dict[str, SheetScan] = {}
        for entry in sheets:
            if not read(entry) or entry.member not in by_name:
                continue
            info = by_name[entry.member]  # type: ignore[index]
            scan = scan_sheet(path, info, file, entry.name, limits)
            if scan.has_formulas:
                cell = unsaved_formula_cell(path, info, file)
                if cell is not None:
                    raise InputError(
                        f"{file}, sheet {entry.name}, cell {cell}: a formula with no saved value; open the workbook in Excel and "
                        "save it, so the values are stored"
                    )
            scans[entry.name] = scan
        worksheets = {e.member for e in sheets if e.member}
        _check_other_members(path, zf, file, worksheets | {"xl/sharedStrings.xml"})
    return WorkbookCheck(sheets=sheets, scans=scans)
