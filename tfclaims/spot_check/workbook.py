"""The auditor's workbook ``spot_check.xlsx`` (sheets Sample, Evidence, Method and Checklist, and the
very hidden ``_control`` and ``_meta``), and ``run_spot_check``, the ``spot-check`` command's work."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from tfclaims.core import run_files
from tfclaims.core.errors import InputError
from tfclaims.core.write import atomic_xlsx, excel_serials, neutralise, neutralise_value, write_rows
from tfclaims.schemas.spot_check import VERDICTS, YES_NO
from tfclaims.spot_check.claim_dir import ClaimDir, load_claim_dir
from tfclaims.spot_check.layout import (
    AUDITOR_COLUMNS,
    LOCKED_COLUMNS,
    SAMPLE_HEADER,
    WORKBOOK_FORMAT,
    YES_NO_COLUMNS,
    as_read_back,
    as_text,
    hash_text,
    scalar,
)
from tfclaims.spot_check.sample import DEFAULT_MIN, DEFAULT_RATE, SampleResult, draw_sample, reproduce_command, write_sample_csv

__all__ = ["CHECKLIST", "EVIDENCE_HEADER", "SpotCheckRun", "check_workbook_not_started", "run_spot_check", "write_workbook"]

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
_SAMPLE_DATE_COLUMNS: tuple[str, ...] = ("attached_on", "closed_on")
_DATE_FORMAT = "yyyy-mm-dd"
_HEADER_FILL = "#DDEBF7"
_AUDITOR_FILL = "#FFF2CC"
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
    n = len(columns[0].values) if columns else 0
    plan = [(j, c.values, *writers[c.kind]) for j, c in enumerate(columns)]
    every_row = [""] * n  # write_blank ignores the value; any value but None writes the cell
    write_rows(first_row, n, [*plan, *((j, every_row, ws.write_blank, fmt) for j, fmt in blanks)])


def _write_value(ws: Any, row: int, col: int, value: Any, formats: _Formats, fmt: Any = None) -> None:
    """One cell of a key-value block: text neutralised (format ``@``), dates as dates, numbers as numbers."""
    value = scalar(value)
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
            "source_file": run_files.CLAIM_DECISIONS_CSV,
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
    texts: dict[str, list[str]] = {}
    for name, cells in zip(LOCKED_COLUMNS, columns, strict=True):
        if kinds[name] == "date":
            texts[name] = frame[name].dt.strftime("%Y-%m-%d").fillna("").tolist()
        else:
            texts[name] = ["" if v is None else as_read_back(v) for v in cells.values]
    refs = texts["claim_reference"]
    hashes = [
        _Cells([hash_text(ref, name, text) for ref, text in zip(refs, texts[name], strict=True)], "text")
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
    path = _workbook_path(out)
    claims = claim_dir if isinstance(claim_dir, ClaimDir) else load_claim_dir(claim_dir)
    sample_frame = _sample_sheet_frame(claims, sample)
    evidence = _evidence_sheet_frame(claims, sample)

    with atomic_xlsx(path, _XLSX_OPTIONS, _StructureLockedWorkbook) as book:
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
    return path


@dataclass(frozen=True)
class SpotCheckRun:
    sample: SampleResult
    sample_csv: Path
    workbook: Path
    command: str


def _workbook_path(out: Path | str) -> Path:
    """The workbook's path: ``out`` itself when it names an .xlsx file, else ``spot_check.xlsx`` in it."""
    out = Path(out)
    return out if out.suffix.lower() == ".xlsx" else out / run_files.SPOT_CHECK_XLSX


def _why_started(path: Path) -> str | None:
    """Why the existing workbook at ``path`` may hold an auditor's work, or None when it holds none:
    an auditor's cell on sheet Sample is filled, or the file cannot be read as the workbook tfclaims wrote."""
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        return f"it cannot be read as a spot-check workbook ({exc}), so it may hold an auditor's work"
    try:
        if "Sample" not in book.sheetnames:
            return "it has no sheet Sample, so it may hold an auditor's work"
        rows = book["Sample"].iter_rows(max_col=len(SAMPLE_HEADER), values_only=True)
        header = tuple(next(rows, ()))
        if header[: len(SAMPLE_HEADER)] != SAMPLE_HEADER:
            return "its Sample sheet's header was changed, so it may hold an auditor's work"
        auditor = [SAMPLE_HEADER.index(c) for c in AUDITOR_COLUMNS]
        for r, values in enumerate(rows, start=2):  # the sampled claims: thousands at most
            filled = [SAMPLE_HEADER[j] for j in auditor if j < len(values) and as_text(values[j]) is not None]
            if filled:
                return f"an auditor has started it (sheet Sample, row {r}: {', '.join(filled)} filled in)"
        return None
    finally:
        book.close()


def check_workbook_not_started(out: Path | str) -> None:
    """Refuse (``InputError``) when the spot-check workbook in ``out`` (a folder, or the .xlsx path) already
    exists and an auditor has started it: any of the auditor's cells filled, or the file unreadable.

    Call it before any work that writes into ``out``; an existing workbook with no verdicts filled in
    may be replaced.
    """
    path = _workbook_path(out)
    if not path.exists():
        return
    why = _why_started(path) if path.is_file() else "it is not a file"
    if why is not None:
        raise InputError(
            f"{path}: already exists and {why}; it is not overwritten. Give another --out folder, "
            "or move the file away first."
        )


def run_spot_check(
    claim_dir: Path | str,
    out_dir: Path | str,
    *,
    rate: float = DEFAULT_RATE,
    min_n: int = DEFAULT_MIN,
    seed: int | None = None,
) -> SpotCheckRun:
    """The ``spot-check`` command: draw the sample and write the CSV and the auditor's workbook.

    Refuses, before writing anything, when ``out_dir`` holds a workbook an auditor has started
    (``check_workbook_not_started``).
    """
    out_dir = Path(out_dir)
    check_workbook_not_started(out_dir)
    claims = load_claim_dir(claim_dir)
    sample = draw_sample(claims.register, rate, min_n, seed)
    csv_path = write_sample_csv(sample, out_dir)
    workbook = write_workbook(claims, sample, out_dir)
    return SpotCheckRun(sample, csv_path, workbook, reproduce_command(claims.path, out_dir, sample))
