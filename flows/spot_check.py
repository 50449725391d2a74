"""Prefect flow: the internal-audit sample and auditor workbook of a claim run (``tfclaims spot-check``)."""

from pathlib import Path
from typing import Any, Optional

from prefect import flow

from tfclaims import pipeline
from tfclaims.core.config import load_config


@flow(name="tfclaims-spot-check")
def spot_check_flow(claim_dir: Path, out: Path, run_id: str, rate: Optional[float] = None, min_n: Optional[int] = None,
                    seed: Optional[int] = None, config_path: Optional[Path] = None, audit_path: Optional[Path] = None,
                    operator: Optional[str] = None) -> dict[str, Any]:
    return pipeline.spot_check(claim_dir, out, pipeline.SampleOptions(rate, min_n, seed), config=load_config(config_path),
                               audit_path=audit_path, operator=operator, run_id=run_id)
