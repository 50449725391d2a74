"""Prefect flows: the claim for a period end (``tfclaims claim``) and the whole pipeline (``run``, ``demo``)."""

from typing import Any

from prefect import flow

from tfclaims import pipeline
from tfclaims.flows._prefect import prefect_step
from tfclaims.options import ClaimOptions, DemoOptions, RunOptions


@flow(name="tfclaims-claim", flow_run_name="{opts.run_id}", validate_parameters=False)
def claim_flow(opts: ClaimOptions) -> dict[str, Any]:
    return pipeline.claim(opts, step=prefect_step).summary


@flow(name="tfclaims-run", flow_run_name="{opts.run_id}", validate_parameters=False)
def run_flow(opts: RunOptions) -> dict[str, Any]:
    return pipeline.run(opts, step=prefect_step).summary


@flow(name="tfclaims-demo", flow_run_name="{opts.run_id}", validate_parameters=False)
def demo_flow(opts: DemoOptions) -> dict[str, Any]:
    return pipeline.demo(opts, step=prefect_step).summary
