"""The claim register and the claim file: which families are claimed, under which reference, for how much.

From the claim decisions of a run:
- :func:`claim_rules` takes the facts of a framework that the decision needs;
- :func:`allocation_in_force` says which allocation caps the run (the command's, the council's, the framework's);
- :func:`ledger_state` and :func:`window_start` read what the ledger knows before the run;
- :func:`claim_register_frame` is the finance register (one row per claim, with the family's programme facts);
- :func:`claim_file_frame` is the outbound file for the Department (pseudonymous references only);
- :func:`decisions_for_people` is the decisions table as a person reads it (words, reference, amount);
- :func:`eligibility_detail` says why a family was not eligible when attached.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import pandas as pd

from tfclaims.claim.decide import ClaimRules, LedgerState, pence_to_gbp
from tfclaims.claim.finance import Withdrawal, decision_words
from tfclaims.core.write import validate_output
from tfclaims.rules.frameworks import Framework

__all__ = [
    "allocation_in_force", "claim_file_frame", "claim_references_sha256", "claim_register_frame", "claim_rules",
    "decisions_for_people", "detail_in_words", "eligibility_detail", "ledger_state", "window_start", "withdrawals_since",
]


def claim_rules(fw: Framework) -> ClaimRules:
    return ClaimRules(
        framework=fw.name,
        attachments_from=fw.programme.attachments_from,
        attachments_to=fw.programme.attachments_to,
        period_end_to=fw.programme.period_end_to,
        results_payment_pence=fw.amounts.results_payment_pence,
        attachment_fee_pence=fw.amounts.attachment_fee_pence,
        routes=tuple(fw.claim_routes),
        transition_review=fw.programme.transition_before is not None,
    )


def allocation_in_force(command: int | None, council: int | None, fw: Framework) -> int | None:
    """The allocation that caps a claim run: the command's ``--allocation``, else the council
    config's, else the framework's value in force at the period end (``fw`` already taken ``at`` it)."""
    if command is not None:
        return command
    if council is not None:
        return council
    return fw.allocation


def eligibility_detail(families: pd.DataFrame, at_attachment: pd.DataFrame, fw: Framework, exclusions: pd.DataFrame | None = None) -> pd.Series:
    """Why a family was not eligible when attached: the headlines counted against the rule, the
    dependent, and the plan's exclusions that held (``exclusions``: family_id, reason)."""
    dependent = families["family_id"].map(at_attachment.set_index("family_id")["has_dependent"]).astype("boolean").fillna(False)
    headlines = families["headlines_at_attachment"].fillna("").replace("", "none")
    # the rule in force at each family's attachment (one value per family when the rule is dated)
    attached_on = families["attached_on"].to_numpy(dtype="datetime64[ns]")
    needed = fw.value_at(lambda f: str(f.eligibility.min_distinct_headlines), attached_on)
    text = (families["headline_count_at_attachment"].astype(str) + " headline(s) counted (" + headlines + "), at least "
            + pd.Series(needed, index=families.index, dtype="str") + " needed")
    required = fw.value_at(lambda f: f.eligibility.require_dependent, attached_on).astype(bool)
    if required.any():
        text = text + pd.Series(["", "; no dependent (a child or an expectant parent)"], dtype="str").take(
            ((~dependent).to_numpy(dtype=bool) & required).astype(int)).set_axis(families.index)
    if exclusions is not None and len(exclusions):
        reason = families["family_id"].map(exclusions.drop_duplicates("family_id").set_index("family_id")["reason"])
        text = text.where(reason.isna(), text + "; excluded: " + reason.fillna(""))
    return text


def ledger_state(ledger: Any, framework: str) -> LedgerState:
    """What the ledger says before the run: live claims, held families, unused approvals."""
    if ledger is None:
        return LedgerState.empty()
    active = ledger.active_claims(framework)[["family_id", "claim_reference", "period_end"]].copy()
    active["period_end"] = pd.to_datetime(active["period_end"]).dt.strftime("%Y-%m-%d")
    approvals = ledger.approvals(framework)
    return LedgerState(active, ledger.held_families(framework), approvals[["family_id", "approved_by", "reason"]])


def window_start(claims: pd.DataFrame | None, period_end: dt.date, given: dt.date | None, fw: Framework) -> dt.date:
    """The day before the claim window opens: ``given`` (``--window-start``), else the last earlier
    period end among the framework's ``claims`` in the ledger (``Ledger.claims(framework)``, read
    once per run), else the day before attachments open."""
    if given is not None:
        return given
    if claims is not None:
        earlier = claims[pd.to_datetime(claims["period_end"]) < pd.Timestamp(period_end)]
        if len(earlier):
            return pd.to_datetime(earlier["period_end"]).max().date()
    return fw.programme.attachments_from - dt.timedelta(days=1)


def withdrawals_since(claims: pd.DataFrame | None, period_end: dt.date) -> tuple[Withdrawal, ...]:
    """Claims of earlier windows (among the framework's ``claims`` in the ledger) withdrawn since the
    last claim run before ``period_end`` (on or after the day it was made): the money the next
    finance summary recovers or offsets."""
    if claims is None:
        return ()
    earlier = claims[pd.to_datetime(claims["period_end"]) < pd.Timestamp(period_end)]
    if not len(earlier):
        return ()
    last_run_on = pd.to_datetime(earlier["claimed_at"]).max().normalize()
    gone = earlier[(earlier["status"] == "withdrawn") & (pd.to_datetime(earlier["withdrawn_on"]) >= last_run_on)]
    routes = decision_words()["routes"]
    return tuple(
        Withdrawal(str(r.claim_reference), pd.Timestamp(r.period_end).date(), routes.get(str(r.route), str(r.route)),
                   int(r.amount_pence), pd.Timestamp(r.withdrawn_on).date(), str(r.withdrawal_reason))
        for r in gone.sort_values(["withdrawn_on", "claim_reference"]).itertuples(index=False)
    )


