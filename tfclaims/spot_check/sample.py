"""Internal-audit spot checks: the sample, the auditor's workbook, and reconciling the verdicts.

Three steps, each a plain function (no Prefect here):

1. ``draw_sample(register, rate, min_n, seed)``: the claims of one claim run are the population
   (N claims). ``n = min(max(min_n, ceil(rate * N)), N)`` claims are drawn from the claims whose
   route is not ``discretionary``, stratified by route with proportional allocation by largest
   remainder; every ``discretionary`` claim is then added on top of ``n``. Within each route the
   draw is ``numpy.random.default_rng(seed)`` permuting the claims sorted by claim reference, one
   generator taken through the routes in name order, so the same claims and seed give the same
   sample on any machine.
2. ``write_workbook(claim_dir, sample, out)``: ``spot_check.xlsx`` with sheets Sample, Evidence,
   Method and Checklist. Only the auditor's cells on Sample are unlocked; a very hidden ``_control``
   sheet keeps a hash of every locked cell of every sampled row, so edits are caught on return.
3. ``read_verdicts(path)`` then ``reconcile(verdicts, ledger, by)``: every problem in the returned
   workbook is an ``InputError`` naming its cell, raised before anything is written to the ledger;
   then each verdict is recorded and each ``invalid`` claim withdrawn (which puts the family on
   audit hold). Reconciling the same workbook again changes nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import re
import secrets
import shlex
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pandera.pandas as pa
import xlsxwriter
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from tfclaims.schemas.spot_check import (
    DISCRETIONARY_STRATUM,
    RECONCILIATION_COLUMNS,
    ROUTES,
    SAMPLE_COLUMNS,
    VERDICT_COLUMNS,
    VERDICTS,
    YES_NO,
    Reconciliation,
    SpotCheckSample,
    Verdicts,
)
from tfclaims.schemas.claim import DECISION_COLUMNS
from tfclaims.schemas.rules import EVIDENCE_COLUMNS, OUTCOME_COLUMNS
from tfclaims.core.errors import InputError, OutputValidationError
from tfclaims.ingest.readers import read_csv_as_text
from tfclaims.core.write import (
    excel_serials,
    atomic_path,
    neutralise,
    neutralise_value,
    sha256_file,
    write_csv,
    write_json,
)

DEFAULT_RATE = 0.10
DEFAULT_MIN = 5
WORKBOOK_NAME = "spot_check.xlsx"
SAMPLE_CSV_NAME = "spot_check_sample.csv"
RECONCILIATION_CSV_NAME = "reconciliation.csv"
RECONCILIATION_JSON_NAME = "reconciliation.json"
WORKBOOK_FORMAT = "tfclaims-spot-check/1"
Z_95 = 1.959964

# --- the claim directory written by the claim stage -------------------------------------------

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
CLAIM_DIR_FILES = (
    "claim_register.csv",
    "claim_decisions.csv",
    "eligibility_evidence.csv",
    "outcome_evidence.csv",
    "outcomes.csv",
    "run_summary.json",
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
    register = _read_claim_csv(
        claim_dir,
        "claim_register.csv",
        REGISTER_COLUMNS,
        dates=("period_end", "attached_on", "closed_on"),
        integers=("amount_pence",),
    )
    bad_route = register["route"].isna() | ~register["route"].isin(ROUTES)
    if bad_route.any():
        i = int(np.flatnonzero(bad_route.to_numpy())[0])
        raise InputError(
            f"{claim_dir / 'claim_register.csv'}, row {i + 2}, column route: {register['route'].iloc[i]!r} "
            f"is not one of {', '.join(ROUTES)}"
        )
    _check_claim_references(register, f"{claim_dir / 'claim_register.csv'}")
    decisions = _read_claim_csv(claim_dir, "claim_decisions.csv", DECISION_COLUMNS, dates=("period_end",))
    eligibility_evidence = _read_claim_csv(
        claim_dir, "eligibility_evidence.csv", EVIDENCE_COLUMNS, dates=("event_date",), integers=("source_row",)
    )
    outcome_evidence = _read_claim_csv(
        claim_dir, "outcome_evidence.csv", EVIDENCE_COLUMNS, dates=("event_date",), integers=("source_row",)
    )
    outcomes = _read_claim_csv(claim_dir, "outcomes.csv", OUTCOME_COLUMNS, dates=("as_of",))
    summary_path = claim_dir / "run_summary.json"
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
            f"{claim_dir / 'claim_register.csv'}: claims of more than one run ({', '.join(sorted(run_ids))}); "
            "a spot check samples the claims of one claim run"
        )
    if run_ids and run_ids != {str(run_summary["run_id"])}:
        raise InputError(
            f"{claim_dir / 'claim_register.csv'}: run_id {next(iter(run_ids))} does not match "
            f"run_summary.json run_id {run_summary['run_id']}"
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


def _check_claim_references(register: pd.DataFrame, where: str) -> None:
    refs = register["claim_reference"]
    blank = refs.isna() | refs.astype("str").str.strip().eq("")
    if blank.any():
        i = int(np.flatnonzero(blank.to_numpy())[0])
        raise InputError(f"{where}, row {i + 2}, column claim_reference: blank")
    dup = refs.duplicated(keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{where}, row {i + 2}, column claim_reference: {refs.iloc[i]!r} appears more than once")


# --- the sample --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleResult:
    """A drawn sample and how it was drawn (everything the Method sheet shows)."""

    sample: pd.DataFrame  # spot_check_sample: claim_reference, family_id, route, stratum, draw_order
    strata: pd.DataFrame  # stratum, population, allocated, drawn
    population_size: int  # N: every claim of the run
    sample_size: int  # n: drawn from the non-discretionary claims
    discretionary_count: int  # added on top of n
    rate: float
    min_n: int
    seed: int
    seed_generated: bool = False
    numpy_version: str = field(default_factory=lambda: np.__version__)

    @property
    def total(self) -> int:
        return len(self.sample)


def sample_size(population: int, rate: float, min_n: int) -> int:
    """``max(min_n, ceil(rate * N))``, at most N. ``rate`` is taken as the decimal it is written as,
    so 0.7 x 10 is 7, not ``ceil(7.000000000000001)`` = 8."""
    wanted = math.ceil(Fraction(str(rate)) * population)
    return min(population, max(min_n, wanted))


def allocate_largest_remainder(population: Mapping[str, int], n: int) -> dict[str, int]:
    """Allocate ``n`` across strata in proportion to their sizes (Hamilton / largest remainder).

    Each stratum first gets the whole part of ``n * N_h / N``; the seats left go one each to the
    largest fractional parts, ties broken by stratum name (alphabetical). Exact arithmetic.
    """
    total = sum(population.values())
    if n < 0 or n > total:
        raise ValueError(f"cannot allocate {n} of {total}")
    if total == 0:
        return {name: 0 for name in population}
    quotas = {name: Fraction(n * size, total) for name, size in population.items()}
    allocated = {name: math.floor(q) for name, q in quotas.items()}
    left = n - sum(allocated.values())
    by_remainder = sorted(population, key=lambda name: (-(quotas[name] - allocated[name]), name))
    for name in by_remainder[:left]:
        allocated[name] += 1
    return allocated


def new_seed() -> int:
    """A fresh random seed, small enough to type (0 .. 2**32 - 1)."""
    return secrets.randbelow(2**32)


def _validated(model: type[pa.DataFrameModel], df: pd.DataFrame, table: str) -> pd.DataFrame:
    try:
        return model.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases.head(5)
        detail = "; ".join(f"{r.column}: {r.check} (value {r.failure_case!r})" for r in fc.itertuples())
        raise OutputValidationError(f"{table}: failed its schema: {detail}") from exc


def draw_sample(register: pd.DataFrame, rate: float = DEFAULT_RATE, min_n: int = DEFAULT_MIN, seed: int | None = None) -> SampleResult:
    """Draw the internal-audit sample from a claim register (one row per claim of the run).

    See the module docstring for the rule. ``seed=None`` draws a fresh seed (``seed_generated``).
    """
    if not (0 < rate <= 1):
        raise InputError(f"--rate {rate}: must be more than 0 and at most 1")
    if min_n < 0:
        raise InputError(f"--min {min_n}: must be 0 or more")
    generated = seed is None
    if seed is None:
        seed = new_seed()
    if seed < 0:
        raise InputError(f"--seed {seed}: must be 0 or more")
    missing = [c for c in ("claim_reference", "family_id", "route") if c not in register.columns]
    if missing:
        raise InputError(f"claim register: missing column(s): {', '.join(missing)}")
    _check_claim_references(register, "claim register")
    bad_route = ~register["route"].isin(ROUTES)
    if bad_route.any():
        raise InputError(f"claim register: route {register.loc[bad_route, 'route'].iloc[0]!r} is not one of {', '.join(ROUTES)}")

    claims = (
        register.loc[:, ["claim_reference", "family_id", "route"]]
        .astype("str")
        .sort_values("claim_reference", kind="mergesort")
        .reset_index(drop=True)
    )
    population = len(claims)
    is_discretionary = claims["route"].eq("discretionary")
    drawable = claims.loc[~is_discretionary].reset_index(drop=True)
    discretionary = claims.loc[is_discretionary].reset_index(drop=True)
    n = min(sample_size(population, rate, min_n), len(drawable))

    routes = sorted(drawable["route"].unique())
    sizes = {r: int((drawable["route"] == r).sum()) for r in routes}
    allocation = allocate_largest_remainder(sizes, n)
    rng = np.random.default_rng(seed)
    drawn_parts = []
    for route in routes:  # name order: part of the reproducible procedure
        stratum = drawable.loc[drawable["route"] == route].reset_index(drop=True)  # by claim_reference
        order = rng.permutation(len(stratum))[: allocation[route]]
        drawn_parts.append(stratum.iloc[order].assign(stratum=route))
    drawn = pd.concat(drawn_parts, ignore_index=True) if drawn_parts else claims.iloc[0:0].assign(stratum="")
    certain = discretionary.assign(stratum=DISCRETIONARY_STRATUM)
    sample = pd.concat([drawn, certain], ignore_index=True)
    sample = sample.assign(draw_order=np.arange(1, len(sample) + 1, dtype="int64"))
    sample = sample.loc[:, list(SAMPLE_COLUMNS)].astype({c: "str" for c in SAMPLE_COLUMNS[:4]})
    sample = _validated(SpotCheckSample, sample, "spot_check_sample")

    strata_rows = [
        {"stratum": r, "population": sizes[r], "allocated": allocation[r], "drawn": int((drawn["stratum"] == r).sum())}
        for r in routes
    ]
    strata_rows.append(
        {
            "stratum": DISCRETIONARY_STRATUM,
            "population": len(discretionary),
            "allocated": len(discretionary),
            "drawn": len(discretionary),
        }
    )
    strata = pd.DataFrame(strata_rows, columns=["stratum", "population", "allocated", "drawn"])
    return SampleResult(
        sample=sample,
        strata=strata,
        population_size=population,
        sample_size=n,
        discretionary_count=len(discretionary),
        rate=float(rate),
        min_n=int(min_n),
        seed=int(seed),
        seed_generated=generated,
    )


def reproduce_command(claim_dir: Path | str, out_dir: Path | str, sample: SampleResult) -> str:
    return shlex.join(
        [
            "tfclaims",
            "spot-check",
            "--claim-dir",
            str(Path(claim_dir).resolve()),
            "--out",
            str(Path(out_dir).resolve()),
            "--rate",
            repr(sample.rate),
            "--min",
            str(sample.min_n),
            "--seed",
            str(sample.seed),
        ]
    )


# --- the workbook ------------------------------------------------------------------------------

LOCKED_COLUMNS: tuple[str, ...] = (
    "claim_reference",
    "family_id",
    "route",
    "attached_on",
    "closed_on",
    "lead_practitioner",
    "headlines_at_attachment",
    "outcomes",
)
YES_NO_COLUMNS: tuple[str, ...] = ("eligible_confirmed", "whole_family_working_confirmed", "outcome_confirmed")
AUDITOR_COLUMNS: tuple[str, ...] = (*YES_NO_COLUMNS, "verdict", "notes", "checked_by", "checked_on")
SAMPLE_HEADER: tuple[str, ...] = (*LOCKED_COLUMNS, *AUDITOR_COLUMNS)
EVIDENCE_HEADER: tuple[str, ...] = (
    "family_id",
    "claim_reference",
    "headline",
    "evidence",
    "person_id",
    "indicator",
    "event_date",
    "source_table",
    "source_file",
    "source_row",
    "detail",
)
COLUMN_LETTER = {name: get_column_letter(i + 1) for i, name in enumerate(SAMPLE_HEADER)}
_SAMPLE_DATE_COLUMNS: tuple[str, ...] = ("attached_on", "closed_on")
_DATE_FORMAT = "yyyy-mm-dd"
_HEADER_FILL = "#DDEBF7"
_AUDITOR_FILL = "#FFF2CC"
# Control characters other than TAB and LF are stored as ``_xHHHH_`` (by xlsxwriter, and by Excel
# when the auditor saves), and openpyxl reads them back in that form: the control hashes take it too.
_ESCAPED_IN_XLSX = re.compile(r"[\x00-\x08\x0b-\x1f]")
_XLSX_OPTIONS: dict[str, Any] = {
    # Shared strings, as Excel and openpyxl write them: in constant_memory mode xlsxwriter writes inline
    # strings, whose ``_x005F_`` escapes openpyxl does not undo, so a locked text holding a literal
    # ``_x0041_`` would read back changed. Memory is no concern at a few thousand sampled claims
    # (~60 MB at 2,500 claims x 12 evidence rows); the rows are still written in order.
    "constant_memory": False,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}

CHECKLIST: tuple[tuple[str, str, str, str], ...] = (
    (
        "1",
        "Was the family eligible when it was identified (attached)?",
        "The family's headline problems on the date it was attached: the data extracts, referrals and "
        "assessments behind each headline listed in 'headlines_at_attachment'. Sheet Evidence, rows "
        "'eligibility at attachment': each has the source table, file and row of the record. Check the "
        "event dates fall before the attachment date and the people are members of the family.",
        "eligible_confirmed",
    ),
    (
        "2",
        "Is there evidence of whole-family working?",
        "A whole-family assessment, a family plan covering the family's problems, a named lead "
        "practitioner (column 'lead_practitioner'), case notes or a chronology showing the plan was worked "
        "with the family as a whole, not one member alone.",
        "whole_family_working_confirmed",
    ),
    (
        "3",
        "Is there evidence the claimed outcome was achieved?",
        "For each headline, the outcome shown in column 'outcomes' and the records in sheet Evidence "
        "(rows 'outcome'): attendance, offending, employment or benefit records over the period the "
        "framework requires, for the whole family (a relapse by another member makes the result invalid). "
        "For a discretionary claim, the manager's documented decision (Evidence rows 'claim decision').",
        "outcome_confirmed",
    ),
    (
        "",
        "Verdict",
        "valid: all three confirmed (Y). invalid: the claim must be withdrawn; say why in 'notes' (it "
        "becomes the withdrawal reason). query: more information is needed; say what in 'notes'. Fill "
        "'checked_by' and 'checked_on' for every claim.",
        "verdict",
    ),
)


def _scalar(v: Any) -> Any:
    """A plain cell value: None for missing, ``date`` for timestamps, Python numbers."""
    if v is None:
        return None
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return None if pd.isna(v) else v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else float(v)
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def _canonical(v: Any) -> str:
    """The text a locked cell is hashed as, the same whether written by us or read back."""
    v = _scalar(v)
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _hash_text(claim_reference: str, column: str, canonical: str) -> str:
    text = "\x1f".join((WORKBOOK_FORMAT, claim_reference, column, canonical))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _cell_hash(claim_reference: str, column: str, value: Any) -> str:
    return _hash_text(claim_reference, column, _canonical(value))


def _as_read_back(text: str) -> str:
    """A text cell as openpyxl reads it back: control characters in their ``_xHHHH_`` form."""
    if _ESCAPED_IN_XLSX.search(text) is None:
        return text
    return _ESCAPED_IN_XLSX.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


class _StructureLockedWorkbook(xlsxwriter.Workbook):
    """xlsxwriter's ``Workbook`` with the workbook structure locked, as Excel's Review > Protect
    Workbook does: sheets cannot be added, deleted, renamed, moved or unhidden without first removing
    the protection (no password: it guards slips; the ``_control`` hashes are what catch edits).

    xlsxwriter has no public API for ``<workbookProtection>``; this writes it right after
    ``<workbookPr>``, where the OOXML schema (CT_Workbook) puts it. A test reads it back with openpyxl,
    so an xlsxwriter upgrade that renames the hook fails loudly rather than silently dropping the lock.
    """

    def _write_workbook_pr(self) -> None:
        super()._write_workbook_pr()
        self._xml_empty_tag("workbookProtection", [("lockStructure", 1)])


@dataclass(frozen=True)
class _Formats:
    """The cell formats of one workbook (xlsxwriter formats belong to the workbook that made them)."""

    header: Any
    title: Any
    key: Any
    text: Any
    date: Any
    wrapped_text: Any
    auditor_text: Any
    auditor_date: Any

    @classmethod
    def of(cls, book: xlsxwriter.Workbook) -> _Formats:
        return cls(
            header=book.add_format({"bold": True, "bg_color": _HEADER_FILL, "text_wrap": True, "valign": "top"}),
            title=book.add_format({"bold": True, "font_size": 12}),
            key=book.add_format({"bold": True}),
            text=book.add_format({"num_format": "@"}),
            date=book.add_format({"num_format": _DATE_FORMAT}),
            wrapped_text=book.add_format({"num_format": "@", "text_wrap": True, "valign": "top"}),
            auditor_text=book.add_format({"num_format": "@", "locked": False, "bg_color": _AUDITOR_FILL}),
            auditor_date=book.add_format({"num_format": _DATE_FORMAT, "locked": False, "bg_color": _AUDITOR_FILL}),
        )


@dataclass(frozen=True)
class _Cells:
    """One column ready to write: its cells (None = blank) and how to write them."""

    values: list[Any]
    kind: str  # "text" (neutralised strings), "date" (Excel serial numbers) or "number"


def _cells(s: pd.Series, kind: str) -> _Cells:
    """Convert one column once, vectorised: text neutralised (an empty text is a blank cell), dates as
    Excel serial day numbers, numbers as numbers; missing values None."""
    if kind == "date":
        return _Cells(excel_serials(pd.to_datetime(s).astype("datetime64[ns]")), kind)
    if kind == "number":
        values = s.astype("Float64" if pd.api.types.is_float_dtype(s.dtype) else "Int64")
        return _Cells(values.to_numpy(dtype=object, na_value=None).tolist(), kind)
    text = neutralise(s.astype("str"))
    values = text.to_numpy(dtype=object, na_value=None, copy=True)
    values[values == ""] = None
    return _Cells(values.tolist(), "text")


def _write_table(
    ws: Any, first_row: int, columns: Sequence[_Cells], formats: _Formats, *, blanks: Sequence[tuple[int, Any]] = ()
) -> None:
    """Write the columns' cells row by row, in row order, from ``first_row``;
    ``blanks`` = [(column, format)]: a formatted blank cell in each of those columns of every row."""
    writers = {
        "text": (ws.write_string, formats.text),
        "date": (ws.write_number, formats.date),  # a serial number in a date format is a date cell
        "number": (ws.write_number, None),
    }
    plan = [(j, c.values, *writers[c.kind]) for j, c in enumerate(columns)]
    n = len(columns[0].values) if columns else 0
    for i in range(n):
        row = first_row + i
        for j, values, write, fmt in plan:
            v = values[i]
            if v is not None:
                write(row, j, v, fmt)
        for j, fmt in blanks:
            ws.write_blank(row, j, None, fmt)


def _write_value(ws: Any, row: int, col: int, value: Any, formats: _Formats, fmt: Any = None) -> None:
    """One cell of a key-value block: text neutralised (format ``@``), dates as dates, numbers as numbers."""
    value = _scalar(value)
    if value is None:
        return
    if isinstance(value, str):
        ws.write_string(row, col, neutralise_value(value), fmt or formats.text)
    elif isinstance(value, dt.date):
        ws.write_datetime(row, col, value, fmt or formats.date)
    elif isinstance(value, (bool, np.bool_)):
        ws.write_string(row, col, "true" if value else "false", fmt or formats.text)
    else:
        ws.write_number(row, col, value, fmt)


def _header(ws: Any, row: int, names: Sequence[str], formats: _Formats) -> None:
    for j, name in enumerate(names):
        ws.write_string(row, j, neutralise_value(str(name)), formats.header)


def _widths(frame: pd.DataFrame, *, minimum: int = 8, maximum: int = 60) -> list[int]:
    """Per column: the longer of the header and the first 500 values, plus 2, within 8..60 (dates 10)."""
    widths = []
    for name in frame.columns:
        values = frame[name].head(500).astype("str").fillna("")
        longest = int(values.str.len().max()) if len(values) else 0
        if pd.api.types.is_datetime64_any_dtype(frame[name].dtype):
            longest = 10
        widths.append(max(minimum, min(maximum, max(len(str(name)), longest) + 2)))
    return widths


def _protect(ws: Any) -> None:
    """Protect the sheet (no password: it guards slips, the control hashes catch edits) but let the
    auditor filter, sort and resize."""
    ws.protect("", {"autofilter": True, "sort": True, "format_columns": True, "format_rows": True})


def _outcome_text(outcomes: pd.DataFrame) -> pd.Series:
    """Per family, 'education: met; crime_asb: not_met' from the latest as_of of each headline."""
    if outcomes.empty:
        return pd.Series(dtype="str", name="outcomes", index=pd.Index([], dtype="str", name="family_id"))
    latest = (
        outcomes.sort_values(["family_id", "headline", "as_of"], kind="mergesort", na_position="first")
        .drop_duplicates(["family_id", "headline"], keep="last")
        .dropna(subset=["headline"])
    )
    text = latest["headline"].astype("str") + ": " + latest["status"].astype("str").fillna("")
    return text.groupby(latest["family_id"], sort=False).agg("; ".join).rename("outcomes")


def _sample_sheet_frame(claims: ClaimDir, sample: SampleResult) -> pd.DataFrame:
    register = claims.register.drop_duplicates("claim_reference")
    details = sample.sample.merge(
        register.loc[
            :,
            ["claim_reference", "attached_on", "closed_on", "lead_practitioner", "headlines_at_attachment"],
        ],
        on="claim_reference",
        how="left",
        validate="one_to_one",
    )
    sampled = claims.outcomes["family_id"].isin(sample.sample["family_id"])  # join text for these only
    details = details.merge(_outcome_text(claims.outcomes.loc[sampled]), left_on="family_id", right_index=True, how="left")
    details["headlines_at_attachment"] = details["headlines_at_attachment"].astype("str").str.replace(";", "; ")
    return details.loc[:, list(LOCKED_COLUMNS)]


def _evidence_sheet_frame(claims: ClaimDir, sample: SampleResult) -> pd.DataFrame:
    families = sample.sample.loc[:, ["family_id", "claim_reference"]].drop_duplicates("family_id")

    def of_sampled(table: pd.DataFrame) -> pd.DataFrame:
        """The rows of the sampled families only (the inner merge below keeps no others)."""
        return table.loc[table["family_id"].isin(families["family_id"])]

    eligibility = of_sampled(claims.eligibility_evidence).assign(evidence="eligibility at attachment", detail=pd.NA)
    latest = (
        of_sampled(claims.outcomes)
        .sort_values("as_of", kind="mergesort", na_position="first")
        .drop_duplicates(["family_id", "headline"], keep="last")
        .loc[:, ["family_id", "headline", "status"]]
    )
    outcome = of_sampled(claims.outcome_evidence).merge(latest, on=["family_id", "headline"], how="left")
    # continuous employment is a claim route, not a headline: its evidence has no headline status
    route_words = pd.Series("continuous-employment route evidence", index=outcome.index, dtype="str")
    status_words = ("status: " + outcome["status"].astype("str")).where(outcome["status"].notna(), route_words.where(
        outcome["headline"].eq("continuous_employment")))
    outcome = outcome.assign(evidence="outcome", detail=status_words)
    decisions = claims.decisions.loc[claims.decisions["decision"].eq("claim") & claims.decisions["family_id"].isin(families["family_id"])]
    decision = pd.DataFrame(
        {
            "family_id": decisions["family_id"],
            "headline": pd.NA,
            "evidence": "claim decision",
            "person_id": pd.NA,
            "indicator": decisions["route"],
            "event_date": decisions["period_end"],
            "source_table": "claim_decisions",
            "source_file": "claim_decisions.csv",
            "source_row": pd.Series(np.arange(len(claims.decisions)) + 2, index=claims.decisions.index)[decisions.index].astype("Int64"),
            "detail": decisions["detail"],
        }
    )
    parts = [p for p in (eligibility, outcome, decision) if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(EVIDENCE_HEADER))
    evidence = pd.concat([p.loc[:, [c for c in EVIDENCE_HEADER if c != "claim_reference"]] for p in parts], ignore_index=True)
    evidence = evidence.merge(families, on="family_id", how="inner")
    kind_order = evidence["evidence"].map({"eligibility at attachment": 0, "outcome": 1, "claim decision": 2})
    evidence = (
        evidence.assign(_kind=kind_order)
        .sort_values(["family_id", "headline", "_kind", "event_date", "person_id"], kind="mergesort", na_position="last")
        .drop(columns="_kind")
        .reset_index(drop=True)
    )
    evidence["source_row"] = evidence["source_row"].astype("Int64")
    evidence["event_date"] = pd.to_datetime(evidence["event_date"]).astype("datetime64[ns]")
    return evidence.loc[:, list(EVIDENCE_HEADER)]


def _write_sample_sheet(ws: Any, control: Any, frame: pd.DataFrame, formats: _Formats) -> None:
    """Sheet Sample (the locked facts, then the auditor's unlocked cells with their drop-downs) and the
    ``_control`` sheet: per sampled claim, a hash of each locked cell as written."""
    n = len(frame)
    kinds = {c: "date" if c in _SAMPLE_DATE_COLUMNS else "text" for c in LOCKED_COLUMNS}
    columns = [_cells(frame[c], kinds[c]) for c in LOCKED_COLUMNS]

    # Everything that is not a cell first (constant_memory streams rows in order).
    for j, (name, width) in enumerate(zip(LOCKED_COLUMNS, _widths(frame.loc[:, list(LOCKED_COLUMNS)]), strict=True)):
        ws.set_column(j, j, width, formats.date if kinds[name] == "date" else formats.text)
    for name in AUDITOR_COLUMNS:
        j = SAMPLE_HEADER.index(name)
        ws.set_column(j, j, 40 if name == "notes" else max(12, min(len(name) + 2, 32)))
    ws.freeze_panes(1, 1)
    ws.autofilter(0, 0, n, len(SAMPLE_HEADER) - 1)
    if n:
        yes_first, yes_last = SAMPLE_HEADER.index(YES_NO_COLUMNS[0]), SAMPLE_HEADER.index(YES_NO_COLUMNS[-1])
        ws.data_validation(
            1,
            yes_first,
            n,
            yes_last,
            {
                "validate": "list",
                "source": list(YES_NO),
                "ignore_blank": True,
                "show_error": True,
                "error_title": "Y or N",
                "error_message": "Enter Y or N.",
                "show_input": True,
                "input_title": "Confirmed?",
                "input_message": "Y = confirmed by the evidence, N = not confirmed. See sheet Checklist.",
            },
        )
        verdict_col = SAMPLE_HEADER.index("verdict")
        ws.data_validation(
            1,
            verdict_col,
            n,
            verdict_col,
            {
                "validate": "list",
                "source": list(VERDICTS),
                "ignore_blank": True,
                "show_error": True,
                "error_title": "Verdict",
                "error_message": "Choose valid, invalid or query.",
                "show_input": True,
                "input_title": "Verdict",
                "input_message": "valid, invalid (withdrawn: give the reason in notes) or query (say what in notes).",
            },
        )
        checked_on_col = SAMPLE_HEADER.index("checked_on")
        ws.data_validation(
            1,
            checked_on_col,
            n,
            checked_on_col,
            {
                "validate": "date",
                "criteria": "between",
                "minimum": 36526,  # 2000-01-01
                "maximum": 73051,  # 2100-01-01
                "ignore_blank": True,
                "show_error": True,
                "error_title": "Date",
                "error_message": "Enter the date you checked the claim.",
            },
        )
    _protect(ws)

    _header(ws, 0, SAMPLE_HEADER, formats)
    auditor = [
        (SAMPLE_HEADER.index(name), formats.auditor_date if name == "checked_on" else formats.auditor_text)
        for name in AUDITOR_COLUMNS
    ]
    _write_table(ws, 1, columns, formats, blanks=auditor)  # each row: its locked cells, then the auditor's

    # _control: the hash of each locked cell as it reads back (text as written, dates as ISO dates)
    canonical: dict[str, list[str]] = {}
    for name, cells in zip(LOCKED_COLUMNS, columns, strict=True):
        if kinds[name] == "date":
            canonical[name] = frame[name].dt.strftime("%Y-%m-%d").fillna("").tolist()
        else:
            canonical[name] = ["" if v is None else _as_read_back(v) for v in cells.values]
    refs = canonical["claim_reference"]
    hashes = [
        _Cells([_hash_text(ref, name, text) for ref, text in zip(refs, canonical[name], strict=True)], "text")
        for name in LOCKED_COLUMNS
    ]
    control.set_column(0, 0, 16, formats.text)
    _header(control, 0, ("claim_reference", "row", *LOCKED_COLUMNS), formats)
    rows = _Cells(list(range(2, n + 2)), "number")  # the sheet row each claim was written to
    _write_table(control, 1, [_Cells(refs, "text"), rows, *hashes], formats)


def _write_key_values(ws: Any, row: int, title: str, pairs: Sequence[tuple[str, Any]], formats: _Formats) -> int:
    ws.write_string(row, 0, title, formats.title)
    row += 1
    for key, value in pairs:
        ws.write_string(row, 0, neutralise_value(key), formats.key)
        _write_value(ws, row, 1, value, formats)
        row += 1
    return row + 1


def _write_table_block(ws: Any, row: int, title: str, frame: pd.DataFrame, formats: _Formats) -> int:
    ws.write_string(row, 0, title, formats.title)
    _header(ws, row + 1, list(frame.columns), formats)
    columns = [
        _cells(frame[c], "number" if pd.api.types.is_numeric_dtype(frame[c].dtype) else "text") for c in frame.columns
    ]
    _write_table(ws, row + 2, columns, formats)
    return row + 2 + len(frame) + 1


def _write_method_sheet(ws: Any, claims: ClaimDir, sample: SampleResult, out_dir: Path, formats: _Formats) -> None:
    summary = claims.run_summary
    framework = summary.get("framework") or {}
    if not isinstance(framework, dict):
        framework = {"name": str(framework)}
    pairs: list[tuple[str, Any]] = [
        ("claim run", str(summary.get("run_id", ""))),
        ("claim folder", str(claims.path.resolve())),
        ("population (claims in the run), N", sample.population_size),
        ("sampling rate", sample.rate),
        ("minimum sample", sample.min_n),
        ("sample size n = min(max(minimum, ceil(rate x N)), non-discretionary claims)", sample.sample_size),
        ("discretionary claims (all included, on top of n)", sample.discretionary_count),
        ("claims in this workbook", sample.total),
        ("seed", str(sample.seed)),
        ("seed chosen by", "generated at random" if sample.seed_generated else "given with --seed"),
        ("command that reproduces the draw", reproduce_command(claims.path, out_dir, sample)),
        (
            "procedure",
            "Claims sorted by claim_reference; routes in name order; one numpy.random.default_rng(seed) "
            "permutes each route's claims and the first 'allocated' are taken. Allocation proportional to "
            "route size, largest remainder, ties by route name.",
        ),
        ("numpy version", sample.numpy_version),
        ("framework", str(framework.get("name", ""))),
        ("framework version", str(framework.get("version", ""))),
        ("framework sha256", str(framework.get("sha256", ""))),
        ("produced on", dt.date.today()),
    ]
    for col, width in enumerate((60, 70, 12, 12)):
        ws.set_column(col, col, width)
    _protect(ws)
    row = _write_key_values(ws, 0, "How this sample was drawn", pairs, formats)
    row = _write_table_block(ws, row, "Strata", sample.strata, formats)
    inputs = summary.get("inputs") or []
    inputs_frame = pd.DataFrame(
        [
            {"path": str(i.get("path", "")), "sha256": str(i.get("sha256", "")), "rows": i.get("rows")}
            for i in inputs
            if isinstance(i, dict)
        ],
        columns=["path", "sha256", "rows"],
    )
    inputs_frame["rows"] = pd.to_numeric(inputs_frame["rows"], errors="coerce").astype("Int64")
    row = _write_table_block(ws, row, "Input files of the claim run (from run_summary.json)", inputs_frame, formats)
    claim_files = pd.DataFrame(
        {"file": list(claims.file_hashes), "sha256": list(claims.file_hashes.values())}, columns=["file", "sha256"]
    )
    _write_table_block(ws, row, "Claim run files read by this spot check", claim_files, formats)


def _write_checklist_sheet(ws: Any, formats: _Formats) -> None:
    for col, width in enumerate((10, 45, 90, 32)):
        ws.set_column(col, col, width)
    _protect(ws)
    ws.write_string(0, 0, "The Department's spot-check questions: answer them for every claim on sheet Sample.", formats.title)
    _header(ws, 2, ("question", "what to check", "evidence to look for", "answer in column"), formats)
    for i, values in enumerate(CHECKLIST):
        for j, value in enumerate(values):
            ws.write_string(3 + i, j, neutralise_value(value), formats.wrapped_text)


def _write_evidence_sheet(ws: Any, evidence: pd.DataFrame, formats: _Formats) -> None:
    kinds = {c: "date" if c == "event_date" else "number" if c == "source_row" else "text" for c in EVIDENCE_HEADER}
    columns = [_cells(evidence[c], kinds[c]) for c in EVIDENCE_HEADER]
    for j, (name, width) in enumerate(zip(EVIDENCE_HEADER, _widths(evidence), strict=True)):
        ws.set_column(j, j, width, formats.date if kinds[name] == "date" else None if kinds[name] == "number" else formats.text)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, len(evidence), len(EVIDENCE_HEADER) - 1)
    _protect(ws)
    _header(ws, 0, EVIDENCE_HEADER, formats)
    _write_table(ws, 1, columns, formats)


def _write_meta_sheet(ws: Any, claims: ClaimDir, sample: SampleResult, formats: _Formats) -> None:
    pairs = [
        ("format", WORKBOOK_FORMAT),
        ("run_id", str(claims.run_summary.get("run_id", ""))),
        ("population_size", sample.population_size),
        ("sample_size", sample.sample_size),
        ("discretionary_count", sample.discretionary_count),
        ("seed", str(sample.seed)),
        ("rate", sample.rate),
        ("min_n", sample.min_n),
    ]
    _header(ws, 0, ("key", "value"), formats)
    for i, (key, value) in enumerate(pairs, start=1):
        ws.write_string(i, 0, key, formats.text)
        _write_value(ws, i, 1, value, formats)


def write_workbook(claim_dir: Path | str | ClaimDir, sample: SampleResult, out: Path | str) -> Path:
    """Write ``spot_check.xlsx`` (``out`` is the folder, or the .xlsx path itself), atomically.

    ``claim_dir`` is the claim run's folder (or a ``ClaimDir`` already read from it). Written with
    xlsxwriter, cells typed by column (text never a formula, URL or number; dates as dates), row by
    row; the workbook structure is locked.
    """
    out = Path(out)
    path = out if out.suffix.lower() == ".xlsx" else out / WORKBOOK_NAME
    claims = claim_dir if isinstance(claim_dir, ClaimDir) else load_claim_dir(claim_dir)
    sample_frame = _sample_sheet_frame(claims, sample)
    evidence = _evidence_sheet_frame(claims, sample)

    with atomic_path(path) as tmp:
        # xlsxwriter assembles the parts in temporary files: beside the output, not in /tmp
        book = _StructureLockedWorkbook(str(tmp), {**_XLSX_OPTIONS, "tmpdir": str(tmp.parent)})
        try:
            formats = _Formats.of(book)
            sample_ws = book.add_worksheet("Sample")
            evidence_ws = book.add_worksheet("Evidence")
            method_ws = book.add_worksheet("Method")
            checklist_ws = book.add_worksheet("Checklist")
            control_ws = book.add_worksheet("_control")
            meta_ws = book.add_worksheet("_meta")
            _write_sample_sheet(sample_ws, control_ws, sample_frame, formats)
            _write_evidence_sheet(evidence_ws, evidence, formats)
            _write_method_sheet(method_ws, claims, sample, path.parent, formats)
            _write_checklist_sheet(checklist_ws, formats)
            _write_meta_sheet(meta_ws, claims, sample, formats)
            for hidden in (control_ws, meta_ws):
                hidden.very_hidden()
                _protect(hidden)
            sample_ws.activate()
        except BaseException:
            with contextlib.suppress(Exception):
                book.close()  # removes the row files; atomic_path then removes the half-written workbook
            raise
        book.close()
    return path


def write_sample_csv(sample: SampleResult, out_dir: Path | str) -> Path:
    frame = _validated(SpotCheckSample, sample.sample, "spot_check_sample")
    return write_csv(frame, Path(out_dir) / SAMPLE_CSV_NAME)


@dataclass(frozen=True)
class SpotCheckRun:
    sample: SampleResult
    sample_csv: Path
    workbook: Path
    command: str


def run_spot_check(
    claim_dir: Path | str,
    out_dir: Path | str,
    *,
    rate: float = DEFAULT_RATE,
    min_n: int = DEFAULT_MIN,
    seed: int | None = None,
) -> SpotCheckRun:
    """The ``spot-check`` command: draw the sample and write the CSV and the auditor's workbook."""
    claims = load_claim_dir(claim_dir)
    sample = draw_sample(claims.register, rate, min_n, seed)
    out_dir = Path(out_dir)
    csv_path = write_sample_csv(sample, out_dir)
    workbook = write_workbook(claims, sample, out_dir)
    return SpotCheckRun(sample, csv_path, workbook, reproduce_command(claims.path, out_dir, sample))


# --- reading the verdicts back -----------------------------------------------------------------

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UK_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")


def _as_text(v: Any) -> str | None:
    v = _scalar(v)
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    text = str(v).strip()
    return text or None


def _as_date(v: Any, epoch: dt.datetime) -> dt.date | None:
    """A checked_on cell: a real date, an ISO or dd/mm/yyyy text, or an Excel serial number."""
    v = _scalar(v)
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
        if all(_scalar(v) is None or (isinstance(v, str) and not v.strip()) for v in row.values()):
            continue
        ref = _canonical(row["claim_reference"])
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
            if _cell_hash(ref, c, row[c]) != control[ref][c]:
                errors.append(
                    f"{where}, cell {col[c]}{r}: locked cell {c} of claim {ref} was changed (now {_canonical(row[c])!r})"
                )
        if all(_as_text(row[c]) is None for c in AUDITOR_COLUMNS):
            errors.append(f"{where}, cell {col['verdict']}{r}: verdict missing for claim {ref} (the row is not filled in)")
            continue
        answers: dict[str, str | None] = {}
        for c in YES_NO_COLUMNS:
            text = _as_text(row[c])
            if text is not None and text.upper() not in YES_NO:
                errors.append(f"{where}, cell {col[c]}{r}: {c} {text!r} is not one of Y, N")
            answers[c] = text.upper() if text is not None else None
        verdict = _as_text(row["verdict"])
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
        notes = _as_text(row["notes"])
        if verdict in ("invalid", "query") and notes is None:
            why = "the reason the claim is withdrawn" if verdict == "invalid" else "what is queried"
            errors.append(f"{where}, cell {col['notes']}{r}: notes missing for an {verdict!r} verdict ({why})")
        checked_by = _as_text(row["checked_by"])
        if checked_by is None:
            errors.append(f"{where}, cell {col['checked_by']}{r}: checked_by missing for claim {ref}")
        checked_on = _as_date(row["checked_on"], wb.epoch)
        if checked_on is None:
            raw = _as_text(row["checked_on"])
            what = "missing" if raw is None else f"{raw!r} is not a date"
            errors.append(f"{where}, cell {col['checked_on']}{r}: checked_on {what} for claim {ref}")
        elif checked_on > dt.date.today():
            errors.append(f"{where}, cell {col['checked_on']}{r}: checked_on {checked_on.isoformat()} is in the future")
        records.append(
            {
                "claim_reference": ref,
                "family_id": _canonical(row["family_id"]),
                "route": _canonical(row["route"]),
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
    table = _validated(Reconciliation, table.reset_index(drop=True), "reconciliation")

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
    table = _validated(Reconciliation, result.table, "reconciliation")
    csv_path = write_csv(table.loc[:, list(RECONCILIATION_COLUMNS)], out_dir / RECONCILIATION_CSV_NAME)
    json_path = write_json(result.summary(), out_dir / RECONCILIATION_JSON_NAME)
    return csv_path, json_path
