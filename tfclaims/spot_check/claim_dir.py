"""Reading one claim run's output folder, the population a spot check samples: ``load_claim_dir``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfclaims.core import run_files
from tfclaims.core.errors import InputError
from tfclaims.core.write import sha256_file
from tfclaims.ingest.readers import read_csv_as_text
from tfclaims.schemas.claim import DECISION_COLUMNS, ROUTES
from tfclaims.schemas.rules import EVIDENCE_COLUMNS, OUTCOME_COLUMNS

__all__ = ["CLAIM_DIR_FILES", "REGISTER_COLUMNS", "ClaimDir", "check_claim_references", "load_claim_dir"]

REGISTER_COLUMNS = (
    "claim_reference",
    "family_id",
    "family_reference",
    "framework",
    "route",
    "period_end",
    "amount_pence",
    "run_id",
    "attached_on",
    "closed_on",
    "lead_practitioner",
    "headlines_at_attachment",
)
# The files of a claim run that a spot check reads (and whose hashes the Method sheet shows).
CLAIM_DIR_FILES: tuple[str, ...] = (
    run_files.CLAIM_REGISTER_CSV,
    run_files.CLAIM_DECISIONS_CSV,
    run_files.ELIGIBILITY_EVIDENCE_CSV,
    run_files.OUTCOME_EVIDENCE_CSV,
    run_files.OUTCOMES_CSV,
    run_files.RUN_SUMMARY_JSON,
)


@dataclass(frozen=True)
class ClaimDir:
    """The files of one claim run that a spot check reads, typed."""

    path: Path
    register: pd.DataFrame
    decisions: pd.DataFrame
    eligibility_evidence: pd.DataFrame
    outcome_evidence: pd.DataFrame
    outcomes: pd.DataFrame
    run_summary: dict[str, Any]
    file_hashes: dict[str, str]


def _read_claim_csv(
    claim_dir: Path,
    name: str,
    columns: Sequence[str],
    *,
    dates: Iterable[str] = (),
    integers: Iterable[str] = (),
) -> pd.DataFrame:
    path = claim_dir / name
    if not path.is_file():
        raise InputError(f"{path}: file not found (the claim stage writes it; is --claim-dir a claim run's output folder?)")
    fast = read_csv_as_text(path)  # Arrow's reader; None sends an unusual file to pandas, which names its problem
    if fast is not None and len(fast) and len(set(fast.iloc[0])) == fast.shape[1]:
        df = fast.iloc[1:].set_axis(list(fast.iloc[0]), axis=1).reset_index(drop=True)
        df = df.where(df.ne(""))
    else:
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot be read as a UTF-8 CSV file: {exc}") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s): {', '.join(missing)}")
    df = df.loc[:, list(columns)].copy()
    for col in dates:
        raw = df[col]
        parsed = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce").astype("datetime64[ns]")
        bad = raw.notna() & parsed.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}, row {i + 2}, column {col}: {raw.iloc[i]!r} is not an ISO date (YYYY-MM-DD)")
        df[col] = parsed
    for col in integers:
        raw = df[col]
        try:  # Arrow's cast: fast for a clean column; anything odd takes the checking path below
            df[col] = raw.astype("int64[pyarrow]").astype("Int64")
            continue
        except (ValueError, TypeError):  # pyarrow.ArrowInvalid is a ValueError
            pass
        parsed = pd.to_numeric(raw.astype(object), errors="coerce")
        bad = (raw.notna() & parsed.isna()) | (parsed.notna() & (parsed != parsed.round()))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}, row {i + 2}, column {col}: {raw.iloc[i]!r} is not a whole number")
        df[col] = parsed.astype("Int64")
    return df


def load_claim_dir(claim_dir: Path | str) -> ClaimDir:
    """Read and check the claim run's files; a missing file or column is an InputError naming it."""
    claim_dir = Path(claim_dir)
    if not claim_dir.is_dir():
        raise InputError(f"{claim_dir}: --claim-dir is not a folder")
    register_path = claim_dir / run_files.CLAIM_REGISTER_CSV
    register = _read_claim_csv(
        claim_dir,
        run_files.CLAIM_REGISTER_CSV,
        REGISTER_COLUMNS,
        dates=("period_end", "attached_on", "closed_on"),
        integers=("amount_pence",),
    )
    bad_route = register["route"].isna() | ~register["route"].isin(ROUTES)
    if bad_route.any():
        i = int(np.flatnonzero(bad_route.to_numpy())[0])
        raise InputError(
            f"{register_path}, row {i + 2}, column route: {register['route'].iloc[i]!r} "
            f"is not one of {', '.join(ROUTES)}"
        )
    check_claim_references(register, str(register_path))
    decisions = _read_claim_csv(claim_dir, run_files.CLAIM_DECISIONS_CSV, DECISION_COLUMNS, dates=("period_end",))
    eligibility_evidence = _read_claim_csv(
        claim_dir, run_files.ELIGIBILITY_EVIDENCE_CSV, EVIDENCE_COLUMNS, dates=("event_date",), integers=("source_row",)
    )
    outcome_evidence = _read_claim_csv(
        claim_dir, run_files.OUTCOME_EVIDENCE_CSV, EVIDENCE_COLUMNS, dates=("event_date",), integers=("source_row",)
    )
    outcomes = _read_claim_csv(claim_dir, run_files.OUTCOMES_CSV, OUTCOME_COLUMNS, dates=("as_of",))
    summary_path = claim_dir / run_files.RUN_SUMMARY_JSON
    if not summary_path.is_file():
        raise InputError(f"{summary_path}: file not found (the claim stage writes it)")
    try:
        run_summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{summary_path}: not valid JSON: {exc}") from exc
    if not isinstance(run_summary, dict) or "run_id" not in run_summary:
        raise InputError(f"{summary_path}: has no run_id")
    run_ids = set(register["run_id"].dropna().unique())
    if len(run_ids) > 1:
        raise InputError(
            f"{register_path}: claims of more than one run ({', '.join(sorted(run_ids))}); "
            "a spot check samples the claims of one claim run"
        )
    if run_ids and run_ids != {str(run_summary["run_id"])}:
        raise InputError(
            f"{register_path}: run_id {next(iter(run_ids))} does not match "
            f"{run_files.RUN_SUMMARY_JSON} run_id {run_summary['run_id']}"
        )
    hashes = {name: sha256_file(claim_dir / name) for name in CLAIM_DIR_FILES}
    return ClaimDir(
        path=claim_dir,
        register=register,
        decisions=decisions,
        eligibility_evidence=eligibility_evidence,
        outcome_evidence=outcome_evidence,
        outcomes=outcomes,
        run_summary=run_summary,
        file_hashes=hashes,
    )


def check_claim_references(register: pd.DataFrame, where: str) -> None:
    """Every claim reference is given and unique; else an InputError naming the first bad row of ``where``."""
    refs = register["claim_reference"]
    blank = refs.isna() | refs.astype("str").str.strip().eq("")
    if blank.any():
        i = int(np.flatnonzero(blank.to_numpy())[0])
        raise InputError(f"{where}, row {i + 2}, column claim_reference: blank")
    dup = refs.duplicated(keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{where}, row {i + 2}, column claim_reference: {refs.iloc[i]!r} appears more than once")

