"""Prefect flow: eligible families at a date (``tfclaims identify``)."""

from typing import Any

from prefect import flow

from tfclaims import pipeline
from tfclaims.artifacts import summary_artifacts
from tfclaims.flows._prefect import run_command
from tfclaims.options import IdentifyOptions


@flow(name="tfclaims-identify", flow_run_name="{opts.run_id}", validate_parameters=False, persist_result=False)
def identify_flow(opts: IdentifyOptions) -> dict[str, Any]:
    return run_command(lambda step: pipeline.identify(opts, step=step).summary, summary_artifacts(opts))
