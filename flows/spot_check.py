"""Prefect flows: the internal-audit sample and auditor workbook of a claim run (``tfclaims spot-check``)
and the auditor's verdicts back into the ledger (``tfclaims reconcile``)."""

from typing import Any

from prefect import flow

from tfclaims import pipeline
from tfclaims.artifacts import reconcile_artifacts, spot_check_artifacts
from tfclaims.flows._prefect import run_command
from tfclaims.options import ReconcileOptions, SpotCheckOptions


@flow(name="tfclaims-spot-check", flow_run_name="{opts.run_id}", validate_parameters=False, persist_result=False)
def spot_check_flow(opts: SpotCheckOptions) -> dict[str, Any]:
    return run_command(lambda step: pipeline.spot_check(opts, step=step), spot_check_artifacts(opts))


@flow(name="tfclaims-reconcile", flow_run_name="{opts.run_id}", validate_parameters=False, persist_result=False)
def reconcile_flow(opts: ReconcileOptions) -> Any:
    return run_command(lambda step: pipeline.reconcile(opts, step=step), reconcile_artifacts(opts))
