"""The consortium run: many councils, one claim window, one tfclaims run per council.

Three small synthetic councils (300 families, seeds 1-3; their family ids overlap), each in its
own workspace with its own council config and reference key. A council run alone gives the same
files as the same council in a consortium run on local processes and on a Prefect work pool (a
real server and a real process worker started here); a broken council does not stop the others
and ``--resume`` runs only it; multi-process modes are refused without a Prefect server; no
temporary Prefect server appears among the run's processes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import prefect_server
from prefect_server import start_worker

from tfclaims.synth.generate import generate_cohort, write_cohort

pytest_plugins = ["postgres"]
server = prefect_server.server  # the module-scoped Prefect server fixture
PERIOD_END = "2021-03-31"
CODES = ["E10000001", "E10000002", "E10000003"]
SEED = "5"
# the files that must be byte for byte the same for a council run alone and in a consortium run
SAME = ["claim_decisions.csv", "claim_file.csv", "eligibility.csv", "eligibility_evidence.csv", "outcomes.csv", "outcome_evidence.csv",
        "spot_check_sample.csv", "validation_errors.csv", "unmatched.csv"]


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohorts")
    for n, code in enumerate(CODES, start=1):
        write_cohort(generate_cohort(300, n, period_end=pd.Timestamp(PERIOD_END).date()), root / code)
    return root


def _consortium(root: Path, cohorts: Path, *, broken: str | None = None, ledger: str | None = None) -> Path:
    """Three council workspaces under ``root`` and their COUNCILS.yaml (relative paths); ``ledger``: one
    PostgreSQL ledger shared by the three."""
    lines = ["# three councils, one claim window", *([f"ledger: {ledger}"] if ledger else []), "councils:"]
    for n, code in enumerate(CODES, start=1):
        ws = root / "councils" / code
        ws.mkdir(parents=True)
        (ws / "tfclaims.toml").write_text('[workspace]\nreports = "reports"\n', encoding="utf-8")
        (ws / "council.yaml").write_text(f"council_name: Council {n}\nreference_key: consortium-test-key-{n}\n", encoding="utf-8")
        shutil.copytree(cohorts / code, ws / "cohort")
        if code == broken:
            people = ws / "cohort" / "people.csv"
            people.write_text("nothing,here\n" + people.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
        lines += [f"  - code: {code}", f"    workspace: councils/{code}", f"    input: councils/{code}/cohort"]
    path = root / "COUNCILS.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _env(tmp: Path, server=None, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TFCLAIMS_"))}
    env |= {"PREFECT_HOME": str(tmp / "client-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **more}
    if server is not None:
        env["PREFECT_API_URL"] = server["url"]
    return env


def _consortium_run(env, councils: Path, *args: str, watch: int | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
    """``tfclaims consortium run``; with ``watch`` (a pid, or 0 for the command's own), the command
    lines of that process's descendants sampled while the run goes on."""
    cmd = [sys.executable, "-m", "tfclaims", "consortium", "run", str(councils), "--period-end", PERIOD_END, "--seed", SEED, *args]
    proc = subprocess.Popen(cmd, env=env, cwd=councils.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(watch or proc.pid)
        while not done.is_set():
            for p in root.children(recursive=True):
                try:
                    seen.append(" ".join(p.cmdline()))
                except psutil.Error:
                    pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True) if watch is not None else None
    if sampler:
        sampler.start()
    out, err = proc.communicate(timeout=240)
    done.set()
    if sampler:
        sampler.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), seen


def _run_alone(councils: Path, monkeypatch) -> dict[str, Path]:
    """Each council by itself: plain ``pipeline.run`` (no Prefect), the same spot-check seed."""
    from tfclaims import pipeline
    from tfclaims.core.orchestration import direct
    from tfclaims.options import RunOptions

    folders = {}
    for code in CODES:
        ws = councils.parent / "councils" / code
        monkeypatch.setenv("TFCLAIMS_HOME", str(ws))
        monkeypatch.delenv("TFCLAIMS_REFERENCE_KEY", raising=False)
        opts = RunOptions.of(**{"--input": str(ws / "cohort"), "--period-end": PERIOD_END, "--seed": SEED, "--operator": "tester"})
        pipeline.run(opts, step=direct)
        folders[code] = Path(opts.out)
    return folders


