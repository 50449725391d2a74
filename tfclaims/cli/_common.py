"""Options and helpers shared by the command modules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tfclaims.core.errors import InputError
from tfclaims.core.workspace import require_workspace

InputOpt = Annotated[Path, typer.Option("--input", help="A cohort folder (.csv/.xlsx files) or one .xlsx workbook.")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Output folder (default reports/<run_id>/).")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="The council config file (YAML): column aliases, reference key, allocation, ...")]
FrameworkOpt = Annotated[Optional[str], typer.Option("--framework", help="Outcome framework: tf-phase2 (default), sf-2022, or a framework file.")]
PlanOpt = Annotated[Optional[Path], typer.Option("--plan", help="A local outcome plan file that extends the framework.")]
AuditOpt = Annotated[Optional[Path], typer.Option("--audit", help="The audit trail (default: audit.jsonl beside the ledger, or reports/audit.jsonl).")]
OperatorOpt = Annotated[Optional[str], typer.Option("--operator", help="Who runs this (default: your user name).")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Fail (exit 2) if any row is quarantined.")]
LinkDecisionsOpt = Annotated[Optional[Path], typer.Option("--link-decisions", help="Clerical link decisions (CSV: table, file, sheet, row, person_id).")]


def resolve_out(out: Path | None, run_id: str) -> Path:
    return Path(out) if out is not None else require_workspace().run_dir(run_id)


def parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} {value!r}: give a date as YYYY-MM-DD") from None


def print_counts(tables: dict[str, Any]) -> None:
    """Per-table counts: read = accepted + quarantined; accepted = used + unmatched."""
    print(f"{'table':<20}{'read':>9}{'accepted':>10}{'quarantined':>13}{'unmatched':>11}")
    for table, c in tables.items():
        print(f"{table:<20}{c['read']:>9}{c['accepted']:>10}{c['quarantined']:>13}{c.get('unmatched', 0):>11}")


def print_outputs(out: Path, summary: dict[str, Any]) -> None:
    print(f"\noutputs in {out}:")
    for f in summary.get("outputs", []):
        if not f["name"].startswith("accepted/") and f["name"] != "run_summary.json":
            recipient = f" (for {f['recipient']})" if f.get("recipient") else ""
            print(f"  {f['name']}{recipient}")
    print("  accepted/*.parquet (the accepted tables, for later stages)")
    print("  run_summary.json")
