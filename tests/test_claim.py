"""Claim decisions: every reason of frameworks.md's decision order, allocation, money, references."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tfclaims.schemas.claim import ClaimDecisions
from tfclaims.claim.decide import ClaimRules, LedgerState, apply_allocation, decide, family_reference, pence_to_gbp, settle_with_ledger

TF2 = ClaimRules("tf-phase2", dt.date(2015, 4, 1), dt.date(2022, 3, 31), dt.date(2022, 3, 31), 80000, 100000, ("ssp", "continuous_employment"), False)
SF = ClaimRules("sf-2022", dt.date(2022, 10, 3), dt.date(2025, 3, 31), dt.date(2025, 3, 31), 80000, 0, ("sfo",), True)
A = dt.date(2020, 3, 31)


def programme(rows: list[dict]) -> pd.DataFrame:
    base = {"lead_practitioner": "Jo Key", "whole_family_assessment_on": "2019-01-10", "action_plan_on": "2019-01-20", "discretion_note": None}
    df = pd.DataFrame([{**base, **r} for r in rows])
    for c in ("attached_on", "whole_family_assessment_on", "action_plan_on"):
        df[c] = pd.to_datetime(df[c])
    return df


def families(rows: list[dict]) -> pd.DataFrame:
    """Rows as tfclaims.rules.track's family summary gives them (its flags are tested in test_track.py)."""
    base = {"within_programme_period": True, "transition_manual_review": False, "eligible_at_attachment": True,
            "whole_family_working": True, "whole_family_working_detail": "", "ssp": False, "continuous_employment": False,
            "sfo": False, "unmet": "", "has_discretion_note": False}
    return pd.DataFrame([{**base, **r} for r in rows])


def one(prog_row: dict, fam_row: dict | None = None, rules: ClaimRules = TF2, ledger: LedgerState | None = None, period_end=A, allocation=None) -> pd.Series:
    p = programme([{"family_id": "F1", "attached_on": "2019-01-01", **prog_row}])
    f = families([{"family_id": "F1", **(fam_row or {})}])
    out = decide(p, f, rules=rules, period_end=period_end, ledger=ledger or LedgerState.empty(), allocation=allocation)
    ClaimDecisions.validate(out[["family_id", "period_end", "decision", "route", "reason", "detail"]])
    return out.iloc[0]


def test_ssp_claim():
    d = one({}, {"ssp": True, "continuous_employment": True})
    assert (d.decision, d.route, d.reason, d.amount_pence) == ("claim", "ssp", "", 80000)


def test_continuous_employment_when_ssp_not_met():
    d = one({}, {"continuous_employment": True, "unmet": "education: not_yet"})
    assert (d.decision, d.route) == ("claim", "continuous_employment")


def test_outcomes_not_met_lists_unmet_headlines():
    d = one({}, {"unmet": "crime_asb: not_met; education: not_yet"})
    assert (d.decision, d.reason) == ("no_claim", "outcomes_not_met")
    assert "crime_asb: not_met" in d.detail and d.route == ""


def test_already_claimed_comes_first():
    ledger = LedgerState.empty()
    ledger = LedgerState(pd.DataFrame({"family_id": ["F1"], "claim_reference": ["TF2-000001"], "period_end": ["2019-12-31"]}), {"F1"}, ledger.approvals)
    d = one({"attached_on": "2021-01-01"}, {"ssp": True}, ledger=ledger)
    assert d.reason == "already_claimed" and "TF2-000001" in d.detail


def test_audit_hold_before_everything_else():
    ledger = LedgerState(LedgerState.empty().active, {"F1"}, LedgerState.empty().approvals)
    d = one({}, {"ssp": True}, ledger=ledger)
    assert (d.decision, d.reason) == ("no_claim", "audit_hold")


def test_not_attached():
    d = one({"attached_on": "2020-04-01"}, {"ssp": True})
    assert d.reason == "not_attached"


def test_outside_programme_period():
    d = one({"attached_on": "2015-03-31"}, {"ssp": True, "within_programme_period": False})
    assert d.reason == "outside_programme_period" and "2015-04-01 to 2022-03-31" in d.detail


def test_not_eligible_at_attachment():
    d = one({}, {"ssp": True, "eligible_at_attachment": False, "eligibility_detail": "1 headline (crime_asb)"})
    assert d.reason == "not_eligible_at_attachment" and "crime_asb" in d.detail


def test_no_whole_family_working_says_what_is_missing():
    d = one({}, {"ssp": True, "whole_family_working": False, "whole_family_working_detail": "no lead practitioner named"})
    assert d.reason == "no_whole_family_working" and "no lead practitioner named" in d.detail


