"""Each command as a plain function: the order of stages and the files they write.

Every function takes ``step`` (``tfclaims.orchestration``): ``direct`` runs it as plain Python,
``flows/`` passes a step that makes each table-level call a Prefect task.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import tfclaims
import tfclaims.cohort
from tfclaims.config import CouncilConfig
from tfclaims.errors import InputError
from tfclaims.ingest import IngestResult, ingest
from tfclaims.orchestration import Step, direct
from tfclaims.write import sha256_file, write_csv, write_json, write_parquet, write_xlsx


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def progress(message: str) -> None:
    """Progress lines on a terminal; quiet when output is piped or logged."""
    if sys.stderr.isatty():
        print(f"  {message}", file=sys.stderr, flush=True)


@dataclass
class RunFiles:
    """The files one run writes, with their SHA-256 and recipient (for the summary and the audit trail)."""

    out: Path
    files: list[dict[str, str]] = field(default_factory=list)

    def _record(self, path: Path, recipient: str) -> Path:
        self.files = [f for f in self.files if f["path"] != str(path)]
        self.files.append({"path": str(path), "name": path.relative_to(self.out).as_posix(), "sha256": sha256_file(path), "recipient": recipient})
        return path

    def csv(self, name: str, df: pd.DataFrame, recipient: str = "council_tf_team") -> Path:
        return self._record(write_csv(df, self.out / name), recipient)

    def xlsx(self, name: str, sheets: dict[str, pd.DataFrame], recipient: str = "council_tf_team", notes: dict[str, list[str]] | None = None) -> Path:
        return self._record(write_xlsx(sheets, self.out / name, notes=notes), recipient)

    def parquet(self, name: str, df: pd.DataFrame, recipient: str = "council_tf_team") -> Path:
        return self._record(write_parquet(df, self.out / name), recipient)

    def json(self, name: str, obj: dict[str, Any], recipient: str = "council_tf_team") -> Path:
        return self._record(write_json(obj, self.out / name), recipient)


def input_files(result: IngestResult) -> list[dict[str, Any]]:
    """Each input file with its SHA-256 and the data rows read from it."""
    return [{"path": str(p), "sha256": sha256_file(p), "rows": result.file_rows.get(p.name, 0)} for p in result.files]


def write_error_report(files: RunFiles, result: IngestResult) -> None:
    files.csv("validation_errors.csv", result.errors)
    files.xlsx("validation_errors.xlsx", {"Errors": result.errors, "Counts": result.counts_frame()}, notes={
        "Errors": ["Rows left out of this run. Each names the file, sheet and row as you see them in Excel or an editor."],
    })


def write_accepted(files: RunFiles, result: IngestResult) -> None:
    """The accepted tables as Parquet under ``accepted/``, for later stages and later commands."""
    for table, frame in result.cohort.tables.items():
        files.parquet(f"accepted/{table}.parquet", frame)


def ingest_summary(result: IngestResult) -> dict[str, Any]:
    return {
        "tables": {
            c.table: {"read": c.read, "accepted": c.accepted, "quarantined": c.quarantined, "files": c.files, "extra_columns_ignored": c.extra_columns}
            for c in result.counts
        },
        "not_supplied": [t for t in tfclaims.cohort.TABLES if not result.cohort.supplied(t)],
        "ignored": result.ignored,
        "inputs": input_files(result),
    }


@dataclass
class ValidateOutcome:
    run_id: str
    out: Path
    ingest: IngestResult
    summary: dict[str, Any]


def validate(input_path: Path, out: Path, *, config: CouncilConfig, strict: bool = False, step: Step = direct, run_id: str | None = None) -> ValidateOutcome:
    """``tfclaims validate``: ingest and validation only."""
    run_id = run_id or new_run_id()
    progress(f"reading and validating {input_path}")
    result = ingest(input_path, config, step=step)
    files = RunFiles(Path(out))
    write_error_report(files, result)
    summary = {
        "run_id": run_id,
        "command": "validate",
        "tfclaims_version": tfclaims.__version__,
        "input": str(input_path),
        "strict": strict,
        **ingest_summary(result),
    }
    if strict and result.quarantined_rows:
        summary["status"] = "failed: --strict and rows were quarantined"
        summary["outputs"] = files.files
        files.json("run_summary.json", summary)
        raise InputError(f"--strict: {result.quarantined_rows} row(s) quarantined; see {Path(out) / 'validation_errors.csv'}")
    write_accepted(files, result)
    summary["status"] = "succeeded"
    summary["outputs"] = list(files.files)
    files.json("run_summary.json", summary)
    return ValidateOutcome(run_id, Path(out), result, summary)
