"""The audit trail: hash chain, tamper detection, concurrency, subject access, retention."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import multiprocessing as mp
import os
from pathlib import Path

import pandas as pd
import pytest

from tfclaims.audit import trail as audit
from tfclaims.core.config import DEMO_REFERENCE_KEY, REFERENCE_KEY_ENV, CouncilConfig
from tfclaims.core.errors import InputError

KEY = "test-council-key"


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv(REFERENCE_KEY_ENV, raising=False)


def a_run(path: Path, command: str = "identify", *, people=(), families=(), key: str = KEY, **params) -> str:
    with audit.run_record(command, params, audit_path=path, key=key) as rec:
        rec.touched(family_ids=list(families), person_ids=list(people))
    return rec.run_id


def a_chain(path: Path, n: int = 5) -> list[str]:
    return [a_run(path, people=[f"P{i}"], as_of="2025-03-31", n=i) for i in range(n)]


def verify(path: Path, heads=None, keys=(KEY,)) -> audit.VerifyResult:
    """The chain checked with the test's council key (and the demo key, always tried)."""
    return audit.verify(path, heads, keys=list(keys))


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="utf-8")


class MemoryHeadStore:
    """A head kept somewhere else (as the claims ledger will)."""

    def __init__(self) -> None:
        self.value: tuple[str, int] | None = None

    def get(self) -> tuple[str, int] | None:
        return self.value

    def set(self, hash: str, count: int, key: str | None = None) -> None:
        self.value = (hash, count)


# ---------------------------------------------------------------------------- a clean chain


def test_a_clean_chain_verifies(tmp_path):
    path = tmp_path / "audit.jsonl"
    ids = a_chain(path, 5)
    res = verify(path)
    assert res.ok, res.message()
    assert res.records == 5 and res.lines == 5
    assert "5 records" in res.message()
    records = audit.read_records(path)
    assert [r["run_id"] for r in records] == ids
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["prev_hash"] == audit.GENESIS_HASH
    for before, after in zip(records, records[1:]):
        assert after["prev_hash"] == before["hash"]
    # each line is the canonical JSON of its record, and the hash covers everything but itself
    for line, rec in zip(lines_of(path), records):
        assert line.rstrip("\n").encode() == audit.canonical_json(rec)
        body = {k: v for k, v in rec.items() if k != "hash"}
        chain_key = hmac.digest(KEY.encode(), b"tfclaims-audit-chain-v1", "sha256")
        assert rec["hash_version"] == 2 and rec["key_fingerprint"] == audit.key_fingerprint(KEY) and not rec["demo_key"]
        assert rec["hash"] == hmac.new(
            chain_key, json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(), "sha256"
        ).hexdigest()
    head = json.loads((tmp_path / "audit.head.json").read_text())
    assert (head["hash"], head["count"]) == (records[-1]["hash"], 5)


def test_an_empty_log_verifies_but_a_missing_one_does_not(tmp_path):
    path = tmp_path / "audit.jsonl"
    res = verify(path)
    assert not res.ok and res.missing and "no audit log" in res.message()
    assert not (tmp_path / "audit.jsonl.lock").exists()  # verifying a missing log makes no lock file
    path.write_bytes(b"")
    res = verify(path)
    assert res.ok and res.records == 0, res.message()


