"""The claims ledger, on SQLite and on a real PostgreSQL server (tests/postgres.py)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from tfclaims.cli import main
from tfclaims.core.errors import InputError
from tfclaims.core.workspace import init_workspace
from tfclaims.claim.ledger import Ledger, LedgerHeadStore, RecordResult
from ledger_helpers import record_claim_run

pytest_plugins = ["postgres"]

FRAMEWORK = "tf-phase2"
PERIOD = dt.date(2020, 3, 31)
PAYMENT = 80_000  # £800.00 in pence
COUNCIL = "E99999999"  # the council a PostgreSQL ledger is opened for (a SQLite file needs none)

_fork = multiprocessing.get_context("fork")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh ledger lives: a SQLite file, or an empty schema on the PostgreSQL test server."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger" / "ledger.sqlite")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def ledger(target: str) -> Any:
    with Ledger.open(target, council=COUNCIL) as book:
        yield book


def candidates(*families: str, route: str = "ssp", amount: int = PAYMENT) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "family_id": pd.Series(families, dtype="str"),
            "route": pd.Series([route] * len(families), dtype="str"),
            "amount_pence": pd.Series([amount] * len(families), dtype="int64"),
        }
    )


def record(book: Ledger, cands: pd.DataFrame, *, run_id: str = "run-1", allocation: int | None = None) -> RecordResult:
    return book.record_claims(
        run_id=run_id, framework=FRAMEWORK, period_end=PERIOD, candidates=cands, allocation=allocation
    )


def families(n: int, start: int = 0) -> list[str]:
    return [f"F{i:04d}" for i in range(start, start + n)]


# ------------------------------------------------------------------------------------------- schema


def test_open_creates_schema_with_version_and_reopens(target: str) -> None:
    with Ledger.open(target, council=COUNCIL) as book:
        assert book.schema_version() == 2
        tables = set(sa.inspect(book.engine).get_table_names())
        record(book, candidates("F1"))
    assert {"schema_version", "claims", "holds", "approvals", "audit_head", "ledger_seal"} <= tables
    with Ledger.open(target, council=COUNCIL) as again:  # reopening neither recreates nor loses anything
        assert again.schema_version() == 2
        assert again.claims()["family_id"].tolist() == ["F1"]


def test_ledger_from_a_newer_version_is_refused(target: str) -> None:
    with Ledger.open(target, council=COUNCIL) as book, book.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO schema_version (version, applied_at) VALUES (99, '2030-01-01 00:00:00')"))
    with pytest.raises(InputError, match="newer"):
        Ledger.open(target, council=COUNCIL)


def test_opening_an_existing_ledger_takes_no_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger.open(path).close()
    other_run = sqlite3.connect(path, isolation_level=None)
    other_run.execute("BEGIN IMMEDIATE")  # another run holds the write lock
    try:
        started = time.monotonic()
        with Ledger.open(path) as reader:  # e.g. a dry run: opens and reads without waiting for the lock
            assert reader.active_claims(FRAMEWORK).empty
        assert time.monotonic() - started < 5
    finally:
        other_run.execute("ROLLBACK")
        other_run.close()


def test_sqlite_ledger_uses_wal_and_missing_file_is_input_error(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "ledger.sqlite"
    with pytest.raises(InputError, match="no ledger"):
        Ledger.open(path, create=False)
    with Ledger.open(path) as book, book.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert path.exists()


# ------------------------------------------------------------------------------------------- guarantees


def _raw_claim(conn: sa.Connection, number: int, family: str, status: str = "claimed") -> None:
    withdrawn = "'2020-04-01', 'test'" if status == "withdrawn" else "NULL, NULL"
    conn.execute(
        sa.text(
            "INSERT INTO claims (claim_number, claim_reference, family_id, framework, route, period_end, "
            "amount_pence, run_id, status, claimed_at, withdrawn_on, withdrawal_reason) "
            f"VALUES (:n, :ref, :family, :fw, 'ssp', '2020-03-31', 80000, 'raw', :status, '2020-03-31 10:00:00', {withdrawn})"
        ),
        {"n": number, "ref": f"RAW-{number}", "family": family, "fw": FRAMEWORK, "status": status},
    )


def test_database_refuses_second_live_claim_even_when_code_is_bypassed(ledger: Ledger) -> None:
    record(ledger, candidates("F1"))
    with pytest.raises(sa.exc.IntegrityError), ledger.engine.begin() as conn:
        _raw_claim(conn, 900, "F1")
    # the index is partial: a withdrawn duplicate is allowed, and so is the same family under another framework
    with ledger.engine.begin() as conn:
        _raw_claim(conn, 901, "F1", status="withdrawn")
        conn.execute(sa.text("UPDATE claims SET framework = 'sf-2022' WHERE claim_number = 901"))
        conn.execute(sa.text("UPDATE claims SET status = 'claimed', withdrawn_on = NULL, withdrawal_reason = NULL "
                             "WHERE claim_number = 901"))  # fmt: skip
    assert len(ledger.active_claims(FRAMEWORK)) == 1
    assert len(ledger.active_claims("sf-2022")) == 1
    assert "claim RAW-901: has no seal (inserted by hand?)" in ledger.verify_rows().message()  # and it is named
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM claims WHERE claim_number = 901"))
    # re-activating a withdrawn claim of a family that has a live one is refused too
    ref = ledger.active_claims(FRAMEWORK)["claim_reference"].iloc[0]
    ledger.withdraw(ref, "test", by="tester", hold=False)
    record(ledger, candidates("F1"), run_id="run-2")
    with pytest.raises(sa.exc.IntegrityError), ledger.engine.begin() as conn:
        conn.execute(sa.text("UPDATE claims SET status = 'claimed', withdrawn_on = NULL, withdrawal_reason = NULL "
                             "WHERE claim_reference = :ref"), {"ref": ref})  # fmt: skip


def test_record_claims_is_all_or_nothing(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    record(ledger, candidates("F0"), run_id="run-0")
    before = ledger.claims()
    real_insert = Ledger._insert_claims

    def insert_some_then_fail(self: Ledger, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        real_insert(self, conn, rows[:3])
        assert conn.execute(sa.text("SELECT count(*) FROM claims")).scalar() == 4  # they are in, uncommitted
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Ledger, "_insert_claims", insert_some_then_fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        record(ledger, candidates(*families(6, start=1)), run_id="run-1")
    pd.testing.assert_frame_equal(ledger.claims(), before)

    monkeypatch.undo()  # the ledger is usable and the failed run's numbers are not burned into gaps that matter
    done = record(ledger, candidates(*families(6, start=1)), run_id="run-1")
    assert done.claimed["family_id"].tolist() == families(6, start=1)
    assert ledger.claims()["claim_reference"].is_unique


def test_rerun_is_idempotent(ledger: Ledger) -> None:
    fams = families(5)
    first = record(ledger, candidates(*fams), run_id="run-1")
    second = record(ledger, candidates(*fams), run_id="run-2")
    assert first.claimed["family_id"].tolist() == fams
    assert first.claimed["claim_reference"].is_unique
    assert second.claimed.empty
    assert second.already_claimed == fams
    claims = ledger.claims()
    assert len(claims) == 5
    assert set(claims["run_id"]) == {"run-1"}
    # references are stable: a later read gives the same ones
    assert claims.set_index("family_id")["claim_reference"].to_dict() == first.claimed.set_index("family_id")[
        "claim_reference"
    ].to_dict()


def test_allocation_keeps_the_given_order_and_reports_the_surplus(ledger: Ledger) -> None:
    record(ledger, candidates("A1", "A2"), run_id="run-1")
    order = ["F9", "F1", "F5", "F3", "F7"]  # the caller's priority order, deliberately not sorted
    done = record(ledger, candidates(*order), run_id="run-2", allocation=5)
    assert done.claims_to_date == 2
    assert done.claimed["family_id"].tolist() == ["F9", "F1", "F5"]
    assert done.over_allocation == ["F3", "F7"]
    assert len(ledger.active_claims(FRAMEWORK)) == 5
    # full: everything is surplus; a larger allocation later claims the surplus
    assert record(ledger, candidates("F3", "F7"), run_id="run-3", allocation=5).over_allocation == ["F3", "F7"]
    later = record(ledger, candidates("F3", "F7", "F1"), run_id="run-4", allocation=6)
    assert later.already_claimed == ["F1"]
    assert later.claimed["family_id"].tolist() == ["F3"]
    assert later.over_allocation == ["F7"]


def test_withdrawn_claims_do_not_count_against_allocation(ledger: Ledger) -> None:
    first = record(ledger, candidates("F1", "F2"), allocation=2)
    ledger.withdraw(first.claimed["claim_reference"].iloc[0], "duplicate", by="tester", hold=False)
    done = record(ledger, candidates("F3", "F4"), run_id="run-2", allocation=2)
    assert done.claimed["family_id"].tolist() == ["F3"]
    assert done.over_allocation == ["F4"]


def test_withdraw_places_hold_until_a_person_releases_it(ledger: Ledger) -> None:
    ref = record(ledger, candidates("F1", "F2")).claimed.set_index("family_id").loc["F1", "claim_reference"]
    withdrawal = ledger.withdraw(ref, "spot check: not eligible", by="auditor", on=dt.date(2020, 5, 1))
    assert (withdrawal.family_id, withdrawal.framework, withdrawal.hold_placed) == ("F1", FRAMEWORK, True)
    assert ledger.held_families(FRAMEWORK) == {"F1"}
    assert ledger.held_families("sf-2022") == set()
    claim = ledger.claims().set_index("claim_reference").loc[ref]
    assert claim["status"] == "withdrawn"
    assert claim["withdrawal_reason"] == "spot check: not eligible"
    assert claim["withdrawn_on"] == pd.Timestamp("2020-05-01")
    assert claim["withdrawn_by"] == "auditor"
    assert ledger.active_claims(FRAMEWORK)["family_id"].tolist() == ["F2"]

    held = record(ledger, candidates("F1", "F2", "F3"), run_id="run-2")
    assert held.audit_hold == ["F1"]
    assert held.already_claimed == ["F2"]
    assert held.claimed["family_id"].tolist() == ["F3"]

    with pytest.raises(InputError, match="already withdrawn"):
        ledger.withdraw(ref, "again", by="auditor")
    with pytest.raises(InputError, match="not on audit hold"):
        ledger.release("F2", FRAMEWORK, "never held", by="manager")
    released = ledger.release("F1", FRAMEWORK, "evidence found", by="manager")
    assert (released.claim_reference, released.released_by) == (ref, "manager")
    assert ledger.held_families(FRAMEWORK) == set()
    hold_row = ledger.holds(FRAMEWORK).iloc[0]
    assert (hold_row["release_reason"], hold_row["released_by"]) == ("evidence found", "manager")

    again = record(ledger, candidates("F1"), run_id="run-3")
    assert again.claimed["family_id"].tolist() == ["F1"]
    assert again.claimed["claim_reference"].iloc[0] != ref  # a new claim, a new reference


def test_withdraw_without_hold_leaves_family_claimable(ledger: Ledger) -> None:
    ref = record(ledger, candidates("F1")).claimed["claim_reference"].iloc[0]
    assert ledger.withdraw(ref, "entered twice", by="officer", hold=False).hold_placed is False
    assert ledger.held_families(FRAMEWORK) == set()
    assert record(ledger, candidates("F1"), run_id="run-2").claimed["family_id"].tolist() == ["F1"]


def test_unknown_references_and_bad_inputs_are_input_errors(ledger: Ledger) -> None:
    with pytest.raises(InputError, match="unknown claim reference"):
        ledger.withdraw("TFC-999999", "x", by="me")
    with pytest.raises(InputError, match="unknown claim reference"):
        ledger.record_verdict("NOPE", "valid", "", by="me", on=PERIOD)
    with pytest.raises(InputError, match="reason"):
        ledger.withdraw("TFC-000001", "   ", by="me")
    with pytest.raises(InputError, match="twice"):
        record(ledger, candidates("F1", "F1"))
    with pytest.raises(InputError, match="route"):
        record(ledger, candidates("F1", route="magic"))
    with pytest.raises(InputError, match="amount_pence"):
        record(ledger, candidates("F1").assign(amount_pence=800.5))
    assert ledger.claims().empty


def test_approvals_are_consumed_by_a_discretionary_claim(ledger: Ledger) -> None:
    approval = ledger.approve("F7", FRAMEWORK, by="Team Manager", reason="outcomes met in substance")
    assert approval.approved_by == "Team Manager"
    pending = ledger.approvals(FRAMEWORK)
    assert pending["family_id"].tolist() == ["F7"]
    assert ledger.approvals("sf-2022").empty
    with pytest.raises(InputError, match="unused approval"):
        ledger.approve("F7", FRAMEWORK, by="Someone", reason="again")

    cands = pd.concat([candidates("F1"), candidates("F7", route="discretionary")], ignore_index=True)
    done = record(ledger, cands)
    assert done.used_approvals == ["F7"]
    assert ledger.approvals(FRAMEWORK).empty
    ref = done.claimed.set_index("family_id").loc["F7", "claim_reference"]
    assert ledger.active_claims(FRAMEWORK).set_index("family_id").loc["F7", "route"] == "discretionary"
    with ledger.engine.connect() as conn:
        used = conn.execute(sa.text("SELECT used_by_claim_reference FROM approvals WHERE family_id = 'F7'")).scalar()
    assert used == ref
    with pytest.raises(InputError, match="already claimed"):
        ledger.approve("F1", FRAMEWORK, by="Team Manager", reason="too late")


def test_discretionary_claim_without_approval_is_refused_whole(ledger: Ledger) -> None:
    cands = pd.concat([candidates("F1"), candidates("F8", route="discretionary")], ignore_index=True)
    with pytest.raises(InputError, match="without a manager's approval.*F8"):
        record(ledger, cands)
    assert ledger.claims().empty


def test_verdicts_are_recorded(ledger: Ledger) -> None:
    refs = record(ledger, candidates("F1", "F2")).claimed["claim_reference"].tolist()
    verdict = ledger.record_verdict(refs[0], "Invalid", "no action plan on file", by="auditor", on=dt.date(2020, 6, 1))
    assert (verdict.verdict, verdict.family_id) == ("invalid", "F1")
    ledger.record_verdict(refs[1], "valid", "", by="auditor", on=dt.date(2020, 6, 2))
    with pytest.raises(InputError, match="not one of"):
        ledger.record_verdict(refs[1], "fine", "", by="auditor", on=dt.date(2020, 6, 2))
    claims = ledger.claims().set_index("claim_reference")
    assert claims.loc[refs[0], "verdict"] == "invalid"
    assert claims.loc[refs[0], "verdict_note"] == "no action plan on file"
    assert claims.loc[refs[0], "verdict_on"] == pd.Timestamp("2020-06-01")
    assert claims.loc[refs[1], "verdict"] == "valid"
    assert claims.loc[refs[0], "status"] == "claimed"  # a verdict alone does not withdraw


def test_pence_stay_integers(ledger: Ledger) -> None:
    amounts = [80_000, 1, 99_999_999_999]  # a penny, and more than 32 bits
    cands = pd.DataFrame(
        {"family_id": ["F1", "F2", "F3"], "route": ["ssp"] * 3, "amount_pence": pd.array(amounts, dtype="Int64")}
    )
    record(ledger, cands)
    stored = ledger.claims()["amount_pence"]
    assert str(stored.dtype) == "Int64"
    assert stored.tolist() == amounts
    with ledger.engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT amount_pence FROM claims ORDER BY claim_number")).scalars().all()
    assert all(type(v) is int for v in raw) and raw == amounts


def test_ids_keep_leading_zeros_and_dates_are_typed(ledger: Ledger) -> None:
    record(ledger, candidates("007", "0001"))
    claims = ledger.claims()
    assert claims["family_id"].tolist() == ["007", "0001"]
    assert pd.api.types.is_string_dtype(claims["family_id"])
    assert str(claims["period_end"].dtype) == "datetime64[ns]"
    assert (claims["period_end"] == pd.Timestamp(PERIOD)).all()
    assert claims["claim_reference"].str.fullmatch(r"TFC-\d{6}").all()


def test_audit_head_store(ledger: Ledger, tmp_path: Path) -> None:
    store = LedgerHeadStore(ledger, tmp_path / "audit.jsonl")
    other = LedgerHeadStore(ledger, tmp_path / "elsewhere" / "audit.jsonl")
    assert store.get() is None
    store.set("a" * 64, 1)
    store.set("b" * 64, 2)
    assert store.get() == ("b" * 64, 2)
    assert other.get() is None
    assert LedgerHeadStore(ledger, tmp_path / "." / "audit.jsonl").get() == ("b" * 64, 2)  # same file, same head


# ------------------------------------------------------------------------------------------- processes


def _claim_in_child(target: str, fams: list[str], run_id: str, barrier: Any, results: Any) -> None:
    """A claim run in another process; holds its transaction a moment so that the runs really overlap."""
    real_insert = Ledger._insert_claims

    def slow_insert(self: Ledger, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        real_insert(self, conn, rows)
        time.sleep(0.3)

    Ledger._insert_claims = slow_insert  # type: ignore[method-assign]
    try:
        with Ledger.open(target, council=COUNCIL) as book:
            barrier.wait(timeout=30)
            started = time.monotonic()
            done = record(book, candidates(*fams), run_id=run_id)
            results.put((run_id, done.claimed["family_id"].tolist(), done.already_claimed, started, time.monotonic()))
    except BaseException as exc:  # report, so that the test fails at once rather than time out
        results.put((run_id, f"{type(exc).__name__}: {exc}", None, None, None))
        raise


def test_two_processes_claiming_at_once_claim_each_family_once(target: str) -> None:
    with Ledger.open(target, council=COUNCIL):
        pass  # the schema exists before the race (creating it concurrently is also serialised)
    run_a, run_b = families(60), families(60, start=30)  # 30 families in common
    barrier, results = _fork.Barrier(2), _fork.Queue()
    procs = [
        _fork.Process(target=_claim_in_child, args=(target, fams, run_id, barrier, results))
        for fams, run_id in ((run_a, "run-a"), (run_b, "run-b"))
    ]
    for p in procs:
        p.start()
    outcome = {}
    for _ in procs:
        run_id, claimed, already, started, ended = results.get(timeout=60)
        assert already is not None, f"{run_id} failed: {claimed}"
        outcome[run_id] = (set(claimed), set(already), started, ended)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    (claimed_a, already_a, start_a, end_a), (claimed_b, already_b, start_b, end_b) = outcome["run-a"], outcome["run-b"]
    assert max(start_a, start_b) < min(end_a, end_b)  # the two runs overlapped in time
    assert claimed_a.isdisjoint(claimed_b)
    assert claimed_a | claimed_b == set(run_a) | set(run_b)
    assert claimed_a | already_a == set(run_a) and claimed_b | already_b == set(run_b)
    assert (already_a | already_b) == set(run_a) & set(run_b)  # the loser saw the winner's claims
    with Ledger.open(target, council=COUNCIL) as book:
        live = book.active_claims(FRAMEWORK)
    assert live["family_id"].is_unique and len(live) == 90
    assert live["claim_reference"].is_unique


def _claim_then_hang(target: str, fams: list[str], inserted: Any) -> None:
    real_insert = Ledger._insert_claims

    def insert_and_hang(self: Ledger, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        real_insert(self, conn, rows)
        inserted.set()
        time.sleep(120)

    Ledger._insert_claims = insert_and_hang  # type: ignore[method-assign]
    with Ledger.open(target, council=COUNCIL) as book:
        record(book, candidates(*fams), run_id="doomed")


def test_run_killed_mid_transaction_leaves_ledger_unchanged_and_usable(target: str) -> None:
    with Ledger.open(target, council=COUNCIL) as book:
        record(book, candidates("F0"), run_id="run-0")
        before = book.claims()
    inserted = _fork.Event()
    proc = _fork.Process(target=_claim_then_hang, args=(target, families(20, start=1), inserted))
    proc.start()
    try:
        assert inserted.wait(timeout=30), "the child never reached its insert"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=10)
    assert proc.exitcode == -signal.SIGKILL
    with Ledger.open(target, council=COUNCIL) as book:
        pd.testing.assert_frame_equal(book.claims(), before)
        done = record(book, candidates(*families(20, start=1)), run_id="run-2")  # the lock was released
        assert len(done.claimed) == 20
        assert len(book.claims()) == 21


# ------------------------------------------------------------------------------------------- CLI


def run_cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_show_withdraw_release_approve(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ws, _ = init_workspace(tmp_path / "council")  # whose council.yaml names the council a shared ledger is opened for
    (ws.root / "council.yaml").write_text(f"council_code: {COUNCIL}\n", encoding="utf-8")
    monkeypatch.setenv("TFCLAIMS_HOME", str(ws.root))
    with Ledger.open(target, council=COUNCIL) as book:
        refs = record(book, candidates("F1", "F2")).claimed["claim_reference"].tolist()
    trail = str(tmp_path / "audit.jsonl")
    record_claim_run(Path(trail), tmp_path / "dry", {"F9": "discretion_review"})

    assert run_cli("ledger", "show", "--ledger", target) == 0
    shown = capsys.readouterr().out
    assert refs[0] in shown and refs[1] in shown and "800.00" in shown and "1,600.00" in shown

    assert run_cli("ledger", "withdraw", refs[0], "--reason", "not eligible", "--operator", "auditor", "--ledger", target) == 0
    assert "audit hold" in capsys.readouterr().out
    assert run_cli("ledger", "withdraw", "TFC-424242", "--reason", "x", "--ledger", target) == 2
    assert "unknown claim reference" in capsys.readouterr().err

    assert run_cli("ledger", "show", "--status", "withdrawn", "--ledger", target) == 0
    shown = capsys.readouterr().out
    assert refs[0] in shown and refs[1] not in shown and "not eligible" in shown
    assert run_cli("ledger", "show", "--status", "nonsense", "--ledger", target) == 2
    capsys.readouterr()

    assert run_cli("ledger", "release", "F2", "--reason", "x", "--ledger", target) == 2  # never held
    assert run_cli("ledger", "release", "F1", "--reason", "evidence found", "--ledger", target) == 0
    capsys.readouterr()
    assert run_cli("ledger", "approve", "F9", "--operator", "Team Manager", "--reason", "near miss", "--ledger", target,
                   "--audit", trail) == 0
    assert run_cli("ledger", "approve", "F9", "--ledger", target, "--audit", trail) == 2  # --operator and --reason are required
    assert "--operator" in capsys.readouterr().err

    with Ledger.open(target, council=COUNCIL) as book:
        assert book.held_families(FRAMEWORK) == set()
        hold = book.holds(FRAMEWORK).iloc[0]
        assert hold["release_reason"] == "evidence found" and hold["released_by"]  # the OS user by default
        assert book.claims().set_index("claim_reference").loc[refs[0], "withdrawn_by"] == "auditor"
        assert book.approvals(FRAMEWORK)[["family_id", "approved_by"]].values.tolist() == [["F9", "Team Manager"]]


def test_cli_show_on_missing_ledger_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing.sqlite"
    assert run_cli("ledger", "show", "--ledger", str(missing)) == 2
    assert "no ledger" in capsys.readouterr().err
    assert not missing.exists()


def _open_new_and_claim(path: str, family: str, start: Any, out: Any) -> None:
    start.wait()
    try:
        with Ledger.open(path) as book:
            res = book.record_claims(run_id=f"run-{family}", framework="tf-phase2", period_end=dt.date(2020, 3, 31),
                                     candidates=pd.DataFrame({"family_id": [family, "SHARED"], "route": ["ssp", "ssp"],
                                                              "amount_pence": [80000, 80000]}), allocation=None)
        out.put((family, sorted(res.claimed["family_id"]), None))
    except Exception as exc:  # reported to the parent, which fails the test
        out.put((family, [], repr(exc)))


def test_several_runs_opening_a_new_sqlite_ledger_at_once_all_succeed(tmp_path):
    path = str(tmp_path / "new" / "ledger.sqlite")
    start, out = _fork.Event(), _fork.Queue()
    procs = [_fork.Process(target=_open_new_and_claim, args=(path, f"F{i}", start, out)) for i in range(4)]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [r[2] for r in results] == [None] * 4
    claimed = [f for r in results for f in r[1]]
    assert sorted(claimed) == ["F0", "F1", "F2", "F3", "SHARED"]  # the shared family exactly once