def _stray_servers(cmdlines: list[str]) -> list[str]:
    return sorted({c for c in cmdlines if "uvicorn" in c or ("prefect" in c and " server" in c)})


def _summary(out: str) -> tuple[Path, dict]:
    folder = Path(out.split("outputs in ", 1)[1].split(":\n", 1)[0])
    return folder, json.loads((folder / "consortium_summary.json").read_text(encoding="utf-8"))


def _same_files(alone: Path, other: Path) -> None:
    for name in SAME:
        assert (alone / name).read_bytes() == (other / name).read_bytes(), f"{name} differs"
    # the claim register names the run that made each claim: the same but for that column
    a, b = (pd.read_csv(p / "claim_register.csv", dtype=str).drop(columns="run_id") for p in (alone, other))
    pd.testing.assert_frame_equal(a, b)


def _flow_runs(server, names: list[str]) -> dict[str, tuple[str, set[str]]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server["url"]}), get_client(sync_client=True) as c:
        runs = c.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names)))
        found = {}
        for run in runs:
            tasks = c.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [run.id]}))
            found[run.name] = (run.state_name, {t.name for t in tasks})
    return found


@pytest.mark.postgres
def test_a_council_alone_and_in_a_consortium_on_processes_and_a_work_pool_give_the_same_files(server, cohorts, tmp_path, monkeypatch,
                                                                                              postgres_url, postgres_server_url):
    from postgres import fresh_database

    alone = _run_alone(_consortium(tmp_path / "alone", cohorts), monkeypatch)  # each council alone, on its own SQLite ledger
    monkeypatch.delenv("TFCLAIMS_HOME")

    # --processes 2: one flow, a task per council in a process pool, the three on one PostgreSQL ledger;
    # no temporary server in the tree
    env = _env(tmp_path, server)
    with fresh_database(postgres_server_url) as shared:
        done, seen = _consortium_run(env, _consortium(tmp_path / "processes", cohorts, ledger=shared), "--processes", "2", watch=0)
    assert done.returncode == 0, done.stderr[-3000:]
    assert any("multiprocessing" in c for c in seen), "the sampler saw the pool's processes"
    assert not _stray_servers(seen)
    folder, summary = _summary(done.stdout)
    assert [c["status"] for c in summary["councils"]] == ["succeeded"] * 3
    for c in summary["councils"]:
        assert c["run_id"] == f"{summary['consortium_run_id']}-{c['code']}"
        _same_files(alone[c["code"]], Path(c["run_folder"]))
    runs = _flow_runs(server, [summary["consortium_run_id"]])
    state, tasks = runs[summary["consortium_run_id"]]
    assert state == "Completed" and tasks == {f"council {code}" for code in CODES}

    # --work-pool: a flow run per council, started by a real process worker
    worker = start_worker(server["url"], "consortium-test", tmp_path / "worker-home", limit=2, env=env)
    try:
        done, seen = _consortium_run(env, _consortium(tmp_path / "pool", cohorts, ledger=postgres_url), "--work-pool", "consortium-test",
                                     watch=worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    assert any("prefect.engine" in c for c in seen), "the sampler saw the worker's flow run processes"
    assert not _stray_servers(seen)
    _, summary = _summary(done.stdout)
    assert [c["status"] for c in summary["councils"]] == ["succeeded"] * 3
    for c in summary["councils"]:
        _same_files(alone[c["code"]], Path(c["run_folder"]))
    runs = _flow_runs(server, [c["run_id"] for c in summary["councils"]])
    for c in summary["councils"]:
        state, tasks = runs[c["run_id"]]
        assert state == "Completed" and {"validate people", "decide claims", "record claims in the ledger"} <= {t.rsplit("-", 1)[0] for t in tasks}
    # the deployment carries the command line's Prefect defaults to the worker's processes
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server["url"]}), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("tfclaims-council-run/consortium-consortium-test")
    assert deployment.entrypoint == "tfclaims.flows.consortium.council_run" and not deployment.pull_steps
    assert deployment.job_variables["env"]["PREFECT_TASKS_DEFAULT_NO_CACHE"] == "true"


