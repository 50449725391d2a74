"""Every allowed input is processed or quarantined, never a crash: header-only tables, any Unicode in
any cell, CSV files that are not what they seem, error reports longer than Excel holds, and a fuzz
of the readers (its long run is ``benchmarks/fuzz_readers.py``)."""

from __future__ import annotations

import codecs
import random
import shutil
import tempfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfclaims.core.write as write
from fuzz_inputs import check_table, random_table
from test_ingest import GOOD_PEOPLE, PEOPLE_HEADER, cohort, errors_for
from tfclaims.cli import main
from tfclaims.core.errors import InputError
from tfclaims.core.resources import SAMPLE_COHORT_DIR
from tfclaims.ingest import validate as validate_module
from tfclaims.ingest.validate import ingest
from tfclaims.schemas.inputs import NATIONAL_TABLES as TABLES  # the sample cohort has no local tables

EMPLOYMENT = "person_id,start_date,end_date,hours_per_week"


def cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def reconciles(result) -> None:
    for c in result.counts:
        assert c.read == c.accepted + c.quarantined, c
        assert len(result.cohort[c.table]) == c.accepted, c
        assert errors_for(result, c.table)["row"].nunique() == c.quarantined, c


def sample_with_header_only(tmp_path: Path, table: str) -> Path:
    folder = tmp_path / f"sample-{table}"
    shutil.copytree(SAMPLE_COHORT_DIR, folder)
    path = folder / f"{table}.csv"
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    return folder


# --- 1. header-only tables ------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES)
def test_a_header_only_table_is_read_as_no_rows(tmp_path, table):
    r = ingest(sample_with_header_only(tmp_path, table))
    count = next(c for c in r.counts if c.table == table)
    assert (count.read, count.accepted, count.quarantined) == (0, 0, 0)
    assert len(r.cohort[table]) == 0
    reconciles(r)
    if table == "people":  # every needs and programme row then names a family nobody is in
        for other in ("needs", "programme"):
            assert len(r.cohort[other]) == 0
            assert "family_in_people" in set(errors_for(r, other)["check"])


def _run(tmp_path: Path, folder: Path, monkeypatch) -> int:
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", "test-council-secret")
    return cli("run", "--input", str(folder), "--period-end", "2020-03-31", "--ledger", str(tmp_path / "ledger.sqlite"),
               "--out", str(tmp_path / "out"), "--seed", "7", "--audit", str(tmp_path / "audit.jsonl"))


def test_run_with_a_header_only_needs_table_claims_nothing_by_outcomes(tmp_path, monkeypatch):
    assert _run(tmp_path, sample_with_header_only(tmp_path, "needs"), monkeypatch) == 0
    assert (tmp_path / "out" / "claim_file.csv").exists()


@pytest.mark.parametrize("table", ["people", "programme"])
def test_run_with_a_header_only_people_or_programme_is_a_run_with_no_claims(tmp_path, monkeypatch, table):
    assert _run(tmp_path, sample_with_header_only(tmp_path, table), monkeypatch) == 0
    decisions = pd.read_csv(tmp_path / "out" / "claim_decisions.csv", dtype=str)
    assert (decisions["decision"] == "claim").sum() == 0


def test_run_with_a_programme_without_closed_on_claims_as_before(tmp_path, monkeypatch):
    folder = tmp_path / "sample-no-closed-on"
    shutil.copytree(SAMPLE_COHORT_DIR, folder)
    programme = pd.read_csv(folder / "programme.csv", dtype=str, keep_default_na=False)
    programme.drop(columns=["closed_on"]).to_csv(folder / "programme.csv", index=False)
    assert _run(tmp_path, folder, monkeypatch) == 0
    register = pd.read_csv(tmp_path / "out" / "claim_register.csv", dtype=str, keep_default_na=False)
    assert len(register) == 16 and (register["closed_on"] == "").all()


# --- 2. any Unicode in any cell -----------------------------------------------------------------------


