"""``tfclaims consortium run``: many councils, one claim window (``tfclaims.consortium``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tfclaims.cli import app
from tfclaims.core.errors import InputError
from tfclaims.core.orchestration import PREFECT_PORT, use_prefect

consortium_app = typer.Typer(help="Many councils, one claim window: a tfclaims run per council (see docs/deployment.md).",
                             no_args_is_help=True)
app.add_typer(consortium_app, name="consortium")

NEEDS_SERVER = (
    "{mode} runs councils in more than one process, and each process would start a temporary Prefect server of its own "
    "(its runs in a throwaway database) without a running one: start one with `tfclaims server` (or `prefect server start`) "
    f"and set PREFECT_API_URL (e.g. http://127.0.0.1:{PREFECT_PORT}/api), or run without --work-pool/--processes"
)


@consortium_app.command("run")
def run_command(
    councils: Annotated[Path, typer.Argument(metavar="COUNCILS.yaml", help="The councils file: each council's code, workspace and cohort.")],
    period_end: Annotated[str, typer.Option("--period-end", metavar="DATE", help="The claim window's period end (the same for every council).")],
    work_pool: Annotated[Optional[str], typer.Option("--work-pool", metavar="NAME", help=(
        "Run each council as a flow run of its own on this Prefect work pool (its workers started with "
        "`prefect worker start --pool NAME --type process`)."))] = None,
    processes: Annotated[Optional[str], typer.Option("--processes", metavar="N", help=(
        "Run the councils in N local processes (one Prefect flow, a task per council)."))] = None,
    out: Annotated[Optional[str], typer.Option("--out", metavar="DIR", help="Folder for consortium_summary.json and consortium_report.html.",
                                               show_default="reports/consortium-<run id> in the workspace, else consortium/<run id> beside COUNCILS.yaml")] = None,
    resume: Annotated[Optional[str], typer.Option("--resume", metavar="DIR", help=(
        "The folder of an earlier consortium run: run again only the councils that did not succeed (into that folder)."))] = None,
    operator: Annotated[Optional[str], typer.Option("--operator", metavar="NAME", help="Who runs this, as each council's audit trail records it.",
                                                    show_default="your user name")] = None,
    seed: Annotated[Optional[str], typer.Option("--seed", metavar="N", help="Seed of every council's spot-check draw.",
                                                show_default="drawn at random for each council")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write every council's decisions and files; record nothing in any ledger.")] = False,
) -> None:
    """Run `tfclaims run` for every council of COUNCILS.yaml for one period end: one after another, in
    local processes (--processes), or as a flow run per council on a Prefect work pool (--work-pool).
    Everything is checked first (exit 2, nothing run); a council that fails does not stop the others
    (exit 1, its error in consortium_summary.json; --resume runs only the councils that did not succeed)."""
    from tfclaims import consortium
    from tfclaims.cli._common import prefect_api_url
    from tfclaims.options import ConsortiumOptions

    opts = ConsortiumOptions.of(COUNCILS=councils, **{"--period-end": period_end, "--work-pool": work_pool, "--processes": processes,
                                                      "--out": out, "--resume": resume, "--operator": operator, "--seed": seed,
                                                      "--dry-run": dry_run})
    mode = f"--work-pool {opts.work_pool}" if opts.work_pool is not None else f"--processes {opts.processes}"
    if opts.multi_process and not use_prefect():
        raise InputError(f"{mode}: runs the councils through Prefect; unset TFCLAIMS_ORCHESTRATOR=none, or run without it")
    if opts.multi_process and not prefect_api_url():
        raise InputError(NEEDS_SERVER.format(mode=mode))
    plan = consortium.prepare(opts)  # every council checked; nothing written yet
    name = opts.run_id
    if opts.work_pool is not None:
        from tfclaims.flows.consortium import register_council_deployment, run_on_work_pool

        deployment, memory_variable = register_council_deployment(opts.work_pool)
        print(f"deployment {deployment} on work pool {opts.work_pool}: a flow run per council")
        runner = lambda jobs: run_on_work_pool(jobs, deployment, memory_variable, name)  # noqa: E731
    elif opts.processes is not None and opts.processes > 1:
        from tfclaims.flows.consortium import run_in_processes

        runner = lambda jobs: run_in_processes(jobs, opts.processes, name)  # noqa: E731
    elif use_prefect():
        from tfclaims.flows.consortium import council_flow_run

        runner = lambda jobs: consortium.run_sequential(jobs, council_flow_run)  # noqa: E731
    else:
        runner = consortium.run_sequential
    kept = f", {len(plan.kept)} kept from {opts.resume}" if plan.kept else ""
    print(f"consortium run {plan.consortium_run_id}: {len(plan.jobs)} council(s) to run ({opts.mode}){kept}; period end "
          f"{opts.period_end.isoformat()}", flush=True)
    summary = consortium.execute(plan, runner)
    print(consortium.terminal_table(summary))
    print(f"\noutputs in {plan.out}:\n  {consortium.SUMMARY_JSON}\n  {consortium.REPORT_HTML}")
    if summary["status"] != "succeeded":
        print(f"some councils failed: run them again with `tfclaims consortium run {opts.councils} --period-end "
              f"{opts.period_end.isoformat()} --resume {plan.out}`")
        raise typer.Exit(1)

