"""The synthetic cohort generator: reproducible, contract-shaped, valid where clean, exact about its errors."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml

from tfclaims.core.identifiers import (
    ni_number_valid,
    nhs_number_valid,
    normalise_postcode,
    upn_valid,
)
from tfclaims.core.resources import REFERENCE_DIR
from tfclaims.schemas.inputs import NATIONAL_TABLES as TABLES  # what synth writes by default (no local tables)
from tfclaims.synth.generate import ERROR_CLASSES, generate_cohort, write_cohort

# The contract's columns, written out independently of the generator.
CONTRACT = {
    "people": ["person_id", "family_id", "first_name", "last_name", "date_of_birth", "sex", "relationship",
               "postcode", "address_line_1", "upn", "nhs_number", "ni_number"],
    "school_attendance": ["academic_year", "term", "sessions_possible", "sessions_authorised_absence",
                          "sessions_unauthorised_absence"],
    "exclusions": ["start_date", "exclusion_type", "sessions"],
    "offences": ["offence_date", "outcome", "offence_type"],
    "asb_incidents": ["incident_date", "asb_type"],
    "social_care": ["episode_type", "start_date", "end_date"],
    "benefits": ["benefit_type", "start_date", "end_date"],
    "employment": ["start_date", "end_date", "hours_per_week"],
    "domestic_abuse": ["incident_date", "role", "source"],
    "health": ["recorded_on", "issue"],
    "housing": ["family_id", "recorded_on", "issue", "resolved_on"],
    "needs": ["family_id", "person_id", "headline", "need_code", "identified_on", "outcome", "outcome_on",
              "evidence_ref"],
    "programme": ["family_id", "attached_on", "lead_practitioner", "whole_family_assessment_on", "action_plan_on",
                  "closed_on", "closure_reason", "discretion_note"],
}
EVENT = ["school_attendance", "exclusions", "offences", "asb_incidents", "social_care", "benefits", "employment",
         "domestic_abuse", "health", "housing"]
CODE_COLUMNS = {
    ("people", "sex"): "sex", ("people", "relationship"): "relationship", ("school_attendance", "term"): "term",
    ("exclusions", "exclusion_type"): "exclusion_type", ("offences", "outcome"): "offence_outcome",
    ("asb_incidents", "asb_type"): "asb_type", ("social_care", "episode_type"): "episode_type",
    ("benefits", "benefit_type"): "benefit_type", ("domestic_abuse", "role"): "domestic_abuse_role",
    ("domestic_abuse", "source"): "domestic_abuse_source", ("health", "issue"): "health_issue",
    ("housing", "issue"): "housing_issue", ("needs", "outcome"): "need_outcome", ("needs", "headline"): "headline",
    ("programme", "closure_reason"): "closure_reason",
}


def read_folder(folder: Path) -> dict[str, pd.DataFrame]:
    """Every table as text, no NA guessing (a surname ``NA`` stays ``NA``), blank = missing."""
    return {t: pd.read_csv(folder / f"{t}.csv", dtype=str, keep_default_na=False, na_values=[""])
            for t in TABLES}


def parse_dates(s: pd.Series) -> pd.Series:
    iso = pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")
    uk = pd.to_datetime(s, format="%d/%m/%Y", errors="coerce")
    return iso.fillna(uk)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    out = tmp_path_factory.mktemp("clean")
    write_cohort(generate_cohort(200, seed=7), out)
    return read_folder(out)


@pytest.fixture(scope="module")
def with_errors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("errors")
    write_cohort(generate_cohort(80, seed=11, error_rate=0.02), out)
    return out


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file's bytes; the README names the --out folder, so that is written as <DIR>."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    readme = "synth/README.md"
    files[readme] = files[readme].replace(str(folder).encode(), b"<DIR>")
    return files


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_cohort(generate_cohort(60, seed=seed, error_rate=0.01), tmp_path / name)
    a, b, c = (files_of(tmp_path / n) for n in "abc")
    assert len(a) == 13 + 3 and a == b
    assert a.keys() == c.keys()
    assert all(a[f] != c[f] for f in ("people.csv", "school_attendance.csv", "synth/manifest.csv"))


def test_xlsx_is_reproducible(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_cohort(generate_cohort(15, seed=3, error_rate=0.01), tmp_path / name, xlsx=True)
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")


def test_every_table_has_the_contract_columns(clean: dict[str, pd.DataFrame]) -> None:
    assert list(clean) == list(CONTRACT)
    for table, cols in CONTRACT.items():
        df = clean[table]
        assert len(df) > 0, table
        if table in EVENT:
            assert "person_id" in df.columns, table
        assert set(cols) <= set(df.columns), (table, set(cols) - set(df.columns))
        assert set(df.columns) <= set(cols) | {"person_id"}, table


def test_ids_are_zero_padded_text(clean: dict[str, pd.DataFrame]) -> None:
    people = clean["people"]
    assert people["person_id"].str.fullmatch(r"P\d{7}").all() and people["person_id"].is_unique
    assert people["family_id"].str.fullmatch(r"F\d{6}").all()
    assert people["person_id"].iloc[0] == "P0000001"
    assert set(clean["programme"]["family_id"]) <= set(people["family_id"])
    assert set(clean["needs"]["family_id"]) <= set(people["family_id"])
    for t in EVENT:
        ids = clean[t]["person_id"].dropna()
        assert ids.isin(people["person_id"]).all(), t


def test_clean_identifiers_pass_the_checks(clean: dict[str, pd.DataFrame]) -> None:
    people = clean["people"]
    upn, nhs, ni, pc = (people[c].dropna() for c in ("upn", "nhs_number", "ni_number", "postcode"))
    assert len(upn) > 50 and upn_valid(upn).all() and upn.is_unique
    assert len(nhs) > 300 and nhs_number_valid(nhs).all() and nhs.str.startswith("9").all() and nhs.is_unique
    assert len(ni) > 200 and ni_number_valid(ni).all() and ni.is_unique
    assert normalise_postcode(pc).notna().all()
    lower = pc[pc.str.fullmatch(r"[a-z0-9]+")]
    assert len(lower) >= 2  # valid once normalised
    assert (normalise_postcode(lower) != lower).all()


def test_clean_cells_follow_the_contract(clean: dict[str, pd.DataFrame]) -> None:
    with open(REFERENCE_DIR / "codes.yaml", encoding="utf-8") as fh:
        codes = yaml.safe_load(fh)
    for (table, col), code_list in CODE_COLUMNS.items():
        values = clean[table][col].dropna()
        assert values.isin([str(c) for c in codes[code_list]]).all(), (table, col, set(values) - set(codes[code_list]))
    dayfirst = 0
    for table, df in clean.items():
        for col in df.columns:
            if col.endswith(("_date", "_on")) or col == "date_of_birth":
                s = df[col].dropna()
                parsed = parse_dates(s)
                assert parsed.notna().all(), (table, col, s[parsed.isna()].head())
                assert (parsed.dt.year >= 1900).all() and (parsed.dt.year <= 2100).all()
                dayfirst += int(s.str.contains("/").sum())
    assert dayfirst > 20  # a minority of dates written 31/03/2024
    att = clean["school_attendance"]
    n = att[["sessions_possible", "sessions_authorised_absence", "sessions_unauthorised_absence"]].astype(int)
    assert (n >= 0).all().all()
    assert (n["sessions_authorised_absence"] + n["sessions_unauthorised_absence"] <= n["sessions_possible"]).all()
    assert not att.duplicated(["person_id", "academic_year", "term"]).any()
    first, second = att["academic_year"].str[:4].astype(int), att["academic_year"].str[5:].astype(int)
    assert ((first + 1) % 100 == second).all()
    for table, start, end in (("social_care", "start_date", "end_date"), ("benefits", "start_date", "end_date"),
                              ("employment", "start_date", "end_date"), ("programme", "attached_on", "closed_on"),
                              ("needs", "identified_on", "outcome_on")):
        df = clean[table]
        s, e = parse_dates(df[start]), parse_dates(df[end])
        assert (e.isna() | (e >= s)).all(), table
    assert clean["programme"]["family_id"].is_unique
    needs = clean["needs"]
    decided = needs["outcome"].isin(["met", "not_met"])
    assert needs.loc[decided, "outcome_on"].notna().all()


def test_nasty_values_survive_as_data(clean: dict[str, pd.DataFrame]) -> None:
    people = clean["people"]
    assert people["last_name"].isin(["NA", "None", "Null", "NULL", "nan"]).sum() >= 2
    assert people["first_name"].str.match(r"[=\-+@]").sum() >= 2
    assert people[["first_name", "last_name"]].notna().all().all()


def test_household_structure(clean: dict[str, pd.DataFrame]) -> None:
    people = clean["people"].copy()
    period_end = pd.Timestamp("2020-03-31")
    people["dob"] = parse_dates(people["date_of_birth"])
    age = (period_end - people["dob"]).dt.days / 365.25
    adult = people["relationship"].isin(["parent", "other_adult"]) & (age >= 18)
    expectant = people["relationship"] == "expectant_parent"
    resident_adult = (adult | expectant).groupby(people["family_id"]).any()
    assert resident_adult.all()
    children = people["relationship"] == "child"
    assert ((age[children] >= 0) & (age[children] < 18)).all()
    school_age = children & (age >= 5) & (age < 16)
    assert school_age.sum() > 50 and people.loc[school_age, "upn"].notna().all()
    assert people.loc[~children, "upn"].isna().all()
    # parents are old enough for their children
    eldest = age[children].groupby(people.loc[children, "family_id"]).max()
    oldest_parent = age[people["relationship"] == "parent"].groupby(people["family_id"]).max()
    both = eldest.index.intersection(oldest_parent.index)
    assert (oldest_parent[both] - eldest[both] >= 16).all()
    # non-resident parents live elsewhere; everyone else shares the household postcode
    pc = normalise_postcode(people["postcode"])
    nrp = people["relationship"] == "non_resident_parent"
    assert nrp.sum() >= 5
    home = pc[~nrp].groupby(people.loc[~nrp, "family_id"]).agg(lambda s: s.dropna().iloc[0] if s.notna().any() else None)
    nrp_fam = people.loc[nrp, "family_id"]
    assert (pc[nrp].to_numpy() != home.reindex(nrp_fam).to_numpy()).all()
    assert (pc[~nrp].groupby(people.loc[~nrp, "family_id"]).nunique() <= 1).all()
    # expectant parents with no children exist
    fam_children = children.groupby(people["family_id"]).sum()
    fam_expectant = expectant.groupby(people["family_id"]).any()
    assert (fam_expectant & (fam_children == 0)).sum() >= 3


def test_histories_spread_over_the_framework_cases() -> None:
    cohort = generate_cohort(400, seed=21)
    t, sc = cohort.tables, cohort.scenarios
    attached = sc["attached"] == "true"
    assert 0.35 < attached.mean() < 0.65
    assert set(sc.loc[attached, "trajectory"]) == {"resolved", "persisting", "relapse"}
    prog = t["programme"]
    att = parse_dates(prog["attached_on"])
    period_end = pd.Timestamp("2020-03-31")
    assert (att > period_end).any() and (att <= period_end - pd.DateOffset(months=12)).sum() > 30
    assert prog["closed_on"].notna().sum() > 20 and prog["discretion_note"].notna().sum() >= 3
    assert prog["lead_practitioner"].isna().any() and prog["whole_family_assessment_on"].isna().any()
    assert set(t["needs"]["outcome"]) == {"open", "met", "not_met", "withdrawn"}
    assert set(t["offences"]["outcome"]) == {"proven", "not_proven", "pending"}
    assert {"cin", "cp", "early_help"} <= set(t["social_care"]["episode_type"])
    assert {"JSA", "UC_SEARCHING", "ESA"} <= set(t["benefits"]["benefit_type"])
    assert {"suspension", "permanent"} == set(t["exclusions"]["exclusion_type"])
    # employment that starts after the person's family was attached (continuous employment cases)
    people = t["people"][["person_id", "family_id"]]
    emp = t["employment"].merge(people, on="person_id").merge(prog[["family_id", "attached_on"]], on="family_id")
    started = parse_dates(emp["start_date"])
    attached_on = parse_dates(emp["attached_on"])
    ended = parse_dates(emp["end_date"]).fillna(period_end + pd.DateOffset(years=1))
    after = started >= attached_on
    assert after.sum() >= 10
    assert ((ended - started).dt.days[after] >= 26 * 7).sum() >= 3
    assert (sc["non_resident_parent_problems"].fillna("") != "").sum() >= 5
    # absence rates vary: some terms of 10% or more, most below
    att_t = t["school_attendance"]
    rate = (att_t["sessions_authorised_absence"].astype(int) + att_t["sessions_unauthorised_absence"].astype(int)) / \
        att_t["sessions_possible"].astype(int).replace(0, np.nan)
    assert 0.03 < (rate >= 0.10).mean() < 0.5


def test_sf_2022_uses_its_dates_and_headlines() -> None:
    cohort = generate_cohort(150, seed=2, framework="sf-2022")
    att = parse_dates(cohort.tables["programme"]["attached_on"])
    assert (att < pd.Timestamp("2022-10-03")).any() and (att > pd.Timestamp("2024-09-30")).any()
    headlines = set(cohort.tables["needs"]["headline"].dropna())
    assert "financial_stability" in headlines and "crime_asb" not in headlines


def _cell_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d")
    return str(v)


def _check_manifest(manifest: pd.DataFrame, lookup) -> None:  # noqa: ANN001
    for m in manifest.itertuples():
        header, row = lookup(m.table, int(m.row))
        assert m.column in header, m
        value = row[header.index(m.column)]
        if m.error_class == "no_person_reference":
            refs = [c for c in ("person_id", "family_id") if c in header]
            assert all(row[header.index(c)] == "" for c in refs), m
        assert value == m.value, (m, value)


def test_every_error_class_is_injected_and_at_its_row(with_errors: Path) -> None:
    manifest = pd.read_csv(with_errors / "synth" / "manifest.csv", dtype=str, keep_default_na=False)
    assert list(manifest.columns) == ["table", "file", "sheet", "row", "column", "error_class", "value"]
    assert set(manifest["error_class"]) == set(ERROR_CLASSES)
    assert (manifest["file"] == manifest["table"] + ".csv").all() and (manifest["sheet"] == "").all()
    assert not manifest.duplicated(["table", "row"]).any()  # one error per row
    rows = {}
    for t in TABLES:
        with open(with_errors / f"{t}.csv", encoding="utf-8", newline="") as fh:
            rows[t] = list(csv.reader(fh))

    def lookup(table: str, row: int) -> tuple[list[str], list[str]]:
        return rows[table][0], rows[table][row - 1]  # the header is row 1

    _check_manifest(manifest, lookup)
    # duplicate keys: every listed row shares its key with another listed row
    dup = manifest[manifest["error_class"] == "duplicate_key"]
    assert (dup.groupby(["table", "value"]).size() >= 2).all()
    # rows not in the manifest are clean for the simplest checks
    people = pd.read_csv(with_errors / "people.csv", dtype=str, keep_default_na=False, na_values=[""])
    listed = set(manifest.loc[manifest["table"] == "people", "row"].astype(int) - 2)
    clean = people.drop(index=sorted(listed))
    assert clean["person_id"].is_unique
    assert upn_valid(clean["upn"].dropna()).all() and nhs_number_valid(clean["nhs_number"].dropna()).all()
    assert ni_number_valid(clean["ni_number"].dropna()).all()
    assert normalise_postcode(clean["postcode"].dropna()).notna().all()


def test_errors_are_roughly_the_rate() -> None:
    cohort = generate_cohort(150, seed=4, error_rate=0.05)
    rows = sum(len(df) for df in cohort.tables.values())
    assert 0.03 * rows < len(cohort.manifest) < 0.08 * rows
    assert generate_cohort(150, seed=4).manifest.empty


def test_xlsx_has_one_sheet_per_table_with_dates_as_dates_and_ids_as_text(tmp_path: Path) -> None:
    cohort = generate_cohort(60, seed=9, error_rate=0.01)
    write_cohort(cohort, tmp_path, xlsx=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.xlsx", "synth"]
    wb = openpyxl.load_workbook(tmp_path / "cohort.xlsx")
    assert wb.sheetnames == list(TABLES)
    manifest = pd.read_csv(tmp_path / "synth" / "manifest.csv", dtype=str, keep_default_na=False)
    assert (manifest["file"] == "cohort.xlsx").all() and (manifest["sheet"] == manifest["table"]).all()
    listed = {(t, int(r)) for t, r in zip(manifest["table"], manifest["row"])}
    ws = wb["people"]
    header = [c.value for c in ws[1]]
    dob, pid, nhs = header.index("date_of_birth"), header.index("person_id"), header.index("nhs_number")
    iso_rows = 0
    for i, row in enumerate(ws.iter_rows(min_row=2), start=2):
        assert row[pid].data_type == "s"
        assert row[nhs].value is None or row[nhs].data_type == "s"
        text = cohort.tables["people"].at[i - 2, "date_of_birth"]
        if ("people", i) not in listed and isinstance(text, str) and "-" in text:
            assert isinstance(row[dob].value, dt.datetime), (i, row[dob].value)
            assert row[dob].value.strftime("%Y-%m-%d") == text
            iso_rows += 1
        elif isinstance(text, str) and "/" in text:
            assert row[dob].value == text  # day-first dates stay text (valid per the contract)
    assert iso_rows > 150
    att = wb["school_attendance"]
    assert isinstance(att.cell(row=2, column=4).value, int)
    sheets = {name: [[_cell_text(c) for c in r] for r in wb[name].iter_rows(values_only=True)] for name in TABLES}

    def lookup(table: str, row: int) -> tuple[list[str], list[str]]:
        return sheets[table][0], sheets[table][row - 1]

    _check_manifest(manifest, lookup)
    # first names that look like formulas are text cells, never formulas
    names = [c for c in wb["people"]["C"][1:] if isinstance(c.value, str) and c.value[:1] in "=-+@"]
    assert names and all(c.data_type == "s" for c in names)


def test_cli_writes_a_cohort_and_rejects_bad_arguments(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import tfclaims.cli.synth  # noqa: F401  (registers the command; other command modules are not needed)
    from tfclaims.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["synth", "--families", "12", "--seed", "1", "--out", str(tmp_path / "c"), "--errors", "0.01"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "c" / "people.csv").exists() and (tmp_path / "c" / "synth" / "manifest.csv").exists()
    assert "--families 12 --seed 1" in (tmp_path / "c" / "synth" / "README.md").read_text(encoding="utf-8")
    for bad in (["--period-end", "31/03/2020"], ["--framework", "tf-phase9"], ["--errors", "2"]):
        result = runner.invoke(app, ["synth", "--families", "12", "--seed", "1", "--out", str(tmp_path / "d"), *bad])
        assert result.exit_code == 2, (bad, result.output)
    assert not (tmp_path / "d").exists()
