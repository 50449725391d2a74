"""The Prefect UI as the analysts' console, against a real Prefect server started here.

Each command is a flow run named by its tfclaims run id, with a task per stage and table (the claim
decision and the ledger write among them), its log lines in the run log, and artifacts under keys
that are the same for every run of the command. Nothing Prefect keeps (its database, its result
storage) holds personal data. Served deployments run from typed parameters. Ctrl-C ends a run
with exit 130, one line, and a failed (interrupted) audit record.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from ledger_helpers import answer_spot_check
import prefect_server

from tfclaims.audit import trail as audit
from tfclaims.cli.console import show_progress
from tfclaims.artifacts import reconcile_artifacts, run_artifacts
from tfclaims.core.orchestration import LOG, direct
from tfclaims.core.resources import SAMPLE_COHORT_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]
server = prefect_server.server  # the module-scoped Prefect server fixture
_free_port = prefect_server.free_port
KEY = "prefect-console-test-key"
PREFECT = Path(sys.executable).with_name("prefect")


def _env(server, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {"TFCLAIMS_ORCHESTRATOR": "prefect", "PREFECT_API_URL": server["url"], "PREFECT_HOME": str(tmp_path / "client-home"),
                  "TFCLAIMS_REFERENCE_KEY": KEY, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def _tfclaims(env, *args: str, cwd: Path = REPO_ROOT, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfclaims", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@contextmanager
def _client(server):
    """A client of the test's server (this process's Prefect settings are read once, at import)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server["url"]}), get_client(sync_client=True) as client:
        yield client


def _flow_run(server, name: str):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with _client(server) as c:
        runs = c.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
        assert len(runs) == 1, f"one flow run named {name}"
        run = runs[0]
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId

        tasks = c.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [run.id]}))
        logs = c.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        artifacts = c.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
    return run, {t.name.rsplit("-", 1)[0] for t in tasks}, [entry.message for entry in logs], {a.key: a for a in artifacts}


