"""Each registered success measure on its own, on tiny hand-built families: met, not met and not
yet (and not evaluated where a table is missing), its evidence rows and its describe() sentence.

The measure is evaluated directly (``MEASURE_REGISTRY[...].evaluate`` over a one-headline
families frame in a :class:`MeasureContext`); the few statuses a measure leaves to what every
measure shares (needs rows judged by track, sf-2022's closure timing) are checked through track."""

from __future__ import annotations

import pandas as pd
import pytest

from cohort_builder import cohort, person, programme, term
from measure_helpers import judge_measure
from tfclaims.rules.frameworks import Framework, load_framework
from tfclaims.rules.measures import (
    MEASURE_REGISTRY,
    EducationSinceClosure,
    EducationSinceClosureParams,
    EducationTerms,
    EducationTermsParams,
    NeedsOnly,
    NoParams,
    NoRecurrenceSinceClosure,
    NoRecurrenceWindow,
    NoRecurrenceWindowParams,
    SuccessMeasure,
)
from tfclaims.rules.track import track

TF = load_framework("tf-phase2")
SF = load_framework("sf-2022")
PEOPLE = [person("P1", "F1", "1980-01-01", "parent"), person("C1", "F1", "2010-05-05", "child")]


def judge(fw: Framework, headline: str, a: str, prog: list[dict], needs_rows: bool | None = None, **tables) -> tuple[str, str, pd.DataFrame]:
    """(status, detail, evidence) of ``headline`` for family F1 by its measure alone (see measure_helpers)."""
    return judge_measure(fw, headline, a, prog, PEOPLE, needs_rows, **tables)


def offence(pid: str, date: str) -> dict:
    return dict(person_id=pid, offence_date=date, outcome="proven")


def test_registry_holds_each_measure_once_by_name():
    assert set(MEASURE_REGISTRY) == {
        "no_recurrence_window", "education_terms", "needs_only", "no_recurrence_since_closure", "education_since_closure",
        "comparative_reduction", "continuous_status", "any_of", "all_of", "attendance_improvement",
    }
    for name, m in MEASURE_REGISTRY.items():
        assert isinstance(m, SuccessMeasure) and m.name == name
    assert MEASURE_REGISTRY["education_terms"].tables(EducationTermsParams(check_exclusions=False)) == ("needs", "school_attendance")
    assert MEASURE_REGISTRY["no_recurrence_window"].tables(NoRecurrenceWindowParams(), ("offences",)) == ("needs", "offences")
    assert MEASURE_REGISTRY["needs_only"].tables(NoParams(), ("health",)) == ("needs",)


# --- no_recurrence_window (tf-phase2 crime_asb) ------------------------------------------------

TF_PROG = [programme("F1", "2020-01-15")]
BEFORE = [offence("P1", "2019-12-01")]


def test_no_recurrence_window_met():
    s, d, _ = judge(TF, "crime_asb", "2021-03-31", TF_PROG, offences=BEFORE)
    assert s == "met"
    assert d == "no proven offence or ASB incident in the 6 months to 2021-03-31, at least 6 months after attachment on 2020-01-15; any needs rows met"


def test_no_recurrence_window_not_met():
    s, d, ev = judge(TF, "crime_asb", "2021-03-31", TF_PROG, offences=BEFORE + [offence("C1", "2021-01-01")])
    assert (s, d) == ("not_met", "C1: proven offence on 2021-01-01 within the 6 months to 2021-03-31")
    assert len(ev) == 1 and ev["row"].tolist() == [1]


def test_no_recurrence_window_not_yet():
    s, d, _ = judge(TF, "crime_asb", "2020-06-30", TF_PROG, offences=BEFORE)
    assert (s, d) == ("not_yet", "the 6 months from attachment on 2020-01-15 end on 2020-07-15")


def test_no_recurrence_window_not_evaluated():
    s, d, _ = judge(TF, "crime_asb", "2021-03-31", TF_PROG, offences=None)
    assert (s, d) == ("not_evaluated", "not evaluated: offences not supplied")


def test_no_recurrence_window_describe():
    assert NoRecurrenceWindow().describe(NoRecurrenceWindowParams(window_months=12, sustain_months=3), labels="proven offence") == (
        "no proven offence in the 12 months to {as_of}, at least 3 months after attachment on {attached_on}; any needs rows met"
    )


# --- education_terms (tf-phase2 education) -------------------------------------------------------

EDU_PROG = [programme("F1", "2020-01-01")]
EDU_TERMS = [("2019/20", "spring"), ("2019/20", "summer"), ("2020/21", "autumn")]


def edu_terms(*absent: int) -> list[dict]:
    return [term("C1", "2019/20", "autumn", 100, 30)] + [term("C1", y, t, 100, r) for (y, t), r in zip(EDU_TERMS, absent)]


def test_education_terms_met():
    s, d, ev = judge(TF, "education", "2021-03-31", EDU_PROG, school_attendance=edu_terms(5, 5, 9))
    assert s == "met"
    assert d == "each child's latest 3 terms since attachment below 10% absence with no permanent exclusion or repeated suspensions; any needs rows met"
    assert len(ev) == 3  # the three terms judged


def test_education_terms_not_met():
    s, d, _ = judge(TF, "education", "2021-03-31", EDU_PROG, school_attendance=edu_terms(5, 5, 10))
    assert (s, d) == ("not_met", "C1: absence 10.0% in autumn 2020/21 (must be below 10%)")
    exclusion = [dict(person_id="C1", start_date="2020-05-01", exclusion_type="permanent")]
    s, d, _ = judge(TF, "education", "2021-03-31", EDU_PROG, school_attendance=edu_terms(5, 5, 9), exclusions=exclusion)
    assert s == "not_met" and d.startswith("C1: permanent exclusion on 2020-05-01 within the 3 terms judged (")


