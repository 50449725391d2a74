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
from tfclaims.core.write import (
    DATE_FORMAT,
    FOOTER,
    CellFormats,
    XlsxColumn,
    atomic_xlsx,
    neutralise_value,
    print_setup,
    row_height,
    set_columns,
    set_row_heights,
    text_lines,
    write_cell,
    write_columns,
    write_header,
    xlsx_column,
)
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

__all__ = [
    "CHECKLIST",
    "EVIDENCE_HEADER",
    "SpotCheckRun",
    "check_workbook_not_started",
    "checklist_heights",
    "framework_rows",
    "run_spot_check",
    "shown_folders",
    "write_workbook",
]

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
_EVIDENCE_DATE_COLUMNS: tuple[str, ...] = ("event_date",)
_EVIDENCE_NUMBER_COLUMNS: tuple[str, ...] = ("source_row",)
# Widths: the sheets print one page wide, so long text wraps at these widths rather than widening
# the page.
_SAMPLE_TEXT_WIDTH = 36
_EVIDENCE_TEXT_WIDTH = 40
_AUDITOR_WIDTHS: dict[str, float] = {  # the Y/N columns as wide as their names: a name cut mid-word reads badly
    "eligible_confirmed": 20,
    "whole_family_working_confirmed": 32,
    "outcome_confirmed": 19,
    "verdict": 10,
    "notes": 30,
    "checked_by": 14,
    "checked_on": 12,
}
_METHOD_WIDTHS: tuple[float, ...] = (48, 67, 12, 12)  # keys, values (a sha256 on one line), table columns
_CHECKLIST_WIDTHS: tuple[float, ...] = (9, 34, 70, 32)
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
    """The formats of one workbook (xlsxwriter formats belong to the workbook that made them)."""

    header: Any
    title: Any
    key: Any
    cells: CellFormats  # the facts: text, dates, wrapped text, numbers; at the top of a tall row
    long_text: CellFormats  # a key-value block's values: text wraps, numbers and dates on the left like the text
    boxed_header: Any  # the Checklist's table, boxed: it prints without gridlines
    boxed_text: Any
    auditor_text: Any
    auditor_notes: Any
    auditor_date: Any

    @classmethod
    def of(cls, book: xlsxwriter.Workbook) -> _Formats:
        cells = CellFormats.of(book, top=True)
        left = {"align": "left", "indent": 1, "valign": "top"}
        header = {"bold": True, "bg_color": _HEADER_FILL, "text_wrap": True, "valign": "top", "align": "left", "indent": 1}
        auditor = {"locked": False, "bg_color": _AUDITOR_FILL, "valign": "top"}
        return cls(
            header=book.add_format(header),
            title=book.add_format({"bold": True, "font_size": 12}),
            key=book.add_format({"bold": True, "text_wrap": True, "valign": "top"}),
            cells=cells,
            long_text=CellFormats(
                text=cells.wrap,
                date=book.add_format({"num_format": DATE_FORMAT, **left}),
                wrap=cells.wrap,
                number=book.add_format(left),
            ),
            boxed_header=book.add_format({**header, "border": 1}),
            boxed_text=book.add_format({"num_format": "@", "text_wrap": True, "valign": "top", "align": "left", "indent": 1, "border": 1}),
            auditor_text=book.add_format({"num_format": "@", **auditor}),
            auditor_notes=book.add_format({"num_format": "@", "text_wrap": True, **auditor}),
            auditor_date=book.add_format({"num_format": DATE_FORMAT, **auditor}),
        )


def _typed(frame: pd.DataFrame, *, dates: Sequence[str] = (), numbers: Sequence[str] = ()) -> pd.DataFrame:
    """Each column as the cells it is written as (``xlsx_column`` types cells by dtype): ``dates`` as
    dates, ``numbers`` as whole numbers, every other column as text (so "0012" stays text)."""
    out = {}
    for name in frame.columns:
        s = frame[name]
        if name in dates:
            out[name] = pd.to_datetime(s).astype("datetime64[ns]")
        elif name in numbers:
            out[name] = s.astype("Float64" if pd.api.types.is_float_dtype(s.dtype) else "Int64")
        else:
            out[name] = s.astype("str")
    return pd.DataFrame(out, index=frame.index)


def _columns(frame: pd.DataFrame, *, text_width: float, min_width: float = 8) -> list[XlsxColumn]:
    return [xlsx_column(frame[name], str(name), min_width=min_width, max_width=text_width) for name in frame.columns]