@pytest.fixture(scope="module")
def demo(server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    env = _env(server, tmp)
    done = _tfclaims(env, "demo", "--out", str(tmp / "demo"))
    assert done.returncode == 0, done.stderr[-3000:]
    return {"out": tmp / "demo", "env": env, "tmp": tmp, "stderr": done.stderr,
            "summary": json.loads((tmp / "demo" / "run_summary.json").read_text())}


def test_the_demo_is_a_flow_run_named_by_its_run_id_with_a_task_per_stage_and_table(server, demo):
    run, tasks, logs, _ = _flow_run(server, demo["summary"]["run_id"])
    assert run.state_name == "Completed" and run.flow_id
    tables = [t for t, c in demo["summary"]["tables"].items() if c["read"]]
    assert {f"validate {t}" for t in tables} <= tasks
    assert {"read cohort", "link", "track", "identify at attachment", "read ledger", "decide claims", "record claims in the ledger",
            "spot check"} <= tasks
    # each stage's start and end, with counts and seconds, in the run log
    people = demo["summary"]["tables"]["people"]
    assert "validate people: started" in logs
    assert any(m.startswith("validate people: done in ") and f"{people['read']:,} rows read, {people['accepted']:,} accepted" in m for m in logs)
    assert any(m.startswith("record claims in the ledger: done in ") and f"{demo['summary']['claims']:,} claims recorded" in m for m in logs)
    # no temporary server was paid for: the note says so only without a server
    assert "temporary one" not in demo["stderr"]


def test_the_demo_has_its_artifacts_under_keys_stable_across_runs(server, demo):
    _, _, _, artifacts = _flow_run(server, demo["summary"]["run_id"])
    keys = {"tfclaims-demo-summary", "tfclaims-demo-table-counts", "tfclaims-demo-decisions", "tfclaims-demo-claims-by-route",
            "tfclaims-demo-run-folder", "tfclaims-demo-report"}
    assert keys <= set(artifacts)
    s = demo["summary"]
    counts = json.loads(artifacts["tfclaims-demo-table-counts"].data)
    assert {r["table"]: (r["read"], r["accepted"], r["quarantined"]) for r in counts} == {
        t: (c["read"], c["accepted"], c["quarantined"]) for t, c in s["tables"].items()}
    decisions = json.loads(artifacts["tfclaims-demo-decisions"].data)
    assert sum(r["families"] for r in decisions) == sum(s["decisions"].values())
    assert "Claim" in {r["decision"] for r in decisions}  # words, the codes beside them
    routes = json.loads(artifacts["tfclaims-demo-claims-by-route"].data)
    assert sum(r["claims"] for r in routes) == s["claims"]
    assert sum(r["amount_pence"] for r in routes) == int(float(s["amount_gbp"]) * 100)
    md = artifacts["tfclaims-demo-summary"].data
    assert f"**{s['claims']:,} claims, £" in md and "## Spot check" in md and str(demo["out"]) in md
    assert demo["out"].resolve().as_uri() in artifacts["tfclaims-demo-run-folder"].data
    assert (demo["out"] / "report.html").resolve().as_uri() in artifacts["tfclaims-demo-report"].data


def test_nothing_prefect_keeps_holds_personal_data(server, demo):
    people = pd.read_csv(SAMPLE_COHORT_DIR / "people.csv", dtype=str, keep_default_na=False)
    stored = server["db"].read_bytes()
    ids = set(people["family_id"]) | set(people["person_id"])
    names = {n for n in set(people["first_name"]) | set(people["last_name"]) if len(n) >= 5}
    leaked = sorted(x for x in ids | names if x.encode() in stored)
    assert not leaked, f"Prefect's database holds {leaked[:10]}"
    assert KEY.encode() not in stored  # the reference key is not a flow parameter
    # no task or flow result was persisted anywhere Prefect keeps them
    storage = demo["tmp"] / "client-home" / "storage"
    assert not storage.exists() or not any(storage.iterdir())


def test_a_ledger_withdrawal_is_a_flow_without_parameters_and_its_artifact_names_no_family(server, demo):
    out, env = demo["out"], demo["env"]
    claim = pd.read_csv(out / "claim_register.csv", dtype=str).iloc[0]
    env = {k: v for k, v in env.items() if k != "TFCLAIMS_REFERENCE_KEY"}  # the demo's ledger is sealed with the demo key
    done = _tfclaims(env, "ledger", "withdraw", claim["claim_reference"], "--reason", "evidence missing",
                     "--ledger", str(out / "ledger.sqlite"), "--audit", str(out / "audit.jsonl"))
    assert done.returncode == 0, done.stderr[-3000:]
    record = [r for r in audit.read_records(out / "audit.jsonl") if r["command"] == "ledger withdraw"][-1]
    run, tasks, logs, artifacts = _flow_run(server, record["run_id"])
    assert run.parameters == {} and run.state_name == "Completed"
    assert {"withdraw the claim in the ledger", "re-issue the claim files"} <= tasks
    md = artifacts["tfclaims-ledger-withdraw-summary"].data
    assert claim["claim_reference"] in md and claim["family_id"] not in md
    assert any(m.startswith("withdraw the claim in the ledger: done in") for m in logs)
    assert claim["family_id"] not in "\n".join(logs)


def test_a_reconcile_is_a_flow_whose_artifacts_count_the_verdicts_without_the_auditors_notes(server, demo):
    out = demo["out"]
    invalid = answer_spot_check(out / "spot_check.xlsx", invalid_note="Mrs Example at 3 High Street says no plan")
    env = {k: v for k, v in demo["env"].items() if k != "TFCLAIMS_REFERENCE_KEY"}  # the demo's key
    done = _tfclaims(env, "reconcile", "--verdicts", str(out / "spot_check.xlsx"), "--ledger", str(out / "ledger.sqlite"),
                     "--audit", str(out / "audit.jsonl"), "--out", str(demo["tmp"] / "reconciled"))
    assert done.returncode == 0, done.stderr[-3000:]
    record = [r for r in audit.read_records(out / "audit.jsonl") if r["command"] == "reconcile"][-1]
    run, tasks, logs, artifacts = _flow_run(server, record["run_id"])
    assert run.state_name == "Completed"
    assert {"read verdicts", "record verdicts in the ledger", "re-issue the claim files"} <= tasks
    verdicts = json.loads(artifacts["tfclaims-reconcile-verdicts"].data)
    sampled = json.loads((demo["tmp"] / "reconciled" / "reconciliation.json").read_text())
    assert {r["verdict"]: r["claims"] for r in verdicts} == {"valid": sampled["valid"], "invalid": sampled["invalid"], "query": sampled["query"]}
    shown = artifacts["tfclaims-reconcile-summary"].data + json.dumps(verdicts) + "\n".join(logs)
    assert invalid in shown and "High Street" not in shown and "Mrs Example" not in shown
    families = pd.read_csv(out / "claim_register.csv", dtype=str)["family_id"]
    assert not [f for f in families if f in shown]


def test_a_forecast_is_a_flow_run_with_a_task_per_claim_window_and_artifacts_without_family_ids(server, tmp_path):
    env = _env(server, tmp_path)
    out = tmp_path / "forecast"
    done = _tfclaims(env, "forecast", "--input", str(SAMPLE_COHORT_DIR), "--as-of", "2020-03-31", "--horizon", "1", "--out", str(out),
                     "--ledger", str(tmp_path / "no-ledger.sqlite"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "run_summary.json").read_text())
    run, tasks, logs, artifacts = _flow_run(server, summary["run_id"])
    assert run.state_name == "Completed"
    assert {"read cohort", "link", "identify at attachment", "read ledger"} <= tasks
    assert {f"claim decisions at {d}" for d in ("2020-03-31", "2020-04-30")} <= tasks
    windows = artifacts["tfclaims-forecast-claim-windows"]
    assert "tfclaims-forecast-summary" in artifacts
    families = set(pd.read_csv(out / "forecast.csv", dtype=str)["family_id"])
    for artifact in artifacts.values():
        text = json.dumps(artifact.data, default=str)
        assert not any(f in text for f in families)
    assert "2020-04-30" in json.dumps(windows.data, default=str)


def test_a_served_claim_deployment_runs_from_typed_parameters(server, tmp_path):
    env = _env(server, tmp_path)
    ws = tmp_path / "ws"
    assert _tfclaims(env, "init", str(ws)).returncode == 0
    env["TFCLAIMS_HOME"] = str(ws)
    with (ws / "council.yaml").open("a", encoding="utf-8") as fh:  # a dry run per claim window, on a schedule
        fh.write(f'claim_schedule: {{cron: "0 7 5 1,4,7,10 *", input: "{SAMPLE_COHORT_DIR}"}}\n')
    serving = subprocess.Popen([sys.executable, "-m", "tfclaims", "serve"], env=env, cwd=ws, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        from prefect.deployments import run_deployment

        with _client(server) as c:
            for _ in range(120):
                try:
                    deployment = c.read_deployment_by_name("tfclaims-claim/claim")
                    window = c.read_deployment_by_name("tfclaims-claim/claim-window")
                    break
                except Exception:
                    time.sleep(0.5)
            else:
                pytest.fail("tfclaims serve did not publish the claim deployments")
        assert not deployment.schedules  # started by a person, from the form
        assert [s.schedule.cron for s in window.schedules] == ["0 7 5 1,4,7,10 *"]  # one run per claim window
        assert window.parameters == {"input": str(SAMPLE_COHORT_DIR), "dry_run": True}
        props = deployment.parameter_openapi_schema["properties"]
        assert props["period_end"]["format"] == "date" and props["period_end"]["type"] == "string"  # a date picker
        framework = deployment.parameter_openapi_schema["definitions"]["FrameworkChoice"]["enum"]
        assert framework[0] == "the council config's" and {"tf-phase2", "sf-2022"} <= set(framework)  # a list to choose from
        assert props["dry_run"]["type"] == "boolean" and props["out"] == {**props["out"], "type": "string", "default": ""}
        assert all("anyOf" not in p for p in props.values())  # no "pick a type" toggles in the form
        assert deployment.parameter_openapi_schema["required"] == ["input", "period_end"]
        out = tmp_path / "from-ui"
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: server["url"]}):
            run = run_deployment("tfclaims-claim/claim", timeout=180, parameters={
                "input": str(SAMPLE_COHORT_DIR), "period_end": "2020-03-31", "framework": "tf-phase2", "dry_run": True, "out": str(out)})
        assert run.state.is_completed(), run.state
        summary = json.loads((out / "run_summary.json").read_text())
        with _client(server) as c:
            assert c.read_flow_run(run.id).name == summary["run_id"]  # named by the tfclaims run id, as on the command line
        assert summary["dry_run"] and summary["claims"] > 0
        assert (out / "finance_summary.DRAFT.xlsx").exists()
    finally:
        serving.send_signal(signal.SIGINT)
        try:
            serving.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serving.kill()


