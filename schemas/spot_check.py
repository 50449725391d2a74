"""Pandera models of the spot-check tables.

- ``SpotCheckSample``: ``spot_check_sample.csv``, the internal-audit sample of one claim run;
- ``Verdicts``: the auditor's verdicts as read back from the completed ``spot_check.xlsx``;
- ``Reconciliation``: ``reconciliation.csv``, what ``tfclaims reconcile`` did with each verdict.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tfclaims.schemas.claim import ROUTES

# The stratum of the discretionary claims, which are all included on top of the drawn sample.
DISCRETIONARY_STRATUM = "discretionary_all"
STRATA: tuple[str, ...] = (*(r for r in ROUTES if r != "discretionary"), DISCRETIONARY_STRATUM)
VERDICTS: tuple[str, ...] = ("valid", "invalid", "query")
YES_NO: tuple[str, ...] = ("Y", "N")
ACTIONS: tuple[str, ...] = ("recorded", "already_recorded", "withdrawn", "already_withdrawn", "open_query")

SAMPLE_COLUMNS: tuple[str, ...] = ("claim_reference", "family_id", "route", "stratum", "draw_order")
VERDICT_COLUMNS: tuple[str, ...] = (
    "claim_reference",
    "family_id",
    "route",
    "eligible_confirmed",
    "whole_family_working_confirmed",
    "outcome_confirmed",
    "verdict",
    "notes",
    "checked_by",
    "checked_on",
    "sheet_row",
)
RECONCILIATION_COLUMNS: tuple[str, ...] = (
    "claim_reference",
    "family_id",
    "route",
    "verdict",
    "notes",
    "checked_by",
    "checked_on",
    "action",
)


class SpotCheckSample(pa.DataFrameModel):
    """One row per sampled claim, in draw order (the discretionary claims last)."""

    claim_reference: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    family_id: Series[str] = pa.Field(str_length={"min_value": 1})
    route: Series[str] = pa.Field(isin=list(ROUTES))
    stratum: Series[str] = pa.Field(isin=list(STRATA))
    draw_order: Series[int] = pa.Field(ge=1, unique=True)

    @pa.dataframe_check(name="discretionary_claims_in_their_own_stratum")
    def _discretionary_stratum(cls, df: pd.DataFrame) -> pd.Series:
        return (df["route"] == "discretionary") == (df["stratum"] == DISCRETIONARY_STRATUM)

    @pa.dataframe_check(name="drawn_claims_in_their_route_stratum")
    def _route_stratum(cls, df: pd.DataFrame) -> pd.Series:
        return (df["stratum"] == DISCRETIONARY_STRATUM) | (df["stratum"] == df["route"])

    class Config:
        strict = True
        ordered = True


class Verdicts(pa.DataFrameModel):
    """The Sample sheet of a completed auditor workbook, checked and typed.

    ``sheet_row`` is the row the auditor sees in Excel (the header is row 1).
    """

    claim_reference: Series[str] = pa.Field(unique=True)
    family_id: Series[str]
    route: Series[str] = pa.Field(isin=list(ROUTES))
    eligible_confirmed: Series[str] = pa.Field(isin=list(YES_NO), nullable=True)
    whole_family_working_confirmed: Series[str] = pa.Field(isin=list(YES_NO), nullable=True)
    outcome_confirmed: Series[str] = pa.Field(isin=list(YES_NO), nullable=True)
    verdict: Series[str] = pa.Field(isin=list(VERDICTS))
    notes: Series[str] = pa.Field(nullable=True)
    checked_by: Series[str] = pa.Field(str_length={"min_value": 1})
    checked_on: Series[pd.Timestamp]
    sheet_row: Series[int] = pa.Field(ge=2, unique=True)

    @pa.dataframe_check(name="invalid_and_query_verdicts_have_a_note")
    def _note_given(cls, df: pd.DataFrame) -> pd.Series:
        return df["verdict"].eq("valid") | df["notes"].fillna("").str.strip().ne("")

    class Config:
        strict = True
        ordered = True


class Reconciliation(pa.DataFrameModel):
    """One row per sampled claim: the verdict and what was done in the ledger."""

    claim_reference: Series[str] = pa.Field(unique=True)
    family_id: Series[str]
    route: Series[str] = pa.Field(isin=list(ROUTES))
    verdict: Series[str] = pa.Field(isin=list(VERDICTS))
    notes: Series[str] = pa.Field(nullable=True)
    checked_by: Series[str]
    checked_on: Series[pd.Timestamp]
    action: Series[str] = pa.Field(isin=list(ACTIONS))

    class Config:
        strict = True
        ordered = True
