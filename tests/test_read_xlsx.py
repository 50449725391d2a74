"""Reading workbooks as councils make them, within limits: every fixture is built here, small and fast.

Bounded reading (the zip, the shared strings, each sheet's declared and real extent, checked before
calamine reads a cell), merged cells, formulas without saved values, date cells with a time,
hidden sheets, and the files of a cohort folder that are not read.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from cohort_builder import workbook as book
from tfclaims.cli import main
from tfclaims.core.config import CouncilConfig, ReaderLimits
from tfclaims.core.errors import InputError
from tfclaims.ingest.readers import EXCEL_LOCK_FILE, HIDDEN_SHEET, fill_merged, unsupported_reason
from tfclaims.ingest.validate import ingest

HEADER = ["person_id", "family_id", "first_name", "last_name", "date_of_birth", "sex", "relationship", "postcode"]


def person(pid: str, fid: str | None, dob: object = dt.date(1980, 1, 5), relationship: str = "parent") -> list[object]:
    return [pid, fid, "Ann", "Smith", dob, "F", relationship, "SW1A 1AA"]


def people_book(path: Path, rows: list[list[object]] | None = None, **kw: object) -> Path:
    return book(path, {"people": [HEADER, *(rows or [person("P1", "F1"), person("P2", "F1", relationship="child")])]}, **kw)  # type: ignore[arg-type]


def rewrite(path: Path, member: str, edit: Callable[[bytes], bytes]) -> Path:
    """The workbook with one part's XML edited, as a tool other than Excel might leave it."""
    with zipfile.ZipFile(path) as zi:
        parts = {i.filename: zi.read(i.filename) for i in zi.infolist()}
    parts[member] = edit(parts[member])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zo:
        for name, data in parts.items():
            zo.writestr(name, data)
    return path


def refused(source: Path, config: CouncilConfig | None = None) -> str:
    with pytest.raises(InputError) as info:
        ingest(source, config)
    return str(info.value)


def cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


SHEET1 = "xl/worksheets/sheet1.xml"


# --- limits -----------------------------------------------------------------------------------


def test_a_stray_cell_at_xfd1048576_is_refused_by_the_declared_dimension(tmp_path):
    path = people_book(tmp_path / "people.xlsx", cells={"people": {"XFD1048576": "x"}})
    msg = refused(path)
    assert msg.startswith("people.xlsx, sheet people: ") and "A1:XFD1048576" in msg
    assert "limit of 200" in msg and "reader_limits.max_columns" in msg


@pytest.mark.parametrize("dimension", [b'<dimension ref="A1:H3" />', b""], ids=["misleading", "absent"])
def test_a_stray_cell_is_refused_by_its_position_when_the_dimension_lies_or_is_absent(tmp_path, dimension):
    path = people_book(tmp_path / "people.xlsx", cells={"people": {"XFD1048576": "x"}})
    rewrite(path, SHEET1, lambda x: re.sub(rb"<dimension [^>]*>", dimension, x))
    msg = refused(path)
    assert msg.startswith("people.xlsx, sheet people, cell XFD1048576: column XFD is beyond the limit of 200 columns")


def test_a_far_cell_within_the_row_and_column_limits_is_refused_by_the_cell_limit(tmp_path):
    path = people_book(tmp_path / "people.xlsx", cells={"people": {"GR1048576": "x"}})  # 200 columns x 1M rows: 6.7 GB in calamine
    msg = refused(path)
    assert msg.startswith("people.xlsx, sheet people: the sheet's used area A1:GR1048576 is 209,715,200 cells")
    assert "reader_limits.max_cells" in msg


def test_the_council_config_sets_each_limit(tmp_path):
    path = people_book(tmp_path / "people.xlsx", [person(f"P{i}", "F1") for i in range(9)])
    assert len(ingest(path).cohort["people"]) == 9
    msg = refused(path, CouncilConfig(reader_limits=ReaderLimits(max_rows=5)))
    assert msg.startswith("people.xlsx, sheet people: the sheet declares its used range as A1:H10, 10 rows, beyond the limit of 5")
    rewrite(path, SHEET1, lambda x: re.sub(rb"<dimension [^>]*>", b"", x))
    assert refused(path, CouncilConfig(reader_limits=ReaderLimits(max_rows=5))).startswith(
        "people.xlsx, sheet people, cell A6: its row is beyond the limit of 5 rows")
    assert "reader_limits.max_cells" in refused(path, CouncilConfig(reader_limits=ReaderLimits(max_cells=79)))
    assert "reader_limits.max_columns" in refused(path, CouncilConfig(reader_limits=ReaderLimits(max_columns=7)))
    assert "reader_limits.max_inflated_bytes" in refused(path, CouncilConfig(reader_limits=ReaderLimits(max_inflated_bytes=5000)))
    assert len(ingest(path, CouncilConfig(reader_limits=ReaderLimits(max_rows=10, max_cells=80, max_columns=8))).cohort["people"]) == 9


