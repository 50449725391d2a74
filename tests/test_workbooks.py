"""Every workbook a run writes, opened as a person's tools open it: one rule for cells (input text
neutralised, numbers as numbers, dates as dates, booleans Yes/No), long text wrapped in rows tall
enough for it, and a print set-up (A4, one page wide, header rows repeated, page numbers).

One claim run and one identify run of the sample cohort (a copy whose lead practitioners' names look
like a formula) serve every test of this module.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from tfclaims.core.config import CouncilConfig
from tfclaims.core.resources import SAMPLE_COHORT_DIR
from tfclaims.core.write import LINE_HEIGHT, TEXT_MAX_WIDTH
from tfclaims.options import IdentifyOptions, RunOptions
from tfclaims.pipeline import identify, run
from tfclaims.spot_check.layout import AUDITOR_COLUMNS, COLUMN_LETTER
from tfclaims.spot_check.reconcile import read_verdicts

A = dt.date(2020, 3, 31)
KEY = "test-council-secret"
FORMULA_NAME = '=HYPERLINK("http://evil.example","click")'
TABLE_BOOKS = ("validation_errors.xlsx", "claim_decisions.xlsx", "eligibility.xlsx")  # written by write_xlsx
VISIBLE = ("Sample", "Evidence", "Method", "Checklist")  # the spot check's sheets for people


@pytest.fixture(scope="module")
def books(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("workbooks")
    cohort = base / "cohort"
    shutil.copytree(SAMPLE_COHORT_DIR, cohort, ignore=shutil.ignore_patterns("synth"))
    programme = pd.read_csv(cohort / "programme.csv", dtype=str, keep_default_na=False)
    programme["lead_practitioner"] = FORMULA_NAME  # text from the input that a spreadsheet would evaluate
    programme.to_csv(cohort / "programme.csv", index=False)
    council = CouncilConfig(reference_key=KEY)
    common = {"input": cohort, "council": council, "audit": base / "audit.jsonl"}
    run(RunOptions.of(**common, out=base / "run", period_end=A, ledger=str(base / "ledger.sqlite"), seed=1))
    identify(IdentifyOptions.of(**common, out=base / "identify", as_of=A))
    paths = {p.name: p for p in (base / "run").glob("*.xlsx")}
    paths["eligibility.xlsx"] = base / "identify" / "eligibility.xlsx"
    paths["base"] = base
    return paths


def _table(ws) -> tuple[int, list[str]]:
    """The header row of a write_xlsx sheet (below its notes and a blank line) and its names."""
    for row in ws.iter_rows(min_row=1, max_row=10):
        values = [c.value for c in row]
        if values and values[0] is not None and all(v is not None for v in values[: min(2, len(values))]):
            return row[0].row, [str(v) for v in values]
    raise AssertionError(f"sheet {ws.title}: no header row")


def _column(ws, name: str):
    header_row, names = _table(ws)
    j = names.index(name) + 1
    return [ws.cell(row=r, column=j) for r in range(header_row + 1, ws.max_row + 1)]


def test_booleans_are_yes_or_no_in_workbooks_and_true_false_in_csv(books) -> None:
    ws = load_workbook(books["eligibility.xlsx"])["Eligibility"]
    for name in ("eligible", "has_dependent"):
        values = {c.value for c in _column(ws, name)}
        assert values == {"Yes", "No"}, name
    csv = pd.read_csv(books["eligibility.xlsx"].with_suffix(".csv"), dtype=str)
    assert set(csv["eligible"]) == {"true", "false"}  # machines read the CSV: unchanged


def test_input_text_is_neutralised_numbers_stay_numbers_and_no_cell_is_a_formula(books) -> None:
    errors = load_workbook(books["validation_errors.xlsx"])["Errors"]
    header_row, names = _table(errors)
    rows = [dict(zip(names, [c for c in r], strict=False)) for r in errors.iter_rows(min_row=header_row + 1)]
    negative = next(r for r in rows if r["check"].value == "not_negative")  # exclusions.csv: sessions -2
    assert negative["value"].value == "-2"  # the input's negative number as it was typed, not '-2
    assert all(isinstance(r["row"].value, int) and r["row"].data_type == "n" for r in rows)
    sample = load_workbook(books["spot_check.xlsx"])["Sample"]
    practitioners = [sample[f"{COLUMN_LETTER['lead_practitioner']}{r}"] for r in range(2, sample.max_row + 1)]
    assert practitioners and all(c.value == "'" + FORMULA_NAME and c.data_type == "s" for c in practitioners)
    for name in (*TABLE_BOOKS, "spot_check.xlsx"):
        for ws in load_workbook(books[name]).worksheets:
            for row in ws.iter_rows():
                for c in row:
                    assert c.data_type != "f", f"{name}, {ws.title}!{c.coordinate}: a formula"
                    assert not (isinstance(c.value, str) and c.value.startswith(("=", "@"))), f"{name}, {ws.title}!{c.coordinate}"


def test_long_text_wraps_at_a_readable_width_in_rows_tall_enough(books) -> None:
    for name, sheet, column in (("claim_decisions.xlsx", "Decisions", "detail"), ("validation_errors.xlsx", "Errors", "message")):
        ws = load_workbook(books[name])[sheet]
        cells = _column(ws, column)
        letter = cells[0].column_letter
        width = ws.column_dimensions[letter].width
        assert 40 <= width <= TEXT_MAX_WIDTH + 1, (name, width)  # xlsxwriter adds its pixel padding (60 -> 60.71)
        assert all(c.alignment.wrap_text for c in cells if c.value), name
        for c in cells:
            lines = len(textwrap.wrap(c.value, int(width * 1.2))) if c.value else 1  # ~1.25 characters a unit
            height = ws.row_dimensions[c.row].height or LINE_HEIGHT
            assert height >= LINE_HEIGHT * lines, f"{name} {c.coordinate}: {lines} lines in {height} points"
        family = ws.column_dimensions["A"]  # a short column fits its content and does not wrap
        assert family.width < 25 and not ws["A" + str(cells[0].row)].alignment.wrap_text


def test_a_long_note_spans_the_table_and_leaves_column_a_narrow(books) -> None:
    ws = load_workbook(books["eligibility.xlsx"])["Eligibility"]
    note = ws["A1"]
    assert note.value.startswith("Eligibility lists CANDIDATES") and note.font.i and note.alignment.wrap_text
    assert any(str(r).startswith("A1:") for r in ws.merged_cells.ranges)  # across the table's columns
    assert ws.column_dimensions["A"].width < 20


def _print_setup_ok(ws, *, repeat: bool, pages_wide: int = 1) -> None:
    where = f"{ws.parent.path if hasattr(ws.parent, 'path') else ''} {ws.title}"
    assert ws.page_setup.paperSize == 9, where  # A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage and (ws.page_setup.fitToWidth or 1) == pages_wide, where
    assert ws.page_setup.fitToHeight == 0, where  # one page wide, as long as it takes
    footer = ws.oddFooter.left.text + ws.oddFooter.right.text
    assert "Page &P of &N" in footer and "&F" in footer and "&A" in footer, where
    if repeat:
        assert ws.print_title_rows, where


def test_every_sheet_prints_one_page_wide_with_its_header_on_every_page(books) -> None:
    for name in TABLE_BOOKS:
        for ws in load_workbook(books[name]).worksheets:
            _print_setup_ok(ws, repeat=True)
            header_row, _ = _table(ws)
            assert ws.print_title_rows == f"${header_row}:${header_row}", (name, ws.title)
            assert ws.auto_filter.ref and ws.auto_filter.ref.startswith(f"A{header_row}:")
    assert load_workbook(books["claim_decisions.xlsx"])["Decisions"].page_setup.orientation == "landscape"  # wide
    assert load_workbook(books["validation_errors.xlsx"])["Counts"].page_setup.orientation == "portrait"  # narrow
    spot = load_workbook(books["spot_check.xlsx"])
    for sheet in VISIBLE:
        _print_setup_ok(spot[sheet], repeat=sheet != "Method", pages_wide=2 if sheet == "Sample" else 1)
    assert spot["Sample"].print_title_rows == spot["Evidence"].print_title_rows == "$1:$1"
    # Sample: the claim's facts on one page, the auditor's answers on the next, each row named by its
    # claim reference on both (one page wide, it printed at about half size)
    assert spot["Sample"].print_title_cols == "$A:$A" and spot["Sample"]["A1"].value == "claim_reference"
    assert spot["Sample"].page_setup.orientation == "landscape" and spot["Evidence"].page_setup.orientation == "landscape"


def test_checklist_rows_are_tall_enough_for_their_paragraphs(books) -> None:
    ws = load_workbook(books["spot_check.xlsx"])["Checklist"]
    rows = [r for r in ws.iter_rows(min_row=4, max_row=7)]
    assert [r[1].value for r in rows][0].startswith("Was the family eligible")
    for row in rows:
        height = ws.row_dimensions[row[0].row].height
        for c in row:
            if c.value:
                width = ws.column_dimensions[get_column_letter(c.column)].width
                lines = len(textwrap.wrap(c.value, int(width * 1.2)))
                assert c.alignment.wrap_text and height >= LINE_HEIGHT * lines, (c.coordinate, lines, height)
    assert ws.row_dimensions[4].height >= 4 * LINE_HEIGHT  # the first question's paragraph: several lines


def test_method_names_the_framework_and_shows_no_absolute_path(books) -> None:
    ws = load_workbook(books["spot_check.xlsx"])["Method"]
    method = {r[0]: r[1] for r in ws.iter_rows(values_only=True) if r[0]}
    assert method["framework"] == "tf-phase2" and method["framework version"] == "2015.2"
    assert method["claim folder"] == "run"
    assert method["command that reproduces the draw"].startswith("tfclaims spot-check --claim-dir run --out run ")
    texts = [v for r in ws.iter_rows(values_only=True) for v in r if isinstance(v, str)]
    base = str(books["base"])
    assert not [t for t in texts if base in t or str(SAMPLE_COHORT_DIR) in t or t.startswith("/") or "/tmp" in t]
    assert "people.csv" in texts  # the input files by name


def test_the_auditors_completed_workbook_still_reads_back(books, tmp_path) -> None:
    path = tmp_path / "spot_check.xlsx"
    shutil.copy(books["spot_check.xlsx"], path)
    wb = load_workbook(path)
    ws = wb["Sample"]
    n = ws.max_row - 1
    for r in range(2, n + 2):
        for name, value in zip(AUDITOR_COLUMNS, ("Y", "Y", "Y", "valid", None, "J. Auditor", dt.date(2020, 5, 1)), strict=True):
            ws[f"{COLUMN_LETTER[name]}{r}"] = value
    wb.save(path)
    verdicts = read_verdicts(path)
    assert len(verdicts) == n and set(verdicts["verdict"]) == {"valid"}
    assert math.isclose(ws.column_dimensions[COLUMN_LETTER["notes"]].width, 30, abs_tol=1)
