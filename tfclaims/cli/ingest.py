"""``tfclaims validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tfclaims.cli import app
from tfclaims.cli._common import print_counts, resolve_out
from tfclaims.config import load_config
from tfclaims.orchestration import use_prefect
from tfclaims.pipeline import new_run_id, validate


@app.command("validate")
def validate_command(
    input: Annotated[Path, typer.Option("--input", help="A cohort folder (.csv/.xlsx files) or one .xlsx workbook.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default reports/<run_id>/).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 2) if any row is quarantined.")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", help="Council config file (YAML).")] = None,
) -> None:
    """Read and validate a cohort: quarantine bad rows with a row-level report."""
    run_id = new_run_id()
    out = resolve_out(out, run_id)
    if use_prefect():
        from flows.ingest import validate_flow

        validate_flow(input, out, config, strict, run_id)
        summary_tables = None
    else:
        summary_tables = validate(input, out, config=load_config(config), strict=strict, run_id=run_id).summary["tables"]
    print_counts(out, summary_tables)