def test_the_shared_strings_table_is_bounded_by_size_and_by_count(tmp_path):
    import xlsxwriter  # openpyxl writes inline strings; xlsxwriter (like Excel) a shared-strings table

    path = tmp_path / "people.xlsx"
    w = xlsxwriter.Workbook(str(path))
    ws = w.add_worksheet("people")
    for r, row in enumerate([HEADER, *[person(f"P{i}", "F1", dob="1980-01-05") for i in range(5)]]):
        ws.write_row(r, 0, row)
    w.close()
    texts = len(HEADER) + 5 + 7  # the header, P0-P4, and the 7 values every row shares
    with zipfile.ZipFile(path) as zf:
        assert zf.read("xl/sharedStrings.xml").count(b"<si>") == texts
    assert len(ingest(path).cohort["people"]) == 5
    assert len(ingest(path, CouncilConfig(reader_limits=ReaderLimits(max_shared_strings=texts))).cohort["people"]) == 5
    msg = refused(path, CouncilConfig(reader_limits=ReaderLimits(max_shared_strings=texts - 1)))
    assert msg.startswith(f"people.xlsx: the shared-strings table holds more than {texts - 1} texts") and "reader_limits.max_shared_strings" in msg
    msg = refused(path, CouncilConfig(reader_limits=ReaderLimits(max_shared_strings_bytes=100)))
    assert msg.startswith("people.xlsx: the shared-strings table (xl/sharedStrings.xml) inflates to ")
    assert "reader_limits.max_shared_strings_bytes" in msg


def _write_zip(path: Path, members: list[tuple[str, int, int, int, list[bytes]]]) -> Path:
    """A zip written by hand from (name, crc, size, method, compressed pieces): a bomb needs no gigabyte compressed here."""
    central = b""
    with open(path, "wb") as fh:
        for name, crc, size, method, pieces in members:
            offset, csize, raw = fh.tell(), sum(len(p) for p in pieces), name.encode()
            fh.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x5821, crc, csize, size, len(raw), 0) + raw)
            for piece in pieces:
                fh.write(piece)
            central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x5821, crc, csize, size, len(raw),
                                   0, 0, 0, 0, 0, offset) + raw
        start = fh.tell()
        fh.write(central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), start, 0))
    return path


def _shared_strings_bomb(path: Path, megabytes: int) -> Path:
    """A workbook whose shared-strings table inflates to ``megabytes`` MB of tiny texts (about 0.25% of that on disk)."""
    with zipfile.ZipFile(people_book(path)) as zf:
        parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    members = []
    for name, data in parts.items():
        co = zlib.compressobj(6, zlib.DEFLATED, -15)
        members.append((name, zlib.crc32(data), len(data), zipfile.ZIP_DEFLATED, [co.compress(data) + co.flush()]))
    head = b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    block, tail = b"<si><t>x</t></si>" * 61681, b"</sst>"  # ~1 MB a block
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = co.compress(head) + co.flush(zlib.Z_FULL_FLUSH)
    body = co.compress(block) + co.flush(zlib.Z_FULL_FLUSH)  # after a full flush the same block compresses to the same bytes
    last = co.compress(tail) + co.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(megabytes):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + megabytes * len(block) + len(tail)
    members.append(("xl/sharedStrings.xml", crc, size, zipfile.ZIP_DEFLATED, [first, *[body] * megabytes, last]))
    return _write_zip(path, members)


def test_the_bomb_fixture_is_a_valid_zip_that_inflates_to_what_it_declares(tmp_path):
    path = _shared_strings_bomb(tmp_path / "b.xlsx", 3)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        data = zf.read("xl/sharedStrings.xml")
        assert len(data) == zf.getinfo("xl/sharedStrings.xml").file_size > 3_000_000 and data.endswith(b"</sst>")


