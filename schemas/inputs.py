"""The input contract: one pandera model per cohort table, and the list of those tables (``TABLES``).

Validation runs on typed frames (ingest types the raw text first, using each field's
``metadata["kind"]``), so every check here is a rule, never a parse. Optional columns are
``Optional[Series[...]]``: the column may be absent from a council's extract.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tfclaims.schemas._fields import Code, Count, Date, Id, NhsNumber, NiNumber, Number, Postcode, Text, Upn
from tfclaims.core.identifiers import ni_number_valid, nhs_number_valid, upn_valid

Int = pd.Int64Dtype
Float = pd.Float64Dtype


def _valid_or_missing(check, s: pd.Series) -> pd.Series:
    return s.isna() | check(s)


class _Identifiers(pa.DataFrameModel):
    """Checks shared by every table that may carry a person's identifiers."""

    @pa.check("upn", name="upn_check_letter")
    def _upn(cls, s: Series[str]) -> Series[bool]:
        return _valid_or_missing(upn_valid, s)

    @pa.check("nhs_number", name="nhs_number_modulus_11")
    def _nhs(cls, s: Series[str]) -> Series[bool]:
        return _valid_or_missing(nhs_number_valid, s)

    @pa.check("ni_number", name="ni_number_format")
    def _ni(cls, s: Series[str]) -> Series[bool]:
        return _valid_or_missing(ni_number_valid, s)


class People(_Identifiers):
    """One row per person."""

    person_id: Series[str] = Id(unique=True)
    family_id: Series[str] = Id()
    first_name: Series[str] = Text(required=True)
    last_name: Series[str] = Text(required=True)
    date_of_birth: Series[pd.Timestamp] = Date()
    sex: Optional[Series[str]] = Code("sex", required=False)
    relationship: Series[str] = Code("relationship")
    postcode: Optional[Series[str]] = Postcode()
    address_line_1: Optional[Series[str]] = Text()
    la_child_id: Optional[Series[str]] = Id(required=False)
    upn: Optional[Series[str]] = Upn()
    nhs_number: Optional[Series[str]] = NhsNumber()
    ni_number: Optional[Series[str]] = NiNumber()

    @pa.check("date_of_birth", name="date_of_birth_not_in_future")
    def _dob(cls, s: Series[pd.Timestamp]) -> Series[bool]:
        return s.isna() | (s <= pd.Timestamp(dt.date.today()))


class PersonEvent(_Identifiers):
    """An event table's reference to a person: ``person_id``, or an identifier, or names + date of birth."""

    person_id: Optional[Series[str]] = Id(required=False)
    la_child_id: Optional[Series[str]] = Id(required=False)
    upn: Optional[Series[str]] = Upn()
    nhs_number: Optional[Series[str]] = NhsNumber()
    ni_number: Optional[Series[str]] = NiNumber()
    first_name: Optional[Series[str]] = Text()
    last_name: Optional[Series[str]] = Text()
    date_of_birth: Optional[Series[pd.Timestamp]] = Date(required=False)
    postcode: Optional[Series[str]] = Postcode()

    @pa.dataframe_check
    def person_reference(cls, df: pd.DataFrame) -> Series[bool]:
        return has_person_reference(df)


def has_person_reference(df: pd.DataFrame) -> pd.Series:
    """person_id, or la_child_id / upn / nhs_number / ni_number, or first_name + last_name + date_of_birth."""
    ok = pd.Series(False, index=df.index)
    for col in ("person_id", "la_child_id", "upn", "nhs_number", "ni_number"):
        if col in df:
            ok |= df[col].notna()
    if {"first_name", "last_name", "date_of_birth"} <= set(df.columns):
        ok |= df["first_name"].notna() & df["last_name"].notna() & df["date_of_birth"].notna()
    return ok


def _end_not_before_start(df: pd.DataFrame, start: str, end: str) -> pd.Series:
    return df[end].isna() | df[start].isna() | (df[end] >= df[start])


def _per_distinct_value(s: pd.Series, check) -> pd.Series:
    """A check run once per distinct value (academic years, terms: a handful over millions of rows)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    ok = check(pd.Series(uniques, dtype="str")).to_numpy(dtype=bool)
    return pd.Series(np.where(codes >= 0, ok[np.maximum(codes, 0)] if len(ok) else True, True), index=s.index)


def duplicated_key(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Every row whose values in ``columns`` occur more than once (``keep=False``), via integer codes."""
    key = np.zeros(len(df), dtype=np.int64)
    size = 1
    for c in columns:
        codes, uniques = pd.factorize(df[c], use_na_sentinel=True)
        size *= len(uniques) + 1
        if size >= 1 << 62:  # the combined code would overflow: let pandas hash the columns
            return df.duplicated(columns, keep=False)
        key = key * (len(uniques) + 1) + (codes + 1)
    ordered = np.sort(key)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated) == 0:  # the usual case: no key twice, one sort tells
        return pd.Series(False, index=df.index)
    return pd.Series(np.isin(key, repeated), index=df.index)


