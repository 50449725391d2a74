"""A refused command exits 2 with a message naming what was refused, and changes nothing.

Each refusal is checked by hashing every file in the test's folder (the ledger, the audit log and
its head, the output folders) before and after.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer

from ledger_helpers import record_claim_run, run_cli
from tfclaims.audit import trail as audit
from tfclaims.claim.ledger import Ledger
from tfclaims.core.operator import operator_name

FRAMEWORK = "tf-phase2"
KEY = "test-council-secret"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path) and its SHA-256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, *args)


def refused(capsys: pytest.CaptureFixture[str], folder: Path, *args: str) -> tuple[str, str]:
    """Run a command that must be refused: exit 2, no file under ``folder`` changed. Returns (stdout, stderr)."""
    before = snapshot(folder)
    code, out, err = cli(capsys, *args)
    assert code == 2, (out, err)
    assert snapshot(folder) == before
    return out, err


# ---------------------------------------------------------------------------------------------- audit verify


def a_chain(path: Path, days: list[str]) -> None:
    for i, day in enumerate(days):
        body = audit.RunRecord(command="track", params={"i": i}, key=KEY).to_record("succeeded")
        body["time"] = f"{day}T12:00:00.000000Z"
        audit.append_record(path, body)


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_verify_of_a_log_that_never_existed_is_exit_2_naming_it(tmp_path, capsys):
    path = tmp_path / "reports" / "audit.jsonl"
    (tmp_path / "reports").mkdir()
    _, err = refused(capsys, tmp_path, "audit", "verify", "--audit", str(path))
    assert str(path) in err and "no audit log" in err


def test_verify_of_a_deleted_log_whose_head_remains_is_exit_2(tmp_path, capsys):
    path = tmp_path / "audit.jsonl"
    a_chain(path, ["2024-01-01", "2024-01-02"])
    path.unlink()
    _, err = refused(capsys, tmp_path, "audit", "verify", "--audit", str(path))
    assert str(path) in err and "missing" in err and "2 records" in err


def test_verify_of_a_log_cut_short_is_exit_2_with_and_without_the_ledger(tmp_path, capsys):
    ledger, path = tmp_path / "ledger.sqlite", tmp_path / "audit.jsonl"
    for _ in range(3):  # each show appends a record and moves the head beside the log and in the ledger
        Ledger.open(ledger).close()
        assert cli(capsys, "ledger", "show", "--ledger", str(ledger))[0] == 0
    assert cli(capsys, "audit", "verify", "--audit", str(path), "--ledger", str(ledger))[0] == 0
    path.write_bytes(b"".join(lines_of(path)[:2]))
    _, err = refused(capsys, tmp_path, "audit", "verify", "--audit", str(path))
    assert str(path) in err and "cut off the end" in err
    _, err = refused(capsys, tmp_path, "audit", "verify", "--audit", str(path), "--ledger", str(ledger))
    assert str(path) in err and "cut off the end" in err


def test_verify_of_a_log_without_its_head_file_is_still_refused(tmp_path, capsys):
    """Decided (docs/decisions.md): a missing head file is a break, since it hides records cut off the end."""
    path = tmp_path / "audit.jsonl"
    a_chain(path, ["2024-01-01", "2024-01-02"])
    audit.FileHeadStore(path).path.unlink()
    _, err = refused(capsys, tmp_path, "audit", "verify", "--audit", str(path))
    assert str(path) in err and "head store is missing" in err


# ---------------------------------------------------------------------------------------------- audit prune


OLD_AND_NEW = ["2015-01-01", "2016-06-30", "2024-05-05"]


def test_prune_without_yes_says_what_it_would_remove_and_changes_nothing(tmp_path, capsys):
    path = tmp_path / "audit.jsonl"
    a_chain(path, OLD_AND_NEW)
    out, err = refused(capsys, tmp_path, "audit", "prune", "--before", "2020-01-01", "--audit", str(path))
    assert "would remove 2 records dated before 2020-01-01 (2015-01-01 to 2016-06-30)" in out
    assert "1 would be kept" in out and "--yes" in err and "nothing pruned" in err
    assert audit.verify(path).records == 3


def test_prune_with_yes_removes_the_records(tmp_path, capsys):
    path = tmp_path / "audit.jsonl"
    a_chain(path, OLD_AND_NEW)
    code, out, _ = cli(capsys, "audit", "prune", "--before", "2020-01-01", "--yes", "--audit", str(path))
    assert code == 0 and "pruned 2 records before 2020-01-01" in out
    check = audit.verify(path)
    assert check.ok and check.pruned == 2


def test_prune_without_yes_and_nothing_to_remove_is_not_an_error(tmp_path, capsys):
    path = tmp_path / "audit.jsonl"
    a_chain(path, OLD_AND_NEW)
    before = snapshot(tmp_path)
    code, out, _ = cli(capsys, "audit", "prune", "--before", "2010-01-01", "--audit", str(path))
    assert code == 0 and "nothing to prune" in out and snapshot(tmp_path) == before


@pytest.mark.parametrize("yes", [[], ["--yes"]])
def test_prune_refuses_a_day_in_the_future(tmp_path, capsys, yes):
    path = tmp_path / "audit.jsonl"
    a_chain(path, OLD_AND_NEW)
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    _, err = refused(capsys, tmp_path, "audit", "prune", "--before", tomorrow, *yes, "--audit", str(path))
    assert f"--before '{tomorrow}'" in err and "in the future" in err


@pytest.mark.parametrize("typed", ["2020-02-30", "yesterday", "01/01/2020"])
def test_prune_refuses_a_malformed_date(tmp_path, capsys, typed):
    path = tmp_path / "audit.jsonl"
    a_chain(path, OLD_AND_NEW)
    _, err = refused(capsys, tmp_path, "audit", "prune", "--before", typed, "--yes", "--audit", str(path))
    assert f"--before {typed!r}" in err and "not a date" in err


def test_prune_of_a_missing_log_is_exit_2_and_makes_no_file(tmp_path, capsys):
    path = tmp_path / "audit.jsonl"
    _, err = refused(capsys, tmp_path, "audit", "prune", "--before", "2020-01-01", "--yes", "--audit", str(path))
    assert str(path) in err and "no audit log" in err
    assert list(tmp_path.iterdir()) == []


def test_prune_in_python_refuses_the_future_too(tmp_path):
    path = tmp_path / "audit.jsonl"
    a_chain(path, OLD_AND_NEW)
    with pytest.raises(audit.InputError, match="in the future"):
        audit.prune(path, dt.date(2999, 1, 1))
    assert audit.verify(path).records == 3


# ---------------------------------------------------------------------------------------------- the ledger


@pytest.fixture
def book(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A ledger with live claims for F1 and F2, a withdrawn one for F3 (on hold), F4 held and released,
    and an audit trail beside it (the claim run's record, and one ``ledger show``)."""
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        ledger.record_claims(run_id="run-1", framework=FRAMEWORK, period_end=dt.date(2020, 3, 31),
                             candidates=pd.DataFrame({"family_id": ["F1", "F2", "F3", "F4"], "route": "ssp",
                                                      "amount_pence": 80000}), allocation=None)
        ledger.withdraw("TFC-000003", "no evidence", by="auditor")
        ledger.withdraw("TFC-000004", "no evidence", by="auditor")
        ledger.release("F4", FRAMEWORK, "evidence found", by="auditor")
    record_claim_run(tmp_path / "audit.jsonl", tmp_path / "run-1", {"F1": "", "F8": "discretion_review",
                                                                     "F9": "outcomes_not_met"})
    assert cli(capsys, "ledger", "show", "--ledger", str(path))[0] == 0
    return path


