"""Claim decisions for a period end, the claim file for the Department, and the finance summary.

The decision order is frameworks.md's "Claim decision": the first reason that applies is the
family's. Decisions are computed for every family in the programme register at once (vectorised
``np.select`` over the conditions in order). The ledger then records the claims in one
transaction and has the last word on ``already_claimed`` / ``audit_hold`` / ``over_allocation``
(another run may have claimed in between).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ClaimRules:
    """The facts of a framework that the claim decision needs."""

    framework: str
    attachments_from: dt.date
    attachments_to: dt.date
    period_end_to: dt.date
    results_payment_pence: int
    attachment_fee_pence: int
    routes: tuple[str, ...]  # in order of preference: ("ssp", "continuous_employment") or ("sfo",)
    transition_review: bool  # sf-2022: attachments before the programme start are reviewed by hand


@dataclass(frozen=True)
class LedgerState:
    """What the ledger says before this run (read outside the write transaction)."""

    active: pd.DataFrame  # live claims of the framework: family_id, claim_reference, period_end
    held: set[str]
    approvals: pd.DataFrame  # unused approvals: family_id, approved_by, reason

    @classmethod
    def empty(cls) -> LedgerState:
        return cls(
            pd.DataFrame({"family_id": pd.Series(dtype="str"), "claim_reference": pd.Series(dtype="str"), "period_end": pd.Series(dtype="object")}),
            set(),
            pd.DataFrame({"family_id": pd.Series(dtype="str"), "approved_by": pd.Series(dtype="str"), "reason": pd.Series(dtype="str")}),
        )

    def stage_counts(self) -> str:
        return f"{len(self.active):,} claims to date, {len(self.held):,} on hold"




def _d(s: pd.Series) -> pd.Series:
    """Dates as ISO text for details (blank when missing)."""
    return s.dt.strftime("%Y-%m-%d").fillna("")


def decide(
    programme: pd.DataFrame,
    families: pd.DataFrame,
    *,
    rules: ClaimRules,
    period_end: dt.date,
    ledger: LedgerState,
    allocation: int | None,
) -> pd.DataFrame:
    """One decision per family in the programme register.

    ``families`` is the tracking summary (``tfclaims.rules.track``; one row per family attached by the
    period end) and carries every judgement the order needs: ``within_programme_period``,
    ``transition_manual_review``, ``eligible_at_attachment``, ``whole_family_working`` (+ ``_detail``),
    ``ssp``, ``continuous_employment``, ``sfo``, ``unmet``, ``has_discretion_note`` and, optionally,
    ``eligibility_detail``. Families attached after the period end are not in it: ``not_attached``.
    Returns DECISION_COLUMNS plus ``attached_on`` and ``amount_pence``, sorted by (attached_on, family_id).
    """
    A = pd.Timestamp(period_end)
    p = programme[["family_id", "attached_on"]].drop_duplicates("family_id").reset_index(drop=True)
    df = p.merge(families.drop(columns=["attached_on"], errors="ignore"), on="family_id", how="left", validate="one_to_one")
    attached = df["attached_on"]

    active = ledger.active.drop_duplicates("family_id").set_index("family_id")
    approvals = ledger.approvals.drop_duplicates("family_id").set_index("family_id")
    fid = df["family_id"]

    def flag(name: str) -> pd.Series:
        return df[name].astype("boolean").fillna(False).astype(bool) if name in df else pd.Series(False, index=df.index)

    def text(name: str) -> pd.Series:
        return df[name].astype("str").fillna("") if name in df else pd.Series("", index=df.index, dtype="str")

    is_claimed = fid.isin(active.index)
    is_held = fid.isin(ledger.held)
    not_attached = attached > A
    transition = flag("transition_manual_review") if rules.transition_review else pd.Series(False, index=df.index)
    outside = ~flag("within_programme_period")
    eligible = flag("eligible_at_attachment")
    wfw = flag("whole_family_working")
    route_met = {r: flag(r) for r in rules.routes}
    any_route = np.logical_or.reduce([route_met[r].to_numpy() for r in rules.routes])
    has_note = flag("has_discretion_note")
    approved = fid.isin(approvals.index)

    conditions = [
        is_claimed, is_held, not_attached, transition, outside, ~eligible, ~wfw,
    ]
    reasons = [
        "already_claimed", "audit_hold", "not_attached", "transition_manual_review",
        "outside_programme_period", "not_eligible_at_attachment", "no_whole_family_working",
    ]
    route = np.select([route_met[r].to_numpy() for r in rules.routes], list(rules.routes), default="")
    decided = np.logical_or.reduce([c.to_numpy() for c in conditions])
    discretionary = ~decided & ~any_route & has_note.to_numpy() & approved.to_numpy()
    review = ~decided & ~any_route & has_note.to_numpy() & ~approved.to_numpy()
    reason = np.select([c.to_numpy() for c in conditions] + [any_route, discretionary, review],
                       reasons + ["", "", "discretion_review"], default="outcomes_not_met")
    route = np.where(decided, "", np.where(discretionary, "discretionary", route))
    claim = ~decided & (any_route | discretionary)

    # the words behind each reason
    a_iso = A.strftime("%Y-%m-%d")
    start, end, last = (pd.Timestamp(d).strftime("%Y-%m-%d") for d in (rules.attachments_from, rules.attachments_to, rules.period_end_to))
    att = _d(attached)
    claim_ref = fid.map(active["claim_reference"]).fillna("") if len(active) else pd.Series("", index=df.index)
    claim_pe = fid.map(active["period_end"].astype("str")).fillna("") if len(active) else pd.Series("", index=df.index)
    unmet, elig_detail, wfw_missing = text("unmet"), text("eligibility_detail"), text("whole_family_working_detail")
    approver = fid.map(approvals["approved_by"]).fillna("") if len(approvals) else pd.Series("", index=df.index)
    appr_reason = fid.map(approvals["reason"]).fillna("") if len(approvals) else pd.Series("", index=df.index)
    detail_by_reason = {
        "already_claimed": "already claimed as " + claim_ref.astype(str) + " (period end " + claim_pe.astype(str) + ")",
        "audit_hold": pd.Series("a claim for this family was withdrawn after audit; it stays on hold until released (tfclaims ledger release)", index=df.index),
        "not_attached": "attached on " + att + ", after the period end " + a_iso,
        "transition_manual_review": "attached on " + att + ", before " + start + " when the framework started: review by hand",
        "outside_programme_period": "attached on " + att + ", period end " + a_iso + "; the programme runs attachments "
        + start + " to " + end + " and period ends to " + last,
        "not_eligible_at_attachment": "not eligible on " + att + " (attachment)" + np.where(elig_detail != "", ": " + elig_detail, ""),
        "no_whole_family_working": "whole-family working not evidenced: " + wfw_missing,
        "outcomes_not_met": "outcomes not met: " + unmet,
        "discretion_review": "outcomes not met (" + unmet + "); a discretion note is recorded: a manager decides (tfclaims ledger approve)",
    }
    detail = pd.Series("", index=df.index, dtype="str")
    for r, text in detail_by_reason.items():
        mask = reason == r
        if mask.any():
            detail[mask] = pd.Series(text, index=df.index)[mask].astype("str")
    route_words = {"ssp": "significant and sustained progress on every required headline",
                   "continuous_employment": "an adult moved off out-of-work benefits into continuous employment",
                   "sfo": "successful family outcome: every need met and sustained 6 months after closure"}
    for r, words in route_words.items():
        detail[(route == r) & claim] = words
    disc = discretionary & claim
    detail[disc] = ("discretionary claim approved by " + approver + ": " + appr_reason)[disc]

    out = pd.DataFrame({
        "family_id": fid.astype("str"),
        "period_end": A,
        "decision": np.where(claim, "claim", "no_claim"),
        "route": route,
        "reason": reason,
        "detail": detail,
        "attached_on": attached,
        "amount_pence": np.where(claim, rules.results_payment_pence, 0).astype("int64"),
    })
    out = out.sort_values(["attached_on", "family_id"], kind="stable").reset_index(drop=True)
    return apply_allocation(out, claims_to_date=len(active), allocation=allocation)


def apply_allocation(decisions: pd.DataFrame, *, claims_to_date: int, allocation: int | None) -> pd.DataFrame:
    """Claims beyond the allocation become ``over_allocation`` in (attached_on, family_id) order."""
    if allocation is None:
        return decisions
    out = decisions.copy()
    claims = out.index[out["decision"] == "claim"]
    room = max(0, allocation - claims_to_date)
    over = claims[room:]
    if len(over):
        out.loc[over, "detail"] = ("would claim by route " + out.loc[over, "route"] + "; allocation of "
                                   + str(allocation) + " reached (" + str(claims_to_date) + " claimed before this window)")
        out.loc[over, ["decision", "reason", "route"]] = ["no_claim", "over_allocation", ""]
        out.loc[over, "amount_pence"] = 0
    return out


def settle_with_ledger(decisions: pd.DataFrame, *, already_claimed: list[str], audit_hold: list[str], over_allocation: list[str]) -> pd.DataFrame:
    """Apply what the ledger's transaction found (another run may have claimed meanwhile)."""
    out = decisions.copy()
    for families, reason, words in (
        (already_claimed, "already_claimed", "claimed by another run while this one was deciding"),
        (audit_hold, "audit_hold", "placed on audit hold while this run was deciding"),
        (over_allocation, "over_allocation", "allocation reached when the claims were recorded"),
    ):
        mask = out["family_id"].isin(families) & (out["decision"] == "claim")
        if mask.any():
            out.loc[mask, "detail"] = words + " (would have claimed by route " + out.loc[mask, "route"] + ")"
            out.loc[mask, ["decision", "reason", "route"]] = ["no_claim", reason, ""]
            out.loc[mask, "amount_pence"] = 0
    return out


