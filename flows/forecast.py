"""Prefect flows: looking ahead (``tfclaims forecast``) and comparing plans (``tfclaims compare-plans``)."""

from typing import Any

from prefect import flow

from tfclaims import pipeline
from tfclaims.artifacts import summary_artifacts
from tfclaims.flows._prefect import run_command
from tfclaims.options import ComparePlansOptions, ForecastOptions


@flow(name="tfclaims-forecast", flow_run_name="{opts.run_id}", validate_parameters=False, persist_result=False)
def forecast_flow(opts: ForecastOptions) -> dict[str, Any]:
    return run_command(lambda step: pipeline.forecast(opts, step=step).summary, summary_artifacts(opts))


@flow(name="tfclaims-compare-plans", flow_run_name="{opts.run_id}", validate_parameters=False, persist_result=False)
def compare_plans_flow(opts: ComparePlansOptions) -> dict[str, Any]:
    return run_command(lambda step: pipeline.compare_plans(opts, step=step).summary, summary_artifacts(opts))
