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
import json
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from tfclaims.core.resources import REFERENCE_DIR, safe_yaml
from tfclaims.core.write import MONEY_FORMAT, atomic_xlsx, write_cell

__all__ = ["DRAFT", "FinanceSummary", "RouteLine", "Withdrawal", "decision_words", "summarise", "write_finance_summary"]

DRAFT = "DRAFT - NOT FOR SUBMISSION"
MONEY = MONEY_FORMAT
_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


@dataclass(frozen=True)
class RouteLine:
    route: str  # words: "Significant and sustained progress"
    code: str  # the route code: ssp
    claims: int
    amount_pence: int


@dataclass(frozen=True)
class Withdrawal:
    """A claim withdrawn since the last claim run: its money is recovered or offset."""

    claim_reference: str
    period_end: dt.date  # the claim window it was claimed in
    route: str  # words
    amount_pence: int
    withdrawn_on: dt.date
    reason: str  # as the person who withdrew it wrote it


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
    withdrawals: tuple[Withdrawal, ...] = field(default_factory=tuple)
    reissue: str | None = None  # "Re-issued on ...: replaces the summary produced on ..." after a withdrawal
    superseded: str | None = None  # "SUPERSEDED on ...": a summary a re-issue replaced

    @property
    def banner(self) -> str | None:
        """What the top of every sheet and the printed header say: DRAFT, SUPERSEDED, or nothing."""
        return DRAFT if self.dry_run else self.superseded

    @property
    def signable(self) -> bool:
        return self.banner is None

    def to_record(self) -> dict[str, Any]:
        """The facts as JSON-ready values (kept in the run summary, so a re-issue can write it again)."""
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FinanceSummary:
        r = dict(record)
        for k in ("window_first_day", "period_end", "produced_on"):
            r[k] = dt.date.fromisoformat(r[k])
        r["routes"] = tuple(RouteLine(**x) for x in r["routes"])
        r["reasons"] = tuple(tuple(x) for x in r["reasons"])
        r["notes"] = tuple(r.get("notes", ()))
        r["withdrawals"] = tuple(
            Withdrawal(**{**w, "period_end": dt.date.fromisoformat(w["period_end"]), "withdrawn_on": dt.date.fromisoformat(w["withdrawn_on"])})
            for w in r.get("withdrawals", ())
        )
        return cls(**r)

    def without(self, withdrawn: pd.DataFrame, *, on: dt.date, by: str, first_issued: dt.date) -> FinanceSummary:
        """This summary again after claims of its own run were withdrawn (``withdrawn``: route,
        amount_pence): fewer claims by route, and a line saying it replaces the first issue."""
        gone = withdrawn.groupby("route").agg(n=("amount_pence", "size"), pence=("amount_pence", "sum"))
        routes = tuple(
            RouteLine(x.route, x.code, x.claims - int(gone.at[x.code, "n"]), x.amount_pence - int(gone.at[x.code, "pence"]))
            if x.code in gone.index else x
            for x in self.routes
        )
        n = len(withdrawn)
        reasons = tuple((w, c, k - n) if c == "claim" else (w, c, k) for w, c, k in self.reasons)
        reasons = tuple(x for x in reasons if x[1] != "withdrawn") + (("Claim withdrawn after the run", "withdrawn",
                                                                       n + sum(k for _, c, k in self.reasons if c == "withdrawn")),)
        note = (f"Re-issued on {on:%-d %B %Y} after {n} claim{'s' if n != 1 else ''} of this run "
                f"{'were' if n != 1 else 'was'} withdrawn: this summary replaces the one produced on {first_issued:%-d %B %Y}.")
        return replace(self, routes=routes, reasons=reasons, produced_on=on, produced_by=by, reissue=note)

    def superseded_by(self, on: dt.date, issue: int) -> FinanceSummary:
        """This summary marked as replaced by re-issue ``issue``: not to be signed or submitted."""
        return replace(self, superseded=f"SUPERSEDED on {on:%-d %B %Y} (re-issue {issue}) - NOT FOR SUBMISSION")


