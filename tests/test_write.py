"""tfclaims.core.write: the xlsx and CSV output contract, read back the way a person's tools read it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

import tfclaims.core.write as write
from tfclaims.core.write import CellFormats, atomic_xlsx, text_lines, write_cell, write_csv, write_xlsx

TRICKY_TEXT = ["007", "=1+2", "+44 7700", "-5", "@SUM(A1)", "\tx", "\rx", "http://example.com/a", "1e5", None]


def contract_frame() -> pd.DataFrame:
    n = len(TRICKY_TEXT)
    return pd.DataFrame(
        {
            "person_id": pd.Series(TRICKY_TEXT, dtype="str"),
            "name": pd.Series([f"Name, {i} \"q\"" for i in range(n - 1)] + [""], dtype="str"),
            "event_date": pd.Series(pd.to_datetime([f"2020-01-{i + 1:02d}" for i in range(n - 1)] + [None])).astype(
                "datetime64[ns]"
            ),
            "source_row": pd.Series(list(range(2, n + 1)) + [None], dtype="Int64"),
            "amount_pence": np.arange(n, dtype="int64") * -100,
            "probability": pd.Series([0.5, 1.0, 1 / 3, 1e20, -0.0, 1e-7, 2.5, 3.0, np.inf, np.nan], dtype="float64"),
            "eligible": np.array([True, False] * (n // 2)),
            "confirmed": pd.Series([True, None] * (n // 2), dtype="boolean"),
        }
    )


def sheet_rows(ws) -> list[tuple]:
    return list(ws.iter_rows(values_only=True))


# --- xlsx ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def contract_book(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("xlsx") / "out.xlsx"
    df = contract_frame()
    write_xlsx(
        {"People": df, "A sheet name that is much longer than Excel allows": df.head(2)},
        path,
        notes={"People": ["First note line", "-second line"]},
    )
    return path, df, load_workbook(path)


def test_xlsx_layout_notes_header_freeze_filter_widths(contract_book) -> None:
    path, df, wb = contract_book
    assert wb.sheetnames == ["People", "A sheet name that is much longe"]  # truncated to 31
    ws = wb["People"]
    assert ws["A1"].value == "First note line" and ws["A1"].font.i
    assert ws["A2"].value == "-second line"  # a note is our own text, written as text
    assert all(c.value is None for c in ws[3])  # the blank line between notes and table
    assert [c.value for c in ws[4]] == list(df.columns)
    assert all(c.font.b for c in ws[4]) and ws["A4"].fill.fgColor.rgb.endswith("DDEBF7")
    assert ws.freeze_panes == "A5"
    assert ws.auto_filter.ref == f"A4:H{4 + len(df)}"
    assert ws.max_row == 4 + len(df)
    widths = {k: d.width for k, d in ws.column_dimensions.items()}
    # xlsxwriter stores a width plus its pixel padding (12 -> 12.71)
    assert int(widths["C"]) == len("event_date") + 3  # a date is 12 wide; its header, indented and bold, is wider
    assert int(widths["A"]) == len("http://example.com/a") + 3  # longest text + 3 (text is indented one character)
    assert int(widths["H"]) == len("confirmed") + 3  # header longer than Yes/No
    assert ws.column_dimensions["A"].number_format == "@" and ws.column_dimensions["E"].number_format == "General"
    other = wb["A sheet name that is much longe"]
    assert other.freeze_panes == "A2" and other.auto_filter.ref == "A1:H3"


def test_xlsx_cells_are_typed_by_column(contract_book) -> None:
    _, df, wb = contract_book
    ws = wb["People"]
    cells = {df.columns[j]: [ws.cell(row=5 + i, column=1 + j) for i in range(len(df))] for j in range(len(df.columns))}
    ids = cells["person_id"]
    # a plain negative number keeps its sign and no apostrophe (it is no formula); the rest is neutralised
    neutralised = ["007", "'=1+2", "'+44 7700", "-5", "'@SUM(A1)", "'\tx", "'\rx", "http://example.com/a", "1e5", None]
    # openpyxl shows a CR as the file's escape _x000D_; calamine (and Excel) decode it
    assert [c.value for c in ids] == [v.replace("\r", "_x000D_") if v else v for v in neutralised]
    calamine = pd.read_excel(contract_book[0], sheet_name="People", engine="calamine", header=3, dtype=str)
    assert calamine["person_id"].tolist()[:-1] == neutralised[:-1]
    assert all(c.data_type == "s" and c.number_format == "@" for c in ids[:-1])  # text, never a number
    assert not ws._hyperlinks  # a URL stays text
    assert cells["name"][0].value == 'Name, 0 "q"' and cells["name"][-1].value is None  # '' is a blank cell
    first_date = cells["event_date"][0]
    assert first_date.is_date and first_date.value == dt.datetime(2020, 1, 1) and first_date.number_format == "yyyy-mm-dd"
    assert cells["event_date"][-1].value is None
    assert [c.value for c in cells["source_row"]] == [*range(2, len(df) + 1), None]
    assert all(c.data_type == "n" and isinstance(c.value, int) for c in cells["source_row"][:-1])
    assert [c.value for c in cells["amount_pence"]] == [-100 * i for i in range(len(df))]  # negatives stay numbers
    assert cells["probability"][0].value == 0.5 and cells["probability"][-1].value is None
    assert [c.value for c in cells["eligible"]] == ["Yes", "No"] * (len(df) // 2)  # booleans in words
    assert all(c.data_type == "s" for c in cells["eligible"])
    assert [c.value for c in cells["confirmed"]] == ["Yes", None] * (len(df) // 2)


def test_xlsx_has_no_formula_cell(contract_book) -> None:
    path, _, wb = contract_book
    assert not any(c.data_type == "f" for ws in wb.worksheets for row in ws.iter_rows() for c in row)
    with __import__("zipfile").ZipFile(path) as z:
        xml = b"".join(z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
    assert b"<f>" not in xml and b"<f " not in xml


def test_xlsx_empty_frame_is_a_header_only_sheet(tmp_path: Path) -> None:
    path = write_xlsx({"Errors": contract_frame().iloc[0:0]}, tmp_path / "empty.xlsx")
    ws = load_workbook(path)["Errors"]
    assert sheet_rows(ws) == [tuple(contract_frame().columns)]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:H1"


def test_xlsx_many_rows_keep_their_order_and_values(tmp_path: Path) -> None:
    """constant_memory writes row by row: every row and column must come back where it was."""
    n = 3000
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "family_id": pd.Series([f"{i:06d}" for i in range(n)], dtype="str"),
            "n": rng.integers(-50, 50, n),
            "d": pd.Series(pd.Timestamp("1990-01-01") + pd.to_timedelta(rng.integers(0, 20000, n), unit="D")).astype(
                "datetime64[ns]"
            ),
        }
    )
    path = write_xlsx({"S": df}, tmp_path / "big.xlsx")
    got = pd.read_excel(path, engine="calamine", dtype={"family_id": str})
    assert got["family_id"].tolist() == df["family_id"].tolist()
    assert got["n"].tolist() == df["n"].tolist()
    assert (pd.to_datetime(got["d"]) == df["d"]).all()


def test_xlsx_object_columns_are_typed_cell_by_cell(tmp_path: Path) -> None:
    df = pd.DataFrame({"Item": ["Claims", "Total", "Date", "Flag", "Formula", "Missing"],
                       "Value": [3, 2.5, dt.date(2024, 3, 31), True, "=HYPERLINK(\"x\")", None]})
    ws = load_workbook(write_xlsx({"Summary": df}, tmp_path / "o.xlsx"))["Summary"]
    values = [ws.cell(row=r, column=2) for r in range(2, 8)]
    assert values[0].value == 3 and values[0].data_type == "n"
    assert values[1].value == 2.5
    assert values[2].is_date and values[2].value == dt.datetime(2024, 3, 31)
    assert values[3].value == "Yes"
    assert values[4].value == "'=HYPERLINK(\"x\")" and values[4].data_type == "s"
    assert values[5].value is None


def test_one_rule_for_a_value_written_alone_or_in_a_column(tmp_path: Path) -> None:
    """``write_cell`` (one value: the spot check's key-value blocks, the finance summary) and
    ``write_xlsx`` (whole columns, vectorised) make the same cell of the same value."""
    n = 9
    frame = pd.DataFrame(
        {
            "text": pd.Series(["=1+2", "-5", "-0.5", "+44", "007", "", None, "@x", "-inf"], dtype="str"),
            "int": pd.Series([-5, 0, 7, None, 1, -2, 3, 4, 5], dtype="Int64"),
            "float": [-2.5, 1 / 3, np.nan, 0.0, 1e20, -0.0, 2.0, np.inf, -np.inf],
            "date": pd.Series(pd.to_datetime(["2020-03-31", None, "1900-01-01", "1900-03-01", "2099-12-31"] + ["2021-01-01"] * 4)),
            "flag": pd.Series([True, False, None, True, False, True, False, True, None], dtype="boolean"),
            "object": pd.Series([True, -5, "=x", dt.date(2020, 1, 2), None, Decimal("1.50"), np.int64(3), "", "-7"], dtype=object),
        }
    )
    columns = write_xlsx({"S": frame}, tmp_path / "columns.xlsx")
    with atomic_xlsx(tmp_path / "cells.xlsx", {"strings_to_formulas": False, "strings_to_numbers": False}) as book:
        ws, formats = book.add_worksheet("S"), CellFormats.of(book)
        for j, name in enumerate(frame.columns):
            ws.write_string(0, j, name)
            for i, value in enumerate(frame[name].tolist()):
                write_cell(ws, i + 1, j, value, formats)

    def cells(path: Path) -> list[list[tuple]]:
        rows = load_workbook(path)["S"].iter_rows(min_row=2, max_row=n + 1, max_col=len(frame.columns))
        return [[(c.value, c.data_type, c.is_date) for c in row] for row in rows]

    one_by_one = cells(tmp_path / "cells.xlsx")
    assert cells(columns) == one_by_one
    by_column = dict(zip(frame.columns, zip(*one_by_one, strict=True), strict=True))
    assert [v for v, *_ in by_column["text"]] == ["'=1+2", "-5", "-0.5", "'+44", "007", None, None, "'@x", "'-inf"]
    assert by_column["int"][0] == (-5, "n", False) and by_column["float"][0] == (-2.5, "n", False)  # negatives are numbers
    assert [v for v, *_ in by_column["float"][-2:]] == ["inf", "'-inf"]
    assert [v for v, *_ in by_column["flag"]] == ["Yes", "No", None, "Yes", "No", "Yes", "No", "Yes", None]
    assert [v for v, *_ in by_column["object"]] == ["Yes", -5, "'=x", dt.datetime(2020, 1, 2), None, 1.5, 3, None, "-7"]


def test_write_cell_takes_one_format_for_any_kind_but_a_date_needs_one(tmp_path: Path) -> None:
    with atomic_xlsx(tmp_path / "one.xlsx", {}) as book:
        ws, money = book.add_worksheet("S"), book.add_format({"num_format": "£#,##0.00"})
        assert write_cell(ws, 0, 0, -12.5, money) == "number"
        assert write_cell(ws, 1, 0, "=SUM(A1)", money) == "text"
        assert write_cell(ws, 2, 0, None, money) is None
        with pytest.raises(ValueError, match="a date needs a date format"):
            write_cell(ws, 3, 0, dt.date(2020, 3, 31))
    ws = load_workbook(tmp_path / "one.xlsx")["S"]
    assert ws["A1"].value == -12.5 and ws["A1"].number_format == "£#,##0.00"
    assert ws["A2"].value == "'=SUM(A1)" and ws["A3"].value is None


def test_text_lines_counts_wrapped_and_broken_lines() -> None:
    assert text_lines(["", None, "x" * 10, "x" * 11, "a\nb", "x" * 25 + "\n" + "y"], 11).tolist() == [1, 1, 1, 2, 2, 4]
    assert text_lines(["x" * 100_000], 10).tolist() == [27]  # at most Excel's tallest row (409 points)


def test_xlsx_is_atomic_a_failure_keeps_the_old_file(tmp_path: Path) -> None:
    path = write_xlsx({"S": contract_frame()}, tmp_path / "out.xlsx")
    before = path.read_bytes()
    bad = pd.DataFrame({"when": pd.Series(pd.to_datetime(["2020-01-01"])).dt.tz_localize("Europe/London")})
    with pytest.raises(ValueError, match="time ?zones"):
        write_xlsx({"S": contract_frame(), "T": bad}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xlsx"]  # no temporary files left behind


def test_xlsx_a_sheet_longer_than_excel_holds_is_cut_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write, "EXCEL_MAX_ROWS", 10)
    frame = pd.DataFrame({"row": pd.Series([str(i) for i in range(25)], dtype="str"), "n": range(25)})
    write_csv(frame, tmp_path / "errors.csv")
    path = write_xlsx({"Errors": frame, "Counts": frame.head(2)}, tmp_path / "errors.xlsx", notes={"Errors": ["Rows left out."]})
    rows = list(load_workbook(path)["Errors"].iter_rows(values_only=True))
    assert len(rows) == 10  # the limit, every row used
    assert rows[0][0] == "Rows left out."
    assert rows[1][0] == ("Only the first 6 of 25 rows are shown: an Excel sheet holds at most 10 rows, "
                          "so 19 rows are left out here. errors.csv has every row.")
    assert rows[2] == (None, None) and rows[3] == ("row", "n")
    assert [r[0] for r in rows[4:]] == [str(i) for i in range(6)]
    assert len(list(load_workbook(path)["Counts"].iter_rows())) == 3  # a short sheet is whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["errors.csv", "errors.xlsx"]


def test_xlsx_cut_note_names_the_complete_copy_given_or_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write, "EXCEL_MAX_ROWS", 5)
    frame = pd.DataFrame({"a": range(8)})
    named = write_xlsx({"S": frame}, tmp_path / "a.xlsx", complete_copy="all_rows.parquet")
    unnamed = write_xlsx({"S": frame}, tmp_path / "b.xlsx")  # no b.csv beside it
    first = [r[0] for r in load_workbook(named)["S"].iter_rows(values_only=True)]
    second = [r[0] for r in load_workbook(unnamed)["S"].iter_rows(values_only=True)]
    assert first[0].endswith("so 6 rows are left out here. all_rows.parquet has every row.")
    assert second[0].endswith("so 6 rows are left out here.") and first[3:] == second[3:] == [0, 1]


def test_xlsx_notes_that_leave_no_room_are_an_error_and_leave_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write, "EXCEL_MAX_ROWS", 3)
    with pytest.raises(ValueError, match="lines of notes do not fit"):
        write_xlsx({"S": pd.DataFrame({"a": range(8)})}, tmp_path / "x.xlsx", notes={"S": ["one", "two", "three"]})
    assert list(tmp_path.iterdir()) == []


def test_xlsx_a_failure_before_any_sheet_leaves_no_temporary_file(tmp_path: Path) -> None:
    # xlsxwriter leaves the row file of a sheet with no cells (constant_memory): its files have a folder of their own
    bad = pd.DataFrame({"when": pd.Series(pd.to_datetime(["2020-01-01"])).dt.tz_localize("Europe/London")})
    with pytest.raises(ValueError, match="time ?zones"):
        write_xlsx({"T": bad}, tmp_path / "x.xlsx")
    with pytest.raises(ValueError, match="columns do not fit"), pytest.MonkeyPatch.context() as mp:
        mp.setattr(write, "EXCEL_MAX_COLUMNS", 1)
        write_xlsx({"S": pd.DataFrame({"a": [1], "b": [2]})}, tmp_path / "y.xlsx")
    assert list(tmp_path.iterdir()) == []


# --- csv ----------------------------------------------------------------------------------------


def expected_csv_text(df: pd.DataFrame) -> pd.DataFrame:
    """What a reader should get back as text, built independently of tfclaims.core.write."""
    out = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[c] = [v.strftime("%Y-%m-%d") if pd.notna(v) else "" for v in s]
        elif pd.api.types.is_bool_dtype(s.dtype):
            out[c] = ["" if pd.isna(v) else ("true" if v else "false") for v in s]
        elif pd.api.types.is_integer_dtype(s.dtype):
            out[c] = ["" if pd.isna(v) else str(int(v)) for v in s]
        elif pd.api.types.is_float_dtype(s.dtype):
            out[c] = ["" if pd.isna(v) else repr(float(v)) for v in s]
        else:
            out[c] = [
                "" if v is None or (isinstance(v, float) and np.isnan(v)) else ("'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v)
                for v in s
            ]
    return pd.DataFrame(out, dtype=object)


def test_csv_round_trip_gives_back_the_text(tmp_path: Path) -> None:
    df = contract_frame()
    df.loc[0, "name"] = 'comma, "quote"\nnew line\r\nand CR'
    df.loc[2, "name"] = "a bare\rcarriage return"  # quoted, so readers do not split the row
    path = write_csv(df, tmp_path / "out.csv")
    got = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    pd.testing.assert_frame_equal(got.astype(object), expected_csv_text(df))
    raw = path.read_bytes()
    assert raw.startswith(b"person_id,name,event_date,source_row,amount_pence,probability,eligible,confirmed\n")
    assert b"\n007,\"Name, 1 " not in raw and b"\n'=1+2," in raw  # neutralised, quoted only where needed
    assert b",3,-100,1.0," in raw  # integers without .0, negatives not neutralised


def reference_csv(df: pd.DataFrame, path: Path) -> bytes:
    """The bytes the pandas writer produces (the format before the fast path)."""
    write._csv_ready(df).to_csv(path, index=False, lineterminator="\n")
    return path.read_bytes()


@pytest.mark.parametrize("storage", ["python", "pyarrow"])
def test_csv_fast_path_writes_the_same_bytes_as_pandas(tmp_path: Path, storage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    df = contract_frame()
    df["probability"] = df["probability"].astype("Float64")
    df["person_id"] = df["person_id"].replace("\rx", "x")  # bare CRs: the one deliberate difference
    df["person_id"] = df["person_id"].astype(pd.StringDtype(storage, na_value=np.nan))
    df.loc[1, "name"] = 'a "b", c\nd'
    assert write._csv_fast_path_ok(df)
    monkeypatch.setattr(write, "_CSV_CHUNK_ROWS", 3)  # several chunks
    assert write_csv(df, tmp_path / "fast.csv").read_bytes() == reference_csv(df, tmp_path / "ref.csv")


def test_csv_single_column_and_empty_frames(tmp_path: Path) -> None:
    one = pd.DataFrame({"note": pd.Series(["", None, "x", "a,b"], dtype="str")})
    assert write_csv(one, tmp_path / "one.csv").read_bytes() == reference_csv(one, tmp_path / "one_ref.csv")
    assert write_csv(one, tmp_path / "one.csv").read_bytes() == b'note\n""\n""\nx\n"a,b"\n'
    empty = contract_frame().iloc[0:0]
    assert write_csv(empty, tmp_path / "empty.csv").read_text() == ",".join(empty.columns) + "\n"


def test_csv_other_dtypes_take_the_pandas_path(tmp_path: Path) -> None:
    df = pd.DataFrame({"p": [0.5, np.nan, 1.0], "o": ["=x", None, 3]})
    assert not write._csv_fast_path_ok(df)  # an object column
    assert write_csv(df, tmp_path / "f.csv").read_text() == "p,o\n0.5,'=x\n,\n1.0,3\n"
    assert write._csv_fast_path_ok(df.drop(columns="o"))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from(list('ab ,"\n\r\t=+-@é\'0')), max_size=6)), min_size=1, max_size=12),
    st.lists(st.one_of(st.none(), st.integers(-(10**12), 10**12)), min_size=12, max_size=12),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=12, max_size=12),
)
def test_csv_fast_path_matches_pandas_for_any_text(texts: list, ints: list, floats: list) -> None:
    import tempfile

    n = len(texts)
    df = pd.DataFrame(
        {"t": pd.Series(texts, dtype="str"), "i": pd.Series(ints[:n], dtype="Int64"), "f": np.array(floats[:n], dtype="float64")}
    )
    with tempfile.TemporaryDirectory() as d:
        fast = write_csv(df, Path(d) / "fast.csv").read_bytes()
        if not any(t and "\r" in t for t in texts):  # pandas leaves a bare CR unquoted
            assert fast == reference_csv(df, Path(d) / "ref.csv")
        back = pd.read_csv(Path(d) / "fast.csv", dtype=str, keep_default_na=False)
        assert back["t"].tolist() == expected_csv_text(df)["t"].tolist()


# ----------------------------------------------------------------------------------------------
# rows streamed a column at a time (tfclaims.core.xlsx_rows): xlsxwriter's own bytes, faster


def _every_kind_of_cell(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    texts = np.array(["plain", " leading", "trailing ", "a&b<c>d", 'quote"s', "line\nbreak", "ctl\x01x", "_x0041_ literal",
                      "=SUM(A1)", "-5", "£1,234.00", "Zoë", "x" * 300, "", None, "tab\there", "\ufffe", "\u00a0nbsp"], dtype=object)
    df = pd.DataFrame({
        "family_id": pd.array([f"{i:06d}" for i in range(n)], dtype="str"),
        "note": pd.array(rng.choice(texts, n), dtype="str"),
        "count": pd.array(rng.integers(-5, 10**17, n, dtype=np.int64), dtype="Int64"),
        "ratio": rng.random(n) * 100,
        "when": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
        "amount_pence": pd.array(rng.integers(0, 10**6, n), dtype="Int64"),
        "mixed": pd.Series(rng.choice(np.array([1, 2.5, "text", dt.date(2020, 1, 2), None, True, float("inf"), Decimal("1.10")],
                                               dtype=object), n), dtype=object),
        "long": pd.array(rng.choice(np.array(["short", "a long text that wraps in its cell " * 5, None], dtype=object), n), dtype="str"),
    })
    df.loc[df.index[:3], ["count", "ratio"]] = [pd.NA, np.nan]
    return df


def _sheets_xml(path: Path) -> dict[str, bytes]:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n.startswith("xl/")}


def test_streamed_rows_are_xlsxwriters_own_bytes(tmp_path: Path, monkeypatch) -> None:
    df = _every_kind_of_cell(3000)
    sheets = {"Data": df, "Few": df.head(7), "Empty": df.head(0)}
    notes = {"Data": ["Notes above the header.", "=not a formula"]}
    write_xlsx(sheets, tmp_path / "streamed.xlsx", notes=notes, money_columns=("amount_pence",))
    monkeypatch.setattr(write, "can_stream", lambda *a: False)  # xlsxwriter writing each cell itself
    write_xlsx(sheets, tmp_path / "by_cell.xlsx", notes=notes, money_columns=("amount_pence",))
    streamed, by_cell = _sheets_xml(tmp_path / "streamed.xlsx"), _sheets_xml(tmp_path / "by_cell.xlsx")
    assert streamed.keys() == by_cell.keys() and len([n for n in streamed if "worksheets/sheet" in n]) == 3
    for name in streamed:
        assert streamed[name] == by_cell[name], name
    assert b'ht="' in streamed["xl/worksheets/sheet1.xml"]  # rows of wrapped text kept their heights


def test_streamed_blank_cells_and_rows_are_xlsxwriters_own_bytes(tmp_path: Path, monkeypatch) -> None:
    from tfclaims.core.write import XlsxColumn, write_columns, write_header

    def book(path: Path) -> None:
        with atomic_xlsx(path, {"constant_memory": True}) as wb:
            formats = CellFormats.of(wb)
            unlocked = wb.add_format({"locked": False, "bg_color": "#FFF2CC"})
            ws = wb.add_worksheet("Check")
            columns = [XlsxColumn("ref", [f"TFC-{i:06d}" if i % 5 else None for i in range(40)], "text", 14),
                       XlsxColumn("n", [None] * 40, "number", 8)]
            ws.set_row(4, 30)
            write_header(ws, 0, columns, formats.text)
            write_columns(ws, 1, columns, formats, blanks=[(3, unlocked), (2, None)])

    book(tmp_path / "streamed.xlsx")
    monkeypatch.setattr(write, "can_stream", lambda *a: False)
    book(tmp_path / "by_cell.xlsx")
    assert _sheets_xml(tmp_path / "streamed.xlsx") == _sheets_xml(tmp_path / "by_cell.xlsx")


def test_a_text_that_looks_like_rich_string_markup_stays_text(tmp_path: Path) -> None:
    markup = "<r><t>looks like markup</t></r>"
    write_xlsx({"S": pd.DataFrame({"note": pd.array([markup, "plain"], dtype="str")})}, tmp_path / "r.xlsx")
    ws = load_workbook(tmp_path / "r.xlsx", read_only=True)["S"]
    assert [r[0] for r in ws.iter_rows(values_only=True)][-2:] == [markup, "plain"]