def test_withdraw_of_an_unknown_claim_is_exit_2_naming_it(book, tmp_path, capsys):
    _, err = refused(capsys, tmp_path, "ledger", "withdraw", "TFC-999999", "--reason", "x", "--ledger", str(book))
    assert "'TFC-999999'" in err and "unknown claim reference" in err


def test_withdraw_of_a_withdrawn_claim_is_exit_2(book, tmp_path, capsys):
    _, err = refused(capsys, tmp_path, "ledger", "withdraw", "TFC-000003", "--reason", "again", "--ledger", str(book))
    assert "TFC-000003" in err and "already withdrawn" in err


def test_release_of_a_family_never_held_is_exit_2_naming_it(book, tmp_path, capsys):
    _, err = refused(capsys, tmp_path, "ledger", "release", "F123", "--reason", "x", "--ledger", str(book))
    assert "'F123'" in err and "not on audit hold" in err and "never held" in err


def test_release_of_a_family_already_released_is_exit_2(book, tmp_path, capsys):
    _, err = refused(capsys, tmp_path, "ledger", "release", "F4", "--reason", "x", "--ledger", str(book))
    assert "'F4'" in err and "released on" in err


def test_a_release_that_is_not_refused_changes_the_ledger(book, tmp_path, capsys):
    before = snapshot(tmp_path)
    assert cli(capsys, "ledger", "release", "F3", "--reason", "evidence", "--operator", "R. Officer",
               "--ledger", str(book))[0] == 0
    assert snapshot(tmp_path) != before
    with Ledger.open(book) as ledger:
        assert ledger.held_families(FRAMEWORK) == set()
        assert ledger.holds(FRAMEWORK).set_index("family_id").loc["F3", "released_by"] == "R. Officer"


