"""The general indicator catalogue: local_event, local_spell, the spell match of the national spell
indicators, school absence by type and exclusions counted in school terms; the plan's local codes
checked at load; whole-family working's local evidence codes; eligibility exclusions. Each rule on
tiny hand-built families (one that passes, one that fails), and a plan run end to end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from cohort_builder import cohort, person, programme, term
from tfclaims.claim.decide import LedgerState, decide
from tfclaims.cli import main
from tfclaims.core.errors import ConfigError
from tfclaims.core.resources import FRAMEWORKS_DIR, LOCAL_PLANS_DIR
from tfclaims.claim.register import claim_rules
from tfclaims.rules.frameworks import load_framework, load_plan
from tfclaims.rules.identify import identify, identify_at
from tfclaims.rules.indicators import CATALOGUE, RulesContext, Scope, term_window_start
from tfclaims.rules.track import track

D = "2021-03-31"
TF = load_framework("tf-phase2")
EXAMPLE = LOCAL_PLANS_DIR / "example-council.yaml"

PARENT = person("P1", "F1", "1980-01-01", "parent")
CHILD = person("C1", "F1", "2010-05-05", "child")
TEEN = person("T1", "F1", "2003-04-01", "child")  # 17 on 2021-03-31, 18 on 2021-04-01
OTHER = [person("P2", "F2", "1981-01-01", "parent"), person("C2", "F2", "2012-01-01", "child")]


def event(date, code="MASH_CONTACT", pid=None, fam=None, value=None):
    return dict(person_id=pid, family_id=fam, event_date=date, source="Early help system", code=code, value=value)


def spell(pid, start, end=None, code="NEET"):
    return dict(person_id=pid, code=code, start_date=start, end_date=end, source="16-18 tracking")


def evidence(c, code, d=D, since=None, **params) -> pd.DataFrame:
    """The evidence rows of catalogue indicator ``code`` at ``d`` (or, with ``since``, in (since, d])."""
    ctx = RulesContext(c)
    as_of = np.full(ctx.n_families, np.datetime64(d, "ns"))
    scope = Scope(ctx, as_of)
    if since is not None:
        scope = scope.recurrence_since(np.full(ctx.n_families, np.datetime64(since, "ns")))
    ind = CATALOGUE[code]
    ev = ind.evidence(scope, ind.params_model(**params))
    return pd.DataFrame({
        "family": ctx.families_obj[ev["fam"].to_numpy(dtype="int64")],
        "person": [ctx.person_ids_obj[p] if p >= 0 else None for p in ev["person"]],
        "date": ev["event_date"].to_numpy(),
    })


def families(c, code, d=D, since=None, **params) -> set[str]:
    return set(evidence(c, code, d, since, **params)["family"])


def people(c, code, d=D, **params) -> set[str | None]:
    return set(evidence(c, code, d, **params)["person"])


# --- local_event -----------------------------------------------------------------------------------


@pytest.mark.parametrize("date, holds", [("2020-03-31", False), ("2020-04-01", True), ("2021-03-31", True), ("2021-04-01", False)])
def test_local_event_window_start_excluded_end_included(date, holds):
    c = cohort([PARENT, CHILD], local_events=[event(date, pid="C1")])
    assert (families(c, "local_event", codes=("MASH_CONTACT",)) == {"F1"}) is holds


def test_local_event_window_months():
    c = cohort([PARENT, CHILD], local_events=[event("2020-09-30", pid="C1")])
    assert families(c, "local_event", codes=("MASH_CONTACT",), window_months=6) == set()
    assert families(c, "local_event", codes=("MASH_CONTACT",), window_months=7) == {"F1"}


def test_local_event_codes_match_without_regard_to_case_and_other_codes_do_not_count():
    c = cohort([PARENT, CHILD], local_events=[event("2021-01-01", code="mash_contact", pid="C1"), event("2021-01-01", code="CSE_FLAG", pid="P1")])
    assert people(c, "local_event", codes=("MASH_CONTACT",)) == {"C1"}
    assert people(c, "local_event", codes=("FOODBANK",)) == set()
    assert people(c, "local_event", codes=("FOODBANK", "cse_flag")) == {"P1"}


def test_local_event_household_rows_count_for_the_family():
    c = cohort([PARENT, CHILD, *OTHER], local_events=[event("2021-01-01", code="FOODBANK", fam="F2")])
    ev = evidence(c, "local_event", codes=("FOODBANK",))
    assert ev["family"].tolist() == ["F2"] and ev["person"].tolist() == [None]


def test_local_event_of_someone_born_after_the_test_date_does_not_count():
    baby = person("B1", "F1", "2021-06-01", "child")
    c = cohort([PARENT, CHILD, baby], local_events=[event("2021-03-01", pid="B1")])
    assert families(c, "local_event", codes=("MASH_CONTACT",)) == set()


@pytest.mark.parametrize("rows, min_count, count_per, holds", [
    ([("2021-01-01", "C1", None)], 2, "family", False),
    ([("2021-01-01", "C1", None), ("2021-02-01", "C1", None)], 2, "family", True),
    ([("2021-01-01", "C1", None), ("2021-02-01", "P1", None)], 2, "family", True),  # the household's rows together
    ([("2021-01-01", "C1", None), ("2021-02-01", None, "F1")], 2, "family", True),  # a household row counts too
    ([("2021-01-01", "C1", None), ("2021-02-01", "P1", None)], 2, "person", False),  # one each
    ([("2021-01-01", "C1", None), ("2021-02-01", "C1", None)], 2, "person", True),
    ([("2021-01-01", None, "F1"), ("2021-02-01", None, "F1")], 2, "person", False),  # household rows: no person
    ([("2021-01-01", None, "F1")], 1, "person", False),
    ([("2021-01-01", "C1", None), ("2020-03-31", "C1", None)], 2, "family", False),  # one is outside the window
])
def test_local_event_min_count_per_family_or_person(rows, min_count, count_per, holds):
    c = cohort([PARENT, CHILD], local_events=[event(d, pid=p, fam=f) for d, p, f in rows])
    assert (families(c, "local_event", codes=("MASH_CONTACT",), min_count=min_count, count_per=count_per) == {"F1"}) is holds


def test_local_event_evidence_is_every_matching_row_of_a_family_that_reaches_the_count():
    c = cohort([PARENT, CHILD, *OTHER], local_events=[
        event("2021-01-01", pid="C1"), event("2021-02-01", pid="P1"), event("2019-01-01", pid="C1"), event("2021-01-01", pid="C2")])
    ev = evidence(c, "local_event", codes=("MASH_CONTACT",), min_count=2)
    assert sorted(ev["person"]) == ["C1", "P1"] and set(ev["family"]) == {"F1"}


@pytest.mark.parametrize("value, holds", [(3.0, True), (2.9, False), (None, False), (10.0, True)])
def test_local_event_min_value(value, holds):
    c = cohort([PARENT, CHILD], local_events=[event("2021-01-01", code="FOODBANK", fam="F1", value=value)])
    assert (families(c, "local_event", codes=("FOODBANK",), min_value=3) == {"F1"}) is holds
    assert families(c, "local_event", codes=("FOODBANK",)) == {"F1"}  # without min_value any row counts


def test_local_event_min_value_without_a_value_column_never_holds():
    c = cohort([PARENT, CHILD], local_events=[dict(family_id="F1", event_date="2021-01-01", source="s", code="FOODBANK")])
    assert families(c, "local_event", codes=("FOODBANK",), min_value=0) == set()
    assert families(c, "local_event", codes=("FOODBANK",)) == {"F1"}


@pytest.mark.parametrize("d, max_age, holds", [(D, 17, True), ("2021-04-01", 17, False), ("2021-04-01", 18, True), (D, 16, False)])
def test_local_event_person_filter_age_at_the_test_date(d, max_age, holds):
    c = cohort([PARENT, TEEN], local_events=[event("2021-03-01", pid="T1")])
    assert (families(c, "local_event", d=d, codes=("MASH_CONTACT",), max_age=max_age) == {"F1"}) is holds


def test_local_event_person_filter_min_age_and_relationships():
    c = cohort([PARENT, CHILD], local_events=[event("2021-03-01", pid="C1")])
    assert families(c, "local_event", codes=("MASH_CONTACT",), min_age=10) == {"F1"}  # C1 is 10 on D
    assert families(c, "local_event", codes=("MASH_CONTACT",), min_age=11) == set()
    assert families(c, "local_event", codes=("MASH_CONTACT",), relationships=("child",)) == {"F1"}
    assert families(c, "local_event", codes=("MASH_CONTACT",), relationships=("parent", "other_adult")) == set()


def test_local_event_person_filter_excludes_household_rows_and_applies_before_counting():
    c = cohort([PARENT, CHILD], local_events=[event("2021-01-01", fam="F1"), event("2021-02-01", pid="C1"), event("2021-02-02", pid="P1")])
    assert families(c, "local_event", codes=("MASH_CONTACT",), min_count=3) == {"F1"}
    assert families(c, "local_event", codes=("MASH_CONTACT",), min_count=2, relationships=("child",)) == set()
    assert people(c, "local_event", codes=("MASH_CONTACT",), relationships=("child",)) == {"C1"}


def test_local_event_in_a_recurrence_scope_counts_events_after_since():
    c = cohort([PARENT, CHILD], local_events=[event("2020-06-01", pid="C1"), event("2021-01-01", pid="C1")])
    assert families(c, "local_event", since="2020-06-01", codes=("MASH_CONTACT",)) == {"F1"}  # (since, A]
    assert families(c, "local_event", since="2021-01-01", codes=("MASH_CONTACT",)) == set()
    assert families(c, "local_event", since="2020-05-31", codes=("MASH_CONTACT",), min_count=2) == {"F1"}  # min_count applies
    assert families(c, "local_event", since="2020-06-01", codes=("MASH_CONTACT",), min_count=2) == set()


def test_local_event_params_are_typed():
    model = CATALOGUE["local_event"].params_model
    for bad in ({}, {"codes": []}, {"codes": ["A B"]}, {"codes": ["A"], "min_count": 0}, {"codes": ["A"], "count_per": "household"},
                {"codes": ["A"], "colour": "red"}, {"codes": ["A"], "min_age": 12, "max_age": 10}):
        with pytest.raises(ValidationError):
            model(**bad)
    p = model(codes=["MASH_CONTACT"], min_count=2, count_per="person", min_value=1.5)
    assert CATALOGUE["local_event"].describe(p) == (
        "2 or more local events of one person coded MASH_CONTACT in the 12 months to the test date with a value of at least 1.5")


# --- local_spell and the spell match ----------------------------------------------------------------


@pytest.mark.parametrize("start, end, match, holds", [
    ("2019-01-01", "2020-03-31", "overlaps", False),  # ends on the window start (31 Mar 2020): excluded
    ("2019-01-01", "2020-04-01", "overlaps", True),
    ("2019-01-01", None, "overlaps", True),
    ("2021-03-31", None, "overlaps", True),
    ("2021-04-01", None, "overlaps", False),
    ("2019-01-01", None, "starts_within", False),  # started before the window, though it overlaps it
    ("2020-03-31", None, "starts_within", False),
    ("2020-04-01", "2020-05-01", "starts_within", True),
    ("2021-03-31", None, "starts_within", True),
    ("2015-01-01", None, "open_at", True),  # open on D: the window does not matter
    ("2021-03-31", None, "open_at", True),
    ("2020-01-01", "2021-03-31", "open_at", False),  # ended on D
    ("2020-01-01", "2021-04-01", "open_at", True),
    ("2021-04-01", None, "open_at", False),
])
def test_local_spell_match(start, end, match, holds):
    c = cohort([PARENT, TEEN], local_spells=[spell("T1", start, end)])
    assert (families(c, "local_spell", codes=("NEET",), match=match) == {"F1"}) is holds


def test_local_spell_codes_and_person_filter():
    c = cohort([PARENT, TEEN], local_spells=[spell("T1", "2021-01-01"), spell("P1", "2021-01-01", code="OTHER")])
    assert people(c, "local_spell", codes=("neet",)) == {"T1"}
    assert people(c, "local_spell", codes=("NEET",), min_age=16, max_age=18) == {"T1"}
    assert people(c, "local_spell", d="2021-04-01", codes=("NEET",), max_age=17) == set()  # 18 on that D
    assert people(c, "local_spell", codes=("NEET",), relationships=("parent",)) == set()


def test_local_spell_in_a_recurrence_scope_overlaps_the_window_after_since():
    c = cohort([PARENT, TEEN], local_spells=[spell("T1", "2020-01-01", "2020-06-01")])
    assert families(c, "local_spell", since="2020-05-31", codes=("NEET",)) == {"F1"}
    assert families(c, "local_spell", since="2020-06-01", codes=("NEET",)) == set()


@pytest.mark.parametrize("match, start, end, holds", [
    ("overlaps", "2019-01-01", None, True), ("starts_within", "2019-01-01", None, False), ("starts_within", "2020-06-01", None, True),
    ("open_at", "2019-01-01", "2021-03-31", False), ("open_at", "2019-01-01", None, True),
])
def test_social_care_episode_match(match, start, end, holds):
    c = cohort([PARENT, CHILD], social_care=[dict(person_id="C1", episode_type="cin", start_date=start, end_date=end)])
    assert (families(c, "social_care_episode", match=match) == {"F1"}) is holds


@pytest.mark.parametrize("match, start, end, holds", [
    ("overlaps", "2020-01-01", "2020-10-01", True), ("open_at", "2020-01-01", "2020-10-01", False),
    ("open_at", "2020-01-01", None, True), ("starts_within", "2020-01-01", None, False), ("starts_within", "2020-10-01", None, True),
])
def test_out_of_work_benefit_match(match, start, end, holds):
    c = cohort([PARENT, CHILD], benefits=[dict(person_id="P1", benefit_type="JSA", start_date=start, end_date=end)])
    assert (families(c, "out_of_work_benefit", match=match, benefit_types=("JSA",)) == {"F1"}) is holds


def test_spell_match_defaults_to_overlaps_and_reads_in_the_description():
    assert TF.headlines["children_need_help"].indicators[0].params.match == "overlaps"
    ind = CATALOGUE["social_care_episode"]
    assert "open on the test date" in ind.describe(ind.params_model(match="open_at"))
    assert "starting in the 12 months" in ind.describe(ind.params_model(match="starts_within"))
    with pytest.raises(ValidationError):
        ind.params_model(match="during")


# --- school absence by type -------------------------------------------------------------------------


@pytest.mark.parametrize("authorised, unauthorised, total, unauth", [(10, 0, True, False), (0, 10, True, True), (5, 4, False, False), (1, 9, True, False)])
def test_school_absence_type(authorised, unauthorised, total, unauth):
    # term(): ``absent`` is the authorised sessions, ``unauthorised`` the unauthorised ones
    c = cohort([PARENT, CHILD], school_attendance=[term("C1", "2020/21", "autumn", 100, authorised, unauthorised)])
    assert (families(c, "school_absence", terms=1) == {"F1"}) is total
    assert (families(c, "school_absence", terms=1, absence_type="unauthorised") == {"F1"}) is unauth
    ind = CATALOGUE["school_absence"]
    assert "unauthorised absence over" in ind.describe(ind.params_model(absence_type="unauthorised"))


# --- exclusions counted in school terms -------------------------------------------------------------


def test_term_window_start_by_month():
    d = np.array(["2021-03-15", "2021-01-01", "2020-12-31", "2020-09-01", "2020-08-31", "2020-07-31", "2020-04-01", "NaT"], dtype="datetime64[ns]")
    one = term_window_start(d, 1).astype("datetime64[D]").astype(str).tolist()
    assert one == ["2021-01-01", "2021-01-01", "2020-09-01", "2020-09-01", "2020-04-01", "2020-04-01", "2020-04-01", "NaT"]
    three = term_window_start(d, 3).astype("datetime64[D]").astype(str).tolist()
    assert three[:5] == ["2020-04-01", "2020-04-01", "2020-01-01", "2020-01-01", "2019-09-01"]
    assert term_window_start(d[:1], 9).astype("datetime64[D]").astype(str).tolist() == ["2018-04-01"]


def exclusion(start, kind="permanent", pid="C1"):
    return dict(person_id=pid, start_date=start, exclusion_type=kind)


@pytest.mark.parametrize("d, date, terms, holds", [
    ("2021-03-15", "2021-01-01", 1, True),  # the first day of the spring term counts
    ("2021-03-15", "2020-12-31", 1, False),
    ("2021-03-15", "2021-03-16", 1, False),  # after D
    ("2021-03-15", "2020-04-01", 3, True),  # summer 2020, autumn 2020, spring 2021
    ("2021-03-15", "2020-03-31", 3, False),
    ("2020-08-20", "2020-04-01", 1, True),  # August: the summer term just ended
    ("2020-08-20", "2020-08-10", 1, True),
    ("2020-08-20", "2020-03-31", 1, False),
    ("2020-09-01", "2020-08-10", 1, False),  # the autumn term has begun
    ("2020-09-01", "2020-08-10", 2, True),
])
def test_permanent_exclusion_window_terms(d, date, terms, holds):
    c = cohort([PARENT, CHILD], exclusions=[exclusion(date)])
    assert (families(c, "permanent_exclusion", d=d, window_terms=terms) == {"F1"}) is holds


def test_repeated_suspensions_window_terms():
    rows = [exclusion("2020-09-10", "suspension"), exclusion("2021-01-10", "suspension"), exclusion("2020-07-01", "suspension")]
    c = cohort([PARENT, CHILD], exclusions=rows)
    assert families(c, "repeated_suspensions", d="2021-03-15", window_terms=2) == set()  # 2 in autumn + spring
    assert families(c, "repeated_suspensions", d="2021-03-15", window_terms=3) == {"F1"}
    assert families(c, "repeated_suspensions", d="2021-03-15") == {"F1"}  # 12 months: all three


def test_window_terms_refuses_a_non_default_window_months_and_reads_in_the_description():
    for code in ("permanent_exclusion", "repeated_suspensions"):
        model = CATALOGUE[code].params_model
        with pytest.raises(ValidationError, match="window_terms"):
            model(window_terms=3, window_months=6)
        for bad in (0, 10):
            with pytest.raises(ValidationError):
                model(window_terms=bad)
        p = model(window_terms=3, window_months=12)  # the default (as a plan inherits it) is accepted
        assert "in the 3 school terms to the test date" in CATALOGUE[code].describe(p)


def test_a_plan_sets_window_terms_on_the_frameworks_exclusion_indicators(tmp_path):
    plan = _plan(tmp_path, {"overrides": {"headlines": {"education": {"indicators": {"permanent_exclusion": {"window_terms": 2}}}}}})
    fw = load_plan(plan)
    assert fw.headlines["education"].indicators[2].params.window_terms == 2
    plan = _plan(tmp_path, {"overrides": {"headlines": {"education": {"indicators": {
        "permanent_exclusion": {"window_terms": 2, "window_months": 24}}}}}})
    with pytest.raises(ConfigError, match=r"overrides\.headlines\.education\.indicators\.permanent_exclusion.*window_terms"):
        load_plan(plan)


# --- local codes checked at load ----------------------------------------------------------------------


def _merged(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _plan(tmp_path: Path, extra: dict, base: Path = EXAMPLE, name: str = "plan.yaml") -> Path:
    """The example plan with ``extra`` merged in (mappings key by key; ``local_codes`` replaced)."""
    data = _merged(yaml.safe_load(base.read_text(encoding="utf-8")), extra)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _identifying(*headlines: str) -> dict:
    """A plan's statement that adding an indicator extends the headline's recurrence test."""
    return {"overrides": {"headlines": {h: {"success": {"indicators": "identifying"}} for h in headlines}}}


def _add(tmp_path: Path, headline: str, entry: dict, name: str = "mash_enquiries") -> Path:
    return _plan(tmp_path, _merged({"add_indicators": {headline: {name: entry}}}, _identifying(headline)))


def test_declared_codes_load_in_any_case(tmp_path):
    fw = load_plan(_add(tmp_path, "children_need_help", {"indicator": "local_event", "label": "MASH enquiries", "codes": ["mash_contact", "CSE_FLAG"]}))
    spec = fw.headlines["children_need_help"].indicators[-1]
    assert (spec.code, spec.kind, spec.label, spec.params.codes) == ("mash_enquiries", "local_event", "MASH enquiries", ("mash_contact", "CSE_FLAG"))


def test_an_undeclared_code_is_refused_naming_the_plan_and_key_path(tmp_path):
    path = _add(tmp_path, "children_need_help", {"indicator": "local_event", "codes": ["MASH_CONTACT", "MASH_ENQ"]})
    with pytest.raises(ConfigError) as exc:
        load_plan(path)
    assert str(exc.value) == (f"{path}: add_indicators.children_need_help.mash_enquiries.codes[1]: 'MASH_ENQ' is not a local code of "
                              "local_events declared by the plan (declared: MASH_CONTACT, CSE_FLAG, FOODBANK)")


def test_a_code_of_the_other_local_table_is_refused(tmp_path):
    path = _add(tmp_path, "worklessness", {"indicator": "local_event", "codes": ["NEET"]}, name="neet_events")
    with pytest.raises(ConfigError, match=r"neet_events\.codes\[0\]: 'NEET' is not a local code of local_events .*NEET is a code of local_spells"):
        load_plan(path)
    assert load_plan(_add(tmp_path, "worklessness", {"indicator": "local_spell", "codes": ["NEET"], "match": "open_at"}, name="neet"))


def test_a_code_declared_for_other_headlines_is_refused(tmp_path):
    path = _add(tmp_path, "crime_asb", {"indicator": "local_event", "codes": ["CSE_FLAG", "MASH_CONTACT"]}, name="flags")
    with pytest.raises(ConfigError) as exc:
        load_plan(path)
    assert "add_indicators.crime_asb.flags.codes[1]: 'MASH_CONTACT'" in str(exc.value)
    assert "declares MASH_CONTACT for headlines children_need_help only (local_codes), not crime_asb" in str(exc.value)


def test_a_code_declared_without_headlines_may_be_used_by_any(tmp_path):
    codes = [{"code": "ANY_CODE", "description": "anything", "table": "local_events"}]
    path = _plan(tmp_path, {"local_codes": codes, "add_indicators": {"crime_asb": {"any": {"indicator": "local_event", "codes": ["ANY_CODE"]}}}})
    assert load_plan(path).headlines["crime_asb"].indicators[-1].params.codes == ("ANY_CODE",)


def test_a_code_is_named_in_the_file_that_sets_it(tmp_path):
    fw_path = tmp_path / "fw.yaml"  # a framework file with a local indicator
    fw_data = yaml.safe_load((FRAMEWORKS_DIR / "tf-phase2.yaml").read_text(encoding="utf-8"))
    fw_data["headlines"]["children_need_help"]["indicators"]["mash"] = {"indicator": "local_event", "codes": ["MASH_CONTACT"]}
    fw_path.write_text(yaml.safe_dump(fw_data, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_framework(fw_path)  # no plan: refused
    assert str(exc.value).startswith(f"{fw_path}: headlines.children_need_help.indicators.mash.codes[0]: 'MASH_CONTACT': "
                                     "indicator local_event reads local codes, which only a local plan declares")
    plan = _plan(tmp_path, {"extends": str(fw_path)})
    assert load_plan(plan).headlines["children_need_help"].indicators[-1].params.codes == ("MASH_CONTACT",)
    plan = _plan(tmp_path, {"extends": str(fw_path), "overrides": {"headlines": {"children_need_help": {"indicators": {"mash": {"codes": ["MASH_X"]}}}}}})
    with pytest.raises(ConfigError, match=rf"^{plan}: overrides\.headlines\.children_need_help\.indicators\.mash\.codes\[0\]: 'MASH_X' is not"):
        load_plan(plan)
    fw_data["headlines"]["children_need_help"]["indicators"]["mash"]["codes"] = ["MASH_Y"]
    fw_path.write_text(yaml.safe_dump(fw_data, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{fw_path}: headlines\.children_need_help\.indicators\.mash\.codes\[0\]: 'MASH_Y' is not"):
        load_plan(_plan(tmp_path, {"extends": str(fw_path)}))


def test_a_framework_using_a_local_indicator_without_a_plan_is_refused(tmp_path):
    fw_data = yaml.safe_load((FRAMEWORKS_DIR / "sf-2022.yaml").read_text(encoding="utf-8"))
    first = next(iter(fw_data["headlines"]))
    fw_data["headlines"][first]["indicators"]["neet"] = {"indicator": "local_spell", "codes": ["NEET"]}
    path = tmp_path / "sf-local.yaml"
    path.write_text(yaml.safe_dump(fw_data, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"headlines\.{first}\.indicators\.neet\.codes\[0\]: 'NEET': indicator local_spell reads local codes, which only a local plan declares"):
        load_framework(path)


@pytest.mark.parametrize("success, where", [
    ({"indicators": {"relapse": {"indicator": "local_event", "codes": ["FOODBANK"]}}},
     r"overrides\.headlines\.crime_asb\.success\.indicators\.relapse\.codes\[0\]"),
    ({"measure": "all_of", "parts": [
        {"measure": "no_recurrence_window", "indicators": {"proven_offence": {}}},
        {"measure": "no_recurrence_window", "indicators": {"relapse": {"indicator": "local_event", "codes": ["FOODBANK"]}}},
    ]}, r"overrides\.headlines\.crime_asb\.success\.parts\[1\]\.indicators\.relapse\.codes\[0\]"),
])
def test_success_specific_indicators_are_checked_too(tmp_path, success, where):
    """A local code in a success-specific entry (also inside a part of a composite measure) must be
    declared for that headline: FOODBANK is the example plan's code for worklessness only."""
    plan = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    plan.setdefault("overrides", {}).setdefault("headlines", {}).setdefault("crime_asb", {})["success"] = success
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"plan\.yaml: {where}: 'FOODBANK'.*FOODBANK for headlines worklessness only"):
        load_plan(path)


