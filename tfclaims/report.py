"""The run report: ``report.html`` in every run folder, one self-contained page a person reads.

Two halves, both plain functions:

- the **facts** (:func:`report_facts` and the helpers it calls): counts computed, vectorised, from the
  frames a command already holds (decisions, the tracking summary, eligibility, link counts, the
  ledger's claims). They are JSON-ready and hold no personal data (counts, headline codes, claim
  references), so the run summary keeps them (``report``) and a later command (``reconcile``,
  ``ledger withdraw``, ``spot-check``) can draw the page again without the cohort;
- the **page** (:func:`build_report`): the run summary dict (with those facts) to an HTML string.
  Every plot is SVG written by :mod:`tfclaims.plots` and inlined; the same summary gives the same
  bytes. The page loads nothing: a Content-Security-Policy forbids every network load, there is
  no script, and every text from the data or the council's files is HTML-escaped.

:func:`write_report` writes the page atomically.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfclaims import plots

__all__ = ["CSP", "build_report", "claims_by_window", "report_facts", "write_report"]

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

# the words people read for the codes the facts keep
ROUTE_WORDS = {
    "ssp": "Significant and sustained progress",
    "continuous_employment": "Continuous employment",
    "sfo": "Successful family outcome",
    "discretionary": "Discretionary claim (a manager's decision)",
}
LINK_WORDS = {
    "person_id": "the person id given",
    "la_child_id": "the council's child id",
    "upn": "UPN",
    "nhs_number": "NHS number",
    "ni_number": "NI number",
    "name_dob": "name and date of birth",
    "probabilistic": "probabilistic match (Splink)",
    "clerical": "a reviewer's decision",
    "family_only": "household row (no person needed)",
    "unmatched": "not linked (sent to review)",
}
UNMATCHED_WORDS = {
    "unknown_person_id": "person id not in people",
    "ambiguous": "more than one person fits",
    "below_threshold": "match below the threshold",
    "no_candidate": "nobody fits",
    "no_person_reference": "no person reference on the row",
    "reviewed_no_match": "a reviewer found no match",
}
STATUS_WORDS = {"not_met": "not met", "not_yet": "not yet", "not_evaluated": "not evaluated"}
VERDICT_WORDS = {"valid": "valid", "invalid": "invalid (claim withdrawn)", "query": "query (open)"}

# Okabe-Ito: told apart by people with any common colour-vision deficiency
BLUE, ORANGE, SKY, GREEN, VERMILLION, PURPLE, GREY = "#0072B2", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#8C8C8C"
INK = "#1F1F1F"



# ----------------------------------------------------------------------------------------------
# the facts: counts from the frames a command already holds


def _flag(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame:
        return pd.Series(False, index=frame.index)
    return frame[name].astype("boolean").fillna(False).astype(bool)


def _codes_per_family(codes: pd.Series, sep: str = ";") -> pd.Series:
    """``"crime_asb;health"`` per family -> one code per row (vectorised explode)."""
    s = codes.astype("str").fillna("")
    s = s[s != ""]
    return s.str.split(sep).explode().str.strip()


def headline_counts(headlines: pd.Series, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """How many families have each headline (``headlines``: the ``;``-joined codes per family), in
    the framework's order, every headline of the framework listed (0 where none)."""
    counts = _codes_per_family(headlines).value_counts()
    return [{"code": code, "label": label, "families": int(counts.get(code, 0))} for code, label in labels.items()]


