"""Every command checks its arguments before it reads or writes anything, and a workspace holds the state.

Each rejected command below runs against a workspace whose ledger and audit trail already hold a
claim run; the ledger, the audit trail (and its head) and every file of the workspace are hashed
before and after, and found unchanged.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tfclaims.cli import main
from tfclaims.core.resources import LOCAL_PLANS_DIR, SAMPLE_COHORT_DIR
from tfclaims.core.workspace import init_workspace

KEY = "test-council-secret"


def cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def tree_hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its SHA-256 (the ledger, the audit trail and its head, run folders)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A workspace whose ledger and audit trail hold one real claim run on the sample cohort."""
    root = tmp_path_factory.mktemp("ws") / "council"
    ws, _ = init_workspace(root)
    mp = pytest.MonkeyPatch()
    mp.setenv("TFCLAIMS_HOME", str(ws.root))
    mp.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    try:
        assert cli("run", "--input", str(SAMPLE_COHORT_DIR), "--period-end", "2020-03-31", "--seed", "1") == 0
    finally:
        mp.undo()
    assert ws.ledger.is_file() and ws.audit.is_file() and (ws.audit.parent / "audit.head.json").is_file()
    (root / "a-file.txt").write_text("not a folder\n", encoding="utf-8")
    return root


def _people_only(tmp: Path) -> Path:
    folder = tmp / "one-table"
    folder.mkdir()
    shutil.copy(SAMPLE_COHORT_DIR / "people.csv", folder / "people.csv")
    return folder / "people.csv"


