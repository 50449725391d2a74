"""pandera models of the claim stage's outputs. The outbound claim file is strict: nothing else can slip in."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

# The claim routes: the one list of them (the ledger, the spot check and these models import it).
ROUTES: tuple[str, ...] = ("ssp", "continuous_employment", "sfo", "discretionary")
REASONS = [
    "already_claimed", "audit_hold", "not_attached", "transition_manual_review", "outside_programme_period",
    "not_eligible_at_attachment", "no_whole_family_working", "outcomes_not_met", "discretion_review", "over_allocation",
]


class ClaimDecisions(pa.DataFrameModel):
    """``claim_decisions.csv``: one row per family in the programme register."""

    family_id: Series[str] = pa.Field(unique=True)
    period_end: Series[pd.Timestamp]
    decision: Series[str] = pa.Field(isin=["claim", "no_claim"])
    route: Series[str] = pa.Field(isin=[*ROUTES, ""])
    reason: Series[str] = pa.Field(isin=[*REASONS, ""])
    detail: Series[str]

    @pa.dataframe_check
    def claims_have_a_route_and_no_reason(cls, df: pd.DataFrame) -> Series[bool]:
        claim = df["decision"] == "claim"
        return (claim & (df["route"] != "") & (df["reason"] == "")) | (~claim & (df["route"] == "") & (df["reason"] != ""))

    class Config:
        strict = True
        ordered = True


DECISION_COLUMNS: tuple[str, ...] = tuple(ClaimDecisions.to_schema().columns)


class ClaimFile(pa.DataFrameModel):
    """``claim_file.csv`` for the Department: pseudonymous references only, no personal data."""

    claim_reference: Series[str] = pa.Field(unique=True, str_matches=r"^[A-Z0-9][A-Z0-9\-]{2,31}$")
    family_reference: Series[str] = pa.Field(unique=True, str_matches=r"^[0-9a-f]{16}$")
    route: Series[str] = pa.Field(isin=list(ROUTES))
    period_end: Series[pd.Timestamp]
    amount_gbp: Series[str] = pa.Field(str_matches=r"^\d+\.\d{2}$")

    class Config:
        strict = True
        ordered = True


class ClaimRegister(pa.DataFrameModel):
    """``claim_register.csv`` (internal): the run's claims with their family, for finance and internal audit."""

    claim_reference: Series[str] = pa.Field(unique=True)
    family_id: Series[str] = pa.Field(unique=True)
    family_reference: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{16}$")
    framework: Series[str]
    route: Series[str] = pa.Field(isin=list(ROUTES))
    period_end: Series[pd.Timestamp]
    amount_pence: Series[int] = pa.Field(ge=0)
    run_id: Series[str]
    attached_on: Series[pd.Timestamp] = pa.Field(nullable=True)
    closed_on: Series[pd.Timestamp] = pa.Field(nullable=True)
    lead_practitioner: Series[str] = pa.Field(nullable=True)
    headlines_at_attachment: Series[str] = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True
