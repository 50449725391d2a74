"""The flows an analyst starts from the Prefect UI (``tfclaims serve``): run, claim, spot-check, reconcile.

Each takes typed parameters, so the UI's form shows dates as dates, the framework as a choice of the
built-in frameworks and paths as text. Each builds the same options object as the command line
(``tfclaims.options``: every check of the command line applies, and a bad value fails the run with
the same message), names its flow run by the tfclaims run id and runs the same body as the
command's own flow. No parameter is a frame or names a family.
"""

import datetime as dt
from enum import Enum
from typing import Any

from prefect import flow

from tfclaims import pipeline
from tfclaims.artifacts import reconcile_artifacts, spot_check_artifacts, summary_artifacts
from tfclaims.flows._prefect import run_command
from tfclaims.options import ClaimOptions, ReconcileOptions, RunOptions, SpotCheckOptions
from tfclaims.rules.frameworks import list_frameworks

__all__ = ["DEPLOYED", "FrameworkName", "claim", "last_month_end", "reconcile", "run", "spot_check"]

FrameworkName = Enum("FrameworkName", {name.replace("-", "_"): name for name in list_frameworks()}, type=str)  # type: ignore[misc]


def last_month_end(today: dt.date | None = None) -> dt.date:
    """The period end of a run started without one (a scheduled run): the last day of last month."""
    today = today or dt.date.today()
    return today.replace(day=1) - dt.timedelta(days=1)


def _name_run(run_id: str) -> None:
    """Name the flow run started from the UI by the tfclaims run id, as the command line's are."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, name=run_id)


def _text(v: Any) -> Any:
    return None if v is None or v == "" else (v.value if isinstance(v, Enum) else str(v))


COHORT_PARAMETERS = """

    Args:
        input: The cohort: a folder of .csv/.xlsx files (e.g. cohort/ in the workspace).
        period_end: The last day of the claim window; blank means the end of last month.
        framework: The outcome framework; blank means the council config's.
        plan: A local outcome plan file that extends the framework (optional).
        out: Folder for this run's outputs; blank means reports/<run id> in the workspace.
        ledger: The claims ledger (a SQLite file or a postgresql:// URL); blank means the workspace's.
        config: The council config file; blank means the workspace's council.yaml.
        dry_run: Decide and write the files without recording any claim in the ledger.
        operator: Who runs this, as the audit trail records it.
    """


def _cohort_parameters(fn: Any) -> Any:
    """The form's help for the parameters of a flow over a cohort (Prefect reads it from the docstring)."""
    fn.__doc__ = (fn.__doc__ or "").rstrip() + COHORT_PARAMETERS
    return fn


def _claim_run(model: Any, command: Any, input: str, period_end: dt.date | None, framework: Any, plan: str | None,
               out: str | None, ledger: str | None, config: str | None, dry_run: bool, operator: str | None) -> dict[str, Any]:
    """The body of the run and claim flows: the command line's options object, the run named, the same pipeline."""
    values = {"--input": input, "--period-end": (period_end or last_month_end()).isoformat(), "--framework": _text(framework),
              "--plan": _text(plan), "--out": _text(out), "--ledger": _text(ledger), "--config": _text(config),
              "--operator": _text(operator), "--dry-run": dry_run}
    opts = model.of(**values)
    _name_run(opts.run_id)
    return run_command(lambda step: command(opts, step=step).summary, summary_artifacts(opts))


@flow(name="tfclaims-run", validate_parameters=True, persist_result=False)
@_cohort_parameters
def run(input: str, period_end: dt.date | None = None, framework: FrameworkName | None = None, plan: str | None = None,
        out: str | None = None, ledger: str | None = None, config: str | None = None, dry_run: bool = False,
        operator: str | None = None) -> dict[str, Any]:
    """The whole pipeline on a cohort folder: validate, link, identify, track, claim, spot-check."""
    return _claim_run(RunOptions, pipeline.run, input, period_end, framework, plan, out, ledger, config, dry_run, operator)


@flow(name="tfclaims-claim", validate_parameters=True, persist_result=False)
@_cohort_parameters
def claim(input: str, period_end: dt.date | None = None, framework: FrameworkName | None = None, plan: str | None = None,
          out: str | None = None, ledger: str | None = None, config: str | None = None, dry_run: bool = False,
          operator: str | None = None) -> dict[str, Any]:
    """The claim for a period end: decisions, the claim file and the finance summary."""
    return _claim_run(ClaimOptions, pipeline.claim, input, period_end, framework, plan, out, ledger, config, dry_run, operator)


@flow(name="tfclaims-spot-check", validate_parameters=True, persist_result=False)
def spot_check(claim_dir: str, out: str | None = None, seed: int | None = None, config: str | None = None,
               operator: str | None = None) -> dict[str, Any]:
    """The internal-audit sample of a claim run and the auditor's workbook.

    Args:
        claim_dir: The output folder of a claim run.
        out: Folder for the sample and the workbook; blank means the claim run's folder.
        seed: The sample's seed (to draw the same sample again); blank draws one and records it.
        config: The council config file; blank means the workspace's council.yaml.
        operator: Who runs this, as the audit trail records it.
    """
    opts = SpotCheckOptions.of(**{"--claim-dir": claim_dir, "--out": _text(out), "--seed": seed, "--config": _text(config),
                                  "--operator": _text(operator)})
    _name_run(opts.run_id)
    return run_command(lambda step: pipeline.spot_check(opts, step=step), spot_check_artifacts(opts))


@flow(name="tfclaims-reconcile", validate_parameters=True, persist_result=False)
def reconcile(verdicts: str, ledger: str | None = None, out: str | None = None, config: str | None = None,
              operator: str | None = None) -> dict[str, Any]:
    """The auditor's completed workbook back into the ledger: verdicts recorded, invalid claims withdrawn.

    Args:
        verdicts: The auditor's completed spot_check.xlsx.
        ledger: The claims ledger; blank means the workspace's.
        out: Folder for reconciliation.csv and reconciliation.json; blank means reports/<run id> in the workspace.
        config: The council config file; blank means the workspace's council.yaml.
        operator: Who reconciles, as the audit trail records it.
    """
    opts = ReconcileOptions.of(**{"--verdicts": verdicts, "--ledger": _text(ledger), "--out": _text(out), "--config": _text(config),
                                  "--operator": _text(operator)})
    _name_run(opts.run_id)
    result = run_command(lambda step: pipeline.reconcile(opts, step=step), reconcile_artifacts(opts))
    return result[0].summary() | {"open_queries": len(result[0].open_queries)}  # counts only: the notes stay in the files


# deployment name -> flow, as `tfclaims serve` publishes them
DEPLOYED = {"run": run, "claim": claim, "spot-check": spot_check, "reconcile": reconcile}
