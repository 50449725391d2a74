"""Ingest and validation: the contract's cell formats, every schema check, bad input, lineage, counts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cohort_builder import workbook
from tfclaims.core.config import CouncilConfig
from tfclaims.core.errors import InputError
from tfclaims.ingest.validate import ingest
from tfclaims.options import ValidateOptions
from tfclaims.pipeline import validate

PEOPLE_HEADER = "person_id,family_id,first_name,last_name,date_of_birth,sex,relationship,postcode,upn,nhs_number,ni_number"
GOOD_PEOPLE = [
    "0001,F01,Ann,Smith,1980-01-05,F,parent,SW1A 1AA,,9434765919,AB123456C",
    "0002,F01,Bob,Smith,31/12/2010,M,child,SW1A 1AA,H801200001001,,",
]


def write(folder: Path, name: str, header: str, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def cohort(tmp_path: Path, tables: dict[str, tuple[str, list[str]]] | None = None) -> Path:
    folder = tmp_path / "cohort"
    write(folder, "people.csv", PEOPLE_HEADER, GOOD_PEOPLE)
    for name, (header, rows) in (tables or {}).items():
        write(folder, f"{name}.csv", header, rows)
    return folder


def errors_for(result, table: str) -> pd.DataFrame:
    return result.errors[result.errors["table"] == table]


# --- cell formats ------------------------------------------------------------------------------


def test_clean_people_are_typed_and_keep_lineage(tmp_path):
    r = ingest(cohort(tmp_path))
    people = r.cohort["people"]
    assert r.errors.empty
    assert people["person_id"].tolist() == ["0001", "0002"]  # leading zeros kept
    assert people["date_of_birth"].tolist() == [pd.Timestamp("1980-01-05"), pd.Timestamp("2010-12-31")]  # ISO and UK
    assert str(people["date_of_birth"].dtype) == "datetime64[ns]"
    assert people["source_file"].tolist() == ["people.csv", "people.csv"]
    assert people["source_row"].tolist() == [2, 3]


@pytest.mark.parametrize(
    "cell, expected",
    [("2024-03-31", "2024-03-31"), ("31/03/2024", "2024-03-31"), ("1/4/2024", "2024-04-01"), (" 2024-03-31 ", "2024-03-31")],
)
def test_dates_accepted(tmp_path, cell, expected):
    c = cohort(tmp_path, {"offences": ("person_id,offence_date,outcome", [f"0001,{cell},proven"])})
    r = ingest(c)
    assert r.cohort["offences"]["offence_date"].iloc[0] == pd.Timestamp(expected)


@pytest.mark.parametrize("cell", ["03/31/2024", "2024/03/31", "31-03-2024", "31 March 2024", "2024-02-30", "45000"])
def test_dates_not_guessed(tmp_path, cell):
    c = cohort(tmp_path, {"offences": ("person_id,offence_date,outcome", [f"0001,{cell},proven"])})
    r = ingest(c)
    e = errors_for(r, "offences")
    assert e[["row", "column", "check"]].values.tolist() == [[2, "offence_date", "type:date"]]
    assert e["value"].iloc[0] == cell
    assert len(r.cohort["offences"]) == 0


def test_codes_match_case_insensitively_and_are_stored_canonically(tmp_path):
    c = cohort(tmp_path, {
        "offences": ("person_id,offence_date,outcome", ["0001,2020-01-01, PROVEN "]),
        "benefits": ("person_id,benefit_type,start_date,end_date", ["0001,uc_searching,2020-01-01,"]),
    })
    r = ingest(c)
    assert r.errors.empty
    assert r.cohort["offences"]["outcome"].tolist() == ["proven"]
    assert r.cohort["benefits"]["benefit_type"].tolist() == ["UC_SEARCHING"]


def test_blank_and_space_only_cells_are_missing_and_na_surname_survives(tmp_path):
    folder = tmp_path / "c"
    write(folder, "people.csv", PEOPLE_HEADER, ["0001,F01,Ann,NA,1980-01-05,   ,parent,,,,", "0002,F01,Bob,None,2010-01-01,,child,,,,"])
    r = ingest(folder)
    assert r.errors.empty
    assert r.cohort["people"]["last_name"].tolist() == ["NA", "None"]
    assert r.cohort["people"]["sex"].isna().all()


def test_postcode_normalised(tmp_path):
    folder = tmp_path / "c"
    write(folder, "people.csv", PEOPLE_HEADER, ["0001,F01,Ann,Smith,1980-01-05,F,parent,sw1a1aa,,,", "0002,F01,Bo,Smith,2010-01-01,M,child, m1  1ae ,,,"])
    r = ingest(folder)
    assert r.cohort["people"]["postcode"].tolist() == ["SW1A 1AA", "M1 1AE"]


# --- every schema check: one failing row each (the passing rows are the clean cohort above) ---

ATT = "person_id,academic_year,term,sessions_possible,sessions_authorised_absence,sessions_unauthorised_absence"

FAILING_ROWS = [
    ("people", PEOPLE_HEADER, "0003,F01,Cy,Smith,2012-01-01,M,child,NOT A PC,,,", "postcode", "format"),
    ("people", PEOPLE_HEADER, "0003,F01,Cy,Smith,2012-01-01,M,child,,A801200001001,,", "upn", "upn_check_letter"),
    ("people", PEOPLE_HEADER, "0003,F01,Cy,Smith,2012-01-01,M,child,,H80120000100,,", "upn", "upn_check_letter"),
    ("people", PEOPLE_HEADER, "0003,F01,Cy,Smith,2012-01-01,M,child,,,9434765918,", "nhs_number", "nhs_number_modulus_11"),
    ("people", PEOPLE_HEADER, "0003,F01,Cy,Smith,2012-01-01,M,child,,,,QQ123456C", "ni_number", "ni_number_format"),
    ("people", PEOPLE_HEADER, "0003,F01,Cy,Smith,2099-01-01,M,child,,,,", "date_of_birth", "date_of_birth_not_in_future"),
    ("people", PEOPLE_HEADER, "0003,F01,Cy,Smith,1899-12-31,M,child,,,,", "date_of_birth", "date_range"),
    ("people", PEOPLE_HEADER, "0003,F01,Cy,Smith,1066-10-14,M,child,,,,", "date_of_birth", "date_range"),
    ("people", PEOPLE_HEADER, "0003,F01,Cy,Smith,14/10/1066,M,child,,,,", "date_of_birth", "date_range"),
    ("health", "person_id,recorded_on,issue", "0001,9999-12-31,other", "recorded_on", "date_range"),
    ("people", PEOPLE_HEADER, "0003,F01,Cy,Smith,2012-01-01,Q,child,,,,", "sex", "allowed_values"),
    ("people", PEOPLE_HEADER, "0003,F01,Cy,Smith,2012-01-01,M,cousin,,,,", "relationship", "allowed_values"),
    ("people", PEOPLE_HEADER, "0003,F01,,Smith,2012-01-01,M,child,,,,", "first_name", "required"),
    ("people", PEOPLE_HEADER, "0003,,Cy,Smith,2012-01-01,M,child,,,,", "family_id", "required"),
    ("school_attendance", ATT, "0002,2023/24,autumn,-1,0,0", "sessions_possible", "not_negative"),
    ("school_attendance", ATT, "0002,2023/24,autumn,10,1.5,0", "sessions_authorised_absence", "type:int"),
    ("school_attendance", ATT, "0002,2023/24,autumn,10,6,5", "sessions_possible", "absence_within_possible"),
    ("school_attendance", ATT, "0002,2023/25,autumn,10,0,0", "academic_year", "academic_year_consecutive"),
    ("school_attendance", ATT, "0002,2023-24,autumn,10,0,0", "academic_year", "format"),
    ("school_attendance", ATT, "0002,2023/24,winter,10,0,0", "term", "allowed_values"),
    ("exclusions", "person_id,start_date,exclusion_type,sessions", "0002,2023-01-01,expelled,", "exclusion_type", "allowed_values"),
    ("offences", "person_id,offence_date,outcome", ",2020-01-01,proven", "person_id", "person_reference"),
    ("asb_incidents", "person_id,incident_date,asb_type", "0001,2020-01-01,shouting", "asb_type", "allowed_values"),
    ("social_care", "person_id,episode_type,start_date,end_date", "0002,cin,2020-02-01,2020-01-01", "end_date", "end_not_before_start"),
    ("benefits", "person_id,benefit_type,start_date,end_date", "0001,XYZ,2020-01-01,", "benefit_type", "allowed_values"),
    ("employment", "person_id,start_date,end_date,hours_per_week", "0001,2020-01-01,,lots", "hours_per_week", "type:number"),
    ("domestic_abuse", "person_id,incident_date,role,source", "0001,2020-01-01,victim,neighbour", "source", "allowed_values"),
    ("health", "person_id,recorded_on,issue", "0001,2101-01-01,other", "recorded_on", "date_range"),
    ("housing", "person_id,family_id,recorded_on,issue,resolved_on", ",,2020-01-01,homeless,", "person_id", "person_reference"),
    ("needs", "family_id,headline,identified_on,outcome,outcome_on", "F01,crime_asb,2020-01-01,met,", "outcome_on", "outcome_on_when_decided"),
    ("needs", "family_id,headline,identified_on,outcome,outcome_on", "F01,hobbies,2020-01-01,open,", "headline", "allowed_values"),
    ("needs", "family_id,headline,identified_on,outcome,outcome_on", "F02,crime_asb,2020-01-01,open,", "family_id", "family_in_people"),
    ("programme", "family_id,attached_on,closed_on", "F01,2020-02-01,2020-01-01", "closed_on", "closed_not_before_attached"),
]


@pytest.mark.parametrize("table, header, row, column, check", FAILING_ROWS, ids=[f"{t}-{c}-{k}" for t, _, _, c, k in FAILING_ROWS])
def test_each_check_quarantines_its_row(tmp_path, table, header, row, column, check):
    if table == "people":
        folder = tmp_path / "c"
        write(folder, "people.csv", PEOPLE_HEADER, [*GOOD_PEOPLE, row])
        bad_row = 4
    else:
        folder = cohort(tmp_path, {table: (header, [row])})
        bad_row = 2
    r = ingest(folder)
    e = errors_for(r, table)
    assert [column, check] in e[["column", "check"]].values.tolist(), e.to_string()
    assert set(e["row"]) == {bad_row}
    assert e["file"].iloc[0] == f"{table}.csv"
    assert e["message"].str.len().min() > 5
    count = next(c for c in r.counts if c.table == table)
    assert (count.read, count.quarantined, count.accepted) == ((3, 1, 2) if table == "people" else (1, 1, 0))


def test_duplicate_keys_quarantine_every_copy(tmp_path):
    folder = tmp_path / "c"
    write(folder, "people.csv", PEOPLE_HEADER, [*GOOD_PEOPLE, "0002,F01,Bo,Smith,2011-01-01,M,child,,,,"])
    write(folder, "school_attendance.csv", ATT, ["0002,2023/24,autumn,10,0,0", "0001,2023/24,autumn,10,0,0", "0001,2023/24,autumn,12,0,0"])
    write(folder, "programme.csv", "family_id,attached_on", ["F01,2020-01-01", "F01,2020-02-01"])
    r = ingest(folder)
    assert sorted(errors_for(r, "people")["row"]) == [3, 4]
    assert set(errors_for(r, "people")["check"]) == {"duplicate_key"}
    assert sorted(errors_for(r, "school_attendance")["row"]) == [3, 4]
    assert sorted(errors_for(r, "programme")["row"]) == [2, 3]


def test_a_row_with_several_problems_is_reported_for_each_and_counted_once(tmp_path):
    c = cohort(tmp_path, {"offences": ("person_id,offence_date,outcome", ["0001,2020-13-01,guilty"])})
    r = ingest(c)
    e = errors_for(r, "offences")
    assert sorted(e["check"]) == ["allowed_values", "type:date"]
    assert r.counts[-1].quarantined == 1


def test_counts_reconcile_for_every_table(tmp_path):
    c = cohort(tmp_path, {
        "offences": ("person_id,offence_date,outcome", ["0001,2020-01-01,proven", "0001,bad,proven", ",2020-01-01,proven"]),
        "health": ("person_id,recorded_on,issue", []),
    })
    r = ingest(c)
    for count in r.counts:
        assert count.read == count.accepted + count.quarantined
        assert count.accepted == len(r.cohort[count.table])
        assert count.quarantined == errors_for(r, count.table)["row"].nunique()
    assert r.cohort.supplied("health") and len(r.cohort["health"]) == 0  # supplied empty: "no events"
    assert not r.cohort.supplied("benefits")  # not supplied: "no data"


# --- bad input that stops the run ------------------------------------------------------------


def test_missing_people_table_stops(tmp_path):
    folder = tmp_path / "c"
    write(folder, "offences.csv", "person_id,offence_date,outcome", [])
    with pytest.raises(InputError, match="people"):
        ingest(folder)


def test_missing_required_column_names_file_and_column(tmp_path):
    folder = cohort(tmp_path, {"offences": ("person_id,offence_date", ["0001,2020-01-01"])})
    with pytest.raises(InputError, match=r"offences\.csv.*outcome"):
        ingest(folder)


def test_event_table_without_any_person_reference_column_stops(tmp_path):
    folder = cohort(tmp_path, {"offences": ("offence_date,outcome", ["2020-01-01,proven"])})
    with pytest.raises(InputError, match="person reference"):
        ingest(folder)


def test_unreadable_workbook_stops_naming_the_file(tmp_path):
    folder = cohort(tmp_path)
    (folder / "extra.xlsx").write_bytes(b"this is not a zip file")
    with pytest.raises(InputError, match="extra.xlsx"):
        ingest(folder)


def test_non_utf8_csv_stops(tmp_path):
    folder = cohort(tmp_path)
    (folder / "health.csv").write_bytes("person_id,recorded_on,issue\n0001,2020-01-01,caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="health.csv.*UTF-8"):
        ingest(folder)


def test_strict_fails_on_quarantine_but_writes_the_report(tmp_path):
    folder = cohort(tmp_path, {"offences": ("person_id,offence_date,outcome", ["0001,bad,proven"])})
    out = tmp_path / "out"
    with pytest.raises(InputError, match="--strict"):
        validate(ValidateOptions.of(input=folder, out=out, council=CouncilConfig(), strict=True, audit=tmp_path / 'audit.jsonl'))
    assert (out / "validation_errors.csv").exists()
    assert not (out / "accepted").exists()


def test_failed_structure_check_writes_nothing(tmp_path):
    folder = cohort(tmp_path, {"offences": ("person_id,offence_date", ["0001,2020-01-01"])})
    out = tmp_path / "out"
    with pytest.raises(InputError):
        validate(ValidateOptions.of(input=folder, out=out, council=CouncilConfig(), audit=tmp_path / 'audit.jsonl'))
    assert not out.exists()


# --- tables, headers, aliases, split files ------------------------------------------------------


def test_table_names_headers_aliases_and_split_files(tmp_path):
    folder = cohort(tmp_path)
    write(folder, "Domestic Abuse.csv", " Person_ID ,INCIDENT_DATE,Role,src", ["0001,2020-01-01,victim,police"])
    write(folder, "domestic-abuse.csv", "person_id,incident_date,role,src", ["0002,2020-02-01,child_in_household,marac"])
    write(folder, "notes.csv", "a,b", ["1,2"])
    cfg = CouncilConfig(column_aliases={"domestic_abuse": {"SRC": "source"}})
    r = ingest(folder, cfg)
    da = r.cohort["domestic_abuse"]
    assert len(da) == 2 and set(da["source"]) == {"police", "marac"}
    assert set(da["source_file"]) == {"Domestic Abuse.csv", "domestic-abuse.csv"}
    assert {"file": "notes.csv", "sheet": "", "reason": "not a table of the input contract"} in r.ignored


def test_alias_to_unknown_column_is_an_error(tmp_path):
    folder = cohort(tmp_path)
    with pytest.raises(InputError, match="not a column"):
        ingest(folder, CouncilConfig(column_aliases={"people": {"Forename": "given_name"}}))


# --- Excel ------------------------------------------------------------------------------------




def test_excel_traps_numeric_ids_date_cells_leading_zeros_blank_cells(tmp_path):
    path = workbook(tmp_path / "cohort.xlsx", {
        "People": [
            PEOPLE_HEADER.split(","),
            ["0001", "F01", "Ann", "Smith", dt.datetime(1980, 1, 5), "F", "parent", "SW1A 1AA", None, 9434765919, None],
            [2, 1001.0, "Bob", "Smith", "31/12/2010", "M", "child", "sw1a1aa", "H801200001001", None, "   "],
        ],
        "Offences": [["person_id", "offence_date", "outcome"], ["0001", dt.date(2020, 1, 1), "Proven"], [2, 43831, "proven"]],
        "Summary": [["not", "a table"]],
    })
    r = ingest(path)
    p = r.cohort["people"]
    assert p["person_id"].tolist() == ["0001", "2"]
    assert p["family_id"].tolist() == ["F01", "1001"]  # a number cell holding an ID: no ".0"
    assert p["nhs_number"].tolist()[0] == "9434765919"
    assert p["date_of_birth"].tolist() == [pd.Timestamp("1980-01-05"), pd.Timestamp("2010-12-31")]
    assert p["ni_number"].isna().all()
    assert p["source_sheet"].tolist() == ["People", "People"] and p["source_row"].tolist() == [2, 3]
    # a General-formatted serial number in a date column is not guessed
    e = errors_for(r, "offences")
    assert e[["sheet", "row", "column", "value", "check"]].values.tolist() == [["Offences", 3, "offence_date", "43831", "type:date"]]
    assert {"file": "cohort.xlsx", "sheet": "Summary", "reason": "not a table of the input contract"} in r.ignored


def test_same_cohort_as_csv_and_xlsx_gives_identical_accepted_frames(tmp_path):
    rows = {
        "people": [PEOPLE_HEADER, *GOOD_PEOPLE],
        "benefits": ["person_id,benefit_type,start_date,end_date", "0001,JSA,2020-01-01,", "0001,esa,01/06/2020,31/12/2020"],
    }
    csv_dir = tmp_path / "csv"
    for t, lines in rows.items():
        write(csv_dir, f"{t}.csv", lines[0], lines[1:])
    xlsx = workbook(tmp_path / "c.xlsx", {t: [line.split(",") for line in lines] for t, lines in rows.items()})
    a, b = ingest(csv_dir), ingest(xlsx)
    for t in rows:
        fa = a.cohort[t].drop(columns=["source_file", "source_sheet"])
        fb = b.cohort[t].drop(columns=["source_file", "source_sheet"])
        pd.testing.assert_frame_equal(fa, fb)


def test_outputs_neutralise_formula_text(tmp_path):
    folder = tmp_path / "c"
    write(folder, "people.csv", PEOPLE_HEADER, [*GOOD_PEOPLE, "0003,F01,=HYPERLINK(1),Smith,2012-01-01,M,cousin,,,,"])
    out = tmp_path / "out"
    validate(ValidateOptions.of(input=folder, out=out, council=CouncilConfig(), audit=tmp_path / 'audit.jsonl'))
    text = (out / "validation_errors.csv").read_text(encoding="utf-8")
    assert "cousin" in text
    wb = openpyxl.load_workbook(out / "validation_errors.xlsx")
    cells = [c for row in wb["Errors"].iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)
    # the accepted people keep the name as data
    accepted = pd.read_parquet(out / "accepted" / "people.parquet")
    assert len(accepted) == 2


def test_csv_with_bom_quotes_and_embedded_newline_reads_the_same(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    body = PEOPLE_HEADER + "\n" + "\n".join(GOOD_PEOPLE) + '\n0003,F01,"Smith, Jr",Smith,2012-01-01,M,child,,,,\n'
    (folder / "people.csv").write_bytes(("\ufeff" + body).encode("utf-8"))
    fast = ingest(folder).cohort["people"]
    assert fast["first_name"].tolist() == ["Ann", "Bob", "Smith, Jr"] and fast["source_row"].tolist() == [2, 3, 4]
    # a newline inside a quoted cell: the plain reader takes over; the rows are still all there
    (folder / "people.csv").write_text(body.replace('"Smith, Jr"', '"Smith\nJr"'), encoding="utf-8")
    slow = ingest(folder).cohort["people"]
    assert slow["first_name"].tolist() == ["Ann", "Bob", "Smith\nJr"]


def test_ragged_csv_stops_naming_the_file(tmp_path):
    folder = cohort(tmp_path)
    (folder / "health.csv").write_text("person_id,recorded_on,issue\n0001,2020-01-01,other,extra,cells\n", encoding="utf-8")
    with pytest.raises(InputError, match="health.csv"):
        ingest(folder)


# --- synthetic cohorts: clean ones pass, every injected error is caught where the manifest says ---


@pytest.mark.parametrize("xlsx", [False, True], ids=["csv", "xlsx"])
def test_every_injected_error_is_reported_at_its_row_and_column(tmp_path, xlsx):
    from tfclaims.synth.generate import generate_cohort, write_cohort

    synthetic = generate_cohort(120, seed=11, error_rate=0.03)
    write_cohort(synthetic, tmp_path / "c", xlsx=xlsx)
    r = ingest(tmp_path / "c" / "cohort.xlsx" if xlsx else tmp_path / "c")
    manifest = pd.read_csv(tmp_path / "c" / "synth" / "manifest.csv", dtype=str, keep_default_na=False)
    assert len(manifest) and manifest["error_class"].nunique() >= 15
    key = ["table", "row"]
    found = r.errors.assign(row=r.errors["row"].astype(str))[key].drop_duplicates()
    expected = manifest[key].drop_duplicates()
    # every injected row is quarantined, and nothing else is
    assert sorted(map(tuple, found.values)) == sorted(map(tuple, expected.values))
    # and the error names the injected column (duplicate keys name the key column)
    cells = set(map(tuple, r.errors.assign(row=r.errors["row"].astype(str))[["table", "row", "column"]].values))
    missed = [t for t in map(tuple, manifest[["table", "row", "column"]].values) if t not in cells]
    assert not missed, missed[:5]
    if xlsx:
        assert set(r.errors["sheet"]) == set(manifest["sheet"])
    for c in r.counts:
        assert c.read == c.accepted + c.quarantined


def test_a_clean_synthetic_cohort_passes_untouched(tmp_path):
    from tfclaims.synth.generate import generate_cohort, write_cohort

    synthetic = generate_cohort(150, seed=5)
    write_cohort(synthetic, tmp_path / "c")
    r = ingest(tmp_path / "c")
    assert r.errors.empty
    assert {c.table: c.accepted for c in r.counts} == {t: len(df) for t, df in synthetic.tables.items()}
