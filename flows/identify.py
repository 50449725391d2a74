"""Prefect flow: eligible families at a date (``tfclaims identify``)."""

from typing import Any

from prefect import flow

from tfclaims import pipeline
from tfclaims.flows._prefect import prefect_step
from tfclaims.options import IdentifyOptions


@flow(name="tfclaims-identify", flow_run_name="{opts.run_id}", validate_parameters=False)
def identify_flow(opts: IdentifyOptions) -> dict[str, Any]:
    return pipeline.identify(opts, step=prefect_step).summary
