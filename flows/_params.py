"""Turning a flow's plain parameters (paths, dates, switches) into the pipeline's options."""

import datetime as dt
from pathlib import Path
from typing import Optional

from tfclaims.core.config import load_config
from tfclaims.pipeline import ClaimOptions, Options, SampleOptions


def options(input_path: Path, out: Path, config_path: Optional[Path], framework: Optional[str], plan: Optional[Path],
            audit_path: Optional[Path], operator: Optional[str], strict: bool, link_decisions: Optional[Path], run_id: str) -> Options:
    return Options(input_path=Path(input_path), out=Path(out), config=load_config(config_path), framework=framework, plan=plan,
                   audit_path=audit_path, operator=operator, strict=strict, link_decisions=link_decisions, run_id=run_id)


__all__ = ["options", "ClaimOptions", "SampleOptions", "dt"]