def test_a_broken_council_does_not_stop_the_others_and_resume_runs_only_it(cohorts, tmp_path):
    councils = _consortium(tmp_path, cohorts, broken=CODES[1])
    env = _env(tmp_path, TFCLAIMS_ORCHESTRATOR="none")
    done, _ = _consortium_run(env, councils)
    assert done.returncode == 1, done.stderr[-3000:]
    folder, summary = _summary(done.stdout)
    status = {c["code"]: c for c in summary["councils"]}
    assert [status[c]["status"] for c in CODES] == ["succeeded", "failed", "succeeded"]
    assert "people.csv" in status[CODES[1]]["error"] and summary["status"] == "failed"
    assert summary["totals"]["failed"] == 1 and summary["totals"]["claims"] == status[CODES[0]]["claims"] + status[CODES[2]]["claims"]
    assert f"{CODES[1]} failed" in done.stdout
    report = (folder / "consortium_report.html").read_text(encoding="utf-8")
    assert "Failed: InputError" in report and "£" in report and "http" not in report
    assert f"<td>Council 1<br><small>{CODES[0]}</small></td>" in report  # the council's own name, its code beside it
    kept = {c: status[c] for c in (CODES[0], CODES[2])}

    shutil.rmtree(councils.parent / "councils" / CODES[1] / "cohort")  # the council sends its cohort again
    shutil.copytree(cohorts / CODES[1], councils.parent / "councils" / CODES[1] / "cohort")
    done, _ = _consortium_run(env, councils, "--resume", str(folder))
    assert done.returncode == 0, done.stderr[-3000:]
    again, summary = _summary(done.stdout)
    assert again == folder and summary["status"] == "succeeded" and summary["runs"][-1]["councils_run"] == [CODES[1]]
    status = {c["code"]: c for c in summary["councils"]}
    assert {c: status[c] for c in kept} == kept  # the others' records as they were
    assert status[CODES[1]]["status"] == "succeeded" and status[CODES[1]]["run_id"].startswith(summary["runs"][-1]["run_id"])
    for code in (CODES[0], CODES[2]):  # each ran once: one run folder in its workspace
        assert len([p for p in (councils.parent / "councils" / code / "reports").iterdir() if p.name.startswith("2")]) == 1


def test_multi_process_modes_are_refused_without_a_prefect_server_and_nothing_is_written(cohorts, tmp_path):
    councils = _consortium(tmp_path, cohorts)
    before = sorted(p for p in tmp_path.rglob("*"))
    for args in (["--processes", "2"], ["--work-pool", "any"]):
        done, _ = _consortium_run(_env(tmp_path), councils, *args)
        assert done.returncode == 2, done.stderr
        assert "PREFECT_API_URL" in done.stderr and "temporary Prefect server" in done.stderr
    assert sorted(p for p in tmp_path.rglob("*") if "client-home" not in p.parts) == before


