"""Many councils on one PostgreSQL ledger: each council in its own schema, with its own lock, allocation,
claim numbers and audit chain, and its own reference key from its own secret file.

Real runs of the command line (plain Python) on small synthetic councils whose family ids overlap, as
real councils' ids do, against a real PostgreSQL server started by the fixtures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tfclaims.claim.ledger import Ledger
from tfclaims.core.config import REFERENCE_KEY_ENV, CouncilConfig, load_config
from tfclaims.core.errors import ConfigError
from tfclaims.core.workspace import init_workspace

pytestmark = pytest.mark.postgres
pytest_plugins = ["postgres"]

PERIOD_END = "2021-03-31"
COUNCILS = {"E10000001": 1, "E10000002": 2}  # council code -> synthetic seed


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory) -> dict[str, Path]:
    """One synthetic cohort of 300 families per council (seeded; their family ids overlap)."""
    root = tmp_path_factory.mktemp("cohorts")
    out = {}
    for code, seed in COUNCILS.items():
        folder = root / code
        done = _tfclaims(None, "synth", "--families", "300", "--seed", str(seed), "--out", str(folder), "--period-end", PERIOD_END)
        assert done.returncode == 0, done.stderr
        out[code] = folder
    return out


def _tfclaims(ws: Path | None, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in (REFERENCE_KEY_ENV, "TFCLAIMS_HOME")}
    base["TFCLAIMS_ORCHESTRATOR"] = "none"
    where = ["--workspace", str(ws)] if ws is not None else []
    return subprocess.run([sys.executable, "-m", "tfclaims", *where, *args], env=base | (env or {}), capture_output=True, text=True,
                          timeout=300)


def _council(folder: Path, code: str, *, key: str | None = None, extra: str = "") -> Path:
    """A council's workspace whose config names its GSS code and its reference key's secret file."""
    ws, _ = init_workspace(folder)
    (ws.root / "secret").mkdir()
    (ws.root / "secret" / "reference-key").write_text(f"{key or 'key-of-' + code}\n", encoding="utf-8")
    (ws.root / "council.yaml").write_text(f"council_code: {code}\nreference_key_file: secret/reference-key\n{extra}", encoding="utf-8")
    return ws.root


def _claim(ws: Path, cohort: Path, ledger: str, *more: str) -> dict:
    done = _tfclaims(ws, "claim", "--input", str(cohort), "--period-end", PERIOD_END, "--ledger", ledger, "--operator", "analyst", *more)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = sorted((ws / "reports").glob("2*/run_summary.json"), key=lambda p: p.stat().st_mtime)
    summary = json.loads(runs[-1].read_text(encoding="utf-8"))
    return summary | {"folder": runs[-1].parent, "stderr": done.stderr}


def _files(summary: dict) -> dict[str, bytes]:
    return {name: (summary["folder"] / name).read_bytes() for name in ("claim_decisions.csv", "claim_file.csv", "eligibility.csv", "outcomes.csv")}


def _chain(ledger: str, code: str) -> list[dict]:
    with Ledger.open(ledger, council=code, create=False) as book:
        return list(book.audit_log().records())


def test_a_council_after_another_on_one_ledger_decides_exactly_as_alone(cohorts, tmp_path, postgres_url, postgres_server_url):
    from postgres import fresh_database

    one, two = (_council(tmp_path / code, code) for code in COUNCILS)
    first = _claim(one, cohorts["E10000001"], postgres_url)
    second = _claim(two, cohorts["E10000002"], postgres_url)
    with fresh_database(postgres_server_url) as alone_url:
        alone = _claim(_council(tmp_path / "alone", "E10000002"), cohorts["E10000002"], alone_url)
    assert second["claims"] > 0 and "no_claim:already_claimed" not in second["decisions"]
    assert _files(second) == _files(alone)  # byte for byte: claim numbers from TFC-000001, references under its own key
    shared = set(pd.read_csv(first["folder"] / "claim_decisions.csv", dtype=str).query("decision == 'claim'")["family_id"])
    shared &= set(pd.read_csv(second["folder"] / "claim_decisions.csv", dtype=str).query("decision == 'claim'")["family_id"])
    assert shared  # the same family ids were claimed by both councils (one schema would have refused them): no collision
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'council_%'")}
    assert schemas == {"council_e10000001", "council_e10000002"}
    for code, s in (("E10000001", first), ("E10000002", second)):
        assert [r["run_id"] for r in _chain(postgres_url, code)] == [s["run_id"]] * 2  # pending, then sealed: its own chain
    ref_one = pd.read_csv(first["folder"] / "claim_file.csv", dtype=str)
    ref_two = pd.read_csv(second["folder"] / "claim_file.csv", dtype=str)
    assert ref_one["claim_reference"].iloc[0] == ref_two["claim_reference"].iloc[0] == "TFC-000001"


def test_the_allocation_is_each_councils_own(cohorts, tmp_path, postgres_url):
    wss = {code: _council(tmp_path / code, code, extra="allocation: 10\n") for code in COUNCILS}
    made = {code: _claim(ws, cohorts[code], postgres_url) for code, ws in wss.items()}
    for s in made.values():
        assert s["claims"] == 10 and s["decisions"].get("no_claim:over_allocation", 0) > 0  # 10 each, not 10 between them


def test_the_same_council_twice_at_once_claims_each_family_once_and_its_chain_verifies(cohorts, tmp_path, postgres_url):
    ws = _council(tmp_path / "council", "E10000001")
    base = {k: v for k, v in os.environ.items() if k not in (REFERENCE_KEY_ENV, "TFCLAIMS_HOME")} | {"TFCLAIMS_ORCHESTRATOR": "none"}
    args = [sys.executable, "-m", "tfclaims", "--workspace", str(ws), "claim", "--input", str(cohorts["E10000001"]),
            "--period-end", PERIOD_END, "--ledger", postgres_url, "--operator", "analyst"]
    procs = [subprocess.Popen(args, env=base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    summaries = [json.loads(f.read_text(encoding="utf-8")) for f in (ws / "reports").glob("2*/run_summary.json")]
    claims = sorted(s["claims"] for s in summaries)
    assert claims[0] == 0 and claims[1] > 0  # one claimed, the other found every family already claimed
    loser = next(s for s in summaries if s["claims"] == 0)
    assert loser["decisions"]["no_claim:already_claimed"] == claims[1]
    with Ledger.open(postgres_url, council="E10000001", create=False) as book:
        live = book.claims()
    assert len(live) == claims[1] and live["claim_reference"].is_unique and live["family_id"].is_unique
    records = _chain(postgres_url, "E10000001")
    assert len(records) == 4 and not [r for r in records if r.get("chain_warnings")]
    verified = _tfclaims(ws, "audit", "verify", "--ledger", postgres_url)
    assert verified.returncode == 0, verified.stderr
    assert "4 records" in verified.stdout


def test_two_hosts_on_one_ledger_append_to_one_chain_that_verifies_from_either(cohorts, tmp_path, postgres_url):
    # two hosts: each its own disk (workspace folder), the same council, its key from the same secret
    host_a, host_b = (_council(tmp_path / host / "council", "E10000001") for host in ("a", "b"))
    first = _claim(host_a, cohorts["E10000001"], postgres_url)
    _claim(host_b, cohorts["E10000001"], postgres_url, "--dry-run")
    third = _claim(host_b, cohorts["E10000001"], postgres_url)
    records = _chain(postgres_url, "E10000001")
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1)) and len(records) == 5
    assert not [r for r in records if r.get("chain_warnings")]
    assert third["claims"] == 0 and third["decisions"]["no_claim:already_claimed"] == first["claims"]
    for host in (host_a, host_b):
        verified = _tfclaims(host, "audit", "verify", "--ledger", postgres_url)
        assert verified.returncode == 0, verified.stderr
        assert not (host / "reports" / "audit.jsonl").exists()  # no host keeps a chain of its own
    exported = tmp_path / "export" / "audit.jsonl"
    done = _tfclaims(host_a, "audit", "export", "--ledger", postgres_url, "--out", str(exported))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["seq"] for line in exported.read_text(encoding="utf-8").splitlines()] == [1, 2, 3, 4, 5]
    standalone = _tfclaims(host_a, "audit", "verify", "--audit", str(exported))  # the export checks on its own, with its sealed head
    assert standalone.returncode == 0, standalone.stderr


def test_a_rerun_with_once_returns_the_recorded_run_and_changes_nothing(cohorts, tmp_path, postgres_url):
    from tfclaims import pipeline
    from tfclaims.options import ClaimOptions

    ws = _council(tmp_path / "council", "E10000001")
    first = _claim(ws, cohorts["E10000001"], postgres_url, "--once")
    before = _files(first)
    records = _chain(postgres_url, "E10000001")
    again = _tfclaims(ws, "claim", "--input", str(cohorts["E10000001"]), "--period-end", PERIOD_END, "--ledger", postgres_url, "--once")
    assert again.returncode == 0, again.stderr
    assert f"claim run {first['run_id']} already made this council's claim" in again.stderr
    assert f"claims: {first['claims']:,}" in again.stdout
    # a run re-executed by an orchestrator: the same run id and folder; the folder is not refused, and not written
    os.environ["TFCLAIMS_HOME"] = str(ws)
    try:
        opts = ClaimOptions.of(input=cohorts["E10000001"], period_end=PERIOD_END, ledger=postgres_url, out=first["folder"],
                               run_id=first["run_id"], once=True, config=ws / "council.yaml")
        outcome = pipeline.claim(opts)
    finally:
        del os.environ["TFCLAIMS_HOME"]
    assert outcome.run_id == first["run_id"] and outcome.summary["recorded_run"] is True
    assert _files(first) == before and _chain(postgres_url, "E10000001") == records  # nothing written, nothing recorded
    assert len(list((ws / "reports").glob("2*"))) == 1
    refused = _tfclaims(ws, "claim", "--input", str(cohorts["E10000001"]), "--period-end", PERIOD_END, "--ledger", postgres_url,
                        "--out", str(first["folder"]))  # without --once a folder holding a run is never written into
    assert refused.returncode == 2 and "already holds the outputs of a run" in refused.stderr


def test_a_shared_ledger_without_a_council_code_is_refused_and_nothing_is_made(cohorts, tmp_path, postgres_url):
    ws, _ = init_workspace(tmp_path / "council")
    done = _tfclaims(ws.root, "claim", "--input", str(cohorts["E10000001"]), "--period-end", PERIOD_END, "--ledger", postgres_url,
                     env={REFERENCE_KEY_ENV: "a-key"})
    assert done.returncode == 2
    assert "set council_code in the council config" in done.stderr and "postgresql://" in done.stderr
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").fetchone()
        schemas = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'council_%'").fetchone()
    assert tables[0] == 0 and schemas[0] == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("council_code: Bucks\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="council_code"):
        load_config(bad)


def test_the_councils_own_secret_file_wins_over_the_environment(cohorts, tmp_path, postgres_url, monkeypatch):
    from tfclaims.claim.decide import family_reference

    ws = _council(tmp_path / "council", "E10000001", key="the-councils-own-key")
    monkeypatch.setenv(REFERENCE_KEY_ENV, "a-process-wide-key")
    assert load_config(ws / "council.yaml").resolved_reference_key() == "the-councils-own-key"
    made = _claim(ws, cohorts["E10000001"], postgres_url)
    claimed = pd.read_csv(made["folder"] / "claim_decisions.csv", dtype=str).query("decision == 'claim'")["family_id"]
    refs = pd.read_csv(made["folder"] / "claim_file.csv", dtype=str)["family_reference"]
    assert sorted(refs) == sorted(family_reference(claimed.reset_index(drop=True), "the-councils-own-key"))
    (ws / "secret" / "reference-key").write_text("  \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="reference_key_file .*empty"):
        CouncilConfig(reference_key_file=ws / "secret" / "reference-key").resolved_reference_key()


def test_a_council_config_that_names_the_shared_ledger_keeps_every_commands_record_in_the_councils_chain(cohorts, tmp_path, postgres_url):
    ws = _council(tmp_path / "council", "E10000001", extra=f"ledger: {postgres_url}\n")
    for command in (["validate"], ["identify", "--as-of", PERIOD_END], ["claim", "--period-end", PERIOD_END]):
        done = _tfclaims(ws, command[0], "--input", str(cohorts["E10000001"]), *command[1:])
        assert done.returncode == 0, done.stderr[-3000:]
    assert [r["command"] for r in _chain(postgres_url, "E10000001")] == ["validate", "identify", "claim", "claim"]
    assert not (ws / "reports" / "audit.jsonl").exists() and not (ws / "reports" / "ledger.sqlite").exists()


def test_a_councils_role_reaches_its_own_schema_and_no_other(cohorts, tmp_path, postgres_url):
    """The roles of the deployment guide: each council's role owns its schema and nothing else."""
    import psycopg
    from sqlalchemy import make_url

    url = make_url(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for code in COUNCILS:
            role, schema = f"tfclaims_{code.lower()}", f"council_{code.lower()}"
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{code}'")
            conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {role}")
            conn.execute(f"GRANT CONNECT ON DATABASE {url.database} TO {role}")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(f"REVOKE CREATE ON DATABASE {url.database} FROM PUBLIC")

    def as_role(code: str) -> str:
        return url.set(username=f"tfclaims_{code.lower()}", password=f"pw-{code}").render_as_string(hide_password=False)

    one = _council(tmp_path / "one", "E10000001")
    made = _claim(one, cohorts["E10000001"], as_role("E10000001"))
    assert made["claims"] > 0
    trespass = _council(tmp_path / "two", "E10000001")  # council 2's role, configured (wrongly) as council 1
    done = _tfclaims(trespass, "claim", "--input", str(cohorts["E10000001"]), "--period-end", PERIOD_END,
                     "--ledger", as_role("E10000002"))
    assert done.returncode == 2 and "permission denied for schema council_e10000001" in done.stderr, done.stderr[-2000:]
    assert "pw-E10000002" not in done.stderr  # the password is never shown
    unknown = _council(tmp_path / "three", "E10000003")  # a council whose schema the administrator has not made
    done = _tfclaims(unknown, "claim", "--input", str(cohorts["E10000001"]), "--period-end", PERIOD_END, "--ledger", as_role("E10000002"))
    assert done.returncode == 2 and "no schema council_e10000003" in done.stderr and "database administrator" in done.stderr