def test_evidence_codes_and_exclusions_are_checked(tmp_path):
    path = _plan(tmp_path, {"overrides": {"whole_family_working": {"evidence_codes": ["MASH_CONTACT", "MULTI_AGENCY"]}}})
    with pytest.raises(ConfigError, match=r"overrides\.whole_family_working\.evidence_codes\[1\]: 'MULTI_AGENCY' is not a local code of local_events"):
        load_plan(path)
    path = _plan(tmp_path, {"overrides": {"eligibility": {"exclude_when": {"open_case": {"indicator": "local_spell", "codes": ["OPEN"]}}}}})
    with pytest.raises(ConfigError, match=r"overrides\.eligibility\.exclude_when\.open_case\.codes\[0\]: 'OPEN' is not a local code of local_spells"):
        load_plan(path)
    # the headlines of a declaration restrict headline indicators, not exclusions or evidence codes
    path = _plan(tmp_path, {"overrides": {"whole_family_working": {"evidence_codes": ["MASH_CONTACT"]},
                                          "eligibility": {"exclude_when": {"neet": {"indicator": "local_spell", "codes": ["NEET"]}}}}})
    fw = load_plan(path)
    assert fw.whole_family_working.evidence_codes == ("MASH_CONTACT",) and fw.eligibility_exclusions[0].code == "neet"


