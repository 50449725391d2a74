"""Reading the auditor's completed workbook back (``read_verdicts``) and reconciling the verdicts into
the ledger (``reconcile``, ``write_reconciliation``), with the sample error rate's Wilson interval."""

from __future__ import annotations

import datetime as dt
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pandera.pandas as pa
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from tfclaims.core import run_files
from tfclaims.core.errors import InputError
from tfclaims.core.write import validate_output, write_csv, write_json
from tfclaims.schemas.spot_check import RECONCILIATION_COLUMNS, VERDICT_COLUMNS, VERDICTS, YES_NO, Reconciliation, Verdicts
from tfclaims.spot_check.layout import (
    AUDITOR_COLUMNS,
    COLUMN_LETTER,
    LOCKED_COLUMNS,
    SAMPLE_HEADER,
    YES_NO_COLUMNS,
    as_text,
    canonical,
    cell_hash,
    scalar,
)

__all__ = ["Z_95", "LedgerLike", "ReconcileResult", "read_verdicts", "reconcile", "wilson_interval", "write_reconciliation"]

Z_95 = 1.959964

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UK_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")


def _as_date(v: Any, epoch: dt.datetime) -> dt.date | None:
    """A checked_on cell: a real date, an ISO or dd/mm/yyyy text, or an Excel serial number."""
    v = scalar(v)
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v < 2958466:
        return (epoch + dt.timedelta(days=int(v))).date()
    text = str(v).strip()
    try:
        if _ISO_DATE.match(text):
            return dt.date.fromisoformat(text)
        if _UK_DATE.match(text):
            return dt.datetime.strptime(text, "%d/%m/%Y").date()
    except ValueError:
        return None
    return None


def _read_control(wb: Any, name: str) -> dict[str, dict[str, str]]:
    ws = wb["_control"]
    rows = list(ws.iter_rows(values_only=True))
    if not rows or tuple(rows[0][: 2 + len(LOCKED_COLUMNS)]) != ("claim_reference", "row", *LOCKED_COLUMNS):
        raise InputError(f"{name}, sheet _control: not the control sheet tfclaims wrote (it was changed)")
    control: dict[str, dict[str, str]] = {}
    for values in rows[1:]:
        if values[0] is None:
            continue
        control[str(values[0])] = {c: str(values[j + 2]) for j, c in enumerate(LOCKED_COLUMNS)}
    return control


def _read_meta(wb: Any) -> dict[str, Any]:
    if "_meta" not in wb.sheetnames:
        return {}
    return {str(k): v for k, v, *_ in wb["_meta"].iter_rows(min_row=2, values_only=True) if k is not None}