def test_a_record_holds_what_the_run_did(tmp_path):
    path = tmp_path / "audit.jsonl"
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    (cohort / "people.csv").write_text("person_id,family_id\nP1,F1\nP2,F1\n")
    (cohort / "offences.csv").write_text("person_id,offence_date\nP1,2024-01-02\n")
    plan = tmp_path / "plan.yaml"
    plan.write_text("headlines: {}\n")
    out = tmp_path / "out"
    out.mkdir()
    with audit.run_record(
        "claim", {"period_end": dt.date(2025, 3, 31), "out": out}, audit_path=path, operator="a.analyst",
        config=CouncilConfig(reference_key=KEY),
    ) as rec:  # fmt: skip
        rec.input(cohort, rows={"people": 2, "offences": 1})
        rec.framework("tf-phase2", "2.0", "ab" * 32, plan=plan)
        (out / "claim_file.csv").write_text("claim_reference,family_reference\n")
        (out / "eligibility.csv").write_text("family_id\nF1\n")
        rec.output(out / "claim_file.csv")
        rec.output(out / "eligibility.csv")
        rec.touched(family_ids=pd.Series(["F1", "F1"]), person_ids=pd.Series(["P1", "P2", None]))
        rec.note("claims", 1)
    [r] = audit.read_records(path)
    assert r["command"] == "claim" and r["status"] == "succeeded" and r["error"] is None
    assert r["operator"] == "a.analyst" and r["host"] and r["version"]
    assert r["params"] == {"period_end": "2025-03-31", "out": str(out)}
    assert r["purposes"] == ["pbr_claim"]
    assert r["lawful_bases"]["pbr_claim"][0] == "UK GDPR Art 6(1)(e)"
    assert r["framework"]["plan_sha256"] == hashlib.sha256(plan.read_bytes()).hexdigest()
    [inp] = r["inputs"]
    assert inp["kind"] == "folder" and inp["rows"] == {"people": 2, "offences": 1}
    assert {f["path"]: f["sha256"] for f in inp["files"]} == {
        "offences.csv": hashlib.sha256((cohort / "offences.csv").read_bytes()).hexdigest(),
        "people.csv": hashlib.sha256((cohort / "people.csv").read_bytes()).hexdigest(),
    }
    assert [(Path(o["path"]).name, o["purpose"], o["recipient"]) for o in r["outputs"]] == [
        ("claim_file.csv", "pbr_claim", "dfe"),
        ("eligibility.csv", "pbr_claim", "council_tf_team"),
    ]
    t = r["touched"]
    assert t["key_fingerprint"] == audit.key_fingerprint(KEY) and t["demo_key"] is False
    assert t["families"] == {"count": 1, "hashes": [audit.keyed_hash("F1", KEY, "family")]}
    assert t["people"]["hashes"] == sorted(audit.keyed_hash(p, KEY, "person") for p in ("P1", "P2"))
    assert r["notes"] == {"claims": 1}
    text = path.read_text()
    for raw_id in ('"P1"', '"F1"', '"P2"'):
        assert raw_id not in text  # ids appear only as keyed hashes


def test_without_a_council_key_the_demo_key_is_used_and_named(tmp_path):
    path = tmp_path / "audit.jsonl"
    with audit.run_record("validate", {}, audit_path=path) as rec:
        rec.touched(person_ids=["P1"])
    [r] = audit.read_records(path)
    assert r["touched"]["demo_key"] is True
    assert r["touched"]["key_fingerprint"] == audit.key_fingerprint(DEMO_REFERENCE_KEY)
    assert audit.person_runs(path, "P1", None).runs[0]["run_id"] == rec.run_id


def test_keyed_hashes_are_hmac_sha256_on_both_paths():
    ids = pd.Series([f"{i:06d}" for i in range(60_000)] + [None, " 000001 "], dtype=object)  # DuckDB path
    for key in (KEY, "k" * 100):  # a key longer than SHA-256's block is hashed first, as HMAC says
        expected = sorted(
            {hmac.digest(key.encode(), b"tfclaims-audit/person\x00" + f"{i:06d}".encode(), "sha256").hex()[:16] for i in range(60_000)}
        )
        assert audit.keyed_hashes(ids, key, "person") == expected
        assert audit.keyed_hashes(ids[:1000], key, "person") == sorted(  # hashlib path
            audit.keyed_hash(f"{i:06d}", key, "person") for i in range(1000)
        )
    assert audit.keyed_hash("F1", KEY, "family") != audit.keyed_hash("F1", KEY, "person")
    assert audit.keyed_hash("F1", KEY, "family") != audit.keyed_hash("F1", "another", "family")


# ---------------------------------------------------------------------------- tampering


def test_an_edited_field_is_caught_at_its_record(tmp_path):
    path = tmp_path / "audit.jsonl"
    ids = a_chain(path)
    lines = lines_of(path)
    lines[2] = lines[2].replace('"status":"succeeded"', '"status":"failed"')
    write_lines(path, lines)
    res = verify(path)
    assert not res.ok
    assert (res.first_bad_line, res.first_bad_seq, res.first_bad_run_id) == (3, 3, ids[2])
    assert "changed" in res.problem