def test_built_in_frameworks_have_no_exclusions_or_evidence_codes():
    for name in ("tf-phase2", "sf-2022"):
        fw = load_framework(name)
        assert fw.eligibility_exclusions == () and fw.whole_family_working.evidence_codes == ()


# --- whole-family working: local evidence codes ----------------------------------------------------

WFW_CODES = [
    {"code": "MULTI_AGENCY_PLAN", "description": "a plan coordinated across more than one agency", "table": "local_events"},
    {"code": "OBJECTIVES_MAPPED", "description": "objectives mapped to the outcome plan", "table": "local_events"},
]


def _wfw_plan(tmp_path: Path) -> Path:
    base = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return _plan(tmp_path, {"local_codes": base["local_codes"] + WFW_CODES,
                            "overrides": {"whole_family_working": {"evidence_codes": ["MULTI_AGENCY_PLAN", "OBJECTIVES_MAPPED"]}}}, name="wfw.yaml")


A = "2021-03-31"
ATT = "2020-01-15"


def _track_wfw(fw, local_events, prog=None):
    c = cohort([PARENT, CHILD, *OTHER], programme=prog or [programme("F1", ATT)], offences=[dict(person_id="P1", offence_date="2019-12-01", outcome="proven")],
               **({"local_events": local_events} if local_events is not None else {}))
    return track(c, fw, A).families.set_index("family_id").loc["F1"]


