"""Eligibility at a date: each rule of frameworks.md on tiny hand-built families (pass and fail)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort_builder import cohort, person, term
from tfclaims.schemas.rules import validate_output
from tfclaims.core.errors import OutputValidationError
from tfclaims.rules.frameworks import load_framework
from tfclaims.rules.identify import identify, identify_at

TF = load_framework("tf-phase2")
SF = load_framework("sf-2022")
D = "2021-03-31"

PARENT = person("P1", "F1", "1980-01-01", "parent")
CHILD = person("C1", "F1", "2010-05-05", "child")


def offence(pid, date, outcome="proven"):
    return dict(person_id=pid, offence_date=date, outcome=outcome)


def benefit(pid, start, end=None, code="JSA"):
    return dict(person_id=pid, benefit_type=code, start_date=start, end_date=end)


def row(result, family="F1"):
    e = result.eligibility.set_index("family_id")
    return e.loc[family]


def headlines(c, fw=TF, d=D, family="F1"):
    return set(filter(None, row(identify(c, fw, d), family)["headlines"].split(";")))


# --- windows -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "date, present",
    [("2020-03-31", False), ("2020-04-01", True), ("2021-03-31", True), ("2021-04-01", False)],
)
def test_event_window_start_excluded_end_included(date, present):
    c = cohort([PARENT, CHILD], offences=[offence("P1", date)])
    assert ("crime_asb" in headlines(c)) is present


def test_only_proven_offences_count():
    c = cohort([PARENT, CHILD], offences=[offence("P1", "2021-01-01", "pending"), offence("P1", "2021-01-02", "not_proven")])
    assert headlines(c) == set()


@pytest.mark.parametrize(
    "start, end, present",
    [
        ("2020-01-01", "2020-09-30", False),  # ends on the window start (31 Mar - 6 months = 30 Sep): excluded
        ("2020-01-01", "2020-10-01", True),  # shares 1 Oct
        ("2021-03-31", None, True),  # starts on D
        ("2021-04-01", None, False),  # starts after D
        ("2019-01-01", None, True),  # still open
    ],
)
def test_spell_overlap_with_month_end_clamping(start, end, present):
    c = cohort([PARENT, CHILD], benefits=[benefit("P1", start, end)])
    assert ("worklessness" in headlines(c)) is present


def test_benefit_must_be_out_of_work_and_held_by_an_adult():
    teen = person("T1", "F1", "2005-01-01", "child")
    c = cohort([PARENT, CHILD, teen], benefits=[benefit("P1", "2021-01-01", code="CA"), benefit("P1", "2021-01-01", code="UC_WORKING"), benefit("T1", "2021-01-01")])
    assert "worklessness" not in headlines(c)
    c = cohort([PARENT, CHILD], benefits=[benefit("P1", "2021-01-01", code="UC_NO_REQUIREMENTS")])
    assert "worklessness" in headlines(c)


def test_social_care_child_only_and_types():
    grown = person("G1", "F1", "2000-01-01", "child")
    c = cohort([PARENT, CHILD, grown], social_care=[
        dict(person_id="C1", episode_type="early_help", start_date="2021-01-01", end_date=None),
        dict(person_id="G1", episode_type="cp", start_date="2021-01-01", end_date=None),
    ])
    assert "children_need_help" not in headlines(c)
    c = cohort([PARENT, CHILD], social_care=[dict(person_id="C1", episode_type="cin", start_date="2019-01-01", end_date="2020-04-01")])
    assert "children_need_help" in headlines(c)
    c = cohort([PARENT, CHILD], social_care=[dict(person_id="C1", episode_type="cp", start_date="2019-01-01", end_date="2020-03-31")])
    assert "children_need_help" not in headlines(c)


def test_domestic_abuse_any_role_and_health_issues():
    c = cohort([PARENT, CHILD], domestic_abuse=[dict(person_id="C1", incident_date="2020-06-01", role="child_in_household", source="police")])
    assert "domestic_abuse" in headlines(c)
    c = cohort([PARENT, CHILD], health=[dict(person_id="P1", recorded_on="2020-06-01", issue="maternity")])
    assert "health" not in headlines(c)
    c = cohort([PARENT, CHILD], health=[dict(person_id="P1", recorded_on="2020-06-01", issue="alcohol_misuse")])
    assert "health" in headlines(c)


# --- who is a member, a child, an adult, a dependent ----------------------------------------


@pytest.mark.parametrize("d, is_child", [("2022-02-28", True), ("2022-03-01", False)])
def test_29_february_birthday_counts_on_1_march(d, is_child):
    leapling = person("C1", "F1", "2004-02-29", "child")
    c = cohort([PARENT, leapling], social_care=[dict(person_id="C1", episode_type="cp", start_date="2021-06-01", end_date=None)])
    r = row(identify(c, TF, d))
    assert bool(r["has_dependent"]) is is_child
    assert ("children_need_help" in r["headlines"]) is is_child


def test_people_born_after_d_are_not_members():
    c = cohort([PARENT, person("C9", "F1", "2021-04-01", "child")], offences=[offence("C9", "2021-03-01")])
    r = row(identify(c, TF, D))
    assert not r["has_dependent"] and r["headline_count"] == 0


def test_dependent_rule_and_expectant_parent():
    events = dict(offences=[offence("P1", "2021-01-01")], benefits=[benefit("P1", "2021-01-01")])
    assert not row(identify(cohort([PARENT], **events), TF, D))["eligible"]  # 2 headlines, no dependent
    assert row(identify(cohort([PARENT, CHILD], **events), TF, D))["eligible"]
    expectant = person("P1", "F1", "2000-01-01", "expectant_parent")
    r = row(identify(cohort([expectant], **events), TF, D))
    assert r["has_dependent"] and r["eligible"]
    adult_child = person("C1", "F1", "2002-01-01", "child")  # 19 at D: not a child, not an adult
    r = row(identify(cohort([PARENT, adult_child], **events), TF, D))
    assert not r["has_dependent"] and not r["eligible"]


def test_two_headlines_needed_for_tf_phase2():
    one = cohort([PARENT, CHILD], offences=[offence("P1", "2021-01-01")])
    assert not row(identify(one, TF, D))["eligible"]
    two = cohort([PARENT, CHILD], offences=[offence("P1", "2021-01-01")], asb_incidents=[dict(person_id="P1", incident_date="2021-01-01", asb_type="warning")])
    r = row(identify(two, TF, D))
    assert r["headline_count"] == 1 and not r["eligible"]  # offence + ASB are one headline


# --- the non-resident-parent cap ------------------------------------------------------------

NRP = person("N1", "F1", "1975-01-01", "non_resident_parent")


def test_non_resident_parent_adds_at_most_one():
    c = cohort([PARENT, CHILD, NRP], offences=[offence("N1", "2021-01-01")], benefits=[benefit("N1", "2021-01-01")],
               health=[dict(person_id="N1", recorded_on="2021-01-01", issue="mental_health")])
    r = row(identify(c, TF, D))
    assert r["headlines"] == "crime_asb;health;worklessness" and r["headline_count"] == 1 and not r["eligible"]
    c2 = cohort([PARENT, CHILD, NRP], offences=[offence("N1", "2021-01-01")], benefits=[benefit("N1", "2021-01-01")],
                domestic_abuse=[dict(person_id="P1", incident_date="2021-01-01", role="victim", source="police")])
    r = row(identify(c2, TF, D))
    assert r["headline_count"] == 2 and r["eligible"]


def test_headline_shared_with_a_resident_is_resident():
    c = cohort([PARENT, CHILD, NRP], offences=[offence("N1", "2021-01-01"), offence("P1", "2021-01-01")], benefits=[benefit("N1", "2021-01-01")])
    r = row(identify(c, TF, D))
    assert r["headline_count"] == 2 and r["eligible"]


def test_needs_row_naming_a_non_resident_parent_is_theirs():
    needs = [dict(family_id="F1", person_id="N1", headline="health", identified_on="2021-01-01", outcome="open")]
    c = cohort([PARENT, CHILD, NRP], offences=[offence("N1", "2021-01-01")], needs=needs)
    assert row(identify(c, TF, D))["headline_count"] == 1
    needs[0]["person_id"] = None  # the family as a whole: resident
    c = cohort([PARENT, CHILD, NRP], offences=[offence("N1", "2021-01-01")], needs=needs)
    assert row(identify(c, TF, D))["headline_count"] == 2


# --- education -------------------------------------------------------------------------------


def _edu(terms, d=D, **kw):
    return "education" in headlines(cohort([PARENT, CHILD], school_attendance=terms, **kw), d=d)


def test_latest_three_terms_rate():
    terms = [term("C1", "2019/20", "summer", 100, 30), term("C1", "2020/21", "autumn", 100, 10), term("C1", "2020/21", "spring", 100, 10), term("C1", "2019/20", "spring", 100, 0)]
    # latest 3 ending by 31 Mar 2021: spring 20/21, autumn 20/21, summer 19/20 -> 50/300 = 16.7%
    assert _edu(terms)
    # at 31 Dec 2020 the spring 2021 term has not ended: summer, autumn + spring 19/20 -> 40/300
    assert _edu(terms, d="2020-12-31")
    # on 30 Mar 2021 the spring term has not ended either
    ok = [term("C1", "2020/21", "autumn", 100, 5), term("C1", "2020/21", "spring", 100, 40), term("C1", "2019/20", "summer", 100, 5)]
    assert not _edu(ok, d="2021-03-30") and _edu(ok, d="2021-03-31")


@pytest.mark.parametrize("absent, present", [(10, True), (9, False)])
def test_threshold_10_percent_is_a_problem(absent, present):
    assert _edu([term("C1", "2020/21", "autumn", 50, absent - 5, 5), term("C1", "2020/21", "spring", 50, 0)]) is present


def test_fewer_than_three_terms_and_zero_possible_skipped():
    assert _edu([term("C1", "2020/21", "autumn", 100, 12)])  # one term with data: use it
    # a 0-possible term is skipped: the latest 3 with data are summer, spring 19/20, autumn 19/20
    terms = [term("C1", "2020/21", "spring", 0, 0), term("C1", "2020/21", "autumn", 100, 0), term("C1", "2019/20", "summer", 100, 0), term("C1", "2019/20", "spring", 100, 40)]
    assert _edu(terms)
    terms[0] = term("C1", "2020/21", "spring", 100, 0)  # now spring counts and pushes spring 19/20 out
    assert not _edu(terms)


def test_absence_of_an_adult_child_does_not_count():
    grown = person("C1", "F1", "2002-01-01", "child")
    c = cohort([PARENT, grown], school_attendance=[term("C1", "2020/21", "autumn", 100, 50)])
    assert "education" not in headlines(c)


def test_suspensions_and_permanent_exclusions():
    def ex(kind, date):
        return dict(person_id="C1", start_date=date, exclusion_type=kind)

    assert not _edu([], exclusions=[ex("suspension", "2020-06-01"), ex("suspension", "2020-07-01")])
    assert _edu([], exclusions=[ex("suspension", "2020-06-01"), ex("suspension", "2020-07-01"), ex("suspension", "2021-03-31")])
    assert not _edu([], exclusions=[ex("suspension", "2020-03-31"), ex("suspension", "2020-07-01"), ex("suspension", "2021-03-01")])
    assert _edu([], exclusions=[ex("permanent", "2020-04-01")])
    assert not _edu([], exclusions=[ex("permanent", "2020-03-31")])


# --- needs rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identified, outcome, outcome_on, present",
    [
        ("2021-01-01", "open", None, True),
        ("2021-04-01", "open", None, False),  # identified after D
        ("2021-01-01", "withdrawn", None, False),
        ("2021-01-01", "met", "2021-03-31", False),  # closed by D
        ("2021-01-01", "met", "2021-04-01", True),  # closed after D: open at D
        ("2021-01-01", "not_met", "2021-02-01", False),
    ],
)
def test_needs_row_open_at_d(identified, outcome, outcome_on, present):
    needs = [dict(family_id="F1", person_id=None, headline="health", identified_on=identified, outcome=outcome, outcome_on=outcome_on)]
    assert ("health" in headlines(cohort([PARENT, CHILD], needs=needs))) is present


def test_needs_row_of_another_framework_is_ignored_and_reported():
    needs = [dict(family_id="F1", person_id=None, headline="early_years", identified_on="2021-01-01", outcome="open")]
    r = identify(cohort([PARENT, CHILD], needs=needs), TF, D)
    assert row(r)["headlines"] == "" and r.ignored_needs_rows == 1
    assert "early_years" in headlines(cohort([PARENT, CHILD], needs=needs), fw=SF)


# --- tables not supplied ---------------------------------------------------------------------


def test_absent_table_is_not_evaluated_and_never_present():
    c = cohort([PARENT, CHILD], offences=None, asb_incidents=None)
    r = identify(c, TF, D)
    ne = r.not_evaluated
    assert {("crime_asb", "proven_offence", "offences"), ("crime_asb", "asb_incident", "asb_incidents")} <= set(map(tuple, ne.to_numpy()))
    assert r.not_evaluated_headlines == []  # needs rows can still evidence crime_asb
    c = cohort([PARENT, CHILD], supply_all=False, benefits=[benefit("P1", "2021-01-01")])
    r = identify(c, TF, D)
    assert "crime_asb" in r.not_evaluated_headlines and "worklessness" not in r.not_evaluated_headlines
    assert row(r)["headlines"] == "worklessness"


def test_supplied_empty_table_means_no_events():
    r = identify(cohort([PARENT, CHILD]), TF, D)
    assert r.not_evaluated.empty and r.not_evaluated_headlines == []
    assert len(r.eligibility) == 1 and r.evidence.empty


# --- sf-2022 -----------------------------------------------------------------------------------


def test_sf_2022_needs_three_distinct_headlines():
    base = dict(offences=[offence("P1", "2021-01-01")], health=[dict(person_id="P1", recorded_on="2021-01-01", issue="mental_health")])
    r = row(identify(cohort([PARENT, CHILD], **base), SF, D))
    assert r["headlines"] == "crime;health" and not r["eligible"]
    base["health"].append(dict(person_id="P1", recorded_on="2021-01-01", issue="substance_misuse"))
    r = row(identify(cohort([PARENT, CHILD], **base), SF, D))
    assert r["headlines"] == "crime;health;substance_use" and r["eligible"]


def test_sf_2022_housing_unresolved_and_rent_arrears():
    def h(issue, resolved=None, fam="F1", pid=None):
        return dict(family_id=fam, person_id=pid, recorded_on="2020-06-01", issue=issue, resolved_on=resolved)

    assert "housing" in headlines(cohort([PARENT, CHILD], housing=[h("homeless")]), fw=SF)
    assert "housing" not in headlines(cohort([PARENT, CHILD], housing=[h("homeless", "2021-03-31")]), fw=SF)
    assert "housing" in headlines(cohort([PARENT, CHILD], housing=[h("homeless", "2021-04-01")]), fw=SF)
    assert "housing" in headlines(cohort([PARENT, CHILD], housing=[h("eviction_notice", fam=None, pid="P1")]), fw=SF)
    got = headlines(cohort([PARENT, CHILD], housing=[h("rent_arrears", "2020-07-01")]), fw=SF)
    assert got == {"financial_stability"}


# --- per-family dates, evidence, validation, invariance ---------------------------------------


def _busy_cohort():
    people = [PARENT, CHILD, person("P2", "F2", "1990-01-01", "parent"), person("C2", "F2", "2015-01-01", "child"), NRP]
    return cohort(
        people,
        offences=[offence("P1", "2020-06-01"), offence("P2", "2019-06-01"), offence("N1", "2020-12-01")],
        benefits=[benefit("P1", "2019-01-01", "2020-12-31"), benefit("P2", "2018-01-01", None, "ESA")],
        school_attendance=[term("C1", "2020/21", "autumn", 100, 20), term("C2", "2018/19", "summer", 100, 15)],
        needs=[dict(family_id="F2", person_id=None, headline="domestic_abuse", identified_on="2019-05-01", outcome="met", outcome_on="2020-01-01")],
        programme=[dict(family_id="F1", attached_on="2020-09-01"), dict(family_id="F2", attached_on="2019-09-01")],
    )


def test_identify_at_each_familys_own_date_matches_single_date_runs():
    c = _busy_cohort()
    dates = pd.Series(pd.to_datetime(["2020-09-01", "2019-09-01"]), index=["F1", "F2"])
    r = identify_at(c, TF, dates).eligibility.set_index("family_id")
    for fam, d in dates.items():
        single = row(identify(c, TF, d), fam)
        assert r.loc[fam, "headlines"] == single["headlines"] and r.loc[fam, "eligible"] == single["eligible"]
        assert r.loc[fam, "as_of"] == d
    assert r.loc["F2", "headlines"] == "crime_asb;domestic_abuse;education;worklessness"


def test_evidence_rows_name_source_file_row_and_date():
    r = identify(_busy_cohort(), TF, D)
    ev = r.evidence
    off = ev[(ev.family_id == "F1") & (ev.indicator == "proven_offence")]
    assert set(off.person_id) == {"P1", "N1"}
    first = off[off.person_id == "P1"].iloc[0]
    assert first.source_file == "offences.csv" and first.source_row == 2 and first.event_date == pd.Timestamp("2020-06-01")
    assert list(ev.columns) == ["family_id", "headline", "person_id", "indicator", "source_table", "source_file", "source_row", "event_date"]
    assert list(r.eligibility.columns) == ["family_id", "as_of", "eligible", "headline_count", "headlines", "has_dependent"]


def test_output_validation_names_table_and_check():
    e = identify(_busy_cohort(), TF, D).eligibility
    bad = e.assign(headline_count=-1)
    with pytest.raises(OutputValidationError, match=r"eligibility.*headline_count"):
        validate_output(bad, "eligibility")
    with pytest.raises(OutputValidationError, match="eligibility"):
        validate_output(e.assign(extra=1), "eligibility")


def _shuffled(c, seed, split):
    rng = np.random.default_rng(seed)
    tables = {}
    for name, t in c.tables.items():
        t = t.iloc[rng.permutation(len(t))].reset_index(drop=True)
        if split and len(t) > 1 and name != "people":
            cut = int(rng.integers(1, len(t)))
            a, b = t.iloc[:cut].copy(), t.iloc[cut:].copy()
            b["source_file"] = pd.array([f"{name}-part2.csv"] * len(b), dtype="str")
            t = pd.concat([b, a], ignore_index=True)
        tables[name] = t
    return type(c)(tables)


@pytest.mark.parametrize("seed", range(6))
def test_row_order_and_split_tables_never_change_eligibility(seed):
    from test_track import random_cohort

    c = random_cohort(seed, families=25)
    base = identify(c, TF, D).eligibility
    for split in (False, True):
        other = identify(_shuffled(c, seed + 100, split), TF, D).eligibility
        pd.testing.assert_frame_equal(base, other)
