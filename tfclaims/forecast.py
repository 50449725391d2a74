"""Looking ahead: when each family becomes claimable, who is close, and what a plan change would do.

Three questions a programme manager plans by, answered with the claim's own rules engine:

- :func:`forecast`: for every attached family not yet claimed, the first claim window (the as-of
  date itself, then each month end of the horizon) at which a claim run would claim it, by which
  route, or that it cannot within the horizon; and, for each headline or condition that holds it
  back, what the engine says about it and when (if ever) it clears.
- :func:`near_misses`: families one headline short of eligibility, and attached families one
  headline (or one condition) short of a claim, with the missing evidence named.
- :func:`compare_plans`: the families whose eligibility, outcome status or claim decision differ
  under two sets of rules (a plan and its framework, or two plans), with the engine's words under each.

**Agreement by construction.** Nothing here judges a rule. The forecast runs
:func:`tfclaims.claim.evaluate.evaluate_claims` (track, eligibility at attachment, decide: what
``tfclaims claim`` runs) at each date on the cohort *as held at the as-of date* (:func:`as_held`):
no new events, open spells stay open, needs and terms as recorded. So the forecast's claimable-from
date is the first of those dates at which ``tfclaims claim --dry-run --period-end DATE`` on that
data claims the family; every sentence about a blocker is the engine's own detail at a date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tfclaims.claim.decide import LedgerState
from tfclaims.claim.evaluate import ClaimEvaluation, attachment_eligibility, evaluate_claims
from tfclaims.claim.finance import decision_words
from tfclaims.claim.register import detail_in_words
from tfclaims.core.cohort import Cohort
from tfclaims.core.orchestration import Step, direct
from tfclaims.rules.frameworks import Framework
from tfclaims.rules.indicators import term_dates

__all__ = [
    "AsHeld", "ComparisonResult", "ForecastResult", "as_held", "compare_plans", "evaluation_dates", "forecast", "near_misses",
]

NS = "datetime64[ns]"

# what "as held at the as-of date" does to each table: rows dated after it are dropped (they had not
# happened), dates after it that end or settle something are blanked (it is still open)
EVENT_DATE: dict[str, str] = {
    "exclusions": "start_date", "offences": "offence_date", "asb_incidents": "incident_date", "domestic_abuse": "incident_date",
    "health": "recorded_on", "housing": "recorded_on", "local_events": "event_date", "social_care": "start_date",
    "benefits": "start_date", "employment": "start_date", "local_spells": "start_date", "needs": "identified_on",
    "programme": "attached_on",
}
STILL_OPEN: dict[str, tuple[str, ...]] = {
    "social_care": ("end_date",), "benefits": ("end_date",), "employment": ("end_date",), "local_spells": ("end_date",),
    "housing": ("resolved_on",), "programme": ("whole_family_assessment_on", "action_plan_on", "closed_on"),
}

STATUS_WORDS = {"claimable_now": "Claimable now", "claimable": "Becomes claimable", "not_within_horizon": "Not claimable within the horizon"}


# ----------------------------------------------------------------------------------------------
# the cohort as held at the as-of date


@dataclass
class AsHeld:
    cohort: Cohort
    dropped: dict[str, int]  # table -> rows dated after the as-of date (left out)
    reopened: dict[str, int]  # table -> rows whose end, resolution or outcome after the as-of date was blanked


def _dates(frame: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_datetime(frame[col]).to_numpy(dtype=NS)


def as_held(cohort: Cohort, as_of: dt.date) -> AsHeld:
    """The cohort as the council held it on ``as_of``, if nothing new happens after it: events,
    spells, needs rows and attachments dated after ``as_of`` left out; ends of spells, resolutions,
    assessments, plans and closures after it blanked (open spells stay open); a needs row's outcome
    recorded after it back to ``open``; school terms that end after it left out (not yet finished)."""
    A = np.datetime64(pd.Timestamp(as_of), "ns")
    tables: dict[str, pd.DataFrame] = {}
    dropped: dict[str, int] = {}
    reopened: dict[str, int] = {}
    for name, frame in cohort.tables.items():
        keep = np.ones(len(frame), dtype=bool)
        col = EVENT_DATE.get(name)
        if col is not None and col in frame:
            d = _dates(frame, col)
            keep &= ~(d > A)
        if name == "school_attendance" and len(frame):
            _, end = term_dates(frame["academic_year"], frame["term"])
            keep &= ~(end > A)
        out = frame if keep.all() else frame[keep].reset_index(drop=True)
        if (~keep).any():
            dropped[name] = int((~keep).sum())
        changed = np.zeros(len(out), dtype=bool)
        later_cols = [c for c in STILL_OPEN.get(name, ()) if c in out]
        if name == "needs" and "outcome_on" in out:
            later_cols.append("outcome_on")
        if later_cols:
            out = out.copy()
            for c in later_cols:
                late = _dates(out, c) > A
                if late.any():
                    changed |= late
                    if name == "needs" and c == "outcome_on":
                        out["outcome"] = out["outcome"].where(~late, "open")
                    out[c] = out[c].where(~late, pd.NaT)
        if changed.any():
            reopened[name] = int(changed.sum())
        tables[name] = out
    return AsHeld(Cohort(tables, dict(cohort.covered_to)), dropped, reopened)


# ----------------------------------------------------------------------------------------------
# the dates of the forecast


def _month_end(year: int, month: int) -> dt.date:
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_next - dt.timedelta(days=1)


def horizon_end(as_of: dt.date, months: int) -> dt.date:
    """The last day of the month ``months`` after the as-of date's month."""
    m = as_of.year * 12 + (as_of.month - 1) + months
    return _month_end(m // 12, m % 12 + 1)


def evaluation_dates(as_of: dt.date, months: int, fw: Framework) -> tuple[list[dt.date], dt.date, dt.date | None]:
    """The as-of date, then every month end after it up to the horizon's end, that a claim run
    could take as its period end (inside the programme of the values in force on that day).
    Returns (dates, the horizon's end, the programme's last period end when it comes first)."""
    end = horizon_end(as_of, months)
    dates = [as_of]
    m = as_of.year * 12 + as_of.month - 1
    while True:
        d = _month_end(m // 12, m % 12 + 1)
        m += 1
        if d <= as_of:
            continue
        if d > end:
            break
        dates.append(d)
    programme_end = None
    kept = []
    for d in dates:
        p = fw.at(d).programme
        if p.attachments_from <= d <= p.period_end_to:
            kept.append(d)
        elif d > p.period_end_to and programme_end is None:
            programme_end = p.period_end_to
    return kept, end, programme_end


# ----------------------------------------------------------------------------------------------
# the forecast


@dataclass
class ForecastResult:
    as_of: dt.date
    horizon_months: int
    horizon_end: dt.date
    dates: list[dt.date]
    programme_end: dt.date | None  # the programme's last period end, when it comes before the horizon's end
    families: pd.DataFrame  # one row per attached family not yet claimed (schemas.forecast.Forecast)
    blockers: pd.DataFrame  # one row per family and headline or condition that holds it back (schemas.forecast.ForecastBlockers)
    windows: pd.DataFrame  # one row per evaluation date (schemas.forecast.ForecastWindows)
    near_misses: pd.DataFrame  # schemas.forecast.NearMisses
    held: AsHeld
    allocation: int | None
    claims_before: int
    evaluations: list[ClaimEvaluation] = field(default_factory=list, repr=False)

    def stage_counts(self) -> str:
        return f"{len(self.families):,} families forecast over {len(self.dates)} dates"


def _iso(d: dt.date | None) -> str:
    return d.isoformat() if d is not None else ""


def _words(codes: pd.Series, words: dict[str, str]) -> np.ndarray:
    """Codes in words (a dictionary lookup over the column; a code without words stays as it is)."""
    c = codes.astype(object)
    return c.map(words).where(c.isin(list(words)), c).fillna("").to_numpy(dtype=object)


def _labels(fw: Framework) -> dict[str, str]:
    return {code: h.label for code, h in fw.headlines.items()}


def _fix(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.reset_index(drop=True)


def _first_true(matrix: np.ndarray) -> np.ndarray:
    """Per column of a (dates x items) boolean matrix: the first row that is True, or -1."""
    if matrix.shape[0] == 0:
        return np.full(matrix.shape[1], -1, dtype="int64")
    first = matrix.argmax(axis=0)
    return np.where(matrix.any(axis=0), first, -1).astype("int64")


def _stack(evals: list[ClaimEvaluation], frame: str, keys: list[str], cols: list[str]) -> pd.DataFrame:
    """One frame of every evaluation, long: the evaluation's index in ``i``."""
    parts = []
    for i, ev in enumerate(evals):
        f = getattr(ev, frame) if frame != "outcomes" else ev.tracked.outcomes
        parts.append(f[keys + cols].assign(i=i))
    return pd.concat(parts, ignore_index=True)


def forecast(cohort: Cohort, fw: Framework, as_of: dt.date, months: int, *, state: LedgerState, allocation: int | None = None,
             council_allocation: int | None = None, step: Step = direct) -> ForecastResult:
    """The forecast of every attached family not yet claimed (see the module's docstring)."""
    held = as_held(cohort, as_of)
    dates, end, programme_end = evaluation_dates(as_of, months, fw)
    at_att = attachment_eligibility(held.cohort, fw, step)
    evals: list[ClaimEvaluation] = []
    for d in dates:
        evals.append(step(f"claim decisions at {d.isoformat()}", evaluate_claims, held.cohort, fw, d, state=state, allocation=allocation,
                          council_allocation=council_allocation, at_attachment=at_att, evidence=False))
    words = decision_words()
    labels = _labels(fw)
    families, blockers = _families_and_blockers(evals, dates, fw, labels, words, programme_end, end)
    windows = _windows(families, dates, evals, state)
    near = near_misses(held.cohort, fw, as_of, evals[0] if evals else None)
    return ForecastResult(as_of, months, end, dates, programme_end, families, blockers, windows, near, held,
                          evals[0].allocation if evals else None, len(state.active), evals)


def _families_and_blockers(evals: list[ClaimEvaluation], dates: list[dt.date], fw: Framework, labels: dict[str, str],
                           words: dict[str, dict[str, str]], programme_end: dt.date | None, end: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    from tfclaims.schemas.forecast import Forecast, ForecastBlockers
    from tfclaims.core.write import validate_output

    first = evals[0].decisions
    live = first[(first["reason"] != "already_claimed") & (first["reason"] != "not_attached")].reset_index(drop=True)
    ids = live["family_id"].astype("str")
    n_d = len(evals)
    claim = np.zeros((n_d, len(ids)), dtype=bool)
    route = np.full((n_d, len(ids)), "", dtype=object)
    amount = np.zeros((n_d, len(ids)), dtype="int64")
    reason = np.full((n_d, len(ids)), "", dtype=object)
    for i, ev in enumerate(evals):
        d = ev.decisions.set_index("family_id").reindex(ids.to_numpy())
        claim[i] = (d["decision"] == "claim").to_numpy(dtype=bool)
        route[i] = d["route"].fillna("").to_numpy(dtype=object)
        amount[i] = d["amount_pence"].fillna(0).to_numpy(dtype="int64")
        reason[i] = d["reason"].fillna("").to_numpy(dtype=object)
    at = _first_true(claim)
    found = at >= 0
    cols = np.arange(len(ids))
    pick = np.where(found, at, 0)
    from_date = np.array([np.datetime64(d, "ns") for d in dates], dtype=NS)[pick] if n_d else np.array([], dtype=NS)
    from_date = np.where(found, from_date, np.datetime64("NaT", "ns"))
    route_at = np.where(found, route[pick, cols], "")
    amount_at = np.where(found, amount[pick, cols], 0)
    status = np.where(found & (at == 0), "claimable_now", np.where(found, "claimable", "not_within_horizon"))
    last_reason = reason[-1] if n_d else np.array([], dtype=object)

    blockers = _blockers(evals, dates, ids, at, fw, labels, words, programme_end, end)
    summary = (blockers[blockers["holds_until_horizon"] | (blockers["cleared_on"].notna())]
               .groupby("family_id", sort=False)["unblocks"].agg("; ".join)) if len(blockers) else pd.Series(dtype="str")
    route_words = words["routes"]
    horizon_words = (f"cannot be claimed by {end.isoformat()}" if programme_end is None
                     else f"cannot be claimed by {programme_end.isoformat()}, when the programme period ends")
    sentence = np.where(status == "claimable_now", "claimable now",
                        np.where(status == "claimable", "claimable from " + pd.Series(from_date).dt.strftime("%Y-%m-%d").fillna("").to_numpy(dtype=object),
                                 horizon_words))
    frame = pd.DataFrame({
        "family_id": pd.array(ids.to_numpy(), dtype="str"),
        "as_of": np.datetime64(pd.Timestamp(dates[0]), "ns") if dates else np.datetime64("NaT", "ns"),
        "attached_on": live["attached_on"].to_numpy(dtype=NS),
        "status": pd.array(pd.Series(status, dtype=object).map(STATUS_WORDS).to_numpy(dtype=object), dtype="str"),
        "claimable_from": from_date.astype(NS),
        "route": pd.array(_words(pd.Series(route_at, dtype=object), route_words), dtype="str"),
        "amount_pence": amount_at.astype("int64"),
        "what_holds_it_back": pd.array(ids.map(summary).fillna("").to_numpy(dtype=object), dtype="str"),
        "in_words": pd.array(sentence, dtype="str"),
        "status_code": pd.array(status, dtype="str"),
        "route_code": pd.array(route_at.astype(object), dtype="str"),
        "reason_now_code": pd.array(reason[0] if n_d else [], dtype="str"),
        "reason_at_horizon_code": pd.array(last_reason, dtype="str"),
    })
    order = np.lexsort((frame["family_id"].to_numpy(dtype=object).astype(str),
                        np.where(found, at, n_d + 1)))
    frame = _fix(frame.iloc[order])
    return validate_output(Forecast, frame, "forecast"), validate_output(ForecastBlockers, blockers, "forecast_blockers")


CONDITION_LABELS = {
    "eligibility": "Eligibility at attachment",
    "whole_family_working": "Whole-family working",
    "programme_period": "The programme period",
    "transition": "Attached before the framework started",
    "audit_hold": "Audit hold",
    "discretion": "A manager's decision",
    "allocation": "The allocation",
}


def _blockers(evals: list[ClaimEvaluation], dates: list[dt.date], ids: pd.Series, at: np.ndarray, fw: Framework,
              labels: dict[str, str], words: dict[str, dict[str, str]], programme_end: dt.date | None, end: dt.date) -> pd.DataFrame:
    """One row per family (not claimable now) and headline or condition that holds it back at the
    as-of date, with the engine's words then and, when it clears, the first date it does."""
    n_d = len(evals)
    if n_d == 0 or not len(ids):
        return _blocker_frame([], fw)
    date_iso = [d.isoformat() for d in dates]
    pending = ids[at != 0]
    claim_at = pd.Series(at, index=ids.to_numpy())
    rows: list[pd.DataFrame] = []

    # conditions of the claim decision, from the tracking summary at each date
    fam0 = evals[0].families.set_index("family_id").reindex(pending.to_numpy())
    dec0 = evals[0].decisions.set_index("family_id").reindex(pending.to_numpy())
    statuses = words["statuses"]

    def add(family: np.ndarray, code: str, label: object, status_now: object, detail_now: object, cleared: np.ndarray,
            detail_last: object, hint: str | np.ndarray) -> None:
        n = len(family)
        if n == 0:
            return
        cleared_on = np.where(cleared >= 0, np.array(date_iso, dtype=object)[np.maximum(cleared, 0)], "")
        lab = np.broadcast_to(np.asarray(label, dtype=object), (n,))
        now = np.broadcast_to(np.asarray(detail_now, dtype=object), (n,))
        last = np.broadcast_to(np.asarray(detail_last, dtype=object), (n,))
        hint_a = np.broadcast_to(np.asarray(hint, dtype=object), (n,))
        unblocks = np.where(cleared >= 0,
                            lab + ": " + now + "; clears by " + cleared_on.astype(object),
                            lab + ": " + last + np.where(hint_a != "", " — " + hint_a, ""))
        rows.append(pd.DataFrame({
            "family_id": family, "blocker_code": code, "blocker": lab, "status_now": np.broadcast_to(np.asarray(status_now, dtype=object), (n,)),
            "detail_now": now, "cleared_on": pd.to_datetime(pd.Series(cleared_on).replace("", None)).to_numpy(dtype=NS),
            "detail_at_horizon": last, "holds_until_horizon": cleared < 0, "unblocks": unblocks,
        }))

    fid = pending.to_numpy(dtype=object)
    # eligibility at attachment: judged once, on the day the family was attached
    not_elig = ~fam0["eligible_at_attachment"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    if not_elig.any():
        det = detail_in_words(fam0["eligibility_detail"].fillna(""), labels).to_numpy(dtype=object)[not_elig]  # headlines by their labels
        att = pd.to_datetime(fam0["attached_on"]).dt.strftime("%Y-%m-%d").fillna("").to_numpy(dtype=object)[not_elig]
        add(fid[not_elig], "eligibility", CONDITION_LABELS["eligibility"], "not eligible", "not eligible on " + att + ": " + det,
            np.full(int(not_elig.sum()), -1), "not eligible on " + att + ": " + det,
            "eligibility is judged on the day the family was attached, so nothing later changes it")
    # whole-family working at each date
    wfw = np.zeros((n_d, len(fid)), dtype=bool)
    wfw_last = None
    for i, ev in enumerate(evals):
        f = ev.families.set_index("family_id").reindex(fid)
        wfw[i] = f["whole_family_working"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        if i == n_d - 1:
            wfw_last = f["whole_family_working_detail"].fillna("").to_numpy(dtype=object)
    no_wfw = ~wfw[0]
    if no_wfw.any():
        assert wfw_last is not None
        det_now = fam0["whole_family_working_detail"].fillna("").to_numpy(dtype=object)[no_wfw]
        add(fid[no_wfw], "whole_family_working", CONDITION_LABELS["whole_family_working"], "not evidenced", det_now,
            _first_true(wfw[:, no_wfw]), wfw_last[no_wfw], "a practitioner must record it")
    # each required headline not met at the as-of date, and the first date it is met
    out = pd.concat([ev.tracked.outcomes[["family_id", "headline", "status", "detail"]].assign(i=i) for i, ev in enumerate(evals)],
                    ignore_index=True)
    out = out[out["family_id"].isin(pending)]
    now = out[(out["i"] == 0) & (out["status"] != "met")]
    if len(now):
        key_now = now["family_id"].astype(str) + "\x1f" + now["headline"].astype(str)
        key_all = out["family_id"].astype(str) + "\x1f" + out["headline"].astype(str)
        met = out[(out["status"] == "met") & key_all.isin(key_now)]
        first_met = (met["family_id"].astype(str) + "\x1f" + met["headline"].astype(str)).to_frame("k").assign(i=met["i"].to_numpy()).groupby("k")["i"].min()
        last = out[out["i"] == n_d - 1]
        last_detail = pd.Series(last["detail"].to_numpy(dtype=object), index=(last["family_id"].astype(str) + "\x1f" + last["headline"].astype(str)).to_numpy())
        last_status = pd.Series(last["status"].to_numpy(dtype=object), index=last_detail.index)
        k = key_now.to_numpy(dtype=object)
        cleared = pd.Series(k).map(first_met).fillna(-1).to_numpy(dtype="int64")
        st_last = pd.Series(k).map(last_status).fillna("").to_numpy(dtype=object)
        hint = np.select([st_last == "not_yet", st_last == "not_evaluated", st_last == "not_met"],
                         [f"still to be shown or sustained at {date_iso[-1]}", "the data to judge it is missing: supply it",
                          f"still not met at {date_iso[-1]}"], "")
        lab = _words(now["headline"], labels)
        st_now = _words(now["status"], statuses)
        for code in sorted(set(now["headline"].astype(str))):
            m = (now["headline"] == code).to_numpy()
            add(now["family_id"].to_numpy(dtype=object)[m], code, lab[m], st_now[m], now["detail"].to_numpy(dtype=object)[m], cleared[m],
                pd.Series(k[m]).map(last_detail).fillna(pd.Series(now["detail"].to_numpy(dtype=object)[m])).to_numpy(dtype=object), hint[m])
    # the other reasons of the decision at the as-of date, with the decision's own words
    r0 = dec0["reason"].fillna("").to_numpy(dtype=object)
    d0 = dec0["detail"].fillna("").to_numpy(dtype=object)
    reasons_now = np.zeros((n_d, len(fid)), dtype=object)
    for i, ev in enumerate(evals):
        reasons_now[i] = ev.decisions.set_index("family_id").reindex(fid)["reason"].fillna("").to_numpy(dtype=object)
    for reason, code, hint in (
        ("outside_programme_period", "programme_period", "outside the programme: nothing later changes it"),
        ("transition_manual_review", "transition", "reviewed by hand"),
        ("audit_hold", "audit_hold", "released only by a person (tfclaims ledger release)"),
        ("discretion_review", "discretion", "a manager decides (tfclaims ledger approve)"),
        ("over_allocation", "allocation", "the allocation is reached; the family is claimable once there is room"),
    ):
        m = r0 == reason
        if m.any():
            add(fid[m], code, CONDITION_LABELS[code], words["reasons"].get(reason, reason), d0[m], _first_true(reasons_now[:, m] != reason),
                d0[m], hint)
    # the programme ends before the horizon
    if programme_end is not None:
        never = claim_at.reindex(fid).to_numpy() < 0
        if never.any():
            text = f"the programme period ends {programme_end.isoformat()} first"
            add(fid[never], "programme_period", CONDITION_LABELS["programme_period"], "ends before the horizon", text,
                np.full(int(never.sum()), -1), text, "")
    frame = pd.concat(rows, ignore_index=True) if rows else None
    return _blocker_frame(frame, fw)


def _blocker_frame(frame: pd.DataFrame | None | list, fw: Framework) -> pd.DataFrame:
    if frame is None or isinstance(frame, list):
        frame = pd.DataFrame({c: [] for c in ("family_id", "blocker_code", "blocker", "status_now", "detail_now", "cleared_on",
                                              "detail_at_horizon", "holds_until_horizon", "unblocks")})
    out = pd.DataFrame({
        "family_id": pd.array(frame["family_id"].to_numpy(dtype=object), dtype="str"),
        "blocker": pd.array(frame["blocker"].to_numpy(dtype=object), dtype="str"),
        "status_now": pd.array(frame["status_now"].to_numpy(dtype=object), dtype="str"),
        "detail_now": pd.array(frame["detail_now"].to_numpy(dtype=object), dtype="str"),
        "cleared_on": pd.to_datetime(frame["cleared_on"]).to_numpy(dtype=NS),
        "detail_at_horizon": pd.array(frame["detail_at_horizon"].to_numpy(dtype=object), dtype="str"),
        "unblocks": pd.array(frame["unblocks"].to_numpy(dtype=object), dtype="str"),
        "holds_until_horizon": frame["holds_until_horizon"].to_numpy(dtype=bool),
        "blocker_code": pd.array(frame["blocker_code"].to_numpy(dtype=object), dtype="str"),
    })
    order = {c: i for i, c in enumerate(("eligibility", "whole_family_working", *fw.headline_codes))}
    rank = out["blocker_code"].astype(object).map(order).fillna(len(order)).to_numpy(dtype="int64")
    idx = np.lexsort((rank, out["family_id"].to_numpy(dtype=object).astype(str)))
    return _fix(out.iloc[idx])


def _windows(families: pd.DataFrame, dates: list[dt.date], evals: list[ClaimEvaluation], state: LedgerState) -> pd.DataFrame:
    """Per date: the families that become claimable then (first claimable at it), their money, and
    claims to date against the allocation if each claim run claimed them."""
    from tfclaims.schemas.forecast import ForecastWindows
    from tfclaims.core.write import validate_output

    first = families.dropna(subset=["claimable_from"])
    when = pd.to_datetime(first["claimable_from"]).dt.date
    before = len(state.active)
    rows = []
    to_date = before
    for i, (d, ev) in enumerate(zip(dates, evals, strict=True)):
        m = (when == d).to_numpy()
        n = int(m.sum())
        to_date += n
        rows.append({"period_end": pd.Timestamp(d), "window": "now (the as-of date)" if i == 0 else "month end",
                     "families_becoming_claimable": n, "amount_pence": int(first["amount_pence"].to_numpy()[m].sum()),
                     "claims_to_date": to_date, "allocation": ev.allocation,
                     "allocation_left": None if ev.allocation is None else max(0, ev.allocation - to_date)})
    frame = pd.DataFrame(rows, columns=["period_end", "window", "families_becoming_claimable", "amount_pence", "claims_to_date",
                                        "allocation", "allocation_left"])
    frame["period_end"] = pd.to_datetime(frame["period_end"]).astype(NS)
    frame["window"] = frame["window"].astype("str")
    for c in ("families_becoming_claimable", "amount_pence", "claims_to_date"):
        frame[c] = frame[c].astype("int64")
    for c in ("allocation", "allocation_left"):
        frame[c] = pd.array(frame[c].tolist(), dtype="Int64")
    return validate_output(ForecastWindows, frame, "forecast_windows")


# ----------------------------------------------------------------------------------------------
# near misses


def _split(codes: pd.Series) -> pd.Series:
    return codes.fillna("").astype(str).map(lambda s: [c for c in s.split(";") if c])


def near_misses(cohort: Cohort, fw: Framework, as_of: dt.date, claim_now: ClaimEvaluation | None) -> pd.DataFrame:
    """Families in ``people`` one headline short of eligibility at ``as_of`` (their headline count
    is one below the rule in force), and attached families one headline or one condition short of a
    claim at ``as_of`` (``claim_now``: the claim decisions at ``as_of``): exactly one of eligibility
    at attachment, whole-family working and the outcomes fails, and the outcomes fail by at most one
    required headline. The missing evidence is named in the engine's words."""
    from tfclaims.rules.identify import identify
    from tfclaims.schemas.forecast import NearMisses
    from tfclaims.core.write import validate_output

    labels = _labels(fw)
    parts = []
    elig = identify(cohort, fw, as_of).eligibility
    need = fw.at(as_of).eligibility.min_distinct_headlines
    short = elig[~elig["eligible"] & (elig["headline_count"] == need - 1)]
    if len(short):
        # spelt out once per distinct list of headlines (a handful), not once per family
        kinds = pd.Series(short["headlines"].fillna("").astype(str).unique())
        lists = _split(kinds)
        others_of = dict(zip(kinds, lists.map(lambda hs: ", ".join(labels[c] for c in fw.headline_codes if c not in hs)), strict=True))
        have_of = dict(zip(kinds, lists.map(lambda hs: "; ".join(labels.get(c, c) for c in hs) or "none"), strict=True))
        key = short["headlines"].fillna("").astype(str)
        others, have = key.map(others_of), key.map(have_of)
        parts.append(pd.DataFrame({
            "family_id": short["family_id"].astype(str).to_numpy(), "kind": "one headline short of eligibility",
            "short_of": f"eligibility (at least {need} headlines)", "missing": "one more headline: any of " + others.to_numpy(dtype=object),
            "evidence_held": (short["headline_count"].astype(str) + " headline(s): " + have).to_numpy(dtype=object),
            "kind_code": "eligibility", "missing_code": "headline",
        }))
    if claim_now is not None and len(claim_now.decisions):
        dec = claim_now.decisions
        fam = claim_now.families.set_index("family_id")
        cand = dec[dec["reason"].isin(["not_eligible_at_attachment", "no_whole_family_working", "outcomes_not_met", "discretion_review"])]
        f = fam.reindex(cand["family_id"].to_numpy())
        out = claim_now.tracked.outcomes
        unmet = out[(out["status"] != "met") & out["family_id"].isin(cand["family_id"])]
        n_unmet = unmet.groupby("family_id").size().reindex(cand["family_id"].to_numpy()).fillna(0).to_numpy(dtype="int64")
        elig_fail = ~f["eligible_at_attachment"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        wfw_fail = ~f["whole_family_working"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        route_met = np.logical_or.reduce([f[r].astype("boolean").fillna(False).to_numpy(dtype=bool) for r in claim_now.framework.claim_routes])
        outcome_fail = np.where(route_met, 0, np.where(n_unmet == 1, 1, 2))
        one = (elig_fail.astype(int) + wfw_fail.astype(int) + outcome_fail) == 1
        ids = cand["family_id"].astype(str).to_numpy(dtype=object)
        one_unmet = unmet.drop_duplicates("family_id").set_index("family_id")
        for mask, short_of, code, missing in (
            (one & elig_fail, "eligibility at attachment", "eligibility",
             detail_in_words(f["eligibility_detail"].fillna(""), _labels(fw)).to_numpy(dtype=object)),
            (one & wfw_fail, "whole-family working", "whole_family_working", f["whole_family_working_detail"].fillna("").to_numpy(dtype=object)),
        ):
            if mask.any():
                parts.append(pd.DataFrame({"family_id": ids[mask], "kind": "one condition short of a claim", "short_of": short_of,
                                           "missing": missing[mask], "evidence_held": "every other condition of a claim holds",
                                           "kind_code": "claim", "missing_code": code}))
        m = one & (outcome_fail == 1)
        if m.any():
            u = one_unmet.reindex(ids[m])
            parts.append(pd.DataFrame({
                "family_id": ids[m], "kind": "one headline short of a claim",
                "short_of": _words(u["headline"], labels),
                "missing": _words(u["status"], decision_words()["statuses"]) + ": " + u["detail"].astype(str).to_numpy(dtype=object),
                "evidence_held": "every other required headline met; eligible and whole-family working evidenced",
                "kind_code": "claim", "missing_code": u["headline"].astype(str).to_numpy(dtype=object),
            }))
    cols = ["family_id", "kind", "short_of", "missing", "evidence_held", "kind_code", "missing_code"]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({c: [] for c in cols})
    frame = pd.DataFrame({c: pd.array(frame[c].astype(object).to_numpy(), dtype="str") for c in cols})
    frame = _fix(frame.sort_values(["kind_code", "family_id"], kind="stable"))
    return validate_output(NearMisses, frame, "near_misses")


# ----------------------------------------------------------------------------------------------
# comparing plans


@dataclass
class ComparisonResult:
    as_of: dt.date
    names: tuple[str, str]  # the two sets of rules in words
    differences: pd.DataFrame  # schemas.forecast.PlanDifferences
    totals: pd.DataFrame  # schemas.forecast.PlanTotals

    def stage_counts(self) -> str:
        return f"{len(self.differences):,} differences"


def rules_name(fw: Framework) -> str:
    return f"{fw.name} with local plan {fw.plan.name} v{fw.plan.version}" if fw.plan else f"{fw.name}, no local plan"


def compare_plans(cohort: Cohort, fw_a: Framework, fw_b: Framework, as_of: dt.date, *, state_a: LedgerState, state_b: LedgerState,
                  allocation: int | None = None, council_allocation: int | None = None, step: Step = direct) -> ComparisonResult:
    """The families whose eligibility (at ``as_of``), outcome status or claim decision (a claim run
    with period end ``as_of``) differ under ``fw_a`` and ``fw_b``, each with the engine's words
    under both; and the totals either way."""
    from tfclaims.rules.identify import identify
    from tfclaims.schemas.forecast import PlanDifferences, PlanTotals
    from tfclaims.core.write import validate_output

    results = []
    for fw, state in ((fw_a, state_a), (fw_b, state_b)):
        elig = step("identify", identify, cohort, fw, as_of).eligibility
        ev = step("claim decisions", evaluate_claims, cohort, fw, as_of, state=state, allocation=allocation, council_allocation=council_allocation)
        results.append((fw, elig, ev))
    (fa, ea, va), (fb, eb, vb) = results
    names = (rules_name(fa), rules_name(fb))
    parts = []
    # eligibility
    e = ea.merge(eb, on="family_id", how="outer", suffixes=("_a", "_b"))
    diff = e[e["eligible_a"].astype("boolean").fillna(False) != e["eligible_b"].astype("boolean").fillna(False)]
    if len(diff):
        def elig_words(sfx: str, fw: Framework) -> pd.Series:
            need = fw.at(as_of).eligibility.min_distinct_headlines
            hs = diff[f"headlines_{sfx}"].fillna("").replace("", "none")
            return diff[f"headline_count_{sfx}"].fillna(0).astype("int64").astype(str) + " headline(s) present (" + hs + f"), at least {need} needed"
        yes_no = {True: "eligible", False: "not eligible"}
        parts.append(pd.DataFrame({
            "family_id": diff["family_id"].astype(str).to_numpy(), "what": "eligibility", "headline": "",
            "under_a": diff["eligible_a"].astype("boolean").fillna(False).map(yes_no).to_numpy(dtype=object),
            "under_b": diff["eligible_b"].astype("boolean").fillna(False).map(yes_no).to_numpy(dtype=object),
            "why_a": elig_words("a", fa).to_numpy(dtype=object), "why_b": elig_words("b", fb).to_numpy(dtype=object),
        }))
    # outcome status per required headline
    oa, ob = va.tracked.outcomes, vb.tracked.outcomes
    o = oa[["family_id", "headline", "status", "detail"]].merge(ob[["family_id", "headline", "status", "detail"]], on=["family_id", "headline"],
                                                                 how="outer", suffixes=("_a", "_b"))
    sa, sb = o["status_a"].astype(object).fillna("not required"), o["status_b"].astype(object).fillna("not required")
    od = o[(sa != sb).to_numpy()]
    if len(od):
        st = decision_words()["statuses"]
        parts.append(pd.DataFrame({
            "family_id": od["family_id"].astype(str).to_numpy(), "what": "outcome", "headline": od["headline"].astype(str).to_numpy(),
            "under_a": _words(sa[od.index], st), "under_b": _words(sb[od.index], st),
            "why_a": od["detail_a"].astype(object).fillna("the headline is not required of the family under these rules").to_numpy(dtype=object),
            "why_b": od["detail_b"].astype(object).fillna("the headline is not required of the family under these rules").to_numpy(dtype=object),
        }))
    # claim decision
    da, db = va.decisions, vb.decisions
    d = da[["family_id", "decision", "route", "reason", "detail", "amount_pence"]].merge(
        db[["family_id", "decision", "route", "reason", "detail", "amount_pence"]], on="family_id", how="outer", suffixes=("_a", "_b"))
    key_a = d["decision_a"].astype(str) + "|" + d["route_a"].astype(str) + "|" + d["reason_a"].astype(str)
    key_b = d["decision_b"].astype(str) + "|" + d["route_b"].astype(str) + "|" + d["reason_b"].astype(str)
    dd = d[(key_a != key_b).to_numpy()]
    if len(dd):
        w = decision_words()

        def decision_text(sfx: str) -> np.ndarray:
            claimed = dd[f"decision_{sfx}"] == "claim"
            return np.where(claimed, "Claim: " + _words(dd[f"route_{sfx}"].fillna(""), w["routes"]),
                            _words(dd[f"reason_{sfx}"].fillna(""), w["reasons"])).astype(object)

        parts.append(pd.DataFrame({
            "family_id": dd["family_id"].astype(str).to_numpy(), "what": "claim decision", "headline": "",
            "under_a": decision_text("a"), "under_b": decision_text("b"),
            "why_a": dd["detail_a"].astype(str).to_numpy(dtype=object), "why_b": dd["detail_b"].astype(str).to_numpy(dtype=object),
        }))
    cols = ["family_id", "what", "headline", "under_a", "under_b", "why_a", "why_b"]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({c: [] for c in cols})
    labels = {**_labels(fb), **_labels(fa)}
    frame = pd.DataFrame({c: pd.array(frame[c].astype(object).to_numpy(), dtype="str") for c in cols})
    frame.insert(3, "headline_words", pd.array(_words(frame["headline"].astype(object), labels), dtype="str"))
    rank = frame["what"].map({"eligibility": 0, "outcome": 1, "claim decision": 2}).to_numpy()
    frame = _fix(frame.iloc[np.lexsort((frame["headline"].to_numpy(dtype=object).astype(str), rank, frame["family_id"].to_numpy(dtype=object).astype(str)))])
    frame = validate_output(PlanDifferences, frame, "plan_differences")

    def totals(fw: Framework, elig: pd.DataFrame, ev: ClaimEvaluation, name: str) -> dict[str, Any]:
        claimed = ev.decisions[ev.decisions["decision"] == "claim"]
        out = ev.tracked.outcomes
        return {"rules": name, "eligible_families": int(elig["eligible"].sum()), "attached_families": int(len(ev.families)),
                "outcomes_met": int((out["status"] == "met").sum()), "claims": int(len(claimed)),
                "amount_pence": int(claimed["amount_pence"].sum())}

    tot = pd.DataFrame([totals(fa, ea, va, names[0]), totals(fb, eb, vb, names[1])])
    tot.insert(0, "side", ["A", "B"])
    tot = tot.astype({"side": "str", "rules": "str"})
    return ComparisonResult(as_of, names, frame, validate_output(PlanTotals, tot, "plan_totals"))