def blocking_headlines(unmet: pd.Series, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """The headlines not met of the families given (``unmet``: ``"education: not_met; health: not_yet"``
    per family): per headline, how many families have it not met, not yet, not evaluated."""
    parts = _codes_per_family(unmet, ";")
    split = parts.str.split(": ", n=1, expand=True) if len(parts) else pd.DataFrame({0: [], 1: []})
    split = split.reindex(columns=[0, 1])
    table = pd.crosstab(split[0], split[1]) if len(split) else pd.DataFrame()
    out = []
    for code, label in labels.items():
        row = {s: int(table.at[code, s]) if code in table.index and s in table.columns else 0 for s in STATUS_WORDS}
        if sum(row.values()):
            out.append({"code": code, "label": label, **row})
    return out


def claim_funnel(decisions: pd.DataFrame, families: pd.DataFrame, routes: Sequence[str]) -> dict[str, int]:
    """The claim's funnel, each step a subset of the one before (but the last: a discretionary claim
    need not meet the outcomes): register, attached, eligible, whole-family working, outcomes met, claimed."""
    fam = families.drop_duplicates("family_id").set_index("family_id")
    ids = decisions["family_id"].to_numpy()
    looked = fam.reindex(ids)
    attached = (decisions["reason"] != "not_attached").to_numpy()
    eligible = attached & _flag(looked, "eligible_at_attachment").to_numpy()
    wfw = eligible & _flag(looked, "whole_family_working").to_numpy()
    any_route = np.logical_or.reduce([_flag(looked, r).to_numpy() for r in routes]) if routes else np.zeros(len(ids), bool)
    return {
        "register": int(len(decisions)),
        "attached": int(attached.sum()),
        "eligible": int(eligible.sum()),
        "whole_family_working": int(wfw.sum()),
        "outcomes_met": int((wfw & any_route).sum()),
        "claimed": int((decisions["decision"] == "claim").sum()),
    }


def track_funnel(families: pd.DataFrame, routes: Sequence[str]) -> dict[str, int]:
    """Attached families -> eligible when attached -> whole-family working -> a claim route's outcomes met."""
    eligible = _flag(families, "eligible_at_attachment").to_numpy()
    wfw = eligible & _flag(families, "whole_family_working").to_numpy()
    any_route = np.logical_or.reduce([_flag(families, r).to_numpy() for r in routes]) if routes else np.zeros(len(families), bool)
    return {"attached": int(len(families)), "eligible": int(eligible.sum()), "whole_family_working": int(wfw.sum()),
            "outcomes_met": int((wfw & any_route).sum())}


def link_facts(counts: pd.DataFrame | None, unmatched: pd.DataFrame | None) -> dict[str, Any] | None:
    """Rows per link method (every event table, and each table), and the unmatched rows by reason."""
    if counts is None or not len(counts):
        return None
    methods = [c for c in counts.columns if c != "rows"]
    totals = counts[methods].sum()
    reasons = unmatched["reason"].astype("str").value_counts() if unmatched is not None and len(unmatched) else pd.Series(dtype="int64")
    return {
        "rows": int(counts["rows"].sum()),
        "methods": [{"method": m, "rows": int(totals[m])} for m in methods],
        "tables": [{"table": str(t), "rows": int(r["rows"]), **{m: int(r[m]) for m in methods}} for t, r in counts.iterrows()],
        "unmatched_reasons": [{"reason": str(k), "rows": int(v)} for k, v in sorted(reasons.items())],
    }


def claims_by_window(claims: pd.DataFrame | None, *, period_end: dt.date | None = None, draft: int = 0) -> list[dict[str, Any]]:
    """The ledger's claims of one framework per claim window (period end): live, withdrawn; and the
    claims of a dry run at ``period_end`` (``draft``: not in the ledger)."""
    rows: dict[str, dict[str, Any]] = {}
    if claims is not None and len(claims):
        pe = pd.to_datetime(claims["period_end"]).dt.strftime("%Y-%m-%d")
        status = claims["status"].astype("str")
        table = pd.crosstab(pe, status)
        for window, r in table.iterrows():
            rows[str(window)] = {"period_end": str(window), "claimed": int(r.get("claimed", 0)), "withdrawn": int(r.get("withdrawn", 0)), "draft": 0}
    if draft and period_end is not None:
        key = period_end.isoformat()
        rows.setdefault(key, {"period_end": key, "claimed": 0, "withdrawn": 0, "draft": 0})["draft"] = int(draft)
    return [rows[k] for k in sorted(rows)]


def report_facts(*, council: str, framework: Any = None, produced_on: dt.date | None = None, **facts: Any) -> dict[str, Any]:
    """The report's facts for the run summary: the council, the framework in words, the day, and
    whatever the command computed (``funnel``, ``headlines``, ``blocking``, ``link``, ``windows``)."""
    out: dict[str, Any] = {"council": council, "produced_on": (produced_on or dt.date.today()).isoformat()}
    if framework is not None:
        out["framework"] = f"{framework.name} (version {framework.version})" + (
            f", local plan {framework.plan.name} v{framework.plan.version}" if framework.plan else "")
        out["headline_labels"] = {code: h.label for code, h in framework.headlines.items()}
    out.update({k: v for k, v in facts.items() if v is not None})
    return out


def sample_facts(sample: pd.DataFrame) -> dict[str, Any]:
    """The claim references of a spot-check sample and its strata (no family ids)."""
    strata = sample["stratum"].astype("str").value_counts().sort_index()
    return {"references": [{"claim_reference": str(r), "route": str(t)} for r, t in zip(sample["claim_reference"], sample["route"], strict=True)],
            "strata": {str(k): int(v) for k, v in strata.items()}}


# ----------------------------------------------------------------------------------------------
# the plots: hand-written SVG (tfclaims.plots), inline, with ids of their own


def _hbars(name: str, labels: Sequence[str], stacks: Sequence[tuple[str, Sequence[int], str | Sequence[str]]], *, xlabel: str,
           notes: Sequence[str] | None = None) -> str:
    """Horizontal bars (stacked when several ``stacks``: legend name, values, colour or a colour per
    bar), the first label at the top, the total (or ``notes``) written at the end of each bar."""
    return plots.hbars(name, labels, stacks, xlabel=xlabel, notes=notes)


def _window_bars(name: str, windows: Sequence[Mapping[str, Any]], allocation: int | None) -> str:
    """Claims per claim window (live, withdrawn, dry run) with claims to date and the allocation."""
    series = [(legend, [int(w.get(key, 0)) for w in windows], colour, key == "withdrawn")
              for key, legend, colour in (("claimed", "claimed", BLUE), ("draft", "this dry run (not recorded)", SKY),
                                          ("withdrawn", "withdrawn", GREY))]
    to_date = np.cumsum([int(w.get("claimed", 0)) + int(w.get("draft", 0)) for w in windows]).tolist()
    return plots.window_bars(name, [_date_words(w["period_end"], short=True) for w in windows], series, to_date=to_date,
                             to_date_colour=ORANGE, allocation=allocation, allocation_colour=VERMILLION)


# ----------------------------------------------------------------------------------------------
# the page


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _n(value: Any) -> str:
    return f"{int(value):,}"


def _money(pence: int) -> str:
    from tfclaims.claim.decide import pounds_text

    return pounds_text(int(pence))


def _date_words(iso: str | None, *, short: bool = False) -> str:
    if not iso:
        return ""
    d = dt.date.fromisoformat(str(iso)[:10])
    return f"{d.day} {d:%b %Y}" if short else f"{d.day} {d:%B %Y}"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{_n(n)} {one if n == 1 else (many or one + 's')}"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:] if s[:1].isupper() and not s[1:2].isupper() else s


def _table(caption: str, header: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric_from: int = 1,
           foot: Sequence[Any] | None = None) -> str:
    """An accessible table: caption, header cells with scope, the first cell of a row its header."""
    head = "".join(f'<th scope="col"{" class=num" if i >= numeric_from else ""}>{_e(h)}</th>' for i, h in enumerate(header))
    body = []
    for r in [*rows, *([foot] if foot else [])]:
        cells = [f'<th scope="row">{_e(r[0])}</th>'] + [f'<td{" class=num" if i >= numeric_from else ""}>{_e(v)}</td>'
                                                       for i, v in enumerate(r[1:], start=1)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    tfoot = ""
    if foot:
        tfoot = "<tfoot>" + body.pop() + "</tfoot>"
    return (f'<table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody>{tfoot}</table>')


def _figure_block(name: str, heading: str, sentence: str, svg: str, table: str) -> str:
    return (f'<div class="pair"><figure><figcaption id="cap-{name}"><h3>{_e(heading)}</h3><p>{_e(sentence)}</p></figcaption>'
            f'{svg}</figure><div class="figures">{table}</div></div>')


def _section(anchor: str, title: str, body: str) -> tuple[str, str, str]:
    return anchor, title, f'<section id="{anchor}" aria-labelledby="h-{anchor}"><h2 id="h-{anchor}">{_e(title)}</h2>{body}</section>'


# --- one function per section; each returns None when it does not apply to the run


def _is_claim(s: Mapping[str, Any]) -> bool:
    return "finance_summary" in s


def _banner(s: Mapping[str, Any]) -> str:
    if _is_claim(s) and s.get("dry_run"):
        return ("DRAFT — NOT FOR SUBMISSION", "a dry run: nothing was recorded in the ledger and no claim was made")
    if not _is_claim(s) and s.get("command") != "spot-check":
        return ("DRAFT — NOT FOR SUBMISSION", "this run makes no claim")
    return None


def _title_block(s: Mapping[str, Any]) -> str:
    r = s.get("report", {})
    fs = s.get("finance_summary") or {}
    rows: list[tuple[str, str]] = [("Council", r.get("council") or fs.get("council") or "")]
    rows.append(("Command", f"tfclaims {s.get('command', '')}"))
    rows.append(("Run id", str(s.get("run_id", ""))))
    if s.get("claim_run_id"):
        rows.append(("Claim run", str(s["claim_run_id"])))
    framework = fs.get("framework") or r.get("framework")
    if framework:
        rows.append(("Framework", framework))
    if s.get("period_end"):
        rows.append(("Period end", _date_words(s["period_end"])))
    if fs:
        rows.append(("Claim window", f"{_date_words(fs['window_first_day'])} to {_date_words(fs['period_end'])}"))
    if s.get("as_of"):
        rows.append(("As of", _date_words(s["as_of"])))
    rows.append(("Produced on", _date_words(r.get("produced_on"))))
    if r.get("refreshed_on"):
        rows.append(("Refreshed on", f"{_date_words(r['refreshed_on'])} ({r.get('refreshed_by_command', '')})"))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows if v)
    band = _banner(s)
    band_html = f'<p class="band" role="note"><strong>{_e(band[0])}</strong>: {_e(band[1])}.</p>' if band else ""
    notes = []
    if s.get("demo_reference_key"):
        notes.append("Made with the built-in demo reference key: not a real claim.")
    for reissue in s.get("reissues", []):
        notes.append(f"Re-issued on {_date_words(reissue.get('on'))}: {_join(reissue.get('withdrawn', []))} withdrawn after the run; "
                     f"the claims shown are the {_n(reissue.get('claims_left', 0))} left.")
    note_html = "".join(f'<p class="note">{_e(n)}</p>' for n in notes)
    return (f'<header>{band_html}<h1>Run report</h1><p class="lede">What this run read, decided and wrote, in counts and '
            f'pseudonymous claim references only.</p><dl class="title">{dl}</dl>{note_html}</header>')


def _funnel_section(s: Mapping[str, Any]) -> tuple[str, str, str] | None:
    r = s.get("report", {})
    f = r.get("funnel")
    if not f:
        return None
    command = s.get("command")
    if _is_claim(s):
        claimed = sum(x["claims"] for x in s["finance_summary"]["routes"])  # live claims: after a re-issue, fewer
        steps = [("In the programme register", f["register"]), ("Attached by the period end", f["attached"]),
                 ("Eligible when attached", f["eligible"]), ("Whole-family working evidenced", f["whole_family_working"]),
                 ("Outcomes met on a claim route", f["outcomes_met"]), ("Claimed" + (" (after withdrawals)" if s.get("reissues") else ""), claimed)]
        sentence = (f"Of {_plural(f['register'], 'family', 'families')} in the programme register, {_n(f['attached'])} were attached by "
                    f"the period end, {_n(f['eligible'])} were eligible when attached, {_n(f['whole_family_working'])} had whole-family "
                    f"working evidenced, {_n(f['outcomes_met'])} met the outcomes of a claim route and {_n(claimed)} "
                    f"{'is' if claimed == 1 else 'are'} claimed.")
    elif command == "identify":
        steps = [("Families in the cohort", f["families"]), ("With at least one headline", f["with_headline"]),
                 ("Eligible: candidates to confirm", f["eligible"])]
        sentence = (f"Of {_plural(f['families'], 'family', 'families')} in the cohort, {_n(f['with_headline'])} showed at least one headline "
                    f"on the as-of date and {_n(f['eligible'])} met the eligibility rule: candidates for a practitioner to confirm.")
    else:
        steps = [("Attached by the as-of date", f["attached"]), ("Eligible when attached", f["eligible"]),
                 ("Whole-family working evidenced", f["whole_family_working"]), ("Outcomes met on a claim route", f["outcomes_met"])]
        sentence = (f"Of {_plural(f['attached'], 'family', 'families')} attached by the as-of date, {_n(f['eligible'])} were eligible when "
                    f"attached, {_n(f['whole_family_working'])} had whole-family working evidenced and {_n(f['outcomes_met'])} met the "
                    "outcomes of a claim route.")
    labels, values = [a for a, _ in steps], [b for _, b in steps]
    svg = _hbars("funnel", labels, [("families", values, [BLUE] * (len(values) - 1) + [GREEN])], xlabel="families")
    table = _table("Families at each step", ["Step", "Families"], [(a, _n(b)) for a, b in steps])
    body = _figure_block("funnel", "From the register to the claim" if _is_claim(s) else "Families at each step", sentence, svg, table)
    if _is_claim(s):
        body += '<p class="note">A discretionary claim (a manager\'s decision) is claimed without its outcomes met.</p>'
    return _section("funnel", "The funnel", body)


def _routes_section(s: Mapping[str, Any]) -> tuple[str, str, str] | None:
    if not _is_claim(s):
        return None
    routes = s["finance_summary"]["routes"]
    n = sum(x["claims"] for x in routes)
    pence = sum(x["amount_pence"] for x in routes)
    if not routes:
        sentence = "No family is claimed in this run."
        return _section("routes", "Claims by route", f"<p>{_e(sentence)}</p>")
    parts = [f"{_n(x['claims'])} by {_lower_first(x['route'])} ({_money(x['amount_pence'])})" for x in routes]
    sentence = f"{_plural(n, 'claim')} for {_money(pence)}: {_join(parts)}."
    svg = _hbars("routes", [x["route"] for x in routes], [("claims", [x["claims"] for x in routes], BLUE)], xlabel="claims",
                 notes=[f"{_n(x['claims'])}  ({_money(x['amount_pence'])})" for x in routes])
    table = _table("Claims by route", ["Route", "Claims", "Amount"], [(x["route"], _n(x["claims"]), _money(x["amount_pence"])) for x in routes],
                   foot=("Total", _n(n), _money(pence)))
    return _section("routes", "Claims by route", _figure_block("routes", "Claims in this window, by route", sentence, svg, table))


def _windows_section(s: Mapping[str, Any]) -> tuple[str, str, str] | None:
    if not _is_claim(s):
        return None
    windows = s.get("report", {}).get("windows") or []
    allocation = s.get("allocation")
    if not windows:
        return None
    live = sum(w["claimed"] + w.get("draft", 0) for w in windows)
    withdrawn = sum(w.get("withdrawn", 0) for w in windows)
    if allocation is None:
        sentence = (f"Claims to date are {_n(live)} across {_plural(len(windows), 'claim window')}; no allocation is set "
                    "(the framework's, the council config's or --allocation).")
    else:
        sentence = (f"Claims to date are {_n(live)} of an allocation of {_n(allocation)} across {_plural(len(windows), 'claim window')}, "
                    f"leaving {_n(max(0, allocation - live))}.")
    if withdrawn:
        sentence = sentence[:-1] + f"; {_n(withdrawn)} withdrawn {'claim does' if withdrawn == 1 else 'claims do'} not count."
    if any(w.get("draft") for w in windows):
        sentence = sentence[:-1] + "; this dry run's claims are shown as if recorded."
    svg = _window_bars("windows", windows, allocation)
    rows, total = [], 0
    for w in windows:
        total += w["claimed"] + w.get("draft", 0)
        rows.append((_date_words(w["period_end"], short=True), _n(w["claimed"]), _n(w.get("draft", 0)), _n(w.get("withdrawn", 0)), _n(total)))
    table = _table("Claims per claim window, from the ledger", ["Period end", "Claimed", "Dry run", "Withdrawn", "To date"], rows)
    if allocation is not None:
        table += f'<p class="note">Allocation: {_e(_n(allocation))} families.</p>'
    return _section("windows", "Claims to date against the allocation",
                    _figure_block("windows", "Claims per claim window", sentence, svg, table))


def _headlines_section(s: Mapping[str, Any]) -> tuple[str, str, str] | None:
    h = s.get("report", {}).get("headlines")
    if not h:
        return None
    rows = h["rows"]
    pop = h["population"]
    when = "on the as-of date" if s.get("command") == "identify" else "when attached"
    who = "families in the cohort" if s.get("command") == "identify" else "attached families"
    top = max(rows, key=lambda x: x["families"]) if rows else None
    if top is None or not top["families"]:
        sentence = f"None of the {_n(pop)} {who} showed a headline {when}."
    else:
        sentence = (f"Of {_n(pop)} {who}, {_n(top['families'])} had {_lower_first(top['label'])} {when}, the most common of "
                    f"{_plural(len(rows), 'headline')}; a family may have several.")
    svg = _hbars("headlines", [x["label"] for x in rows], [("families", [x["families"] for x in rows], PURPLE)], xlabel="families")
    table = _table(f"Families with each headline {when}", ["Headline", "Families"], [(x["label"], _n(x["families"])) for x in rows])
    return _section("headlines", "Headlines " + ("on the as-of date" if s.get("command") == "identify" else "at attachment"),
                    _figure_block("headlines", "How many families have each headline", sentence, svg, table))


def _blocking_section(s: Mapping[str, Any]) -> tuple[str, str, str] | None:
    b = s.get("report", {}).get("blocking")
    if not b:
        return None
    from tfclaims.claim.finance import decision_words

    body = ""
    reasons = b.get("reasons") or []
    if reasons:
        words = decision_words()["reasons"]
        labels = [words.get(x["code"], x["code"]).removeprefix("No claim: ").removeprefix("No claim yet: ") for x in reasons]
        labels = [x[:1].upper() + x[1:] for x in labels]
        n = sum(x["families"] for x in reasons)
        parts = [f"{_n(x['families'])} {_lower_first(w)}" for x, w in zip(reasons, labels, strict=True)]
        sentence = f"Of {_plural(n, 'attached family', 'attached families')} not claimed: {_join(parts)}."
        svg = _hbars("reasons", labels, [("families", [x["families"] for x in reasons], ORANGE)], xlabel="families")
        table = _table("Attached families not claimed, by reason", ["Reason", "Families"],
                       [(w, _n(x["families"])) for x, w in zip(reasons, labels, strict=True)], foot=("Total", _n(n)))
        body += _figure_block("reasons", "Why attached families were not claimed", sentence, svg, table)
    heads = b.get("headlines") or []
    fam = b.get("families", 0)
    if heads:
        worst = max(heads, key=lambda x: sum(x[k] for k in STATUS_WORDS))
        total = sum(worst[k] for k in STATUS_WORDS)
        who = "families whose outcomes were not met" if _is_claim(s) else "attached families without a claim route's outcomes met"
        sentence = (f"Of the {_n(fam)} {who}, {_n(total)} still had {_lower_first(worst['label'])} to meet "
                    f"({_n(worst['not_met'])} not met, {_n(worst['not_yet'])} not yet, {_n(worst['not_evaluated'])} not evaluated), "
                    "the headline holding up most families.")
        svg = _hbars("blocking", [x["label"] for x in heads],
                     [(STATUS_WORDS[k], [x[k] for x in heads], c) for k, c in (("not_met", VERMILLION), ("not_yet", ORANGE), ("not_evaluated", GREY))],
                     xlabel="families")
        table = _table("Headlines not met, by status", ["Headline", "Not met", "Not yet", "Not evaluated"],
                       [(x["label"], _n(x["not_met"]), _n(x["not_yet"]), _n(x["not_evaluated"])) for x in heads])
        body += _figure_block("blocking", "Headlines still to be met", sentence, svg, table)
    elif fam == 0 and not reasons:
        return None
    return _section("blocking", "What holds up the unclaimed families" if _is_claim(s) else "What holds up the families", body)


def _forecast_section(s: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """``tfclaims forecast``: families becoming claimable per claim window, what holds back the rest, near misses."""
    f = s.get("forecast")
    if not f:
        return None
    windows = f.get("windows") or []
    if not windows:
        return None
    labels = [("now, " if w["window"].startswith("now") else "") + _date_words(w["period_end"], short=True) for w in windows]
    n_later = sum(w["families"] for w in windows)
    money = sum(w["amount_pence"] for w in windows)
    allocation = f.get("allocation")
    cut = f" (the programme's last period end, {_date_words(f['programme_end'])}, comes first)" if f.get("programme_end") else ""
    sentence = (f"On the data as held on {_date_words(f['as_of'])}, with nothing new after it: of {_plural(f['families'], 'attached family', 'attached families')} "
                f"not yet claimed, {_n(f['claimable_now'])} {'is' if f['claimable_now'] == 1 else 'are'} claimable now and {_n(f['claimable_later'])} "
                f"become claimable by {_date_words(f['horizon_end'])}{cut}, {_money(money)} in all; {_n(f['not_within_horizon'])} cannot be claimed "
                "within the horizon.")
    if allocation is not None:
        last = windows[-1]["claims_to_date"]
        sentence += f" Claims to date would be {_n(last)} of an allocation of {_n(allocation)}."
    notes = [f"{_n(w['families'])}  ({_money(w['amount_pence'])}; {_n(w['claims_to_date'])} to date)" for w in windows]
    svg = _hbars("forecast", labels, [("families becoming claimable", [w["families"] for w in windows], [GREEN] + [BLUE] * (len(windows) - 1))],
                 xlabel="families becoming claimable", notes=notes)
    rows = [(lab, _n(w["families"]), _money(w["amount_pence"]), _n(w["claims_to_date"])) for lab, w in zip(labels, windows, strict=True)]
    header = ["Claim window", "Families", "Amount", "Claims to date"]
    foot: tuple[str, ...] = ("Total", _n(n_later), _money(money), _n(windows[-1]["claims_to_date"]))
    if allocation is not None:
        rows = [(*r, _n(max(0, (w.get("allocation") or 0) - w["claims_to_date"]))) for r, w in zip(rows, windows, strict=True)]
        header, foot = [*header, "Allocation left"], (*foot, "")
    table = _table("Families becoming claimable, per claim window", header, rows, foot=foot)
    if f.get("claims_before"):
        table += f'<p class="note">Claims to date start from the {_e(_n(f["claims_before"]))} live claims in the ledger.</p>'
    body = _figure_block("forecast", "When families become claimable", sentence, svg, table)
    holding = f.get("holding_back") or []
    if holding:
        sentence = (f"Of the {_plural(f['not_within_horizon'], 'family', 'families')} that cannot be claimed within the horizon, what still holds "
                    "them back at its end (a family may be held back by several).")
        svg = _hbars("forecast-blockers", [x["blocker"] for x in holding], [("families", [x["families"] for x in holding], ORANGE)], xlabel="families")
        table = _table("What holds back the families not claimable within the horizon", ["Headline or condition", "Families"],
                       [(x["blocker"], _n(x["families"])) for x in holding])
        body += _figure_block("forecast-blockers", "What holds the rest back", sentence, svg, table)
    near = f.get("near_misses") or {}
    if near:
        body += _table("Near misses (forecast.xlsx, sheet Near misses, names the missing evidence)", ["Near miss", "Families"],
                       [(k[:1].upper() + k[1:], _n(v)) for k, v in sorted(near.items())])
    body += ('<p class="note">A look-ahead: nothing is claimed and nothing is recorded in the ledger. Each date is a claim run that '
             'would claim the family first then, on the data as held on the as-of date.</p>')
    return _section("forecast", "Looking ahead", body)


def _comparison_section(s: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """``tfclaims compare-plans``: the totals under A and B, and how many families differ in what."""
    c = s.get("comparison")
    if not c:
        return None
    totals = {t["side"]: t for t in c["totals"]}
    a, b = totals["A"], totals["B"]
    differing = c.get("families_differing") or {}
    sentence = (f"At {_date_words(c['as_of'])}: A ({c['a']}) claims {_plural(a['claims'], 'family', 'families')} for {_money(a['amount_pence'])}; "
                f"B ({c['b']}) claims {_n(b['claims'])} for {_money(b['amount_pence'])}.")
    order = [("eligibility", "Eligibility"), ("outcome", "Outcome status (a headline or more)"), ("claim decision", "Claim decision")]
    rows = [(words, differing.get(k, 0)) for k, words in order]
    svg = _hbars("comparison", [r[0] for r in rows], [("families", [r[1] for r in rows], BLUE)], xlabel="families that differ")
    table = _table("Totals under each", ["", "A", "B"], [
        ("Eligible families", _n(a["eligible_families"]), _n(b["eligible_families"])),
        ("Attached families", _n(a["attached_families"]), _n(b["attached_families"])),
        ("Headline outcomes met", _n(a["outcomes_met"]), _n(b["outcomes_met"])),
        ("Claims", _n(a["claims"]), _n(b["claims"])),
        ("Amount", _money(a["amount_pence"]), _money(b["amount_pence"])),
    ])
    table += _table("Families that differ", ["In", "Families"], [(w, _n(n)) for w, n in rows])
    body = _figure_block("comparison", "What the change would do", sentence, svg, table)
    body += '<p class="note">Each difference, with the rules engine\'s words under A and under B, is in plan_comparison.xlsx and plan_differences.csv.</p>'
    return _section("comparison", "Comparing the rules", body)


def _validation_section(s: Mapping[str, Any]) -> tuple[str, str, str] | None:
    tables = s.get("tables")
    if not tables:
        return None
    names = list(tables)
    read = sum(t["read"] for t in tables.values())
    accepted = sum(t["accepted"] for t in tables.values())
    quarantined = sum(t["quarantined"] for t in tables.values())
    sentence = (f"Of {_plural(read, 'row')} read from {_plural(len(names), 'table')}, {_n(accepted)} were accepted and "
                f"{_n(quarantined)} quarantined (each listed in validation_errors.xlsx with its file, row and reason).")
    svg = _hbars("validation", names, [("rows quarantined", [tables[t]["quarantined"] for t in names], VERMILLION)], xlabel="rows quarantined")
    table = _table("Rows per table", ["Table", "Read", "Accepted", "Quarantined"],
                   [(t, _n(tables[t]["read"]), _n(tables[t]["accepted"]), _n(tables[t]["quarantined"])) for t in names],
                   foot=("Total", _n(read), _n(accepted), _n(quarantined)))
    body = _figure_block("validation", "Rows quarantined per table", sentence, svg, table)
    if s.get("not_supplied"):
        body += f'<p class="note">Not supplied (no data, never read as "no problem"): {_e(", ".join(s["not_supplied"]))}.</p>'
    return _section("validation", "Validation", body)


def _returns_section(s: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """The CIN census and SSDA903 files read: their years, what became rows, what was left out and why."""
    returns = s.get("returns")
    if not returns:
        return None
    body = ""
    for r in returns:
        rows = _join([f"{_plural(n, 'row')} of {t}" for t, n in r["rows"].items()]) or "no rows"
        sentence = (f"{_plural(r['records_read'], 'record')} read from the returns of {_plural(len({f['collection_year'] for f in r['files']}), 'collection year')}: "
                    f"{_n(r['records_used'])} became {rows}; {_n(r['records_left_out'])} left out (returns_left_out.csv, each with its reason)"
                    + (f"; {_plural(r['findings'], 'value')} broke the published specification and were reported (returns_findings.csv)."
                       if r["findings"] else "."))
        body += f"<h3>{_e(r['source'])}</h3><p>{_e(sentence)}</p>"
        body += _table(f"{r['source']} files and what they cover", ["File", "Collection year", "Reference date"],
                       [(f["file"], str(f["collection_year"]), f["reference_date"]) for f in r["files"]])
        if r["left_out_by_reason"]:
            body += _table(f"{r['source']} records left out, by reason", ["Reason", "Records"],
                           [(why, _n(n)) for why, n in r["left_out_by_reason"].items()])
    for table, day in s.get("covered_to", {}).items():
        body += (f'<p class="note">{_e(table)} comes only from these returns, so it is known only to {_e(day)}: a rule that needs '
                 "to know there was no episode after that day is not evaluated there, never read as \"no episode\".</p>")
    return _section("returns", "Children's social care returns", body)


def _link_section(s: Mapping[str, Any]) -> tuple[str, str, str] | None:
    link = s.get("report", {}).get("link")
    if not link:
        return None
    methods = link["methods"]
    shown = [m for m in methods if m["rows"] or m["method"] in ("person_id", "unmatched")]
    by = {m["method"]: m["rows"] for m in methods}
    linked = [f"{_n(m['rows'])} by {LINK_WORDS.get(m['method'], m['method'])}" for m in shown if m["method"] not in ("unmatched", "family_only") and m["rows"]]
    sentence = (f"Of {_plural(link['rows'], 'event row')}, {_join(linked) or 'none were linked'}"
                + (f", {_n(by.get('family_only', 0))} are household rows" if by.get("family_only") else "")
                + f"; {_n(by.get('unmatched', 0))} could not be linked with confidence (unmatched.csv, for review).")
    labels = [LINK_WORDS.get(m["method"], m["method"]) for m in shown]
    svg = _hbars("link", [x[:1].upper() + x[1:] for x in labels], [("rows", [m["rows"] for m in shown], GREEN)], xlabel="rows")
    table = _table("Event rows by how they were linked", ["Linked by", "Rows"], [(w, _n(m["rows"])) for w, m in zip(labels, shown, strict=True)],
                   foot=("Total", _n(link["rows"])))
    body = _figure_block("link", "How event rows were linked to people", sentence, svg, table)
    used = [m["method"] for m in shown]
    per_table = [(t["table"], *[_n(t[m]) for m in used]) for t in link["tables"]]
    body += "<details><summary>Per table</summary>" + _table("Event rows per table and link method", ["Table", *[LINK_WORDS.get(m, m) for m in used]],
                                                             per_table) + "</details>"
    if link.get("unmatched_reasons"):
        body += _table("Rows not linked, by reason", ["Reason", "Rows"],
                       [(UNMATCHED_WORDS.get(x["reason"], x["reason"]), _n(x["rows"])) for x in link["unmatched_reasons"]])
    return _section("link", "Link results", body)


def _spot_check_section(s: Mapping[str, Any]) -> tuple[str, str, str] | None:
    spot = s.get("spot_check")
    rec = s.get("reconciliation")
    if not spot and not rec:
        return None
    body = ""
    withdrawn = {ref for r in s.get("reissues", []) for ref in r.get("withdrawn", [])}
    verdicts = {v["claim_reference"]: v["verdict"] for v in (rec or {}).get("verdicts", [])}
    refs = (spot or {}).get("references") or [{"claim_reference": v["claim_reference"], "route": v.get("route", "")} for v in (rec or {}).get("verdicts", [])]
    if spot:
        strata = spot.get("strata") or {}
        drawn = ", ".join(f"{ROUTE_WORDS.get(k, k).lower()} {_n(v)}" for k, v in strata.items() if k != "discretionary")
        how = (f"{_plural(spot.get('sampled', 0), 'claim')} of {_n(spot.get('population', 0))} drawn at random"
               + (f" (rate {spot['rate']:.0%}, at least {_n(spot['min_n'])})" if spot.get("rate") is not None else "")
               + (f", stratified by route ({drawn})" if drawn else "")
               + f", with seed {spot.get('seed')}; {_plural(spot.get('discretionary', 0), 'discretionary claim')} added on top, as every one is.")
        body += f"<p>{_e(how[:1].upper() + how[1:])} The same claims and seed always give the same sample.</p>"
    if refs:
        header = ["Claim reference", "Route"] + (["Verdict"] if verdicts else [])
        rows = []
        for x in refs:
            ref = x["claim_reference"]
            row = [ref + (" (withdrawn)" if ref in withdrawn else ""), ROUTE_WORDS.get(x.get("route", ""), x.get("route", ""))]
            if verdicts:
                row.append(VERDICT_WORDS.get(verdicts.get(ref, ""), verdicts.get(ref, "")))
            rows.append(row)
        body += _table("The sampled claims (claim references only)", header, rows, numeric_from=len(header))
    if rec:
        counts = [("valid", rec.get("valid", 0), GREEN), ("invalid", rec.get("invalid", 0), VERMILLION), ("query", rec.get("query", 0), ORANGE)]
        rate = rec.get("error_rate")
        lo, hi = rec.get("error_rate_wilson_95") or (None, None)
        sentence = (f"Of {_plural(rec.get('sampled', 0), 'sampled claim')}, {_n(counts[0][1])} {'was' if counts[0][1] == 1 else 'were'} valid, "
                    f"{_n(counts[1][1])} invalid and {_n(counts[2][1])} queried"
                    + (f": a sample error rate of {rate:.1%} (95% Wilson interval {lo:.1%} to {hi:.1%})" if rate is not None else "")
                    + (f"; withdrawn: {_join(rec['withdrawn_now'])}" if rec.get("withdrawn_now") else "") + ".")
        svg = _hbars("verdicts", [VERDICT_WORDS[k][:1].upper() + VERDICT_WORDS[k][1:] for k, _, _ in counts],
                     [("claims", [c for _, c, _ in counts], [colour for _, _, colour in counts])], xlabel="sampled claims")
        rows = [(VERDICT_WORDS[k], _n(c)) for k, c, _ in counts]
        table = _table("Verdicts", ["Verdict", "Claims"], rows, foot=("Sampled", _n(rec.get("sampled", 0))))
        body += _figure_block("verdicts", "The auditor's verdicts", sentence, svg, table)
        go = "The claim may go forward." if rec.get("may_go_forward") else "The claim may NOT go forward: " + "; ".join(rec.get("blockers", [])) + "."
        body += f'<p class="{"ok" if rec.get("may_go_forward") else "warn"}">{_e(go)}</p>'
        if rec.get("reconciled_on"):
            body += f'<p class="note">Reconciled on {_e(_date_words(rec["reconciled_on"]))}.</p>'
    else:
        body += '<p class="note">Not reconciled yet: the auditor\'s verdicts are read back with <code>tfclaims reconcile</code>, which draws this page again with them.</p>'
    return _section("spot-check", "The spot check", body)


def _csv_only_section(s: Mapping[str, Any]) -> tuple[str, str, str] | None:
    too_big = s.get("csv_only") or []
    if not too_big:
        return None
    from tfclaims.core.run_files import WORKBOOK_MAX_ROWS

    items = "".join(f"<li>{_e(x['workbook'])} was not written: its table has {_e(_n(x['rows']))} rows, more than "
                    f"{_e(_n(WORKBOOK_MAX_ROWS))}; the rows are in {_e(x['name'])}.</li>" for x in too_big)
    return _section("csv-only", "Tables too big for a workbook", f"<ul>{items}</ul>")


_CSS = """
:root{color-scheme:light;--ink:#1f1f1f;--muted:#555;--rule:#d0d0d0;--band:#b00020}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;color:var(--ink);background:#fff}
header,main,footer,nav{max-width:1180px;margin:0 auto;padding:0 24px}
header{padding-top:16px}
h1{font-size:1.8rem;margin:.4em 0 .2em}
h2{font-size:1.35rem;margin:1.6em 0 .5em;padding-top:.6em;border-top:2px solid var(--rule)}
h3{font-size:1.05rem;margin:0 0 .2em}
.lede{color:var(--muted);margin:0 0 1em}
.band{background:var(--band);color:#fff;padding:10px 16px;font-size:1.1rem;margin:0 0 8px;border-radius:4px}
dl.title{display:grid;grid-template-columns:max-content 1fr;gap:2px 18px;margin:0 0 1em}
dl.title dt{font-weight:600}
dl.title dd{margin:0;overflow-wrap:anywhere}
nav ol{columns:2;margin:.5em 0;padding-left:1.4em}
.pair{display:flex;flex-wrap:wrap;gap:12px 32px;align-items:flex-start;margin:1em 0 1.4em}
figure{margin:0;flex:1 1 560px;min-width:0}
figcaption p{margin:0 0 .5em;color:var(--ink)}
svg.plot{display:block;max-width:100%;height:auto}
.figures{flex:1 1 380px;min-width:0;max-width:520px;overflow-x:auto}
table{border-collapse:collapse;margin:.3em 0 1em;font-size:.92rem}
.figures table{width:100%}
tbody th{font-weight:500;min-width:9em}
caption{text-align:left;font-weight:600;padding-bottom:4px}
th,td{border-bottom:1px solid var(--rule);padding:3px 10px 3px 0;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #888}
tfoot th,tfoot td{font-weight:700;border-top:2px solid #888}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.note{color:var(--muted);font-size:.92rem}
.ok{color:#0b6623;font-weight:600}
.warn{color:var(--band);font-weight:600}
details{margin:.2em 0 1em}
summary{cursor:pointer;color:var(--muted)}
footer{color:var(--muted);font-size:.85rem;margin-top:2em;padding-bottom:24px;border-top:1px solid var(--rule)}
code{font-size:.9em}
@media print{.band{-webkit-print-color-adjust:exact;print-color-adjust:exact}section{break-inside:avoid-page}}
"""


def build_report(summary: Mapping[str, Any]) -> str:
    """The page for a run summary (with its ``report`` facts): sections that do not apply are left out."""
    s = summary
    sections = [x for x in (_forecast_section(s), _comparison_section(s), _funnel_section(s), _routes_section(s), _windows_section(s),
                            _headlines_section(s), _blocking_section(s),
                            _validation_section(s), _returns_section(s), _link_section(s), _spot_check_section(s), _csv_only_section(s)) if x is not None]
    nav = "".join(f'<li><a href="#{a}">{_e(t)}</a></li>' for a, t, _ in sections)
    title = f"Run report: tfclaims {s.get('command', '')} {s.get('run_id', '')}"
    version = s.get("tfclaims_version", "")
    return (
        '<!DOCTYPE html>\n<html lang="en-GB">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">\n'
        '<meta name="referrer" content="no-referrer">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{_e(title)}</title>\n<link rel="icon" href="data:,">\n<style>{_CSS}</style>\n</head>\n<body>\n'
        f'{_title_block(s)}\n<nav aria-label="Sections"><ol>{nav}</ol></nav>\n<main>\n'
        + "\n".join(body for _, _, body in sections)
        + f'\n</main>\n<footer><p>Made by tfclaims {_e(version)}. This page holds counts, codes in words and pseudonymous claim '
        'references only: no names, dates of birth, addresses or council ids. It loads nothing from the network.</p></footer>\n'
        '</body>\n</html>\n'
    )


def write_report(summary: Mapping[str, Any], path: Path | str) -> Path:
    """Write the page for ``summary`` atomically at ``path``."""
    from tfclaims.core.write import atomic_write

    path = Path(path)
    with atomic_write(path, "w") as fh:
        fh.write(build_report(summary))
    return path
