"""The Prefect side of a consortium run (``tfclaims.consortium``): one flow run per council.

- ``council_run``: the council-run flow, one flow run per council, named by the council's run id.
  Its parameters are paths, a date, a council code and switches (never a frame, never a key). It
  is deployed on a work pool from the installed package (``register_council_deployment``: a
  module entrypoint, ``tfclaims.flows.consortium.council_run``, so a worker imports it from the
  installed wheel, not from a file in a checkout). The Prefect defaults of the command line (no task
  cache, quiet logging) travel with it: in the deployment's job variables (the worker's process
  environment) and applied by the flow itself.
- ``run_on_work_pool``: a small parent flow that starts a flow run of ``council_run`` per council
  with ``run_deployment(timeout=0)`` (each linked as its subflow), then polls the API until all end.
- ``run_in_processes``: one flow whose ``ProcessPoolTaskRunner`` runs a task per council (its
  processes are not daemonic, so the run's workbook helper process can start).

Only paths and options cross processes; each council's counts are read back from its
``run_summary.json`` (``tfclaims.consortium.execute``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

import tfclaims
from tfclaims.consortium import CouncilJob, error_text, run_council
from tfclaims.core.errors import InputError
from tfclaims.core.orchestration import ORCHESTRATOR_ENV, PREFECT_DEFAULTS

__all__ = ["council_run", "council_task", "register_council_deployment", "run_on_work_pool", "run_in_processes", "prefect_defaults",
           "WORKER_ENV", "deployment_name", "council_flow_run"]

# The process environment of a council's flow run started by a worker (the deployment's job variables).
WORKER_ENV = {**PREFECT_DEFAULTS, ORCHESTRATOR_ENV: "prefect"}
POLL_SECONDS = 2.0


@contextmanager
def prefect_defaults() -> Iterator[None]:
    """The command line's Prefect defaults (``PREFECT_DEFAULTS``) for the code run inside: every one
    the process's environment does not set, as a Prefect setting (read once at import, so setting the
    environment now would be too late)."""
    import prefect.settings as ps
    from prefect.settings import temporary_settings

    updates = {}
    for name, value in PREFECT_DEFAULTS.items():
        if name in os.environ:
            continue
        try:
            updates[getattr(ps, name)] = value
        except AttributeError:  # not a Prefect setting (DO_NOT_TRACK)
            pass
    with temporary_settings(updates=updates):
        yield


def _run_flow_body(opts: Any) -> Any:
    """``tfclaims run``'s flow body: every step a task, the run log, the run's artifacts."""
    from tfclaims import pipeline
    from tfclaims.artifacts import summary_artifacts
    from tfclaims.flows._prefect import run_command

    return run_command(lambda step: pipeline.run(opts, step=step).summary, summary_artifacts(opts))


@flow(name="tfclaims-council-run", flow_run_name="{run_id}", validate_parameters=True, persist_result=False, log_prints=False)
def council_run(code: str, run_id: str, workspace: str, input: str, period_end: str, out: str, ledger: str = "", operator: str = "",
                seed: int | None = None, dry_run: bool = False, reference_key_env: str = "", tfclaims_version: str = "") -> dict[str, Any]:
    """One council's `tfclaims run` in a consortium run: its workspace, cohort and run folder.

    Args:
        code: The council's GSS code.
        run_id: The council's run id (the consortium run's id and the code).
        workspace: The council's workspace folder.
        input: The council's cohort.
        period_end: The claim window's period end (YYYY-MM-DD).
        out: The council's run folder.
        ledger: The claims ledger; blank means the workspace's.
        operator: Who runs this, as the audit trail records it.
        seed: The spot-check draw's seed; blank draws one.
        dry_run: Record nothing in the ledger.
        reference_key_env: The environment variable holding the council's reference key; blank means the council config's.
        tfclaims_version: The tfclaims version of the consortium run that started this one (must be this worker's).
    """
    if tfclaims_version and tfclaims_version != tfclaims.__version__:
        raise InputError(f"this worker has tfclaims {tfclaims.__version__}, the consortium run tfclaims {tfclaims_version}: "
                         "install the same version on the workers and where the consortium run starts")
    job = CouncilJob(code=code, run_id=run_id, workspace=workspace, input=input, period_end=period_end, out=out, ledger=ledger,
                     operator=operator, seed=seed, dry_run=dry_run, reference_key_env=reference_key_env)
    with prefect_defaults():
        return run_council(job, run=_run_flow_body)


@task(name="council run", task_run_name="council {job[code]}", cache_policy=NO_CACHE, persist_result=False, log_prints=False)
def council_task(job: dict[str, Any]) -> dict[str, Any]:
    """One council's run in a process of the pool (plain Python inside the task: see docs/decisions.md)."""
    return run_council(CouncilJob(**job))


def run_in_processes(jobs: list[CouncilJob], processes: int, name: str) -> list[dict[str, Any]]:
    """One flow (named ``name``) with a task per council on ``ProcessPoolTaskRunner(max_workers=processes)``."""
    from prefect.task_runners import ProcessPoolTaskRunner

    def tfclaims_consortium() -> list[dict[str, Any]]:
        futures = [(job, council_task.submit(job.model_dump())) for job in jobs]
        results = []
        for job, future in futures:
            try:
                r = future.result()
                results.append({"code": job.code, "error": None, "wall_seconds": r["wall_seconds"]})
            except Exception as exc:  # a council's exception, or its process crashed
                results.append({"code": job.code, "error": error_text(exc), "wall_seconds": None})
        return results

    return flow(tfclaims_consortium, name="tfclaims-consortium", flow_run_name=name, validate_parameters=False, persist_result=False,
                task_runner=ProcessPoolTaskRunner(max_workers=processes))()


def deployment_name(work_pool: str) -> str:
    """The council-run flow's deployment for a work pool (one per pool, so two pools never fight over one)."""
    return f"consortium-{work_pool}"


def register_council_deployment(work_pool: str) -> tuple[str, str | None]:
    """Create or update the council-run flow's deployment on ``work_pool`` (idempotent), from the
    installed package: a module entrypoint, no storage, no pull steps. Returns its full name and
    the job variable the pool takes a memory request by (a Kubernetes pool: ``memory_request``), if any."""
    from prefect.client.orchestration import get_client
    from prefect.deployments.runner import EntrypointType
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(work_pool)
        except ObjectNotFound:
            raise InputError(f"--work-pool {work_pool}: no such work pool on the Prefect server; create it with "
                             f"`prefect work-pool create {work_pool} --type process` and start its worker with "
                             f"`prefect worker start --pool {work_pool} --type process`") from None
    properties = (pool.base_job_template.get("variables") or {}).get("properties") or {}
    name = deployment_name(work_pool)
    deployment = council_run.to_deployment(
        name=name, work_pool_name=work_pool, entrypoint_type=EntrypointType.MODULE_PATH, version=tfclaims.__version__,
        job_variables={"env": WORKER_ENV}, tags=["tfclaims", "consortium"],
        description="One council's tfclaims run in a consortium run (started by `tfclaims consortium run --work-pool`).")
    deployment.apply()
    memory_variable = next((v for v in ("memory_request", "memory") if v in properties), None)
    return f"{council_run.name}/{name}", memory_variable


def _job_variables(job: CouncilJob, memory_variable: str | None) -> dict[str, Any]:
    variables: dict[str, Any] = {"env": {**WORKER_ENV, "TFCLAIMS_HOME": job.workspace}}
    if memory_variable and job.memory:
        variables[memory_variable] = job.memory
    return variables


def council_flow_run(job: CouncilJob) -> dict[str, Any]:
    """One council as a flow run of ``council_run`` in this process (the sequential mode under Prefect)."""
    return council_run(**_parameters(job))


def _parameters(job: CouncilJob) -> dict[str, Any]:
    return {"code": job.code, "run_id": job.run_id, "workspace": job.workspace, "input": job.input, "period_end": job.period_end,
            "out": job.out, "ledger": job.ledger, "operator": job.operator, "seed": job.seed, "dry_run": job.dry_run,
            "reference_key_env": job.reference_key_env, "tfclaims_version": tfclaims.__version__}


def run_on_work_pool(jobs: list[CouncilJob], deployment: str, memory_variable: str | None, name: str) -> list[dict[str, Any]]:
    """A parent flow (named ``name``) that starts a flow run of the council-run deployment per council
    and waits for them all (their concurrency is the worker's ``--limit`` or the pool's limit)."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    def tfclaims_consortium() -> list[dict[str, Any]]:
        started = []
        for job in jobs:
            try:
                run = run_deployment(name=deployment, parameters=_parameters(job), timeout=0, flow_run_name=job.run_id,
                                     idempotency_key=job.run_id, job_variables=_job_variables(job, memory_variable), tags=["tfclaims", "consortium"])
                started.append((job, run.id, None))
            except Exception as exc:
                started.append((job, None, error_text(exc)))
        results: dict[str, dict[str, Any]] = {job.code: {"code": job.code, "error": err, "wall_seconds": None}
                                              for job, run_id, err in started if run_id is None}
        waiting = {job.code: run_id for job, run_id, _ in started if run_id is not None}
        with get_client(sync_client=True) as client:
            while waiting:
                for code, run_id in list(waiting.items()):
                    run = client.read_flow_run(run_id)
                    if run.state is None or not run.state.is_final():
                        continue
                    del waiting[code]
                    wall = (run.end_time - run.start_time).total_seconds() if run.end_time and run.start_time else None
                    error = None if run.state.is_completed() else f"{run.state.name}: {run.state.message or ''}".strip()[:500]
                    results[code] = {"code": code, "error": error, "wall_seconds": round(wall, 2) if wall is not None else None}
                if waiting:
                    time.sleep(POLL_SECONDS)
        return [results[job.code] for job in jobs]

    return flow(tfclaims_consortium, name="tfclaims-consortium", flow_run_name=name, validate_parameters=False, persist_result=False)()