def read_verdicts(path: Path | str) -> pd.DataFrame:
    """Read and check the auditor's completed ``spot_check.xlsx``.

    Every problem (missing or unknown verdict, a Y/N cell that is not Y or N, a changed locked cell,
    a missing note, checker or date, a sampled claim missing) is collected; if there is any, one
    ``InputError`` lists them all, each naming its cell, e.g.
    ``spot_check.xlsx, sheet Sample, cell L7: verdict 'maybe' is not one of valid, invalid, query``.

    Returns the ``Verdicts`` table; ``attrs`` carries the workbook's ``population_size``, ``seed``,
    ``run_id`` and ``sample_size``.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        wb = load_workbook(path, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be opened as an Excel workbook: {exc}") from exc
    if "Sample" not in wb.sheetnames:
        raise InputError(f"{name}: has no sheet Sample (is this the spot_check.xlsx tfclaims wrote?)")
    if "_control" not in wb.sheetnames:
        raise InputError(f"{name}: its hidden control sheet is missing, so edits to locked cells cannot be checked")
    control = _read_control(wb, name)
    meta = _read_meta(wb)
    ws = wb["Sample"]
    where = f"{name}, sheet Sample"
    errors: list[str] = []

    header = [c.value for c in ws[1]][: len(SAMPLE_HEADER)]
    header += [None] * (len(SAMPLE_HEADER) - len(header))
    for j, (expected, got) in enumerate(zip(SAMPLE_HEADER, header, strict=True), start=1):
        if got != expected:
            errors.append(f"{where}, cell {get_column_letter(j)}1: header {got!r} should be {expected!r} (locked cell changed)")
    if errors:
        raise InputError("\n".join([f"{name}: the Sample sheet's columns were changed:", *errors]))

    records: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for r, values in enumerate(ws.iter_rows(min_row=2, max_col=len(SAMPLE_HEADER), values_only=True), start=2):
        row = dict(zip(SAMPLE_HEADER, values, strict=False))
        if all(scalar(v) is None or (isinstance(v, str) and not v.strip()) for v in row.values()):
            continue
        ref = canonical(row["claim_reference"])
        col = COLUMN_LETTER
        if ref not in control:
            errors.append(
                f"{where}, cell {col['claim_reference']}{r}: claim reference {ref!r} is not one of the sampled claims "
                "(a locked cell was changed)"
            )
            continue
        if ref in seen:
            errors.append(f"{where}, cell {col['claim_reference']}{r}: claim {ref} appears again (first in row {seen[ref]})")
            continue
        seen[ref] = r
        for c in LOCKED_COLUMNS[1:]:
            if cell_hash(ref, c, row[c]) != control[ref][c]:
                errors.append(
                    f"{where}, cell {col[c]}{r}: locked cell {c} of claim {ref} was changed (now {canonical(row[c])!r})"
                )
        if all(as_text(row[c]) is None for c in AUDITOR_COLUMNS):
            errors.append(f"{where}, cell {col['verdict']}{r}: verdict missing for claim {ref} (the row is not filled in)")
            continue
        answers: dict[str, str | None] = {}
        for c in YES_NO_COLUMNS:
            text = as_text(row[c])
            if text is not None and text.upper() not in YES_NO:
                errors.append(f"{where}, cell {col[c]}{r}: {c} {text!r} is not one of Y, N")
            answers[c] = text.upper() if text is not None else None
        verdict = as_text(row["verdict"])
        if verdict is None:
            errors.append(f"{where}, cell {col['verdict']}{r}: verdict missing for claim {ref}")
        elif verdict.lower() not in VERDICTS:
            errors.append(f"{where}, cell {col['verdict']}{r}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        verdict = verdict.lower() if verdict is not None else None
        if verdict == "valid":
            for c in YES_NO_COLUMNS:
                if answers[c] in YES_NO and answers[c] != "Y":
                    errors.append(f"{where}, cell {col[c]}{r}: {c} is {answers[c]!r} but the verdict is 'valid' (needs Y)")
                elif answers[c] is None:
                    errors.append(f"{where}, cell {col[c]}{r}: {c} is blank; a 'valid' verdict needs Y")
        notes = as_text(row["notes"])
        if verdict in ("invalid", "query") and notes is None:
            why = "the reason the claim is withdrawn" if verdict == "invalid" else "what is queried"
            errors.append(f"{where}, cell {col['notes']}{r}: notes missing for an {verdict!r} verdict ({why})")
        checked_by = as_text(row["checked_by"])
        if checked_by is None:
            errors.append(f"{where}, cell {col['checked_by']}{r}: checked_by missing for claim {ref}")
        checked_on = _as_date(row["checked_on"], wb.epoch)
        if checked_on is None:
            raw = as_text(row["checked_on"])
            what = "missing" if raw is None else f"{raw!r} is not a date"
            errors.append(f"{where}, cell {col['checked_on']}{r}: checked_on {what} for claim {ref}")
        elif checked_on > dt.date.today():
            errors.append(f"{where}, cell {col['checked_on']}{r}: checked_on {checked_on.isoformat()} is in the future")
        records.append(
            {
                "claim_reference": ref,
                "family_id": canonical(row["family_id"]),
                "route": canonical(row["route"]),
                **answers,
                "verdict": verdict,
                "notes": notes,
                "checked_by": checked_by,
                "checked_on": checked_on,
                "sheet_row": r,
            }
        )
    for ref in control:
        if ref not in seen:
            errors.append(f"{where}: sampled claim {ref} is missing (its row was deleted or its reference changed)")
    if errors:
        raise InputError(
            "\n".join(
                [f"{name}: {len(errors)} problem(s) in the auditor's workbook; nothing was written to the ledger:", *errors]
            )
        )
    frame = pd.DataFrame.from_records(records, columns=list(VERDICT_COLUMNS))
    frame = frame.astype({c: "str" for c in VERDICT_COLUMNS if c not in ("checked_on", "sheet_row")})
    frame["checked_on"] = pd.to_datetime(frame["checked_on"]).astype("datetime64[ns]")
    frame["sheet_row"] = frame["sheet_row"].astype("int64")
    try:
        frame = Verdicts.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:  # should have been caught above, with a cell name
        raise InputError(f"{name}: the verdicts do not pass their checks: {exc.failure_cases.head(5).to_dict('records')}") from exc
    frame.attrs.update(
        {
            "workbook": str(path),
            "population_size": _int_or_none(meta.get("population_size")),
            "sample_size": _int_or_none(meta.get("sample_size")),
            "seed": None if meta.get("seed") is None else str(meta.get("seed")),
            "run_id": None if meta.get("run_id") is None else str(meta.get("run_id")),
        }
    )
    return frame


def _int_or_none(v: Any) -> int | None:
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


# --- reconciling into the ledger ---------------------------------------------------------------


class LedgerLike(Protocol):
    """The part of ``tfclaims.claim.ledger.Ledger`` reconcile uses."""

    def claims(self, framework: str | None = None) -> pd.DataFrame: ...

    def withdraw(self, claim_reference: str, reason: str, *, by: str, on: dt.date | None = None, hold: bool = True) -> None: ...

    def record_verdict(self, claim_reference: str, verdict: str, note: str, *, by: str, on: dt.date) -> None: ...


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a proportion k/n (95% by default). n = 0 gives (0, 1)."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = (z / denominator) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class ReconcileResult:
    table: pd.DataFrame  # Reconciliation
    population_size: int | None
    error_rate: float | None
    interval: tuple[float, float]
    projected_invalid: tuple[float, float, float] | None  # point, low, high
    open_queries: pd.DataFrame
    withdrawn_now: list[str]
    already_withdrawn: list[str]
    may_go_forward: bool
    blockers: list[str]
    run_id: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        v = self.table["verdict"]
        return {"sampled": len(v), **{name: int((v == name).sum()) for name in VERDICTS}}

    def stage_counts(self) -> str:
        c = self.counts
        return f"{c['sampled']:,} verdicts: {c['valid']:,} valid, {c['invalid']:,} invalid, {c['query']:,} query"

    def summary(self) -> dict[str, Any]:
        lo, hi = self.interval
        return {
            "run_id": self.run_id,
            "population_size": self.population_size,
            **self.counts,
            "error_rate": self.error_rate,
            "error_rate_wilson_95": [lo, hi],
            "projected_invalid_in_population": None
            if self.projected_invalid is None
            else dict(zip(("point", "low", "high"), self.projected_invalid, strict=True)),
            "withdrawn_now": self.withdrawn_now,
            "already_withdrawn": self.already_withdrawn,
            "open_queries": [
                {
                    "claim_reference": r.claim_reference,
                    "family_id": r.family_id,
                    "notes": None if pd.isna(r.notes) else r.notes,
                    "checked_by": r.checked_by,
                }
                for r in self.open_queries.itertuples()
            ],
            "may_go_forward": self.may_go_forward,
            "blockers": self.blockers,
            "method": "error rate = invalid / sampled (discretionary claims included); 95% Wilson score "
            "interval; projection = rate x population, interval scaled the same",
        }

    def text(self) -> str:
        c = self.counts
        lines = [
            f"Spot check reconciled: {c['sampled']} sampled claim(s)"
            + (f" of {self.population_size}" if self.population_size is not None else "")
            + f"; {c['valid']} valid, {c['invalid']} invalid, {c['query']} query."
        ]
        if self.error_rate is not None:
            lo, hi = self.interval
            lines.append(f"Sample error rate {self.error_rate:.1%} (95% Wilson interval {lo:.1%} to {hi:.1%}).")
        if self.projected_invalid is not None:
            point, plo, phi = self.projected_invalid
            lines.append(f"Projected invalid claims in the population: {point:.1f} ({plo:.1f} to {phi:.1f}).")
        lines.append("Withdrawn now: " + (", ".join(self.withdrawn_now) or "none") + ".")
        if self.already_withdrawn:
            lines.append("Already withdrawn (not withdrawn again): " + ", ".join(self.already_withdrawn) + ".")
        if len(self.open_queries):
            lines.append("Open queries:")
            lines += [f"  {r.claim_reference} (family {r.family_id}): {r.notes}" for r in self.open_queries.itertuples()]
        else:
            lines.append("Open queries: none.")
        lines.append(
            "The claim may go forward." if self.may_go_forward else "The claim may NOT go forward: " + "; ".join(self.blockers) + "."
        )
        return "\n".join(lines)


def _text_or_none(v: Any) -> str | None:
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def _same_verdict(claim: pd.Series, verdict: str, note: str, by: str, on: dt.date) -> bool:
    """Whether the ledger already holds this verdict (same verdict, note, checker and date)."""
    if _text_or_none(claim.get("verdict")) != verdict:
        return False
    if "verdict_note" in claim.index and (_text_or_none(claim["verdict_note"]) or "") != note.strip():
        return False
    if "verdict_by" in claim.index and _text_or_none(claim["verdict_by"]) != by:
        return False
    if "verdict_on" in claim.index:
        recorded_on = claim["verdict_on"]
        if pd.isna(recorded_on) or pd.Timestamp(recorded_on).date() != on:
            return False
    return True


def reconcile(
    verdicts: pd.DataFrame,
    ledger: LedgerLike,
    by: str,
    *,
    population_size: int | None = None,
    on: dt.date | None = None,
) -> ReconcileResult:
    """Record each verdict in the ledger and withdraw each ``invalid`` claim (placing the family on
    audit hold). Checks every claim against the ledger first: an unknown claim or a family that does
    not match is an ``InputError`` and nothing is written. Idempotent: a verdict already recorded is
    not recorded again, a claim already withdrawn is reported, not withdrawn again.
    """
    if not by or not by.strip():
        raise InputError("--by: the name of the person applying the verdicts is needed")
    on = on or dt.date.today()
    attrs = dict(verdicts.attrs)  # the workbook's population size, run id, path
    verdicts = Verdicts.validate(verdicts.loc[:, list(VERDICT_COLUMNS)], lazy=False)
    if population_size is None:
        population_size = attrs.get("population_size")
    workbook = attrs.get("workbook", "the verdicts")

    ledger_claims = ledger.claims()
    for col in ("claim_reference", "family_id", "status"):
        if col not in ledger_claims.columns:
            raise InputError(f"ledger: claims table has no column {col}")
    known = ledger_claims.drop_duplicates("claim_reference").set_index("claim_reference")
    problems: list[str] = []
    for r in verdicts.itertuples():
        if r.claim_reference not in known.index:
            problems.append(f"{workbook}, sheet Sample, row {r.sheet_row}: claim {r.claim_reference} is not in the ledger")
        elif str(known.at[r.claim_reference, "family_id"]) != r.family_id:
            problems.append(
                f"{workbook}, sheet Sample, row {r.sheet_row}: claim {r.claim_reference} is family "
                f"{known.at[r.claim_reference, 'family_id']} in the ledger, not {r.family_id}"
            )
    if problems:
        raise InputError("\n".join(["the workbook does not match the ledger; nothing was written:", *problems]))

    has_verdict = "verdict" in known.columns
    actions: list[str] = []
    withdrawn_now: list[str] = []
    already: list[str] = []
    for r in verdicts.itertuples():  # one ledger call per sampled claim (tens, not a table scan)
        note = "" if pd.isna(r.notes) else str(r.notes)
        checked_on = pd.Timestamp(r.checked_on).date()
        recorded = has_verdict and _same_verdict(known.loc[r.claim_reference], r.verdict, note, r.checked_by, checked_on)
        if not recorded:
            ledger.record_verdict(r.claim_reference, r.verdict, note, by=r.checked_by, on=checked_on)
        if r.verdict == "invalid":
            if str(known.at[r.claim_reference, "status"]) == "withdrawn":
                already.append(r.claim_reference)
                actions.append("already_withdrawn")
            else:
                reason = f"spot check: invalid ({r.checked_by}, {checked_on.isoformat()}): {note}"
                ledger.withdraw(r.claim_reference, reason, by=by, on=on, hold=True)
                withdrawn_now.append(r.claim_reference)
                actions.append("withdrawn")
        elif r.verdict == "query":
            actions.append("open_query")
        else:
            actions.append("already_recorded" if recorded else "recorded")

    table = verdicts.loc[:, ["claim_reference", "family_id", "route", "verdict", "notes", "checked_by", "checked_on"]].assign(
        action=pd.Series(actions, index=verdicts.index, dtype="str")
    )
    table = validate_output(Reconciliation, table.reset_index(drop=True), "reconciliation")

    after = ledger.claims().drop_duplicates("claim_reference").set_index("claim_reference")["status"]
    invalid = table.loc[table["verdict"].eq("invalid"), "claim_reference"]
    not_withdrawn = [ref for ref in invalid if str(after.get(ref, "")) != "withdrawn"]
    open_queries = table.loc[table["verdict"].eq("query")].reset_index(drop=True)
    blockers = []
    if len(open_queries):
        blockers.append(f"{len(open_queries)} open query item(s)")
    if not_withdrawn:
        blockers.append("invalid claim(s) not withdrawn in the ledger: " + ", ".join(not_withdrawn))

    sampled = len(table)
    k = len(invalid)
    rate = k / sampled if sampled else None
    interval = wilson_interval(k, sampled)
    projected = None
    if population_size is not None and rate is not None:
        projected = (rate * population_size, interval[0] * population_size, interval[1] * population_size)
    return ReconcileResult(
        table=table,
        population_size=population_size,
        error_rate=rate,
        interval=interval,
        projected_invalid=projected,
        open_queries=open_queries,
        withdrawn_now=withdrawn_now,
        already_withdrawn=already,
        may_go_forward=not blockers,
        blockers=blockers,
        run_id=attrs.get("run_id"),
    )


def write_reconciliation(result: ReconcileResult, out_dir: Path | str) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    table = validate_output(Reconciliation, result.table, "reconciliation")
    csv_path = write_csv(table.loc[:, list(RECONCILIATION_COLUMNS)], out_dir / run_files.RECONCILIATION_CSV)
    json_path = write_json(result.summary(), out_dir / run_files.RECONCILIATION_JSON)
    return csv_path, json_path