def _header(ws: Any, row: int, names: Sequence[str], formats: _Formats) -> None:
    for j, name in enumerate(names):
        ws.write_string(row, j, neutralise_value(str(name)), formats.header)


def _footer(claims: ClaimDir) -> str:
    """The printed footer: file and sheet, the claim run, page N of M (``&`` doubled: it starts a code)."""
    run_id = str(claims.run_summary.get("run_id", "")).replace("&", "&&")
    return FOOTER.replace("&R", f"&CClaim run {run_id}&R") if run_id else FOOTER


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


def _write_sample_sheet(ws: Any, control: Any, frame: pd.DataFrame, formats: _Formats, footer: str) -> None:
    """Sheet Sample (the locked facts, then the auditor's unlocked cells with their drop-downs) and the
    ``_control`` sheet: per sampled claim, a hash of each locked cell as written."""
    n = len(frame)
    columns = _columns(_typed(frame.loc[:, list(LOCKED_COLUMNS)], dates=_SAMPLE_DATE_COLUMNS), text_width=_SAMPLE_TEXT_WIDTH)
    auditor_columns = [XlsxColumn(name, [], "text", _AUDITOR_WIDTHS[name]) for name in AUDITOR_COLUMNS]

    # Everything that is not a cell first.
    set_columns(ws, columns, formats.cells)
    for j, c in enumerate(auditor_columns, start=len(columns)):
        ws.set_column(j, j, c.width)
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
    # two pages wide, the claim reference on both: the facts of each claim on the first, the
    # auditor's answers on the second, each legible (one page wide printed at about half size)
    print_setup(ws, width=sum(c.width for c in (*columns, *auditor_columns)), header_rows=0, footer=footer,
                pages_wide=2, key_columns=1)
    set_row_heights(ws, 1, columns)

    write_header(ws, 0, [*columns, *auditor_columns], formats.header)
    auditor = [
        (SAMPLE_HEADER.index(name), {"checked_on": formats.auditor_date, "notes": formats.auditor_notes}.get(name, formats.auditor_text))
        for name in AUDITOR_COLUMNS
    ]
    write_columns(ws, 1, columns, formats.cells, blanks=auditor)  # each row: its locked cells, then the auditor's

    # _control: the hash of each locked cell as it reads back (text as written, dates as ISO dates)
    texts: dict[str, list[str]] = {}
    for name, cells in zip(LOCKED_COLUMNS, columns, strict=True):
        if name in _SAMPLE_DATE_COLUMNS:
            texts[name] = frame[name].dt.strftime("%Y-%m-%d").fillna("").tolist()
        else:
            texts[name] = ["" if v is None else as_read_back(v) for v in cells.values]
    refs = texts["claim_reference"]
    hashes = [
        XlsxColumn(name, [hash_text(ref, name, text) for ref, text in zip(refs, texts[name], strict=True)], "text", 22)
        for name in LOCKED_COLUMNS
    ]
    control.set_column(0, 0, 16, formats.cells.text)
    _header(control, 0, ("claim_reference", "row", *LOCKED_COLUMNS), formats)
    rows = XlsxColumn("row", list(range(2, n + 2)), "number", 6)  # the sheet row each claim was written to
    write_columns(control, 1, [XlsxColumn("claim_reference", refs, "text", 16), rows, *hashes], formats.cells)


def _write_key_values(ws: Any, row: int, title: str, pairs: Sequence[tuple[str, Any]], formats: _Formats) -> int:
    """A titled block of keys (column A) and values (column B), both wrapping, each row as tall as
    its longer text."""
    ws.write_string(row, 0, title, formats.title)
    row += 1
    key_width, value_width = _METHOD_WIDTHS[:2]
    for key, value in pairs:
        value = scalar(value)
        lines = max(text_lines([key], key_width)[0], text_lines([value if isinstance(value, str) else ""], value_width)[0])
        if lines > 1:
            ws.set_row(row, row_height(int(lines)))
        ws.write_string(row, 0, neutralise_value(key), formats.key)
        write_cell(ws, row, 1, value, formats.long_text)
        row += 1
    return row + 1


