"""pandera models of the forecast's and the plan comparison's outputs (``tfclaims forecast``,
``tfclaims compare-plans``): the column names and types of each file, in the order written."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

FORECAST_STATUSES = ("claimable_now", "claimable", "not_within_horizon")


class Forecast(pa.DataFrameModel):
    """``forecast.csv``: one row per attached family not yet claimed, soonest claimable first."""

    family_id: Series[str] = pa.Field(unique=True)
    as_of: Series[pd.Timestamp]
    attached_on: Series[pd.Timestamp]
    status: Series[str]
    claimable_from: Series[pd.Timestamp] = pa.Field(nullable=True)
    route: Series[str]
    amount_pence: Series[int] = pa.Field(ge=0)
    what_holds_it_back: Series[str]
    in_words: Series[str]
    status_code: Series[str] = pa.Field(isin=list(FORECAST_STATUSES))
    route_code: Series[str]
    reason_now_code: Series[str]
    reason_at_horizon_code: Series[str]

    @pa.dataframe_check
    def a_date_exactly_when_claimable(cls, df: pd.DataFrame) -> Series[bool]:
        return df["claimable_from"].notna() == (df["status_code"] != "not_within_horizon")

    class Config:
        strict = True
        ordered = True


class ForecastBlockers(pa.DataFrameModel):
    """``forecast_blockers.csv``: one row per family (not claimable now) and headline or condition
    that holds it back on the as-of date, with when it clears (blank: not within the horizon)."""

    family_id: Series[str]
    blocker: Series[str]
    status_now: Series[str]
    detail_now: Series[str]
    cleared_on: Series[pd.Timestamp] = pa.Field(nullable=True)
    detail_at_horizon: Series[str]
    unblocks: Series[str]
    holds_until_horizon: Series[bool]
    blocker_code: Series[str]

    class Config:
        strict = True
        ordered = True


class ForecastWindows(pa.DataFrameModel):
    """``forecast_windows.csv``: per claim window of the horizon (the as-of date, then month ends)."""

    period_end: Series[pd.Timestamp] = pa.Field(unique=True)
    window: Series[str]
    families_becoming_claimable: Series[int] = pa.Field(ge=0)
    amount_pence: Series[int] = pa.Field(ge=0)
    claims_to_date: Series[int] = pa.Field(ge=0)
    allocation: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    allocation_left: Series[pd.Int64Dtype] = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True


class NearMisses(pa.DataFrameModel):
    """``near_misses.csv``: families one headline short of eligibility, and attached families one
    headline or one condition short of a claim, with what is missing."""

    family_id: Series[str]
    kind: Series[str]
    short_of: Series[str]
    missing: Series[str]
    evidence_held: Series[str]
    kind_code: Series[str] = pa.Field(isin=["eligibility", "claim"])
    missing_code: Series[str]

    class Config:
        strict = True
        ordered = True


class PlanDifferences(pa.DataFrameModel):
    """``plan_differences.csv``: every family whose eligibility, outcome status (per headline) or
    claim decision differs under rules A and B, with the engine's words under each."""

    family_id: Series[str]
    what: Series[str] = pa.Field(isin=["eligibility", "outcome", "claim decision"])
    headline: Series[str]
    headline_words: Series[str]
    under_a: Series[str]
    under_b: Series[str]
    why_a: Series[str] = pa.Field(str_length={"min_value": 1})
    why_b: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = True
        ordered = True


class PlanTotals(pa.DataFrameModel):
    """``plan_totals.csv``: the totals under rules A and B."""

    side: Series[str] = pa.Field(isin=["A", "B"])
    rules: Series[str]
    eligible_families: Series[int] = pa.Field(ge=0)
    attached_families: Series[int] = pa.Field(ge=0)
    outcomes_met: Series[int] = pa.Field(ge=0)
    claims: Series[int] = pa.Field(ge=0)
    amount_pence: Series[int] = pa.Field(ge=0)

    class Config:
        strict = True
        ordered = True
