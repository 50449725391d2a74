"""The finance summary: the document finance checks, signs and files with the claim.

:func:`write_finance_summary` writes ``finance_summary.xlsx`` from a :class:`FinanceSummary`:

- money as numbers in pounds with the format ``£#,##0.00`` (held in pence until written), counts as
  whole numbers, dates as dates;
- every total a ``SUM`` formula over the cells above it, written by the product (no text from the
  cohort ever becomes a formula: the only text cells are the product's own words, the council's
  name, route and reason words, and the run id, all written as strings);
- a title block (council, framework and plan, claim window, period end, run id, produced on and by);
  claims by route; claims to date against the allocation; attachment fees; decisions by reason; a
  sign-off block (name, role, signature, date);
- on every sheet: fit to one page wide, header rows repeated, a footer with the page number and the
  run id. A dry run says DRAFT - NOT FOR SUBMISSION at the top of every sheet and in its header, and
  has no sign-off block.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from functools import cache

import yaml

from tfclaims.core.resources import REFERENCE_DIR
from tfclaims.core.write import atomic_xlsx

__all__ = ["DRAFT", "FinanceSummary", "RouteLine", "decision_words", "write_finance_summary"]

DRAFT = "DRAFT - NOT FOR SUBMISSION"
MONEY = "£#,##0.00"
_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


@dataclass(frozen=True)
class RouteLine:
    route: str  # words: "Significant and sustained progress"
    code: str  # the route code: ssp
    claims: int
    amount_pence: int


@dataclass(frozen=True)
class FinanceSummary:
    council: str
    framework: str  # "tf-phase2 (version 2015.2), local plan ... v..."
    window_first_day: dt.date
    period_end: dt.date
    run_id: str
    produced_on: dt.date
    produced_by: str
    routes: tuple[RouteLine, ...]
    claims_before: int
    allocation: int | None
    over_allocation: int
    attached_in_window: int
    attachment_fee_pence: int
    reasons: tuple[tuple[str, str, int], ...]  # (words, code, families)
    dry_run: bool
    demo: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


@cache
def decision_words() -> dict[str, dict[str, str]]:
    """``{"routes": {code: words}, "reasons": {code: words}}`` (data/reference/decision_words.yaml)."""
    data = yaml.safe_load((REFERENCE_DIR / "decision_words.yaml").read_text(encoding="utf-8"))
    return {k: {str(c): str(w) for c, w in (v or {}).items()} for k, v in data.items()}


def _pounds(pence: int) -> float:
    """Pence as pounds for a money cell: exact to the penny in a double for any amount a council
    claims (below 2^53 pence); the workbook shows it with two decimals."""
    return pence / 100


def write_finance_summary(fs: FinanceSummary, path: Path | str) -> Path:
    """Write the finance summary workbook atomically at ``path``."""
    path = Path(path)
    with atomic_xlsx(path, _OPTIONS) as book:
        f = {
            "title": book.add_format({"bold": True, "font_size": 14}),
            "draft": book.add_format({"bold": True, "font_size": 14, "font_color": "#C00000"}),
            "label": book.add_format({"bold": True}),
            "head": book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1}),
            "money": book.add_format({"num_format": MONEY}),
            "money_total": book.add_format({"num_format": MONEY, "bold": True, "top": 1}),
            "int": book.add_format({"num_format": "#,##0"}),
            "int_total": book.add_format({"num_format": "#,##0", "bold": True, "top": 1}),
            "total": book.add_format({"bold": True, "top": 1}),
            "date": book.add_format({"num_format": "d mmmm yyyy", "align": "left"}),
            "text": book.add_format({}),
            "right": book.add_format({"align": "right"}),
            "note": book.add_format({"italic": True, "text_wrap": True}),
            "box": book.add_format({"border": 1}),
        }
        _summary_sheet(book, fs, f)
        _reasons_sheet(book, fs, f)
    return path


def _page_setup(ws, fs: FinanceSummary, title_rows: tuple[int, int] | None) -> None:
    ws.set_portrait()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)  # one page wide, as many long as needed
    ws.set_margins(left=0.6, right=0.6, top=0.8, bottom=0.8)
    header = f"&C&\"-,Bold\"&12{DRAFT}" if fs.dry_run else ""
    ws.set_header(header)
    ws.set_footer(f"&LRun {fs.run_id}&RPage &P of &N")
    if title_rows is not None:
        ws.repeat_rows(*title_rows)


def _sheet(book, fs: FinanceSummary, f: dict, name: str, widths: tuple[int, ...]):
    """A new sheet with its column widths; a dry run's first row says DRAFT. Returns it and the next row."""
    ws = book.add_worksheet(name)
    for c, w in enumerate(widths):
        ws.set_column(c, c, w)
    if not fs.dry_run:
        return ws, 0
    ws.write_string(0, 0, DRAFT, f["draft"])
    return ws, 1