def test_education_terms_not_yet():
    s, d, _ = judge(TF, "education", "2021-03-31", EDU_PROG, school_attendance=edu_terms(5, 5))
    assert (s, d) == ("not_yet", "C1: 2 of 3 terms since attachment have ended by 2021-03-31")
    s, d, _ = judge(TF, "education", "2021-03-31", EDU_PROG, school_attendance=edu_terms())
    assert (s, d) == ("not_yet", "no child has a school term starting on or after attachment on 2020-01-01 and ending by 2021-03-31")


def test_education_terms_describe():
    p = EducationTermsParams(terms=2, absence_threshold=0.15, check_exclusions=False)
    assert EducationTerms().describe(p) == "each child's latest 2 terms since attachment below 15% absence; any needs rows met"


# --- needs_only (tf-phase2 health) ---------------------------------------------------------------


def test_needs_only_met_when_a_needs_row_counts():
    s, d, _ = judge(TF, "health", "2021-03-31", TF_PROG, needs_rows=True)
    assert (s, d) == ("met", "every needs row of health met by 2021-03-31")


def test_needs_only_not_yet_without_a_needs_row():
    s, d, _ = judge(TF, "health", "2021-03-31", TF_PROG, needs_rows=False)
    assert (s, d) == ("not_yet", "no needs row of health records an outcome by 2021-03-31")
    # needs not supplied: the measure adds nothing (track reports the headline not evaluated)
    assert judge(TF, "health", "2021-03-31", TF_PROG, needs_rows=None)[0] == "met"


def test_needs_only_not_met_comes_from_the_needs_rows():
    # a needs row recorded not met fails every measure; track judges needs rows once for all
    c = cohort(PEOPLE, programme=TF_PROG, needs=[dict(family_id="F1", person_id=None, headline="health", identified_on="2019-12-01", outcome="not_met", outcome_on="2021-01-01")])
    o = track(c, TF, "2021-03-31").outcomes.set_index("headline")
    assert o.loc["health", "status"] == "not_met" and o.loc["health", "detail"] == "family: need identified on 2019-12-01 recorded not met on 2021-01-01"


def test_needs_only_describe():
    assert NeedsOnly().describe(NoParams(), headline="early_years") == "every needs row of early_years met by {as_of}"


# --- no_recurrence_since_closure (sf-2022 crime) -------------------------------------------------

SF_PROG = [programme("F1", "2022-10-10", closed_on="2023-05-31")]
SF_BEFORE = [offence("P1", "2022-09-01")]


def test_no_recurrence_since_closure_met():
    s, d, _ = judge(SF, "crime", "2023-12-31", SF_PROG, offences=SF_BEFORE + [offence("P1", "2023-05-31")])
    assert (s, d) == ("met", "no recurrence of proven offence or ASB incident between closure on 2023-05-31 and 2023-12-31; any needs rows met")


def test_no_recurrence_since_closure_not_met():
    s, d, ev = judge(SF, "crime", "2023-12-31", SF_PROG, offences=SF_BEFORE + [offence("P1", "2023-06-01")])
    assert (s, d) == ("not_met", "P1: proven offence on 2023-06-01 after closure on 2023-05-31")
    assert len(ev) == 1


def test_no_recurrence_since_closure_not_yet_is_the_frameworks_closure_timing():
    # the measure judges (closed_on, A]; "not yet" is sf-2022's 6 months after closure, for every headline
    c = cohort(PEOPLE, programme=SF_PROG, offences=SF_BEFORE)
    o = track(c, SF, "2023-11-29").outcomes.set_index("headline")
    assert o.loc["crime", "status"] == "not_yet"
    assert o.loc["crime", "detail"] == "the 6 months after closure on 2023-05-31 end on 2023-11-30"


def test_no_recurrence_since_closure_describe():
    assert NoRecurrenceSinceClosure().describe(NoParams(), labels="health record") == (
        "no recurrence of health record between closure on {closed_on} and {as_of}; any needs rows met"
    )


# --- education_since_closure (sf-2022 education) -------------------------------------------------

BEFORE_CLOSURE = [term("C1", "2021/22", "summer", 100, 30)]


@pytest.mark.parametrize(
    "terms, exclusions, expected, detail",
    [
        ([term("C1", "2023/24", "autumn", 100, 5)], [], "met", "no recurrence of absence or exclusion between closure on 2023-05-31 and 2024-01-31; any needs rows met"),
        ([term("C1", "2023/24", "autumn", 100, 10)], [], "not_met", "C1: absence 10.0% in autumn 2023/24 after closure (must be below 10%)"),
        ([term("C1", "2023/24", "autumn", 100, 5)], [dict(person_id="C1", start_date="2023-09-10", exclusion_type="permanent")], "not_met", "C1: permanent exclusion on 2023-09-10 after closure on 2023-05-31"),
        ([], [], "not_yet", "no school term starting on or after closure on 2023-05-31 has ended by 2024-01-31"),
    ],
)
def test_education_since_closure(terms, exclusions, expected, detail):
    s, d, _ = judge(SF, "education", "2024-01-31", SF_PROG, school_attendance=BEFORE_CLOSURE + terms, exclusions=exclusions)
    assert (s, d) == (expected, detail)


def test_education_since_closure_describe():
    assert EducationSinceClosure().describe(EducationSinceClosureParams()) == (
        "no recurrence of absence or exclusion between closure on {closed_on} and {as_of}; any needs rows met"
    )