def test_full_width_digits_are_read_as_digits_in_number_int_and_date_cells(tmp_path):
    c = cohort(tmp_path, {
        "employment": (EMPLOYMENT, ["0001,２０２０-０１-３１,,１２６", "0002,01/02/2020,,３７．５"]),
        "exclusions": ("person_id,start_date,exclusion_type,sessions", ["0001,2020-01-01,ＳＵＳＰＥＮＳＩＯＮ,１２"]),
    })
    r = ingest(c)
    assert r.errors.empty
    employment = r.cohort["employment"]
    assert employment["hours_per_week"].tolist() == [126.0, 37.5]
    assert employment["start_date"].tolist() == [pd.Timestamp("2020-01-31"), pd.Timestamp("2020-02-01")]
    assert r.cohort["exclusions"]["sessions"].tolist() == [12]
    assert r.cohort["exclusions"]["exclusion_type"].tolist() == ["suspension"]


@pytest.mark.parametrize("cell", ["inf", "-inf", "nan", "NaN", "Infinity", "1e400", "1_000", "٣", "0x10"])
def test_a_number_that_is_not_finite_digits_is_quarantined(tmp_path, cell):
    r = ingest(cohort(tmp_path, {"employment": (EMPLOYMENT, [f"0001,2020-01-01,,{cell}", "0002,2020-01-01,,16"])}))
    e = errors_for(r, "employment")
    assert e[["row", "column", "value", "check"]].values.tolist() == [[2, "hours_per_week", cell, "type:number"]]
    assert e["message"].iloc[0] == "not a number (digits with an optional decimal point, e.g. 37.5)"
    assert r.cohort["employment"]["hours_per_week"].tolist() == [16.0]
    reconciles(r)


@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\x00", "\u00ad", "\u202e"])
def test_an_invisible_character_in_an_identifier_is_quarantined_and_named(tmp_path, char):
    folder = tmp_path / "c"
    rows = [f"00{char}01,F01,Ann,Smith,1980-01-05,F,parent,,,,", GOOD_PEOPLE[1]]
    (folder).mkdir()
    (folder / "people.csv").write_text("\n".join([PEOPLE_HEADER, *rows]) + "\n", encoding="utf-8")
    (folder / "programme.csv").write_text(f"family_id,attached_on\nF0{char}1,2020-01-01\nF01,2020-01-01\n", encoding="utf-8")
    r = ingest(folder)
    code = f"U+{ord(char):04X}"
    people, programme = errors_for(r, "people"), errors_for(r, "programme")
    assert people[["row", "column", "check", "message"]].values.tolist() == [
        [2, "person_id", "invisible_character", f"person_id contains an invisible character ({code})"]]
    assert programme[["row", "column", "check", "message"]].values.tolist() == [
        [2, "family_id", "invisible_character", f"family_id contains an invisible character ({code})"]]
    assert r.cohort["people"]["person_id"].tolist() == ["0002"]
    reconciles(r)


def test_a_zero_width_joiner_in_a_name_is_kept_but_a_control_character_is_not(tmp_path):
    rows = ["0001,F01,Ann\u200dy,Smith,1980-01-05,F,parent,,,,", "0002,F01,B\x00ob,Smith,2010-12-31,M,child,,,,"]
    r = ingest(_people(tmp_path, rows))
    assert r.cohort["people"]["first_name"].tolist() == ["Ann\u200dy"]
    e = errors_for(r, "people")
    assert e[["row", "column", "check", "message"]].values.tolist() == [
        [3, "first_name", "control_character", "first_name contains a control character (U+0000)"]]


