"""``tfclaims spot-check`` and ``tfclaims reconcile``: the internal-audit sample and the auditor's verdicts."""

from __future__ import annotations

from tfclaims.core import run_files
from tfclaims.cli import app
from tfclaims.cli._common import execute, options_command
from tfclaims.options import ReconcileOptions, SpotCheckOptions


@options_command(app, "spot-check", SpotCheckOptions)
def spot_check_command(opts: SpotCheckOptions) -> None:
    """Draw the internal-audit sample of a claim run and write the auditor's workbook."""
    facts = execute(opts)
    how = "drawn at random" if facts["seed_generated"] else "given"
    print(f"seed: {facts['seed']} ({how}; recorded in the workbook, sheet Method, and in the audit trail)")
    print(f"population: {facts['population']} claims; sample: {facts['sampled']} drawn"
          f" + {facts['discretionary']} discretionary = {facts['sampled'] + facts['discretionary']} to check")
    print(f"reproduce with: {facts['reproduce']}")
    print(f"auditor workbook: {facts['workbook']}")
    print(f"sample: {opts.out / run_files.SPOT_CHECK_SAMPLE_CSV}")


@options_command(app, "reconcile", ReconcileOptions)
def reconcile_command(opts: ReconcileOptions) -> None:
    """Read the auditor's verdicts back: record them in the ledger and withdraw invalid claims."""
    result, csv_path, json_path, reissued = execute(opts)
    print(result.text())
    print(f"reconciliation: {csv_path}")
    print(f"summary: {json_path}")
    for r in reissued:
        print(r.message())
