"""No claim without its record, whatever moment the process dies.

A claim run is killed (``os._exit``, as ``kill -9`` would) at each of its write points in turn, on
SQLite and on PostgreSQL; the next claim run must finish or close it, and then:

- no claim run is left pending;
- every live claim in the ledger is in exactly one claim file (and no claim file holds a claim the
  ledger does not hold live);
- every run with live claims has exactly one sealing audit record (its own, or the recovery's),
  whose claim count and claim-reference hash match the ledger;
- the audit trail verifies, and the rerun completes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from tfclaims.audit import trail as audit
from tfclaims.claim.ledger import Ledger
from tfclaims.claim.runs import CRASH_ENV, pending_runs
from tfclaims.core.resources import SAMPLE_COHORT_DIR
from tfclaims.core.workspace import init_workspace
from tfclaims.claim.register import claim_references_sha256

pytest_plugins = ["postgres"]

COUNCIL = "E99999999"
KEY = "crash-test-council-secret"
# every write point of a claim run, in order (tfclaims.pipeline: "no claim without its record")
CRASH_POINTS = ["run marked pending", "pending record appended", "claims recorded", "claim file written", "run files written",
                "audit record appended"]


def _claim(ws: Path, ledger: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TFCLAIMS_ORCHESTRATOR": "none", "TFCLAIMS_REFERENCE_KEY": KEY, "TFCLAIMS_HOME": str(ws)}
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run([sys.executable, "-m", "tfclaims", "claim", "--input", str(SAMPLE_COHORT_DIR), "--period-end", "2020-03-31",
                           "--ledger", ledger], env=env, capture_output=True, text=True, timeout=240)


def _sealing_records(trail: Path) -> dict[str, list[dict]]:
    """run id -> the records that seal it: its own final record, or a recovery's."""
    seals: dict[str, list[dict]] = {}
    for r in audit.read_records(trail):
        if r["command"] == "claim" and r["status"] == "succeeded" and not r["params"].get("dry_run"):
            seals.setdefault(r["run_id"], []).append(r)
        elif r["command"] == "claim recovery" and r["params"].get("outcome") == "recovered":
            seals.setdefault(r["params"]["run"], []).append(r)
    return seals


def _check_invariants(ws: Path, ledger_target: str, trail: Path) -> pd.DataFrame:
    with Ledger.open(ledger_target, create=False, council=COUNCIL) as book:
        assert pending_runs(book) == []
        live = book.claims("tf-phase2")
        if book.keeps_audit_chain:  # the council's chain is in its schema: check its export, against the ledger's head
            assert not trail.exists()
            trail = ws / "export" / "audit.jsonl"
            book.audit_log().export(trail)
            audit.FileHeadStore(trail).set(*book.audit_log().head(), KEY)
    live = live[live["status"] == "claimed"]
    assert len(live) > 0
    in_files: Counter[str] = Counter()
    for f in ws.glob("reports/*/claim_file.csv"):
        in_files.update(pd.read_csv(f, dtype=str)["claim_reference"])
    assert set(in_files) == set(live["claim_reference"])  # no claim file holds a claim the ledger has not
    assert all(in_files[ref] == 1 for ref in live["claim_reference"])  # every live claim in exactly one claim file
    seals = _sealing_records(trail)
    for run_id, claims in live.groupby("run_id"):
        (seal,) = seals[run_id]  # exactly one sealing record per run with live claims
        assert seal["notes"]["claims"] == len(claims)
        assert seal["notes"]["claim_references_sha256"] == claim_references_sha256(claims["claim_reference"])
    assert audit.verify(trail, audit.FileHeadStore(trail)).ok
    return live


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_target(request, tmp_path) -> tuple[str, Path]:
    ws, _ = init_workspace(tmp_path / "council")
    if request.param == "sqlite":
        return str(ws.ledger), ws.root
    (ws.root / "council.yaml").write_text(f"council_code: {COUNCIL}\n", encoding="utf-8")
    return request.getfixturevalue("postgres_url"), ws.root


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_claim_run_killed_at_any_write_point_leaves_no_claim_without_its_record(point, ledger_target):
    target, ws = ledger_target
    trail = ws / "reports" / "audit.jsonl"
    killed = _claim(ws, target, crash_at=point)
    assert killed.returncode == 137, killed.stderr[-2000:]
    env = {**os.environ, "TFCLAIMS_REFERENCE_KEY": KEY, "TFCLAIMS_HOME": str(ws)}
    shared = "://" in target  # the council's chain is in the ledger, not in a file
    verify = subprocess.run([sys.executable, "-m", "tfclaims", "audit", "verify", *([] if shared else ["--audit", str(trail)]), "--ledger", target],
                            env=env, capture_output=True, text=True, timeout=120)
    if point != "run marked pending" or (trail.exists() and not shared):
        assert verify.returncode == 2 and "stopped before they were sealed" in verify.stderr, verify.stderr  # never "verified"
    rerun = _claim(ws, target)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    live = _check_invariants(ws, target, trail)
    killed_claimed = point not in ("run marked pending", "pending record appended")
    if killed_claimed and point != "audit record appended":
        assert "had stopped after recording 16 claim(s)" in rerun.stderr  # the user is told what was finished
    elif not killed_claimed:
        assert "had stopped before recording any claim" in rerun.stderr
    # the killed run's claims stay its own (recovered), or the rerun made them (the killed run claimed nothing)
    assert live["run_id"].nunique() == 1
    if point == "claims recorded":  # a further run has nothing left to finish and claims nothing again
        third = _claim(ws, target)
        assert third.returncode == 0 and "note:" not in third.stderr
        assert _check_invariants(ws, target, trail)["claim_reference"].tolist() == live["claim_reference"].tolist()


def test_a_claim_file_that_cannot_be_written_says_what_becomes_of_the_recorded_claims(tmp_path, monkeypatch, capsys):
    from tfclaims import pipeline
    from tfclaims.cli import main

    ws, _ = init_workspace(tmp_path / "council")
    monkeypatch.setenv("TFCLAIMS_HOME", str(ws.root))
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    real_csv = pipeline.RunFiles.csv

    def full_disk(self, name, df):
        if name == "claim_file.csv":
            raise OSError(28, "No space left on device")
        return real_csv(self, name, df)

    monkeypatch.setattr(pipeline.RunFiles, "csv", full_disk)
    argv = ["claim", "--input", str(SAMPLE_COHORT_DIR), "--period-end", "2020-03-31"]
    with pytest.raises(SystemExit) as failed:
        main(argv)
    assert failed.value.code == 1
    err = capsys.readouterr().err
    assert "16 claim(s) of run" in err and "tfclaims ledger export --run-id" in err and "next `tfclaims claim`" in err
    monkeypatch.setattr(pipeline.RunFiles, "csv", real_csv)
    with pytest.raises(SystemExit) as again:
        main(argv)
    assert again.value.code == 0
    assert "had stopped after recording 16 claim(s)" in capsys.readouterr().err
    _check_invariants(ws.root, str(ws.ledger), ws.audit)