def test_a_bad_councils_file_is_refused_naming_the_file_council_and_key(cohorts, tmp_path):
    councils = _consortium(tmp_path, cohorts)
    original = councils.read_text(encoding="utf-8")
    text = original.replace("councils/E10000002\n", "councils/nowhere\n", 1).replace("code: E10000003", "code: E10000001")
    councils.write_text(text + "    colour: blue\n", encoding="utf-8")
    done, _ = _consortium_run(_env(tmp_path, TFCLAIMS_ORCHESTRATOR="none"), councils)
    assert done.returncode == 2
    assert f"{councils}: councils[2] (E10000001).colour: unknown key" in done.stderr
    councils.write_text(text, encoding="utf-8")
    done, _ = _consortium_run(_env(tmp_path, TFCLAIMS_ORCHESTRATOR="none"), councils)
    assert done.returncode == 2
    assert f"{councils}: councils[1] (E10000002).workspace: no such folder" in done.stderr
    assert f"{councils}: councils[2] (E10000001).code: the same code as councils[0]" in done.stderr
    assert not (tmp_path / "councils" / CODES[0] / "reports").exists() and not (tmp_path / "consortium").exists()
    # a council config whose own council_code is another council's: refused before any council runs
    councils.write_text(original, encoding="utf-8")
    config = tmp_path / "councils" / CODES[1] / "council.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "council_code: E10000003\n", encoding="utf-8")
    done, _ = _consortium_run(_env(tmp_path, TFCLAIMS_ORCHESTRATOR="none"), councils)
    assert done.returncode == 2
    assert f"councils[1] (E10000002): council E10000002: its council config ({config.parent}/council.yaml) says council_code E10000003" in done.stderr
    assert not any((tmp_path / "councils" / code / "reports").exists() for code in CODES) and not (tmp_path / "consortium").exists()


def test_the_council_flow_applies_the_command_lines_prefect_defaults(monkeypatch):
    from prefect.settings import get_current_settings

    from tfclaims.flows.consortium import prefect_defaults

    monkeypatch.delenv("PREFECT_TASKS_DEFAULT_NO_CACHE", raising=False)
    with prefect_defaults():
        assert get_current_settings().tasks.default_no_cache is True


@pytest.mark.postgres
def test_a_consortium_killed_after_a_council_finished_keeps_its_claim_file_and_its_single_claiming_run(server, cohorts, tmp_path,
                                                                                                       postgres_url):
    """The whole consortium (its flow and its pool's processes) killed once the first council has finished;
    the consortium run again: the finished council is not run again (its claim file untouched, one claiming
    run in its chain), the others finish, and no family is claimed twice."""
    import signal

    from tfclaims.claim.ledger import Ledger

    councils = _consortium(tmp_path, cohorts, ledger=postgres_url)
    env = _env(tmp_path, server)
    cmd = [sys.executable, "-m", "tfclaims", "consortium", "run", str(councils), "--period-end", PERIOD_END, "--seed", SEED,
           "--processes", "2"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    reports = [tmp_path / "councils" / code / "reports" for code in CODES]
    deadline = time.monotonic() + 180
    finished: list[Path] = []
    while not finished and time.monotonic() < deadline and proc.poll() is None:
        finished = [f for r in reports for f in r.glob("2*/run_summary.json")
                    if json.loads(f.read_text(encoding="utf-8")).get("status") == "succeeded"]
        time.sleep(0.05)
    assert finished, "a council finished before the consortium was killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    first = finished[0].parent
    code = first.parent.parent.name
    claim_file = (first / "claim_file.csv").read_bytes()

    done, _ = _consortium_run(env, councils, "--processes", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    _, summary = _summary(done.stdout)
    status = {c["code"]: c for c in summary["councils"]}
    assert status[code]["run_id"] == first.name and Path(status[code]["run_folder"]) == first  # the recorded run, returned
    assert (first / "claim_file.csv").read_bytes() == claim_file
    for c in CODES:
        with Ledger.open(postgres_url, council=c, create=False) as book:
            live = book.claims()
            chain = list(book.audit_log().records())
        sealed = [r for r in chain if r["status"] == "succeeded" and r["command"] in ("run", "claim recovery") and r["notes"].get("claims")]
        assert len(sealed) == 1 and live["family_id"].is_unique and live["run_id"].nunique() == 1, c  # one claiming run per council
        assert status[c]["status"] == "succeeded" and status[c]["claims"] == len(live) and status[c]["run_id"] == live["run_id"].iloc[0]
