"""Prefect flow: outcomes of attached families at a date (``tfclaims track``)."""

import datetime as dt
from pathlib import Path
from typing import Optional

from prefect import flow

from tfclaims.flows._params import options
from tfclaims.flows._prefect import prefect_step
from tfclaims import pipeline


@flow(name="tfclaims-track")
def track_flow(input_path: Path, out: Path, as_of: dt.date, run_id: str, framework: Optional[str] = None, plan: Optional[Path] = None,
               config_path: Optional[Path] = None, audit_path: Optional[Path] = None, operator: Optional[str] = None,
               link_decisions: Optional[Path] = None) -> int:
    opts = options(input_path, out, config_path, framework, plan, audit_path, operator, False, link_decisions, run_id)
    return pipeline.track(opts, as_of, step=prefect_step).summary["attached_families"]
