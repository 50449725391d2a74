"""A local outcome plan that cannot be used is refused before any data is read: exit 2, a message
that starts with the plan file and names the key path as the plan writes it, and nothing written.

Each case runs the real commands in this process: ``tfclaims frameworks show NAME --plan FILE`` and
``tfclaims identify --input SAMPLE --as-of DATE --plan FILE --out DIR`` (a workspace of its own,
hashed before and after).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ledger_helpers import run_cli
from tfclaims.core.resources import LOCAL_PLANS_DIR, SAMPLE_COHORT_DIR
from tfclaims.core.workspace import init_workspace
from tfclaims.rules.frameworks import load_framework, load_plan
from tfclaims.rules.measures import MEASURE_REGISTRY, NoParams, NoRecurrenceWindowParams

HEAD = "extends: {extends}\nversion: '1'\napproved_by: Jo Manager\napproved_on: 2020-01-01\n"


def dated(key_path: list[str], entries: str) -> str:
    """A plan body setting ``overrides.<key_path>`` to dated ``values`` (entries: YAML flow items)."""
    text, indent = "overrides:\n", "  "
    for key in key_path:
        text += f"{indent}{key}:\n"
        indent += "  "
    return text + f"{indent}values: [{entries}]\n"


SUCCESS_THRESHOLD = ["headlines", "education", "success", "absence_threshold"]

# case -> (plan body, the key path the message names, what it says[, the framework the plan extends])
REFUSED: dict[str, tuple[str, ...]] = {
    "unknown key": (
        "overrides:\n  headlines:\n    education:\n      indicators:\n        school_absence:\n          treshold: 0.2\n",
        "overrides.headlines.education.indicators.school_absence.treshold", "unknown key",
    ),
    "wrong type": (
        "overrides:\n  headlines:\n    crime_asb:\n      success:\n        window_months: six\n",
        "overrides.headlines.crime_asb.success.window_months", "Input should be a valid integer",
    ),
    "out of range": (
        "overrides:\n  eligibility:\n    min_distinct_headlines: 0\n",
        "overrides.eligibility.min_distinct_headlines", "greater than or equal to 1",
    ),
    "bad tag": (
        "overrides:\n  eligibility:\n    min_distinct_headlines: {value: 3, source: panel, tag: X}\n",
        "overrides.eligibility.min_distinct_headlines.tag", "'X' is not one of V, R, L, D",
    ),
    "dated: overlapping dates": (
        dated(SUCCESS_THRESHOLD, "{value: 0.15, to: 2015-09-01}, {value: 0.10, from: 2015-09-01}"),
        "overrides.headlines.education.success.absence_threshold.values[1]", "overlapping dates",
    ),
    "dated: a gap": (
        dated(SUCCESS_THRESHOLD, "{value: 0.15, to: 2015-08-31}, {value: 0.10, from: 2015-10-01}"),
        "overrides.headlines.education.success.absence_threshold.values[1]", "a gap: no value from 2015-09-01 to 2015-09-30",
    ),
    "dated: not in date order": (
        dated(SUCCESS_THRESHOLD, "{value: 0.10, from: 2015-09-01}, {value: 0.15, to: 2015-08-31}"),
        "overrides.headlines.education.success.absence_threshold.values[1]", "not in date order",
    ),
    "dated: the first value has a from date": (
        dated(SUCCESS_THRESHOLD, "{value: 0.15, from: 2015-04-01, to: 2015-08-31}, {value: 0.10, from: 2015-09-01}"),
        "overrides.headlines.education.success.absence_threshold.values[0].from", "the first value applies from the start",
    ),
    "dated: the last value has a to date": (
        dated(SUCCESS_THRESHOLD, "{value: 0.15, to: 2015-08-31}, {value: 0.10, from: 2015-09-01, to: 2020-01-01}"),
        "overrides.headlines.education.success.absence_threshold.values[1].to", "the last value applies onwards",
    ),
    "dated: an entry of the wrong type": (
        dated(["headlines", "crime_asb", "success", "window_months"], "{value: 6, to: 2018-03-31}, {value: twelve, from: 2018-04-01}"),
        "overrides.headlines.crime_asb.success.window_months.values[1].value", "Input should be a valid integer",
    ),
    "dated: an entry out of range": (
        dated(["eligibility", "min_distinct_headlines"], "{value: 2, to: 2018-03-31}, {value: 0, from: 2018-04-01}"),
        "overrides.eligibility.min_distinct_headlines.values[1].value", "greater than or equal to 1",
    ),
    "dated: an unknown key in an entry": (
        dated(["eligibility", "min_distinct_headlines"], "{value: 2, until: 2018-03-31}, {value: 3, from: 2018-04-01}"),
        "overrides.eligibility.min_distinct_headlines.values[0].until", "unknown key",
    ),
    "dated: not a date": (
        dated(["eligibility", "min_distinct_headlines"], "{value: 2, to: 'March 2018'}, {value: 3, from: 2018-04-01}"),
        "overrides.eligibility.min_distinct_headlines.values[0].to", "is not a date",
    ),
    "dated: values on a key that does not exist": (
        dated(["eligibility", "min_headlines"], "{value: 2, to: 2018-03-31}, {value: 3, from: 2018-04-01}"),
        "overrides.eligibility.min_headlines", "unknown key",
    ),
    "dated: values on a section": (
        dated(["eligibility"], "{value: 2, to: 2018-03-31}, {value: 3, from: 2018-04-01}"),
        "overrides.eligibility", "dated values are for one parameter, not a section",
    ),
    "dated: a measure": (
        dated(["headlines", "crime_asb", "success", "measure"], "{value: needs_only}"),
        "overrides.headlines.crime_asb.success.measure", "a measure cannot have dated values",
    ),
    "dated: an added indicator's parameter": (
        "overrides:\n  headlines:\n    worklessness:\n      success:\n        indicators: identifying\n"
        "add_indicators:\n  worklessness:\n    rent_arrears:\n      window_months:\n"
        "        values: [{value: 6, to: 2018-03-31}, {value: 200, from: 2018-04-01}]\n",
        "add_indicators.worklessness.rent_arrears.window_months.values[1].value", "less than or equal to 120",
    ),
    "an added indicator's parameter of the wrong type": (
        "overrides:\n  headlines:\n    worklessness:\n      success:\n        indicators: identifying\n"
        "add_indicators:\n  worklessness:\n    rent_arrears: {window_months: six}\n",
        "add_indicators.worklessness.rent_arrears.window_months", "Input should be a valid integer",
    ),
    "an undeclared benefit code": (
        "overrides:\n  out_of_work_benefits: [JSA, JSAX]\n",
        "overrides.out_of_work_benefits[1]", "unknown benefit code 'JSAX'",
    ),
    "an undeclared benefit code in continuous employment": (
        "overrides:\n  continuous_employment:\n    long_weeks_benefits: [JSA, UC_SEARCH]\n",
        "overrides.continuous_employment.long_weeks_benefits[1]", "unknown benefit code 'UC_SEARCH'",
    ),
    "a local code for a headline the framework lacks": (
        "local_codes:\n  - {code: MASH, description: a MASH contact, table: local_events, headlines: [childrens_services]}\n",
        "local_codes[0].headlines[0]", "'childrens_services' is not a headline of the framework",
    ),
    "a framework that does not exist": ("", "extends", "unknown framework 'tf-phase9'", "tf-phase9"),
    "a measure that is not registered": (
        "overrides:\n  headlines:\n    crime_asb:\n      success:\n        measure: no_reoffending\n",
        "overrides.headlines.crime_asb.success.measure", "'no_reoffending' is not a success measure",
    ),
    "a measure of another outcome model": (
        "overrides:\n  headlines:\n    crime_asb:\n      success:\n        measure: no_recurrence_since_closure\n",
        "overrides.headlines.crime_asb.success.measure", "cannot apply here: it is a measure of sfo",
    ),
    "a measure that reads indicators on a headline with none": (
        "overrides:\n  headlines:\n    early_years:\n      success:\n        measure: no_recurrence_since_closure\n",
        "overrides.headlines.early_years.success.measure", "judges recurrence of early_years's indicators, and early_years has none",
        "sf-2022",
    ),
    "a parameter the new measure does not have": (
        "overrides:\n  headlines:\n    crime_asb:\n      success:\n        measure: needs_only\n        window_months: 3\n",
        "overrides.headlines.crime_asb.success.window_months", "unknown key (measure needs_only has no parameters)",
    ),
    "identifying on a measure that reads no indicators": (
        "overrides:\n  headlines:\n    health:\n      success:\n        indicators: identifying\n",
        "overrides.headlines.health.success.indicators", "does not judge the headline's indicators",
    ),
    "success indicators as a mapping (no measure takes one yet)": (
        "overrides:\n  headlines:\n    crime_asb:\n      success:\n        indicators: {proven_offence: {}}\n",
        "overrides.headlines.crime_asb.success.indicators", "unknown key",
    ),
    "adding an indicator without stating the success test": (
        "add_indicators:\n  crime_asb:\n    housing_record: {issues: [tenancy_asb]}\n",
        "add_indicators.crime_asb.housing_record",
        "adding an indicator changes crime_asb's success test; state it in overrides.headlines.crime_asb.success "
        "(indicators: identifying, or a measure)",
    ),
    "removing an indicator without stating the success test": (
        "remove_indicators:\n  crime_asb: [asb_incident]\n",
        "remove_indicators.crime_asb[0]",
        "removing an indicator (asb_incident) changes crime_asb's success test; state it in overrides.headlines.crime_asb.success",
    ),
    "removing every indicator a measure reads": (
        "overrides:\n  headlines:\n    worklessness:\n      success:\n        indicators: identifying\n"
        "remove_indicators:\n  worklessness: [out_of_work_benefit]\n",
        "remove_indicators.worklessness", "removes every indicator of worklessness",
    ),
}


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws, _ = init_workspace(tmp_path / "ws")
    monkeypatch.setenv("TFCLAIMS_HOME", str(ws.root))
    monkeypatch.chdir(ws.root)
    return ws.root


def _plan(tmp_path: Path, case: str) -> tuple[Path, str, str, str]:
    body, where, says, *extends = REFUSED[case]
    framework = extends[0] if extends else "tf-phase2"
    path = tmp_path / "plans" / "plan.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(HEAD.format(extends=framework) + body, encoding="utf-8")
    return path, where, says, framework


@pytest.mark.parametrize("command", ["frameworks show", "identify"])
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_plan_that_cannot_be_used_is_refused_naming_the_file_and_the_key(case, command, tmp_path, workspace, capsys):
    plan, where, says, framework = _plan(tmp_path, case)
    out = tmp_path / "out"
    if command == "identify":
        argv = ["identify", "--input", str(SAMPLE_COHORT_DIR), "--as-of", "2020-03-31", "--plan", str(plan), "--out", str(out)]
    else:
        argv = ["frameworks", "show", framework if framework != "tf-phase9" else "tf-phase2", "--plan", str(plan)]
    before = snapshot(tmp_path)
    code, stdout, stderr = run_cli(capsys, *argv)
    assert code == 2, (stdout, stderr)
    assert stderr.startswith(f"error: {plan}: {where}: ") or stderr.startswith(f"error: {plan}: {where} "), stderr
    assert says in stderr, stderr
    assert stdout == ""
    assert snapshot(tmp_path) == before  # no output folder, no audit record, nothing in the workspace
    assert not out.exists()


# --- what a plan may now say ----------------------------------------------------------------------


def _load(tmp_path: Path, body: str, extends: str = "tf-phase2"):
    path = tmp_path / "plan.yaml"
    path.write_text(HEAD.format(extends=extends) + body, encoding="utf-8")
    return load_plan(path)


def test_a_plan_chooses_a_measure_whose_parameters_start_from_its_own_defaults(tmp_path):
    fw = _load(tmp_path, "overrides:\n  headlines:\n    health:\n      success:\n        measure: no_recurrence_window\n"
                         "        window_months: {value: 3, source: 'panel minute 12'}\n"
                         "    crime_asb:\n      success:\n        measure: needs_only\n")
    health = fw.headlines["health"]
    assert health.measure == "no_recurrence_window"
    assert health.measure_params == NoRecurrenceWindowParams(window_months=3)  # sustain_months: the measure's default
    assert fw.provenance["headlines.health.success.window_months"].source == "panel minute 12"
    assert "headlines.health.success.sustain_months" not in fw.provenance
    crime = fw.headlines["crime_asb"]
    assert crime.measure == "needs_only" and crime.measure_params == NoParams()
    # the framework's sources for the old measure's parameters no longer apply
    assert not [k for k in fw.provenance if k.startswith("headlines.crime_asb.success.") and not k.endswith(".measure")]
    assert fw.provenance["headlines.crime_asb.success.measure"].tag == "L"


def test_a_measure_change_shows_in_frameworks_show(tmp_path, capsys):
    path = tmp_path / "plan.yaml"
    path.write_text(HEAD.format(extends="tf-phase2") + "overrides:\n  headlines:\n    crime_asb:\n      success:\n"
                    "        measure: {value: needs_only, source: 'panel minute 7'}\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "frameworks", "show", "tf-phase2", "--plan", str(path))
    assert code == 0, err
    crime = out.split("(crime_asb)")[1].split("(education)")[0]
    assert "Success (needs_only, chosen by the plan; tf-phase2 has no_recurrence_window [panel minute 7 (L)]):" in crime
    assert "every needs row of crime_asb met by the as-of date" in crime


def test_indicators_identifying_states_the_success_test_and_is_not_a_measure_parameter(tmp_path):
    fw = _load(tmp_path, "overrides:\n  headlines:\n    crime_asb:\n      success:\n        indicators: identifying\n"
                         "add_indicators:\n  crime_asb:\n    housing_record: {issues: [tenancy_asb]}\n")
    crime = fw.headlines["crime_asb"]
    assert [i.code for i in crime.indicators] == ["proven_offence", "asb_incident", "housing_record"]
    assert crime.measure_params == load_framework("tf-phase2").headlines["crime_asb"].measure_params
    assert "housing" in crime.measure_tables()  # the success test now reads the added indicator, as the plan states


def test_adding_an_indicator_to_a_headline_whose_measure_reads_none_needs_no_statement(tmp_path):
    fw = _load(tmp_path, "add_indicators:\n  health:\n    housing_record: {}\n")
    assert fw.headlines["health"].measure == "needs_only"


def test_every_measure_says_which_outcome_models_it_applies_under():
    expected = {
        "no_recurrence_window": ("ssp",), "education_terms": ("ssp",), "needs_only": ("ssp", "sfo"),
        "no_recurrence_since_closure": ("sfo",), "education_since_closure": ("sfo",),
    }
    assert {n: MEASURE_REGISTRY[n].outcome_models for n in expected} == expected
    for name in ("tf-phase2", "sf-2022"):
        fw = load_framework(name)
        assert all(fw.outcome_model in MEASURE_REGISTRY[h.measure].outcome_models for h in fw.headlines.values())


def test_the_example_plan_states_its_crime_success_test():
    fw = load_plan(LOCAL_PLANS_DIR / "example-council.yaml")
    assert fw.provenance["headlines.crime_asb.success.indicators"].value == "identifying"
    assert [i.code for i in fw.headlines["crime_asb"].indicators] == ["proven_offence"]
