"""Prefect flows: the internal-audit sample and auditor workbook of a claim run (``tfclaims spot-check``)
and the auditor's verdicts back into the ledger (``tfclaims reconcile``)."""

from typing import Any

from prefect import flow

from tfclaims import pipeline
from tfclaims.options import ReconcileOptions, SpotCheckOptions


@flow(name="tfclaims-spot-check", flow_run_name="{opts.run_id}", validate_parameters=False)
def spot_check_flow(opts: SpotCheckOptions) -> dict[str, Any]:
    return pipeline.spot_check(opts)


@flow(name="tfclaims-reconcile", flow_run_name="{opts.run_id}", validate_parameters=False)
def reconcile_flow(opts: ReconcileOptions) -> Any:
    return pipeline.reconcile(opts)
