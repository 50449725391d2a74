"""Tamper evidence: the sealed claims ledger (SQLite and PostgreSQL), the keyed audit chain, and what
the trail may never hold (URL passwords, raw family or person ids)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from ledger_helpers import run_cli
from tfclaims.audit import trail as audit
from tfclaims.claim.ledger import Ledger
from tfclaims.core.config import DEMO_REFERENCE_KEY, REFERENCE_KEY_ENV
from tfclaims.core.errors import InputError
from tfclaims.core.redact import display_target, mask_urls, name_subjects

pytest_plugins = ["postgres"]

KEY = "tamper-test-council-key"
FRAMEWORK = "tf-phase2"
COUNCIL = "E99999999"  # the council a PostgreSQL ledger is opened for (a SQLite file needs none)
PERIOD = dt.date(2020, 3, 31)
SECRET_URL = "postgresql://claims_user:s3cr3t-pw@db.example.org:5432/tfclaims"


@pytest.fixture(autouse=True)
def _council_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REFERENCE_KEY_ENV, KEY)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    return request.getfixturevalue("postgres_url")


def cands(*families: str, route: str = "ssp") -> pd.DataFrame:
    return pd.DataFrame({"family_id": list(families), "route": route, "amount_pence": 80_000})


@pytest.fixture
def book(target: str) -> Any:
    """Claims TFC-000001..4 (F1..F4); TFC-000003 withdrawn (F3 on hold 1), F5 approved and claimed at TFC-000005
    (discretionary), a verdict on TFC-000001."""
    with Ledger.open(target, council=COUNCIL, key=KEY) as ledger:
        ledger.record_claims(run_id="run-1", framework=FRAMEWORK, period_end=PERIOD, candidates=cands("F1", "F2", "F3", "F4"),
                             allocation=None)
        ledger.withdraw("TFC-000003", "no evidence", by="auditor")
        ledger.approve("F5", FRAMEWORK, by="manager", reason="discretion")
        ledger.record_claims(run_id="run-2", framework=FRAMEWORK, period_end=PERIOD, candidates=cands("F5", route="discretionary"),
                             allocation=None)
        ledger.record_verdict("TFC-000001", "valid", "", by="auditor", on=dt.date(2020, 5, 1))
        yield ledger


def sql(ledger: Ledger, statement: str) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(sa.text(statement))


def problems(ledger: Ledger) -> str:
    check = ledger.verify_rows()
    assert not check.ok
    with pytest.raises(InputError) as refused:
        ledger.check_integrity()
    assert str(refused.value) == check.message()
    return check.message()


# ------------------------------------------------------------------------------------- the ledger


def test_an_untouched_ledger_passes_after_every_kind_of_write(book: Ledger) -> None:
    book.release("F3", FRAMEWORK, "evidence found", by="auditor")
    check = book.check_integrity()
    assert check.ok and (check.claims, check.holds, check.approvals) == (5, 1, 1) and not check.demo_key
    assert "every seal sound" in check.message()


def test_a_changed_amount_is_named(book: Ledger) -> None:
    sql(book, "UPDATE claims SET amount_pence = 90000 WHERE claim_reference = 'TFC-000002'")
    assert "claim TFC-000002: amount_pence does not match its seal (changed by hand?)" in problems(book)


def test_a_flipped_status_is_named(book: Ledger) -> None:
    sql(book, "UPDATE claims SET status = 'claimed', withdrawn_on = NULL, withdrawal_reason = NULL, withdrawn_by = NULL "
              "WHERE claim_reference = 'TFC-000003'")  # fmt: skip
    message = problems(book)
    assert "claim TFC-000003: status, withdrawal_reason, withdrawn_on, withdrawn_by do not match its seal" in message


def test_an_edited_verdict_is_named(book: Ledger) -> None:
    sql(book, "UPDATE claims SET verdict = 'invalid' WHERE claim_reference = 'TFC-000001'")
    assert "claim TFC-000001: verdict does not match its seal" in problems(book)


def test_a_deleted_claim_in_the_middle_is_named(book: Ledger) -> None:
    sql(book, "DELETE FROM claims WHERE claim_reference = 'TFC-000002'")
    message = problems(book)
    assert "claim TFC-000002: missing (deleted by hand?): TFC-000003 was sealed after it" in message


def test_a_deleted_last_claim_is_named(book: Ledger) -> None:
    sql(book, "UPDATE approvals SET used_by_claim_reference = NULL")  # (the foreign key) -- itself caught below
    sql(book, "DELETE FROM claims WHERE claim_reference = 'TFC-000005'")
    message = problems(book)
    assert "claim TFC-000005: missing (deleted by hand?): the ledger's seal records claims up to it" in message
    assert "approval 1: used_by_claim_reference does not match its seal" in message


def test_a_row_inserted_by_hand_is_named_with_or_without_a_copied_seal(book: Ledger) -> None:
    with book.engine.begin() as conn:
        row = dict(conn.execute(sa.select(sa.text("*")).select_from(sa.table("claims")).where(
            sa.text("claim_reference = 'TFC-000002'"))).mappings().one())
        for number, copied in ((90, None), (91, row["seal"])):
            conn.execute(sa.text(
                "INSERT INTO claims (claim_number, claim_reference, family_id, framework, route, period_end, amount_pence, "
                "run_id, status, claimed_at, prev_claim_number, seal) VALUES (:n, :ref, :f, :fw, 'ssp', :pe, 80000, 'run-x', "
                "'claimed', :at, 5, :seal)"), {"n": number, "ref": f"TFC-0000{number}", "f": f"FX{number}", "fw": FRAMEWORK,
                                               "pe": PERIOD, "at": row["claimed_at"], "seal": copied})  # fmt: skip
    message = problems(book)
    assert "claim TFC-000090: has no seal (inserted by hand?)" in message
    assert "claim TFC-000091: " in message and "do not match its seal" in message
    assert "the ledger's seal counts 5 claims, 7 are present" in message


def test_an_edited_or_deleted_hold_and_an_edited_approval_are_named(book: Ledger) -> None:
    sql(book, "UPDATE holds SET released_on = '2020-06-01', released_by = 'someone', release_reason = 'quietly'")
    sql(book, "UPDATE approvals SET approved_by = 'not the manager'")
    message = problems(book)
    assert "hold 1: released_on, released_by, release_reason do not match its seal" in message
    assert "approval 1: approved_by does not match its seal" in message
    sql(book, "DELETE FROM holds")
    assert "the ledger's seal counts 1 holds, 0 are present" in problems(book)


def test_the_ledgers_own_seal_record_is_checked(book: Ledger) -> None:
    sql(book, "UPDATE ledger_seal SET claims_count = 4")
    assert "the ledger's seal record (table ledger_seal) does not match its seal" in problems(book)
    sql(book, "DELETE FROM ledger_seal")
    assert "the ledger's seal record (table ledger_seal) is missing" in problems(book)


def test_a_hand_edit_is_never_resealed_by_a_later_write(book: Ledger) -> None:
    sql(book, "UPDATE claims SET amount_pence = 1 WHERE claim_reference = 'TFC-000002'")
    with pytest.raises(InputError, match="claim TFC-000002: amount_pence does not match its seal"):
        book.withdraw("TFC-000002", "hide it", by="someone")
    with pytest.raises(InputError, match="TFC-000002: amount_pence"):
        book.record_claims(run_id="run-3", framework=FRAMEWORK, period_end=PERIOD, candidates=cands("F9"), allocation=None)
    assert book.claim("TFC-000002")["status"] == "claimed" and "F9" not in set(book.claims()["family_id"])


def test_a_flipped_status_cannot_open_the_way_to_a_second_claim(book: Ledger) -> None:
    """Withdrawing a claim by hand (to claim the family again) is refused at the next claim run."""
    sql(book, "UPDATE claims SET status = 'withdrawn', withdrawn_on = '2020-04-01', withdrawal_reason = 'x' "
              "WHERE claim_reference = 'TFC-000002'")  # fmt: skip
    with pytest.raises(InputError, match="TFC-000002: status"):
        book.record_claims(run_id="run-3", framework=FRAMEWORK, period_end=PERIOD, candidates=cands("F2"), allocation=None)


def test_another_key_cannot_write_or_check_and_is_told_which(target: str, book: Ledger) -> None:
    with Ledger.open(target, council=COUNCIL, key="another-key") as other:
        with pytest.raises(InputError, match="sealed with another reference key"):
            other.withdraw("TFC-000001", "x", by="someone")
        with pytest.raises(InputError, match="sealed with another reference key"):
            other.verify_rows()
    with Ledger.open(target, council=COUNCIL, key=DEMO_REFERENCE_KEY) as demo:
        with pytest.raises(InputError, match=r"\(the public demo key\)"):
            demo.approve("F7", FRAMEWORK, by="m", reason="r")
    assert book.check_integrity().ok


def test_a_ledger_from_before_seals_is_sealed_once_by_an_operator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path, key=KEY) as ledger:
        ledger.record_claims(run_id="run-1", framework=FRAMEWORK, period_end=PERIOD, candidates=cands("F1", "F2"), allocation=None)
        ledger.withdraw("TFC-000001", "no evidence", by="auditor")
    with sa.create_engine(f"sqlite:///{path}").begin() as conn:  # back to schema version 1, as an old ledger was
        for table, column in (("claims", "seal"), ("claims", "prev_claim_number"), ("holds", "seal"), ("approvals", "seal")):
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(sa.text("DROP TABLE ledger_seal"))
        conn.execute(sa.text("UPDATE schema_version SET version = 1"))
    with Ledger.open(path, key=KEY) as old:
        assert old.schema_version() == 2
        assert "an operator checks it and runs `tfclaims ledger seal` once" in problems(old)
        with pytest.raises(InputError, match="ledger seal"):
            old.record_claims(run_id="run-2", framework=FRAMEWORK, period_end=PERIOD, candidates=cands("F3"), allocation=None)
    audit_path = tmp_path / "audit.jsonl"
    assert _cli(capsys, "ledger", "seal", "--ledger", str(path), "--audit", str(audit_path))[0] == 0
    with Ledger.open(path, key=KEY) as sealed:
        assert sealed.check_integrity().ok
        sql(sealed, "UPDATE claims SET amount_pence = 5 WHERE claim_number = 2")
    code, _, err = _cli(capsys, "ledger", "seal", "--ledger", str(path), "--audit", str(audit_path))
    assert code == 2 and "already sealed" in err and "TFC-000002: amount_pence" in err  # never sealed twice
    records = audit.read_records(audit_path)
    assert [r["command"] for r in records] == ["ledger seal", "ledger seal"]
    assert records[0]["notes"] == {"sealed_claims": 2, "sealed_holds": 1, "sealed_approvals": 0}
    assert records[1]["status"] == "failed"


def test_a_claim_run_refuses_a_ledger_changed_by_hand(tmp_path: Path) -> None:
    import shutil

    from tfclaims.core.config import CouncilConfig
    from tfclaims.core.resources import SAMPLE_COHORT_DIR
    from tfclaims.options import ClaimOptions
    from tfclaims.pipeline import claim

    cohort = tmp_path / "cohort"
    shutil.copytree(SAMPLE_COHORT_DIR, cohort, ignore=shutil.ignore_patterns("synth"))
    ledger = tmp_path / "ledger.sqlite"

    def opts(out: str) -> ClaimOptions:
        return ClaimOptions.of(input=cohort, out=tmp_path / out, council=CouncilConfig(reference_key=KEY),
                               audit=tmp_path / "audit.jsonl", period_end=PERIOD, ledger=str(ledger))

    assert claim(opts("one")).summary["claims"] > 0
    with Ledger.open(ledger, key=KEY) as book:
        sql(book, "UPDATE claims SET amount_pence = amount_pence * 2 WHERE claim_number = 1")
    with pytest.raises(InputError, match="claim TFC-000001: amount_pence does not match its seal"):
        claim(opts("two"))
    last = audit.read_records(tmp_path / "audit.jsonl")[-1]
    assert last["status"] == "failed" and "TFC-000001: amount_pence" in last["error"]


# ------------------------------------------------------------------------------------- the audit chain


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, *args)


def _chain(path: Path, n: int = 4, key: str = KEY) -> list[str]:
    ids = []
    for i in range(n):
        with audit.run_record("identify", {"n": i}, audit_path=path, key=key) as rec:
            rec.touched(person_ids=[f"P{i}"])
        ids.append(rec.run_id)
    return ids


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_a_log_cut_short_with_a_rewritten_head_is_caught_without_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _chain(path)
    kept = _lines(path)[:2]
    path.write_text("".join(kept), encoding="utf-8")
    last = json.loads(kept[-1])
    head = tmp_path / "audit.head.json"
    head.write_text(json.dumps({"log": "audit.jsonl", "hash": last["hash"], "count": 2}))  # no seal: as before
    res = audit.verify(path, keys=[KEY])
    assert not res.ok and "head file audit.head.json is not sealed" in res.problem
    forged = json.loads(json.dumps({**json.loads(head.read_text()), "hash_version": 2,
                                    "key_fingerprint": last["key_fingerprint"], "seal": "0" * 64}))
    head.write_text(json.dumps(forged))
    res = audit.verify(path, keys=[KEY])
    assert not res.ok and "does not match its seal" in res.problem
    head.unlink()
    res = audit.verify(path, keys=[KEY])
    assert not res.ok and "head store is missing" in res.problem


def test_verify_without_the_key_checks_the_structure_only_and_says_so(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "audit.jsonl"
    _chain(path, 3)
    config = tmp_path / "council.yaml"
    config.write_text(f"reference_key: {KEY}\n")
    code, out, _ = _cli(capsys, "audit", "verify", "--audit", str(path))  # the key from the environment
    assert code == 0 and "verified: 3 records (3 sealed with the council key)" in out
    monkeypatch.delenv(REFERENCE_KEY_ENV)
    code, _, err = _cli(capsys, "audit", "verify", "--audit", str(path))
    assert code == 2 and "only the chain's structure could be checked, not the seals of 3 record(s)" in err
    code, out, _ = _cli(capsys, "audit", "verify", "--audit", str(path), "--structure-only")
    assert code == 0 and "structure verified: 3 records" in out and "3 NOT checked" in out
    code, out, _ = _cli(capsys, "audit", "verify", "--audit", str(path), "--config", str(config))
    assert code == 0 and "verified: 3 records" in out
    code, _, err = _cli(capsys, "audit", "verify", "--audit", str(path), "--config", str(config), "--ledger",
                        str(tmp_path / "none.sqlite"))
    assert code == 2 and "no ledger at" in err


def test_a_demo_key_trail_verifies_and_is_flagged(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv(REFERENCE_KEY_ENV)
    path = tmp_path / "audit.jsonl"
    with audit.run_record("validate", {}, audit_path=path) as rec:  # no council key: the demo key
        rec.touched(person_ids=["P1"])
    record = audit.read_records(path)[0]
    assert record["demo_key"] is True and record["key_fingerprint"] == audit.key_fingerprint(DEMO_REFERENCE_KEY)
    code, out, _ = _cli(capsys, "audit", "verify", "--audit", str(path))
    assert code == 0 and "1 with the public demo key (anyone can recompute those)" in out


def test_old_plain_sha256_records_still_verify_and_are_flagged(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    prev = audit.GENESIS_HASH
    lines = []
    for seq in (1, 2):  # as tfclaims wrote them before keyed seals
        rec = audit.RunRecord(command="identify", params={"n": seq}, key=KEY).to_record("succeeded")
        rec.update(seq=seq, prev_hash=prev)
        rec["hash"] = prev = audit.record_hash(rec)
        lines.append(audit.canonical_json(rec).decode() + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    (tmp_path / "audit.head.json").write_text(json.dumps({"log": "audit.jsonl", "hash": prev, "count": 2}))
    res = audit.verify(path, keys=[KEY])
    assert res.sealed_ok and res.plain == 2 and any("plain SHA-256" in w for w in res.warnings)
    _chain(path, 1)  # the next record is keyed and follows on
    res = audit.verify(path, keys=[KEY])
    assert res.sealed_ok and (res.plain, res.council_sealed, res.records) == (2, 1, 3)
    lines = _lines(path)
    rec = json.loads(lines[0])
    rec["operator"] = "someone else"
    rec["hash"] = audit.record_hash(rec)
    path.write_text(audit.canonical_json(rec).decode() + "\n" + "".join(lines[1:]), encoding="utf-8")
    res = audit.verify(path, keys=[KEY])
    assert not res.ok and res.first_bad_line == 2  # an old record's edit still breaks the chain after it


def test_the_demo_ledger_and_trail_verify_with_the_demo_key(tmp_path: Path, capsys, monkeypatch) -> None:
    from tfclaims.options import DemoOptions
    from tfclaims.pipeline import demo

    monkeypatch.delenv(REFERENCE_KEY_ENV)
    out = demo(DemoOptions.of(out=tmp_path / "demo")).out
    code, printed, _ = _cli(capsys, "audit", "verify", "--audit", str(out / "audit.jsonl"), "--ledger", str(out / "ledger.sqlite"))
    assert code == 0, printed
    assert "the head kept in the ledger agrees" in printed and "public DEMO key" in printed
    assert "2 with the public demo key" in printed  # the demo run's pending record and its final one


# ------------------------------------------------------------------------------------- no secrets, no raw ids


def test_display_target_masks_the_password_and_leaves_paths_alone() -> None:
    assert display_target(SECRET_URL) == "postgresql://claims_user:***@db.example.org:5432/tfclaims"
    assert display_target("postgresql://claims_user@db/tfclaims") == "postgresql://claims_user@db/tfclaims"
    assert display_target("/srv/tfclaims/reports/ledger.sqlite") == "/srv/tfclaims/reports/ledger.sqlite"
    assert "s3cr3t" not in mask_urls(f"could not connect to {SECRET_URL} (timeout)")
    assert "s3cr3t" not in display_target("postgresql://u:s3cr3t@[bad")


def test_a_url_password_never_reaches_the_audit_trail_or_the_console(tmp_path: Path, capsys) -> None:
    path = tmp_path / "audit.jsonl"
    with pytest.raises(RuntimeError):
        with audit.run_record("ledger show", {"ledger": SECRET_URL, "also": [SECRET_URL]}, audit_path=path, key=KEY):
            raise RuntimeError(f"cannot reach {SECRET_URL}")
    text = path.read_text(encoding="utf-8")
    assert "s3cr3t" not in text and "claims_user:***@db.example.org" in text
    with pytest.raises(InputError) as refused:
        Ledger.open("mysql://claims_user:s3cr3t-pw@db/tfclaims")
    assert "s3cr3t" not in str(refused.value)
    code, out, err = _cli(capsys, "ledger", "show", "--ledger", "postgresql://claims_user:s3cr3t-pw@127.0.0.1:1/tfclaims",
                          "--audit", str(path))
    assert code == 2 and "s3cr3t" not in out + err and "claims_user:***@127.0.0.1" in err


def test_a_refused_release_leaves_only_the_keyed_hash_of_the_family(tmp_path: Path, capsys, monkeypatch) -> None:
    ledger = tmp_path / "ledger.sqlite"
    with Ledger.open(ledger, key=KEY) as book:
        book.record_claims(run_id="run-1", framework=FRAMEWORK, period_end=PERIOD, candidates=cands("F1"), allocation=None)
    # a refusal found only inside the write transaction (another person acted meanwhile) is recorded as failed
    monkeypatch.setattr(Ledger, "check_release", lambda self, family_id, framework: None)
    code, _, err = _cli(capsys, "ledger", "release", "F123", "--reason", "x", "--ledger", str(ledger))
    assert code == 2 and "F123" in err  # the person at the console is told which family
    text = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    record = audit.read_records(tmp_path / "audit.jsonl")[-1]
    assert record["status"] == "failed" and "F123" not in text
    assert f"family:{audit.keyed_hash('F123', KEY, 'family')}" in record["error"]


def test_ids_attached_to_an_error_are_hashed_even_when_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with pytest.raises(InputError):
        with audit.run_record("claim", {}, audit_path=path, key=KEY):
            raise name_subjects(InputError("family 'F-31' is not on audit hold"), family_ids=["F-31"])
    error = audit.read_records(path)[-1]["error"]
    assert "F-31" not in error and f"family:{audit.keyed_hash('F-31', KEY, 'family')}" in error


def test_ids_a_run_touched_are_hashed_in_its_error_too(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with pytest.raises(InputError):
        with audit.run_record("claim", {}, audit_path=path, key=KEY) as rec:
            rec.touched(family_ids=["FAM-77", "F9"], person_ids=["P-0042"])
            raise InputError("family FAM-77 and person P-0042 were refused; F9 too; F90 is not one of them")
    error = audit.read_records(path)[-1]["error"]
    for raw in ("FAM-77", "P-0042", "F9 "):
        assert raw not in error
    assert f"family:{audit.keyed_hash('FAM-77', KEY, 'family')}" in error
    assert f"person:{audit.keyed_hash('P-0042', KEY, 'person')}" in error
    assert "F90 is not one of them" in error  # an id the run never touched, and not named, is left as it is