@pytest.mark.parametrize("rows, ok", [
    ([event("2020-02-01", "MULTI_AGENCY_PLAN", fam="F1"), event("2020-03-01", "objectives_mapped", pid="C1")], True),
    ([event("2020-02-01", "MULTI_AGENCY_PLAN", fam="F1"), event(A, "OBJECTIVES_MAPPED", pid="P1")], True),  # on A counts
    ([event("2020-02-01", "MULTI_AGENCY_PLAN", fam="F1"), event("2021-04-01", "OBJECTIVES_MAPPED", pid="P1")], False),  # after A
    ([event("2020-02-01", "MULTI_AGENCY_PLAN", fam="F1"), event("2020-03-01", "OBJECTIVES_MAPPED", pid="C2")], False),  # another family's
    ([event("2020-02-01", "MULTI_AGENCY_PLAN", fam="F1")], False),
    ([], False),
])
def test_whole_family_working_needs_each_evidence_code_by_a(tmp_path, rows, ok):
    f = _track_wfw(load_plan(_wfw_plan(tmp_path)), rows)
    assert bool(f["whole_family_working"]) is ok
    if ok:
        assert f["whole_family_working_detail"].startswith("lead practitioner Sam Keyworker") and "MULTI_AGENCY_PLAN on 2020-02-01" in f["whole_family_working_detail"]


