"""Spot check: the reproducible internal-audit sample, the auditor's workbook, and reconciling the
auditor's verdicts back into the ledger."""
