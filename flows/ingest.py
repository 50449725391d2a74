"""Prefect flow: ingest and validate a cohort (``tfclaims validate``)."""

from pathlib import Path
from typing import Any, Optional

from prefect import flow

from tfclaims.flows._params import options
from tfclaims.flows._prefect import prefect_step
from tfclaims import pipeline


@flow(name="tfclaims-validate")
def validate_flow(input_path: Path, out: Path, run_id: str, config_path: Optional[Path] = None, strict: bool = False,
                  audit_path: Optional[Path] = None, operator: Optional[str] = None) -> dict[str, Any]:
    """Read every table, validate it (one task per table), quarantine bad rows, write the report."""
    opts = options(input_path, out, config_path, None, None, audit_path, operator, strict, None, run_id)
    return pipeline.validate(opts, step=prefect_step).summary["tables"]
