"""Devon's and Surrey's outcome plans (``data/local_plans/devon-early-help-2020.yaml``,
``data/local_plans/surrey-family-support.yaml``) rule by rule: for every rule id of the two plans
(DEV-1 .. DEV-26, SUR-1 .. SUR-8, the "Every rule" table of docs/outcome-plans-coverage.md) a
hand-built family that passes the rule and one just on the other side of it, under the loaded plan.

Eligibility rules go through ``identify`` (the headline present, with the plan's entry named in the
evidence); success rules through ``track`` (the headline's status at the as-of date). Test ids are
the rule ids (``DEV-11/repeated_suspensions`` where a rule has more than one entry or case)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from cohort_builder import cohort, person, programme, term
from tfclaims.cli import main
from tfclaims.core.resources import LOCAL_PLANS_DIR
from tfclaims.rules.frameworks import load_framework, load_plan
from tfclaims.rules.identify import identify
from tfclaims.rules.track import track

DEVON_PATH = LOCAL_PLANS_DIR / "devon-early-help-2020.yaml"
SURREY_PATH = LOCAL_PLANS_DIR / "surrey-family-support.yaml"
DEVON = load_plan(DEVON_PATH)
SURREY = load_plan(SURREY_PATH)
PLANS = {"DEV": DEVON, "SUR": SURREY}
COVERAGE = Path(__file__).resolve().parents[1] / "docs" / "outcome-plans-coverage.md"

D = "2021-03-31"
PARENT = person("P1", "F1", "1980-01-01", "parent")
CHILD = person("C1", "F1", "2010-05-05", "child")
YOUNG = person("Y1", "F1", "2006-03-03", "child")  # 15 at D: a young person for Devon's youth offending
FAMILY = [PARENT, CHILD]


def born(pid: str, dob: str, relationship: str = "child") -> dict:
    return person(pid, "F1", dob, relationship)


def event(date: str, code: str, pid: str | None = None, fam: str | None = None) -> dict:
    return dict(person_id=pid, family_id=fam, event_date=date, source="Devon case system", code=code, value=None)


def spell(pid: str, code: str, start: str, end: str | None = None) -> dict:
    return dict(person_id=pid, code=code, start_date=start, end_date=end, source="Devon case system")


def offence(pid: str, date: str, outcome: str = "proven") -> dict:
    return dict(person_id=pid, offence_date=date, outcome=outcome)


def asb(pid: str, date: str) -> dict:
    return dict(person_id=pid, incident_date=date, asb_type="warning")


def exclusion(date: str, kind: str = "permanent", pid: str = "C1") -> dict:
    return dict(person_id=pid, start_date=date, exclusion_type=kind)


def episode(kind: str, start: str, end: str | None = None, pid: str = "C1") -> dict:
    return dict(person_id=pid, episode_type=kind, start_date=start, end_date=end)


def need(headline: str, outcome: str, identified_on: str = "2019-12-01", outcome_on: str | None = None) -> dict:
    return dict(family_id="F1", person_id=None, headline=headline, identified_on=identified_on, outcome=outcome, outcome_on=outcome_on)


# --- eligibility: the headline present at D with the plan's entry in the evidence --------------------


def present(fw, headline: str, d: str = D, people: list[dict] = FAMILY, **tables) -> tuple[bool, set[str]]:
    """Whether ``headline`` is present for F1 at ``d``, and the indicators naming it in the evidence."""
    r = identify(cohort(people, **tables), fw, d)
    heads = r.eligibility.set_index("family_id").loc["F1", "headlines"]
    ev = r.evidence[(r.evidence["family_id"] == "F1") & (r.evidence["headline"] == headline)]
    return headline in str(heads).split(";"), set(ev["indicator"])


# (headline, plan entry named in the evidence, d, people, passing tables, failing tables)
ELIGIBILITY = [
    # DEV-1: the framework's own default: a proven offence or an ASB incident in the 12 months to D
    pytest.param(DEVON, "crime_asb", "proven_offence", D, FAMILY,
                 dict(offences=[offence("P1", "2020-04-01")]), dict(offences=[offence("P1", "2020-03-31")]), id="DEV-1/proven_offence"),
    pytest.param(DEVON, "crime_asb", "proven_offence", D, FAMILY,
                 dict(offences=[offence("P1", "2021-01-01")]), dict(offences=[offence("P1", "2021-01-01", "not_proven")]), id="DEV-1/only_proven"),
    pytest.param(DEVON, "crime_asb", "asb_incident", D, FAMILY,
                 dict(asb_incidents=[asb("C1", "2020-04-01")]), dict(asb_incidents=[asb("C1", "2020-03-31")]), id="DEV-1/asb_incident"),
    # DEV-2: a community order (probation, a suspended sentence) open at D; a pre-court disposal in 12 months
    pytest.param(DEVON, "crime_asb", "on_order", D, FAMILY,
                 dict(local_spells=[spell("P1", "COMMUNITY_ORDER", "2019-01-01", "2021-04-01")]),
                 dict(local_spells=[spell("P1", "COMMUNITY_ORDER", "2019-01-01", "2021-03-31")]), id="DEV-2/on_order"),  # ended on D
    pytest.param(DEVON, "crime_asb", "pre_court_disposal", D, FAMILY,
                 dict(local_events=[event("2020-04-01", "PRE_COURT_DISPOSAL", pid="C1")]),
                 dict(local_events=[event("2020-03-31", "PRE_COURT_DISPOSAL", pid="C1")]), id="DEV-2/pre_court_disposal"),
    # DEV-3 (P): "higher than average police call-outs" is written as a fixed count (4 in 12 months), the
    # council's yearly county average; the plan does not compute a moving average, so 4 is the rule here
    pytest.param(DEVON, "crime_asb", "police_callouts", D, FAMILY,
                 dict(local_events=[event(f"2020-{m:02d}-01", "POLICE_CALLOUT", fam="F1") for m in (5, 7, 9, 11)]),
                 dict(local_events=[event(f"2020-{m:02d}-01", "POLICE_CALLOUT", fam="F1") for m in (5, 7, 9)]), id="DEV-3"),
    # DEV-4: a youth crime prevention spell overlapping the 12 months to D (it may have ended)
    pytest.param(DEVON, "crime_asb", "youth_prevention", D, FAMILY,
                 dict(local_spells=[spell("C1", "YOUTH_PREVENTION", "2019-06-01", "2020-04-01")]),
                 dict(local_spells=[spell("C1", "YOUTH_PREVENTION", "2019-06-01", "2020-03-31")]), id="DEV-4"),
    # DEV-10: absence at or above 10% over the latest 3 terms (the framework's rule, kept by the plan)
    pytest.param(DEVON, "education", "school_absence", D, FAMILY,
                 dict(school_attendance=[term("C1", y, t, 100, 10) for y, t in (("2019/20", "summer"), ("2020/21", "autumn"), ("2020/21", "spring"))]),
                 dict(school_attendance=[term("C1", y, t, 100, a) for (y, t), a in
                                         zip((("2019/20", "summer"), ("2020/21", "autumn"), ("2020/21", "spring")), (10, 10, 9))]),
                 id="DEV-10"),
    # DEV-11: within the 3 school terms to D (from 1 April 2020 for D in March 2021), not the 12 months:
    # an exclusion on 20 March 2020 is in the 12 months to 15 March 2021 but outside the 3 terms
    pytest.param(DEVON, "education", "permanent_exclusion", "2021-03-15", FAMILY,
                 dict(exclusions=[exclusion("2020-04-01")]), dict(exclusions=[exclusion("2020-03-20")]), id="DEV-11/permanent_exclusion"),
    pytest.param(DEVON, "education", "repeated_suspensions", "2021-03-15", FAMILY,
                 dict(exclusions=[exclusion(d, "suspension") for d in ("2020-04-01", "2020-09-10", "2021-01-10")]),
                 dict(exclusions=[exclusion(d, "suspension") for d in ("2020-03-20", "2020-09-10", "2021-01-10")]), id="DEV-11/repeated_suspensions"),
    # DEV-12: on the children-missing-education register at D, aged 17 or under (18 on D: not)
    pytest.param(DEVON, "education", "missing_education", D, [PARENT, born("T1", "2003-04-01")],
                 dict(local_spells=[spell("T1", "CME", "2021-01-01")]), dict(local_spells=[spell("T1", "CME", "2021-01-01")]),
                 id="DEV-12/age"),
    pytest.param(DEVON, "education", "missing_education", D, FAMILY,
                 dict(local_spells=[spell("C1", "CME", "2021-01-01")]), dict(local_spells=[spell("C1", "CME", "2020-01-01", "2021-03-01")]),
                 id="DEV-12/open_at"),
    # DEV-13: NEET at D, aged 16 to 18
    pytest.param(DEVON, "education", "neet", D, [PARENT, born("T1", "2005-03-31")],
                 dict(local_spells=[spell("T1", "NEET", "2020-09-01")]), dict(local_spells=[spell("T1", "NEET", "2020-09-01")]), id="DEV-13"),
    # DEV-14: a child with SEN support or an EHCP at D (a parent's SEND record does not count)
    pytest.param(DEVON, "education", "send", D, FAMILY,
                 dict(local_spells=[spell("C1", "SEND", "2018-09-01")]), dict(local_spells=[spell("P1", "SEND", "2018-09-01")]), id="DEV-14"),
    # DEV-19: two or more MASH enquiries in the 12 months (one is not enough)
    pytest.param(DEVON, "children_need_help", "mash_enquiries", D, FAMILY,
                 dict(local_events=[event("2020-06-01", "MASH_ENQUIRY", pid="C1"), event("2021-02-01", "MASH_ENQUIRY", fam="F1")]),
                 dict(local_events=[event("2021-02-01", "MASH_ENQUIRY", pid="C1"), event("2020-03-01", "MASH_ENQUIRY", pid="C1")]), id="DEV-19"),
    # DEV-20 / DEV-21 / DEV-23: a referral (a step-down) in the 12 months to D
    pytest.param(DEVON, "children_need_help", "young_carer", D, FAMILY,
                 dict(local_events=[event("2020-04-01", "YOUNG_CARER_REFERRAL", pid="C1")]),
                 dict(local_events=[event("2020-03-31", "YOUNG_CARER_REFERRAL", pid="C1")]), id="DEV-20"),
    pytest.param(DEVON, "children_need_help", "childrens_centre", D, FAMILY,
                 dict(local_events=[event("2021-03-31", "CHILDRENS_CENTRE_REFERRAL", fam="F1")]),
                 dict(local_events=[event("2021-04-01", "CHILDRENS_CENTRE_REFERRAL", fam="F1")]), id="DEV-21"),
    # DEV-22: a homeless young person aged 16 to 24, the housing record unresolved at D
    pytest.param(DEVON, "children_need_help", "homeless_young_person", D, [PARENT, CHILD, born("Y2", "1996-04-01", "other_adult")],
                 dict(housing=[dict(family_id="F1", person_id="Y2", recorded_on="2021-01-01", issue="homeless", resolved_on=None)]),
                 dict(housing=[dict(family_id="F1", person_id="Y2", recorded_on="2021-01-01", issue="homeless", resolved_on="2021-03-01")]),
                 id="DEV-22/unresolved"),
    pytest.param(DEVON, "children_need_help", "homeless_young_person", D, [PARENT, CHILD, born("Y2", "1996-04-01", "other_adult")],
                 dict(housing=[dict(family_id="F1", person_id="Y2", recorded_on="2021-01-01", issue="homeless", resolved_on=None)]),
                 dict(housing=[dict(family_id="F1", person_id="P1", recorded_on="2021-01-01", issue="homeless", resolved_on=None)]),
                 id="DEV-22/age"),  # failing: the parent (41) is the one homeless, not the young person
    pytest.param(DEVON, "children_need_help", "stepped_down", D, FAMILY,
                 dict(local_events=[event("2020-10-01", "STEP_DOWN", pid="C1")]), dict(local_events=[event("2019-10-01", "STEP_DOWN", pid="C1")]),
                 id="DEV-23"),
    # SUR-7: an early help assessment starting in the 3 months to D (one starting earlier, still open, is not)
    pytest.param(SURREY, "children_need_help", "early_help_assessed", D, FAMILY,
                 dict(social_care=[episode("early_help", "2021-01-01")]), dict(social_care=[episode("early_help", "2020-12-31")]), id="SUR-7"),
    # SUR-8: the framework's own rule: a cin (or cp) episode overlapping the 12 months to D
    pytest.param(SURREY, "children_need_help", "social_care_episode", D, FAMILY,
                 dict(social_care=[episode("cin", "2019-01-01", "2020-04-01")]), dict(social_care=[episode("cin", "2019-01-01", "2020-03-31")]),
                 id="SUR-8"),
]

# the people of the failing family where the rule's person filter is what fails
FAILING_PEOPLE = {
    "DEV-12/age": [PARENT, born("T1", "2003-03-31")],  # 18 on D
    "DEV-13": [PARENT, born("T1", "2005-04-01")],  # 15 on D
}


@pytest.mark.parametrize("fw, headline, entry, d, people, passing, failing", ELIGIBILITY)
def test_eligibility_rule(request, fw, headline, entry, d, people, passing, failing):
    ok, indicators = present(fw, headline, d, people, **passing)
    assert ok and entry in indicators, indicators
    fail_people = FAILING_PEOPLE.get(request.node.callspec.id, people)
    ok, indicators = present(fw, headline, d, fail_people, **failing)
    assert not ok and entry not in indicators, indicators


def test_dev12_the_framework_alone_does_not_read_the_local_register():
    c = cohort(FAMILY, local_spells=[spell("C1", "CME", "2021-01-01")])
    assert identify(c, DEVON, D).evidence["indicator"].tolist() == ["missing_education"]
    assert identify(c, load_framework("tf-phase2"), D).evidence.empty


# --- the cross-headline eligibility rules (Surrey) -------------------------------------------------------


def eligible(fw, people: list[dict], **tables) -> pd.Series:
    return identify(cohort(people, **tables), fw, D).eligibility.set_index("family_id").loc["F1"]


CRIME = dict(offences=[offence("P1", "2021-01-01")])
SCHOOL = dict(exclusions=[exclusion("2021-01-05")])


@pytest.mark.parametrize("rule", ["SUR-1"], ids=["SUR-1"])
def test_sur1_two_headlines_make_a_family_eligible(rule):
    e = eligible(SURREY, FAMILY, **CRIME, **SCHOOL)
    assert e["eligible"] and e["headlines"] == "crime_asb;education"
    e = eligible(SURREY, FAMILY, **CRIME)  # one headline
    assert not e["eligible"] and e["headline_count"] == 1


@pytest.mark.parametrize("rule", ["SUR-2"], ids=["SUR-2"])
def test_sur2_the_dependent_child_is_the_frameworks(rule):
    # SUR-2 (N): Surrey counts 16-18-year-olds as dependent children only in full-time education or
    # training or when unemployed, and up to 18 inclusive; the plan cannot say so, the framework's
    # definition (a child under 18, or an expectant parent) is what runs. So a 17-year-old counts
    # whatever they do, and an 18-year-old in full-time education does not.
    seventeen, eighteen = born("T1", "2003-04-01"), born("T1", "2003-03-31")
    tables = dict(offences=[offence("P1", "2021-01-01")], asb_incidents=[asb("P1", "2021-02-01")],
                  benefits=[dict(person_id="P1", benefit_type="JSA", start_date="2020-01-01", end_date=None)])
    e = eligible(SURREY, [PARENT, seventeen], **tables)
    assert e["eligible"] and e["has_dependent"]
    e = eligible(SURREY, [PARENT, eighteen], **tables)
    assert not e["eligible"] and not e["has_dependent"] and e["headlines"] == "crime_asb;worklessness"


@pytest.mark.parametrize("rule", ["SUR-3"], ids=["SUR-3"])
def test_sur3_a_non_resident_parent_accounts_for_one_problem_only(rule):
    away = person("N1", "F1", "1978-01-01", "non_resident_parent")
    away_crime = dict(offences=[offence("N1", "2021-01-01")])
    away_work = dict(benefits=[dict(person_id="N1", benefit_type="JSA", start_date="2020-01-01", end_date=None)])
    # passing: the non-resident parent accounts for one problem, the child for another
    e = eligible(SURREY, [PARENT, CHILD, away], **away_crime, **SCHOOL)
    assert e["eligible"] and e["headline_count"] == 2
    # failing: both problems are the non-resident parent's: they count once
    e = eligible(SURREY, [PARENT, CHILD, away], **away_crime, **away_work)
    assert not e["eligible"] and e["headline_count"] == 1 and e["headlines"] == "crime_asb;worklessness"


# --- success: the headline's status at A under track -------------------------------------------------

ATT = "2020-01-15"
A = "2021-03-31"


def status(fw, headline: str, people: list[dict], a: str = A, att: str = ATT, **tables) -> tuple[str, str]:
    """(status, detail) of ``headline`` for the attached family F1 at ``a``; the local tables are
    supplied (empty unless given), as a council running the plan supplies them."""
    tables = {"local_events": [], "local_spells": [], **tables}
    o = track(cohort(people, programme=[programme("F1", att)], **tables), fw, a).outcomes.set_index("headline")
    assert headline in o.index, f"{headline} is not a required headline: {o.index.tolist()}"
    return str(o.loc[headline, "status"]), str(o.loc[headline, "detail"])


def merged(base: dict[str, list[dict]], extra: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return {k: base.get(k, []) + extra.get(k, []) for k in {*base, *extra}}


# Devon crime_asb: all_of five parts. The base family meets every one of them:
# DEV-5 young people's offences 3 in the 6 months before attachment -> 2 in the 6 months to A (down 33.3%);
# DEV-6 adults' offences 5 in the 12 months before attachment -> 2 in the 12 months to A (down 60%);
# DEV-7 no ASB incident or escalation in the 6 months to A; DEV-8 no breach of order in the 12 months;
# DEV-9 police call-outs 4 in the 6 months before attachment -> 2 in the 6 months to A (down 50%).
CRIME_PEOPLE = [PARENT, YOUNG]
CRIME_BASE = {
    "offences": [offence("Y1", d) for d in ("2019-08-01", "2019-10-01", "2019-12-01", "2020-11-01", "2021-02-01")]
    + [offence("P1", d) for d in ("2019-02-01", "2019-04-01", "2019-06-01", "2019-08-01", "2019-10-01", "2020-06-01", "2020-12-01")],
    "asb_incidents": [asb("Y1", "2019-11-01")],
    "local_events": [event(d, "POLICE_CALLOUT", fam="F1") for d in ("2019-08-01", "2019-09-01", "2019-10-01", "2019-11-01", "2020-11-01", "2021-01-01")],
}

# (passing rows added to the base, failing rows added to the base, words of the failing part)
CRIME_SUCCESS = [
    pytest.param({}, {"offences": [offence("Y1", "2021-03-01")]}, "young people's proven offences: 3 in the 6 months", id="DEV-5"),
    pytest.param({}, {"offences": [offence("P1", "2021-03-01")]}, "adults' proven offences: 3 in the 12 months", id="DEV-6"),
    pytest.param({"asb_incidents": [asb("Y1", "2020-09-30")]}, {"asb_incidents": [asb("Y1", "2020-10-01")]},
                 "ASB incident on 2020-10-01", id="DEV-7/asb"),
    pytest.param({"local_events": [event("2020-09-30", "ASB_ESCALATION", pid="Y1")]}, {"local_events": [event("2020-10-01", "ASB_ESCALATION", pid="Y1")]},
                 "ASB escalation on 2020-10-01", id="DEV-7/escalation"),
    pytest.param({"local_events": [event("2020-03-31", "ORDER_BREACH", pid="P1")]}, {"local_events": [event("2020-04-01", "ORDER_BREACH", pid="P1")]},
                 "breach of order on 2020-04-01", id="DEV-8"),
    pytest.param({}, {"local_events": [event("2021-03-01", "POLICE_CALLOUT", fam="F1")]}, "police call-outs: 3 in the 6 months", id="DEV-9"),
]


@pytest.mark.parametrize("passing, failing, words", CRIME_SUCCESS)
def test_devon_crime_success_part(passing, failing, words):
    s, d = status(DEVON, "crime_asb", CRIME_PEOPLE, **merged(CRIME_BASE, passing))
    assert s == "met", d
    s, d = status(DEVON, "crime_asb", CRIME_PEOPLE, **merged(CRIME_BASE, failing))
    assert s == "not_met" and words in d, d


# Devon education: all_of three parts, attachment on 1 January 2020; the terms judged are spring
# 2019/20 to autumn 2020/21, the baseline autumn 2019/20. The base child: 70% attendance before
# attachment (not below 40%: must not fall), then 81% with 9% unauthorised absence (DEV-15 met though
# total absence is 19%); no 16-18-year-old (DEV-18: nobody to judge, met).
EDU_ATT = "2020-01-01"
JUDGED = (("2019/20", "spring"), ("2019/20", "summer"), ("2020/21", "autumn"))


def edu_tables(before: int = 30, authorised: int = 10, unauthorised: int = 9, **extra: list[dict]) -> dict[str, list[dict]]:
    rows = [term("C1", "2019/20", "autumn", 100, before)] + [term("C1", y, t, 100, authorised, unauthorised) for y, t in JUDGED]
    return merged({"school_attendance": rows}, extra)


SUSPENSIONS = [exclusion(d, "suspension") for d in ("2020-02-01", "2020-05-01", "2020-10-01")]
SEVENTEEN = born("T1", "2004-01-01")  # 17 at A
EDU_SUCCESS = [
    pytest.param(FAMILY, edu_tables(), edu_tables(unauthorised=10), "C1: unauthorised absence 10.0% over the 3 terms judged", id="DEV-15"),
    # DEV-16 (P): Devon means "attendance improved by 50%" as an alternative to the attendance target for
    # a child below 40%; a plan combines a headline's measures with all_of, so the child must also keep
    # unauthorised absence below 10% (DEV-15). 30% attendance before: 45% needed (50% better).
    pytest.param(FAMILY, edu_tables(before=70, authorised=49, unauthorised=5), edu_tables(before=70, authorised=51, unauthorised=5),
                 "(needs at least 45.0%: 50% better)", id="DEV-16"),
    pytest.param(FAMILY, edu_tables(exclusions=SUSPENSIONS), edu_tables(exclusions=SUSPENSIONS + [exclusion("2020-11-01", "suspension")]),
                 "suspension", id="DEV-17/suspensions"),
    pytest.param(FAMILY, edu_tables(exclusions=[exclusion("2019-11-01")]), edu_tables(exclusions=[exclusion("2020-06-01")]),
                 "permanent exclusion", id="DEV-17/permanent_exclusion"),
    pytest.param([PARENT, CHILD, SEVENTEEN], edu_tables(local_spells=[spell("T1", "EET", "2020-03-01")]),
                 edu_tables(local_spells=[spell("T1", "EET", "2020-04-02")]), "T1: no EET spell on 2020-04-01", id="DEV-18"),
]


@pytest.mark.parametrize("people, passing, failing, words", EDU_SUCCESS)
def test_devon_education_success_part(people, passing, failing, words):
    s, d = status(DEVON, "education", people, att=EDU_ATT, **passing)
    assert s == "met", d
    s, d = status(DEVON, "education", people, att=EDU_ATT, **failing)
    assert s == "not_met" and words in d, d


def test_dev16_the_approximation_a_child_who_improved_by_half_must_also_meet_dev15():
    # improved from 30% to 50% attendance (Devon's DEV-16 met) but 12% unauthorised absence: not met here
    s, d = status(DEVON, "education", FAMILY, att=EDU_ATT, **edu_tables(before=70, authorised=38, unauthorised=12))
    assert s == "not_met" and "unauthorised absence 12.0%" in d


# Devon children_need_help: any_of (no cin/cp in the 6 months to A; no early help assessment reopened in
# them; the practitioner's needs row met). The family is in the headline by a cin episode at attachment.
CIN_CLOSED = [episode("cin", "2019-06-01", "2020-09-30")]  # ends the day the 6 months to A begin: not in them
CIN_OPEN = [episode("cin", "2019-06-01", "2020-10-01")]
REOPENED = [event("2021-01-01", "EHA_REOPENED", fam="F1")]
CNH_SUCCESS = [
    # the first alternative, the second failing: the assessment was reopened in the 6 months
    pytest.param(dict(social_care=CIN_CLOSED, local_events=REOPENED), dict(social_care=CIN_OPEN, local_events=REOPENED),
                 "C1: child-in-need or child-protection episode from 2019-06-01", id="DEV-24/not_cin_cp"),
    # the second alternative, the first failing: the child in need throughout. NB the plan cannot check
    # that there was a closed assessment: any family without a reopening in the 6 months meets it
    pytest.param(dict(social_care=CIN_OPEN, local_events=[event("2020-09-30", "EHA_REOPENED", fam="F1")]),
                 dict(social_care=CIN_OPEN, local_events=[event("2020-10-01", "EHA_REOPENED", fam="F1")]),
                 "early help assessment reopened on 2020-10-01", id="DEV-24/not_reopened"),
    # DEV-25 / DEV-26: both data alternatives fail; the practitioner records the improvement on the
    # distance-travelled tool (the step-down to universal services) as the headline's needs row met
    pytest.param(dict(social_care=CIN_OPEN, local_events=REOPENED, needs=[need("children_need_help", "met", outcome_on="2021-02-01") | {"person_id": "C1"}]),
                 dict(social_care=CIN_OPEN, local_events=REOPENED, needs=[need("children_need_help", "not_met", outcome_on="2021-02-01") | {"person_id": "C1"}]),
                 "recorded not met on 2021-02-01", id="DEV-25"),
    pytest.param(dict(social_care=CIN_OPEN, local_events=REOPENED, needs=[need("children_need_help", "met", outcome_on="2021-02-01")]),
                 dict(social_care=CIN_OPEN, local_events=REOPENED, needs=[need("children_need_help", "not_met", outcome_on="2021-02-01")]),
                 "recorded not met on 2021-02-01", id="DEV-26"),
]


@pytest.mark.parametrize("passing, failing, words", CNH_SUCCESS)
def test_devon_children_need_help_success(passing, failing, words):
    s, d = status(DEVON, "children_need_help", FAMILY, **passing)
    assert s == "met", d
    s, d = status(DEVON, "children_need_help", FAMILY, **failing)
    assert s in ("not_met", "not_yet") and words in d, (s, d)


# --- Surrey success -------------------------------------------------------------------------------------

# SUR-4: attached 1 September 2014; the three terms since (autumn 2014/15 to summer 2014/15) have ended
# by 31 August 2015. The threshold is the one in force at A: absence below 15% to 2015-08-31, below 10%
# from 2015-09-01 (the same terms judged a day later). Summer 2013/14 at 20% puts education in at attachment.
SUR4_ATT = "2014-09-01"
SUR4_TERMS = (("2014/15", "autumn"), ("2014/15", "spring"), ("2014/15", "summer"))


@pytest.mark.parametrize("a, absent, expected", [
    pytest.param("2015-08-31", 12, "met", id="SUR-4/12%-to-2015-08-31"),
    pytest.param("2015-09-01", 12, "not_met", id="SUR-4/12%-from-2015-09-01"),
    pytest.param("2015-08-31", 14, "met", id="SUR-4/14%-to-2015-08-31"),
    pytest.param("2015-08-31", 15, "not_met", id="SUR-4/15%-to-2015-08-31"),
    pytest.param("2015-09-01", 9, "met", id="SUR-4/9%-from-2015-09-01"),
    pytest.param("2015-09-01", 10, "not_met", id="SUR-4/10%-from-2015-09-01"),
])
def test_sur4_attendance_threshold_in_force_at_a(a, absent, expected):
    rows = [term("C1", "2013/14", "summer", 100, 20)] + [term("C1", y, t, 100, absent) for y, t in SUR4_TERMS]
    s, d = status(SURREY, "education", FAMILY, a=a, att=SUR4_ATT, school_attendance=rows)
    assert s == expected, d
    if expected == "not_met":
        limit = "15%" if a < "2015-09-01" else "10%"
        assert d.startswith(f"C1: absence {absent}.0% in autumn 2014/15 (must be below {limit})")


# SUR-5: every problem must be met, also those found after the start. F1 is in at attachment for crime
# (a proven offence) and children who need help (a cin episode), neither recurring.
SUR5_BASE = dict(offences=[offence("P1", "2019-12-01")], social_care=[episode("cin", "2019-06-01", "2019-12-01")])


def families(fw, people: list[dict] = FAMILY, **tables) -> pd.Series:
    tables = {"local_events": [], "local_spells": [], **tables}
    return track(cohort(people, programme=[programme("F1", ATT)], **tables), fw, A).families.set_index("family_id").loc["F1"]


@pytest.mark.parametrize("passing, failing", [
    # a domestic-abuse need recorded by the practitioner after attachment: met by A, or still open
    pytest.param(dict(needs=[need("domestic_abuse", "met", "2020-06-01", "2021-01-01")]), dict(needs=[need("domestic_abuse", "open", "2020-06-01")]),
                 id="SUR-5/needs_row"),
    # a domestic-abuse incident after attachment makes the headline present at A: none in the 6 months to
    # A, or one in them
    pytest.param(dict(domestic_abuse=[dict(person_id="P1", incident_date="2020-06-01", role="victim", source="police")]),
                 dict(domestic_abuse=[dict(person_id="P1", incident_date="2021-01-01", role="victim", source="police")]),
                 id="SUR-5/present_at_a"),
])
def test_sur5_ssp_on_every_problem_including_those_found_after_the_start(passing, failing):
    f = families(SURREY, **SUR5_BASE, **passing)
    assert f["headlines_at_attachment"] == "children_need_help;crime_asb"
    assert "domestic_abuse" in f["required_headlines"].split(";") and f["ssp"], f["unmet"]
    f = families(SURREY, **SUR5_BASE, **failing)
    assert "domestic_abuse" in f["required_headlines"].split(";") and not f["ssp"]
    assert f["unmet"] == "domestic_abuse: not_yet"


# SUR-6: each data headline's success is any_of [its data test, the practitioner's progress level
# recorded as a needs row met]. The family fails the data test (a recurrence in the 6 months to A); its
# needs row of the headline met makes the headline met, recorded not met does not.
RECURRING = {
    "crime_asb": dict(offences=[offence("P1", "2019-12-01"), offence("P1", "2021-01-01")]),
    "children_need_help": dict(social_care=[episode("cin", "2019-06-01")]),
    "worklessness": dict(benefits=[dict(person_id="P1", benefit_type="JSA", start_date="2019-06-01", end_date=None)]),
    "domestic_abuse": dict(domestic_abuse=[dict(person_id="P1", incident_date=d, role="victim", source="police") for d in ("2019-12-01", "2021-01-01")]),
}


@pytest.mark.parametrize("headline", [pytest.param(h, id=f"SUR-6/{h}") for h in RECURRING])
def test_sur6_progress_recorded_by_the_practitioner_is_an_alternative_to_the_data_test(headline):
    s, d = status(SURREY, headline, FAMILY, **RECURRING[headline])
    assert s == "not_yet" and d.startswith("either ")  # data test failed, no progress level recorded yet
    s, d = status(SURREY, headline, FAMILY, needs=[need(headline, "met", outcome_on="2021-02-01")], **RECURRING[headline])
    assert (s, d) == ("met", f"every needs row of {headline} met by {A}")
    s, d = status(SURREY, headline, FAMILY, needs=[need(headline, "not_met", outcome_on="2021-02-01")], **RECURRING[headline])
    assert s == "not_met" and d == "family: need identified on 2019-12-01 recorded not met on 2021-02-01"
    tf = load_framework("tf-phase2")  # the framework alone: the needs row met does not outweigh the recurrence
    assert status(tf, headline, FAMILY, needs=[need(headline, "met", outcome_on="2021-02-01")], **RECURRING[headline])[0] == "not_met"


# --- the plan files: they load, frameworks show states each rule, every rule id is tested ---------------


def _cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


# each rule's key number or words as frameworks show states them
SHOWN = {
    "DEV-1": "a member with a proven offence in the 12 months to the test date",
    "DEV-2": "COMMUNITY_ORDER open on the test date",
    "DEV-3": "4 or more local events of the family coded POLICE_CALLOUT in the 12 months",
    "DEV-4": "YOUTH_PREVENTION overlapping the 12 months",
    "DEV-5": "at least 33% fewer",
    "DEV-6": "at least 60% fewer",
    "DEV-7": "no ASB incident or ASB escalation in the 6 months",
    "DEV-8": "no breach of order in the 12 months",
    "DEV-9": "police call-outs in the 6 months to the as-of date at least 50% fewer",
    "DEV-10": "absence_threshold 0.1: Devon one-minute guide: attendance below 90%",
    "DEV-11": "window_terms 3: Devon: 3+ fixed-term exclusions within 3 terms",
    "DEV-12": "CME open on the test date (only people aged 17 or under",
    "DEV-13": "NEET open on the test date (only people aged 16 to 18",
    "DEV-14": "SEND open on the test date (only people whose relationship is child",
    "DEV-15": "unauthorised absence over their latest 3 terms since attachment together below 10%",
    "DEV-16": "attendance before attachment was below 40%",
    "DEV-17": "min_suspensions 4: this plan",
    "DEV-18": "(aged 16 to 18) in EET on every day of the 12 months",
    "DEV-19": "2 or more local events of the family coded MASH_ENQUIRY",
    "DEV-20": "YOUNG_CARER_REFERRAL in the 12 months",
    "DEV-21": "CHILDRENS_CENTRE_REFERRAL in the 12 months",
    "DEV-22": "(issues: homeless) in the 12 months to the test date (only those still unresolved then: yes) (only people aged 16 to 24",
    "DEV-23": "STEP_DOWN in the 12 months",
    "DEV-24": "no child-in-need or child-protection episode in the 6 months",
    "DEV-25": "every needs row of children_need_help met by the as-of date",
    "DEV-26": "every needs row of children_need_help met by the as-of date",
    "SUR-1": "at least 2 headlines are present",
    "SUR-2": "a dependent (a child or an expectant parent)",
    "SUR-3": "add at most 1 to that count",
    "SUR-4": "absence_threshold 0.15 to 2015-08-31, 0.1 from 2015-09-01",
    "SUR-5": "those present at the as-of date and those of needs rows identified after attachment",
    "SUR-6": "every needs row of domestic_abuse met by the as-of date",
    "SUR-7": "early_help episode starting in the 3 months to the test date",
    "SUR-8": "a child with a cin or cp episode overlapping the 12 months",
}


def test_both_plans_load():
    assert (DEVON.plan.name, SURREY.plan.name) == ("devon-early-help-2020", "surrey-family-support")
    assert DEVON.name == SURREY.name == "tf-phase2"
    assert [i.code for i in DEVON.headlines["children_need_help"].indicators] == [
        "social_care_episode", "mash_enquiries", "young_carer", "childrens_centre", "homeless_young_person", "stepped_down"]
    assert SURREY.epochs()  # SUR-4's dated threshold


@pytest.mark.parametrize("path, prefix", [pytest.param(DEVON_PATH, "DEV", id="devon"), pytest.param(SURREY_PATH, "SUR", id="surrey")])
def test_frameworks_show_states_every_rule(capsys, path, prefix):
    assert _cli("frameworks", "show", "tf-phase2", "--plan", str(path)) == 0
    out = capsys.readouterr().out
    missing = {rule: words for rule, words in SHOWN.items() if rule.startswith(prefix) and words not in out}
    assert not missing


def _rule_ids(text: str, prefix: str) -> set[str]:
    return set(re.findall(rf"\b{prefix}-\d+\b", text))


def _tested_rule_ids() -> set[str]:
    """The rule ids of this module's parametrized tests (a test id's part before any "/")."""
    ids: list[str] = []
    for test in (v for k, v in globals().items() if k.startswith("test_")):
        for mark in getattr(test, "pytestmark", []):
            if mark.name == "parametrize":
                ids += [getattr(v, "id", None) or "" for v in mark.args[1]] + list(mark.kwargs.get("ids") or [])
    return {i.split("/")[0] for i in ids if re.match(r"^(DEV|SUR)-\d+$", i.split("/")[0])}


def test_every_rule_id_of_both_plans_is_tested():
    tested = _tested_rule_ids()
    table = COVERAGE.read_text(encoding="utf-8").split("## Every rule", 1)[1]
    for prefix, path in (("DEV", DEVON_PATH), ("SUR", SURREY_PATH)):
        rows = {m for m in re.findall(rf"^\| ({prefix}-\d+) \|", table, flags=re.M)}
        assert rows == {f"{prefix}-{n}" for n in range(1, 27 if prefix == "DEV" else 9)}
        assert _rule_ids(path.read_text(encoding="utf-8"), prefix) <= rows  # the plan's tags are rows of the table
        assert rows <= {t for t in tested if t.startswith(prefix)}, sorted(rows - tested)
        assert rows <= SHOWN.keys()
    assert len({t for t in tested}) == 34


# --- end to end: tfclaims claim --dry-run under Devon's plan ----------------------------------------------

KEY = "test-council-secret"


def _write(folder: Path, name: str, rows: list[dict], columns: list[str]) -> None:
    pd.DataFrame(rows, columns=columns).to_csv(folder / f"{name}.csv", index=False)


def devon_cohort(folder: Path) -> Path:
    """F1 and F2 alike: in at attachment (2020-01-15) for crime (the young person's 3 proven offences in
    the 6 months before) and children who need help (2 MASH enquiries); the young person's offending down
    to 1 in the 6 months to A. F2's parent breached an order in October 2020 (DEV-8)."""
    from cohort_builder import EMPTY_COLUMNS

    folder.mkdir()
    people, offences, events = [], [], []
    for f in ("F1", "F2"):
        people += [dict(person_id=f"{f}P", family_id=f, first_name="Sam", last_name=f"Parent{f}", date_of_birth="1980-01-01", relationship="parent"),
                   dict(person_id=f"{f}Y", family_id=f, first_name="Jo", last_name=f"Young{f}", date_of_birth="2006-03-03", relationship="child")]
        offences += [offence(f"{f}Y", d) for d in ("2019-08-01", "2019-10-01", "2019-12-01", "2021-02-01")]
        events += [event(d, "MASH_ENQUIRY", pid=f"{f}Y") for d in ("2019-06-01", "2019-11-01")]
    events.append(event("2020-10-01", "ORDER_BREACH", pid="F2P"))
    _write(folder, "people", people, ["person_id", "family_id", "first_name", "last_name", "date_of_birth", "relationship"])
    _write(folder, "programme", [programme(f, ATT) for f in ("F1", "F2")], EMPTY_COLUMNS["programme"])
    _write(folder, "offences", offences, EMPTY_COLUMNS["offences"])
    _write(folder, "local_events", events, ["person_id", "family_id", "event_date", "source", "code", "value"])
    _write(folder, "local_spells", [], ["person_id", "code", "start_date", "end_date", "source"])
    for name in ("asb_incidents", "school_attendance", "exclusions", "social_care", "benefits", "employment", "domestic_abuse", "health", "housing", "needs"):
        _write(folder, name, [], EMPTY_COLUMNS[name])
    return folder


