"""The flows an analyst starts from the Prefect UI (``tfclaims serve``): run, claim, spot-check,
reconcile, and the claim of each claim window on the council config's schedule.

Each takes typed parameters, so the UI's form shows the period end as a date picker, the framework
as a list, switches as switches and paths as text boxes (a blank text box is the command line's
default; no parameter is "optional" in a way the form would show as a type to pick). Each builds
the same options object as the command line (``tfclaims.options``: every check of the command line
applies, and a bad value fails the run with the same message), names its flow run by the tfclaims
run id and runs the same body as the command's own flow. No parameter is a frame or names a family.
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

__all__ = ["DEPLOYED", "SCHEDULED", "FrameworkChoice", "claim", "claim_window", "last_month_end", "reconcile", "run", "spot_check"]

COUNCIL_FRAMEWORK = "the council config's"
FrameworkChoice = Enum(  # type: ignore[misc]
    "FrameworkChoice", {"council_config": COUNCIL_FRAMEWORK, **{n.replace("-", "_"): n for n in list_frameworks()}}, type=str)


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
    """A form's value as the command line takes it: blank (or the council config's framework) is the default."""
    if isinstance(v, Enum):
        v = v.value
    return None if v is None or v == "" or v == COUNCIL_FRAMEWORK else str(v)


COHORT_PARAMETERS = """

    Args:
        input: The cohort: a folder of .csv/.xlsx files (e.g. cohort/ in the workspace).
        period_end: The last day of the claim window.
        framework: The outcome framework: the council config's, or a built-in one.
        plan: A local outcome plan file that extends the framework (optional).
        out: Folder for this run's outputs; blank means a folder under reports/ in the workspace, named by the run id.
        ledger: The claims ledger (a SQLite file or a postgresql:// URL); blank means the workspace's.
        config: The council config file; blank means the workspace's council.yaml.
        dry_run: Decide and write the files without recording any claim in the ledger.
        operator: Who runs this, as the audit trail records it.
    """


def _cohort_parameters(fn: Any) -> Any:
    """The form's help for the parameters of a flow over a cohort (Prefect reads it from the docstring)."""
    fn.__doc__ = (fn.__doc__ or "").rstrip() + COHORT_PARAMETERS
    return fn


def _from_form(model: Any, values: dict[str, Any], command: Any, artifacts: Any) -> Any:
    """The body of every flow started from the UI: the form's values (by option name) as the command
    line's options object, the flow run named by its run id, the command's own flow body."""
    opts = model.of(**{k: v if isinstance(v, bool | int) else _text(v) for k, v in values.items()})
    _name_run(opts.run_id)
    return run_command(lambda step: command(opts, step=step), artifacts(opts))


def _summary_of(command: Any) -> Any:
    return lambda opts, step: command(opts, step=step).summary


def _claim_run(model: Any, command: Any, input: str, period_end: dt.date, framework: Any, plan: str, out: str, ledger: str,
               config: str, dry_run: bool, operator: str) -> dict[str, Any]:
    """The body of the run and claim flows."""
    return _from_form(model, {"--input": input, "--period-end": period_end.isoformat(), "--framework": framework, "--plan": plan,
                              "--out": out, "--ledger": ledger, "--config": config, "--operator": operator, "--dry-run": dry_run},
                      _summary_of(command), summary_artifacts)


@flow(name="tfclaims-run", validate_parameters=True, persist_result=False)
@_cohort_parameters
def run(input: str, period_end: dt.date, framework: FrameworkChoice = FrameworkChoice.council_config, plan: str = "",
        out: str = "", ledger: str = "", config: str = "", dry_run: bool = False, operator: str = "") -> dict[str, Any]:
    """The whole pipeline on a cohort folder: validate, link, identify, track, claim, spot-check."""
    return _claim_run(RunOptions, pipeline.run, input, period_end, framework, plan, out, ledger, config, dry_run, operator)


@flow(name="tfclaims-claim", validate_parameters=True, persist_result=False)
@_cohort_parameters
def claim(input: str, period_end: dt.date, framework: FrameworkChoice = FrameworkChoice.council_config, plan: str = "",
          out: str = "", ledger: str = "", config: str = "", dry_run: bool = False, operator: str = "") -> dict[str, Any]:
    """The claim for a period end: decisions, the claim file and the finance summary."""
    return _claim_run(ClaimOptions, pipeline.claim, input, period_end, framework, plan, out, ledger, config, dry_run, operator)


@flow(name="tfclaims-claim", validate_parameters=True, persist_result=False)
def claim_window(input: str, dry_run: bool = True) -> dict[str, Any]:
    """The claim of the claim window just ended (started on the council config's claim_schedule): the
    period end is the last day of the month before the run.

    Args:
        input: The cohort folder the scheduled run reads.
        dry_run: A dry run (the default): a person checks the draft, then runs the real claim.
    """
    return _claim_run(ClaimOptions, pipeline.claim, input, last_month_end(), FrameworkChoice.council_config, "", "", "", "",
                      dry_run, "")


@flow(name="tfclaims-spot-check", validate_parameters=True, persist_result=False)
def spot_check(claim_dir: str, out: str = "", seed: int = 0, config: str = "", operator: str = "") -> dict[str, Any]:
    """The internal-audit sample of a claim run and the auditor's workbook.

    Args:
        claim_dir: The output folder of a claim run.
        out: Folder for the sample and the workbook; blank means the claim run's folder.
        seed: The sample's seed, to draw the same sample again; 0 draws one at random and records it.
        config: The council config file; blank means the workspace's council.yaml.
        operator: Who runs this, as the audit trail records it.
    """
    return _from_form(SpotCheckOptions, {"--claim-dir": claim_dir, "--out": out, "--seed": seed or None, "--config": config,
                                         "--operator": operator}, pipeline.spot_check, spot_check_artifacts)


@flow(name="tfclaims-reconcile", validate_parameters=True, persist_result=False)
def reconcile(verdicts: str, ledger: str = "", out: str = "", config: str = "", operator: str = "") -> dict[str, Any]:
    """The auditor's completed workbook back into the ledger: verdicts recorded, invalid claims withdrawn.

    Args:
        verdicts: The auditor's completed spot_check.xlsx.
        ledger: The claims ledger; blank means the workspace's.
        out: Folder for reconciliation.csv and reconciliation.json; blank means a folder under reports/ in the workspace, named by the run id.
        config: The council config file; blank means the workspace's council.yaml.
        operator: Who reconciles, as the audit trail records it.
    """
    result = _from_form(ReconcileOptions, {"--verdicts": verdicts, "--ledger": ledger, "--out": out, "--config": config,
                                           "--operator": operator}, pipeline.reconcile, reconcile_artifacts)
    return result[0].summary() | {"open_queries": len(result[0].open_queries)}  # counts only: the notes stay in the files


# deployment name -> flow, as `tfclaims serve` publishes them (and the scheduled one, with a claim_schedule)
DEPLOYED = {"run": run, "claim": claim, "spot-check": spot_check, "reconcile": reconcile}
SCHEDULED = ("claim-window", claim_window)
