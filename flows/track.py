"""Prefect flow: outcomes of attached families at a date (``tfclaims track``)."""

from typing import Any

from prefect import flow

from tfclaims import pipeline
from tfclaims.artifacts import summary_artifacts
from tfclaims.flows._prefect import run_command
from tfclaims.options import TrackOptions


@flow(name="tfclaims-track", flow_run_name="{opts.run_id}", validate_parameters=False, persist_result=False)
def track_flow(opts: TrackOptions) -> dict[str, Any]:
    return run_command(lambda step: pipeline.track(opts, step=step).summary, summary_artifacts(opts))