SAMPLE = str(SAMPLE_COHORT_DIR)
PLAN = str(LOCAL_PLANS_DIR / "example-council.yaml")
REJECTED = {
    "sample rate above 1": (["run", "--input", SAMPLE, "--period-end", "2020-03-31", "--sample-rate", "2"], "--sample-rate '2': must be at most 1"),
    "sample rate zero": (["run", "--input", SAMPLE, "--period-end", "2020-03-31", "--sample-rate", "0"], "--sample-rate '0': must be more than 0"),
    "negative sample minimum": (["run", "--input", SAMPLE, "--period-end", "2020-03-31", "--sample-min", "-1"], "--sample-min '-1'"),
    "sample minimum not whole": (["run", "--input", SAMPLE, "--period-end", "2020-03-31", "--sample-min", "2.5"], "--sample-min '2.5': must be a whole"),
    "negative seed": (["run", "--input", SAMPLE, "--period-end", "2020-03-31", "--seed", "-4"], "--seed '-4'"),
    "allocation not whole": (["claim", "--input", SAMPLE, "--period-end", "2020-03-31", "--allocation", "1.5"], "--allocation '1.5': must be a whole"),
    "negative allocation": (["claim", "--input", SAMPLE, "--period-end", "2020-03-31", "--allocation", "-3"], "--allocation '-3'"),
    "window start after period end": (["claim", "--input", SAMPLE, "--period-end", "2020-03-31", "--window-start", "2020-05-01"],
                                      "--window-start 2020-05-01: on or after --period-end 2020-03-31"),
    "period end after the programme": (["claim", "--input", SAMPLE, "--period-end", "2030-03-31"], "--period-end 2030-03-31: outside the programme"),
    "period end before the programme": (["run", "--input", SAMPLE, "--period-end", "2014-03-31"], "--period-end 2014-03-31: outside the programme"),
    "plan for another framework": (["claim", "--input", SAMPLE, "--period-end", "2024-03-31", "--framework", "sf-2022", "--plan", PLAN],
                                   "extends 'tf-phase2' but framework 'sf-2022'"),
    "unknown framework": (["identify", "--input", SAMPLE, "--as-of", "2020-03-31", "--framework", "tf-phase9"], "unknown framework 'tf-phase9'"),
    "date not ISO": (["identify", "--input", SAMPLE, "--as-of", "31/03/2020"], "--as-of '31/03/2020': give a date as YYYY-MM-DD"),
    "input a CSV other than people": (["identify", "--input", str(SAMPLE_COHORT_DIR / "needs.csv"), "--as-of", "2020-03-31"],
                                      "a single CSV file is a cohort only when it is people.csv"),
    "input missing": (["validate", "--input", "no-such-cohort"], "--input 'no-such-cohort': no such file or folder"),
    "spot check of a folder that is no claim run": (["spot-check", "--claim-dir", SAMPLE], "holds no claim_register.csv"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_a_rejected_command_exits_2_naming_the_option_and_changes_nothing(case, workspace, monkeypatch, capsys):
    argv, message = REJECTED[case]
    monkeypatch.setenv("TFCLAIMS_HOME", str(workspace))
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    monkeypatch.chdir(workspace)
    before = tree_hashes(workspace)
    assert cli(*argv) == 2
    assert message in capsys.readouterr().err
    assert tree_hashes(workspace) == before


def test_out_that_is_a_file_and_a_missing_key_are_refused_before_any_work(workspace, monkeypatch, capsys):
    monkeypatch.setenv("TFCLAIMS_HOME", str(workspace))
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    before = tree_hashes(workspace)
    assert cli("claim", "--input", SAMPLE, "--period-end", "2020-03-31", "--out", str(workspace / "a-file.txt")) == 2
    assert "--out" in capsys.readouterr().err
    monkeypatch.delenv("TFCLAIMS_REFERENCE_KEY")
    assert cli("claim", "--input", SAMPLE, "--period-end", "2020-03-31") == 2
    assert "no reference key" in capsys.readouterr().err
    assert tree_hashes(workspace) == before


def test_people_csv_alone_is_a_one_table_cohort(tmp_path, monkeypatch):
    people = _people_only(tmp_path)
    out = tmp_path / "out"
    assert cli("identify", "--input", str(people), "--as-of", "2020-03-31", "--out", str(out)) == 0
    eligibility = pd.read_csv(out / "eligibility.csv", dtype=str)
    assert eligibility["family_id"].nunique() == pd.read_csv(people, dtype=str)["family_id"].nunique()


def test_no_workspace_is_exit_2_saying_how_to_make_one(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TFCLAIMS_HOME")
    monkeypatch.chdir(tmp_path)
    assert cli("validate", "--input", SAMPLE) == 2
    err = capsys.readouterr().err
    assert "no tfclaims workspace" in err and "tfclaims init" in err
    assert list(tmp_path.iterdir()) == []
    assert cli("--workspace", str(tmp_path), "ledger", "show") == 2
    assert "is not a tfclaims workspace" in capsys.readouterr().err


def test_two_claim_runs_from_two_folders_share_one_workspace_ledger(tmp_path, monkeypatch, capsys):
    """Discovery finds the workspace from any folder inside it, and from outside through TFCLAIMS_HOME:
    the second run reports every family already claimed, and every path it prints is absolute."""
    ws, _ = init_workspace(tmp_path / "council")
    (ws.root / "analyst-a").mkdir()
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    monkeypatch.delenv("TFCLAIMS_HOME")
    monkeypatch.chdir(ws.root / "analyst-a")
    assert cli("claim", "--input", SAMPLE, "--period-end", "2020-03-31") == 0
    first = capsys.readouterr().out
    assert f"ledger: {ws.ledger}" in first
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("TFCLAIMS_HOME", str(ws.root))
    assert cli("claim", "--input", SAMPLE, "--period-end", "2020-03-31") == 0
    second = capsys.readouterr().out
    assert f"ledger: {ws.ledger}" in second
    runs = sorted(p for p in ws.reports_dir.iterdir() if p.is_dir() and (p / "claim_decisions.csv").is_file())
    assert len(runs) == 2
    decisions = [pd.read_csv(r / "claim_decisions.csv", dtype=str, keep_default_na=False) for r in runs]
    summaries = [pd.read_json(r / "run_summary.json", typ="series") for r in runs]
    first_run, second_run = (decisions[0], decisions[1]) if summaries[0]["claims"] > 0 else (decisions[1], decisions[0])
    claimed = set(first_run.loc[first_run["decision"] == "claim", "family_id"])
    assert claimed and claimed == set(second_run.loc[second_run["reason"] == "already_claimed", "family_id"])
    assert not (second_run["decision"] == "claim").any()
    assert list(elsewhere.iterdir()) == [] and list((ws.root / "analyst-a").iterdir()) == []


def test_run_into_a_folder_whose_auditor_workbook_is_started_is_refused_before_the_ledger_changes(workspace, monkeypatch, capsys, tmp_path):
    """``run`` writes its spot check into ``--out``: an auditor's started workbook there stops it before any claim is recorded."""
    from openpyxl import load_workbook

    from tfclaims.spot_check.layout import COLUMN_LETTER

    monkeypatch.setenv("TFCLAIMS_HOME", str(workspace))
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    (earlier,) = [p for p in (workspace / "reports").iterdir() if (p / "spot_check.xlsx").is_file()]
    out = tmp_path / "audit-in-progress"
    out.mkdir()
    shutil.copy(earlier / "spot_check.xlsx", out / "spot_check.xlsx")  # an auditor's workbook, and nothing else
    wb = load_workbook(out / "spot_check.xlsx")
    wb["Sample"][f"{COLUMN_LETTER['verdict']}2"] = "valid"
    wb.save(out / "spot_check.xlsx")
    before, before_out = tree_hashes(workspace), tree_hashes(out)
    # a new ledger would claim every family again: only the refusal keeps it from being touched
    assert cli("run", "--input", SAMPLE, "--period-end", "2020-03-31", "--out", str(out), "--ledger", str(tmp_path / "new.sqlite")) == 2
    assert "spot_check.xlsx" in capsys.readouterr().err
    assert tree_hashes(workspace) == before and tree_hashes(out) == before_out
    assert not (tmp_path / "new.sqlite").exists()


def test_a_folder_that_holds_an_earlier_run_is_never_written_into(workspace, monkeypatch, capsys):
    """Writing into an earlier run's folder would replace its claim file: refused, naming the folder, nothing changed."""
    monkeypatch.setenv("TFCLAIMS_HOME", str(workspace))
    monkeypatch.setenv("TFCLAIMS_REFERENCE_KEY", KEY)
    (earlier,) = [p for p in (workspace / "reports").iterdir() if (p / "claim_file.csv").is_file()]
    before = tree_hashes(workspace)
    for argv in (["claim", "--input", SAMPLE, "--period-end", "2020-03-31"], ["validate", "--input", SAMPLE],
                 ["identify", "--input", SAMPLE, "--as-of", "2020-03-31"]):
        assert cli(*argv, "--out", str(earlier)) == 2
        err = capsys.readouterr().err
        assert f"--out '{earlier}'" in err and "already holds the outputs of a run" in err
    assert cli("demo", "--out", str(workspace / "reports")) == 2  # the state folder is no demo folder: never emptied
    assert "holds no earlier demo" in capsys.readouterr().err
    assert tree_hashes(workspace) == before