def _write_table_block(ws: Any, row: int, title: str, frame: pd.DataFrame, formats: _Formats) -> int:
    """A titled table in the sheet's fixed columns; a value longer than its column wraps."""
    ws.write_string(row, 0, title, formats.title)
    _header(ws, row + 1, list(frame.columns), formats)
    columns = [xlsx_column(frame[c], str(c), max_width=w) for c, w in zip(frame.columns, _METHOD_WIDTHS, strict=False)]
    set_row_heights(ws, row + 2, columns)
    write_columns(ws, row + 2, columns, formats.cells)
    return row + 2 + len(frame) + 1


def framework_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The Method sheet's rows naming the rules in force, from the claim run's summary (its
    ``framework`` record: framework, version, sha256 and any local plan); a row with nothing to say is
    left out."""
    framework = summary.get("framework") or {}
    if not isinstance(framework, dict):
        framework = {"framework": str(framework)}
    plan = framework.get("plan") if isinstance(framework.get("plan"), dict) else {}
    rows = [
        ("framework", framework.get("framework") or framework.get("name")),
        ("framework version", framework.get("version")),
        ("framework sha256", framework.get("sha256")),
        ("local outcome plan", plan.get("name")),
        ("plan version", plan.get("version")),
        ("plan approved by", plan.get("approved_by")),
        ("plan approved on", plan.get("approved_on")),
        ("plan sha256", plan.get("sha256")),
    ]
    return [(key, str(value)) for key, value in rows if value not in (None, "")]


def shown_folders(claim_dir: Path, out_dir: Path) -> tuple[str, str]:
    """The claim folder and the output folder as the workbook shows them, never as absolute paths:
    the claim folder by its name; the output folder relative to the folder holding the claim folder
    when it is inside it (``demo``, ``demo/audit``), else by its name."""
    claim, out = claim_dir.resolve(), out_dir.resolve()
    try:
        out_shown = out.relative_to(claim.parent).as_posix()
    except ValueError:
        out_shown = out.name
    return claim.name, out_shown


def _write_method_sheet(ws: Any, claims: ClaimDir, sample: SampleResult, out_dir: Path, formats: _Formats, footer: str) -> None:
    summary = claims.run_summary
    claim_shown, out_shown = shown_folders(claims.path, out_dir)
    pairs: list[tuple[str, Any]] = [
        ("claim run", str(summary.get("run_id", ""))),
        ("claim folder", claim_shown),
        ("population (claims in the run), N", sample.population_size),
        ("sampling rate", sample.rate),
        ("minimum sample", sample.min_n),
        ("sample size n = min(max(minimum, ceil(rate x N)), non-discretionary claims)", sample.sample_size),
        ("discretionary claims (all included, on top of n)", sample.discretionary_count),
        ("claims in this workbook", sample.total),
        ("seed", str(sample.seed)),
        ("seed chosen by", "generated at random" if sample.seed_generated else "given with --seed"),
        ("command that reproduces the draw", reproduce_command(claim_shown, out_shown, sample, absolute=False)),
        ("run the command in", "the folder that holds the claim folder (the folders are named from there)"),
        (
            "procedure",
            "Claims sorted by claim_reference; routes in name order; one numpy.random.default_rng(seed) "
            "permutes each route's claims and the first 'allocated' are taken. Allocation proportional to "
            "route size, largest remainder, ties by route name.",
        ),
        ("numpy version", sample.numpy_version),
        *framework_rows(summary),
        ("produced on", dt.date.today()),
    ]
    for col, width in enumerate(_METHOD_WIDTHS):
        ws.set_column(col, col, width)
    _protect(ws)
    print_setup(ws, width=sum(_METHOD_WIDTHS), footer=footer)
    row = _write_key_values(ws, 0, "How this sample was drawn", pairs, formats)
    row = _write_table_block(ws, row, "Strata", sample.strata, formats)
    inputs = summary.get("inputs") or []
    inputs_frame = pd.DataFrame(
        [  # by file name: audit needs each file and its hash, not where the council keeps it
            {"file": Path(str(i.get("path", ""))).name, "sha256": str(i.get("sha256", "")), "rows": i.get("rows")}
            for i in inputs
            if isinstance(i, dict)
        ],
        columns=["file", "sha256", "rows"],
    ).astype({"file": "str", "sha256": "str"})
    inputs_frame["rows"] = pd.to_numeric(inputs_frame["rows"], errors="coerce").astype("Int64")
    row = _write_table_block(ws, row, "Input files of the claim run (from run_summary.json)", inputs_frame, formats)
    claim_files = pd.DataFrame(
        {"file": list(claims.file_hashes), "sha256": list(claims.file_hashes.values())}, columns=["file", "sha256"]
    ).astype("str")
    _write_table_block(ws, row, "Claim run files read by this spot check", claim_files, formats)


def checklist_heights(rows: Sequence[Sequence[str]], widths: Sequence[float]) -> list[float]:
    """The height of each Checklist row: its tallest paragraph, wrapped in its column's width."""
    lines = np.maximum.reduce([text_lines([r[j] for r in rows], w) for j, w in enumerate(widths)])
    return [row_height(int(n)) for n in lines]


