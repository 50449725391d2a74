"""Prefect flows: the claim for a period end (``tfclaims claim``) and the whole pipeline (``run``, ``demo``)."""

from typing import Any

from prefect import flow

from tfclaims import pipeline
from tfclaims.artifacts import summary_artifacts
from tfclaims.flows._prefect import run_command
from tfclaims.options import ClaimOptions, DemoOptions, RunOptions


@flow(name="tfclaims-claim", flow_run_name="{opts.run_id}", validate_parameters=False, persist_result=False)
def claim_flow(opts: ClaimOptions) -> dict[str, Any]:
    return run_command(lambda step: pipeline.claim(opts, step=step).summary, summary_artifacts(opts))


@flow(name="tfclaims-run", flow_run_name="{opts.run_id}", validate_parameters=False, persist_result=False)
def run_flow(opts: RunOptions) -> dict[str, Any]:
    return run_command(lambda step: pipeline.run(opts, step=step).summary, summary_artifacts(opts))


@flow(name="tfclaims-demo", flow_run_name="{opts.run_id}", validate_parameters=False, persist_result=False)
def demo_flow(opts: DemoOptions) -> dict[str, Any]:
    return run_command(lambda step: pipeline.demo(opts, step=step).summary, summary_artifacts(opts))