@pytest.mark.parametrize("family", ["F999", "F9", "F1"])
def test_approve_of_a_family_not_under_discretion_review_is_exit_2_naming_it(book, tmp_path, capsys, family):
    """F999: never in a claim run; F9: outcomes not met without a discretion note; F1: claimed."""
    _, err = refused(capsys, tmp_path, "ledger", "approve", family, "--operator", "Head of Early Help",
                     "--reason", "panel", "--ledger", str(book))
    assert f"'{family}'" in err


def test_approve_of_a_family_under_discretion_review_succeeds_once(book, tmp_path, capsys):
    args = ["ledger", "approve", "F8", "--operator", "Head of Early Help", "--reason", "panel", "--ledger", str(book)]
    assert cli(capsys, *args)[0] == 0
    with Ledger.open(book) as ledger:
        assert ledger.approvals(FRAMEWORK)["family_id"].tolist() == ["F8"]
    _, err = refused(capsys, tmp_path, *args)
    assert "'F8'" in err and "already has an unused approval" in err
    assert audit.read_records(tmp_path / "audit.jsonl")[-1]["notes"]["discretion_review_run_id"]


def test_approve_does_not_trust_a_changed_decision_file_or_another_framework(book, tmp_path, capsys):
    decisions = tmp_path / "run-1" / "claim_decisions.csv"
    decisions.write_text(decisions.read_text().replace("outcomes_not_met", "discretion_review"))
    _, err = refused(capsys, tmp_path, "ledger", "approve", "F9", "--operator", "M", "--reason", "r", "--ledger", str(book))
    assert "'F9'" in err and "missing or changed" in err and str(decisions) in err
    _, err = refused(capsys, tmp_path, "ledger", "approve", "F8", "--operator", "M", "--reason", "r",
                     "--framework", "sf-2022", "--ledger", str(book))
    assert "'F8'" in err and "sf-2022" in err


def test_approve_on_a_missing_ledger_is_refused_without_creating_it(tmp_path, capsys):
    ledger = tmp_path / "new" / "ledger.sqlite"
    _, err = refused(capsys, tmp_path, "ledger", "approve", "F999", "--operator", "M", "--reason", "r",
                     "--ledger", str(ledger))
    assert "'F999'" in err and not ledger.exists()