class SchoolAttendance(PersonEvent):
    """One row per pupil per term."""

    academic_year: Series[str] = pa.Field(metadata={"kind": "text"})

    @pa.check("academic_year", name="format")
    def _year_format(cls, s: Series[str]) -> Series[bool]:
        return _per_distinct_value(s, lambda u: u.str.fullmatch(r"\d{4}/\d{2}", na=False))
    term: Series[str] = Code("term")
    sessions_possible: Series[Int] = Count()
    sessions_authorised_absence: Series[Int] = Count()
    sessions_unauthorised_absence: Series[Int] = Count()

    @pa.check("academic_year", name="academic_year_consecutive")
    def _year(cls, s: Series[str]) -> Series[bool]:
        def consecutive(u: pd.Series) -> pd.Series:
            shaped = u.str.fullmatch(r"\d{4}/\d{2}", na=False)
            first = pd.to_numeric(u.where(shaped).str.slice(0, 4), errors="coerce")
            second = pd.to_numeric(u.where(shaped).str.slice(5, 7), errors="coerce")
            return ((first + 1) % 100 == second) | ~shaped  # a badly shaped year fails `format`

        return _per_distinct_value(s, consecutive)

    @pa.dataframe_check
    def absence_within_possible(cls, df: pd.DataFrame) -> Series[bool]:
        total = df["sessions_authorised_absence"] + df["sessions_unauthorised_absence"]
        return (total <= df["sessions_possible"]).fillna(True).astype(bool)

    @pa.dataframe_check
    def one_row_per_pupil_term(cls, df: pd.DataFrame) -> Series[bool]:
        if "person_id" not in df:
            return pd.Series(True, index=df.index)
        return ~duplicated_key(df, ["person_id", "academic_year", "term"]) | df["person_id"].isna()


class Exclusions(PersonEvent):
    start_date: Series[pd.Timestamp] = Date()
    exclusion_type: Series[str] = Code("exclusion_type")
    sessions: Optional[Series[Int]] = Count(required=False)


class Offences(PersonEvent):
    offence_date: Series[pd.Timestamp] = Date()
    outcome: Series[str] = Code("offence_outcome")
    offence_type: Optional[Series[str]] = Text()


class AsbIncidents(PersonEvent):
    incident_date: Series[pd.Timestamp] = Date()
    asb_type: Series[str] = Code("asb_type")


class _Spell(PersonEvent):
    """A spell from ``start_date`` to ``end_date`` (blank = still open)."""

    start_date: Series[pd.Timestamp] = Date()
    end_date: Series[pd.Timestamp] = Date(required=False)

    @pa.dataframe_check
    def end_not_before_start(cls, df: pd.DataFrame) -> Series[bool]:
        return _end_not_before_start(df, "start_date", "end_date")


class SocialCare(_Spell):
    episode_type: Series[str] = Code("episode_type")


class Benefits(_Spell):
    benefit_type: Series[str] = Code("benefit_type")


class Employment(_Spell):
    hours_per_week: Optional[Series[Float]] = Number()


class DomesticAbuse(PersonEvent):
    incident_date: Series[pd.Timestamp] = Date()
    role: Series[str] = Code("domestic_abuse_role")
    source: Series[str] = Code("domestic_abuse_source")


class Health(PersonEvent):
    recorded_on: Series[pd.Timestamp] = Date()
    issue: Series[str] = Code("health_issue")


class _FamilyOrPersonEvent(PersonEvent):
    """An event of a household (``family_id``) or of a person (a person reference)."""

    family_id: Optional[Series[str]] = Id(required=False)

    @pa.dataframe_check
    def person_reference(cls, df: pd.DataFrame) -> Series[bool]:
        has_family = df["family_id"].notna() if "family_id" in df else False
        return has_person_reference(df) | has_family


class Housing(_FamilyOrPersonEvent):
    """A family's housing record: ``family_id`` or a person reference."""

    recorded_on: Series[pd.Timestamp] = Date()
    issue: Series[str] = Code("housing_issue")
    resolved_on: Optional[Series[pd.Timestamp]] = Date(required=False)


class LocalEvents(_FamilyOrPersonEvent):
    """An event from a council's own system (``source``), coded with a code the local plan declares."""

    event_date: Series[pd.Timestamp] = Date()
    source: Series[str] = Text(required=True)
    code: Series[str] = Id()
    value: Optional[Series[Float]] = Number(signed=True)


class LocalSpells(_Spell):
    """A spell from a council's own system (``source``), coded with a code the local plan declares."""

    code: Series[str] = Id()
    source: Series[str] = Text(required=True)