def test_an_edit_rehashed_with_plain_sha256_is_caught_at_its_record(tmp_path):
    """Recomputing the chain without the key (plain SHA-256, as anyone could) is caught at the edited record."""
    path = tmp_path / "audit.jsonl"
    ids = a_chain(path)
    lines = lines_of(path)
    prev = json.loads(lines[0])["hash"]
    for i in range(1, len(lines)):  # the whole chain from record 2 recomputed, head file too
        rec = json.loads(lines[i])
        if i == 1:
            rec["operator"] = "someone else"
        rec["prev_hash"] = prev
        rec["hash"] = prev = audit.record_hash(rec)
        lines[i] = audit.canonical_json(rec).decode() + "\n"
    write_lines(path, lines)
    head = json.loads((tmp_path / "audit.head.json").read_text())
    (tmp_path / "audit.head.json").write_text(json.dumps({**head, "hash": prev}))
    res = verify(path)
    assert not res.ok
    assert (res.first_bad_line, res.first_bad_run_id) == (2, ids[1])
    assert "seal does not match" in res.problem


def test_an_edit_downgraded_to_a_plain_record_is_caught(tmp_path):
    """Turning a keyed record into a version 1 (plain SHA-256) one is refused after keyed records."""
    path = tmp_path / "audit.jsonl"
    ids = a_chain(path, 3)
    lines = lines_of(path)
    rec = json.loads(lines[1])
    for k in ("hash_version", "key_fingerprint", "demo_key"):
        rec.pop(k)
    rec["status"] = "failed"
    rec["hash"] = audit.record_hash(rec)
    lines[1] = audit.canonical_json(rec).decode() + "\n"
    write_lines(path, lines)
    res = verify(path)
    assert not res.ok and (res.first_bad_line, res.first_bad_run_id) == (2, ids[1])
    assert "plain SHA-256 record after keyed ones" in res.problem


def test_an_edit_resealed_with_the_demo_key_is_flagged(tmp_path):
    """The demo key is public: a record resealed with it verifies, but is named as demo-sealed."""
    path = tmp_path / "audit.jsonl"
    ids = a_chain(path, 3)
    lines = lines_of(path)
    rec = json.loads(lines[2])
    rec.update(key_fingerprint=audit.key_fingerprint(DEMO_REFERENCE_KEY), demo_key=True, status="failed")
    rec["hash"] = audit.record_seal(rec, DEMO_REFERENCE_KEY)
    lines[2] = audit.canonical_json(rec).decode() + "\n"
    write_lines(path, lines)
    audit.FileHeadStore(path).set(rec["hash"], 3, DEMO_REFERENCE_KEY)
    res = verify(path)
    assert res.ok and res.demo_sealed == [ids[2]] and res.council_sealed == 2
    assert any("public demo key among council-sealed" in w and ids[2] in w for w in res.warnings)


def test_a_deleted_record_is_caught(tmp_path):
    path = tmp_path / "audit.jsonl"
    ids = a_chain(path)
    lines = lines_of(path)
    del lines[2]
    write_lines(path, lines)
    res = verify(path)
    assert not res.ok
    assert (res.first_bad_line, res.first_bad_seq, res.first_bad_run_id) == (3, 4, ids[3])
    assert "record 3 before it was removed" in res.problem


def test_two_reordered_records_are_caught(tmp_path):
    path = tmp_path / "audit.jsonl"
    ids = a_chain(path)
    lines = lines_of(path)
    lines[1], lines[2] = lines[2], lines[1]
    write_lines(path, lines)
    res = verify(path)
    assert not res.ok
    assert (res.first_bad_line, res.first_bad_run_id) == (2, ids[2])


def test_records_cut_off_the_end_are_caught_by_the_head(tmp_path):
    path = tmp_path / "audit.jsonl"
    ids = a_chain(path)
    write_lines(path, lines_of(path)[:3])
    res = verify(path)
    assert not res.ok
    assert (res.first_bad_line, res.first_bad_seq) == (4, 4)
    assert "cut off the end" in res.problem and ids[2] in res.problem


def test_cutting_the_end_and_deleting_the_head_file_is_caught(tmp_path):
    path = tmp_path / "audit.jsonl"
    a_chain(path)
    write_lines(path, lines_of(path)[:3])
    (tmp_path / "audit.head.json").unlink()
    res = verify(path)
    assert not res.ok and "head store is missing" in res.problem


