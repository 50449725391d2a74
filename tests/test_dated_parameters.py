"""Parameters with dated values, judged at the date of the test.

A parameter may be written ``{values: [{value, to}, {value, from}], source, tag}``. Identification
takes the value in force at each family's own test date (its attachment date for a claim), success
measures the value at the as-of date. A dated framework must decide exactly as the plain framework
in force at each date would: that is what the engine tests below check, on a synthetic cohort.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ledger_helpers import run_cli
from tfclaims.ingest.validate import ingest
from tfclaims.link.passes import link
from tfclaims.rules import kernel
from tfclaims.rules.frameworks import DatedValue, load_framework, load_plan
from tfclaims.rules.identify import clear_context_cache, identify, identify_at
from tfclaims.rules.track import track
from tfclaims.synth.generate import generate_cohort, write_cohort

HEAD = "extends: tf-phase2\nname: {name}\nversion: '2'\napproved_by: Surrey Families panel\napproved_on: 2015-06-01\n"
SOURCE = "Surrey Families Outcomes Plan v2: 85%, 90% from September 2015"
SURREY = """overrides:
  headlines:
    education:
      success:
        absence_threshold:
          values:
            - {value: 0.15, to: 2015-08-31}
            - {value: 0.10, from: 2015-09-01}
          source: "%s"
