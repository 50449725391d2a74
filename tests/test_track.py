"""Outcomes at an as-of date, continuous employment, whole-family working and sf-2022's successful
family outcome: each rule of frameworks.md on tiny hand-built families (pass and fail)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort_builder import cohort, person, programme, term
from tfclaims.rules.frameworks import load_framework
from tfclaims.rules.track import track

TF = load_framework("tf-phase2")
SF = load_framework("sf-2022")
A = "2021-03-31"
PARENT = person("P1", "F1", "1980-01-01", "parent")
CHILD = person("C1", "F1", "2010-05-05", "child")
ATT = "2020-01-15"


def offence(pid, date):
    return dict(person_id=pid, offence_date=date, outcome="proven")


def benefit(pid, start, end=None, code="JSA"):
    return dict(person_id=pid, benefit_type=code, start_date=start, end_date=end)


def need(headline, identified, outcome="open", outcome_on=None, pid=None, fam="F1"):
    return dict(family_id=fam, person_id=pid, headline=headline, identified_on=identified, outcome=outcome, outcome_on=outcome_on)


def run(fw=TF, a=A, people=(PARENT, CHILD), prog=None, **tables):
    c = cohort(list(people), programme=prog or [programme("F1", ATT)], **tables)
    return track(c, fw, a)


def status(result, headline, family="F1"):
    o = result.outcomes
    hit = o[(o.family_id == family) & (o.headline == headline)]
    return None if hit.empty else (hit.status.iloc[0], hit.detail.iloc[0])


def fam(result, family="F1"):
    return result.families.set_index("family_id").loc[family]


# --- crime_asb-style measures: sustain period and 6-month window -----------------------------

CRIME = dict(offences=[offence("P1", "2019-12-01")])


def test_crime_met_when_nothing_in_the_6_months_to_a():
    s, d = status(run(**CRIME), "crime_asb")
    assert s == "met" and "6 months to 2021-03-31" in d


@pytest.mark.parametrize("date, expected", [("2020-09-30", "met"), ("2020-10-01", "not_met"), ("2021-03-31", "not_met")])
def test_crime_recurrence_window_edges(date, expected):
    r = run(offences=[offence("P1", "2019-12-01"), offence("C1", date)])
    s, d = status(r, "crime_asb")
    assert s == expected
    if expected == "not_met":
        assert d == f"C1: proven offence on {date} within the 6 months to 2021-03-31"
        ev = r.evidence
        assert ((ev.headline == "crime_asb") & (ev.person_id == "C1") & (ev.source_row == 3)).any()


@pytest.mark.parametrize("a, expected", [("2021-02-27", "not_yet"), ("2021-02-28", "met")])
def test_sustain_period_clamps_to_month_end(a, expected):
    r = run(a=a, prog=[programme("F1", "2020-08-31")], offences=[offence("P1", "2020-01-01")])
    s, d = status(r, "crime_asb")
    assert s == expected
    if expected == "not_yet":
        assert "end on 2021-02-28" in d


def test_asb_recurrence_fails_crime_asb():
    r = run(**CRIME, asb_incidents=[dict(person_id="P1", incident_date="2021-02-01", asb_type="warning")])
    assert status(r, "crime_asb")[0] == "not_met"


def test_worklessness_and_children_need_help_and_domestic_abuse():
    r = run(benefits=[benefit("P1", "2019-01-01", "2020-09-30")])
    assert status(r, "worklessness")[0] == "met"
    r = run(benefits=[benefit("P1", "2019-01-01", "2020-10-01")])
    assert status(r, "worklessness")[0] == "not_met"
    r = run(social_care=[dict(person_id="C1", episode_type="cp", start_date="2019-06-01", end_date=None)])
    assert status(r, "children_need_help")[0] == "not_met"
    r = run(domestic_abuse=[dict(person_id="P1", incident_date="2019-06-01", role="victim", source="police")])
    assert status(r, "domestic_abuse")[0] == "met"


# --- status precedence and tables not supplied -----------------------------------------------


def test_absent_table_is_not_evaluated_and_never_met():
    r = run(asb_incidents=None, **CRIME)
    s, d = status(r, "crime_asb")
    assert s == "not_evaluated" and "asb_incidents" in d
    assert not fam(r)["ssp"] and fam(r)["not_evaluated"] == "crime_asb"


def test_precedence_not_evaluated_over_not_met_over_not_yet():
    # recurrence (not_met) + open needs row (not_yet) -> not_met
    r = run(offences=[offence("P1", "2019-12-01"), offence("P1", "2021-01-01")], needs=[need("crime_asb", "2020-02-01")])
    assert status(r, "crime_asb")[0] == "not_met"
    # ... and with ASB not supplied -> not_evaluated wins
    r = run(offences=[offence("P1", "2019-12-01"), offence("P1", "2021-01-01")], needs=[need("crime_asb", "2020-02-01")], asb_incidents=None)
    assert status(r, "crime_asb")[0] == "not_evaluated"
    # open needs row alone -> not_yet even though the data measure holds
    r = run(**CRIME, needs=[need("crime_asb", "2020-02-01")])
    assert status(r, "crime_asb")[0] == "not_yet"


def test_needs_table_not_supplied_makes_outcomes_not_evaluated():
    r = run(needs=None, **CRIME)
    assert status(r, "crime_asb")[0] == "not_evaluated"


# --- needs rows --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "outcome, outcome_on, expected",
    [
        ("met", "2021-03-31", "met"),
        ("met", "2021-04-01", "not_yet"),  # closed after A
        ("open", None, "not_yet"),
        ("not_met", "2021-01-01", "not_met"),
        ("withdrawn", None, None),  # does not count, and does not make health required
    ],
)
def test_health_is_met_only_through_needs_rows(outcome, outcome_on, expected):
    r = run(needs=[need("health", "2019-12-01", outcome, outcome_on)])
    got = status(r, "health")
    assert (got[0] if got else None) == expected


def test_health_from_data_alone_is_not_yet_met():
    r = run(health=[dict(person_id="P1", recorded_on="2019-12-01", issue="mental_health")])
    s, d = status(r, "health")
    assert s == "not_yet" and "no needs row of health" in d
    r = run(health=[dict(person_id="P1", recorded_on="2019-12-01", issue="mental_health")], needs=[need("health", "2020-01-20", "met", "2020-06-01")])
    assert status(r, "health")[0] == "met"


def test_new_problem_during_the_work_must_be_resolved_too():
    base = dict(offences=[offence("P1", "2019-12-01")], benefits=[benefit("P1", "2019-01-01", "2020-01-31")])
    r = run(**base)
    assert fam(r)["required_headlines"] == "crime_asb;worklessness" and fam(r)["ssp"]
    r = run(**base, needs=[need("domestic_abuse", "2020-06-01")])
    assert fam(r)["required_headlines"] == "crime_asb;domestic_abuse;worklessness"
    assert status(r, "domestic_abuse")[0] == "not_yet" and not fam(r)["ssp"]
    assert fam(r)["unmet"] == "domestic_abuse: not_yet"
    # a withdrawn new need does not count; one identified after A neither
    r = run(**base, needs=[need("domestic_abuse", "2020-06-01", "withdrawn"), need("health", "2021-04-01")])
    assert fam(r)["required_headlines"] == "crime_asb;worklessness"


def test_problem_present_at_a_is_required_in_tf_phase2():
    r = run(**CRIME, domestic_abuse=[dict(person_id="P1", incident_date="2021-01-01", role="victim", source="police")])
    assert "domestic_abuse" in fam(r)["required_headlines"] and status(r, "domestic_abuse")[0] == "not_met"


# --- education ---------------------------------------------------------------------------------


def _terms(pid, rates, start=("2020/21", "spring")):
    order = [("2019/20", "spring"), ("2019/20", "summer"), ("2020/21", "autumn"), ("2020/21", "spring"), ("2020/21", "summer"), ("2021/22", "autumn")]
    i = order.index(start)
    return [term(pid, y, t, 100, r) for (y, t), r in zip(order[i:], rates)]


EDU_ATT = [programme("F1", "2020-01-01")]
EDU_PROBLEM = [term("C1", "2019/20", "autumn", 100, 30)]


def edu(rates, a="2021-03-31", extra_terms=(), **kw):
    t = EDU_PROBLEM + _terms("C1", rates, ("2019/20", "spring")) + list(extra_terms)
    return status(run(a=a, prog=EDU_ATT, school_attendance=t, **kw), "education")


def test_education_met_after_three_good_terms():
    s, d = edu([5, 5, 9])
    assert s == "met"


def test_education_fewer_than_three_terms_is_not_yet():
    s, d = edu([5, 5])
    assert s == "not_yet" and d.startswith("C1: 2 of 3 terms")


def test_education_bad_term_in_latest_three_fails():
    s, d = edu([5, 5, 10])
    assert s == "not_met" and "absence 10.0% in autumn 2020/21" in d
    # the bad term is older than the latest three: met
    assert edu([40, 5, 5, 5], a="2021-03-31")[0] == "met"


def test_terms_starting_before_attachment_do_not_count():
    r = run(a="2021-03-31", prog=[programme("F1", "2020-01-02")], school_attendance=EDU_PROBLEM + _terms("C1", [5, 5, 5], ("2019/20", "spring")))
    # spring 2019/20 starts on 1 Jan 2020, before attachment: only 2 terms count
    assert status(r, "education")[0] == "not_yet"


def test_zero_possible_term_is_skipped():
    zero = term("C1", "2020/21", "spring", 0, 0)
    s, _ = status(run(prog=EDU_ATT, school_attendance=EDU_PROBLEM + _terms("C1", [5, 5], ("2019/20", "spring")) + [zero]), "education")
    assert s == "not_yet"


def test_no_child_considered_is_not_yet():
    s, d = status(run(prog=EDU_ATT, school_attendance=EDU_PROBLEM), "education")
    assert s == "not_yet" and d.startswith("no child has a school term")


def test_any_child_not_met_makes_education_not_met():
    kid2 = person("C2", "F1", "2011-01-01", "child")
    t = EDU_PROBLEM + _terms("C1", [5, 5, 5], ("2019/20", "spring")) + _terms("C2", [5, 50], ("2019/20", "spring"))
    # C2 has only 2 terms (not_yet) -> not_yet; with a bad third term -> not_met
    assert status(run(people=(PARENT, CHILD, kid2), prog=EDU_ATT, school_attendance=t), "education")[0] == "not_yet"
    t2 = EDU_PROBLEM + _terms("C1", [5, 5], ("2019/20", "spring")) + _terms("C2", [5, 5, 50], ("2019/20", "spring"))
    assert status(run(people=(PARENT, CHILD, kid2), prog=EDU_ATT, school_attendance=t2), "education")[0] == "not_met"


@pytest.mark.parametrize(
    "exclusions, expected",
    [
        ([("permanent", "2020-12-01")], "not_met"),
        ([("permanent", "2019-12-31")], "met"),  # before the span of the 3 terms (1 Jan - 31 Dec 2020)
        ([("suspension", "2020-02-01"), ("suspension", "2020-05-01"), ("suspension", "2020-12-31")], "not_met"),
        ([("suspension", "2020-02-01"), ("suspension", "2020-05-01")], "met"),
        ([("suspension", "2020-02-01"), ("suspension", "2020-05-01"), ("suspension", "2021-01-05")], "met"),
    ],
)
def test_exclusions_within_the_span_of_the_three_terms(exclusions, expected):
    ex = [dict(person_id="C1", start_date=d, exclusion_type=k) for k, d in exclusions]
    assert edu([5, 5, 5], a="2020-12-31", exclusions=ex)[0] == expected


# --- continuous employment ---------------------------------------------------------------------


def ce(benefits, employment, a=A, att=ATT):
    r = run(a=a, prog=[programme("F1", att)], benefits=benefits, employment=employment)
    return fam(r)["continuous_employment"], fam(r)["continuous_employment_detail"], r


def job(pid, start, end=None):
    return dict(person_id=pid, start_date=start, end_date=end)


@pytest.mark.parametrize("code, days, expected", [("JSA", 182, True), ("JSA", 181, False), ("UC_SEARCHING", 181, False), ("ESA", 91, True), ("ESA", 90, False)])
def test_26_weeks_after_jsa_13_after_others(code, days, expected):
    start = pd.Timestamp("2020-02-01")
    end = (start + pd.Timedelta(days=days)).date().isoformat()
    got, detail, _ = ce([benefit("P1", "2019-06-01", "2020-01-31", code)], [job("P1", "2020-02-01", end)])
    assert bool(got) == expected


def test_open_employment_counts_up_to_a():
    assert ce([benefit("P1", "2019-06-01", "2020-01-31")], [job("P1", "2020-02-01")], a="2020-08-01")[0]
    assert not ce([benefit("P1", "2019-06-01", "2020-01-31")], [job("P1", "2020-02-01")], a="2020-07-31")[0]


def test_latest_spell_decides_the_weeks_with_tie_break():
    emp = [job("P1", "2020-02-01", "2020-06-01")]  # 121 days: 13 weeks yes, 26 no
    # ESA started later than JSA: ESA decides -> 13 weeks
    assert ce([benefit("P1", "2019-01-01", "2019-12-31", "JSA"), benefit("P1", "2019-06-01", "2020-01-10", "ESA")], emp)[0]
    # same start: the later-ending (JSA) decides -> 26 weeks -> no
    assert not ce([benefit("P1", "2019-06-01", "2020-01-20", "JSA"), benefit("P1", "2019-06-01", "2020-01-10", "ESA")], emp)[0]
    # same start, JSA ended but ESA open... ESA open would overlap employment, so use an earlier ESA end
    assert ce([benefit("P1", "2019-06-01", "2020-01-10", "JSA"), benefit("P1", "2019-06-01", "2020-01-20", "ESA")], emp)[0]


def test_benefit_overlapping_the_employment_weeks_breaks_it():
    ben = [benefit("P1", "2019-06-01", "2020-01-31", "ESA")]
    assert ce(ben, [job("P1", "2020-02-01", "2020-12-31")])[0]
    assert not ce(ben + [benefit("P1", "2020-04-01", "2020-04-10", "IS")], [job("P1", "2020-02-01", "2020-12-31")])[0]
    # an overlap after the 13 weeks does not matter
    assert ce(ben + [benefit("P1", "2020-06-01", "2020-06-10", "IS")], [job("P1", "2020-02-01", "2020-12-31")])[0]
    # a non-out-of-work benefit does not matter
    assert ce(ben + [benefit("P1", "2020-03-01", None, "UC_WORKING")], [job("P1", "2020-02-01", "2020-12-31")])[0]


def test_employment_must_start_on_or_after_attachment_and_benefit_before():
    ben = [benefit("P1", "2019-06-01", "2020-01-14", "ESA")]
    assert not ce(ben, [job("P1", "2020-01-14", "2020-12-31")])[0]
    assert ce(ben, [job("P1", "2020-01-15", "2020-12-31")])[0]
    # no out-of-work spell overlapping the 6 months to attachment (ended 15 Jul 2019)
    got, detail, _ = ce([benefit("P1", "2019-01-01", "2019-07-15", "ESA")], [job("P1", "2020-02-01")])
    assert not got and "no adult had an out-of-work benefit" in detail


def test_continuous_employment_not_evaluated_without_tables():
    r = run(employment=None, benefits=[benefit("P1", "2019-06-01", "2020-01-31")])
    assert not fam(r)["continuous_employment"] and "employment not supplied" in fam(r)["continuous_employment_detail"]


# --- whole-family working, summary facts -------------------------------------------------------


@pytest.mark.parametrize(
    "kw, expected",
    [({}, True), ({"lead": None}, False), ({"lead": "  "}, False), ({"wfa": None}, False), ({"plan": "2021-04-01"}, False), ({"plan": "2021-03-31"}, True)],
)
def test_whole_family_working(kw, expected):
    r = run(prog=[programme("F1", ATT, **kw)], **CRIME)
    assert bool(fam(r)["whole_family_working"]) is expected


def test_summary_facts_for_the_claim_stage():
    people = (PARENT, CHILD, person("P2", "F2", "1990-01-01", "parent"), person("C2", "F2", "2015-01-01", "child"))
    r = run(
        people=people,
        prog=[programme("F1", ATT, discretion_note="Head of Early Help: equivalent progress"), programme("F2", "2014-01-01"), programme("F3", "2021-06-01")],
        offences=[offence("P1", "2019-12-01")],
        benefits=[benefit("P1", "2019-01-01", "2020-01-31")],
    )
    f = r.families.set_index("family_id")
    assert list(f.index) == ["F1", "F2"]  # F3 attaches after A
    assert f.loc["F1", "eligible_at_attachment"] and f.loc["F1", "headlines_at_attachment"] == "crime_asb;worklessness"
    assert f.loc["F1", "ssp"] and f.loc["F1", "has_discretion_note"] and f.loc["F1", "within_programme_period"]
    assert not f.loc["F2", "eligible_at_attachment"] and not f.loc["F2", "within_programme_period"]
    assert not f.loc["F2", "ssp"]  # no required headline at all
    ev = r.attachment_evidence
    assert set(ev.family_id) == {"F1"} and set(ev.headline) == {"crime_asb", "worklessness"}


# --- sf-2022 -----------------------------------------------------------------------------------

SF_PEOPLE = (PARENT, CHILD)
SF_EVENTS = dict(
    offences=[offence("P1", "2022-09-01")],
    health=[dict(person_id="P1", recorded_on="2022-09-01", issue="mental_health")],
    domestic_abuse=[dict(person_id="P1", incident_date="2022-09-01", role="victim", source="police")],
)
SF_ATT = "2022-10-10"


def sf(a="2023-12-31", closed="2023-05-31", needs=(), **extra):
    tables = {**SF_EVENTS, **extra}
    return run(fw=SF, a=a, prog=[programme("F1", SF_ATT, closed_on=closed)], needs=list(needs), **tables)


def test_sfo_met_six_months_after_closure():
    r = sf()
    f = fam(r)
    assert f["eligible_at_attachment"] and f["required_headlines"] == "crime;domestic_abuse;health"
    assert f["sfo"] and not f["ssp"] and not f["continuous_employment"]
    assert status(r, "crime")[0] == "met"


@pytest.mark.parametrize("a, closed, expected", [("2023-11-29", "2023-05-31", "not_yet"), ("2023-11-30", "2023-05-31", "met"), ("2023-12-31", None, "not_yet")])
def test_sfo_closure_plus_six_months(a, closed, expected):
    r = sf(a=a, closed=closed)
    assert status(r, "crime")[0] == expected and bool(fam(r)["sfo"]) == (expected == "met")


def test_sfo_no_recurrence_after_closure():
    r = sf(offences=[offence("P1", "2022-09-01"), offence("P1", "2023-06-01")])
    s, d = status(r, "crime")
    assert s == "not_met" and "after closure on 2023-05-31" in d and not fam(r)["sfo"]
    # an event before closure (during the work) is not a recurrence
    assert status(sf(offences=[offence("P1", "2022-09-01"), offence("P1", "2023-05-31")]), "crime")[0] == "met"


def test_sfo_spell_recurrence_overlapping_after_closure():
    ben = [benefit("P1", "2022-01-01", "2023-05-31")]
    assert status(sf(benefits=ben), "financial_stability")[0] == "met"
    ben = [benefit("P1", "2022-01-01", "2023-06-01")]
    assert status(sf(benefits=ben), "financial_stability")[0] == "not_met"


def test_sfo_required_headlines_do_not_include_present_at_a():
    r = sf(housing=[dict(family_id="F1", person_id=None, recorded_on="2023-10-01", issue="homeless", resolved_on=None)])
    assert "housing" not in fam(r)["required_headlines"] and fam(r)["sfo"]
    # but a needs row identified during the work adds the headline, needs-only headlines included
    r = sf(needs=[need("family_relationships", "2023-01-01", "met", "2023-04-01")])
    assert "family_relationships" in fam(r)["required_headlines"] and fam(r)["sfo"]
    r = sf(needs=[need("early_years", "2023-01-01")])
    assert status(r, "early_years")[0] == "not_yet" and not fam(r)["sfo"]


def test_sfo_education_since_closure():
    attend = [term("C1", "2021/22", "summer", 100, 30)]
    after = [term("C1", "2023/24", "autumn", 100, 5)]
    r = sf(school_attendance=attend + after, a="2024-01-31")
    assert status(r, "education")[0] == "met"
    r = sf(school_attendance=attend, a="2024-01-31")
    assert status(r, "education")[0] == "not_yet"  # no term after closure has ended
    r = sf(school_attendance=attend + [term("C1", "2023/24", "autumn", 100, 10)], a="2024-01-31")
    assert status(r, "education")[0] == "not_met"
    r = sf(school_attendance=attend + after, a="2024-01-31", exclusions=[dict(person_id="C1", start_date="2023-09-10", exclusion_type="permanent")])
    assert status(r, "education")[0] == "not_met"


def test_sf_attachment_before_transition_is_flagged():
    r = run(fw=SF, a="2023-12-31", prog=[programme("F1", "2022-09-30", closed_on="2023-05-31")], **SF_EVENTS)
    assert fam(r)["transition_manual_review"] and not fam(r)["within_programme_period"]


# --- invariance ----------------------------------------------------------------------------------


def random_cohort(seed: int, families: int = 30):
    """A random but typed cohort with every table, for invariance tests."""
    rng = np.random.default_rng(seed)
    people, n = [], 0
    rels = ["parent", "child", "child", "other_adult", "non_resident_parent", "expectant_parent"]
    for f in range(families):
        for _ in range(int(rng.integers(1, 5))):
            rel = rels[int(rng.integers(0, len(rels)))]
            born = pd.Timestamp("2004-01-01") + pd.Timedelta(days=int(rng.integers(0, 4000))) if rel == "child" else pd.Timestamp("1975-01-01") + pd.Timedelta(days=int(rng.integers(0, 9000)))
            people.append(person(f"P{n:05d}", f"F{f:04d}", born.date().isoformat(), rel))
            n += 1
    pids = [p["person_id"] for p in people]

    def day(lo="2018-06-01", span=1200):
        return (pd.Timestamp(lo) + pd.Timedelta(days=int(rng.integers(0, span)))).date().isoformat()

    def some(k):
        return [pids[int(i)] for i in rng.integers(0, len(pids), k)]

    def maybe_end(s):
        return None if rng.random() < 0.3 else (pd.Timestamp(s) + pd.Timedelta(days=int(rng.integers(0, 400)))).date().isoformat()

    k = families * 2
    ben_starts = [day() for _ in range(k)]
    sc_starts = [day() for _ in range(k)]
    emp_starts = [day() for _ in range(k)]
    years = ["2018/19", "2019/20", "2020/21"]
    tables = dict(
        offences=[dict(person_id=p, offence_date=day(), outcome=["proven", "pending"][int(rng.integers(0, 2))]) for p in some(k)],
        asb_incidents=[dict(person_id=p, incident_date=day(), asb_type="warning") for p in some(k)],
        school_attendance=[term(p, years[int(rng.integers(0, 3))], ["autumn", "spring", "summer"][int(rng.integers(0, 3))], int(rng.integers(0, 120)), int(rng.integers(0, 15))) for p in some(k)],
        exclusions=[dict(person_id=p, start_date=day(), exclusion_type=["suspension", "permanent"][int(rng.random() < 0.2)]) for p in some(k)],
        social_care=[dict(person_id=p, episode_type=["cin", "cp", "early_help"][int(rng.integers(0, 3))], start_date=s, end_date=maybe_end(s)) for p, s in zip(some(k), sc_starts)],
        benefits=[dict(person_id=p, benefit_type=["JSA", "ESA", "UC_WORKING", "UC_SEARCHING"][int(rng.integers(0, 4))], start_date=s, end_date=maybe_end(s)) for p, s in zip(some(k), ben_starts)],
        employment=[dict(person_id=p, start_date=s, end_date=maybe_end(s)) for p, s in zip(some(k), emp_starts)],
        domestic_abuse=[dict(person_id=p, incident_date=day(), role="victim", source="police") for p in some(k)],
        health=[dict(person_id=p, recorded_on=day(), issue=["mental_health", "maternity"][int(rng.integers(0, 2))]) for p in some(k)],
        housing=[dict(family_id=f"F{int(rng.integers(0, families)):04d}", person_id=None, recorded_on=day(), issue="homeless", resolved_on=None) for _ in range(families)],
        needs=[need(["health", "crime_asb", "education"][int(rng.integers(0, 3))], day(), o, day("2019-06-01", 900) if o in ("met", "not_met") else None, fam=f"F{int(rng.integers(0, families)):04d}")
               for o in [["open", "met", "not_met", "withdrawn"][int(rng.integers(0, 4))] for _ in range(families)]],
        programme=[programme(f"F{f:04d}", day("2019-01-01", 600), closed_on=None if rng.random() < 0.5 else "2020-12-31") for f in range(families) if rng.random() < 0.8],
    )
    return cohort(people, **tables)


@pytest.mark.parametrize("seed", range(5))
def test_row_order_and_split_tables_never_change_outcomes(seed):
    from test_identify import _shuffled

    c = random_cohort(seed, families=30)
    base = track(c, TF, A)
    assert len(base.outcomes) > 0
    for split in (False, True):
        other = track(_shuffled(c, seed + 7, split), TF, A)
        pd.testing.assert_frame_equal(base.outcomes, other.outcomes)
        pd.testing.assert_frame_equal(base.families, other.families)


def test_latest_terms_picked_from_a_kept_order_are_those_sorting_the_rows_again_would_give():
    """Each child's latest k terms, from one sort of the whole table kept for every test date, are
    the rows (and their order) that sorting the selected rows again gives, ties in term end included."""
    from tfclaims.rules.indicators import latest_terms

    rng = np.random.default_rng(5)
    n = 20_000
    person = rng.integers(-1, 2_000, n)
    end = (np.datetime64("2018-01-01", "ns") + rng.integers(0, 12, n) * np.timedelta64(90, "D")).astype("datetime64[ns]")
    order = np.lexsort((-end.astype("int64"), person))
    for k in (1, 3, 6):
        for share in (0.05, 0.5, 1.0):
            sel = np.flatnonzero(rng.random(n) < share)
            assert np.array_equal(latest_terms(person, end, sel, k, order), latest_terms(person, end, sel, k))


def test_school_term_dates_for_each_term_and_for_missing_or_unknown_values():
    """Autumn is 1 Sep-31 Dec of the first year; spring 1 Jan-31 Mar and summer 1 Apr-31 Jul of the
    second; a missing or unreadable year or term gives no dates (worked out per distinct pair)."""
    from tfclaims.rules.indicators import term_dates

    years = pd.Series(["2019/20", "2019/20", "2019/20", None, "junk", "2018/19", "2019/20", "2019/20"], dtype="str")
    terms = pd.Series(["autumn", "spring", "summer", "autumn", "spring", "summer", None, "winter"], dtype="str")
    start, end = term_dates(years, terms)
    want_start = np.array(["2019-09-01", "2020-01-01", "2020-04-01", "NaT", "NaT", "2019-04-01", "NaT", "NaT"], dtype="datetime64[ns]")
    want_end = np.array(["2019-12-31", "2020-03-31", "2020-07-31", "NaT", "NaT", "2019-07-31", "NaT", "NaT"], dtype="datetime64[ns]")
    assert np.array_equal(start, want_start, equal_nan=True) and np.array_equal(end, want_end, equal_nan=True)