class Needs(pa.DataFrameModel):
    """Needs recorded by practitioners in assessments."""

    family_id: Series[str] = Id()
    person_id: Optional[Series[str]] = Id(required=False)
    headline: Series[str] = Code("headline")
    need_code: Optional[Series[str]] = Text()
    identified_on: Series[pd.Timestamp] = Date()
    outcome: Series[str] = Code("need_outcome")
    outcome_on: Optional[Series[pd.Timestamp]] = Date(required=False)
    evidence_ref: Optional[Series[str]] = Text()

    @pa.dataframe_check
    def outcome_on_when_decided(cls, df: pd.DataFrame) -> Series[bool]:
        decided = df["outcome"].isin(["met", "not_met"])
        has_date = df["outcome_on"].notna() if "outcome_on" in df else False
        return ~decided | has_date

    @pa.dataframe_check
    def outcome_not_before_identified(cls, df: pd.DataFrame) -> Series[bool]:
        if "outcome_on" not in df:
            return pd.Series(True, index=df.index)
        return _end_not_before_start(df, "identified_on", "outcome_on")


class Programme(pa.DataFrameModel):
    """The council's register of families worked with."""

    family_id: Series[str] = Id(unique=True)
    attached_on: Series[pd.Timestamp] = Date()
    lead_practitioner: Optional[Series[str]] = Text()
    whole_family_assessment_on: Optional[Series[pd.Timestamp]] = Date(required=False)
    action_plan_on: Optional[Series[pd.Timestamp]] = Date(required=False)
    closed_on: Optional[Series[pd.Timestamp]] = Date(required=False)
    closure_reason: Optional[Series[str]] = Code("closure_reason", required=False)
    discretion_note: Optional[Series[str]] = Text()

    @pa.dataframe_check
    def closed_not_before_attached(cls, df: pd.DataFrame) -> Series[bool]:
        if "closed_on" not in df:
            return pd.Series(True, index=df.index)
        return _end_not_before_start(df, "attached_on", "closed_on")


INPUT_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "people": People,
    "school_attendance": SchoolAttendance,
    "exclusions": Exclusions,
    "offences": Offences,
    "asb_incidents": AsbIncidents,
    "social_care": SocialCare,
    "benefits": Benefits,
    "employment": Employment,
    "domestic_abuse": DomesticAbuse,
    "health": Health,
    "housing": Housing,
    "needs": Needs,
    "programme": Programme,
}
# The council's own sources: rows coded with the codes its local plan declares (``local_codes``).
LOCAL_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "local_events": LocalEvents,
    "local_spells": LocalSpells,
}
INPUT_MODELS.update(LOCAL_MODELS)
# The tables of the input contract, in the order they are reported; every stage imports these.
TABLES: tuple[str, ...] = tuple(INPUT_MODELS)
# The local tables (validated against the plan's ``local_codes``), and the national ones.
LOCAL_TABLES: tuple[str, ...] = tuple(LOCAL_MODELS)
NATIONAL_TABLES: tuple[str, ...] = tuple(t for t in TABLES if t not in LOCAL_TABLES)
# The tables whose rows refer to a person (linked to the people table).
EVENT_TABLES: tuple[str, ...] = tuple(t for t, model in INPUT_MODELS.items() if issubclass(model, PersonEvent))
# The event tables whose rows may name a household (``family_id``) instead of a person.
FAMILY_EVENT_TABLES: tuple[str, ...] = tuple(t for t, model in INPUT_MODELS.items() if issubclass(model, _FamilyOrPersonEvent))

# Human wording of each named check, for the row-level error report.
CHECK_MESSAGES: dict[str, str] = {
    "upn_check_letter": "not a valid UPN (13 characters with a correct check letter)",
    "nhs_number_modulus_11": "not a valid NHS number (10 digits with a correct modulus-11 check digit)",
    "ni_number_format": "not a National Insurance number (format QQ123456C)",
    "date_of_birth_not_in_future": "date of birth is in the future",
    "person_reference": "no person reference: give person_id, or la_child_id / upn / nhs_number / ni_number, or first_name + last_name + date_of_birth",
    "academic_year_consecutive": "academic year must be YYYY/YY with the second year following the first (e.g. 2023/24)",
    "absence_within_possible": "authorised + unauthorised absence exceeds sessions possible",
    "one_row_per_pupil_term": "duplicate key: more than one row for this pupil, academic year and term",
    "end_not_before_start": "end_date is before start_date",
    "outcome_on_when_decided": "outcome_on is required when outcome is met or not_met",
    "outcome_not_before_identified": "outcome_on is before identified_on",
    "closed_not_before_attached": "closed_on is before attached_on",
}

# The columns each wide (dataframe-level) check is about, for the report's ``column`` field.
CHECK_COLUMNS: dict[str, str] = {
    "person_reference": "person_id",
    "absence_within_possible": "sessions_possible",
    "one_row_per_pupil_term": "person_id",
    "end_not_before_start": "end_date",
    "outcome_on_when_decided": "outcome_on",
    "outcome_not_before_identified": "outcome_on",
    "closed_not_before_attached": "closed_on",
}