""" % SOURCE


def plan(tmp_path: Path, body: str, name: str = "dated") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD.format(name=name) + body, encoding="utf-8")
    return path


# --- reading dated values ---------------------------------------------------------------------------


def test_a_dated_parameter_has_a_value_at_every_date(tmp_path):
    fw = load_plan(plan(tmp_path, SURREY))
    path = "headlines.education.success.absence_threshold"
    assert fw.dated == {path: (DatedValue(0.15, None, dt.date(2015, 8, 31)), DatedValue(0.10, dt.date(2015, 9, 1), None))}
    assert fw.epochs() == (dt.date(2015, 9, 1),)
    assert fw.at(dt.date(2015, 8, 31)).headlines["education"].measure_params.absence_threshold == 0.15
    assert fw.at("2015-09-01").headlines["education"].measure_params.absence_threshold == 0.10
    assert fw.at(np.datetime64("2010-01-01")).headlines["education"].measure_params.absence_threshold == 0.15
    # the framework a load returns holds the latest values; at() always answers from the whole timeline
    assert fw.headlines["education"].measure_params.absence_threshold == 0.10
    assert fw.at("2015-01-01").at("2016-01-01") is fw and fw.at("2015-01-01") is fw.at("2014-01-01")
    prov = fw.provenance[path]
    assert (prov.source, prov.tag, prov.dated) == (SOURCE, "L", fw.dated[path])
    ns = np.array(["2015-08-31", "NaT", "2015-09-01"], dtype="datetime64[ns]")
    assert fw.epoch_of(ns).tolist() == [0, -1, 1]
    assert fw.value_at(lambda f: f.headlines["education"].measure_params.absence_threshold, ns).tolist() == [0.15, 0.10, 0.10]


def test_without_dated_parameters_a_framework_is_its_own_value_at_every_date():
    fw = load_framework("tf-phase2")
    assert fw.dated == {} and fw.epochs() == () and fw.at("2016-01-01") is fw
    assert "dated" not in fw.to_dict()


def test_a_framework_file_may_date_a_parameter_with_a_source(tmp_path):
    text = (Path(load_framework("tf-phase2").path)).read_text(encoding="utf-8").replace(
        'results_payment_pence: {value: 80000, source: "FW payment: GBP 800.00 per claimed family; DR 8 rule 24", tag: V}',
        'results_payment_pence: {values: [{value: 80000, to: 2019-03-31}, {value: 90000, from: 2019-04-01}], source: "uplift", tag: D}',
    )
    path = tmp_path / "dated-framework.yaml"
    path.write_text(text, encoding="utf-8")
    fw = load_framework(path)
    assert fw.at("2019-03-31").amounts.results_payment_pence == 80000 and fw.at("2019-04-01").amounts.results_payment_pence == 90000
    assert fw.to_dict()["dated"]["amounts.results_payment_pence"] == [{"value": 80000, "to": "2019-03-31"}, {"value": 90000, "from": "2019-04-01"}]


@pytest.mark.parametrize("entries, says", [
    ('[{value: 80000, to: 2019-03-31}, {value: 90000, from: 2019-04-01}]', "every parameter needs a source note"),
    ('[{value: 80000, to: 2019-03-31}, {value: 90000, from: 2019-04-02}]', "a gap: no value from 2019-04-01 to 2019-04-01"),
])
def test_a_framework_files_dated_parameter_is_checked_too(tmp_path, entries, says):
    text = (Path(load_framework("tf-phase2").path)).read_text(encoding="utf-8").replace(
        'results_payment_pence: {value: 80000, source: "FW payment: GBP 800.00 per claimed family; DR 8 rule 24", tag: V}',
        f"results_payment_pence: {{values: {entries}{', source: x, tag: D' if 'gap' in says else ''}}}",
    )
    path = tmp_path / "dated-framework.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(Exception, match=r"amounts\.results_payment_pence.*" + says.split(":")[0]):
        load_framework(path)


def test_a_plan_value_without_a_source_takes_the_plans_approval(tmp_path):
    fw = load_plan(plan(tmp_path, "overrides:\n  allocation:\n    values: [{value: 100, to: 2018-03-31}, {value: 150, from: 2018-04-01}]\n"))
    assert fw.at("2018-03-31").allocation == 100 and fw.at("2018-04-01").allocation == 150
    assert fw.provenance["allocation"].source.startswith("local plan dated v2 (approved by Surrey Families panel")


# --- frameworks show ---------------------------------------------------------------------------------


def test_show_prints_each_dated_value_with_its_dates_and_source(tmp_path, capsys):
    code, out, err = run_cli(capsys, "frameworks", "show", "tf-phase2", "--plan", str(plan(tmp_path, SURREY, "surrey")))
    assert code == 0, err
    assert "surrey outcome plan v2 (approved by Surrey Families panel on 2015-06-01), extending tf-phase2 v2015.2" in out
    education = out.split("(education)")[1].split("(children_need_help)")[0]
    success = education.split("Success (education_terms):")[1]
    assert "to 2015-08-31: each child's latest 3 terms since attachment below 15% absence" in success
    assert "from 2015-09-01: each child's latest 3 terms since attachment below 10% absence" in success
    assert f"absence_threshold 0.15 to 2015-08-31, 0.1 from 2015-09-01: {SOURCE} (L)" in success
    assert "dated parameters change value on 2015-09-01" in out


def test_show_of_the_example_plan_gives_the_plans_numbers_with_the_plan_as_source(capsys):
    from tfclaims.core.resources import LOCAL_PLANS_DIR

    code, out, err = run_cli(capsys, "frameworks", "show", "tf-phase2", "--plan", str(LOCAL_PLANS_DIR / "example-council.yaml"))
    assert code == 0, err
    assert out.startswith("example-council outcome plan v2017.3 (approved by Head of Early Help, Example Council on 2017-04-01), "
                          "extending tf-phase2 v2015.2")
    for section in ("Programme", "Eligibility", "Claims", "Local codes declared by the plan"):
        assert f"\n{section}" in out
    assert "  - A family is eligible when at least 2 headlines are present at its test date" in out
    assert ("is at or above 15% [terms 3: FW education: latest 3 terms ending on or before D; DR 2.2 (L); "
            "absence_threshold 0.15: local plan: attendance 85% (DR 2.4, Surrey pre-Sept-2015) (L); absence_type total: default]") in out
    abuse = out.split("(domestic_abuse)")[1].split("(health)")[0]
    assert "no domestic-abuse incident in the 12 months to the as-of date, at least 12 months after attachment" in abuse
    assert "window_months 12: local plan: 12 months free of domestic-abuse incidents (L)" in abuse
    assert "sustain_months 12: this plan (L)" in abuse
    crime = out.split("(crime_asb)")[1].split("(education)")[0]
    assert "  - a member with a proven offence in the 12 months to the test date [window_months 12: FW crime_asb" in crime
    assert "  - removed by the plan: a member with an ASB incident in the 12 months to the test date (asb_incident) [local plan" in crime
    assert "recurrence is judged on the identifying indicators above (proven offence), as the plan states" in crime
    assert "Results payment: £800.00 per claimed family" in out and "Attachment fee: £1,000.00" in out
    assert "Allocation: at most 120 families claimed in all [120: this plan" in out
    assert "  - MASH_CONTACT (local_events; headlines: children_need_help): a contact to the Multi-Agency Safeguarding Hub" in out
    code, js, _ = run_cli(capsys, "frameworks", "show", "tf-phase2", "--plan", str(LOCAL_PLANS_DIR / "example-council.yaml"), "--json")
    assert code == 0 and '"allocation": 120' in js


# --- the engine: each family by the rules in force at its own date ---------------------------------------


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dated") / "cohort"
    write_cohort(generate_cohort(600, seed=5, framework="tf-phase2"), folder)
    return link(ingest(folder).cohort).cohort


CHANGE = dt.date(2019, 4, 1)  # the synthetic families are attached from 2018 to 2020
IDENTIFY_DATED = """overrides:
  eligibility:
    min_distinct_headlines:
      values: [{value: 2, to: 2019-03-31}, {value: 3, from: 2019-04-01}]
  headlines:
    education:
      indicators:
        school_absence:
          absence_threshold:
            values: [{value: 0.15, to: 2019-03-31}, {value: 0.05, from: 2019-04-01}]