def test_whole_family_working_says_what_local_evidence_is_missing_in_words(tmp_path):
    fw = load_plan(_wfw_plan(tmp_path))
    f = _track_wfw(fw, [event("2020-02-01", "MULTI_AGENCY_PLAN", fam="F1")])
    assert f["whole_family_working_detail"] == "no record of objectives mapped to the outcome plan (OBJECTIVES_MAPPED) by 2021-03-31"
    f = _track_wfw(fw, [], prog=[programme("F1", ATT, lead=None)])
    assert f["whole_family_working_detail"] == (
        "no lead practitioner named; no record of a plan coordinated across more than one agency (MULTI_AGENCY_PLAN) by 2021-03-31; "
        "no record of objectives mapped to the outcome plan (OBJECTIVES_MAPPED) by 2021-03-31")


def test_whole_family_working_is_not_evaluated_without_local_events_and_never_met(tmp_path):
    fw = load_plan(_wfw_plan(tmp_path))
    f = _track_wfw(fw, None)
    assert not f["whole_family_working"]
    assert f["whole_family_working_detail"].startswith("not evaluated: local_events not supplied, so a plan coordinated across")
    prog = pd.DataFrame({"family_id": ["F1"], "attached_on": [pd.Timestamp(ATT)]})
    fams = f.to_frame().T.reset_index(names="family_id").assign(ssp=True, eligible_at_attachment=True)
    d = decide(prog, fams, rules=claim_rules(fw), period_end=dt.date(2021, 3, 31), ledger=LedgerState.empty(), allocation=None).iloc[0]
    assert d["decision"] == "no_claim" and d["reason"] == "no_whole_family_working"
    assert "whole-family working not evidenced: not evaluated: local_events not supplied" in d["detail"]