@cache
def decision_words() -> dict[str, dict[str, str]]:
    """``{"routes": {code: words}, "reasons": {code: words}}`` (data/reference/decision_words.yaml)."""
    data = safe_yaml((REFERENCE_DIR / "decision_words.yaml").read_text(encoding="utf-8"))
    return {k: {str(c): str(w) for c, w in (v or {}).items()} for k, v in data.items()}


def decision_in_words(key: str) -> tuple[str, str, str]:
    """A run summary's ``decisions`` key (``claim:claimed``, ``no_claim:outcomes_not_met``) as
    (the decision in words, decision code, reason code; blank for a claim)."""
    decision, _, reason = key.partition(":")
    code = "" if reason == "claimed" else reason
    return decision_words()["reasons"].get(code, key), decision, code


def summarise(decisions: pd.DataFrame, programme: pd.DataFrame, fw: Any, *, council: str, window_start: dt.date,
              period_end: dt.date, claims_before: int, allocation: int | None, run_id: str, produced_by: str,
              dry_run: bool, demo: bool, withdrawals: tuple[Withdrawal, ...] = ()) -> FinanceSummary:
    """The facts of a claim run's finance summary: ``decisions`` (family_id, decision, route, reason,
    amount_pence) of every family in the register, ``programme`` (attached_on), the framework ``fw``
    in force at the period end, and what the ledger said before the run."""
    words = decision_words()
    claimed = decisions[decisions["decision"] == "claim"]
    by_route = claimed.groupby("route").agg(claims=("family_id", "size"), amount_pence=("amount_pence", "sum"))
    routes = tuple(
        RouteLine(words["routes"].get(str(code), str(code)), str(code), int(row["claims"]), int(row["amount_pence"]))
        for code, row in by_route.iterrows()
    )
    attached = programme["attached_on"]
    n_attached = int(((attached > pd.Timestamp(window_start)) & (attached <= pd.Timestamp(period_end))).sum())
    reasons = decisions.groupby("reason").size()
    framework = f"{fw.name} (version {fw.version})" + (f", local plan {fw.plan.name} v{fw.plan.version}" if fw.plan else "")
    return FinanceSummary(
        council=council,
        framework=framework,
        window_first_day=window_start + dt.timedelta(days=1),
        period_end=period_end,
        run_id=run_id,
        produced_on=dt.date.today(),
        produced_by=produced_by,
        routes=routes,
        claims_before=claims_before,
        allocation=allocation,
        over_allocation=int((decisions["reason"] == "over_allocation").sum()),
        attached_in_window=n_attached,
        attachment_fee_pence=fw.amounts.attachment_fee_pence,
        reasons=tuple((words["reasons"].get(str(code), str(code)), str(code) or "claim", int(n)) for code, n in reasons.items()),
        dry_run=dry_run,
        demo=demo,
        notes=(("A dry run: nothing is recorded in the ledger; this summary is not for submission.",) if dry_run else ()),
        withdrawals=withdrawals,
    )


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
            "line": book.add_format({"italic": True}),
            "box": book.add_format({"border": 1}),
            "reissue": book.add_format({"bold": True, "font_color": "#C00000"}),
        }
        _summary_sheet(book, fs, f)
        _reasons_sheet(book, fs, f)
    return path


def _page_setup(ws, fs: FinanceSummary, title_rows: tuple[int, int] | None) -> None:
    ws.set_portrait()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)  # one page wide, as many long as needed
    ws.set_margins(left=0.6, right=0.6, top=0.8, bottom=0.8)
    header = f"&C&\"-,Bold\"&12{fs.banner}" if fs.banner else ""
    ws.set_header(header)
    ws.set_footer(f"&LRun {fs.run_id}&RPage &P of &N")
    if title_rows is not None:
        ws.repeat_rows(*title_rows)


