"""Withdrawal and re-issue: after an invalid verdict (or ``ledger withdraw``) the claim run's claim
file, claim register and finance summary are written again without the withdrawn claim, the files
they replace are kept and marked superseded, and the next claim run's finance summary lists the
withdrawal for the money to be recovered or offset."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil

import openpyxl
import pandas as pd
import pytest

from tfclaims.audit import trail as audit
from tfclaims.claim.ledger import Ledger
from tfclaims.cli import main
from tfclaims.core.config import CouncilConfig
from tfclaims.core.resources import SAMPLE_COHORT_DIR
from tfclaims.options import ClaimOptions, ReconcileOptions, SpotCheckOptions
from tfclaims.pipeline import claim, reconcile, spot_check
from ledger_helpers import answer_spot_check

KEY = "test-council-secret"
A = dt.date(2020, 3, 31)


def cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def _rows(ws) -> dict[str, tuple]:
    return {str(r[0]): r for r in ws.iter_rows(values_only=True) if r[0] is not None}


@pytest.fixture(scope="module")
def reissued(tmp_path_factory):
    base = tmp_path_factory.mktemp("reissue")
    cohort = base / "cohort"
    shutil.copytree(SAMPLE_COHORT_DIR, cohort, ignore=shutil.ignore_patterns("synth"))
    council = CouncilConfig(reference_key=KEY, council_name="Test County Council")
    ledger, trail = str(base / "ledger.sqlite"), base / "audit.jsonl"
    run_dir = base / "claim"
    claim(ClaimOptions.of(input=cohort, out=run_dir, council=council, audit=trail, period_end=A, ledger=ledger, operator="Jo Analyst"))
    before = {name: (run_dir / name).read_bytes() for name in ("claim_file.csv", "claim_register.csv", "finance_summary.xlsx")}
    audit_dir = base / "audit"
    spot_check(SpotCheckOptions.of(claim_dir=run_dir, out=audit_dir, seed=7, council=council, audit=trail))
    invalid_ref = answer_spot_check(audit_dir / "spot_check.xlsx")
    result = reconcile(ReconcileOptions.of(verdicts=audit_dir / "spot_check.xlsx", ledger=ledger, out=base / "reconciled",
                                           council=council, audit=trail, operator="R. Officer"))
    return {"base": base, "run": run_dir, "before": before, "invalid": invalid_ref, "result": result, "cohort": cohort,
            "council": council, "ledger": ledger, "audit": trail}


def test_an_invalid_verdict_reissues_the_claim_file_without_the_withdrawn_claim(reissued):
    run, ref = reissued["run"], reissued["invalid"]
    *_, done = reissued["result"]
    assert [r.withdrawn for r in done] == [[ref]] and done[0].folder == run
    old = pd.read_csv(run / "claim_file.superseded-1.csv", dtype=str)
    new = pd.read_csv(run / "claim_file.csv", dtype=str)
    assert (run / "claim_file.superseded-1.csv").read_bytes() == reissued["before"]["claim_file.csv"]  # kept as it was
    assert ref in set(old["claim_reference"]) and ref not in set(new["claim_reference"])
    assert set(new["claim_reference"]) == set(old["claim_reference"]) - {ref}
    with Ledger.open(reissued["ledger"], create=False) as led:
        live = led.claims()
    assert set(new["claim_reference"]) == set(live.loc[live["status"] == "claimed", "claim_reference"])
    register = pd.read_csv(run / "claim_register.csv", dtype=str)
    assert ref not in set(register["claim_reference"]) and len(register) == len(new)
    assert (run / "claim_register.superseded-1.csv").read_bytes() == reissued["before"]["claim_register.csv"]


def test_the_reissued_finance_summary_totals_the_corrected_claim_file_and_the_old_one_says_superseded(reissued):
    run = reissued["run"]
    new = openpyxl.load_workbook(run / "finance_summary.xlsx", data_only=True)
    rows = _rows(new["Summary"])
    claim_file = pd.read_csv(run / "claim_file.csv", dtype=str)
    assert rows["Total"][2] == len(claim_file)
    assert f"{rows['Total'][3]:.2f}" == f"{sum(float(a) for a in claim_file['amount_gbp']):.2f}"
    assert any(k.startswith("Re-issued on") for k in rows) and "Prepared by" in rows
    reasons = _rows(new["Decisions by reason"])
    assert reasons["Claim withdrawn after the run"][2] == 1
    assert reasons["Total"][2] == len(pd.read_csv(run / "claim_decisions.csv"))
    old = openpyxl.load_workbook(run / "finance_summary.superseded-1.xlsx")
    for ws in old.worksheets:
        assert str(ws["A1"].value).startswith("SUPERSEDED on") and "SUPERSEDED" in ws.oddHeader.center.text
    assert "Prepared by" not in _rows(old["Summary"])  # nothing to sign on a superseded summary


def test_the_run_summary_and_audit_trail_record_the_reissue(reissued):
    run = reissued["run"]
    summary = json.loads((run / "run_summary.json").read_text())
    (entry,) = summary["reissues"]
    assert entry["issue"] == 1 and entry["withdrawn"] == [reissued["invalid"]]
    assert entry["superseded"] == ["claim_file.superseded-1.csv", "claim_register.superseded-1.csv", "finance_summary.superseded-1.xlsx"]
    names = {o["name"] for o in summary["outputs"]}
    assert {"claim_file.csv", "claim_file.superseded-1.csv", "finance_summary.superseded-1.xlsx"} <= names
    record = audit.read_records(reissued["audit"])[-1]
    assert record["command"] == "reconcile" and record["notes"]["reissued"][0]["withdrawn"] == [reissued["invalid"]]
    written = {o["path"].rsplit("/", 1)[-1]: o["recipient"] for o in record["outputs"]}
    assert written["claim_file.csv"] == "dfe" and written["finance_summary.xlsx"] == "council_finance"
    assert audit.verify(reissued["audit"]).ok


def _routes_total(page: str) -> list[str]:
    foot = re.search(r'<section id="routes".*?<tfoot>(.*?)</tfoot>', page, re.S).group(1)
    return re.findall(r">([^<]+)</t[dh]>", foot)


def test_the_run_reports_are_written_and_redrawn_without_the_withdrawn_claim(reissued):
    run, ref = reissued["run"], reissued["invalid"]
    spot = (reissued["base"] / "audit" / "report.html").read_text(encoding="utf-8")  # spot-check into its own folder
    summary = json.loads((run / "run_summary.json").read_text())
    assert f"<dt>Claim run</dt><dd>{summary['run_id']}</dd>" in spot and '<section id="spot-check"' in spot
    assert '<section id="routes"' not in spot and ref in spot
    page = (run / "report.html").read_text(encoding="utf-8")
    left = len(pd.read_csv(run / "claim_file.csv", dtype=str))
    assert _routes_total(page)[:2] == ["Total", str(left)] and summary["claims"] == left + 1
    assert f"{ref} (withdrawn)" in page and "Refreshed on" in page and "(tfclaims reconcile)" in page
    record = audit.read_records(reissued["audit"])[-1]
    assert "report.html" in {o["path"].rsplit("/", 1)[-1] for o in record["outputs"]}
    assert sum(o["name"] == "report.html" for o in summary["outputs"]) == 1


def test_ledger_withdraw_reissues_again_and_the_next_claim_lists_the_withdrawals(reissued, monkeypatch, capsys):
    run = reissued["run"]
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    ref = pd.read_csv(run / "claim_file.csv", dtype=str)["claim_reference"].iloc[0]
    assert cli("ledger", "withdraw", ref, "--reason", "duplicate of another council's claim", "--ledger", reissued["ledger"],
               "--audit", str(reissued["audit"]), "--operator", "Fin Officer") == 0
    said = capsys.readouterr().out
    assert "claim_file.superseded-2.csv" in said and "Send these to finance" in said
    assert ref not in set(pd.read_csv(run / "claim_file.csv", dtype=str)["claim_reference"])
    assert ref in set(pd.read_csv(run / "claim_file.superseded-2.csv", dtype=str)["claim_reference"])
    page = (run / "report.html").read_text(encoding="utf-8")  # redrawn: the claim withdrawn is not shown as claimed
    assert _routes_total(page)[:2] == ["Total", str(len(pd.read_csv(run / "claim_file.csv", dtype=str)))]
    assert "(tfclaims ledger withdraw)" in page

    later = reissued["base"] / "later"
    claim(ClaimOptions.of(input=reissued["cohort"], out=later, council=reissued["council"], audit=reissued["audit"],
                          period_end=dt.date(2020, 9, 30), ledger=reissued["ledger"], operator="Jo Analyst"))
    ws = openpyxl.load_workbook(later / "finance_summary.xlsx", data_only=True)["Summary"]
    rows = _rows(ws)
    assert {reissued["invalid"], ref} <= set(rows)
    assert rows["Total withdrawn"][3] == pytest.approx(2 * 800)