def test_a_lying_zip_header_is_refused(tmp_path):
    path = people_book(tmp_path / "people.xlsx")
    with zipfile.ZipFile(path) as zf:
        size = zf.getinfo(SHEET1).file_size
    data, name = bytearray(path.read_bytes()), SHEET1.encode()
    at = data.find(b"PK\x01\x02")
    while data[at + 46:at + 46 + len(name)] != name:
        at = data.find(b"PK\x01\x02", at + 4)
    data[at + 24:at + 28] = struct.pack("<L", size // 2)  # the central directory's uncompressed size, halved
    path.write_bytes(bytes(data))
    assert refused(path).startswith(f"people.xlsx: part {SHEET1} inflates to more than the {size // 2:,} bytes it declares")


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    path = _shared_strings_bomb(tmp_path / "people.xlsx", 1200)
    assert path.stat().st_size < 4_000_000
    msg = refused(path)
    assert msg.startswith("people.xlsx: the workbook inflates to ") and "largest part xl/sharedStrings.xml" in msg
    assert "limit of 1,000,000,000 (reader_limits.max_inflated_bytes" in msg


_CAPPED = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))
    from tfclaims.cli import main
    for path, out in zip(sys.argv[1::2], sys.argv[2::2]):
        try:
            main(["validate", "--input", path, "--out", out])
        except SystemExit as exc:
            print(f"{path}: exit {exc.code}", flush=True)
            sys.stderr.flush()