def _write_checklist_sheet(ws: Any, formats: _Formats, footer: str) -> None:
    for col, width in enumerate(_CHECKLIST_WIDTHS):
        ws.set_column(col, col, width)
    _protect(ws)
    print_setup(ws, width=sum(_CHECKLIST_WIDTHS), header_rows=2, footer=footer, gridlines=False)
    ws.write_string(0, 0, "The Department's spot-check questions: answer them for every claim on sheet Sample.", formats.title)
    for j, name in enumerate(("question", "what to check", "evidence to look for", "answer in column")):
        ws.write_string(2, j, name, formats.boxed_header)
    for i, (values, height) in enumerate(zip(CHECKLIST, checklist_heights(CHECKLIST, _CHECKLIST_WIDTHS), strict=True)):
        ws.set_row(3 + i, height)  # wrapped text: neither Excel nor LibreOffice grows the row by itself
        for j, value in enumerate(values):
            ws.write_string(3 + i, j, neutralise_value(value), formats.boxed_text)


def _write_evidence_sheet(ws: Any, evidence: pd.DataFrame, formats: _Formats, footer: str) -> None:
    typed = _typed(evidence.loc[:, list(EVIDENCE_HEADER)], dates=_EVIDENCE_DATE_COLUMNS, numbers=_EVIDENCE_NUMBER_COLUMNS)
    columns = _columns(typed, text_width=_EVIDENCE_TEXT_WIDTH)
    set_columns(ws, columns, formats.cells)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, len(evidence), len(EVIDENCE_HEADER) - 1)
    _protect(ws)
    print_setup(ws, width=sum(c.width for c in columns), header_rows=0, footer=footer)
    set_row_heights(ws, 1, columns)
    write_header(ws, 0, columns, formats.header)
    write_columns(ws, 1, columns, formats.cells)


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
        ws.write_string(i, 0, key, formats.cells.text)
        write_cell(ws, i, 1, value, formats.cells)


def write_workbook(claim_dir: Path | str | ClaimDir, sample: SampleResult, out: Path | str) -> Path:
    """Write ``spot_check.xlsx`` (``out`` is the folder, or the .xlsx path itself), atomically.

    ``claim_dir`` is the claim run's folder (or a ``ClaimDir`` already read from it). Written with
    xlsxwriter, cells by the rule of every workbook (``tfclaims.core.write.xlsx_column``: text never
    a formula, URL or number; dates as dates; booleans Yes/No), row by row; long text wraps in rows
    tall enough for it; each sheet prints on A4 one page wide with its header row repeated and page
    numbers; no absolute path is shown; the workbook structure is locked.
    """
    path = _workbook_path(out)
    claims = claim_dir if isinstance(claim_dir, ClaimDir) else load_claim_dir(claim_dir)
    sample_frame = _sample_sheet_frame(claims, sample)
    evidence = _evidence_sheet_frame(claims, sample)

    with atomic_xlsx(path, _XLSX_OPTIONS, _StructureLockedWorkbook) as book:
        formats = _Formats.of(book)
        footer = _footer(claims)
        sample_ws = book.add_worksheet("Sample")
        evidence_ws = book.add_worksheet("Evidence")
        method_ws = book.add_worksheet("Method")
        checklist_ws = book.add_worksheet("Checklist")
        control_ws = book.add_worksheet("_control")
        meta_ws = book.add_worksheet("_meta")
        _write_sample_sheet(sample_ws, control_ws, sample_frame, formats, footer)
        _write_evidence_sheet(evidence_ws, evidence, formats, footer)
        _write_method_sheet(method_ws, claims, sample, path.parent, formats, footer)
        _write_checklist_sheet(checklist_ws, formats, footer)
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
