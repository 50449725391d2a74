"""The commands end to end on real data paths: the sample cohort and small synthetic cohorts."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

import pandas as pd
import pytest

from tfclaims.audit import trail as audit
from tfclaims.cli import main
from tfclaims.core.config import CouncilConfig
from tfclaims.claim.ledger import Ledger
from tfclaims.core.resources import SAMPLE_COHORT_DIR
from tfclaims.options import ClaimOptions, DemoOptions, IdentifyOptions, RunOptions
from tfclaims.pipeline import claim, demo, run
from tfclaims.core.write import sha256_file

A = dt.date(2020, 3, 31)
KEY = "test-council-secret"

pytest_plugins = ["postgres"]  # the throwaway PostgreSQL server of tests/postgres.py


def cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    return demo(DemoOptions.of(out=out))


def test_demo_writes_every_stage_and_its_summary_reconciles(demo_run):
    out, s = demo_run.out, demo_run.summary
    for name in ["validation_errors.csv", "validation_errors.xlsx", "unmatched.csv", "eligibility.csv", "eligibility_evidence.csv",
                 "outcomes.csv", "outcome_evidence.csv", "claim_decisions.csv", "claim_decisions.xlsx", "claim_file.csv",
                 "claim_register.csv", "finance_summary.xlsx", "spot_check_sample.csv", "spot_check.xlsx", "run_summary.json"]:
        assert (out / name).exists(), name
    for table, c in s["tables"].items():
        assert c["read"] == c["accepted"] + c["quarantined"], table
        assert c["accepted"] == c["used"] + c["unmatched"], table
    errors = pd.read_csv(out / "validation_errors.csv", dtype=str)
    for table, c in s["tables"].items():
        assert errors[errors["table"] == table]["row"].nunique() == c["quarantined"]
    # every input and output listed with the hash of what is on disk
    assert len(s["inputs"]) == 13 and all(sha256_file(i["path"]) == i["sha256"] for i in s["inputs"])
    for f in s["outputs"]:
        if f["name"] != "run_summary.json":
            assert sha256_file(out / f["name"]) == f["sha256"], f["name"]
    decisions = pd.read_csv(out / "claim_decisions.csv", dtype=str)
    programme = pd.read_csv(SAMPLE_COHORT_DIR / "programme.csv", dtype=str)
    assert set(decisions["family_id"]) <= set(programme["family_id"])
    assert s["claims"] == (decisions["decision"] == "claim").sum() > 0
    assert s["spot_check"]["population"] == s["claims"]
    # a family not eligible at attachment is told why: the headlines counted against the rule, and the dependent
    not_eligible = decisions[decisions["reason"] == "not_eligible_at_attachment"]
    eligibility = pd.read_csv(out / "eligibility.csv", dtype=str).set_index("family_id")
    assert len(not_eligible) and not_eligible["detail"].str.contains("at least 2 needed").all()
    no_dependent = not_eligible["family_id"].map(eligibility["has_dependent"]).eq("false")
    assert (not_eligible["detail"].str.contains("no dependent") == no_dependent).all()


def test_claim_file_carries_no_personal_data(demo_run):
    out = demo_run.out
    claim_file = (out / "claim_file.csv").read_text(encoding="utf-8")
    header, *rows = claim_file.strip().splitlines()
    assert header == "claim_reference,family_reference,route,period_end,amount_gbp"
    assert rows, "the demo should claim for some families"
    people = pd.read_csv(SAMPLE_COHORT_DIR / "people.csv", dtype=str, keep_default_na=False)
    tokens = set(re.split(r"[,\n]", claim_file))
    forbidden = set(people["person_id"]) | set(people["family_id"]) | set(people["first_name"]) | set(people["last_name"])
    forbidden |= set(people["postcode"]) | set(people["address_line_1"]) | set(people["nhs_number"]) | set(people["upn"])
    forbidden -= {""}
    assert not (tokens & forbidden)
    for value in forbidden:  # not even inside another cell
        if len(value) >= 4:
            assert value not in claim_file, value
    dobs = {d for d in people["date_of_birth"] if d}
    assert not any(d in claim_file for d in dobs if d != A.isoformat())
    refs = pd.read_csv(out / "claim_file.csv", dtype=str)
    assert refs["family_reference"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert refs["amount_gbp"].eq("800.00").all()


def test_demo_audit_trail_verifies_and_answers_subject_access(demo_run):
    trail = demo_run.out / "audit.jsonl"
    assert audit.verify(trail, audit.FileHeadStore(trail)).ok
    record = audit.read_records(trail)[-1]
    assert record["command"] == "demo" and record["status"] == "succeeded"
    recipients = {Path(o["path"]).name: o["recipient"] for o in record["outputs"]}
    assert recipients["claim_file.csv"] == "dfe"
    assert recipients["spot_check.xlsx"] == "internal_audit"
    assert recipients["finance_summary.xlsx"] == "council_finance"
    person = pd.read_csv(SAMPLE_COHORT_DIR / "people.csv", dtype=str)["person_id"].iloc[0]
    found = audit.person_runs(trail, person, None)
    assert [r["run_id"] for r in found.runs] == [demo_run.run_id]
    assert not audit.person_runs(trail, "P9999999", None).runs


def _cohort_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "cohort"
    shutil.copytree(SAMPLE_COHORT_DIR, dest, ignore=shutil.ignore_patterns("synth"))
    return dest


def _claim(cohort: Path, out: Path, ledger: Path | None, **kw) -> dict:
    opts = ClaimOptions.of(input=cohort, out=out, council=CouncilConfig(reference_key=KEY), audit=out.parent / "audit.jsonl",
                           period_end=A, ledger=None if ledger is None else str(ledger), **kw)
    return claim(opts).summary


def test_rerun_is_idempotent_and_dry_run_records_nothing(tmp_path):
    cohort, ledger = _cohort_copy(tmp_path), tmp_path / "ledger.sqlite"
    dry = _claim(cohort, tmp_path / "dry", ledger, dry_run=True)
    assert dry["claims"] > 0 and not ledger.exists()
    first = _claim(cohort, tmp_path / "one", ledger)
    assert first["claims"] == dry["claims"]
    second = _claim(cohort, tmp_path / "two", ledger)
    assert second["claims"] == 0
    assert second["decisions"]["no_claim:already_claimed"] == first["claims"]
    assert (tmp_path / "two" / "claim_file.csv").read_text().strip() == "claim_reference,family_reference,route,period_end,amount_gbp"
    with Ledger.open(ledger) as book:
        assert len(book.claims("tf-phase2")) == first["claims"]
    dry_again = _claim(cohort, tmp_path / "dry2", ledger, dry_run=True)
    assert dry_again["claims"] == 0
    with Ledger.open(ledger) as book:
        assert len(book.claims("tf-phase2")) == first["claims"]
    trail = tmp_path / "audit.jsonl"
    assert audit.verify(trail, audit.FileHeadStore(trail)).ok
    records = audit.read_records(trail)
    assert [r["command"] for r in records] == ["claim"] * 6
    # a run that records claims appends a "pending" record first, then its final one (the dry runs record nothing)
    assert [r["status"] for r in records] == ["succeeded", "pending", "succeeded", "pending", "succeeded", "succeeded"]


def test_allocation_withdrawal_hold_and_release(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)  # the ledger commands need the key that sealed the ledger
    cohort, ledger = _cohort_copy(tmp_path), tmp_path / "ledger.sqlite"
    capped = _claim(cohort, tmp_path / "one", ledger, allocation=3)
    assert capped["claims"] == 3 and capped["decisions"]["no_claim:over_allocation"] > 0
    register = pd.read_csv(tmp_path / "one" / "claim_register.csv", dtype=str)
    decisions = pd.read_csv(tmp_path / "one" / "claim_decisions.csv", dtype=str, keep_default_na=False)
    claimed = decisions[decisions["decision"] == "claim"]
    assert set(claimed["family_id"]) == set(register["family_id"])
    ref, family = register["claim_reference"].iloc[0], register["family_id"].iloc[0]
    assert cli("ledger", "withdraw", ref, "--reason", "spot check found no evidence", "--ledger", str(ledger),
               "--audit", str(tmp_path / "audit.jsonl")) == 0
    later = _claim(cohort, tmp_path / "two", ledger, allocation=3)
    d2 = pd.read_csv(tmp_path / "two" / "claim_decisions.csv", dtype=str, keep_default_na=False).set_index("family_id")
    assert d2.loc[family, "reason"] == "audit_hold"
    assert later["claims"] == 1  # the withdrawn claim freed one place in the allocation
    assert cli("ledger", "release", family, "--reason", "evidence found", "--ledger", str(ledger), "--audit", str(tmp_path / "audit.jsonl")) == 0
    _claim(cohort, tmp_path / "three", ledger)
    d3 = pd.read_csv(tmp_path / "three" / "claim_decisions.csv", dtype=str, keep_default_na=False).set_index("family_id")
    assert d3.loc[family, "decision"] == "claim"
    commands = [r["command"] for r in audit.read_records(tmp_path / "audit.jsonl") if r["status"] != "pending"]
    assert commands == ["claim", "ledger withdraw", "claim", "ledger release", "claim"]


def test_discretion_review_then_manager_approval_claims_and_is_always_sampled(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)  # the ledger commands need the key that sealed the ledger
    cohort, ledger = _cohort_copy(tmp_path), tmp_path / "ledger.sqlite"
    first = _claim(cohort, tmp_path / "dry", None, dry_run=True)
    decisions = pd.read_csv(tmp_path / "dry" / "claim_decisions.csv", dtype=str, keep_default_na=False)
    family = decisions.loc[decisions["reason"] == "outcomes_not_met", "family_id"].iloc[0]
    programme = pd.read_csv(cohort / "programme.csv", dtype=str, keep_default_na=False)
    programme.loc[programme["family_id"] == family, "discretion_note"] = "panel: 5 of 6 measures met"
    programme.to_csv(cohort / "programme.csv", index=False)
    _claim(cohort, tmp_path / "one", ledger)
    d1 = pd.read_csv(tmp_path / "one" / "claim_decisions.csv", dtype=str, keep_default_na=False).set_index("family_id")
    assert d1.loc[family, "reason"] == "discretion_review"
    assert cli("ledger", "approve", family, "--operator", "Head of Early Help", "--reason", "panel decision 12/03",
               "--ledger", str(ledger), "--audit", str(tmp_path / "audit.jsonl")) == 0
    outcome = run(RunOptions.of(input=cohort, out=tmp_path / "two", council=CouncilConfig(reference_key=KEY), audit=tmp_path / "audit.jsonl",
                                period_end=A, ledger=str(ledger), sample_rate=0.1, sample_min=0, seed=1))
    d2 = pd.read_csv(tmp_path / "two" / "claim_decisions.csv", dtype=str, keep_default_na=False).set_index("family_id")
    assert (d2.loc[family, "decision"], d2.loc[family, "route"]) == ("claim", "discretionary")
    sample = pd.read_csv(tmp_path / "two" / "spot_check_sample.csv", dtype=str)
    assert family in set(sample["family_id"])
    assert outcome.summary["spot_check"]["discretionary"] == 1
    assert first["claims"] >= 0


def test_claim_without_a_key_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.delenv("TFCLAIMS_REFERENCE_KEY", raising=False)
    out = tmp_path / "out"
    code = cli("claim", "--input", str(SAMPLE_COHORT_DIR), "--period-end", "2020-03-31", "--out", str(out),
               "--ledger", str(tmp_path / "l.sqlite"))
    assert code == 2 and not out.exists() and not (tmp_path / "l.sqlite").exists()


def test_cli_commands_exit_codes_and_outputs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    trail = str(tmp_path / "audit.jsonl")
    assert cli("validate", "--input", str(SAMPLE_COHORT_DIR), "--out", str(tmp_path / "v"), "--audit", trail) == 0
    assert cli("validate", "--input", str(SAMPLE_COHORT_DIR), "--out", str(tmp_path / "vs"), "--strict", "--audit", trail) == 2
    assert cli("identify", "--input", str(SAMPLE_COHORT_DIR), "--as-of", "2020-03-31", "--out", str(tmp_path / "i"), "--audit", trail) == 0
    eligibility = pd.read_csv(tmp_path / "i" / "eligibility.csv", dtype=str)
    people = pd.read_csv(tmp_path / "v" / "validation_errors.csv", dtype=str)
    assert eligibility["family_id"].is_unique and len(eligibility) > 150
    assert cli("track", "--input", str(SAMPLE_COHORT_DIR), "--as-of", "2020-03-31", "--out", str(tmp_path / "t"), "--audit", trail) == 0
    assert set(pd.read_csv(tmp_path / "t" / "outcomes.csv", dtype=str)["status"]) <= {"met", "not_met", "not_yet", "not_evaluated"}
    assert cli("identify", "--input", str(SAMPLE_COHORT_DIR), "--as-of", "31/03/2020", "--out", str(tmp_path / "x")) == 2
    assert cli("identify", "--input", str(tmp_path / "nowhere"), "--as-of", "2020-03-31", "--out", str(tmp_path / "y"), "--audit", trail) == 2
    assert cli("run", "--input", str(SAMPLE_COHORT_DIR), "--period-end", "2020-03-31", "--out", str(tmp_path / "r"),
               "--ledger", str(tmp_path / "ledger.sqlite"), "--seed", "7", "--audit", trail) == 0
    assert (tmp_path / "r" / "spot_check.xlsx").exists()
    assert cli("spot-check", "--claim-dir", str(tmp_path / "r"), "--out", str(tmp_path / "s"), "--seed", "7", "--audit", trail) == 0
    a = pd.read_csv(tmp_path / "r" / "spot_check_sample.csv", dtype=str)
    b = pd.read_csv(tmp_path / "s" / "spot_check_sample.csv", dtype=str)
    pd.testing.assert_frame_equal(a, b)  # the same claims and seed give the same sample
    assert cli("audit", "verify", "--audit", trail) == 0
    records = [r for r in audit.read_records(trail) if r["status"] != "pending"]  # the run's pending record: see test_crash_safety
    assert [r["command"] for r in records] == ["validate", "validate", "identify", "track", "run", "spot-check"]  # a rejected argument leaves no record
    assert [r["status"] for r in records] == ["succeeded", "failed", "succeeded", "succeeded", "succeeded", "succeeded"]
    assert records[2]["purposes"] == ["identification"] and records[3]["purposes"] == ["tracking"]
    assert records[5]["purposes"] == ["spot_checks"]
    assert len(people) >= 1


def test_two_claim_runs_at_once_never_claim_a_family_twice(tmp_path):
    cohort, ledger, trail = _cohort_copy(tmp_path), tmp_path / "ledger.sqlite", tmp_path / "audit.jsonl"
    env = {**os.environ, "TFCLAIMS_ORCHESTRATOR": "none", "TFCLAIMS_REFERENCE_KEY": KEY}
    procs = [
        subprocess.Popen([sys.executable, "-m", "tfclaims", "claim", "--input", str(cohort), "--period-end", "2020-03-31",
                          "--out", str(tmp_path / f"run{i}"), "--ledger", str(ledger), "--audit", str(trail)],
                         cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in (1, 2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
    files = [pd.read_csv(tmp_path / f"run{i}" / "claim_register.csv", dtype=str) for i in (1, 2)]
    both = pd.concat(files)
    assert both["family_id"].is_unique and both["claim_reference"].is_unique
    expected = _claim(cohort, tmp_path / "alone", None, dry_run=True)["claims"]
    assert len(both) == expected
    with Ledger.open(ledger) as book:
        assert sorted(book.active_claims("tf-phase2")["family_id"]) == sorted(both["family_id"])
    decisions = [pd.read_csv(tmp_path / f"run{i}" / "claim_decisions.csv", dtype=str, keep_default_na=False) for i in (1, 2)]
    for mine, other in ((decisions[0], files[1]), (decisions[1], files[0])):
        lost = mine[mine["family_id"].isin(other["family_id"])]
        assert set(lost["reason"]) <= {"already_claimed"}
    records = [r for r in audit.read_records(trail) if r["status"] != "pending"]  # the two concurrent runs, then the dry run above
    assert audit.verify(trail, audit.FileHeadStore(trail)).ok and [r["params"]["dry_run"] for r in records] == [False, False, True]


def test_a_runs_claim_file_can_be_written_again_from_the_ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    cohort, ledger = _cohort_copy(tmp_path), tmp_path / "ledger.sqlite"
    s = _claim(cohort, tmp_path / "one", ledger)
    original = (tmp_path / "one" / "claim_file.csv").read_bytes()
    (tmp_path / "one" / "claim_file.csv").unlink()  # as if the run died after recording its claims
    assert cli("ledger", "export", "--run-id", s["run_id"], "--out", str(tmp_path / "again"), "--ledger", str(ledger),
               "--audit", str(tmp_path / "audit.jsonl")) == 0
    assert (tmp_path / "again" / "claim_file.csv").read_bytes() == original
    assert cli("ledger", "export", "--run-id", "no-such-run", "--out", str(tmp_path / "x"), "--ledger", str(ledger)) == 2
    # into the run's own folder: its claim file again; into another run's folder: refused, that file untouched
    assert cli("ledger", "export", "--run-id", s["run_id"], "--out", str(tmp_path / "one"), "--ledger", str(ledger),
               "--audit", str(tmp_path / "audit.jsonl")) == 0
    assert (tmp_path / "one" / "claim_file.csv").read_bytes() == original
    other = _claim(cohort, tmp_path / "two", ledger, dry_run=True)
    issued = (tmp_path / "two" / "claim_file.csv").read_bytes()
    assert other["run_id"] != s["run_id"]
    assert cli("ledger", "export", "--run-id", s["run_id"], "--out", str(tmp_path / "two"), "--ledger", str(ledger),
               "--audit", str(tmp_path / "audit.jsonl")) == 2
    assert (tmp_path / "two" / "claim_file.csv").read_bytes() == issued


def test_large_workbooks_written_in_the_background_are_complete_and_recorded(tmp_path, monkeypatch):
    import tfclaims.pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "BACKGROUND_XLSX_CELLS", 1)  # every workbook goes to the helper process
    cohort = _cohort_copy(tmp_path)
    outcome = run(RunOptions.of(input=cohort, out=tmp_path / "out", council=CouncilConfig(reference_key=KEY), audit=tmp_path / "audit.jsonl",
                                period_end=A, ledger=str(tmp_path / "ledger.sqlite"), seed=1))
    listed = {f["name"]: f["sha256"] for f in outcome.summary["outputs"]}
    for name in ("validation_errors.xlsx", "claim_decisions.xlsx", "finance_summary.xlsx"):
        assert listed[name] == sha256_file(tmp_path / "out" / name)
    decisions = pd.read_excel(tmp_path / "out" / "claim_decisions.xlsx", engine="calamine", skiprows=2, dtype=str)
    assert len(decisions) == len(pd.read_csv(tmp_path / "out" / "claim_decisions.csv", dtype=str))
    record = audit.read_records(tmp_path / "audit.jsonl")[-1]
    assert {"validation_errors.xlsx", "claim_decisions.xlsx"} <= {Path(o["path"]).name for o in record["outputs"]}




def test_csv_files_written_ahead_are_recorded_in_order_or_removed_when_the_run_fails(tmp_path, monkeypatch):
    import tfclaims.pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "BACKGROUND_XLSX_CELLS", 1)  # the workbooks in the helper process as well
    cohort = _cohort_copy(tmp_path)

    def opts(out: Path) -> ClaimOptions:
        return ClaimOptions.of(input=cohort, out=out, council=CouncilConfig(reference_key=KEY), audit=tmp_path / "audit.jsonl",
                               period_end=A, ledger=str(tmp_path / "ledger.sqlite"), dry_run=True)

    summary = claim(opts(tmp_path / "ok")).summary
    names = [f["name"] for f in summary["outputs"]]
    ahead = ["eligibility.csv", "eligibility_evidence.csv", "outcomes.csv", "outcome_evidence.csv"]
    assert [n for n in names if n in ahead] == ahead and names.index("claim_file.csv") < names.index("eligibility.csv")
    for f in summary["outputs"]:  # every file is complete: its hash is the recorded one
        assert f["sha256"] == sha256_file(tmp_path / "ok" / f["name"])

    def fails(*args, **kwargs):
        raise RuntimeError("the claims could not be decided")

    import tfclaims.claim.evaluate as evaluate_module  # the claim decision at a period end (claim, forecast, compare-plans)

    monkeypatch.setattr(evaluate_module, "decide", fails)  # after tracking: the CSVs above are being written
    with pytest.raises(RuntimeError, match="could not be decided"):
        claim(opts(tmp_path / "failed"))
    left = sorted(p.name for p in (tmp_path / "failed").rglob("*") if p.is_file())
    assert not set(left) & set(ahead) and not [n for n in left if n.startswith(".") or n.endswith(".tmp")]
    assert "validation_errors.csv" in left  # what the run had recorded before it failed stays


@pytest.mark.postgres
def test_claim_runs_against_a_real_postgresql_ledger(tmp_path, postgres_url):
    cohort = _cohort_copy(tmp_path)
    def opts(out: Path) -> ClaimOptions:
        return ClaimOptions.of(input=cohort, out=out, council=CouncilConfig(reference_key=KEY, council_code="E99999999"),
                               audit=tmp_path / "audit.jsonl", period_end=A, ledger=postgres_url)

    first = claim(opts(tmp_path / "one")).summary
    assert first["claims"] > 0
    second = claim(opts(tmp_path / "two")).summary
    assert second["claims"] == 0 and second["decisions"]["no_claim:already_claimed"] == first["claims"]
    with Ledger.open(postgres_url, council="E99999999") as book:
        assert len(book.active_claims("tf-phase2")) == first["claims"]
        log = book.audit_log()
        assert [(r["run_id"], r["status"]) for r in log.records()] == [  # the council's chain is in its schema
            (first["run_id"], "pending"), (first["run_id"], "succeeded"), (second["run_id"], "pending"), (second["run_id"], "succeeded")]
        assert log.head()[1] == 4
        log.export(tmp_path / "export.jsonl")
        assert audit.verify(tmp_path / "export.jsonl", log.head_store(), keys=[KEY]).ok
    assert not (tmp_path / "audit.jsonl").exists()  # the file is only an export


def test_a_local_plan_changes_the_rules_and_is_recorded_with_its_hash(tmp_path):
    plan = REPO_ROOT / "data" / "local_plans" / "example-council.yaml"
    base = IdentifyOptions.of(input=SAMPLE_COHORT_DIR, out=tmp_path / "base", audit=tmp_path / "audit.jsonl", as_of=A)
    local = IdentifyOptions.of(input=SAMPLE_COHORT_DIR, out=tmp_path / "plan", plan=plan, audit=tmp_path / "audit.jsonl", as_of=A)
    from tfclaims.pipeline import identify

    a = identify(base).summary
    b = identify(local).summary
    assert b["framework"]["plan"]["sha256"] == sha256_file(plan)
    record = audit.read_records(tmp_path / "audit.jsonl")[-1]
    assert record["framework"]["plan_sha256"] == sha256_file(plan) and record["framework"]["name"] == "tf-phase2"
    # the plan raises the absence threshold and drops the ASB indicator: fewer candidates, no ASB evidence
    assert b["eligible_families"] < a["eligible_families"]
    evidence = pd.read_csv(tmp_path / "plan" / "eligibility_evidence.csv", dtype=str)
    assert "asb_incident" not in set(evidence["indicator"])
    assert "asb_incident" in set(pd.read_csv(tmp_path / "base" / "eligibility_evidence.csv", dtype=str)["indicator"])


def test_the_claim_window_sets_the_attachments_counted_in_the_finance_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    out = tmp_path / "out"
    assert cli("claim", "--input", str(SAMPLE_COHORT_DIR), "--period-end", "2020-03-31", "--window-start", "2019-12-31",
               "--out", str(out), "--dry-run", "--audit", str(tmp_path / "audit.jsonl")) == 0
    from openpyxl import load_workbook

    rows = {r[0]: r for r in load_workbook(out / "finance_summary.DRAFT.xlsx")["Summary"].iter_rows(values_only=True) if r[0]}
    attached = pd.read_parquet(out / "accepted" / "programme.parquet")["attached_on"]  # as ingest typed them
    expected = int(((attached > "2019-12-31") & (attached <= "2020-03-31")).sum())
    assert rows["Claim window"][1] == "1 January 2020 to 31 March 2020"
    assert rows["Families attached in the window"][2] == expected > 0
    assert audit.read_records(tmp_path / "audit.jsonl")[-1]["params"]["window_start"] == "2019-12-31"


def _folder_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def _meta_seed(workbook: Path) -> str:
    from openpyxl import load_workbook

    book = load_workbook(workbook, read_only=True)
    try:
        return str(dict(book["_meta"].iter_rows(min_row=2, values_only=True))["seed"])
    finally:
        book.close()


def test_spot_check_replaces_an_untouched_workbook_but_refuses_one_an_auditor_started(demo_run, tmp_path, capsys):
    from openpyxl import load_workbook

    from tfclaims.core.errors import InputError
    from tfclaims.spot_check import run_spot_check
    from tfclaims.spot_check.layout import COLUMN_LETTER

    out = tmp_path / "demo"
    shutil.copytree(demo_run.out, out)  # the sample cohort's claim run and its spot check (seed 20200331)
    workbook = out / "spot_check.xlsx"
    assert _meta_seed(workbook) == "20200331"

    # no verdicts filled in: the workbook may be replaced
    assert cli("spot-check", "--claim-dir", str(out), "--out", str(out), "--seed", "5") == 0
    assert _meta_seed(workbook) == "5"

    # an auditor fills in one verdict cell: nothing may be written any more
    book = load_workbook(workbook)
    book["Sample"][f"{COLUMN_LETTER['verdict']}3"] = "valid"
    book.save(workbook)
    before = _folder_hashes(out)
    capsys.readouterr()
    assert cli("spot-check", "--claim-dir", str(out), "--out", str(out), "--seed", "6") == 2
    message = capsys.readouterr().err
    assert str(workbook) in message and "row 3: verdict filled in" in message
    assert "another --out" in message and "move the file" in message
    with pytest.raises(InputError, match="not overwritten"):
        run_spot_check(out, out, seed=6)
    assert _folder_hashes(out) == before  # neither the sample CSV nor the workbook touched
    assert _meta_seed(workbook) == "5"