def test_a_devon_claim_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    out = tmp_path / "out"
    assert _cli("claim", "--input", str(devon_cohort(tmp_path / "cohort")), "--plan", str(DEVON_PATH), "--period-end", A,
                "--out", str(out), "--dry-run", "--audit", str(tmp_path / "audit.jsonl")) == 0
    decisions = pd.read_csv(out / "claim_decisions.csv", dtype=str).set_index("family_id")
    assert decisions.loc["F1", ["decision", "route", "reason"]].fillna("").tolist() == ["claim", "ssp", ""]
    assert decisions.loc["F1", "detail"] == "significant and sustained progress on every required headline"
    assert decisions.loc["F2", ["decision", "reason"]].tolist() == ["no_claim", "outcomes_not_met"]
    assert decisions.loc["F2", "detail"] == "outcomes not met: crime_asb: not_met"
    outcomes = pd.read_csv(out / "outcomes.csv", dtype=str).set_index(["family_id", "headline"])
    assert outcomes.loc[("F2", "crime_asb"), "detail"] == "F2P: breach of order on 2020-10-01 within the 12 months to 2021-03-31"
    assert outcomes.loc[("F1", "crime_asb"), "detail"].startswith(
        "young people's proven offences: 1 in the 6 months to 2021-03-31 against 3 in the 6 months before attachment on 2020-01-15: down 66.7%")
    assert outcomes.loc[("F1", "children_need_help"), "status"] == "met"