def test_without_evidence_codes_local_events_change_nothing():
    with_local = _track_wfw(TF, [event("2020-02-01", "MULTI_AGENCY_PLAN", fam="F1")])
    without = _track_wfw(TF, None)
    assert with_local.equals(without) and with_local["whole_family_working"]


# --- eligibility exclusions -------------------------------------------------------------------------

EXCLUDE = {"open_social_care": {"indicator": "social_care_episode", "label": "open to children's social care",
                                "match": "open_at", "episode_types": ["cin", "cp", "lac"]}}


def _eligible_family(**tables):
    """F1: a proven offence and a MASH-free education problem (two headlines, a dependent)."""
    base = dict(offences=[dict(person_id="P1", offence_date="2021-01-01", outcome="proven")],
                exclusions=[exclusion("2021-01-05")])
    return cohort([PARENT, CHILD, *OTHER], **{**base, **tables})


def test_an_exclusion_that_holds_makes_the_family_not_eligible_with_evidence_and_reason(tmp_path):
    fw = load_plan(_plan(tmp_path, {"overrides": {"eligibility": {"exclude_when": EXCLUDE}}}))
    c = _eligible_family(social_care=[dict(person_id="C1", episode_type="lac", start_date="2020-06-01", end_date=None)])
    r = identify(c, fw, D)
    e = r.eligibility.set_index("family_id")
    assert not e.loc["F1", "eligible"] and e.loc["F1", "headlines"] == "crime_asb;education"
    assert r.exclusions.to_dict("records") == [{"family_id": "F1", "as_of": pd.Timestamp(D),
                                                "reason": "open to children's social care: C1: social-care episode from 2020-06-01"}]
    ev = r.evidence[r.evidence["headline"] == "exclude_when"]
    assert ev[["person_id", "indicator", "source_table", "source_row"]].values.tolist() == [["C1", "open_social_care", "social_care", 2]]
    assert identify(c, TF, D).eligibility.set_index("family_id").loc["F1", "eligible"]  # the framework alone: eligible


