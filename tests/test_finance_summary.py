"""The finance summary as a financial document: money as numbers in a £ format, totals as SUM
formulas equal to the claim file, a title block, claims to date against the allocation, a sign-off
block; a dry run marked DRAFT on every sheet and without the sign-off block."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest

from tfclaims.claim.finance import DRAFT, MONEY
from tfclaims.core.config import CouncilConfig
from tfclaims.core.resources import SAMPLE_COHORT_DIR
from tfclaims.options import ClaimOptions
from tfclaims.pipeline import claim

A = dt.date(2020, 3, 31)
KEY = "test-council-secret"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("finance")
    cohort = base / "cohort"
    shutil.copytree(SAMPLE_COHORT_DIR, cohort, ignore=shutil.ignore_patterns("synth"))
    council = CouncilConfig(reference_key=KEY, council_name="Nottinghamshire County Council", allocation=10)
    out = {}
    for name, dry in (("dry", True), ("real", False)):
        opts = ClaimOptions.of(input=cohort, out=base / name, council=council, audit=base / "audit.jsonl", period_end=A,
                               ledger=str(base / "ledger.sqlite"), dry_run=dry, operator="Jo Analyst")
        claim(opts)
        out[name] = base / name
    return out


def _cells(ws) -> dict[str, object]:
    """Column A's labels -> the row's cells (for finding a row by its words)."""
    return {str(row[0].value): row for row in ws.iter_rows() if row[0].value is not None}


def test_money_is_numeric_in_pounds_and_totals_are_sums_equal_to_the_claim_file(runs):
    out = runs["real"]
    book = openpyxl.load_workbook(out / "finance_summary.xlsx")  # formulas as written
    values = openpyxl.load_workbook(out / "finance_summary.xlsx", data_only=True)  # their cached results
    ws, wv = book["Summary"], values["Summary"]
    rows = _cells(ws)
    total = rows["Total"]
    assert total[2].value.startswith("=SUM(C") and total[3].value.startswith("=SUM(D")
    claim_file = pd.read_csv(out / "claim_file.csv", dtype=str)
    amount = sum(Decimal(a) for a in claim_file["amount_gbp"])
    cached = _cells(wv)["Total"]
    assert cached[2].value == len(claim_file) and Decimal(str(cached[3].value)) == amount
    route_rows = [r for r in ws.iter_rows() if r[1].value in ("ssp", "continuous_employment", "sfo", "discretionary")]
    assert all(r[3].number_format == MONEY and isinstance(r[3].value, int | float) for r in route_rows)
    assert route_rows and all(isinstance(r[2].value, int) for r in route_rows)  # counts are whole numbers
    assert sum(Decimal(str(r[3].value)) for r in route_rows) == amount
    assert rows["Claims to date"][2].value.startswith("=SUM(")
    assert rows["Allocation (families)"][2].value == 10
    assert rows["Period end"][1].is_date and rows["Period end"][1].value.date() == A


def test_the_title_block_names_the_council_the_window_and_who_produced_it(runs):
    rows = _cells(openpyxl.load_workbook(runs["real"] / "finance_summary.xlsx")["Summary"])
    assert rows["Council"][1].value == "Nottinghamshire County Council"
    assert rows["Framework"][1].value.startswith("tf-phase2 (version 2015.2)")
    assert rows["Claim window"][1].value.endswith("to 31 March 2020")
    assert rows["Produced by"][1].value == "Jo Analyst" and rows["Produced on"][1].is_date
    assert "Run id" in rows and rows["Run id"][1].value


def test_a_note_under_the_title_block_reads_on_one_line_clear_of_the_rows_above(runs):
    # wrapped in column A's default-height row, the dry run's note printed over 'Produced by'
    rows = _cells(openpyxl.load_workbook(runs["dry"] / "finance_summary.DRAFT.xlsx")["Summary"])
    note = next(row for label, row in rows.items() if label.startswith("A dry run"))
    assert not note[0].alignment.wrap_text  # one line, running on over the empty cells beside it
    assert all(c.value is None for c in note[1:])


def test_a_real_claim_has_a_sign_off_block_and_a_dry_run_says_draft_on_every_sheet_without_one(runs):
    real = openpyxl.load_workbook(runs["real"] / "finance_summary.xlsx")
    assert {"Prepared by", "Checked by", "Approved for submission by"} <= set(_cells(real["Summary"]))
    assert all(ws["A1"].value != DRAFT for ws in real.worksheets)
    assert not (runs["dry"] / "finance_summary.xlsx").exists()  # the name says DRAFT too
    dry = openpyxl.load_workbook(runs["dry"] / "finance_summary.DRAFT.xlsx")
    for ws in dry.worksheets:
        assert ws["A1"].value == DRAFT and DRAFT in ws.oddHeader.center.text
    assert not {"Prepared by", "Checked by"} & set(_cells(dry["Summary"]))


def test_every_sheet_prints_one_page_wide_with_the_run_id_and_page_numbers(runs):
    book = openpyxl.load_workbook(runs["real"] / "finance_summary.xlsx")
    for ws in book.worksheets:
        # fit to one page wide (1 is the default width, which the file leaves out), any number long
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth in (None, 1) and ws.page_setup.fitToHeight == 0
        footer = (ws.oddFooter.left.text or "") + (ws.oddFooter.right.text or "")
        assert "Run " in footer and "&P" in footer and "&N" in footer
    assert book["Decisions by reason"].print_title_rows


def test_decisions_by_reason_in_words_with_codes_beside_them_and_a_total_of_every_family(runs):
    out = runs["real"]
    values = openpyxl.load_workbook(out / "finance_summary.xlsx", data_only=True)["Decisions by reason"]
    rows = _cells(values)
    decisions = pd.read_csv(out / "claim_decisions.csv", dtype=str)
    assert rows["Total"][2].value == len(decisions)
    assert "No claim: whole-family working not evidenced" in rows and rows["No claim: whole-family working not evidenced"][1].value == "no_whole_family_working"
    assert not any(str(k).startswith("no_claim:") for k in rows)


def test_no_cell_of_the_finance_summary_is_a_formula_but_the_products_own_totals(runs):
    for name, file in (("real", "finance_summary.xlsx"), ("dry", "finance_summary.DRAFT.xlsx")):
        book = openpyxl.load_workbook(runs[name] / file)
        for ws in book.worksheets:
            for row in ws.iter_rows():
                for c in row:
                    if isinstance(c.value, str) and c.value.startswith("="):
                        assert c.value.startswith(("=SUM(", "=C", "=MAX(0,C", "=0")), (ws.title, c.coordinate, c.value)


def test_claim_decisions_workbook_reads_in_words_with_the_claim_reference_and_amount(runs):
    out = runs["real"]
    ws = openpyxl.load_workbook(out / "claim_decisions.xlsx")["Decisions"]
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    head, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(head)}
    register = pd.read_csv(out / "claim_register.csv", dtype=str).set_index("family_id")
    claimed = [r for r in body if r[col["decision_code"]] == "claim"]
    assert claimed and len(claimed) == len(register)
    for r in claimed:
        assert r[col["decision"]].startswith("Claim: ") and "ssp" not in r[col["decision"]]
        assert r[col["claim_reference"]] == register.loc[r[col["family_id"]], "claim_reference"]
        pence = int(register.loc[r[col["family_id"]], "amount_pence"])
        assert r[col["amount"]] == pence / 100  # a number finance can add up, shown as £800.00
    amount_cells = [row[col["amount"]] for row in ws.iter_rows(min_row=4) if row[col["decision_code"]].value == "claim"]
    assert amount_cells and all(c.number_format == MONEY for c in amount_cells)
    refused = [r for r in body if r[col["decision_code"]] == "no_claim"]
    assert refused and all(r[col["decision"]].startswith(("No claim", "For a manager")) and r[col["reason_code"]] for r in refused)
    assert not any(str(r[col["decision"]]).startswith("no_claim:") for r in body)
    # the detail names headlines and statuses in words; the CSV keeps the codes for machines
    details = [str(r[col["detail"]]) for r in refused if r[col["reason_code"]] == "outcomes_not_met"]
    assert details and not any(code in d for d in details for code in ("not_met", "not_yet", "crime_asb", "worklessness:"))
    assert any("Adults out of work or at risk of financial exclusion: not met" in d for d in details)
    csv_details = pd.read_csv(out / "claim_decisions.csv", dtype=str)["detail"]
    assert csv_details.str.contains("worklessness: not_met", regex=False).any()


def test_the_console_shows_decisions_in_words_and_money_in_pounds(runs, capsys):
    import json

    from tfclaims.cli.pipeline import _print_claim

    _print_claim(json.loads((runs["real"] / "run_summary.json").read_text()))
    said = capsys.readouterr().out
    assert "No claim: whole-family working not evidenced" in said and "no_claim:" not in said
    assert "total £" in said and "GBP" not in said


def test_a_table_too_long_for_a_workbook_is_written_as_csv_only_and_the_run_says_so(tmp_path, monkeypatch, capsys):
    import json

    from tfclaims.cli import main
    from tfclaims.core import run_files

    monkeypatch.setattr(run_files, "WORKBOOK_MAX_ROWS", 50)  # the sample's 98 families are "too many" here
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as done:
        main(["claim", "--input", str(SAMPLE_COHORT_DIR), "--period-end", "2020-03-31", "--out", str(out), "--dry-run",
              "--audit", str(tmp_path / "audit.jsonl")])
    assert done.value.code in (0, None)
    assert not (out / "claim_decisions.xlsx").exists() and (out / "claim_decisions.csv").exists()
    summary = json.loads((out / "run_summary.json").read_text())
    entry = next(e for e in summary["csv_only"] if e["workbook"] == "claim_decisions.xlsx")
    assert entry["rows"] == len(pd.read_csv(out / "claim_decisions.csv")) and entry["name"] == "claim_decisions.csv"
    assert "claim_decisions.xlsx" not in {o["name"] for o in summary["outputs"]}
    assert "no claim_decisions.xlsx: 98 rows" in capsys.readouterr().out
