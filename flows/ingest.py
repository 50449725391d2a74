"""Prefect flow: ingest and validate a cohort (``tfclaims validate``)."""

from pathlib import Path
from typing import Any

from prefect import flow

from flows._prefect import prefect_step
from tfclaims import pipeline
from tfclaims.config import load_config


@flow(name="tfclaims-validate", log_prints=False)
def validate_flow(input_path: Path, out: Path, config_path: Path | None = None, strict: bool = False, run_id: str | None = None) -> dict[str, Any]:
    """Read every table, validate it (one task per table), quarantine bad rows, write the report."""
    outcome = pipeline.validate(input_path, out, config=load_config(config_path), strict=strict, step=prefect_step, run_id=run_id)
    return {t: v for t, v in outcome.summary["tables"].items()}