""")


def test_memory_stays_bounded_under_a_1_5_gb_cap(tmp_path):
    """The command runs in a child process limited to 1.5 GB: each file is refused (exit 2), no MemoryError, no abort."""
    bomb = _shared_strings_bomb(tmp_path / "bomb.xlsx", 400)  # 400 MB of tiny texts (1 MB on disk): today several GB in calamine
    stray = people_book(tmp_path / "stray.xlsx", cells={"people": {"XFD1048576": "x"}})  # today: calamine aborts (exit 134)
    no_dim = rewrite(people_book(tmp_path / "nodim.xlsx", cells={"people": {"XFD1048576": "x"}}), SHEET1,
                     lambda x: re.sub(rb"<dimension [^>]*>", b"", x))
    args = [a for p in (bomb, stray, no_dim) for a in (str(p), str(tmp_path / f"out-{p.stem}"))]
    proc = subprocess.run([sys.executable, "-c", _CAPPED, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [f"{p}: exit 2" for p in (bomb, stray, no_dim)], proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0].startswith("error: bomb.xlsx: the shared-strings table (xl/sharedStrings.xml) inflates to 419,430,915 bytes, beyond the limit of 300,000,000")
    assert errors[1].startswith("error: stray.xlsx, sheet people: the sheet declares its used range as A1:XFD1048576")
    assert errors[2].startswith("error: nodim.xlsx, sheet people, cell XFD1048576: column XFD is beyond the limit of 200 columns")
    assert len(errors) == 3 and "MemoryError" not in proc.stderr
    assert not any((tmp_path / f"out-{p.stem}").exists() for p in (bomb, stray, no_dim))


def test_the_command_refuses_a_workbook_beyond_a_limit_with_exit_2_and_writes_nothing(tmp_path, capsys):
    path = people_book(tmp_path / "people.xlsx", cells={"people": {"XFD1048576": "x"}})
    out = tmp_path / "out"
    assert cli("validate", "--input", str(path), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "people.xlsx, sheet people: the sheet declares its used range as A1:XFD1048576" in err and "limit of 200" in err
    assert not out.exists()
    good = people_book(tmp_path / "good.xlsx")
    assert cli("validate", "--input", str(good), "--out", str(out)) == 0 and (out / "run_summary.json").exists()


def test_rows_out_of_order_or_without_positions_are_refused(tmp_path):
    path = people_book(tmp_path / "people.xlsx")
    rewrite(path, SHEET1, lambda x: x.replace(b'<row r="3">', b'<row r="1">'))
    assert refused(path).startswith("people.xlsx, sheet people: row 1 comes after row 2 in the sheet's XML (out of order)")
    path = people_book(tmp_path / "people2.xlsx")
    rewrite(path, SHEET1, lambda x: re.sub(rb'<row r="\d+"', b"<row", x))
    assert "rows or cells without their position" in refused(path)
    path = people_book(tmp_path / "people3.xlsx")
    rewrite(path, SHEET1, lambda x: re.sub(rb'<c r="[A-Z]+3"', b"<c", x))
    assert "rows or cells without their position" in refused(path)


def test_cells_whose_position_is_not_their_first_attribute_are_read(tmp_path):
    path = people_book(tmp_path / "people.xlsx")
    rewrite(path, SHEET1, lambda x: re.sub(rb'<c r="([A-Z]+\d+)" t="inlineStr"', rb'<c t="inlineStr" r="\1"', x))
    assert ingest(path).cohort["people"]["person_id"].tolist() == ["P1", "P2"]


# --- Excel as councils use it -----------------------------------------------------------------


def test_merged_family_id_fills_the_household_and_is_noted(tmp_path):
    rows = [person("P1", "F1"), person("P2", None, relationship="child"), person("P3", None, relationship="child"),
            person("P4", "F2"), person("P5", None, relationship="child")]
    path = people_book(tmp_path / "people.xlsx", rows, merges={"people": ["B2:B4", "B5:B6"]})
    r = ingest(path)
    assert r.cohort["people"]["family_id"].tolist() == ["F1", "F1", "F1", "F2", "F2"]
    assert r.quarantined_rows == 0
    assert r.notes == [{"file": "people.xlsx", "sheet": "people", "merged_ranges_filled": 2,
                        "note": "2 merged range(s) filled with their top-left value, as Excel shows them"}]
    assert ingest(people_book(tmp_path / "plain.xlsx")).notes == []


def test_fill_merged_cuts_ranges_to_the_table_and_leaves_the_header_alone():
    cols = [["a", None, None, "d"], ["x", None, None, None], [None, None, None, None]]
    # sheet rows 0-based; the body starts at sheet row 1 (row 0 is the header)
    ranges = [((1, 0), (3, 0)),  # A2:A4 -> "a" down
              ((2, 1), (9, 2)),  # B3:C10, beyond the table: cut to it, top-left None fills None
              ((0, 2), (2, 2)),  # C1:C3 starts in the header: left alone
              ((4, 0), (4, 1))]  # A5:B5: "d" across
    assert fill_merged(cols, ranges, first_row=1) == 3
    assert cols == [["a", "a", "a", "d"], ["x", None, None, "d"], [None, None, None, None]]
    cols = [["v", None], [None, None]]
    assert fill_merged(cols, [((1, 0), (2, 1))], first_row=1) == 1 and cols == [["v", "v"], ["v", "v"]]


def test_a_formula_with_no_saved_value_is_refused_naming_the_cell(tmp_path):
    path = people_book(tmp_path / "people.xlsx", [person("P1", "F1"), person("P2", "F1"), person("P3", "F1"), ["P4", "=B2"]])
    msg = refused(path)  # openpyxl, like any tool that does not compute formulas, saves <f>B2</f><v/>
    assert msg == ("people.xlsx, sheet people, cell B5: a formula with no saved value; open the workbook in Excel and save it, "
                   "so the values are stored")
    out = tmp_path / "out"
    assert cli("validate", "--input", str(path), "--out", str(out)) == 2 and not out.exists()
    # with no <v> at all
    rewrite(path, SHEET1, lambda x: x.replace(b"<v />", b""))
    assert "cell B5: a formula with no saved value" in refused(path)


def test_formulas_with_saved_values_are_read(tmp_path):
    path = people_book(tmp_path / "people.xlsx", [person("P1", "F1"), ["P2", "=B2", "=C2", "Smith", dt.date(1990, 1, 1), "M", "child", "SW1A 1AA"]])
    rewrite(path, SHEET1, lambda x: x.replace(b"<f>B2</f><v />", b'<f>B2</f><v>F1</v>').replace(b"<f>C2</f><v />", b"<f>C2</f><v></v>")
            .replace(b'<c r="B3">', b'<c r="B3" t="str">').replace(b'<c r="C3">', b'<c r="C3" t="str">'))
    r = ingest(path)
    assert r.cohort["people"]["family_id"].tolist() == ["F1"]
    # B3's saved value is read; C3's saved value is the empty text: a blank cell (not a formula without a value)
    assert r.errors[["row", "column", "message"]].values.tolist() == [[3, "first_name", "required value is missing"]]
    assert (r.counts[0].read, r.counts[0].accepted) == (2, 1)


def test_date_cells_with_a_time(tmp_path):
    rows = [person("P1", "F1", dob=dt.datetime(1980, 1, 5)),  # a date cell at midnight: the date
            person("P2", "F1", dob=dt.datetime(1980, 3, 1, 14, 30)),  # a date and time: quarantined, shown as Excel shows it
            person("P3", "F1", dob=dt.datetime(1980, 3, 1, 0, 0, 1)),
            person("P4", "F1", dob=dt.datetime(1980, 2, 29, 23, 59, 59, 999000))]  # a computed date a hair short of midnight
    r = ingest(people_book(tmp_path / "people.xlsx", rows))
    assert r.cohort["people"]["date_of_birth"].tolist() == [pd.Timestamp("1980-01-05")]
    e = r.errors
    assert e[["row", "column", "value", "message"]].values.tolist() == [
        [3, "date_of_birth", "1980-03-01 14:30", "not a date: use YYYY-MM-DD or DD/MM/YYYY"],
        [4, "date_of_birth", "1980-03-01 00:00:01", "not a date: use YYYY-MM-DD or DD/MM/YYYY"],
        [5, "date_of_birth", "1980-02-29 23:59:59.999", "not a date: use YYYY-MM-DD or DD/MM/YYYY"],
    ]


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_hidden_sheets_are_not_read_and_are_listed(tmp_path, state):
    needs = [["family_id", "headline", "identified_on", "outcome"], ["F1", "crime", dt.date(2020, 1, 1), "open"]]
    path = book(tmp_path / "cohort.xlsx", {"people": [HEADER, person("P1", "F1")], "needs": needs, "Lookups": [["a"]]},
                hidden={"needs": state, "Lookups": state})
    r = ingest(path)
    assert not r.cohort.supplied("needs")
    assert {"file": "cohort.xlsx", "sheet": "needs", "reason": HIDDEN_SHEET} in r.ignored
    assert {"file": "cohort.xlsx", "sheet": "Lookups", "reason": "not a table of the input contract"} in r.ignored
    assert HIDDEN_SHEET == "hidden sheet (not read: unhide it in Excel to use it)"


def test_hidden_sheets_are_not_checked_against_the_limits(tmp_path):
    path = book(tmp_path / "cohort.xlsx", {"people": [HEADER, person("P1", "F1")], "needs": [["family_id"]]},
                hidden={"needs": "hidden"}, cells={"needs": {"XFD1048576": "x"}})
    assert len(ingest(path).cohort["people"]) == 1


def test_files_in_a_cohort_folder_that_are_not_read_say_why(tmp_path):
    folder = tmp_path / "cohort"
    folder.mkdir()
    people_book(folder / "people.xlsx")
    book(folder / "needs.xlsm", {"needs": [["family_id", "headline", "identified_on", "outcome"], ["F1", "crime", dt.date(2020, 1, 1), "open"]]})
    names = ["old.xls", "cohort.ods", "cohort.xlsb", "notes.txt", "cohort.zip", "~$people.xlsx", "data.json", "readme.md"]
    for name in names:
        (folder / name).write_bytes(b"x")
    (folder / ".DS_Store").write_bytes(b"x")
    r = ingest(folder)
    assert r.cohort["needs"]["headline"].tolist() == ["crime"]  # .xlsm is read as a workbook (its macros never run)
    reasons = {i["file"]: i["reason"] for i in r.ignored}
    assert reasons == {name: unsupported_reason(name) for name in names}
    assert reasons["old.xls"] == ".xls is the old Excel format: open it in Excel and save it as .xlsx (Excel Workbook)"
    assert reasons["cohort.ods"].startswith(".ods is an OpenDocument spreadsheet: save it as .xlsx")
    assert reasons["cohort.xlsb"].startswith(".xlsb is Excel's binary format")
    assert reasons["notes.txt"].startswith(".txt is not read: save the table as CSV UTF-8")
    assert reasons["cohort.zip"] == ".zip is a compressed folder: extract its files into the cohort folder"
    assert reasons["~$people.xlsx"] == EXCEL_LOCK_FILE and EXCEL_LOCK_FILE.startswith("Excel lock file")
    assert reasons["readme.md"] == "not a .csv or .xlsx file"


def test_a_file_that_is_not_a_workbook_is_refused_cleanly(tmp_path):
    path = tmp_path / "people.xlsx"
    path.write_bytes(b"PK\x03\x04 this is no zip")
    assert refused(path).startswith("people.xlsx: cannot be read as an Excel workbook")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    assert refused(path).startswith("people.xlsx: not an Excel workbook (no xl/workbook.xml)")
