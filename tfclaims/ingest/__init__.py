"""Ingest: read a cohort (CSV files and/or one workbook), type it, validate it with the pandera
models of ``tfclaims.schemas``, and quarantine every bad row with its reason."""
