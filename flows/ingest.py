"""Prefect flow: ingest and validate a cohort (``tfclaims validate``)."""

from typing import Any

from prefect import flow

from tfclaims import pipeline
from tfclaims.flows._prefect import prefect_step
from tfclaims.options import ValidateOptions


@flow(name="tfclaims-validate", flow_run_name="{opts.run_id}", validate_parameters=False)
def validate_flow(opts: ValidateOptions) -> dict[str, Any]:
    """Read every table, validate it (one task per table), quarantine bad rows, write the report."""
    return pipeline.validate(opts, step=prefect_step).summary