"""
IDENTIFY_BEFORE = "overrides:\n  eligibility: {min_distinct_headlines: 2}\n  headlines:\n    education:\n      indicators:\n        school_absence: {absence_threshold: 0.15}\n"
IDENTIFY_AFTER = "overrides:\n  eligibility: {min_distinct_headlines: 3}\n  headlines:\n    education:\n      indicators:\n        school_absence: {absence_threshold: 0.05}\n"


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns), kind="stable", ignore_index=True)


def _part(df: pd.DataFrame, families: set[str]) -> pd.DataFrame:
    return _sorted(df[df["family_id"].isin(families)])


def test_identification_takes_each_familys_rules_at_its_own_date(cohort, tmp_path, monkeypatch):
    dated = load_plan(plan(tmp_path, IDENTIFY_DATED, "dated"))
    before, after = load_plan(plan(tmp_path, IDENTIFY_BEFORE, "before")), load_plan(plan(tmp_path, IDENTIFY_AFTER, "after"))
    prog = cohort["programme"].dropna(subset=["attached_on"])
    dates = prog.set_index("family_id")["attached_on"]
    early = set(dates.index[dates < pd.Timestamp(CHANGE)].astype(str))
    late = set(dates.index[dates >= pd.Timestamp(CHANGE)].astype(str))
    assert early and late

    calls: list[int] = []
    one_pass = kernel._presence
    monkeypatch.setattr(kernel, "_presence", lambda ctx, fw, as_of: calls.append(int((~np.isnat(as_of)).sum())) or one_pass(ctx, fw, as_of))
    clear_context_cache()
    got = identify_at(cohort, dated, dates)
    assert calls == [len(early), len(late)]  # one vectorised pass per epoch, each with its own families only
    monkeypatch.setattr(kernel, "_presence", one_pass)

    for rules, fams in ((before, early), (after, late)):
        want = identify_at(cohort, rules, dates)
        pd.testing.assert_frame_equal(_part(got.eligibility, fams), _part(want.eligibility, fams))
        pd.testing.assert_frame_equal(_part(got.evidence, fams), _part(want.evidence, fams))
    # the test bites: neither plain plan alone gives the dated result
    for rules in (before, after):
        assert not identify_at(cohort, rules, dates).eligibility["eligible"].equals(got.eligibility["eligible"])

    # identify at one date takes the rules of that date; track's eligibility at attachment agrees with identify_at
    for day, rules in ((dt.date(2019, 3, 31), before), (CHANGE, after)):
        pd.testing.assert_frame_equal(identify(cohort, dated, day).eligibility, identify(cohort, rules, day).eligibility)
    fams = track(cohort, dated, "2020-09-30").families.set_index("family_id")
    elig = got.eligibility.set_index("family_id")["eligible"]
    assert (fams["eligible_at_attachment"] == elig.reindex(fams.index)).all()


TRACK_DATED = """overrides:
  headlines:
    education:
      success:
        absence_threshold:
          values: [{value: 0.15, to: 2019-12-31}, {value: 0.03, from: 2020-01-01}]
"""


def test_success_is_judged_by_the_value_in_force_at_the_as_of_date(cohort, tmp_path):
    dated = load_plan(plan(tmp_path, TRACK_DATED, "dated-success"))
    before = load_plan(plan(tmp_path, "overrides:\n  headlines:\n    education:\n      success: {absence_threshold: 0.15}\n", "b"))
    after = load_plan(plan(tmp_path, "overrides:\n  headlines:\n    education:\n      success: {absence_threshold: 0.03}\n", "a"))
    clear_context_cache()
    for as_of, rules, other in (("2019-12-31", before, after), ("2020-09-30", after, before)):
        got, want = track(cohort, dated, as_of), track(cohort, rules, as_of)
        for table in ("outcomes", "families", "evidence", "attachment_evidence"):
            pd.testing.assert_frame_equal(_sorted(getattr(got, table)), _sorted(getattr(want, table)), obj=f"{as_of} {table}")
        assert not got.outcomes.equals(track(cohort, other, as_of).outcomes)  # the threshold matters here


def test_a_claims_eligibility_detail_names_the_count_in_force_at_attachment(tmp_path):
    from tfclaims.claim.register import eligibility_detail

    fw = load_plan(plan(tmp_path, IDENTIFY_DATED))
    families = pd.DataFrame({
        "family_id": ["F1", "F2"], "attached_on": pd.to_datetime(["2019-03-31", "2019-04-01"]),
        "headline_count_at_attachment": [1, 2], "headlines_at_attachment": ["health", "crime_asb;health"],
    })
    at_attachment = pd.DataFrame({"family_id": ["F1", "F2"], "has_dependent": [True, False]})
    assert eligibility_detail(families, at_attachment, fw).tolist() == [
        "1 headline(s) counted (health), at least 2 needed",
        "2 headline(s) counted (crime_asb;health), at least 3 needed; no dependent (a child or an expectant parent)",
    ]