def _summary_sheet(book, fs: FinanceSummary, f: dict) -> None:
    ws, r = _sheet(book, fs, f, "Summary", (46, 24, 14, 18))
    ws.write_string(r, 0, "Results claim: finance summary", f["title"])
    r += 2
    block = [
        ("Council", fs.council),
        ("Framework", fs.framework),
        ("Claim window", f"{fs.window_first_day:%-d %B %Y} to {fs.period_end:%-d %B %Y}"),
        ("Period end", fs.period_end),
        ("Run id", fs.run_id),
        ("Produced on", fs.produced_on),
        ("Produced by", fs.produced_by),
    ]
    for label, value in block:
        ws.write_string(r, 0, label, f["label"])
        if isinstance(value, dt.date):
            ws.write_datetime(r, 1, dt.datetime.combine(value, dt.time()), f["date"])
        else:
            ws.write_string(r, 1, value, f["text"])
        r += 1
    for note in fs.notes + (("Made with the built-in demo reference key: not a real claim.",) if fs.demo else ()):
        ws.write_string(r, 0, note, f["note"])
        r += 1

    # claims by route, with totals as formulas over the rows above
    r += 1
    ws.write_string(r, 0, "Claims in this window, by route", f["label"])
    r += 1
    for c, h in enumerate(("Route", "Route code", "Claims", "Amount")):
        ws.write_string(r, c, h, f["head"])
    r += 1
    first = r
    for line in fs.routes:
        ws.write_string(r, 0, line.route, f["text"])
        ws.write_string(r, 1, line.code, f["text"])
        ws.write_number(r, 2, line.claims, f["int"])
        ws.write_number(r, 3, _pounds(line.amount_pence), f["money"])
        r += 1
    total_claims = sum(x.claims for x in fs.routes)
    total_pence = sum(x.amount_pence for x in fs.routes)
    ws.write_string(r, 0, "Total", f["total"])
    ws.write_blank(r, 1, None, f["total"])
    span = (first, r - 1)
    ws.write_formula(r, 2, _sum("C", span), f["int_total"], total_claims)
    ws.write_formula(r, 3, _sum("D", span), f["money_total"], _pounds(total_pence))
    total_row = r
    r += 2

    # claims to date against the allocation
    ws.write_string(r, 0, "Claims to date against the allocation", f["label"])
    r += 1
    ws.write_string(r, 0, "Claims before this window", f["text"])
    ws.write_number(r, 2, fs.claims_before, f["int"])
    before_row = r
    r += 1
    ws.write_string(r, 0, "Claims in this window", f["text"])
    ws.write_formula(r, 2, f"=C{total_row + 1}", f["int"], total_claims)
    r += 1
    ws.write_string(r, 0, "Claims to date", f["total"])
    ws.write_formula(r, 2, _sum("C", (before_row, r - 1)), f["int_total"], fs.claims_before + total_claims)
    to_date_row = r
    r += 1
    ws.write_string(r, 0, "Allocation (families)", f["text"])
    if fs.allocation is None:
        ws.write_string(r, 2, "not set", f["right"])
    else:
        ws.write_number(r, 2, fs.allocation, f["int"])
        r += 1
        ws.write_string(r, 0, "Allocation remaining", f["text"])
        remaining = max(0, fs.allocation - fs.claims_before - total_claims)
        ws.write_formula(r, 2, f"=MAX(0,C{r}-C{to_date_row + 1})", f["int"], remaining)
    r += 1
    ws.write_string(r, 0, "Families over the allocation this window (not claimed)", f["text"])
    ws.write_number(r, 2, fs.over_allocation, f["int"])
    r += 2

    # attachment fees: reported, not claimed through the claim file
    ws.write_string(r, 0, "Attachment fees (reported, not claimed in the claim file)", f["label"])
    r += 1
    ws.write_string(r, 0, "Families attached in the window", f["text"])
    ws.write_number(r, 2, fs.attached_in_window, f["int"])
    r += 1
    ws.write_string(r, 0, "Fee per family attached", f["text"])
    ws.write_number(r, 3, _pounds(fs.attachment_fee_pence), f["money"])
    r += 1
    ws.write_string(r, 0, "Attachment fees", f["total"])
    ws.write_formula(r, 3, f"=C{r - 1}*D{r}", f["money_total"], _pounds(fs.attached_in_window * fs.attachment_fee_pence))
    r += 2

    if not fs.dry_run:
        ws.write_string(r, 0, "Sign-off", f["label"])
        r += 1
        for c, h in enumerate(("", "Name", "Role", "Signature", "Date")):
            if c:
                ws.write_string(r, c, h, f["head"])
        ws.set_column(4, 4, 16)
        r += 1
        for who in ("Prepared by", "Checked by", "Approved for submission by"):
            ws.set_row(r, 30)
            ws.write_string(r, 0, who, f["label"])
            for c in range(1, 5):
                ws.write_blank(r, c, None, f["box"])
            r += 1
    _page_setup(ws, fs, None)


def _reasons_sheet(book, fs: FinanceSummary, f: dict) -> None:
    ws, r = _sheet(book, fs, f, "Decisions by reason", (60, 30, 12))
    ws.write_string(r, 0, f"Every family in the register, by decision: period end {fs.period_end:%-d %B %Y}", f["label"])
    r += 1
    head = r
    for c, h in enumerate(("Decision", "Reason code", "Families")):
        ws.write_string(r, c, h, f["head"])
    r += 1
    first = r
    for words, code, n in fs.reasons:
        ws.write_string(r, 0, words, f["text"])
        ws.write_string(r, 1, code, f["text"])
        ws.write_number(r, 2, n, f["int"])
        r += 1
    ws.write_string(r, 0, "Total", f["total"])
    ws.write_blank(r, 1, None, f["total"])
    ws.write_formula(r, 2, _sum("C", (first, r - 1)), f["int_total"], sum(n for _, _, n in fs.reasons))
    _page_setup(ws, fs, (head, head))


def _sum(col: str, rows: tuple[int, int]) -> str:
    """``=SUM(C5:C9)`` over 0-based rows ``rows`` (inclusive); an empty span sums to 0."""
    lo, hi = rows
    return f"=SUM({col}{lo + 1}:{col}{hi + 1})" if hi >= lo else "=0"