def test_a_failed_claim_run_does_not_count_as_a_review(tmp_path, capsys):
    trail = tmp_path / "audit.jsonl"
    record_claim_run(trail, tmp_path / "run-x", {"F7": "discretion_review"}, status_ok=False)
    _, err = refused(capsys, tmp_path, "ledger", "approve", "F7", "--operator", "M", "--reason", "r",
                     "--ledger", str(tmp_path / "ledger.sqlite"))
    assert "'F7'" in err and "0 claim run(s) searched" in err


def test_show_with_a_bad_status_is_exit_2_naming_it(book, tmp_path, capsys):
    _, err = refused(capsys, tmp_path, "ledger", "show", "--status", "Claimed", "--ledger", str(book))
    assert "--status 'Claimed'" in err


def test_a_refusal_found_only_inside_the_transaction_leaves_a_failed_record_and_a_valid_chain(
    book, tmp_path, capsys, monkeypatch
):
    """Another person withdrew the claim between the early check and the write: the ledger refuses it."""
    monkeypatch.setattr(Ledger, "check_withdraw", lambda self, ref: None)
    with Ledger.open(book) as ledger:
        claims = ledger.claims()
    code, _, err = cli(capsys, "ledger", "withdraw", "TFC-000003", "--reason", "again", "--ledger", str(book))
    assert code == 2 and "already withdrawn" in err
    last = audit.read_records(tmp_path / "audit.jsonl")[-1]
    assert (last["command"], last["status"]) == ("ledger withdraw", "failed") and "already withdrawn" in last["error"]
    assert audit.verify(tmp_path / "audit.jsonl", keys=["test-key"]).sealed_ok  # the claim run's key, and the demo key
    assert cli(capsys, "audit", "verify", "--audit", str(tmp_path / "audit.jsonl"), "--ledger", str(book),
               "--structure-only")[0] == 0
    with Ledger.open(book) as ledger:
        pd.testing.assert_frame_equal(ledger.claims(), claims)


# ---------------------------------------------------------------------------------------------- one style


def _commands(group: str) -> list[Any]:
    """The click commands of ``tfclaims GROUP`` (Typer's own click classes: read by attribute)."""
    from tfclaims.cli import _register_commands, app

    _register_commands()
    commands = typer.main.get_command(app).commands[group].commands  # type: ignore[attr-defined]
    assert commands
    return list(commands.values())


@pytest.mark.parametrize("group", ["audit", "ledger"])
def test_options_share_one_style(group):
    for command in _commands(group):
        names = {n for p in command.params for n in p.opts}
        assert "--by" not in names, command.name
        for p in command.params:
            text = getattr(p, "help", None) or ""
            assert text[:1].isupper() and text.endswith("."), (command.name, p.name, text)
            assert "default" not in text.lower(), (command.name, p.name, text)
            if p.name in ("before", "period_end", "as_of"):
                assert getattr(p, "metavar", None) == "DATE", (command.name, p.name)


def test_by_is_no_longer_an_option_of_the_ledger_commands(book, tmp_path, capsys):
    _, err = refused(capsys, tmp_path, "ledger", "withdraw", "TFC-000001", "--reason", "x", "--by", "auditor",
                     "--ledger", str(book))
    assert "--by" in err


def test_operator_name_falls_back_to_the_environment_then_the_uid(monkeypatch):
    def no_user() -> str:
        raise OSError("no passwd entry")

    monkeypatch.setattr(getpass, "getuser", no_user)
    monkeypatch.setenv("USER", "from-env")
    assert operator_name() == "from-env"
    monkeypatch.delenv("USER")
    monkeypatch.setenv("USERNAME", "from-windows-env")
    assert operator_name() == "from-windows-env"
    monkeypatch.delenv("USERNAME")
    assert operator_name() == f"uid:{__import__('os').getuid()}"
