"""``tfclaims validate``."""

from __future__ import annotations

from pathlib import Path

from tfclaims.cli import app
from tfclaims.cli._common import execute, options_command, print_counts, print_outputs
from tfclaims.options import ValidateOptions


@options_command(app, "validate", ValidateOptions)
def validate_command(opts: ValidateOptions) -> None:
    """Read and validate a cohort: bad rows quarantined with a row-level report (validation_errors.csv/.xlsx)."""
    summary = execute(opts)
    print_counts(summary)
    print_outputs(Path(opts.out), summary)
