"""Frameworks as data: census of the built-ins, sources on every number, local plans, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tfclaims.core.errors import ConfigError
from tfclaims.rules.frameworks import list_frameworks, load_framework
from tfclaims.rules.indicators import CATALOGUE, OutOfWorkBenefit
from tfclaims.core.resources import FRAMEWORKS_DIR, LOCAL_PLANS_DIR

PLAN = LOCAL_PLANS_DIR / "example-council.yaml"


def test_census_tf_phase2():
    fw = load_framework("tf-phase2")
    assert fw.indicator_codes() == {
        "crime_asb": ("proven_offence", "asb_incident"),
        "education": ("school_absence", "repeated_suspensions", "permanent_exclusion"),
        "children_need_help": ("social_care_episode",),
        "worklessness": ("out_of_work_benefit",),
        "domestic_abuse": ("domestic_abuse_incident",),
        "health": ("health_record",),
    }
    assert fw.eligibility.min_distinct_headlines == 2 and fw.eligibility.non_resident_parent_cap == 1
    assert fw.amounts.results_payment_pence == 80000 and fw.amounts.attachment_fee_pence == 100000
    assert str(fw.programme.attachments_from) == "2015-04-01" and str(fw.programme.period_end_to) == "2022-03-31"
    assert fw.claim_routes == ("ssp", "continuous_employment")
    ce = fw.continuous_employment
    assert (ce.long_weeks, ce.short_weeks, ce.long_weeks_benefits) == (26, 13, ("JSA", "UC_SEARCHING"))
    assert fw.headlines["health"].measure == "needs_only"
    assert fw.headlines["education"].measure_params.absence_threshold == 0.10
    assert fw.headlines["crime_asb"].measure_params.window_months == 6
    assert len(fw.sha256) == 64


def test_census_sf_2022():
    fw = load_framework("sf-2022")
    assert fw.headline_codes == (
        "education", "early_years", "health", "substance_use", "family_relationships",
        "child_safety", "crime", "domestic_abuse", "housing", "financial_stability",
    )
    codes = fw.indicator_codes()
    assert codes["early_years"] == () and codes["family_relationships"] == ()
    assert codes["financial_stability"] == ("out_of_work_benefit", "rent_arrears")
    assert codes["housing"] == ("housing_record",)
    assert fw.headlines["health"].indicators[0].params.issues == ("mental_health", "physical_health")
    assert fw.headlines["substance_use"].indicators[0].params.issues == ("substance_misuse", "alcohol_misuse")
    assert fw.eligibility.min_distinct_headlines == 3
    assert fw.claim_routes == ("sfo",) and fw.continuous_employment is None
    assert fw.sfo.sustain_after_closure_months == 6
    assert str(fw.programme.transition_before) == "2022-10-03"
    assert fw.required_headlines.present_at_as_of is False


def test_out_of_work_list_comes_from_reference_data():
    fw = load_framework("tf-phase2")
    assert "CA" not in fw.out_of_work_benefits and "UC_WORKING" not in fw.out_of_work_benefits
    assert set(fw.out_of_work_benefits) == {"JSA", "UC_SEARCHING", "ESA", "IS", "IB", "SDA", "UC_PLANNING", "UC_PREPARING", "UC_NO_REQUIREMENTS"}
    worklessness = fw.headlines["worklessness"].indicators[0]
    assert worklessness.params.benefit_types == fw.out_of_work_benefits


@pytest.mark.parametrize("name", ["tf-phase2", "sf-2022"])
def test_every_number_has_a_source_and_tag(name):
    fw = load_framework(name)
    raw = yaml.safe_load((FRAMEWORKS_DIR / f"{name}.yaml").read_text())

    def walk(node, path):
        if isinstance(node, dict) and "value" in node:
            assert node.get("source"), path
            assert node.get("tag") in ("V", "R", "L", "D"), path
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            pytest.fail(f"bare number at {path}")

    walk(raw, name)
    assert fw.provenance["eligibility.min_distinct_headlines"].source


def test_bare_number_is_refused(tmp_path):
    text = (FRAMEWORKS_DIR / "tf-phase2.yaml").read_text().replace(
        "min_distinct_headlines: {value: 2, source: \"FW eligibility: count >= 2; DR 2.1 / 8 rule 17 (at least two of six)\", tag: V}",
        "min_distinct_headlines: 2",
    )
    f = tmp_path / "x.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match="eligibility.min_distinct_headlines: a bare number"):
        load_framework(f)


def test_local_plan_changes_threshold_window_and_removes_indicator():
    base = load_framework("tf-phase2")
    fw = load_framework("tf-phase2", plan=PLAN)
    assert fw.plan is not None and fw.plan.version == "2017.3" and fw.plan.approved_by.startswith("Head of Early Help")
    assert str(fw.plan.approved_on) == "2017-04-01" and len(fw.plan.sha256) == 64
    assert fw.headlines["education"].indicators[0].params.absence_threshold == 0.15
    assert base.headlines["education"].indicators[0].params.absence_threshold == 0.10
    assert fw.headlines["education"].measure_params.absence_threshold == 0.15
    assert fw.headlines["domestic_abuse"].measure_params.window_months == 12
    assert fw.indicator_codes()["crime_asb"] == ("proven_offence",)
    assert fw.allocation == 120 and base.allocation is None
    assert fw.provenance["headlines.education.indicators.school_absence.absence_threshold"].tag == "L"
    rec = fw.audit_record()
    assert rec["plan"]["version"] == "2017.3" and rec["sha256"] == base.sha256


def _plan(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "plan.yaml"
    p.write_text("extends: tf-phase2\nversion: '1'\napproved_by: Jo Manager\napproved_on: 2020-01-01\n" + body)
    return p


def test_plan_unknown_key_names_its_path(tmp_path):
    p = _plan(tmp_path, "overrides:\n  headlines:\n    education:\n      indicators:\n        school_absence:\n          treshold: 0.2\n")
    with pytest.raises(ConfigError, match=r"overrides\.headlines\.education\.indicators\.school_absence\.treshold"):
        load_framework("tf-phase2", plan=p)
    p = _plan(tmp_path, "overides: {}\n")
    with pytest.raises(ConfigError, match="overides"):
        load_framework("tf-phase2", plan=p)
    p = _plan(tmp_path, "overrides:\n  eligibility:\n    min_headlines: 3\n")
    with pytest.raises(ConfigError, match=r"overrides\.eligibility\.min_headlines"):
        load_framework("tf-phase2", plan=p)


def test_plan_bad_values_and_indicators(tmp_path):
    p = _plan(tmp_path, "overrides:\n  eligibility:\n    min_distinct_headlines: 0\n")
    with pytest.raises(ConfigError, match="min_distinct_headlines"):
        load_framework("tf-phase2", plan=p)
    p = _plan(tmp_path, "remove_indicators:\n  crime_asb: [no_such]\n")
    with pytest.raises(ConfigError, match="no_such"):
        load_framework("tf-phase2", plan=p)
    p = _plan(tmp_path, "add_indicators:\n  health:\n    invented: {}\n")
    with pytest.raises(ConfigError, match="not in the catalogue"):
        load_framework("tf-phase2", plan=p)
    p = _plan(tmp_path, "approved_by: x\n")  # duplicate keys are caught by YAML/pydantic as a replace; missing fields:
    q = tmp_path / "bad.yaml"
    q.write_text("extends: tf-phase2\nversion: '1'\n")
    with pytest.raises(ConfigError, match="approved_by"):
        load_framework("tf-phase2", plan=q)


def test_plan_adds_indicator_and_changes_benefit_list(tmp_path):
    p = _plan(
        tmp_path,
        "overrides:\n  out_of_work_benefits: [JSA, ESA, CA]\n"
        "  headlines:\n    worklessness:\n      success:\n        indicators: identifying\n"
        "add_indicators:\n  worklessness:\n    rent_arrears: {window_months: 6}\n",
    )
    fw = load_framework("tf-phase2", plan=p)
    assert fw.indicator_codes()["worklessness"] == ("out_of_work_benefit", "rent_arrears")
    assert fw.headlines["worklessness"].indicators[1].params.window_months == 6
    assert fw.headlines["worklessness"].indicators[0].params.benefit_types == ("JSA", "ESA", "CA")
    p = _plan(tmp_path, "overrides:\n  out_of_work_benefits: [JSA, NOPE]\n")
    with pytest.raises(ConfigError, match="NOPE"):
        load_framework("tf-phase2", plan=p)


def test_catalogue_entries_are_complete():
    for code, ind in CATALOGUE.items():
        assert ind.code == code and ind.tables and ind.reference and ind.description
        required = {k for k, f in ind.params_model.model_fields.items() if f.is_required()}
        assert required <= {"codes"}  # only a local indicator's codes have no default (the plan's own)
        ind.params_model(**({"codes": ("A_CODE",)} if required else {}))  # defaults are valid
    with pytest.raises(Exception):
        OutOfWorkBenefit.params_model(window_months=6, colour="red")


def test_cli_list_and_show():
    from tfclaims.cli import _register_commands, app

    _register_commands()
    r = CliRunner().invoke(app, ["frameworks", "list"])
    assert r.exit_code == 0 and set(list_frameworks()) <= set(line.split("\t")[0] for line in r.output.splitlines())
    r = CliRunner().invoke(app, ["frameworks", "show", "tf-phase2", "--plan", str(PLAN)])
    assert r.exit_code == 0, r.output
    assert "absence_threshold 0.15: local plan: attendance 85%" in r.output and "example-council outcome plan v2017.3" in r.output
    crime = r.output.split("(crime_asb)")[1].split("(education)")[0]
    assert "removed by the plan: a member with an ASB incident" in crime and "no ASB incident" not in crime
    r = CliRunner().invoke(app, ["frameworks", "show", "sf-2022", "--json"])
    assert r.exit_code == 0 and '"min_distinct_headlines": 3' in r.output


def test_a_plan_that_ships_with_tfclaims_is_named_by_its_name(tmp_path, monkeypatch):
    """`--plan devon-early-help-2020` finds the shipped plan (an installed wheel's user has no path to
    it); `frameworks list` names every shipped plan; an unknown name is refused naming the choices."""
    from tfclaims.cli import _register_commands, app, main
    from tfclaims.rules.frameworks import list_plans

    _register_commands()
    r = CliRunner().invoke(app, ["frameworks", "list"])
    names = {line.split("\t")[0] for line in r.output.splitlines()}
    assert r.exit_code == 0 and {"devon-early-help-2020", "surrey-family-support"} <= names and set(list_plans()) <= names
    r = CliRunner().invoke(app, ["frameworks", "show", "tf-phase2", "--plan", "devon-early-help-2020"])
    assert r.exit_code == 0 and "devon-early-help-2020 outcome plan v2020.1" in r.output
    monkeypatch.chdir(tmp_path)  # a name, not a file here
    with pytest.raises(SystemExit) as exit_:
        main(["identify", "--input", str(LOCAL_PLANS_DIR.parent / "sample"), "--plan", "devon-nope", "--as-of", "2020-03-31",
              "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2 and not (tmp_path / "out").exists()
