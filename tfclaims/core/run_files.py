"""The names of the files a run writes into its output folder, in one place.

The stages that write a file and the ones that read it back (the spot check reads a claim run's
folder; ``reconcile`` reads the auditor's workbook) use these names, never their own literals.
"""

from __future__ import annotations

__all__ = [
    "RUN_OUTPUTS",
    "RETURNS_FINDINGS_CSV",
    "RETURNS_LEFT_OUT_CSV",
    "WORKBOOK_MAX_ROWS",
    "CLAIM_DECISIONS_CSV",
    "CLAIM_DECISIONS_XLSX",
    "CLAIM_FILE_CSV",
    "CLAIM_REGISTER_CSV",
    "ELIGIBILITY_CSV",
    "ELIGIBILITY_EVIDENCE_CSV",
    "ELIGIBILITY_EXCLUSIONS_CSV",
    "ELIGIBILITY_XLSX",
    "FORECAST_CSV",
    "FORECAST_BLOCKERS_CSV",
    "FORECAST_WINDOWS_CSV",
    "FORECAST_XLSX",
    "NEAR_MISSES_CSV",
    "PLAN_DIFFERENCES_CSV",
    "PLAN_TOTALS_CSV",
    "PLAN_COMPARISON_XLSX",
    "FAMILIES_CSV",
    "FINANCE_SUMMARY_XLSX",
    "FINANCE_SUMMARY_DRAFT_XLSX",
    "finance_summary_name",
    "OUTCOMES_CSV",
    "OUTCOMES_XLSX",
    "OUTCOME_EVIDENCE_CSV",
    "RECONCILIATION_CSV",
    "RECONCILIATION_JSON",
    "REPORT_HTML",
    "RUN_SUMMARY_JSON",
    "SPOT_CHECK_SAMPLE_CSV",
    "SPOT_CHECK_XLSX",
    "UNMATCHED_CSV",
    "VALIDATION_ERRORS_CSV",
    "VALIDATION_ERRORS_XLSX",
]

# ingest and link
VALIDATION_ERRORS_CSV = "validation_errors.csv"
VALIDATION_ERRORS_XLSX = "validation_errors.xlsx"
UNMATCHED_CSV = "unmatched.csv"
# only when the cohort folder holds CIN census or SSDA903 files: what of them is not a row, and why
RETURNS_LEFT_OUT_CSV = "returns_left_out.csv"
RETURNS_FINDINGS_CSV = "returns_findings.csv"  # values breaking the returns' published schema (reported, read on)

# identify and track
ELIGIBILITY_CSV = "eligibility.csv"
ELIGIBILITY_XLSX = "eligibility.xlsx"
ELIGIBILITY_EVIDENCE_CSV = "eligibility_evidence.csv"
ELIGIBILITY_EXCLUSIONS_CSV = "eligibility_exclusions.csv"  # only when the plan has eligibility.exclude_when
OUTCOMES_CSV = "outcomes.csv"
OUTCOMES_XLSX = "outcomes.xlsx"
OUTCOME_EVIDENCE_CSV = "outcome_evidence.csv"
FAMILIES_CSV = "families.csv"

# claim
CLAIM_DECISIONS_CSV = "claim_decisions.csv"
CLAIM_DECISIONS_XLSX = "claim_decisions.xlsx"
CLAIM_FILE_CSV = "claim_file.csv"
CLAIM_REGISTER_CSV = "claim_register.csv"
FINANCE_SUMMARY_XLSX = "finance_summary.xlsx"
FINANCE_SUMMARY_DRAFT_XLSX = "finance_summary.DRAFT.xlsx"  # a dry run's: its name says it is not for submission


def finance_summary_name(dry_run: bool) -> str:
    return FINANCE_SUMMARY_DRAFT_XLSX if dry_run else FINANCE_SUMMARY_XLSX

# a table longer than this gets no workbook, only its CSV: a workbook nobody can open is not worth writing
WORKBOOK_MAX_ROWS = 100_000

# forecast and compare-plans (look-aheads: they claim nothing)
FORECAST_CSV = "forecast.csv"
FORECAST_BLOCKERS_CSV = "forecast_blockers.csv"
FORECAST_WINDOWS_CSV = "forecast_windows.csv"
NEAR_MISSES_CSV = "near_misses.csv"
FORECAST_XLSX = "forecast.xlsx"
PLAN_DIFFERENCES_CSV = "plan_differences.csv"
PLAN_TOTALS_CSV = "plan_totals.csv"
PLAN_COMPARISON_XLSX = "plan_comparison.xlsx"

# every command
RUN_SUMMARY_JSON = "run_summary.json"
REPORT_HTML = "report.html"  # the run report for people (tfclaims.report): counts and plots, no personal data

# spot check and reconcile
SPOT_CHECK_SAMPLE_CSV = "spot_check_sample.csv"
SPOT_CHECK_XLSX = "spot_check.xlsx"
RECONCILIATION_CSV = "reconciliation.csv"
RECONCILIATION_JSON = "reconciliation.json"

# what marks a folder as holding a run's outputs: a new run never writes into such a folder
RUN_OUTPUTS = (
    RUN_SUMMARY_JSON, VALIDATION_ERRORS_CSV, UNMATCHED_CSV, ELIGIBILITY_CSV, OUTCOMES_CSV, CLAIM_DECISIONS_CSV,
    CLAIM_FILE_CSV, CLAIM_REGISTER_CSV, FINANCE_SUMMARY_XLSX, FINANCE_SUMMARY_DRAFT_XLSX, RECONCILIATION_CSV,
    FORECAST_CSV, PLAN_DIFFERENCES_CSV,
)