def test_an_exclusion_that_does_not_hold_leaves_eligibility(tmp_path):
    fw = load_plan(_plan(tmp_path, {"overrides": {"eligibility": {"exclude_when": EXCLUDE}}}))
    c = _eligible_family(social_care=[dict(person_id="C1", episode_type="lac", start_date="2020-06-01", end_date="2021-03-31")])
    r = identify(c, fw, D)
    assert r.eligibility.set_index("family_id").loc["F1", "eligible"] and len(r.exclusions) == 0
    at = identify_at(c, fw, pd.Series([pd.Timestamp("2021-01-10")], index=["F1"]))  # at its own date: open then
    assert not at.eligibility.set_index("family_id").loc["F1", "eligible"] and at.exclusions["family_id"].tolist() == ["F1"]


def test_an_exclusion_that_cannot_be_checked_makes_every_family_not_eligible(tmp_path):
    fw = load_plan(_plan(tmp_path, {"overrides": {"eligibility": {"exclude_when": EXCLUDE}}}))
    c = _eligible_family(social_care=None)
    r = identify(c, fw, D)
    assert not r.eligibility["eligible"].any()
    assert set(r.exclusions["family_id"]) == {"F1", "F2"}
    assert r.exclusions["reason"].iloc[0] == ("open to children's social care: not evaluated (social_care not supplied), "
                                              "so the family cannot be shown not to be excluded")
    ne = r.not_evaluated
    assert ne[ne["headline"] == "exclude_when"][["indicator", "missing_table"]].values.tolist() == [["open_social_care", "social_care"]]


def test_a_claims_not_eligible_detail_names_the_exclusion(tmp_path):
    from tfclaims.claim.register import eligibility_detail

    fw = load_plan(_plan(tmp_path, {"overrides": {"eligibility": {"exclude_when": EXCLUDE}}}))
    c = _eligible_family(social_care=[dict(person_id="C1", episode_type="lac", start_date="2020-06-01", end_date=None)],
                         programme=[programme("F1", "2021-02-01"), programme("F2", "2021-02-01")])
    at = identify_at(c, fw, pd.Series([pd.Timestamp("2021-02-01")] * 2, index=["F1", "F2"]))
    fams = track(c, fw, D).families
    detail = eligibility_detail(fams, at.eligibility, fw, at.exclusions).set_axis(fams["family_id"])
    assert detail["F1"] == ("2 headline(s) counted (crime_asb;education), at least 2 needed; "
                            "excluded: open to children's social care: C1: social-care episode from 2020-06-01")
    assert "excluded" not in detail["F2"]
    assert not fams.set_index("family_id").loc["F1", "eligible_at_attachment"]


def test_exclusions_with_local_indicators_and_person_filters(tmp_path):
    codes = [{"code": "CSC_OPEN", "description": "an open children's social care case", "table": "local_spells"}]
    excl = {"csc_open": {"indicator": "local_spell", "codes": ["CSC_OPEN"], "match": "open_at", "max_age": 17}}
    fw = load_plan(_plan(tmp_path, {"local_codes": codes, "overrides": {"eligibility": {"exclude_when": excl}}}))
    open_child = _eligible_family(local_spells=[spell("C1", "2020-01-01", code="CSC_OPEN")])
    open_parent = _eligible_family(local_spells=[spell("P1", "2020-01-01", code="CSC_OPEN")])
    assert not identify(open_child, fw, D).eligibility.set_index("family_id").loc["F1", "eligible"]
    r = identify(open_parent, fw, D)
    assert r.eligibility.set_index("family_id").loc["F1", "eligible"]  # the parent is over 17
    assert r.exclusions.empty