def test_a_head_kept_elsewhere_catches_cutting_both_log_and_head_file(tmp_path):
    """The ledger will keep the head: rewriting the log and its head file together is still caught."""
    path = tmp_path / "audit.jsonl"
    ledger_head = MemoryHeadStore()
    for i in range(5):
        with audit.run_record("track", {"n": i}, audit_path=path, key=KEY, head_store=ledger_head):
            pass
    assert verify(path, ledger_head).ok
    write_lines(path, lines_of(path)[:3])
    last = json.loads(lines_of(path)[-1])
    audit.FileHeadStore(path).set(last["hash"], 3)  # a head rewritten without the council key is caught
    res = verify(path)
    assert not res.ok and "sealed with another key than the record it names" in res.problem
    audit.FileHeadStore(path).set(last["hash"], 3, KEY)  # someone holding the key fixes the file head too
    assert verify(path).ok  # the file head alone is fooled: that is why the ledger keeps one
    res = verify(path, ledger_head)
    assert not res.ok and res.first_bad_seq == 4


def test_a_half_written_last_line_is_caught_and_the_next_append_repairs_it(tmp_path):
    path = tmp_path / "audit.jsonl"
    ids = a_chain(path, 3)
    whole = path.read_bytes()
    extra = audit.canonical_json({"run_id": "crashed-run", "seq": 4, "status": "succeeded"})
    with open(path, "ab") as fh:
        fh.write(extra[: len(extra) // 2])
    res = verify(path)
    assert not res.ok
    assert res.first_bad_line == 4 and res.first_bad_run_id == "crashed-run" and "half-written" in res.problem
    new_id = a_run(path)
    res = verify(path)
    assert res.ok, res.message()
    assert res.records == 4 and any("half-written" in w for w in res.warnings)
    assert path.read_bytes().startswith(whole)
    assert [r["run_id"] for r in audit.read_records(path)] == [*ids, new_id]


def test_a_last_line_without_its_newline_is_caught(tmp_path):
    path = tmp_path / "audit.jsonl"
    ids = a_chain(path, 3)
    path.write_bytes(path.read_bytes()[:-1])
    res = verify(path)
    assert not res.ok and (res.first_bad_line, res.first_bad_run_id) == (3, ids[2])


def test_an_append_interrupted_before_the_head_moved_is_completed_by_the_next_run(tmp_path):
    path = tmp_path / "audit.jsonl"
    a_chain(path, 3)
    head_file = tmp_path / "audit.head.json"
    before = head_file.read_bytes()
    a_run(path)
    head_file.write_bytes(before)  # the head update of the 4th append never happened
    res = verify(path)
    assert res.ok and res.warnings and "not in the head store yet" in res.warnings[0]
    a_run(path)
    res = verify(path)
    assert res.ok and res.records == 5 and not res.warnings


def test_a_run_appended_after_truncation_keeps_the_trail_broken(tmp_path):
    """Truncating and then running again does not launder the cut: the new record says what it found."""
    path = tmp_path / "audit.jsonl"
    a_chain(path, 5)
    write_lines(path, lines_of(path)[:3])
    new_id = a_run(path)
    res = verify(path)
    assert not res.ok
    assert (res.first_bad_line, res.first_bad_run_id) == (4, new_id)
    assert "head store said 5 records" in res.problem


# ---------------------------------------------------------------------------- concurrency


def _append_many(path: str, worker: int, n: int) -> None:
    for i in range(n):
        with audit.run_record("track", {"worker": worker, "i": i}, audit_path=path, key=KEY) as rec:
            rec.touched(person_ids=[f"W{worker}-{i}"])


def test_concurrent_appends_from_several_processes_leave_one_valid_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    ctx = mp.get_context("spawn" if os.name == "nt" else "fork")
    procs = [ctx.Process(target=_append_many, args=(str(path), w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    res = verify(path)
    assert res.ok, res.message()
    records = audit.read_records(path)
    assert res.records == len(records) == 100 == len(lines_of(path))
    assert sorted((r["params"]["worker"], r["params"]["i"]) for r in records) == [
        (w, i) for w in range(4) for i in range(25)
    ]
    assert not any("chain_warnings" in r or "repairs" in r for r in records)



def _many_ids(prefix: str, n: int = 60_000) -> pd.Series:
    return pd.Series([f"{prefix}{i:06d}" for i in range(n)], dtype="str")


def _touch_many_in_child(path: str) -> None:
    with audit.run_record("track", {}, audit_path=path, key=KEY) as rec:
        rec.touched(person_ids=_many_ids("C"))


def test_many_ids_hashed_beside_the_run_are_in_its_record_and_a_forked_child_hashes_its_own(tmp_path):
    path = tmp_path / "audit.jsonl"
    ids = _many_ids("P")  # over the size hashed on the thread beside the run
    with audit.run_record("track", {}, audit_path=path, key=KEY) as rec:
        rec.touched(person_ids=ids, family_ids=ids.str.slice(0, 4))
    [r] = audit.read_records(path)
    assert r["touched"]["people"]["hashes"] == sorted(audit.keyed_hash(i, KEY, "person") for i in ids)
    assert r["touched"]["people"]["count"] == 60_000
    assert r["touched"]["families"]["count"] == len(set(ids.str.slice(0, 4)))
    # the parent's hashing thread is not in a forked child: the child must not wait for it
    child = mp.get_context("fork").Process(target=_touch_many_in_child, args=(str(path),))
    child.start()
    child.join(60)
    assert child.exitcode == 0, "a forked child's record never finished (it waited on the parent's hashing thread)"
    assert len(audit.read_records(path)) == 2 and verify(path).ok


# ---------------------------------------------------------------------------- purposes and failures


def test_a_failed_command_still_leaves_a_record(tmp_path):
    path = tmp_path / "audit.jsonl"
    with pytest.raises(InputError, match="people.csv: missing column"):
        with audit.run_record("validate", {"strict": True}, audit_path=path, key=KEY) as rec:
            rec.touched(person_ids=["P1"])
            raise InputError("people.csv: missing column family_id")
    [r] = audit.read_records(path)
    assert r["run_id"] == rec.run_id
    assert r["status"] == "failed"
    assert r["error"] == "InputError: people.csv: missing column family_id"
    assert verify(path).ok


def test_an_unknown_command_cannot_run_and_writes_nothing(tmp_path):
    path = tmp_path / "audit.jsonl"
    with pytest.raises(InputError, match="no purpose"):
        with audit.run_record("export", {}, audit_path=path):
            pytest.fail("the block must not run")
    with pytest.raises(InputError, match="not in the purposes register"):
        with audit.run_record("claim", {}, audit_path=path, purposes=["marketing"]):
            pytest.fail("the block must not run")
    assert not path.exists()


def test_an_output_to_a_recipient_the_purpose_does_not_allow_is_refused_and_recorded(tmp_path):
    path = tmp_path / "audit.jsonl"
    out = tmp_path / "eligibility.csv"
    out.write_text("family_id\n")
    with pytest.raises(InputError, match="'police'.*not allowed for purpose 'identification'"):
        with audit.run_record("identify", {}, audit_path=path, key=KEY) as rec:
            rec.output(out, recipient="police")
    [r] = audit.read_records(path)
    assert r["status"] == "failed" and "police" in r["error"] and r["outputs"] == []
    with audit.run_record("identify", {}, audit_path=path, key=KEY) as rec:
        with pytest.raises(InputError, match="not allowed"):
            rec.check_output("claim_file.csv", recipient="dfe")
        with pytest.raises(InputError, match="is not one this run"):
            rec.check_output("claim_file.csv", purpose="pbr_claim")


def test_a_run_across_purposes_records_each_outputs_stage(tmp_path):
    path = tmp_path / "audit.jsonl"
    names = ["eligibility.csv", "outcomes.csv", "claim_file.csv", "spot_check.xlsx", "run_summary.json"]
    for n in names:
        (tmp_path / n).write_text("x\n")
    with audit.run_record("demo", {}, audit_path=path, key=KEY) as rec:
        for n in names:
            rec.output(tmp_path / n)
    [r] = audit.read_records(path)
    assert r["purposes"] == ["identification", "tracking", "pbr_claim", "spot_checks"]
    assert set(r["lawful_bases"]) == set(r["purposes"])
    assert [(o["purpose"], o["recipient"]) for o in r["outputs"]] == [
        ("identification", "council_tf_team"),
        ("tracking", "council_tf_team"),
        ("pbr_claim", "dfe"),
        ("spot_checks", "internal_audit"),
        ("identification", "council_tf_team"),
    ]


def test_personal_data_in_parameters_is_refused(tmp_path):
    with pytest.raises(ValueError, match="family_id"):
        with audit.run_record("ledger withdraw", {"family_id": "F1"}, audit_path=tmp_path / "a.jsonl"):
            pass


def test_synthetic_data_runs_under_no_purpose_and_touches_nobody(tmp_path):
    path = tmp_path / "audit.jsonl"
    (tmp_path / "people.csv").write_text("person_id\n")
    with audit.run_record("synth", {"families": 10, "seed": 1}, audit_path=path) as rec:
        rec.output(tmp_path / "people.csv")
        with pytest.raises(ValueError, match="no purpose"):
            rec.touched(person_ids=["P1"])
    [r] = audit.read_records(path)
    assert r["purposes"] == [] and r["outputs"][0]["purpose"] is None


# ---------------------------------------------------------------------------- subject access


def test_subject_access_finds_exactly_the_runs_that_touched_a_person(tmp_path):
    path = tmp_path / "audit.jsonl"
    r1 = a_run(path, "identify", people=["P1", "P2"], families=["F1"])
    a_run(path, "track", people=["P2", "P3"], families=["F2"])
    r3 = a_run(path, "claim", people=["P1"], families=["F1"])
    with pytest.raises(RuntimeError):
        with audit.run_record("claim", {}, audit_path=path, key=KEY) as rec:
            rec.touched(person_ids=["P1"])
            raise RuntimeError("disk full")
    a_run(path, "identify", people=["P1"], key="another-council-key")
    a_run(path, "identify", people=["P11", "P10", "1"])  # near misses

    res = audit.person_runs(path, "P1", KEY)
    assert [r["run_id"] for r in res.runs] == [r1, r3, rec.run_id]
    assert [r["status"] for r in res.runs] == ["succeeded", "succeeded", "failed"]
    assert res.runs[1]["purposes"] == ["pbr_claim"]
    assert res.runs[1]["purpose_wording"]["pbr_claim"] == "troubled Families Programme payment by results claim"
    assert len(res.unsearchable_runs) == 1  # the run hashed with another key
    assert res.records_searched == 5

    assert [r["run_id"] for r in audit.person_runs(path, " P1 ", KEY).runs] == [r1, r3, rec.run_id]
    assert len(audit.person_runs(path, "P1", [KEY, "another-council-key"]).runs) == 4
    assert audit.person_runs(path, "P4", KEY).runs == []
    assert [r["command"] for r in audit.person_runs(path, "P3", KEY).runs] == ["track"]
    assert [r["run_id"] for r in audit.family_runs(path, "F1", KEY).runs] == [r1, r3]
    assert audit.family_runs(path, "P1", KEY).runs == []  # a person id is not a family id


def test_subject_access_lists_the_outputs_and_recipients(tmp_path):
    path = tmp_path / "audit.jsonl"
    (tmp_path / "claim_file.csv").write_text("claim_reference\n")
    with audit.run_record("claim", {}, audit_path=path, key=KEY) as rec:
        rec.output(tmp_path / "claim_file.csv")
        rec.touched(person_ids=["P1"])
    [run] = audit.person_runs(path, "P1", KEY).runs
    assert run["outputs"] == [
        {
            "path": str(tmp_path / "claim_file.csv"),
            "purpose": "pbr_claim",
            "recipient": "dfe",
            "recipient_name": "Department for Education and their agencies",
        }
    ]


# ---------------------------------------------------------------------------- retention


def dated_chain(path: Path, days: list[str]) -> list[str]:
    ids = []
    for i, day in enumerate(days):
        rec = audit.RunRecord(command="track", params={"i": i}, key=KEY)
        rec.touched(person_ids=[f"P{i}"])
        body = rec.to_record("succeeded")
        body["time"] = f"{day}T12:00:00.000000Z"
        audit.append_record(path, body, key=KEY)
        ids.append(rec.run_id)
    return ids


def test_prune_drops_old_records_and_keeps_the_chain_verifiable(tmp_path):
    path = tmp_path / "audit.jsonl"
    ids = dated_chain(path, ["2015-01-01", "2016-06-30", "2019-12-31", "2020-01-01", "2024-05-05"])
    res = audit.prune(path, dt.date(2020, 1, 1), operator="records.manager", key=KEY)
    assert (res.removed, res.kept) == (3, 2)
    check = verify(path)
    assert check.ok, check.message()
    assert check.records == 6 and check.pruned == 3  # the head still counts every record ever appended
    kept = audit.read_records(path)
    assert [r["run_id"] for r in kept[:2]] == ids[3:]
    prune_rec = kept[-1]
    assert prune_rec["record_type"] == "prune" and prune_rec["operator"] == "records.manager"
    assert prune_rec["pruned"]["count"] == 3 and prune_rec["pruned"]["first_time"].startswith("2015-01-01")
    assert audit.person_runs(path, "P0", KEY).runs == []
    assert len(audit.person_runs(path, "P4", KEY).runs) == 1

    # the chain goes on after a prune, and a second prune builds on the first
    a_run(path)
    assert verify(path).ok
    res2 = audit.prune(path, dt.date(2024, 1, 1), key=KEY)
    assert res2.removed == 1
    check = verify(path)
    assert check.ok and check.pruned == 4 and check.records == 8
    assert audit.prune(path, dt.date(2000, 1, 1), key=KEY).removed == 0


def test_tampering_after_a_prune_is_caught(tmp_path):
    path = tmp_path / "audit.jsonl"
    ids = dated_chain(path, ["2015-01-01", "2016-01-01", "2024-01-01", "2024-02-01"])
    audit.prune(path, dt.date(2020, 1, 1), key=KEY)
    good = lines_of(path)

    lines = list(good)
    lines[0] = lines[0].replace('"pruned_count":2', '"pruned_count":1')
    write_lines(path, lines)
    res = verify(path)
    assert not res.ok and res.first_bad_line == 1

    cp = json.loads(good[0])
    cp["pruned_count"] = 1
    cp["hash"] = audit.record_hash(cp)
    write_lines(path, [audit.canonical_json(cp).decode() + "\n", *good[1:]])
    assert not verify(path).ok

    write_lines(path, good[1:])  # the checkpoint removed
    res = verify(path)
    assert not res.ok and (res.first_bad_line, res.first_bad_run_id) == (1, ids[2])

    write_lines(path, [good[0], *good[2:]])  # a kept record removed
    res = verify(path)
    assert not res.ok and res.first_bad_line == 2


def test_prune_refuses_a_broken_trail(tmp_path):
    path = tmp_path / "audit.jsonl"
    dated_chain(path, ["2015-01-01", "2016-01-01", "2024-01-01"])
    write_lines(path, lines_of(path)[1:])
    with pytest.raises(InputError, match="not pruning a broken audit trail"):
        audit.prune(path, dt.date(2020, 1, 1), key=KEY)


def test_retention_cutoff():
    assert audit.retention_cutoff(8, dt.date(2025, 3, 31)) == dt.date(2017, 3, 31)
    assert audit.retention_cutoff(1, dt.date(2024, 2, 29)) == dt.date(2023, 2, 28)


def test_default_audit_path_is_beside_the_ledger(tmp_path):
    assert audit.default_audit_path(tmp_path / "ledger.sqlite") == tmp_path / "audit.jsonl"
    assert audit.default_audit_path("postgresql://host/db").name == "audit.jsonl"
    assert audit.FileHeadStore(tmp_path / "audit.jsonl").path == tmp_path / "audit.head.json"


# ---------------------------------------------------------------------------- the command line


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from tfclaims.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_cli_verify_show_person_prune(tmp_path, capsys, monkeypatch):
    path = tmp_path / "audit.jsonl"
    config = tmp_path / "council.yaml"
    config.write_text(f"reference_key: {KEY}\n")
    ids = a_chain(path, 3)
    code, out, _ = cli(["audit", "verify", "--audit", str(path), "--config", str(config)], capsys)
    assert code == 0 and "verified: 3 records" in out
    code, out, _ = cli(["audit", "show", "--audit", str(path)], capsys)
    assert code == 0 and all(i in out for i in ids) and "[identification] succeeded" in out
    code, out, _ = cli(["audit", "person", "P1", "--audit", str(path), "--config", str(config)], capsys)
    assert code == 0 and ids[1] in out and ids[0] not in out and "used in 1 run(s)" in out
    code, out, _ = cli(["audit", "person", "P1", "--audit", str(path)], capsys)
    assert code == 0 and "used in 0 run(s)" in out  # without the council key nothing can be matched

    lines = lines_of(path)
    write_lines(path, [lines[0], lines[2]])
    code, _, err = cli(["audit", "verify", "--audit", str(path), "--config", str(config)], capsys)
    assert code == 2 and "BROKEN at line 2" in err and ids[2] in err
    code, _, err = cli(["audit", "prune", "--before", "2020-02-30", "--audit", str(path)], capsys)
    assert code == 2 and "not a date" in err


def test_multi_head_store_keeps_every_head_and_reads_the_furthest(tmp_path):
    path = tmp_path / "audit.jsonl"
    ledger_head = MemoryHeadStore()
    both = audit.MultiHeadStore(audit.FileHeadStore(path), ledger_head)
    for i in range(4):
        with audit.run_record("track", {"n": i}, audit_path=path, key=KEY, head_store=both):
            pass
    assert ledger_head.value == audit.FileHeadStore(path).get() and ledger_head.value[1] == 4
    write_lines(path, lines_of(path)[:2])
    audit.FileHeadStore(path).set(json.loads(lines_of(path)[-1])["hash"], 2)  # the file head cut back too
    assert both.get() == ledger_head.value
    res = verify(path, both)
    assert not res.ok and res.first_bad_seq == 3


def test_cli_verify_against_the_head_kept_in_the_ledger(tmp_path, capsys, monkeypatch):
    from tfclaims.claim.ledger import Ledger, LedgerHeadStore

    monkeypatch.setenv(REFERENCE_KEY_ENV, KEY)

    path = tmp_path / "audit.jsonl"
    ledger_path = tmp_path / "ledger.sqlite"
    ledger = Ledger.open(ledger_path)
    both = audit.MultiHeadStore(audit.FileHeadStore(path), LedgerHeadStore(ledger, path))
    for i in range(3):
        with audit.run_record("claim", {"n": i}, audit_path=path, key=KEY, head_store=both):
            pass
    code, out, _ = cli(["audit", "verify", "--audit", str(path), "--ledger", str(ledger_path)], capsys)
    assert code == 0 and "the head kept in the ledger agrees" in out
    write_lines(path, lines_of(path)[:2])
    audit.FileHeadStore(path).set(json.loads(lines_of(path)[-1])["hash"], 2, KEY)
    code, out, _ = cli(["audit", "verify", "--audit", str(path)], capsys)
    assert code == 0  # the file head alone was rewritten with the log, by someone holding the key
    code, _, err = cli(["audit", "verify", "--audit", str(path), "--ledger", str(ledger_path)], capsys)
    assert code == 2 and "head kept in the ledger" in err and "cut off the end" in err


def test_canonical_json_writes_a_records_hash_lists_byte_for_byte_as_json_dumps_does():
    """The touched hashes are written by one join: the bytes (and so every seal and chain hash) are
    json.dumps's own, for hex lists and for lists that only look like them."""
    from tfclaims.audit.trail import HexDigests, canonical_json

    def dumps(obj):
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")

    hexes = sorted(os.urandom(8).hex() for _ in range(50_000))
    record = {"touched": {"people": {"count": len(hexes), "hashes": HexDigests(hexes)}, "families": {"hashes": HexDigests([])}},
              "notes": {"é": "ü", "pair": [1, 2]}, "status": "succeeded"}
    assert canonical_json(record) == dumps({**record, "touched": {"people": {"count": len(hexes), "hashes": hexes}, "families": {"hashes": []}}})
    stand_in = "\x00tfclaims-hex-digests-0\x00"  # the text a hash list stands in for, as a record's own data
    for odd in ([""], ["a", "", "b"], ["ABC"], ['a","b'], ["a,b"], ["é"], [1, 2], [stand_in]):
        assert canonical_json({"h": HexDigests(odd), "s": stand_in}) == dumps({"h": odd, "s": stand_in}), odd
