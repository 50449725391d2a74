"""Prefect flow: outcomes of attached families at a date (``tfclaims track``)."""

from typing import Any

from prefect import flow

from tfclaims import pipeline
from tfclaims.flows._prefect import prefect_step
from tfclaims.options import TrackOptions


@flow(name="tfclaims-track", flow_run_name="{opts.run_id}", validate_parameters=False)
def track_flow(opts: TrackOptions) -> dict[str, Any]:
    return pipeline.track(opts, step=prefect_step).summary
