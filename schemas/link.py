"""pandera models of the link stage's tables.

- ``Unmatched``: ``unmatched.csv``, the event rows the link stage could not resolve
  (``table, file, sheet, row, reason, candidates``);
- ``LinkDecisions``: a reviewer's decisions (``--link-decisions FILE``: ``table, file, sheet, row,
  person_id``; ``person_id`` blank or ``no_match`` means "no match"), once typed;
- ``LinkedEventColumns``: the three columns every event table carries after the link stage.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tfclaims.core.cohort import EVENT_TABLES
from tfclaims.core.errors import OutputValidationError

LINK_METHODS: tuple[str, ...] = ("person_id", "la_child_id", "upn", "nhs_number", "ni_number", "name_dob", "probabilistic", "clerical")
UNMATCHED_REASONS: tuple[str, ...] = (
    "unknown_person_id",  # person_id given but not in people
    "ambiguous",  # identifiers name different people, or the two best candidates are too close to call
    "below_threshold",  # the best candidate is under match_threshold
    "no_candidate",  # nothing in people resembles the row
    "no_person_reference",  # no person_id, identifier, name or date of birth to match on
    "reviewed_no_match",  # a reviewer decided there is no match
)
UNMATCHED_COLUMNS: tuple[str, ...] = ("table", "file", "sheet", "row", "reason", "candidates")
DECISION_COLUMNS: tuple[str, ...] = ("table", "file", "sheet", "row", "person_id")

# "P0001 (0.9312)" for a scored candidate, "P0001 (nhs_number)" for a conflicting identifier; "; " between.
_CANDIDATE = r"[^;()]+ \((?:[01]\.\d{4}|la_child_id|upn|nhs_number|ni_number)\)"
CANDIDATES_PATTERN = rf"^{_CANDIDATE}(?:; {_CANDIDATE})*$"


class Unmatched(pa.DataFrameModel):
    """``unmatched.csv``: one row per event row moved out of the run for a person to resolve."""

    table: Series[str] = pa.Field(isin=list(EVENT_TABLES))
    file: Series[str] = pa.Field(nullable=True)
    sheet: Series[str] = pa.Field(nullable=True)
    row: Series[pd.Int64Dtype] = pa.Field(ge=1, nullable=True)
    reason: Series[str] = pa.Field(isin=list(UNMATCHED_REASONS))
    candidates: Series[str] = pa.Field(nullable=True, str_matches=CANDIDATES_PATTERN)

    @pa.dataframe_check(name="ambiguous_rows_name_two_candidates")
    def _ambiguous(cls, df: pd.DataFrame) -> pd.Series:
        return (df["reason"] != "ambiguous") | df["candidates"].str.contains("; ", regex=False).fillna(False)

    @pa.dataframe_check(name="below_threshold_rows_name_a_candidate")
    def _below(cls, df: pd.DataFrame) -> pd.Series:
        return (df["reason"] != "below_threshold") | df["candidates"].notna()

    @pa.dataframe_check(name="one_row_per_source_row")
    def _unique(cls, df: pd.DataFrame) -> pd.Series:
        return ~df.duplicated(["table", "file", "sheet", "row"], keep=False)

    class Config:
        strict = True
        ordered = True


class LinkDecisions(pa.DataFrameModel):
    """A reviewer's decisions on unmatched rows, typed (``person_id`` missing = no match)."""

    table: Series[str] = pa.Field(isin=list(EVENT_TABLES))
    file: Series[str]
    sheet: Series[str] = pa.Field(nullable=True)
    row: Series[pd.Int64Dtype] = pa.Field(ge=1)
    person_id: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check(name="one_decision_per_row")
    def _unique(cls, df: pd.DataFrame) -> pd.Series:
        return ~df.duplicated(["table", "file", "sheet", "row"], keep=False)

    class Config:
        strict = "filter"


class LinkedEventColumns(pa.DataFrameModel):
    """What every event table carries after the link stage (``housing`` family rows: no person)."""

    person_id: Series[str] = pa.Field(nullable=True)
    link_method: Series[str] = pa.Field(isin=list(LINK_METHODS), nullable=True)
    link_probability: Series[pd.Float64Dtype] = pa.Field(ge=0.0, le=1.0, nullable=True)

    @pa.dataframe_check(name="person_linked_with_a_method")
    def _method(cls, df: pd.DataFrame) -> pd.Series:
        return df["person_id"].notna() == df["link_method"].notna()


def validate_unmatched(df: pd.DataFrame) -> pd.DataFrame:
    """Validate ``unmatched.csv`` before writing; a failure is a bug (``OutputValidationError``)."""
    try:
        return Unmatched.validate(df, lazy=True)
    except (pa.errors.SchemaErrors, pa.errors.SchemaError) as exc:
        cases = getattr(exc, "failure_cases", None)
        checks = ", ".join(sorted(set(cases["check"].astype(str)))) if cases is not None else str(exc)
        raise OutputValidationError(f"unmatched.csv failed its schema: {checks}") from exc