def family_reference(family_ids: pd.Series, key: str) -> pd.Series:
    """HMAC-SHA-256 of family_id with the council's secret, first 16 hex characters."""
    k = key.encode("utf-8")
    return pd.Series(
        [hmac.new(k, str(f).encode("utf-8"), hashlib.sha256).hexdigest()[:16] for f in family_ids],
        index=family_ids.index, dtype="str",
    )


def gbp_text(amount_gbp: str | None) -> str:
    """A run summary's ``amount_gbp`` ("12800.00") as money for people: '£12,800.00' (exact, no float)."""
    return pounds_text(int(Decimal(amount_gbp or "0") * 100))


def pounds_text(pence: int) -> str:
    """Pence as money for people: 12480000 -> '£124,800.00', -500 -> '-£5.00' (exact, no float)."""
    sign = "-" if pence < 0 else ""
    a = abs(int(pence))
    return f"{sign}£{a // 100:,}.{a % 100:02d}"


def pence_to_gbp(pence: pd.Series) -> pd.Series:
    """Integer pence as money text: 80000 -> '800.00' (exact, no float)."""
    p = pence.astype("int64")
    sign = np.where(p < 0, "-", "")
    a = p.abs()
    return pd.Series(sign, index=p.index) + (a // 100).astype(str) + "." + (a % 100).astype(str).str.zfill(2)