def test_serve_without_a_server_is_refused_before_anything_is_published(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {"PREFECT_HOME": str(tmp_path / "home")}
    done = _tfclaims(env, "serve", timeout=60)
    assert done.returncode == 2 and "needs a running Prefect server" in done.stderr


def test_ctrl_c_ends_a_run_with_exit_130_one_line_and_a_failed_audit_record(tmp_path):
    env = {**os.environ, "TFCLAIMS_ORCHESTRATOR": "none", "TFCLAIMS_REFERENCE_KEY": KEY}
    trail, out = tmp_path / "audit.jsonl", tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "tfclaims", "run", "--input", str(SAMPLE_COHORT_DIR), "--period-end", "2020-03-31",
                             "--out", str(out), "--ledger", str(tmp_path / "ledger.sqlite"), "--audit", str(trail)],
                            env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:  # plain progress lines (not a terminal): interrupt once people are validated
        seen.append(line)
        if "validate people: done" in line:
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 130, "".join(seen) + rest
    assert rest.strip().splitlines()[-1].startswith("interrupted (Ctrl-C): stopped.")
    assert "Traceback" not in rest
    record = audit.read_records(trail)[-1]
    assert record["command"] == "run" and record["status"] == "failed" and record["error"] == audit.INTERRUPTED
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob(".*.part"))  # nothing half written
    assert not (out / "claim_file.csv").exists()