# --- a plan end to end: tfclaims identify on a cohort folder ------------------------------------------


def _cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def _csv(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def test_identify_end_to_end_local_events_make_a_headline_present(tmp_path):
    plan = _plan(tmp_path, _merged({
        "add_indicators": {"children_need_help": {"mash_enquiries": {
            "indicator": "local_event", "label": "MASH enquiries", "codes": ["MASH_CONTACT"], "min_count": 2, "max_age": 17}}},
        "overrides": {"eligibility": {"exclude_when": EXCLUDE}},
    }, _identifying("children_need_help")), name="e2e-plan.yaml")
    folder = tmp_path / "cohort"
    folder.mkdir()
    _csv(folder, "people.csv", "person_id,family_id,first_name,last_name,date_of_birth,relationship\n"
         "P1,F1,Ann,Able,1980-01-01,parent\nC1,F1,Bea,Able,2010-05-05,child\n"
         "P2,F2,Cal,Brown,1981-01-01,parent\nC2,F2,Dee,Brown,2011-01-01,child\n"
         "P3,F3,Eve,Cole,1982-01-01,parent\nC3,F3,Fay,Cole,2012-01-01,child\n")
    _csv(folder, "offences.csv", "person_id,offence_date,outcome\nP1,2021-01-01,proven\nP2,2021-01-01,proven\nP3,2021-01-01,proven\n")
    _csv(folder, "local_events.csv", "person_id,family_id,event_date,source,code,value\n"
         "C1,,2020-11-01,Early help system,MASH_CONTACT,\nC1,,2021-02-01,Early help system,mash_contact,\n"
         "C2,,2021-02-01,Early help system,MASH_CONTACT,\nP2,,2021-02-01,Early help system,MASH_CONTACT,\n"
         "C3,,2020-11-01,Early help system,MASH_CONTACT,\nC3,,2021-02-01,Early help system,MASH_CONTACT,\n")
    _csv(folder, "social_care.csv", "person_id,episode_type,start_date,end_date\nC3,lac,2020-06-01,\n")
    out = tmp_path / "out"
    assert _cli("identify", "--input", str(folder), "--plan", str(plan), "--as-of", D, "--out", str(out),
                "--audit", str(tmp_path / "audit.jsonl")) == 0
    elig = pd.read_csv(out / "eligibility.csv", dtype=str).set_index("family_id")
    assert elig.loc["F1", "headlines"] == "children_need_help;crime_asb" and elig.loc["F1", "eligible"] == "true"
    assert elig.loc["F2", "headlines"] == "crime_asb" and elig.loc["F2", "eligible"] == "false"  # the parent's row is filtered out
    assert elig.loc["F3", "headlines"] == "children_need_help;crime_asb" and elig.loc["F3", "eligible"] == "false"
    ev = pd.read_csv(out / "eligibility_evidence.csv", dtype=str)
    mash = ev[(ev["indicator"] == "mash_enquiries") & (ev["family_id"] == "F1")]
    assert mash[["headline", "person_id", "source_table", "source_file", "source_row"]].values.tolist() == [
        ["children_need_help", "C1", "local_events", "local_events.csv", "2"], ["children_need_help", "C1", "local_events", "local_events.csv", "3"]]
    excl = pd.read_csv(out / "eligibility_exclusions.csv", dtype=str)
    assert excl[["family_id", "reason"]].values.tolist() == [["F3", "open to children's social care: C3: social-care episode from 2020-06-01"]]
    assert (ev[ev["headline"] == "exclude_when"]["family_id"] == "F3").all()


def test_exclusions_are_reported_when_families_fall_in_different_epochs_of_dated_values(tmp_path):
    dated = {"values": [{"value": 3, "to": "2021-01-31"}, {"value": 2, "from": "2021-02-01"}], "source": "panel minute"}
    fw = load_plan(_plan(tmp_path, {"overrides": {"eligibility": {"exclude_when": EXCLUDE, "min_distinct_headlines": dated}}}))
    assert fw.epochs()
    c = _eligible_family(social_care=[dict(person_id="C1", episode_type="lac", start_date="2020-06-01", end_date=None),
                                      dict(person_id="C2", episode_type="lac", start_date="2020-06-01", end_date=None)])
    r = identify_at(c, fw, pd.Series([pd.Timestamp("2021-03-01"), pd.Timestamp("2021-01-10")], index=["F1", "F2"]))
    assert not r.eligibility["eligible"].any()
    assert r.exclusions["family_id"].tolist() == ["F1", "F2"]
    assert set(r.evidence.loc[r.evidence["headline"] == "exclude_when", "person_id"]) == {"C1", "C2"}


def test_frameworks_show_states_exclusions_and_evidence_codes(tmp_path, capsys):
    base = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    plan = _plan(tmp_path, {"local_codes": base["local_codes"] + WFW_CODES, "overrides": {
        "eligibility": {"exclude_when": EXCLUDE}, "whole_family_working": {"evidence_codes": ["MULTI_AGENCY_PLAN"]}}})
    assert _cli("frameworks", "show", "tf-phase2", "--plan", str(plan)) == 0
    out = capsys.readouterr().out
    assert ("A family is not eligible when, at its test date, there is a child with a cin, cp or lac episode open on the test date "
            "(open_social_care: open to children's social care)") in out
    assert ("Whole-family working also needs, by the as-of date, a local_events row of the family of each of: "
            "a plan coordinated across more than one agency (MULTI_AGENCY_PLAN)") in out
