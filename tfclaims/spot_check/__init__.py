"""Internal-audit spot checks: the sample, the auditor's workbook, and reconciling the verdicts.

Three steps, each a plain function (no Prefect here):

1. ``draw_sample(register, rate, min_n, seed)`` (module ``sample``): a reproducible sample of the
   claims of one claim run, stratified by route, every ``discretionary`` claim on top.
2. ``write_workbook(claim_dir, sample, out)`` (module ``workbook``): ``spot_check.xlsx`` with sheets
   Sample, Evidence, Method and Checklist. Only the auditor's cells on Sample are unlocked; a very
   hidden ``_control`` sheet keeps a hash of every locked cell of every sampled row (module
   ``layout``), so edits are caught on return. ``check_workbook_not_started(out)`` refuses to replace
   a workbook in which an auditor has begun filling in verdicts.
3. ``read_verdicts(path)`` then ``reconcile(verdicts, ledger, by)`` (module ``reconcile``): every
   problem in the returned workbook is an ``InputError`` naming its cell, raised before anything is
   written to the ledger; then each verdict is recorded and each ``invalid`` claim withdrawn (which
   puts the family on audit hold). Reconciling the same workbook again changes nothing.

``load_claim_dir`` (module ``claim_dir``) reads the claim run's folder that steps 1 and 2 use.
"""

from tfclaims.spot_check.claim_dir import ClaimDir, load_claim_dir
from tfclaims.spot_check.reconcile import ReconcileResult, read_verdicts, reconcile, wilson_interval, write_reconciliation
from tfclaims.spot_check.sample import (
    DEFAULT_MIN,
    DEFAULT_RATE,
    SampleResult,
    allocate_largest_remainder,
    draw_sample,
    reproduce_command,
    sample_size,
    write_sample_csv,
)
from tfclaims.spot_check.workbook import SpotCheckRun, check_workbook_not_started, run_spot_check, write_workbook

__all__ = [
    "DEFAULT_MIN",
    "DEFAULT_RATE",
    "ClaimDir",
    "ReconcileResult",
    "SampleResult",
    "SpotCheckRun",
    "allocate_largest_remainder",
    "check_workbook_not_started",
    "draw_sample",
    "load_claim_dir",
    "read_verdicts",
    "reconcile",
    "reproduce_command",
    "run_spot_check",
    "sample_size",
    "wilson_interval",
    "write_reconciliation",
    "write_sample_csv",
    "write_workbook",
]
