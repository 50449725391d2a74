"""Prefect flows: the claim for a period end (``tfclaims claim``) and the whole pipeline (``run``, ``demo``)."""

import datetime as dt
from pathlib import Path
from typing import Optional

from prefect import flow

from tfclaims.flows._params import ClaimOptions, SampleOptions, options
from tfclaims.flows._prefect import prefect_step
from tfclaims import pipeline


@flow(name="tfclaims-claim")
def claim_flow(input_path: Path, out: Path, period_end: dt.date, run_id: str, ledger: Optional[str] = None, framework: Optional[str] = None,
               plan: Optional[Path] = None, allocation: Optional[int] = None, dry_run: bool = False, config_path: Optional[Path] = None,
               audit_path: Optional[Path] = None, operator: Optional[str] = None, strict: bool = False,
               link_decisions: Optional[Path] = None, window_start: Optional[dt.date] = None) -> int:
    opts = options(input_path, out, config_path, framework, plan, audit_path, operator, strict, link_decisions, run_id)
    outcome = pipeline.claim(opts, ClaimOptions(period_end, ledger, allocation, dry_run, window_start), step=prefect_step)
    return outcome.summary["claims"]


@flow(name="tfclaims-run")
def run_flow(input_path: Path, out: Path, period_end: dt.date, run_id: str, ledger: Optional[str] = None, framework: Optional[str] = None,
             plan: Optional[Path] = None, allocation: Optional[int] = None, dry_run: bool = False, sample_rate: Optional[float] = None,
             sample_min: Optional[int] = None, seed: Optional[int] = None, config_path: Optional[Path] = None,
             audit_path: Optional[Path] = None, operator: Optional[str] = None, strict: bool = False,
             link_decisions: Optional[Path] = None, window_start: Optional[dt.date] = None) -> int:
    opts = options(input_path, out, config_path, framework, plan, audit_path, operator, strict, link_decisions, run_id)
    outcome = pipeline.run(opts, ClaimOptions(period_end, ledger, allocation, dry_run, window_start), SampleOptions(sample_rate, sample_min, seed),
                           step=prefect_step)
    return outcome.summary["claims"]


@flow(name="tfclaims-demo")
def demo_flow(out: Optional[Path] = None, operator: Optional[str] = None) -> int:
    return pipeline.demo(out, step=prefect_step, operator=operator).summary["claims"]