def _sheet(book, fs: FinanceSummary, f: dict, name: str, widths: tuple[int, ...]):
    """A new sheet with its column widths; a dry run's first row says DRAFT. Returns it and the next row."""
    ws = book.add_worksheet(name)
    for c, w in enumerate(widths):
        ws.set_column(c, c, w)
    if fs.banner is None:
        return ws, 0
    write_cell(ws, 0, 0, fs.banner, f["draft"])
    return ws, 1


def _summary_sheet(book, fs: FinanceSummary, f: dict) -> None:
    ws, r = _sheet(book, fs, f, "Summary", (46, 24, 14, 18))
    write_cell(ws, r, 0, "Results claim: finance summary", f["title"])
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
        write_cell(ws, r, 0, label, f["label"])
        if isinstance(value, dt.date):
            write_cell(ws, r, 1, value, f["date"])
        else:
            write_cell(ws, r, 1, value, f["text"])
        r += 1
    if fs.reissue:
        write_cell(ws, r, 0, fs.reissue, f["reissue"])
        r += 1
    for note in fs.notes + (("Made with the built-in demo reference key: not a real claim.",) if fs.demo else ()):
        write_cell(ws, r, 0, note, f["line"])  # one line, running on over the empty cells beside it
        r += 1

    # claims by route, with totals as formulas over the rows above
    r += 1
    write_cell(ws, r, 0, "Claims in this window, by route", f["label"])
    r += 1
    for c, h in enumerate(("Route", "Route code", "Claims", "Amount")):
        write_cell(ws, r, c, h, f["head"])
    r += 1
    first = r
    for line in fs.routes:
        write_cell(ws, r, 0, line.route, f["text"])
        write_cell(ws, r, 1, line.code, f["text"])
        write_cell(ws, r, 2, line.claims, f["int"])
        write_cell(ws, r, 3, _pounds(line.amount_pence), f["money"])
        r += 1
    total_claims = sum(x.claims for x in fs.routes)
    total_pence = sum(x.amount_pence for x in fs.routes)
    write_cell(ws, r, 0, "Total", f["total"])
    ws.write_blank(r, 1, None, f["total"])
    span = (first, r - 1)
    ws.write_formula(r, 2, _sum("C", span), f["int_total"], total_claims)
    ws.write_formula(r, 3, _sum("D", span), f["money_total"], _pounds(total_pence))
    total_row = r
    r += 2

    # claims to date against the allocation
    write_cell(ws, r, 0, "Claims to date against the allocation", f["label"])
    r += 1
    write_cell(ws, r, 0, "Claims before this window", f["text"])
    write_cell(ws, r, 2, fs.claims_before, f["int"])
    before_row = r
    r += 1
    write_cell(ws, r, 0, "Claims in this window", f["text"])
    ws.write_formula(r, 2, f"=C{total_row + 1}", f["int"], total_claims)
    r += 1
    write_cell(ws, r, 0, "Claims to date", f["total"])
    ws.write_formula(r, 2, _sum("C", (before_row, r - 1)), f["int_total"], fs.claims_before + total_claims)
    to_date_row = r
    r += 1
    write_cell(ws, r, 0, "Allocation (families)", f["text"])
    if fs.allocation is None:
        write_cell(ws, r, 2, "not set", f["right"])
    else:
        write_cell(ws, r, 2, fs.allocation, f["int"])
        r += 1
        write_cell(ws, r, 0, "Allocation remaining", f["text"])
        remaining = max(0, fs.allocation - fs.claims_before - total_claims)
        ws.write_formula(r, 2, f"=MAX(0,C{r}-C{to_date_row + 1})", f["int"], remaining)
    r += 1
    write_cell(ws, r, 0, "Families over the allocation this window (not claimed)", f["text"])
    write_cell(ws, r, 2, fs.over_allocation, f["int"])
    r += 2

    # attachment fees: reported, not claimed through the claim file
    write_cell(ws, r, 0, "Attachment fees (reported, not claimed in the claim file)", f["label"])
    r += 1
    write_cell(ws, r, 0, "Families attached in the window", f["text"])
    write_cell(ws, r, 2, fs.attached_in_window, f["int"])
    r += 1
    write_cell(ws, r, 0, "Fee per family attached", f["text"])
    write_cell(ws, r, 3, _pounds(fs.attachment_fee_pence), f["money"])
    r += 1
    write_cell(ws, r, 0, "Attachment fees", f["total"])
    ws.write_formula(r, 3, f"=C{r - 1}*D{r}", f["money_total"], _pounds(fs.attached_in_window * fs.attachment_fee_pence))
    r += 2

    r = _withdrawals(ws, fs, f, r) + 1

    if fs.signable:
        write_cell(ws, r, 0, "Sign-off", f["label"])
        r += 1
        for c, h in enumerate(("", "Name", "Role", "Signature", "Date")):
            if c:
                write_cell(ws, r, c, h, f["head"])
        ws.set_column(4, 4, 16)
        r += 1
        for who in ("Prepared by", "Checked by", "Approved for submission by"):
            ws.set_row(r, 30)
            write_cell(ws, r, 0, who, f["label"])
            for c in range(1, 5):
                ws.write_blank(r, c, None, f["box"])
            r += 1
    _page_setup(ws, fs, None)


