"""``tfclaims forecast`` and ``tfclaims compare-plans``: the forecast agrees with ``tfclaims claim
--dry-run`` run at every date of its horizon on the same data (claimable-from and "not within the
horizon" alike), near misses are exactly the families one short, every plan difference has its reason,
and bad arguments exit 2 before anything is read or written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from tfclaims.cli import main
from tfclaims.core.resources import LOCAL_PLANS_DIR, SAMPLE_COHORT_DIR

KEY = "test-council-secret"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)


def cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def write_tables(folder: Path, tables: dict[str, list[dict[str, object]]], columns: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        pd.DataFrame(rows, columns=columns[name]).to_csv(folder / f"{name}.csv", index=False)
    return folder


def as_held_folder(source: Path, as_of: dt.date, out: Path, *, plan: str | None = None) -> Path:
    """The cohort at ``source`` as held on ``as_of`` (``tfclaims.forecast.as_held``), written as CSV files."""
    from tfclaims.core.config import CouncilConfig
    from tfclaims.core.write import write_csv
    from tfclaims.forecast import as_held
    from tfclaims.ingest.validate import ingest
    from tfclaims.rules.frameworks import load_plan

    codes = load_plan(plan).declared_local_codes() if plan else None
    result = ingest(source, CouncilConfig(), **({"local_codes": codes} if codes else {}))
    held = as_held(result.cohort, as_of).cohort
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in held.tables.items():
        write_csv(frame.drop(columns=[c for c in ("source_file", "source_sheet", "source_row") if c in frame]), out / f"{name}.csv")
    return out


def dry_run_claims(cohort: Path, dates: list[str], tmp: Path, ledger: Path, *extra: str) -> dict[str, str]:
    """family_id -> the first of ``dates`` at which ``tfclaims claim --dry-run`` claims it."""
    first: dict[str, str] = {}
    for d in dates:
        out = tmp / f"claim-{d}"
        assert cli("claim", "--input", str(cohort), "--period-end", d, "--dry-run", "--ledger", str(ledger), "--out", str(out), *extra) == 0
        dec = read(out / "claim_decisions.csv")
        for fid in dec.loc[dec["decision"] == "claim", "family_id"]:
            first.setdefault(fid, d)
    return first


def check_agreement(forecast_dir: Path, cohort: Path, tmp: Path, *extra: str) -> pd.DataFrame:
    fc = read(forecast_dir / "forecast.csv")
    windows = read(forecast_dir / "forecast_windows.csv")
    dates = list(windows["period_end"])
    first = dry_run_claims(cohort, dates, tmp, tmp / "no-ledger.sqlite", *extra)
    expected = fc["family_id"].map(first).fillna("")
    assert list(fc["claimable_from"]) == list(expected), fc.loc[fc["claimable_from"] != expected, ["family_id", "claimable_from"]]
    assert set(fc.loc[fc["status_code"] == "not_within_horizon", "family_id"]) == set(fc["family_id"]) - set(first)
    assert set(first) <= set(fc["family_id"])  # every family a dry run claims is in the forecast
    return fc


# ----------------------------------------------------------------------------------------------
# hand-built families

COLUMNS = {
    "people": ["person_id", "family_id", "first_name", "last_name", "date_of_birth", "relationship"],
    "offences": ["person_id", "offence_date", "outcome"],
    "benefits": ["person_id", "benefit_type", "start_date", "end_date"],
    "needs": ["family_id", "person_id", "headline", "identified_on", "outcome", "outcome_on"],
    "programme": ["family_id", "attached_on", "lead_practitioner", "whole_family_assessment_on", "action_plan_on", "closed_on"],
    "employment": ["person_id", "start_date", "end_date"],
    "asb_incidents": ["person_id", "incident_date", "asb_type"],
}


def hand_built(folder: Path) -> Path:
    """Five families, as of 2020-09-30:
    H1 claimable from 2020-12-31 (6 months free of offences and benefits, 6 months after attachment on 2020-06-01);
    H2 the same facts but no action plan (whole-family working: never within the horizon);
    H3 one headline at attachment (not eligible: never);
    H4 claimable now (attached 2019-06-01, free since then);
    H5 an offence recorded after the as-of date (left out: the forecast is on the data as held) and an
       open benefit spell whose end is after it (still open: worklessness never met)."""
    people, offences, benefits, programme = [], [], [], []
    for f in ("H1", "H2", "H3", "H4", "H5"):
        people += [dict(person_id=f"{f}P", family_id=f, first_name="Alex", last_name="Smith", date_of_birth="1980-01-01", relationship="parent"),
                   dict(person_id=f"{f}C", family_id=f, first_name="Sam", last_name="Smith", date_of_birth="2012-01-01", relationship="child")]
    for f, off, ben_end, att, plan in (("H1", "2020-05-20", "2020-05-25", "2020-06-01", "2020-06-02"),
                                       ("H2", "2020-05-20", "2020-05-25", "2020-06-01", ""),
                                       ("H4", "2019-05-01", "2019-05-15", "2019-06-01", "2019-06-02"),
                                       ("H5", "2020-05-20", "2021-01-15", "2020-06-01", "2020-06-02")):
        offences.append(dict(person_id=f"{f}P", offence_date=off, outcome="proven"))
        benefits.append(dict(person_id=f"{f}P", benefit_type="JSA", start_date="2018-01-01", end_date=ben_end))
        programme.append(dict(family_id=f, attached_on=att, lead_practitioner="Sam Keyworker", whole_family_assessment_on=att,
                              action_plan_on=plan, closed_on=""))
    offences.append(dict(person_id="H3P", offence_date="2020-05-20", outcome="proven"))
    programme.append(dict(family_id="H3", attached_on="2020-06-01", lead_practitioner="Sam Keyworker", whole_family_assessment_on="2020-06-01",
                          action_plan_on="2020-06-02", closed_on=""))
    offences.append(dict(person_id="H5P", offence_date="2020-11-02", outcome="proven"))  # after the as-of date
    return write_tables(folder, {"people": people, "offences": offences, "benefits": benefits, "programme": programme, "needs": [],
                                 "employment": [], "asb_incidents": []}, COLUMNS)


def test_hand_built_forecast_agrees_with_dry_runs(tmp_path: Path) -> None:
    src = hand_built(tmp_path / "cohort")
    out = tmp_path / "forecast"
    assert cli("forecast", "--input", str(src), "--as-of", "2020-09-30", "--horizon", "3", "--out", str(out),
               "--ledger", str(tmp_path / "no-ledger.sqlite")) == 0
    fc = read(out / "forecast.csv").set_index("family_id")
    assert fc.loc["H1", "claimable_from"] == "2020-12-31" and fc.loc["H1", "route_code"] == "ssp"
    assert fc.loc["H1", "amount_pence"] == "80000"
    assert fc.loc["H4", "status_code"] == "claimable_now" and fc.loc["H4", "claimable_from"] == "2020-09-30"
    for f in ("H2", "H3", "H5"):
        assert fc.loc[f, "status_code"] == "not_within_horizon" and fc.loc[f, "claimable_from"] == ""
    blockers = read(out / "forecast_blockers.csv")
    b = blockers.set_index(["family_id", "blocker_code"])
    assert "practitioner must record it" in b.loc[("H2", "whole_family_working"), "unblocks"]
    assert "no action plan" in b.loc[("H2", "whole_family_working"), "unblocks"]
    assert "judged on the day the family was attached" in b.loc[("H3", "eligibility"), "unblocks"]
    # H1's crime and ASB: the engine's words at the as-of date, and the month end by which it clears
    h1 = b.loc[("H1", "crime_asb")]
    assert "proven offence on 2020-05-20" in h1["detail_now"] and h1["cleared_on"] == "2020-12-31"
    assert h1["unblocks"].endswith("clears by 2020-12-31")
    # H5: the spell open on the as-of date stays open, the later offence is not there
    assert "2020-11-02" not in " ".join(blockers.loc[blockers["family_id"] == "H5", "detail_now"])
    assert b.loc[("H5", "worklessness"), "holds_until_horizon"] == "true"
    assert "still not met at 2020-12-31" in b.loc[("H5", "worklessness"), "unblocks"]
    windows = read(out / "forecast_windows.csv")
    assert list(windows["period_end"]) == ["2020-09-30", "2020-10-31", "2020-11-30", "2020-12-31"]
    assert windows.set_index("period_end").loc["2020-12-31", "families_becoming_claimable"] == "1"
    # the dry runs on the data as held on the as-of date agree, date by date
    held = as_held_folder(src, dt.date(2020, 9, 30), tmp_path / "held")
    check_agreement(out, held, tmp_path)


def test_forecast_leaves_the_ledgers_claims_out_and_writes_nothing_to_it(tmp_path: Path) -> None:
    src = hand_built(tmp_path / "cohort")
    ledger = tmp_path / "ledger.sqlite"
    assert cli("claim", "--input", str(src), "--period-end", "2020-09-30", "--ledger", str(ledger), "--out", str(tmp_path / "c")) == 0
    before = ledger.read_bytes()
    out = tmp_path / "forecast"
    assert cli("forecast", "--input", str(src), "--as-of", "2020-09-30", "--horizon", "3", "--ledger", str(ledger), "--out", str(out)) == 0
    assert ledger.read_bytes() == before
    fc = read(out / "forecast.csv")
    assert "H4" not in set(fc["family_id"])  # claimed already
    assert set(fc["family_id"]) == {"H1", "H2", "H3", "H5"}
    summary = __import__("json").loads((out / "run_summary.json").read_text())
    assert summary["purposes"] == ["tracking"] and summary["forecast"]["claims_before"] == 1


# ----------------------------------------------------------------------------------------------
# a synthetic cohort


@pytest.fixture(scope="module")
def synth_cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "cohort"
    assert cli("synth", "--families", "160", "--seed", "11", "--out", str(out), "--period-end", "2020-06-30", "--local-codes") == 0
    return out


def test_synthetic_forecast_agrees_with_dry_runs_across_the_horizon(synth_cohort: Path, tmp_path: Path) -> None:
    as_of = dt.date(2019, 9, 30)
    held = as_held_folder(synth_cohort, as_of, tmp_path / "held")
    out = tmp_path / "forecast"
    assert cli("forecast", "--input", str(held), "--as-of", as_of.isoformat(), "--horizon", "4", "--out", str(out),
               "--ledger", str(tmp_path / "no-ledger.sqlite")) == 0
    fc = check_agreement(out, held, tmp_path)
    codes = set(fc["status_code"])
    assert {"claimable", "not_within_horizon"} <= codes  # the cohort exercises both answers
    # the forecast of the cohort as given (with its later rows) is the forecast of the data as held
    from tfclaims.claim.decide import LedgerState
    from tfclaims.core.config import CouncilConfig
    from tfclaims.forecast import forecast
    from tfclaims.ingest.validate import ingest
    from tfclaims.rules.frameworks import load_framework

    fw = load_framework("tf-phase2")
    raw, cut = (forecast(ingest(p, CouncilConfig()).cohort, fw, as_of, 4, state=LedgerState.empty()).families for p in (synth_cohort, held))
    pd.testing.assert_frame_equal(raw, cut)
    # every family not claimable now has its reasons
    blockers = read(out / "forecast_blockers.csv")
    later = set(fc.loc[fc["status_code"] != "claimable_now", "family_id"])
    assert later <= set(blockers["family_id"])
    assert (fc.loc[fc["status_code"] == "not_within_horizon", "what_holds_it_back"] != "").all()


def test_near_misses_are_exactly_the_families_one_short(synth_cohort: Path, tmp_path: Path) -> None:
    as_of = "2020-03-31"
    out = tmp_path / "forecast"
    assert cli("forecast", "--input", str(synth_cohort), "--as-of", as_of, "--horizon", "1", "--out", str(out),
               "--ledger", str(tmp_path / "no-ledger.sqlite")) == 0
    near = read(out / "near_misses.csv")
    assert cli("identify", "--input", str(synth_cohort), "--as-of", as_of, "--out", str(tmp_path / "identify")) == 0
    elig = read(tmp_path / "identify" / "eligibility.csv")
    one_short = set(elig.loc[(elig["eligible"] == "false") & (elig["headline_count"] == "1"), "family_id"])  # tf-phase2: at least 2
    assert one_short and set(near.loc[near["kind_code"] == "eligibility", "family_id"]) == one_short
    # claim near misses: exactly one of eligibility, whole-family working and the outcomes fails, the outcomes by one headline
    assert cli("track", "--input", str(synth_cohort), "--as-of", as_of, "--out", str(tmp_path / "track")) == 0
    fam = read(tmp_path / "track" / "families.csv").set_index("family_id")
    outcomes = read(tmp_path / "track" / "outcomes.csv")
    unmet = outcomes[outcomes["status"] != "met"].groupby("family_id").size()
    route = (fam["ssp"] == "true") | (fam["continuous_employment"] == "true")
    n_unmet = unmet.reindex(fam.index).fillna(0)
    outcome_fails = (~route).astype(int) * n_unmet.map(lambda n: 1 if n == 1 else 2)  # no route and no headline unmet: no headline to meet
    fails = (fam["eligible_at_attachment"] == "false").astype(int) + (fam["whole_family_working"] == "false").astype(int) + outcome_fails
    short = set(fam.index[(fails == 1) & fam["within_programme_period"].eq("true")])
    claim_near = near[near["kind_code"] == "claim"]
    assert short and set(claim_near["family_id"]) == short
    assert (claim_near["missing"] != "").all()
    one_headline = claim_near[claim_near["kind"] == "one headline short of a claim"]
    assert set(one_headline["missing_code"]) <= {"crime_asb", "education", "children_need_help", "worklessness", "domestic_abuse", "health"}


# ----------------------------------------------------------------------------------------------
# comparing plans


def test_compare_plans_explains_every_difference(synth_cohort: Path, tmp_path: Path) -> None:
    plan = str(LOCAL_PLANS_DIR / "example-council.yaml")
    out = tmp_path / "compare"
    assert cli("compare-plans", "--input", str(synth_cohort), "--as-of", "2020-03-31", "--plan", plan, "--out", str(out),
               "--ledger", str(tmp_path / "no-ledger.sqlite")) == 0
    diff = read(out / "plan_differences.csv")
    totals = read(out / "plan_totals.csv").set_index("side")
    assert len(diff)
    assert (diff["why_a"].str.strip() != "").all() and (diff["why_b"].str.strip() != "").all()
    assert (diff["under_a"] != diff["under_b"]).all()
    # the claim decisions that differ account for the difference in claims and money
    a = dry = tmp_path / "a"
    assert cli("claim", "--input", str(synth_cohort), "--period-end", "2020-03-31", "--dry-run", "--plan", plan, "--out", str(a),
               "--ledger", str(tmp_path / "no-ledger.sqlite")) == 0
    b = tmp_path / "b"
    assert cli("claim", "--input", str(synth_cohort), "--period-end", "2020-03-31", "--dry-run", "--out", str(b),
               "--ledger", str(tmp_path / "no-ledger.sqlite")) == 0
    da, db = read(dry / "claim_decisions.csv").set_index("family_id"), read(b / "claim_decisions.csv").set_index("family_id")
    assert int(totals.loc["A", "claims"]) == int((da["decision"] == "claim").sum())
    assert int(totals.loc["B", "claims"]) == int((db["decision"] == "claim").sum())
    both = da.add_suffix("_a").join(db.add_suffix("_b"), how="outer").fillna("")
    changed = both[(both["decision_a"] + both["route_a"] + both["reason_a"]) != (both["decision_b"] + both["route_b"] + both["reason_b"])]
    decisions = diff[diff["what"] == "claim decision"].set_index("family_id")
    assert set(decisions.index) == set(changed.index)
    assert (decisions["why_a"] == changed.loc[decisions.index, "detail_a"]).all()
    assert (decisions["why_b"] == changed.loc[decisions.index, "detail_b"]).all()


# ----------------------------------------------------------------------------------------------
# bad arguments: exit 2, naming the option, before anything is read or written


@pytest.mark.parametrize("args, words", [
    (["--as-of", "2020-13-01"], "--as-of"),
    (["--as-of", "2020-03-31", "--horizon", "-1"], "--horizon"),
    (["--as-of", "2020-03-31", "--horizon", "120"], "--horizon"),
    (["--as-of", "2020-03-31", "--horizon", "six"], "--horizon"),
    (["--as-of", "2020-03-31", "--plan", "/no/such/plan.yaml"], "--plan"),
    (["--as-of", "2030-03-31"], "--as-of 2030-03-31"),
])
def test_bad_forecast_arguments_exit_2_before_anything_is_written(args: list[str], words: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert cli("forecast", "--input", str(SAMPLE_COHORT_DIR), "--out", str(out), *args) == 2
    assert words in capsys.readouterr().err
    assert not out.exists()


def test_bad_compare_plans_arguments_exit_2(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    plan = str(LOCAL_PLANS_DIR / "example-council.yaml")
    assert cli("compare-plans", "--input", str(SAMPLE_COHORT_DIR), "--as-of", "2020-03-31", "--out", str(out),
               "--plan", plan, "--plan", plan, "--plan", plan) == 2
    assert "--plan" in capsys.readouterr().err
    assert cli("compare-plans", "--input", str(SAMPLE_COHORT_DIR), "--as-of", "2020-03-31", "--out", str(out)) == 2
    assert "--plan" in capsys.readouterr().err
    assert not out.exists()
