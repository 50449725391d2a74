"""Test helpers: a claim run's record in the audit trail, as ``ledger approve`` looks for it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from tfclaims.audit import trail as audit

DECISION_PERIOD = dt.date(2020, 3, 31)


def record_claim_run(audit_path: Path, out: Path, reasons: dict[str, str], *, framework: str = "tf-phase2",
                     status_ok: bool = True) -> str:
    """Write ``out/claim_decisions.csv`` (family -> reason, all ``no_claim``) and append the claim run that wrote it."""
    out.mkdir(parents=True, exist_ok=True)
    decisions = pd.DataFrame({
        "family_id": list(reasons), "period_end": DECISION_PERIOD.isoformat(), "decision": "no_claim", "route": "",
        "reason": list(reasons.values()), "detail": "",
    })
    path = out / "claim_decisions.csv"
    try:
        with audit.run_record("claim", {"framework": framework, "out": str(out), "dry_run": True},
                              audit_path=audit_path, key="test-key") as rec:
            decisions.to_csv(path, index=False)
            rec.output(path)
            if not status_ok:
                raise RuntimeError("the run failed after writing its decisions")
    except RuntimeError:
        pass
    return rec.run_id


def run_cli(capsys: Any, *args: str) -> tuple[int, str, str]:
    """``tfclaims ARGS`` in this process: (exit code, stdout, stderr)."""
    from tfclaims.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def answer_spot_check(workbook: Path, *, invalid_note: str = "no action plan on file") -> str:
    """Fill the auditor's cells of every sampled claim in ``workbook`` as an auditor would: the
    first claim invalid (with ``invalid_note``), the others valid; returns the invalid claim's reference."""
    import openpyxl

    from tfclaims.spot_check.layout import AUDITOR_COLUMNS, COLUMN_LETTER

    book = openpyxl.load_workbook(workbook)
    ws = book["Sample"]
    n = sum(1 for r in range(2, ws.max_row + 1) if ws[f"A{r}"].value)
    for r in range(2, n + 2):
        verdict = ("N", "Y", "Y", "invalid", invalid_note) if r == 2 else ("Y", "Y", "Y", "valid", None)
        for name, value in zip(AUDITOR_COLUMNS, (*verdict, "J. Auditor", dt.date(2020, 4, 20)), strict=True):
            ws[f"{COLUMN_LETTER[name]}{r}"] = value
    invalid = str(ws["A2"].value)
    book.save(workbook)
    return invalid
