"""Prefect flow: ingest and validate a cohort (``tfclaims validate``)."""

from typing import Any

from prefect import flow

from tfclaims import pipeline
from tfclaims.artifacts import summary_artifacts
from tfclaims.flows._prefect import run_command
from tfclaims.options import ValidateOptions


@flow(name="tfclaims-validate", flow_run_name="{opts.run_id}", validate_parameters=False, persist_result=False)
def validate_flow(opts: ValidateOptions) -> dict[str, Any]:
    """Read every table, validate it (one task per table), quarantine bad rows, write the report."""
    return run_command(lambda step: pipeline.validate(opts, step=step).summary, summary_artifacts(opts))