def _withdrawals(ws, fs: FinanceSummary, f: dict, r: int) -> int:
    """Claims of earlier windows withdrawn since the last claim run: the money to recover or offset.
    Returns the row after the block."""
    write_cell(ws, r, 0, "Withdrawals since the last claim (to be recovered or offset)", f["label"])
    r += 1
    if not fs.withdrawals:
        write_cell(ws, r, 0, "None", f["text"])
        return r + 1
    for c, h in enumerate(("Claim reference", "Claimed for period end", "Withdrawn on", "Amount")):
        write_cell(ws, r, c, h, f["head"])
    r += 1
    first = r
    for w in fs.withdrawals:
        write_cell(ws, r, 0, w.claim_reference, f["text"])
        write_cell(ws, r, 1, w.period_end, f["date"])
        write_cell(ws, r, 2, w.withdrawn_on, f["date"])
        write_cell(ws, r, 3, _pounds(w.amount_pence), f["money"])
        r += 1
        write_cell(ws, r, 0, f"{w.route}; withdrawn: {w.reason}", f["line"])  # runs on across the empty cells
        r += 1
    write_cell(ws, r, 0, "Total withdrawn", f["total"])
    for c in (1, 2):
        ws.write_blank(r, c, None, f["total"])
    ws.write_formula(r, 3, _sum("D", (first, r - 1)), f["money_total"], _pounds(sum(w.amount_pence for w in fs.withdrawals)))
    return r + 1


def _reasons_sheet(book, fs: FinanceSummary, f: dict) -> None:
    ws, r = _sheet(book, fs, f, "Decisions by reason", (60, 30, 12))
    write_cell(ws, r, 0, f"Every family in the register, by decision: period end {fs.period_end:%-d %B %Y}", f["label"])
    r += 1
    head = r
    for c, h in enumerate(("Decision", "Reason code", "Families")):
        write_cell(ws, r, c, h, f["head"])
    r += 1
    first = r
    for words, code, n in fs.reasons:
        write_cell(ws, r, 0, words, f["text"])
        write_cell(ws, r, 1, code, f["text"])
        write_cell(ws, r, 2, n, f["int"])
        r += 1
    write_cell(ws, r, 0, "Total", f["total"])
    ws.write_blank(r, 1, None, f["total"])
    ws.write_formula(r, 2, _sum("C", (first, r - 1)), f["int_total"], sum(n for _, _, n in fs.reasons))
    _page_setup(ws, fs, (head, head))


def _sum(col: str, rows: tuple[int, int]) -> str:
    """``=SUM(C5:C9)`` over 0-based rows ``rows`` (inclusive); an empty span sums to 0."""
    lo, hi = rows
    return f"=SUM({col}{lo + 1}:{col}{hi + 1})" if hi >= lo else "=0"