def _lookup(keys: pd.Series, values: pd.Series) -> pd.Series:
    """``values`` (indexed by unique key) for each of ``keys``, missing where absent; unlike ``Series.map``
    it keeps the values' dtype and works when ``values`` is empty (pandas casts an empty mapper to float)."""
    return pd.Series(values.reindex(keys.to_numpy()).to_numpy(), index=keys.index, dtype=values.dtype)


def _column(frame: pd.DataFrame, name: str, dtype: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(dtype=dtype)


def claim_register_frame(register: pd.DataFrame, programme: pd.DataFrame, families: pd.DataFrame, *, framework: str,
                         period_end: dt.date, run_id: str) -> pd.DataFrame:
    """The claim register (finance's copy, one row per claim) from the claimed decisions with their
    ``claim_reference`` and ``family_reference``, and the family's programme facts."""
    from tfclaims.schemas.claim import ClaimRegister

    fam = families.set_index("family_id")
    prog = programme.drop_duplicates("family_id").set_index("family_id")
    ids = register["family_id"]
    frame = pd.DataFrame({
        "claim_reference": register["claim_reference"].astype("str"),
        "family_id": ids.astype("str"),
        "family_reference": register["family_reference"].astype("str"),
        "framework": framework,
        "route": register["route"].astype("str"),
        "period_end": pd.Timestamp(period_end),
        "amount_pence": register["amount_pence"].astype("int64"),
        "run_id": run_id,
        "attached_on": _lookup(ids, prog["attached_on"]).astype("datetime64[ns]"),
        "closed_on": _lookup(ids, _column(prog, "closed_on", "datetime64[ns]")).astype("datetime64[ns]"),
        "lead_practitioner": _lookup(ids, _column(prog, "lead_practitioner", "str")).astype("str"),
        "headlines_at_attachment": _lookup(ids, fam["headlines_at_attachment"]).astype("str"),
    }).reset_index(drop=True)
    return validate_output(ClaimRegister, frame, "claim_register")


def claim_file_frame(claims: pd.DataFrame) -> pd.DataFrame:
    """The outbound claim file from claims with ``claim_reference``, ``family_reference``, ``route``,
    ``period_end`` and ``amount_pence``: checked by its strict schema, so nothing else can slip in."""
    from tfclaims.schemas.claim import ClaimFile

    frame = pd.DataFrame({
        "claim_reference": claims["claim_reference"].astype("str"),
        "family_reference": claims["family_reference"].astype("str"),
        "route": claims["route"].astype("str"),
        "period_end": pd.to_datetime(claims["period_end"]).astype("datetime64[ns]"),
        "amount_gbp": pence_to_gbp(claims["amount_pence"]).astype("str"),
    }).reset_index(drop=True)
    return validate_output(ClaimFile, frame, "claim_file")


def claim_references_sha256(references: pd.Series) -> str:
    """One hash over a run's claim references (sorted): ties the audit record to the ledger's claims."""
    return hashlib.sha256("\n".join(sorted(references.astype(str))).encode("utf-8")).hexdigest()


def _blank_missing(values: pd.Series) -> pd.Series:
    """Text with missing values blank (a lookup that found nothing is all-NaN floats)."""
    return values.astype(object).where(values.notna(), "").astype("str")


def detail_in_words(detail: pd.Series, headlines: dict[str, str]) -> pd.Series:
    """A decision's detail with the headline and status codes it names spelt out: ``education:
    not_met`` -> ``Children who have not been attending school regularly: not met``, and the
    headlines counted at attachment (``2 headline(s) counted (crime_asb;health)``) by their labels."""
    if not headlines or not len(detail):
        return detail
    statuses = decision_words()["statuses"]
    codes = "|".join(sorted(map(re.escape, headlines), key=len, reverse=True))
    spelt = detail.str.replace(rf"\b({codes}): ({'|'.join(statuses)})\b",
                               lambda m: f"{headlines[m.group(1)]}: {statuses[m.group(2)]}", regex=True)
    return spelt.str.replace(r"headline\(s\) counted \(([^)]*)\)",
                             lambda m: "headline(s) counted (" + "; ".join(headlines.get(c, c) for c in m.group(1).split(";")) + ")",
                             regex=True)


def decisions_for_people(decisions: pd.DataFrame, register: pd.DataFrame, headlines: dict[str, str] | None = None) -> pd.DataFrame:
    """The claim decisions as a person reads them: the decision in words, the claim reference and
    amount of a claim (whole pence, for a money column: ``£800.00``), the detail in words (``headlines``: code -> label); the codes
    kept in their own columns after them."""
    words = decision_words()
    route_words = decisions["route"].map(lambda c: words["routes"].get(c, c))
    reason_words = decisions["reason"].map(lambda c: words["reasons"].get(c, c))
    claimed = decisions["decision"] == "claim"
    ref = register.set_index("family_id")
    amount = decisions["family_id"].map(ref["amount_pence"]).astype("Int64")  # whole pence; the workbook shows £800.00
    return pd.DataFrame({
        "family_id": decisions["family_id"],
        "decision": ("Claim: " + route_words.astype(str)).where(claimed, reason_words.astype(str)),
        "claim_reference": _blank_missing(decisions["family_id"].map(ref["claim_reference"])),
        "amount": amount,
        "detail": detail_in_words(decisions["detail"].astype("str"), headlines or {}),
        "period_end": decisions["period_end"],
        "decision_code": decisions["decision"],
        "route_code": decisions["route"],
        "reason_code": decisions["reason"],
    })