def test_discretion_review_then_approved_discretionary():
    d = one({}, {"unmet": "health: not_yet", "has_discretion_note": True})
    assert (d.decision, d.reason) == ("no_claim", "discretion_review")
    empty = LedgerState.empty()
    ledger = LedgerState(empty.active, set(), pd.DataFrame({"family_id": ["F1"], "approved_by": ["M. Manager"], "reason": ["panel"]}))
    d = one({}, {"unmet": "health: not_yet", "has_discretion_note": True}, ledger=ledger)
    assert (d.decision, d.route, d.reason) == ("claim", "discretionary", "")
    assert "M. Manager" in d.detail


def test_discretion_note_does_not_block_a_met_family():
    d = one({}, {"ssp": True, "has_discretion_note": True})
    assert (d.decision, d.route) == ("claim", "ssp")


def test_sf2022_transition_review_and_sfo_route():
    d = one({"attached_on": "2022-06-01"}, {"sfo": True, "transition_manual_review": True, "within_programme_period": False},
            rules=SF, period_end=dt.date(2024, 3, 31))
    assert d.reason == "transition_manual_review"
    d = one({"attached_on": "2022-11-01"}, {"sfo": True}, rules=SF, period_end=dt.date(2024, 3, 31))
    assert (d.decision, d.route) == ("claim", "sfo")
    d = one({"attached_on": "2022-11-01"}, {"ssp": True}, rules=SF, period_end=dt.date(2024, 3, 31))
    assert d.reason == "outcomes_not_met"  # no ssp / continuous-employment route in sf-2022


def test_allocation_keeps_claims_in_attachment_then_family_order():
    p = programme([
        {"family_id": "F10", "attached_on": "2019-02-01"},
        {"family_id": "F2", "attached_on": "2019-01-01"},
        {"family_id": "F1", "attached_on": "2019-02-01"},
        {"family_id": "F3", "attached_on": "2019-03-01"},
    ])
    f = families([{"family_id": x, "ssp": True} for x in ("F10", "F2", "F1", "F3")])
    active = pd.DataFrame({"family_id": ["F0"], "claim_reference": ["TF2-000001"], "period_end": ["2019-12-31"]})
    ledger = LedgerState(active, set(), LedgerState.empty().approvals)
    out = decide(p, f, rules=TF2, period_end=A, ledger=ledger, allocation=3).set_index("family_id")
    # one claim to date + room for 2: F2 (earliest), then F1 before F10 (same date; "F1" < "F10" as text)
    assert out.loc[["F2", "F1"], "decision"].tolist() == ["claim", "claim"]
    assert out.loc[["F10", "F3"], "reason"].tolist() == ["over_allocation", "over_allocation"]
    assert "ssp" in out.loc["F10", "detail"] and out.loc["F10", "route"] == ""
    assert out["amount_pence"].sum() == 160000


def test_allocation_none_means_no_cap_and_zero_means_none():
    d = pd.DataFrame({"family_id": ["F1"], "decision": ["claim"], "route": ["ssp"], "reason": [""], "detail": [""], "amount_pence": [80000]})
    assert apply_allocation(d, claims_to_date=5, allocation=None)["decision"].tolist() == ["claim"]
    assert apply_allocation(d, claims_to_date=0, allocation=0)["reason"].tolist() == ["over_allocation"]


def test_settle_with_ledger_turns_lost_races_into_reasons():
    d = pd.DataFrame({"family_id": ["F1", "F2"], "decision": ["claim", "claim"], "route": ["ssp", "sfo"], "reason": ["", ""], "detail": ["", ""], "amount_pence": [80000, 80000]})
    out = settle_with_ledger(d, already_claimed=["F2"], audit_hold=[], over_allocation=[])
    assert out["reason"].tolist() == ["", "already_claimed"] and out["amount_pence"].tolist() == [80000, 0]


def test_money_is_exact_text_from_pence():
    assert pence_to_gbp(pd.Series([80000, 5, 123456789, 0, -150])).tolist() == ["800.00", "0.05", "1234567.89", "0.00", "-1.50"]


def test_family_reference_is_keyed_stable_and_short():
    ids = pd.Series(["F000001", "F000002"])
    a, b = family_reference(ids, "k1"), family_reference(ids, "k2")
    assert a.tolist() == family_reference(ids, "k1").tolist()
    assert a.str.fullmatch(r"[0-9a-f]{16}").all() and a.iloc[0] != b.iloc[0] and a.iloc[0] != a.iloc[1]