def test_plain_progress_lines_when_not_on_a_terminal_and_a_spinner_on_one():
    for tty in (False, True):
        stream = io.StringIO()
        stream.isatty = lambda tty=tty: tty  # type: ignore[method-assign]
        show_progress(stream)
        try:
            direct("validate people", lambda: pd.DataFrame({"a": range(3)}))
            LOG.info("linking source rows to people")
        finally:
            show_progress(sys.stderr)
        text = stream.getvalue()
        assert "validate people" in text and "3 rows" in text and "linking source rows to people" in text
        if tty:
            assert "done" in text and "\x1b[" in text  # rich, on a terminal
        else:
            lines = text.splitlines()
            assert len(lines) == 2 and lines[0][8:].startswith(" validate people: done in ")  # HH:MM:SS first
    assert logging.getLogger("tfclaims").propagate is False


def test_the_artifacts_of_a_summary_and_of_a_reconcile_name_no_family():
    summary = {"run_id": "R1", "tables": {"people": {"read": 3, "accepted": 2, "quarantined": 1, "unmatched": 0}},
               "decisions": {"claim:claimed": 1, "no_claim:outcomes_not_met": 2}, "claims": 1, "amount_gbp": "800.00",
               "finance_summary": {"routes": [{"route": "Significant and sustained progress", "code": "ssp", "claims": 1, "amount_pence": 80000}]},
               "outputs": [{"name": "claim_file.csv"}]}
    arts = run_artifacts("claim", summary, None)
    assert arts.markdown_key == "tfclaims-claim-summary" and "**1 claims, £800.00**" in arts.markdown
    assert set(arts.tables) == {"tfclaims-claim-table-counts", "tfclaims-claim-decisions", "tfclaims-claim-claims-by-route"}
    assert arts.tables["tfclaims-claim-decisions"][1][1]["decision"] == "No claim: outcomes not met"

    class Result:  # a reconciliation with an open query whose note names the family
        counts = {"sampled": 2, "valid": 1, "invalid": 0, "query": 1}
        withdrawn_now: list[str] = []
        open_queries = pd.DataFrame({"claim_reference": ["TFC-000002"], "family_id": ["F000777"], "notes": ["Mrs Smith at 3 High St"]})
        may_go_forward = False
        error_rate = 0.0

    class Opts:
        command, run_id, out = "reconcile", "R2", None

    rec = reconcile_artifacts(Opts)((Result(), Path("r.csv"), Path("r.json"), []))
    text = rec.markdown + json.dumps(rec.tables)
    assert "F000777" not in text and "Smith" not in text and "open queries: 1" in text
    assert rec.tables["tfclaims-reconcile-verdicts"][1] == [{"verdict": "valid", "claims": 1}, {"verdict": "invalid", "claims": 0},
                                                           {"verdict": "query", "claims": 1}]


def test_a_command_paying_for_a_temporary_server_says_so_once(monkeypatch, capsys):
    from tfclaims.cli import _common

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    _common._note_temporary_server()
    assert capsys.readouterr().err.count("temporary one") == 1
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    _common._note_temporary_server()
    assert capsys.readouterr().err == ""


def test_every_command_that_reads_personal_data_or_changes_the_ledger_has_a_flow():
    from tfclaims.cli._common import _RUNNERS

    assert set(_RUNNERS) == {"validate", "identify", "track", "claim", "run", "demo", "spot-check", "reconcile", "forecast", "compare-plans"}
    source = (REPO_ROOT / "tfclaims" / "cli" / "ledger.py").read_text()
    for action in ("withdraw", "release", "approve", "seal", "export"):
        assert f'ledger_command("ledger {action}", work)' in source
    assert shutil.which(str(PREFECT)) or PREFECT.exists()


def test_server_refuses_a_port_that_is_not_one_before_starting_anything(tmp_path):
    done = _tfclaims({**os.environ, "PREFECT_HOME": str(tmp_path / "home")}, "server", "--port", "70000", timeout=60)
    assert done.returncode == 2 and "--port 70000" in done.stderr and not (tmp_path / "home").exists()