def _people(tmp_path: Path, rows: list[str]) -> Path:
    folder = tmp_path / "people-only"
    folder.mkdir()
    (folder / "people.csv").write_text("\n".join([PEOPLE_HEADER, *rows]) + "\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("cell", ["1.234567890123457e+19", "9.43477E+09", "1E+15"])
def test_an_identifier_excel_turned_into_a_rounded_number_is_quarantined(tmp_path, cell):
    r = ingest(_people(tmp_path, [f"{cell},F01,Ann,Smith,1980-01-05,F,parent,,,,", GOOD_PEOPLE[1]]))
    e = errors_for(r, "people")
    assert e[["row", "column", "value", "check", "message"]].values.tolist() == [[
        2, "person_id", cell, "excel_rounded_number", "person_id looks like a number Excel rounded; format the column as Text"]]
    reconciles(r)


def test_an_unexpected_typing_failure_never_carries_a_cells_value(tmp_path, monkeypatch):
    def boom(raw, spec):
        raise ValueError(f"Failed to parse string: '{raw.iloc[0]}'")

    monkeypatch.setattr(validate_module, "_type_column", boom)
    with pytest.raises(RuntimeError) as exc_info:
        ingest(_people(tmp_path, ["0001,F01,Ann,Secretname,1980-01-05,F,parent,,,,"]))
    message = str(exc_info.value)
    assert "table people, column person_id: typing its id cells failed (ValueError)" in message
    assert "0001" not in message and exc_info.value.__cause__ is None and exc_info.value.__suppress_context__


# --- 4. CSV problems explained --------------------------------------------------------------------------


def _raw_people(tmp_path: Path, data: bytes) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir(exist_ok=True)
    (folder / "people.csv").write_bytes(data)
    return folder


def _input_error(folder: Path) -> str:
    with pytest.raises(InputError) as exc_info:
        ingest(folder)
    return str(exc_info.value)


def lines(*rows: str, end: str = "\n") -> bytes:
    return (end.join(rows) + end).encode("utf-8")


def test_an_unclosed_quote_is_reported_at_its_row(tmp_path):
    data = lines(PEOPLE_HEADER, GOOD_PEOPLE[0], '0002,F01,"Bob,Smith,2010-12-31,M,child,,,,', "0003,F01,Cy,Smith,2012-01-01,M,child,,,,")
    assert _input_error(_raw_people(tmp_path, data)) == (
        'people.csv: row 3: a cell opens a quote (") that is never closed, so the rest of the file would be read into it: '
        "close the quote or remove it")


def test_parser_rows_count_the_blank_lines_above_the_header(tmp_path):
    data = lines("", "", PEOPLE_HEADER, GOOD_PEOPLE[0], GOOD_PEOPLE[1] + ",x")
    assert _input_error(_raw_people(tmp_path, data)).startswith("people.csv: row 5 has 12 cells but the header has 11")
    data = lines("", PEOPLE_HEADER, GOOD_PEOPLE[0], '0002,"F01,Ann', GOOD_PEOPLE[1])
    assert _input_error(_raw_people(tmp_path, data)).startswith("people.csv: row 4: a cell opens a quote")


def test_a_row_with_more_cells_than_the_header_is_named(tmp_path):
    data = lines(PEOPLE_HEADER, GOOD_PEOPLE[0], GOOD_PEOPLE[1] + ",1 High Street, Leeds")
    assert _input_error(_raw_people(tmp_path, data)) == (
        "people.csv: row 3 has 13 cells but the header has 11: a cell holding a comma must be in double quotes")


@pytest.mark.parametrize("delimiter, said", [(";", "';'"), ("\t", "tabs")])
def test_another_delimiter_than_comma_is_named(tmp_path, delimiter, said):
    rows = [r.replace(",", delimiter) for r in (PEOPLE_HEADER, *GOOD_PEOPLE)] + [f"0003{delimiter}F01{delimiter}\"1, High St\""]
    assert _input_error(_raw_people(tmp_path, lines(*rows))) == (
        f"people.csv: this file uses {said} between fields; save it as CSV with commas (CSV UTF-8)")


@pytest.mark.parametrize("title", ["People extract, March 2020", "People extract March 2020,,,,,,,,,,", ""])
def test_a_title_row_above_the_header_is_named(tmp_path, title):
    data = lines(title, PEOPLE_HEADER, *GOOD_PEOPLE) if title else lines("Extract", "", PEOPLE_HEADER, *GOOD_PEOPLE)
    row = 2 if title else 3
    assert _input_error(_raw_people(tmp_path, data)) == f"people.csv: the header seems to be on row {row}: remove the rows above it"


def test_a_title_row_above_the_header_of_a_sheet_is_named(tmp_path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "people"
    ws.append(["People extract, March 2020"])
    ws.append(PEOPLE_HEADER.split(","))
    ws.append(GOOD_PEOPLE[0].split(","))
    book.save(tmp_path / "cohort.xlsx")
    assert _input_error(tmp_path / "cohort.xlsx") == (
        "cohort.xlsx, sheet people: the header seems to be on row 2: remove the rows above it")


def test_blank_lines_above_the_header_are_skipped_and_rows_keep_their_numbers(tmp_path):
    r = ingest(_raw_people(tmp_path, lines("", "", PEOPLE_HEADER, *GOOD_PEOPLE)))
    assert r.cohort["people"]["source_row"].tolist() == [4, 5]
    r = ingest(_raw_people(tmp_path, lines(PEOPLE_HEADER, *GOOD_PEOPLE, end="\r")))  # old Mac line ends
    assert r.cohort["people"]["person_id"].tolist() == ["0001", "0002"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_refused_with_what_to_do(tmp_path, encoding):
    data = "\r\n".join(r.replace(",", "\t") for r in (PEOPLE_HEADER, *GOOD_PEOPLE)).encode(encoding)
    assert _input_error(_raw_people(tmp_path, data)) == (
        "people.csv: the file is UTF-16 text (Excel's 'Unicode Text'), not UTF-8: save it as 'CSV UTF-8 (Comma delimited)'")


def test_a_utf8_byte_order_mark_is_read_and_not_kept(tmp_path):
    r = ingest(_raw_people(tmp_path, codecs.BOM_UTF8 + lines(PEOPLE_HEADER, *GOOD_PEOPLE)))
    assert r.errors.empty and r.cohort["people"]["person_id"].tolist() == ["0001", "0002"]


def test_latin1_is_refused_naming_the_byte(tmp_path):
    data = lines(PEOPLE_HEADER, GOOD_PEOPLE[0].replace("Ann", "Zoë")).decode("utf-8").encode("latin-1")
    assert _input_error(_raw_people(tmp_path, data)) == (
        "people.csv: not UTF-8 text (invalid continuation byte at byte 117); save it as 'CSV UTF-8'")


# --- 3. errors beyond Excel's row limit -------------------------------------------------------------


def test_more_errors_than_an_excel_sheet_holds_are_all_in_the_csv_and_cut_in_the_workbook(tmp_path, monkeypatch):
    monkeypatch.setattr(write, "EXCEL_MAX_ROWS", 8)
    bad = [f"{i:04d},F01,Cy,Smith,2012-01-01,M,cousin,,,," for i in range(3, 23)]  # 20 rows, each one error
    folder = _people(tmp_path, [*GOOD_PEOPLE, *bad])
    assert cli("validate", "--input", str(folder), "--out", str(tmp_path / "v"), "--audit", str(tmp_path / "audit.jsonl")) == 0
    errors = pd.read_csv(tmp_path / "v" / "validation_errors.csv", dtype=str)
    assert len(errors) == 20
    rows = list(openpyxl.load_workbook(tmp_path / "v" / "validation_errors.xlsx")["Errors"].iter_rows(values_only=True))
    assert len(rows) == 8
    assert rows[1][0] == ("Only the first 4 of 20 rows are shown: an Excel sheet holds at most 8 rows, "
                          "so 16 rows are left out here. validation_errors.csv has every row.")
    assert rows[3][3] == "row" and [r[3] for r in rows[4:]] == [4, 5, 6, 7]
    assert not [p.name for p in (tmp_path / "v").iterdir() if p.name.startswith(".")]  # no temporary file left


# --- 5. fuzz --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_every_csv_is_processed_quarantined_or_refused_with_a_message(seed: int) -> None:
    # a falsifying seed replays with: benchmarks/fuzz_readers.py --seed SEED --inputs 1 --xlsx 0
    folder = Path(tempfile.mkdtemp(prefix="tfclaims-fuzz-"))
    try:
        outcome = check_table(folder, *random_table(random.Random(seed)))
        assert outcome.kind in {"accepted", "quarantined", "input_error"}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
